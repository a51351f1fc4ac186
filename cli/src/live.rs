//! `twin telemetry ingest --mqtt`: the live ingester. One tokio task drives the MQTT event loop
//! (rumqttc, MQTT 3.1.1, QoS 1, persistent session, manual acknowledgements) and hands each
//! PUBLISH to the writer; the writer takes every message waiting, parses them, appends the
//! readings to the write-ahead log and the refused ones to the dead letters, fsyncs both, and
//! only then acknowledges them — so an acknowledged reading is durable, and one the ingester
//! never acknowledged is redelivered by the broker. The WAL is flushed into the lake as one
//! crash-safe batch every `--flush-readings` readings or `--flush-s` seconds, and first of all
//! on start (what a killed ingester left). Once acknowledged, the readings go through the
//! real-time QA and alarm rules ([`Monitor`], the batch commands' code) and every alert that
//! starts or ends is published on `qn/alerts/<site>/<parameter>` (QoS 1).

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::mpsc;
use twin_engine::telemetry::ObservationError;
use twin_engine::telemetry::lake::AppendReport;
use twin_engine::telemetry::live::{DeadLetters, Segment, TOPICS, Wal, parse_message};
use twin_engine::telemetry::monitor::{Alert, Monitor};

use crate::telemetry::IngestArgs;

/// Where the broker listens, from `--mqtt`: `mqtt://HOST[:PORT]` (or `tcp://`; port 1883 when
/// omitted), or `unix:///PATH`, a Unix-domain socket on this host (mosquitto's `listener 0
/// PATH`). A client on the broker's own host spends less of the broker's one thread through the
/// socket than through TCP loopback: no segments, no TCP acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BrokerAddr {
    Tcp(String, u16),
    Unix(std::path::PathBuf),
}

impl BrokerAddr {
    pub(crate) fn parse(url: &str) -> anyhow::Result<Self> {
        if let Some(path) = url.strip_prefix("unix://") {
            anyhow::ensure!(
                path.starts_with('/') && path.len() > 1,
                "--mqtt {url:?}: expected unix:///ABSOLUTE/PATH of the broker's socket"
            );
            return Ok(Self::Unix(path.into()));
        }
        let rest = url
            .strip_prefix("mqtt://")
            .or_else(|| url.strip_prefix("tcp://"))
            .with_context(|| {
                format!("--mqtt {url:?}: expected mqtt://HOST:PORT or unix:///PATH")
            })?;
        let rest = rest.trim_end_matches('/');
        anyhow::ensure!(!rest.is_empty(), "--mqtt {url:?}: no host");
        match rest.rsplit_once(':') {
            Some(("", _)) => anyhow::bail!("--mqtt {url:?}: no host"),
            Some((h, p)) => Ok(Self::Tcp(
                h.to_string(),
                p.parse()
                    .with_context(|| format!("--mqtt {url:?}: port {p:?} is not a number"))?,
            )),
            None => Ok(Self::Tcp(rest.to_string(), 1883)),
        }
    }

    /// rumqttc's options for a client `id` connecting here (its other settings at their
    /// defaults). On TCP the caller also turns Nagle's algorithm off.
    pub(crate) fn options(&self, id: &str) -> MqttOptions {
        match self {
            Self::Tcp(host, port) => MqttOptions::new(id, host.clone(), *port),
            Self::Unix(path) => {
                let mut o = MqttOptions::new(id, path.to_string_lossy(), 0);
                o.set_transport(rumqttc::Transport::unix());
                o
            }
        }
    }
}

impl std::fmt::Display for BrokerAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(h, p) => write!(f, "mqtt://{h}:{p}"),
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

/// Runs the live ingester until SIGINT/SIGTERM or `--idle-exit-s`.
pub fn ingest_mqtt(a: &IngestArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let url = a.mqtt.as_deref().unwrap_or_default();
    let addr = BrokerAddr::parse(url)?;
    anyhow::ensure!(
        a.flush_s.is_finite() && a.flush_s > 0.0 && a.flush_s <= 3600.0,
        "--flush-s {} must be in (0, 3600]",
        a.flush_s
    );
    anyhow::ensure!(
        (1..=10_000_000).contains(&a.flush_readings),
        "--flush-readings {} must be in 1–10,000,000",
        a.flush_readings
    );
    if let Some(s) = a.idle_exit_s {
        anyhow::ensure!(
            s.is_finite() && s > 0.0 && s <= 86_400.0,
            "--idle-exit-s {s} must be in (0, 86400]"
        );
    }
    let dataset = a.dataset.load()?;
    let sites = twin_engine::telemetry::live::site_ids(&dataset.province);
    std::fs::create_dir_all(&a.lake)
        .with_context(|| format!("creating the lake {}", a.lake.display()))?;
    // what a killed ingester left goes into the lake before anything new
    let (wal, held) = Wal::open(&a.lake)?;
    let (mut replayed, mut fresh, mut dups) = (0, 0, 0);
    for seg in held {
        replayed += seg.len();
        let r = seg.flush(&a.lake)?;
        fresh += r.rows;
        dups += r.duplicates;
    }
    if replayed > 0 {
        writeln!(
            out,
            "replayed  {replayed} readings from the write-ahead log ({fresh} new, {dups} already in the lake)"
        )?;
        out.flush()?;
    }
    let mut dead = DeadLetters::open(&a.lake)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    let flusher = Flusher::start(a.lake.clone())?;
    rt.block_on(run(a, addr, &sites, wal, flusher, &mut dead, out))
}

/// What the flusher thread reports for one segment.
struct Flushed {
    readings: usize,
    bytes: u64,
    /// When the oldest reading of the segment arrived.
    oldest: Instant,
    result: Result<AppendReport, ObservationError>,
}

/// The flusher: a plain thread (polars must not see the tokio runtime: it would try to block in
/// place on it) that appends sealed WAL segments to the lake, one at a time, in order.
struct Flusher {
    to: Option<std::sync::mpsc::Sender<(Segment, Instant)>>,
    from: mpsc::UnboundedReceiver<Flushed>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A segment is with the thread.
    busy: bool,
}

impl Flusher {
    fn start(lake: std::path::PathBuf) -> anyhow::Result<Self> {
        let (to, jobs) = std::sync::mpsc::channel::<(Segment, Instant)>();
        let (done, from) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("lake-flush".into())
            .spawn(move || {
                for (seg, oldest) in jobs {
                    let (readings, bytes) = (seg.len(), seg.bytes());
                    let result = seg.flush(&lake);
                    let failed = result.is_err();
                    let sent = done.send(Flushed {
                        readings,
                        bytes,
                        oldest,
                        result,
                    });
                    if failed || sent.is_err() {
                        return;
                    }
                }
            })
            .context("starting the lake flush thread")?;
        Ok(Self {
            to: Some(to),
            from,
            thread: Some(thread),
            busy: false,
        })
    }

    fn send(&mut self, seg: Segment, oldest: Instant) -> anyhow::Result<()> {
        let to = self
            .to
            .as_ref()
            .context("the lake flush thread has stopped")?;
        to.send((seg, oldest))
            .map_err(|_| anyhow::anyhow!("the lake flush thread has stopped"))?;
        self.busy = true;
        Ok(())
    }

    /// Waits for the segment with the thread.
    async fn wait(&mut self) -> anyhow::Result<Flushed> {
        let f = self
            .from
            .recv()
            .await
            .context("the lake flush thread stopped (it panicked)")?;
        self.busy = false;
        Ok(f)
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.to = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the ingester logs when the broker answers its SUBSCRIBE (on stderr, with its other
/// connection messages): `ingest: subscribed …` once every filter is granted QoS 1 — from then
/// on the persistent session queues whatever arrives — and otherwise which filter the broker
/// refused or downgraded to QoS 0 (a reading on it would not be redelivered after a crash).
fn suback_line(ack: &rumqttc::SubAck) -> String {
    use rumqttc::SubscribeReasonCode::{Failure, Success};
    let mut problems = Vec::new();
    for (i, t) in TOPICS.iter().enumerate() {
        match ack.return_codes.get(i) {
            Some(Success(QoS::AtLeastOnce | QoS::ExactlyOnce)) => {}
            Some(Success(QoS::AtMostOnce)) => problems.push(format!("{t}: granted QoS 0 only")),
            Some(Failure) => problems.push(format!("{t}: refused")),
            None => problems.push(format!("{t}: not answered")),
        }
    }
    if problems.is_empty() {
        format!("ingest: subscribed to {} (QoS 1)", TOPICS.join(", "))
    } else {
        format!(
            "ingest: the broker did not grant every subscription: {}",
            problems.join("; ")
        )
    }
}

async fn run(
    a: &IngestArgs,
    addr: BrokerAddr,
    sites: &HashSet<String>,
    mut wal: Wal,
    mut flusher: Flusher,
    dead: &mut DeadLetters,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut opts = addr.options(&a.client_id);
    opts.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(1 << 20, 1 << 20)
        .set_request_channel_capacity(65_536);
    let (client, mut eventloop) = AsyncClient::new(opts, 65_536);
    // alerts and acknowledgements go out at once, not after Nagle's wait for a full segment
    eventloop.network_options.set_tcp_nodelay(true);
    let (tx, mut rx) = mpsc::unbounded_channel::<Publish>();
    let sub = client.clone();
    // the event loop: PUBLISHes to the writer; (re)subscribe on every connection
    let poller = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send(p).is_err() {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let topics = TOPICS
                        .iter()
                        .map(|t| rumqttc::SubscribeFilter::new((*t).to_string(), QoS::AtLeastOnce));
                    if let Err(e) = sub.subscribe_many(topics).await {
                        eprintln!("ingest: subscribing: {e}");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => eprintln!("{}", suback_line(&ack)),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("ingest: broker connection: {e}; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    writeln!(
        out,
        "listening {addr} as {} ({}), lake {}",
        a.client_id,
        TOPICS.join(", "),
        a.lake.display()
    )?;
    out.flush()?;
    let flush_every = Duration::from_secs_f64(a.flush_s);
    let idle = a.idle_exit_s.map(Duration::from_secs_f64);
    let mut last_flush = Instant::now();
    let mut last_message = Instant::now();
    let (mut total, mut refused, mut flushed) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut batch: Vec<Publish> = Vec::new();
    let mut monitor = Monitor::default();
    let mut alerts: Vec<Alert> = Vec::new();
    let mut alerted = 0usize;
    // when the oldest reading of the active WAL segment arrived: the lag its flush ends
    let mut oldest_unflushed: Option<Instant> = None;
    let mut stopping = false;
    loop {
        // wake for the next flush, and for the idle exit when it is due sooner
        let mut wait = flush_every.saturating_sub(last_flush.elapsed());
        if let Some(d) = idle {
            wait = wait.min(d.saturating_sub(last_message.elapsed()));
        }
        let wait = wait.max(Duration::from_millis(10));
        let mut done = None;
        if !stopping {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(p) => batch.push(p),
                    None => stopping = true,
                },
                f = flusher.from.recv(), if flusher.busy => {
                    flusher.busy = false;
                    done = Some(f.context("the lake flush thread stopped (it panicked)")?);
                }
                _ = tokio::time::sleep(wait) => {},
                _ = tokio::signal::ctrl_c() => stopping = true,
                _ = term.recv() => stopping = true,
            }
        }
        // everything else already waiting joins the batch (one fsync for all of it)
        while !stopping && batch.len() < 65_536 {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            last_message = Instant::now();
            let first_new = wal.pending();
            for p in &batch {
                match parse_message(&p.topic, &p.payload, sites) {
                    Ok(r) => {
                        total += r.len();
                        wal.append(r)?;
                    }
                    Err(reason) => {
                        refused += 1;
                        dead.record(&p.topic, &p.payload, &reason)?;
                    }
                }
            }
            wal.sync()?;
            dead.sync()?;
            // durable: now the broker may forget them
            for p in batch.drain(..) {
                client
                    .ack(&p)
                    .await
                    .context("acknowledging to the broker")?;
            }
            if wal.pending() > first_new {
                oldest_unflushed.get_or_insert(last_message);
            }
            // real-time QA and alarms on what is now durable
            for r in &wal.active()[first_new..] {
                monitor.push(r, &mut alerts);
            }
            for al in alerts.drain(..) {
                let payload = serde_json::to_vec(&al).context("encoding an alert")?;
                client
                    .publish(al.topic(), QoS::AtLeastOnce, false, payload)
                    .await
                    .context("publishing an alert")?;
                alerted += 1;
            }
        }
        let idle_over = idle.is_some_and(|d| last_message.elapsed() >= d);
        let finishing = stopping || idle_over;
        // at the end, the segment with the flusher comes back before the last one is sealed
        if finishing && flusher.busy {
            done = Some(flusher.wait().await?);
        }
        if let Some(f) = done {
            let r = f.result?;
            flushed += r.rows;
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            writeln!(
                out,
                "flushed   {} readings ({} new, {} duplicates; WAL segment {} bytes; lag {:.2} s); {total} readings, {:.0}/s, {refused} refused ({} dead letters), {alerted} alerts ({} late readings not monitored)",
                f.readings,
                r.rows,
                r.duplicates,
                f.bytes,
                f.oldest.elapsed().as_secs_f64(),
                total as f64 / secs,
                dead.count(),
                monitor.late
            )?;
            out.flush()?;
        }
        // seal the active segment and hand it to the flusher when it is free (while it works,
        // the active segment keeps growing: readings are acknowledged meanwhile)
        if !flusher.busy
            && wal.pending() > 0
            && (finishing
                || wal.pending() >= a.flush_readings
                || last_flush.elapsed() >= flush_every)
        {
            if let Some(seg) = wal.seal()? {
                let oldest = oldest_unflushed.take().unwrap_or_else(Instant::now);
                flusher.send(seg, oldest)?;
            }
            last_flush = Instant::now();
        } else if last_flush.elapsed() >= flush_every {
            last_flush = Instant::now();
        }
        if finishing && !flusher.busy && wal.pending() == 0 {
            break;
        }
        if finishing {
            stopping = true;
        }
    }
    poller.abort();
    writeln!(
        out,
        "stopped   {total} readings received, {flushed} new in the lake, {refused} refused, {alerted} alerts on {} series",
        monitor.series()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let tcp = |h: &str, p| BrokerAddr::Tcp(h.into(), p);
        assert_eq!(
            BrokerAddr::parse("mqtt://127.0.0.1:18830").expect("url"),
            tcp("127.0.0.1", 18830)
        );
        assert_eq!(
            BrokerAddr::parse("mqtt://broker").expect("url"),
            tcp("broker", 1883)
        );
        assert_eq!(
            BrokerAddr::parse("tcp://broker:1884/").expect("url"),
            tcp("broker", 1884)
        );
        assert_eq!(
            BrokerAddr::parse("unix:///run/mosquitto/mqtt.sock").expect("url"),
            BrokerAddr::Unix("/run/mosquitto/mqtt.sock".into())
        );
        for bad in [
            "http://x",
            "mqtt://x:port",
            "mqtt://",
            "mqtt://:1883",
            "unix://relative.sock",
            "unix://",
        ] {
            let e = BrokerAddr::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(bad), "{e}");
        }
        // the SUBACK: every filter at QoS 1, or which one is not
        let ack = |codes| rumqttc::SubAck::new(1, codes);
        use rumqttc::SubscribeReasonCode::{Failure, Success};
        let ok = Success(QoS::AtLeastOnce);
        assert_eq!(
            suback_line(&ack(vec![ok, ok, ok])),
            format!("ingest: subscribed to {} (QoS 1)", TOPICS.join(", "))
        );
        let line = suback_line(&ack(vec![ok, Success(QoS::AtMostOnce), Failure]));
        assert!(
            line.contains(&format!("{}: granted QoS 0 only", TOPICS[1]))
                && line.contains(&format!("{}: refused", TOPICS[2]))
                && !line.contains(TOPICS[0]),
            "{line}"
        );
        assert!(suback_line(&ack(vec![ok])).contains("not answered"));
        // the log line names the broker as the user wrote it
        for url in ["mqtt://broker:1884", "unix:///tmp/m.sock"] {
            assert_eq!(BrokerAddr::parse(url).expect("url").to_string(), url);
        }
    }
}
