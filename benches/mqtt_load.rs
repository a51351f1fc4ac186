//! A lean MQTT 3.1.1 load generator for the live benches: QoS 1 PUBLISH packets encoded by
//! hand into one buffer and written to the socket many at a time, PUBACKs counted by a reader
//! thread, at most `window` messages unacknowledged. A general client (rumqttc) writes and
//! flushes every packet on its own and spends as much CPU per message as the ingester; on a
//! machine the publisher shares with the broker and the ingester, that CPU is taken from them.
//! This one costs a fraction of a system call per message, so the bench measures the broker
//! and the ingester rather than its own publisher.
//!
//! Packet layouts: MQTT 3.1.1 (OASIS, 2014) §3.1 CONNECT, §3.2 CONNACK, §3.3 PUBLISH,
//! §3.4 PUBACK; remaining length as §2.2.3's variable-length integer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Bytes gathered before a write to the socket.
const WRITE_CHUNK: usize = 32 * 1024;

/// Appends MQTT's variable-length "remaining length" (7 bits a byte, low first).
fn put_remaining_length(buf: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        buf.push(b);
        if n == 0 {
            break;
        }
    }
}

/// Appends a UTF-8 string with its two-byte length.
fn put_str(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&(s.len() as u16).to_be_bytes());
    buf.extend_from_slice(s);
}

/// Acknowledgements counted so far, and whether the reader has stopped.
struct Acks {
    count: Mutex<(usize, bool)>,
    changed: Condvar,
}

impl Acks {
    /// Waits (at most `limit`) until `need` acknowledgements are counted or the reader stops;
    /// the count then.
    fn wait_for(&self, need: usize, limit: Duration) -> usize {
        let deadline = std::time::Instant::now() + limit;
        let mut c = self.count.lock().expect("lock");
        while c.0 < need && !c.1 {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            c = self.changed.wait_timeout(c, left).expect("lock").0;
        }
        c.0
    }
}

/// A QoS 1 publisher on one connection (clean session, no keep-alive).
pub struct LoadPublisher {
    stream: TcpStream,
    buf: Vec<u8>,
    window: usize,
    next_id: u16,
    sent: usize,
    acks: Arc<Acks>,
    reader: Option<JoinHandle<()>>,
}

impl LoadPublisher {
    /// Connects to the broker on loopback `port` as `client_id`; returns once CONNACK accepts.
    pub fn connect(port: u16, client_id: &str, window: usize) -> LoadPublisher {
        assert!(
            (1..=60_000).contains(&window),
            "window within the packet ids"
        );
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the broker");
        let mut var = Vec::new();
        put_str(&mut var, b"MQTT");
        var.push(4); // protocol level 3.1.1
        var.push(0x02); // clean session
        var.extend_from_slice(&0u16.to_be_bytes()); // keep-alive off
        put_str(&mut var, client_id.as_bytes());
        let mut pkt = vec![0x10];
        put_remaining_length(&mut pkt, var.len());
        pkt.extend_from_slice(&var);
        stream.write_all(&pkt).expect("CONNECT");
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).expect("CONNACK");
        assert_eq!(
            connack,
            [0x20, 0x02, 0x00, 0x00],
            "the broker accepts the connection"
        );
        let acks = Arc::new(Acks {
            count: Mutex::new((0, false)),
            changed: Condvar::new(),
        });
        let mut rd = stream.try_clone().expect("socket");
        let a = Arc::clone(&acks);
        let reader = std::thread::spawn(move || {
            // every packet a publisher receives here is a 4-byte PUBACK (0x40 0x02 id id)
            let mut chunk = vec![0u8; 64 * 1024];
            let mut carry = 0usize;
            loop {
                let n = match rd.read(&mut chunk[carry..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let have = carry + n;
                let whole = have / 4;
                if chunk[..whole * 4].chunks_exact(4).any(|p| p[0] != 0x40) {
                    break; // not a PUBACK: stop counting, the caller sees the shortfall
                }
                chunk.copy_within(whole * 4..have, 0);
                carry = have - whole * 4;
                let mut c = a.count.lock().expect("lock");
                c.0 += whole;
                a.changed.notify_all();
                drop(c);
                // the broker sends each PUBACK on its own; reading them as they come costs a
                // wake-up each, reading every millisecond a wake-up per few dozen (the window
                // of 1,000 lasts tens of milliseconds at these rates)
                std::thread::sleep(Duration::from_millis(1));
            }
            a.count.lock().expect("lock").1 = true;
            a.changed.notify_all();
        });
        LoadPublisher {
            stream,
            buf: Vec::with_capacity(2 * WRITE_CHUNK),
            window,
            next_id: 0,
            sent: 0,
            acks,
            reader: Some(reader),
        }
    }

    /// Queues one QoS 1 PUBLISH; writes the buffer when it is full or the window is.
    pub fn publish(&mut self, topic: &str, payload: &[u8]) {
        // wait while `window` messages are unacknowledged (written ones: flush first)
        if self.sent >= self.window {
            let need = self.sent - self.window + 1;
            if self.acks.count.lock().expect("lock").0 < need {
                self.flush();
                let acked = self.acks.wait_for(need, Duration::from_secs(60));
                assert!(
                    acked >= need,
                    "the broker acknowledges within a minute (acked {acked} of {})",
                    self.sent
                );
            }
        }
        self.next_id = if self.next_id == u16::MAX {
            1
        } else {
            self.next_id + 1
        };
        self.buf.push(0x32); // PUBLISH, QoS 1
        put_remaining_length(&mut self.buf, 2 + topic.len() + 2 + payload.len());
        put_str(&mut self.buf, topic.as_bytes());
        self.buf.extend_from_slice(&self.next_id.to_be_bytes());
        self.buf.extend_from_slice(payload);
        self.sent += 1;
        if self.buf.len() >= WRITE_CHUNK {
            self.flush();
        }
    }

    /// Writes what is buffered.
    pub fn flush(&mut self) {
        if !self.buf.is_empty() {
            self.stream
                .write_all(&self.buf)
                .expect("write to the broker");
            self.buf.clear();
        }
    }

    /// Flushes and waits (at most `limit`) until every message is acknowledged; the count.
    pub fn finish(mut self, limit: Duration) -> usize {
        self.flush();
        let acked = self.acks.wait_for(self.sent, limit);
        let _ = self.stream.write_all(&[0xE0, 0x00]); // DISCONNECT
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        acked
    }
}
