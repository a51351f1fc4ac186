//! The live path's test helpers, shared by the CLI's live tests, the live benches and the
//! viewer's live test (included with `#[path]`): a mosquitto broker started on a free loopback
//! port and a Unix socket with the README's settings (killed when dropped), the ingester,
//! publishers and subscribers, and waits on logs and processes.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running mosquitto, killed when dropped.
pub struct Broker {
    child: Child,
    /// Its loopback port.
    pub port: u16,
    /// Its Unix-domain socket (`listener 0 PATH`), for clients on this host.
    pub socket: PathBuf,
}

impl Broker {
    /// `mqtt://127.0.0.1:PORT`.
    pub fn tcp_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// `unix:///…/mqtt.sock`.
    pub fn unix_url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The benches' `--ingester-via tcp|unix` (default tcp) in `args`: the URL the ingester
    /// connects to, and the listener's name.
    #[allow(dead_code)] // the tests choose their listener themselves
    pub fn url_from_args(&self, args: &[String]) -> (String, &'static str) {
        match args
            .iter()
            .position(|a| a == "--ingester-via")
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
        {
            None | Some("tcp") => (self.tcp_url(), "tcp"),
            Some("unix") => (self.unix_url(), "unix"),
            Some(other) => panic!("--ingester-via {other}: expected tcp or unix"),
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts mosquitto with `max_queued_messages 0` (nothing queued for a disconnected persistent
/// session is dropped) and `max_inflight_messages 1000` (each PUBACK waits for an fsync),
/// listening on a free loopback port and on `dir/mqtt.sock`, its configuration in `dir`;
/// returns once it accepts connections on both.
pub fn start(dir: &Path) -> Broker {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("address")
        .port();
    let conf = dir.join("mosquitto.conf");
    let socket = dir.join("mqtt.sock");
    // `user root`: started by root, mosquitto would otherwise switch to the `mosquitto` user,
    // which cannot create its socket in this private directory (run by anyone else, it keeps
    // that user and ignores the line). sockaddr_un holds 108 bytes with the closing NUL.
    assert!(
        socket.as_os_str().len() < 108,
        "the broker's socket path {} is too long for a Unix socket (a shorter TMPDIR)",
        socket.display()
    );
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nlistener 0 {}\nuser root\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_inflight_messages 1000\nset_tcp_nodelay true\n",
            socket.display()
        ),
    )
    .expect("conf");
    let exe = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("mosquitto is installed (scripts/setup installs it)");
    let child = Command::new(exe)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto starts");
    let b = Broker {
        child,
        port,
        socket,
    };
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        || std::os::unix::net::UnixStream::connect(&b.socket).is_err()
    {
        assert!(t0.elapsed() < Duration::from_secs(10), "mosquitto listens");
        std::thread::sleep(Duration::from_millis(20));
    }
    b
}

/// Waits until the file at `log` contains `text` (at most `limit`).
pub fn wait_for_line(log: &Path, text: &str, limit: Duration) {
    let t0 = Instant::now();
    while !std::fs::read_to_string(log)
        .unwrap_or_default()
        .contains(text)
    {
        assert!(t0.elapsed() < limit, "{text:?} in {}", log.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A QoS 1 publisher on `port` and the thread that drives its connection until `expected`
/// PUBACKs are in (its result: how many came).
pub fn publisher(
    port: u16,
    id: &str,
    inflight: u16,
    expected: usize,
) -> (rumqttc::Client, std::thread::JoinHandle<usize>) {
    use rumqttc::{Event, MqttOptions, Packet};
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(30));
    opts.set_inflight(inflight);
    let (client, mut conn) = rumqttc::Client::new(opts, 10_000);
    conn.eventloop.network_options.set_tcp_nodelay(true);
    let acks = std::thread::spawn(move || {
        let mut acked = 0usize;
        for ev in conn.iter() {
            match ev {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    acked += 1;
                    if acked == expected {
                        break;
                    }
                }
                Ok(_) => {}
                // a lost connection ends the count: the caller compares it with `expected`
                Err(_) => break,
            }
        }
        acked
    });
    (client, acks)
}

/// Waits for a child to exit (at most `limit`); its status.
pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(t0.elapsed() < limit, "the process exits within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A subscriber on `port` to `filter` (QoS 1): every PUBLISH it receives, with the instant it
/// arrived, on the returned channel; returns once the subscription is acknowledged.
pub fn subscriber(
    port: u16,
    id: &str,
    filter: &str,
) -> std::sync::mpsc::Receiver<(Instant, rumqttc::Publish)> {
    use rumqttc::{Event, MqttOptions, Packet, QoS};
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut conn) = rumqttc::Client::new(opts, 1_000);
    conn.eventloop.network_options.set_tcp_nodelay(true);
    client
        .subscribe(filter, QoS::AtLeastOnce)
        .expect("subscribe");
    let (tx, rx) = std::sync::mpsc::channel();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _client = client; // the connection lives as long as this thread
        for ev in conn.iter() {
            match ev {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    let _ = ready_tx.send(());
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((Instant::now(), p)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    ready
        .recv_timeout(Duration::from_secs(10))
        .expect("the subscription is acknowledged");
    rx
}

/// Starts `twin telemetry ingest --mqtt URL` (the `twin` binary at `twin`; `url` one of the
/// broker's [`Broker::tcp_url`], [`Broker::unix_url`]), writing `lake` with the dataset at
/// `dataset`, its output appended to `log`; `extra` flags follow the common ones.
pub fn ingester(
    twin: &Path,
    url: &str,
    lake: &Path,
    dataset: &Path,
    log: &Path,
    extra: &[&str],
) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log");
    let utf8 = |p: &Path| p.to_str().expect("utf-8 path").to_string();
    Command::new(twin)
        .args(["telemetry", "ingest", "--mqtt", url])
        .args(["--lake", &utf8(lake), "--dataset", &utf8(dataset)])
        .args(extra)
        .env_remove("QN_TWIN_DATASET")
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("the ingester starts")
}

/// The port `twin serve` said it listens on (`serving   http://127.0.0.1:PORT/v1.1`) in `log`.
pub fn served_port(log: &Path) -> u16 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the server's port in {}", log.display()))
}
