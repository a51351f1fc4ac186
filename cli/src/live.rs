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
use twin_engine::telemetry::live::{DeadLetters, TOPICS, Wal, parse_message};
use twin_engine::telemetry::monitor::{Alert, Monitor};

use crate::telemetry::IngestArgs;

/// `mqtt://HOST:PORT` (port 1883 when omitted) → (host, port).
pub(crate) fn parse_url(url: &str) -> anyhow::Result<(String, u16)> {
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .with_context(|| format!("--mqtt {url:?}: expected mqtt://HOST:PORT"))?;
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((h, p)) => Ok((
            h.to_string(),
            p.parse()
                .with_context(|| format!("--mqtt {url:?}: port {p:?} is not a number"))?,
        )),
        None => Ok((rest.to_string(), 1883)),
    }
}

/// Runs the live ingester until SIGINT/SIGTERM or `--idle-exit-s`.
pub fn ingest_mqtt(a: &IngestArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let url = a.mqtt.as_deref().unwrap_or_default();
    let (host, port) = parse_url(url)?;
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
    let (mut wal, held) = Wal::open(&a.lake)?;
    if !held.is_empty() {
        let r = wal.flush_to_lake(&a.lake)?;
        writeln!(
            out,
            "replayed  {} readings from the write-ahead log ({} new, {} already in the lake)",
            held.len(),
            r.rows,
            r.duplicates
        )?;
        out.flush()?;
    }
    let mut dead = DeadLetters::open(&a.lake)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(run(a, host, port, &sites, &mut wal, &mut dead, out))
}

async fn run(
    a: &IngestArgs,
    host: String,
    port: u16,
    sites: &HashSet<String>,
    wal: &mut Wal,
    dead: &mut DeadLetters,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut opts = MqttOptions::new(a.client_id.clone(), host.clone(), port);
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
        "listening mqtt://{host}:{port} as {} ({}), lake {}",
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
    let mut readings = Vec::new();
    let mut alerts: Vec<Alert> = Vec::new();
    let mut alerted = 0usize;
    // when the oldest reading not yet in the lake arrived: the lag a flush ends
    let mut oldest_unflushed: Option<Instant> = None;
    loop {
        let wait = flush_every
            .saturating_sub(last_flush.elapsed())
            .max(Duration::from_millis(10));
        let stop = tokio::select! {
            m = rx.recv() => match m {
                Some(p) => { batch.push(p); false }
                None => true,
            },
            _ = tokio::time::sleep(wait) => false,
            _ = tokio::signal::ctrl_c() => true,
            _ = term.recv() => true,
        };
        // everything else already waiting joins the batch (one fsync for all of it)
        while batch.len() < 65_536 {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            last_message = Instant::now();
            for p in &batch {
                match parse_message(&p.topic, &p.payload, sites) {
                    Ok(r) => {
                        total += r.len();
                        wal.append(&r)?;
                        readings.extend(r);
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
            if !readings.is_empty() {
                oldest_unflushed.get_or_insert(last_message);
            }
            // real-time QA and alarms on what is now durable
            for r in readings.drain(..) {
                monitor.push(&r, &mut alerts);
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
        if wal.pending() > 0
            && (stop
                || idle_over
                || wal.pending() >= a.flush_readings
                || last_flush.elapsed() >= flush_every)
        {
            let bytes = wal.bytes();
            let n = wal.pending();
            // polars must not see the tokio runtime (it would try to block in place on it): the
            // flush runs on a plain thread, the runtime waiting
            let r = std::thread::scope(|s| {
                s.spawn(|| wal.flush_to_lake(&a.lake))
                    .join()
                    .map_err(|_| anyhow::anyhow!("the lake flush panicked"))
            })??;
            flushed += r.rows;
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            let lag = oldest_unflushed
                .take()
                .map_or(0.0, |t| t.elapsed().as_secs_f64());
            writeln!(
                out,
                "flushed   {n} readings ({} new, {} duplicates; WAL {bytes} bytes; lag {lag:.2} s); {total} readings, {:.0}/s, {refused} refused ({} dead letters), {alerted} alerts ({} late readings not monitored)",
                r.rows,
                r.duplicates,
                total as f64 / secs,
                dead.count(),
                monitor.late
            )?;
            out.flush()?;
            last_flush = Instant::now();
        } else if last_flush.elapsed() >= flush_every {
            last_flush = Instant::now();
        }
        if stop || idle_over {
            break;
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
        assert_eq!(
            parse_url("mqtt://127.0.0.1:18830").expect("url"),
            ("127.0.0.1".into(), 18830)
        );
        assert_eq!(
            parse_url("mqtt://broker").expect("url"),
            ("broker".into(), 1883)
        );
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("mqtt://x:port").is_err());
    }
}
