//! `twin serve` end to end: the unmodified Python client frost-sta-client (PyPI) against the
//! SensorThings API, checked against the lake; bearer-token writes through mosquitto and the
//! ingester back into the lake; 401s per RFC 6750; the SSE feed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use polars::prelude::*;
use serde_json::Value;

use crate::broker;
use crate::*;

/// A running `twin serve`, killed when dropped, with the port it bound.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(lake: &Path, log: &Path, extra: &[&str]) -> Server {
    let f = std::fs::File::create(log).expect("log");
    let bundled = bundled();
    let child = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args([
            "serve",
            "--lake",
            p(lake),
            "--dataset",
            p(&bundled),
            "--bind",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env_remove("QN_TWIN_DATASET")
        .stdout(f.try_clone().expect("log"))
        .stderr(f)
        .spawn()
        .expect("twin serve starts");
    broker::wait_for_line(log, "serving", Duration::from_secs(60));
    let port = broker::served_port(log);
    Server { child, port }
}

/// One HTTP/1.1 request: (status, head, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw.as_str(), ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

fn python() -> String {
    std::env::var("QN_TWIN_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// frost-sta-client lists the Things, follows a Datastream's Observations in a 2-hour window
/// through pages of 25 (via `@iot.nextLink`), and counts all of them with a filter on the
/// Datastream: every value equals the lake's.
#[test]
fn frost_sta_client_reads_what_the_lake_holds() {
    let dir = tmp_dir("serve-frost");
    let lake = dir.join("lake");
    let bundled = bundled();
    let out = twin(&[
        "telemetry",
        "generate",
        "--days",
        "1",
        "--stations",
        "st-ha-long-air-01,mine-vang-danh",
        "--out",
        p(&lake),
        "--dataset",
        p(&bundled),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let srv = serve(&lake, &dir.join("serve.log"), &[]);
    let url = format!("http://127.0.0.1:{}/v1.1", srv.port);
    let ds = "st-ha-long-air-01:PM2.5";
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/cli/sta_client.py");
    let run = Command::new(python())
        .arg(&script)
        .args([
            url.as_str(),
            ds,
            "2026-01-01T03:00:00Z",
            "2026-01-01T05:00:00Z",
            "25",
        ])
        .stderr(Stdio::piped())
        .output()
        .expect("python runs (set QN_TWIN_PYTHON to the venv scripts/setup makes)");
    assert!(
        run.status.success(),
        "frost-sta-client: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let got: Value = serde_json::from_slice(&run.stdout).expect("JSON from the script");
    let ds_all = twin_engine::dataset::Dataset::load(&bundled).expect("dataset");
    assert_eq!(
        got["things"].as_array().expect("things").len(),
        ds_all.province.stations.len() + ds_all.province.mines.len()
    );
    assert_eq!(got["datastream"], ds);
    assert_eq!(got["unit"], "µg/m³");
    assert_eq!(got["first_page"], 25);
    // the lake's readings in [03:00, 05:00)
    let all = twin_engine::telemetry::lake::read(&lake)
        .expect("lake")
        .frame;
    let (from, to) = (1_767_236_400_000i64, 1_767_243_600_000i64);
    let want = all
        .lazy()
        .filter(
            col("station_id")
                .eq(lit("st-ha-long-air-01"))
                .and(col("parameter").eq(lit("PM2.5")))
                .and(col("time_ms").gt_eq(lit(from)))
                .and(col("time_ms").lt(lit(to))),
        )
        .sort(["time_ms"], Default::default())
        .collect()
        .expect("want");
    let times: Vec<i64> = want
        .column("time_ms")
        .expect("t")
        .i64()
        .expect("i64")
        .iter()
        .flatten()
        .collect();
    let values: Vec<f64> = want
        .column("value")
        .expect("v")
        .f64()
        .expect("f64")
        .iter()
        .flatten()
        .collect();
    let obs = got["observations"].as_array().expect("observations");
    assert_eq!(obs.len(), times.len());
    assert!(obs.len() > 25 * 2, "several pages: {}", obs.len());
    for (o, (t, v)) in obs.iter().zip(times.iter().zip(&values)) {
        let ot =
            chrono::DateTime::parse_from_rfc3339(o[0].as_str().expect("time")).expect("rfc3339");
        assert_eq!(ot.timestamp_millis(), *t);
        assert_eq!(o[1].as_f64(), Some(*v));
    }
    let n_all = twin_engine::telemetry::lake::read(&lake)
        .expect("lake")
        .frame
        .lazy()
        .filter(
            col("station_id")
                .eq(lit("st-ha-long-air-01"))
                .and(col("parameter").eq(lit("PM2.5"))),
        )
        .collect()
        .expect("all")
        .height();
    assert_eq!(got["count_all"], n_all);
}

/// Writes need a bearer token (RFC 6750 challenges), go through the broker and the ingester,
/// and come back through the API; `reads=protected` closes reads too; the SSE feed carries the
/// ingester's alerts and the new observations.
#[test]
fn bearer_token_writes_reach_the_lake_through_the_broker() {
    let dir = tmp_dir("serve-write");
    let b = broker::start(&dir);
    let lake = dir.join("lake");
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "# operations centre\nsecret-token-1\n").expect("tokens");
    let mut ing = crate::live::ingester(&b.tcp_url(), &lake, &dir.join("ingest.log"), &[]);
    broker::wait_for_line(
        &dir.join("ingest.log"),
        "ingest: subscribed",
        Duration::from_secs(30),
    );
    // the server on the broker's host: through its Unix socket
    let mqtt = b.unix_url();
    let srv = serve(
        &lake,
        &dir.join("serve.log"),
        &["--token-file", p(&tokens), "--mqtt", &mqtt],
    );
    std::thread::sleep(Duration::from_millis(700)); // the server's SUBSCRIBE to the alerts
    // the live feed, read on its own thread
    let mut sse = TcpStream::connect(("127.0.0.1", srv.port)).expect("sse");
    sse.write_all(
        format!(
            "GET /v1.1/ext/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n",
            srv.port
        )
        .as_bytes(),
    )
    .expect("sse request");
    sse.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let (ev_tx, events) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(sse).lines() {
            let Ok(l) = line else { return };
            if ev_tx.send(l).is_err() {
                return;
            }
        }
    });
    let body = r#"{"phenomenonTime": "2026-03-01T08:00:00+07:00", "result": 1.3, "Datastream": {"@iot.id": "mine-vang-danh:CH4"}}"#;
    let (s, head, _) = http(srv.port, "POST", "/v1.1/Observations", &[], body);
    assert_eq!(s, 401);
    assert!(
        head.contains("www-authenticate: Bearer realm=\"qn-twin\""),
        "{head}"
    );
    assert!(!head.contains("invalid_token"));
    let (s, head, _) = http(
        srv.port,
        "POST",
        "/v1.1/Observations",
        &["Authorization: Bearer wrong"],
        body,
    );
    assert_eq!(s, 401);
    assert!(head.contains("error=\"invalid_token\""), "{head}");
    let auth = "Authorization: Bearer secret-token-1";
    let (s, _, text) = http(
        srv.port,
        "POST",
        "/v1.1/Observations",
        &[auth],
        r#"{"phenomenonTime": "yesterday", "result": 1, "Datastream": {"@iot.id": "mine-vang-danh:CH4"}}"#,
    );
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("RFC 3339"), "{text}");
    let (s, _, text) = http(
        srv.port,
        "POST",
        "/v1.1/Datastreams('no-such:CH4')/Observations",
        &[auth],
        r#"{"phenomenonTime": "2026-03-01T08:00:00+07:00", "result": 1}"#,
    );
    assert_eq!(s, 400, "{text}");
    let (s, head, text) = http(srv.port, "POST", "/v1.1/Observations", &[auth], body);
    assert_eq!(s, 201, "{text}");
    let id = "mine-vang-danh:CH4:1772326800000";
    assert!(
        head.contains(&format!("/v1.1/Observations('{id}')")),
        "{head}"
    );
    // the ingester lands it (flush every 0.5 s), the server sees the new part (every 1 s)
    let path = format!("/v1.1/Observations('{id}')");
    let mut found = None;
    for _ in 0..100 {
        let (s, _, text) = http(srv.port, "GET", &path, &[], "");
        if s == 200 {
            found = Some(text);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o: Value =
        serde_json::from_str(&found.expect("the written observation is served")).expect("json");
    assert_eq!(o["result"], 1.3);
    // the feed: the alarm the reading raised, and the observation itself
    let mut seen = Vec::new();
    while !(seen.iter().any(|l: &String| l == "event: alert")
        && seen.iter().any(|l| l == "event: observation"))
    {
        let l = events
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("SSE events; got {seen:?}"));
        seen.push(l);
    }
    assert!(seen.iter().any(|l| l.contains("CH4 >= 1.0 %")), "{seen:?}");
    // metrics
    let (s, _, m) = http(srv.port, "GET", "/v1.1/ext/metrics", &[], "");
    assert_eq!(s, 200);
    let m: Value = serde_json::from_str(&m).expect("metrics");
    assert!(m["readings"].as_u64() >= Some(1), "{m}");
    drop(srv);
    // reads closed by the token file
    std::fs::write(&tokens, "secret-token-1\nreads=protected\n").expect("tokens");
    let srv = serve(
        &lake,
        &dir.join("serve2.log"),
        &["--token-file", p(&tokens)],
    );
    assert_eq!(http(srv.port, "GET", "/v1.1/Things", &[], "").0, 401);
    assert_eq!(http(srv.port, "GET", "/v1.1/Things", &[auth], "").0, 200);
    // writes without --mqtt: refused with the reason
    let (s, _, text) = http(srv.port, "POST", "/v1.1/Observations", &[auth], body);
    assert_eq!(s, 503, "{text}");
    ing.kill().expect("kill");
    ing.wait().expect("reaped");
}
