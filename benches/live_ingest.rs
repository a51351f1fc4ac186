//! Live ingest throughput: readings/s from a QoS 1 publisher through mosquitto into the lake,
//! publisher, broker and `twin telemetry ingest --mqtt` sharing this machine (the README's
//! broker settings, a free loopback port).
//!
//! ```text
//! cargo bench -p twin-cli --bench live_ingest -- --readings 200000     # default 200,000
//! cargo bench -p twin-cli --bench live_ingest -- --per-message 8       # dataloggers' batch form
//! cargo bench -p twin-cli --bench live_ingest -- --client rumqttc       # a general client publishes
//! cargo bench -p twin-cli --bench live_ingest -- --ingester-via unix    # the broker's Unix socket
//! ```
//! `--per-message K` (1–12, default 1): K > 1 publishes the dataloggers' batch form
//! (`qn/<station>`, K parameters of one time in `values`), as a station sends a scan or replays
//! a backlog; 1 publishes one reading per `qn/<station>/<parameter>` message.
//! `--client lean|rumqttc` (default lean): who publishes. `lean` is `mqtt_load`'s hand-encoded
//! QoS 1 publisher, which writes many packets per system call and leaves the machine's CPU to
//! the broker and the ingester; `rumqttc` writes and flushes each packet (as a sensor gateway
//! built on a general client does) and takes about a quarter of this 2-core machine doing so.
//! Both keep at most 1,000 messages unacknowledged and connect over TCP loopback (the stations
//! are remote). `--ingester-via tcp|unix` (default tcp): how the ingester, on the broker's
//! host, connects — TCP loopback, or mosquitto's Unix socket (`listener 0 PATH`).
//! Measured from the first PUBLISH until the ingester has flushed the last reading into the lake
//! (it stops two idle seconds later; those are not counted). In test mode
//! (`cargo test --benches`) it runs 2,000 readings, to keep the code honest.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rumqttc::QoS;

// shared by the live tests and both live benches; each uses only some of its helpers
#[allow(dead_code)]
#[path = "../tests/cli/broker.rs"]
mod broker;
mod mqtt_load;

/// What an air station's datalogger reports in one scan, `PARAMETER [unit]` as the batch form
/// heads its values.
const PARAMETERS: [&str; 12] = [
    "PM2.5 [µg/m³]",
    "PM10 [µg/m³]",
    "TSP [µg/m³]",
    "SO2 [µg/m³]",
    "NO2 [µg/m³]",
    "NO [µg/m³]",
    "CO [µg/m³]",
    "O3 [µg/m³]",
    "NH3 [µg/m³]",
    "temperature [°C]",
    "relative_humidity [%]",
    "wind_speed [m/s]",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let test_mode = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let n: usize = if test_mode {
        2_000
    } else {
        args.iter()
            .position(|a| a == "--readings")
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(200_000)
    };
    let per_message: usize = args
        .iter()
        .position(|a| a == "--per-message")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .clamp(1, PARAMETERS.len());
    let lean = match args
        .iter()
        .position(|a| a == "--client")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
    {
        None | Some("lean") => true,
        Some("rumqttc") => false,
        Some(other) => panic!("--client {other}: expected lean or rumqttc"),
    };
    let messages = n.div_ceil(per_message);
    let n = messages * per_message;
    let dir = tempfile::tempdir().expect("temp dir");
    let b = broker::start(dir.path());
    let port = b.port;
    let lake = dir.path().join("lake");
    let dataset = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh");
    let log = dir.path().join("ingest.log");
    let twin = std::path::Path::new(env!("CARGO_BIN_EXE_twin"));
    // two idle seconds, counted from its start: room for the publisher to connect
    let flags = ["--flush-s", "1", "--idle-exit-s", "2"];
    let (url, via) = b.url_from_args(&args);
    let mut ing = broker::ingester(twin, &url, &lake, &dataset, &log, &flags);
    // nothing is published before the broker has granted the ingester's subscriptions
    broker::wait_for_line(&log, "ingest: subscribed", Duration::from_secs(30));
    let stations = [
        "st-ha-long-air-01",
        "st-cam-pha-air-01",
        "st-uong-bi-air-01",
        "st-mong-cai-air-01",
    ];
    let mut publisher = if lean {
        Publisher::Lean(mqtt_load::LoadPublisher::connect(
            port,
            "bench-publisher",
            1000,
        ))
    } else {
        let (client, acks) = broker::publisher(port, "bench-publisher", 1000, messages);
        Publisher::General(client, acks)
    };
    let started = Instant::now();
    let epoch = 1_767_225_600i64;
    for i in 0..messages {
        let s = stations[i % stations.len()];
        let t = chrono::DateTime::from_timestamp(epoch + 10 * (i / stations.len()) as i64, 0)
            .expect("time")
            .to_rfc3339();
        let (topic, payload) = if per_message == 1 {
            (
                format!("qn/{s}/PM2.5"),
                format!(r#"{{"time": "{t}", "value": {}, "unit": "µg/m³"}}"#, i % 90),
            )
        } else {
            let values: Vec<String> = PARAMETERS[..per_message]
                .iter()
                .enumerate()
                .map(|(k, p)| format!(r#""{p}": {}"#, (i + 7 * k) % 90))
                .collect();
            (
                format!("qn/{s}"),
                format!(r#"{{"time": "{t}", "values": {{{}}}}}"#, values.join(", ")),
            )
        };
        match &mut publisher {
            Publisher::Lean(p) => p.publish(&topic, payload.as_bytes()),
            Publisher::General(client, _) => client
                .publish(topic, QoS::AtLeastOnce, false, payload)
                .expect("publish"),
        }
    }
    let acked = match publisher {
        Publisher::Lean(p) => p.finish(Duration::from_secs(600)),
        Publisher::General(_, acks) => acks.join().expect("acks"),
    };
    let published = started.elapsed().as_secs_f64();
    assert_eq!(acked, messages);
    let status = broker::wait_exit(&mut ing, Duration::from_secs(3600));
    let wall = started.elapsed().as_secs_f64() - 2.0; // less the idle seconds before it stops
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{text}");
    let rows = twin_engine::telemetry::lake::read(&lake)
        .expect("lake")
        .frame
        .height();
    assert_eq!(rows, n, "{text}");
    println!(
        "live ingest: {n} readings ({messages} messages, {per_message} per message, {} publisher, ingester via {via}) in {wall:.2} s = {:.0} readings/s, {:.0} messages/s into the lake (publisher acknowledged at {published:.2} s); WAL fsync before every PUBACK batch",
        if lean { "lean" } else { "rumqttc" },
        n as f64 / wall,
        messages as f64 / wall
    );
}

/// Who publishes the bench's messages.
enum Publisher {
    /// `mqtt_load`'s hand-encoded publisher.
    Lean(mqtt_load::LoadPublisher),
    /// rumqttc, and the thread counting its PUBACKs.
    General(rumqttc::Client, std::thread::JoinHandle<usize>),
}
