//! The live ingester against a real broker (Debian's `mosquitto`, started here on a free
//! loopback port with the settings the README documents): SIGKILLed while readings stream in,
//! restarted each time, it loses none and doubles none; and its real-time alarms and QA alerts
//! reach `qn/alerts/…`.

use std::io::Write;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rumqttc::QoS;

use crate::broker;
use crate::*;

/// The ingester on the broker at `url`, the bundled dataset, flushing every 0.5 s.
pub(crate) fn ingester(url: &str, lake: &Path, log: &Path, extra: &[&str]) -> Child {
    let twin = Path::new(env!("CARGO_BIN_EXE_twin"));
    let flags = [&["--flush-s", "0.5"], extra].concat();
    broker::ingester(twin, url, lake, &bundled(), log, &flags)
}

/// 20,000 readings (and 37 malformed messages mixed in) published with QoS 1 while the
/// ingester is SIGKILLed at random moments (at least six times, until the publisher is done)
/// and restarted each time, by turns on the broker's TCP port and its Unix socket (one
/// persistent session, whichever listener): the lake holds exactly the 20,000 distinct
/// readings, the dead-letter file exactly the 37 malformed ones.
#[test]
fn an_ingest_killed_while_readings_stream_in_loses_none_and_doubles_none() {
    let dir = tmp_dir("live-kill");
    let b = broker::start(&dir);
    let lake = dir.join("lake");
    let log = dir.join("ingest.log");
    let stations: Vec<String> = twin_engine::dataset::Dataset::load(&bundled())
        .expect("bundled dataset")
        .province
        .stations
        .iter()
        .map(|s| s.meta.id.clone())
        .take(20)
        .collect();
    // the first run creates the persistent session (and its subscriptions)
    let urls = [b.tcp_url(), b.unix_url()];
    let mut ing = ingester(&urls[0], &lake, &log, &[]);
    // the session exists (and queues for the restarts) once the broker grants the SUBSCRIBE
    broker::wait_for_line(&log, "ingest: subscribed", Duration::from_secs(30));

    // the publisher: its own thread drives the connection until every PUBACK is in
    let n = 20_000usize;
    let bad = 37usize;
    let (client, acks) = broker::publisher(b.port, "test-publisher", 500, n + bad);
    let publisher = std::thread::spawn(move || {
        let t0 = 1_767_225_600i64; // 2026-01-01T00:00:00Z
        let mut k_bad = 0;
        for i in 0..n {
            let s = &stations[i % stations.len()];
            let minute = (i / stations.len()) as i64;
            let t = chrono::DateTime::from_timestamp(t0 + 60 * minute, 0)
                .expect("time")
                .to_rfc3339();
            let payload = format!(
                r#"{{"time": "{t}", "value": {}, "unit": "µg/m³"}}"#,
                10 + i % 50
            );
            client
                .publish(format!("qn/{s}/PM2.5"), QoS::AtLeastOnce, false, payload)
                .expect("publish");
            if i % 541 == 0 && k_bad < bad {
                // malformed: not JSON, an unknown station, an unknown unit (each distinct)
                let (topic, payload) = match k_bad % 3 {
                    0 => (format!("qn/{s}/PM2.5"), format!("garbage {k_bad}")),
                    1 => (
                        format!("qn/no-such-station-{k_bad}/PM2.5"),
                        format!(r#"{{"time": "{t}", "value": 1, "unit": "µg/m³"}}"#),
                    ),
                    _ => (
                        format!("qn/{s}/SO2"),
                        format!(r#"{{"time": "{t}", "value": {k_bad}, "unit": "furlongs"}}"#),
                    ),
                };
                client
                    .publish(topic, QoS::AtLeastOnce, false, payload)
                    .expect("publish");
                k_bad += 1;
            }
            if i % 200 == 199 {
                std::thread::sleep(Duration::from_millis(40));
            }
        }
        k_bad
    });

    // kill and restart while publishing
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut kills = 0;
    while !publisher.is_finished() || kills < 6 {
        std::thread::sleep(Duration::from_millis(rng.random_range(150..700)));
        ing.kill().expect("SIGKILL");
        ing.wait().expect("reaped");
        kills += 1;
        ing = ingester(&urls[kills % 2], &lake, &log, &[]);
        assert!(kills < 100, "publishing never finished");
    }
    let sent_bad = publisher.join().expect("publisher");
    assert_eq!(sent_bad, bad);
    assert_eq!(
        acks.join().expect("acks"),
        n + bad,
        "the broker took every message"
    );
    // the last run drains the session and stops when idle
    ing.kill().expect("SIGKILL");
    ing.wait().expect("reaped");
    let mut last = ingester(&urls[0], &lake, &log, &["--idle-exit-s", "3"]);
    let status = broker::wait_exit(&mut last, Duration::from_secs(120));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "{text}");
    let all = twin_engine::telemetry::lake::read(&lake)
        .expect("lake")
        .frame;
    eprintln!("{kills} kills; lake {} rows", all.height());
    for url in &urls {
        assert!(text.contains(&format!("listening {url}")), "{text}");
    }
    assert_eq!(all.height(), n, "{text}");
    let distinct = all
        .unique_stable(
            Some(&["station_id".into(), "parameter".into(), "time_ms".into()]),
            polars::prelude::UniqueKeepStrategy::First,
            None,
        )
        .expect("unique")
        .height();
    assert_eq!(distinct, n);
    let dead = std::fs::read_to_string(lake.join("_dead_letter").join("dead_letter.jsonl"))
        .expect("dead letters");
    assert_eq!(dead.lines().count(), bad, "{dead}");
    let mut f = std::fs::File::create(dir.join("done")).expect("marker");
    writeln!(f, "ok").expect("write");
}

/// Methane readings at a mine crossing 1.0 % and 1.5 % and falling back, and a PM2.5 reading
/// out of range at a station: the ingester publishes each alarm's start and end, and the QA
/// fault, on `qn/alerts/<site>/<parameter>`, with the batch rules' names and values.
#[test]
fn live_alarms_and_qa_faults_are_published_on_the_alert_topics() {
    let dir = tmp_dir("live-alarms");
    let b = broker::start(&dir);
    let lake = dir.join("lake");
    let log = dir.join("ingest.log");
    let ds = twin_engine::dataset::Dataset::load(&bundled()).expect("bundled dataset");
    let mine = ds.province.mines[0].meta.id.clone();
    let station = ds.province.stations[0].meta.id.clone();
    let mut ing = ingester(&b.tcp_url(), &lake, &log, &[]);
    let alerts = broker::subscriber(b.port, "test-alerts", "qn/alerts/#");
    broker::wait_for_line(&log, "ingest: subscribed", Duration::from_secs(30));
    let (client, acks) = broker::publisher(b.port, "test-publisher", 100, 7);
    let t = |m: u32| format!("2026-03-01T08:{m:02}:00+07:00");
    for (m, v) in [0.5, 1.2, 1.7, 0.4].into_iter().enumerate() {
        client
            .publish(
                format!("qn/{mine}/CH4"),
                QoS::AtLeastOnce,
                false,
                format!(
                    r#"{{"time": "{}", "value": {v}, "unit": "%"}}"#,
                    t(m as u32)
                ),
            )
            .expect("publish");
    }
    for (m, v) in [(0, 20.0), (1, 2500.0), (2, 22.0)] {
        client
            .publish(
                format!("qn/{station}/PM2.5"),
                QoS::AtLeastOnce,
                false,
                format!(r#"{{"time": "{}", "value": {v}, "unit": "µg/m³"}}"#, t(m)),
            )
            .expect("publish");
    }
    assert_eq!(acks.join().expect("acks"), 7);
    let mut got: Vec<(String, String, String, String, f64)> = Vec::new();
    while got.len() < 5 {
        let (_, p) = alerts
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("5 alerts; got {got:?}"));
        let v: serde_json::Value = serde_json::from_slice(&p.payload).expect("JSON alert");
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        assert_eq!(
            p.topic,
            format!("qn/alerts/{}/{}", s("site"), s("parameter"))
        );
        assert!(!s("rule").is_empty() && !s("time").is_empty(), "{v}");
        got.push((
            s("site"),
            s("event"),
            s("level"),
            s("time"),
            v["value"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    got.sort_by(|a, b| a.partial_cmp(b).expect("ordered"));
    let mut want = vec![
        (
            mine.clone(),
            "start".into(),
            "CH4 >= 1.0 %".into(),
            "2026-03-01T01:01:00.000Z".into(),
            1.2,
        ),
        (
            mine.clone(),
            "start".into(),
            "CH4 >= 1.5 %".into(),
            "2026-03-01T01:02:00.000Z".into(),
            1.7,
        ),
        (
            mine.clone(),
            "end".into(),
            "CH4 >= 1.0 %".into(),
            "2026-03-01T01:03:00.000Z".into(),
            0.4,
        ),
        (
            mine.clone(),
            "end".into(),
            "CH4 >= 1.5 %".into(),
            "2026-03-01T01:03:00.000Z".into(),
            0.4,
        ),
        (
            station.clone(),
            "start".into(),
            "range".into(),
            "2026-03-01T01:01:00.000Z".into(),
            2500.0,
        ),
    ];
    want.sort_by(|a, b| a.partial_cmp(b).expect("ordered"));
    assert_eq!(got, want);
    ing.kill().expect("SIGKILL");
    ing.wait().expect("reaped");
}
