//! Alarm latency: from the PUBLISH of a methane reading that crosses (or falls back below) the
//! 1.0 % level to the arrival of the ingester's alert on `qn/alerts/<mine>/CH4`, on the loopback
//! with mosquitto, publisher, subscriber and `twin telemetry ingest --mqtt` sharing this machine.
//! Optionally under a background load of PM2.5 readings from other stations.
//!
//! ```text
//! cargo bench -p twin-cli --bench alarm_latency -- --alarms 400 --background 5000
//! cargo bench -p twin-cli --bench alarm_latency -- --ingester-via unix   # the broker's Unix socket
//! ```
//! The publishers and the subscriber connect over TCP loopback (as remote stations and the
//! operations centre would); `--ingester-via tcp|unix` (default tcp) says how the ingester,
//! on the broker's host, connects. Prints p50, p99 and the maximum. In test mode
//! (`cargo test --benches`) it runs 10 alarms without load, to keep the code honest.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rumqttc::QoS;

// shared by the live tests and both live benches; each uses only some of its helpers
#[allow(dead_code)]
#[path = "../tests/cli/broker.rs"]
mod broker;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let test_mode = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let (n, background) = if test_mode {
        (10, 0)
    } else {
        (arg(&args, "--alarms", 400), arg(&args, "--background", 0))
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let b = broker::start(dir.path());
    let port = b.port;
    let lake = dir.path().join("lake");
    let dataset = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh");
    let log = dir.path().join("ingest.log");
    let twin = std::path::Path::new(env!("CARGO_BIN_EXE_twin"));
    let (url, via) = b.url_from_args(&args);
    let mut ing = broker::ingester(twin, &url, &lake, &dataset, &log, &[]);
    broker::wait_for_line(&log, "ingest: subscribed", Duration::from_secs(30));
    let alerts = broker::subscriber(port, "bench-alerts", "qn/alerts/+/CH4");
    let epoch = 1_767_225_600i64;
    // background: PM2.5 from four stations at `background` readings/s
    let stop = Arc::new(AtomicBool::new(false));
    let load = (background > 0).then(|| {
        let (client, _acks) = broker::publisher(port, "bench-load", 1000, usize::MAX);
        let stop = stop.clone();
        std::thread::spawn(move || {
            let stations = [
                "st-ha-long-air-01",
                "st-cam-pha-air-01",
                "st-uong-bi-air-01",
                "st-mong-cai-air-01",
            ];
            let t0 = Instant::now();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let due = (t0.elapsed().as_secs_f64() * background as f64) as usize;
                while i < due {
                    let t = chrono::DateTime::from_timestamp(epoch + (i / 4) as i64, 0)
                        .expect("time")
                        .to_rfc3339();
                    let payload = format!(
                        r#"{{"time": "{t}", "value": {}, "unit": "µg/m³"}}"#,
                        20 + i % 40
                    );
                    client
                        .publish(
                            format!("qn/{}/PM2.5", stations[i % 4]),
                            QoS::AtLeastOnce,
                            false,
                            payload,
                        )
                        .expect("publish");
                    i += 1;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            i
        })
    });
    std::thread::sleep(Duration::from_millis(500));
    let (client, _acks) = broker::publisher(port, "bench-publisher", 100, usize::MAX);
    let mine = "mine-vang-danh";
    let mut lat: Vec<f64> = Vec::with_capacity(n);
    for k in 0..n {
        // alternately above and below 1.0 %: every reading starts or ends the alarm
        let v = if k % 2 == 0 { 1.2 } else { 0.4 };
        let t = chrono::DateTime::from_timestamp(epoch + 60 * k as i64, 0)
            .expect("time")
            .to_rfc3339();
        let sent = Instant::now();
        client
            .publish(
                format!("qn/{mine}/CH4"),
                QoS::AtLeastOnce,
                false,
                format!(r#"{{"time": "{t}", "value": {v}, "unit": "%"}}"#),
            )
            .expect("publish");
        let (at, p) = alerts
            .recv_timeout(Duration::from_secs(30))
            .expect("an alert within 30 s");
        let text = String::from_utf8_lossy(&p.payload);
        assert!(
            text.contains(if k % 2 == 0 { "\"start\"" } else { "\"end\"" }),
            "{text}"
        );
        lat.push(at.duration_since(sent).as_secs_f64() * 1e3);
        // paced, so that a run under load lasts long enough to meet it (400 alarms: ~8 s)
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let sent_load = load.map(|h| h.join().expect("load")).unwrap_or(0);
    // SIGTERM: the ingester flushes its WAL into the lake and stops
    let _ = Command::new("kill")
        .args(["-TERM", &ing.id().to_string()])
        .status();
    let status = broker::wait_exit(&mut ing, Duration::from_secs(60));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{text}");
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    println!(
        "alarm latency (publish → alert, loopback, ingester via {via}): {n} alarms, background {background} readings/s ({sent_load} sent): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        q(0.5),
        q(0.99),
        lat[lat.len() - 1]
    );
}
