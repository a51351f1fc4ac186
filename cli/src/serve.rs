//! `twin serve`: the OGC SensorThings API 1.1 read subset over the dataset and the lake
//! (`twin_engine::sta`), its extensions, authenticated writes through the broker, and a live
//! feed (Server-Sent Events). axum over tokio; every engine call (polars among them) runs on a
//! plain thread, never on the runtime's.
//!
//! - Reads: `GET /v1.1/...` (open unless the token file holds `reads=protected`).
//! - Writes: `POST /v1.1/Observations` or `POST /v1.1/Datastreams('<id>')/Observations` with a
//!   bearer token (RFC 6750): validated as the ingester validates MQTT messages, published to
//!   the broker in the SensorThings topic form with QoS 1, and answered 201 only after the
//!   broker's PUBACK — the ingester stays the lake's only writer.
//! - The lake is re-read every second for new parts (the ingester's flushes).
//! - `GET /v1.1/ext/events`: SSE of new observations (per series, from each refresh), hourly
//!   VN_AQI updates of the stations they touch, and the ingester's alerts (`qn/alerts/#`).
//! - `GET /v1.1/ext/metrics`: readings held, readings/s, refresh lag, WAL bytes, dead letters.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use clap::Args;
use rumqttc::{AsyncClient, Packet, QoS};
use serde_json::{Value, json};
use tokio::sync::{Mutex, broadcast, mpsc};
use twin_engine::sta::store::Store;
use twin_engine::sta::{Api, Response as ApiResponse, ext};
use twin_engine::telemetry::live::parse_message;

/// `twin serve` arguments.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The lake to serve (written by `twin telemetry ingest`).
    #[arg(long, value_name = "DIR")]
    lake: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    bind: String,
    /// Bearer tokens, one per line (`#` comments); a line `reads=protected` makes reads need a
    /// token too. Without it, reads are open and writes are refused.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Broker for writes (published in the SensorThings topic form) and for the alert feed
    /// (`mqtt://HOST:PORT` or `unix:///PATH`).
    #[arg(long, value_name = "URL")]
    mqtt: Option<String>,
    /// MQTT client id of the server.
    #[arg(long, default_value = "qn-twin-serve", value_name = "ID")]
    client_id: String,
    #[command(flatten)]
    dataset: crate::DatasetArgs,
}

/// Tokens and whether reads need one.
#[derive(Debug, Default)]
struct Auth {
    tokens: HashSet<String>,
    protect_reads: bool,
}

fn read_tokens(path: &Path) -> anyhow::Result<Auth> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--token-file {}", path.display()))?;
    let mut a = Auth::default();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        if l == "reads=protected" {
            a.protect_reads = true;
        } else if l.chars().any(char::is_whitespace) || !l.is_ascii() {
            anyhow::bail!(
                "--token-file {}: line {}: a token is one word of ASCII characters",
                path.display(),
                i + 1
            );
        } else {
            a.tokens.insert(l.to_string());
        }
    }
    Ok(a)
}

/// What a write waits for.
struct Broker {
    client: AsyncClient,
    /// PUBACK packet ids, in order.
    acks: Mutex<mpsc::UnboundedReceiver<u16>>,
    /// Outgoing PUBLISH packet ids, in order.
    sent: Mutex<mpsc::UnboundedReceiver<u16>>,
    /// One write at a time (its PUBACK is the next one).
    one: Mutex<()>,
}

struct App {
    api: RwLock<Api>,
    auth: Auth,
    broker: Option<Broker>,
    feed: broadcast::Sender<(String, String)>,
    sites: HashSet<String>,
    lake: PathBuf,
    metrics: RwLock<Metrics>,
}

#[derive(Debug, Default, Clone)]
struct Metrics {
    readings: usize,
    rate: f64,
    last_new_part: Option<Instant>,
    refreshes: u64,
}

/// Runs the server until SIGINT/SIGTERM.
pub fn run(a: &ServeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let ds = a.dataset.load()?;
    let auth = match &a.token_file {
        Some(f) => read_tokens(f)?,
        None => Auth::default(),
    };
    let sites = twin_engine::telemetry::live::site_ids(&ds.province);
    let t0 = Instant::now();
    let mut store = Store::new(&a.lake);
    store.refresh()?;
    let readings = store.readings();
    writeln!(
        out,
        "loaded    {readings} readings in {} series from {} ({:.1} s{})",
        store.series.len(),
        a.lake.display(),
        t0.elapsed().as_secs_f64(),
        if store.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} unreadable parts skipped", store.skipped.len())
        }
    )?;
    let api = Api::new(&ds, store);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(serve(a, api, auth, sites, readings, out))
}

async fn serve(
    a: &ServeArgs,
    api: Api,
    auth: Auth,
    sites: HashSet<String>,
    readings: usize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (feed, _) = broadcast::channel(4096);
    let broker = match &a.mqtt {
        Some(url) => Some(connect(url, &a.client_id, feed.clone())?),
        None => None,
    };
    let app = Arc::new(App {
        api: RwLock::new(api),
        auth,
        broker,
        feed,
        sites,
        lake: a.lake.clone(),
        metrics: RwLock::new(Metrics {
            readings,
            ..Default::default()
        }),
    });
    // the lake, re-read every second on a plain thread
    let refresher = app.clone();
    std::thread::spawn(move || refresh_loop(&refresher));
    let router = axum::Router::new().fallback(handle).with_state(app.clone());
    let listener = tokio::net::TcpListener::bind(&a.bind)
        .await
        .with_context(|| format!("--bind {}", a.bind))?;
    let addr = listener.local_addr().context("local address")?;
    writeln!(
        out,
        "serving   http://{addr}/v1.1 (reads {}, writes {})",
        if app.auth.protect_reads {
            "need a token"
        } else {
            "open"
        },
        match (&app.broker, app.auth.tokens.is_empty()) {
            (None, _) => "off: no --mqtt",
            (_, true) => "off: no tokens",
            _ => "with a bearer token",
        }
    )?;
    out.flush()?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        })
        .await
        .context("serving")?;
    writeln!(out, "stopped")?;
    Ok(())
}

/// The MQTT connection: writes go out on it, alerts come in on it.
fn connect(
    url: &str,
    id: &str,
    feed: broadcast::Sender<(String, String)>,
) -> anyhow::Result<Broker> {
    let mut opts = crate::live::BrokerAddr::parse(url)?.options(id);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    eventloop.network_options.set_tcp_nodelay(true);
    let (ack_tx, acks) = mpsc::unbounded_channel();
    let (sent_tx, sent) = mpsc::unbounded_channel();
    let sub = client.clone();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = sub.subscribe("qn/alerts/#", QoS::AtLeastOnce).await;
                }
                Ok(rumqttc::Event::Incoming(Packet::PubAck(p))) => {
                    let _ = ack_tx.send(p.pkid);
                }
                Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Publish(pkid))) => {
                    let _ = sent_tx.send(pkid);
                }
                Ok(rumqttc::Event::Incoming(Packet::Publish(p))) => {
                    let _ = feed.send((
                        "alert".into(),
                        String::from_utf8_lossy(&p.payload).into_owned(),
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("serve: broker connection: {e}; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    Ok(Broker {
        client,
        acks: Mutex::new(acks),
        sent: Mutex::new(sent),
        one: Mutex::new(()),
    })
}

fn refresh_loop(app: &App) {
    let mut window: std::collections::VecDeque<(Instant, usize)> = Default::default();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let added = match app.api.write() {
            Ok(mut api) => api.store.refresh(),
            Err(_) => return,
        };
        let added = match added {
            Ok(a) => a,
            Err(e) => {
                eprintln!("serve: reading the lake: {e}");
                continue;
            }
        };
        let readings = app.api.read().map(|a| a.store.readings()).unwrap_or(0);
        let now = Instant::now();
        window.push_back((now, readings));
        while window.len() > 61 {
            window.pop_front();
        }
        if let Ok(mut m) = app.metrics.write() {
            m.readings = readings;
            m.refreshes += 1;
            if added.parts > 0 {
                m.last_new_part = Some(now);
            }
            if let (Some(a), Some(b)) = (window.front(), window.back()) {
                let dt = b.0.duration_since(a.0).as_secs_f64();
                m.rate = if dt > 0.0 {
                    (b.1 - a.1.min(b.1)) as f64 / dt
                } else {
                    0.0
                };
            }
        }
        if added.readings == 0 {
            continue;
        }
        let mut stations: Vec<String> = Vec::new();
        for (site, p, t, v, st) in &added.latest {
            let msg = json!({"Datastream@iot.id": format!("{site}:{p}"),
                "@iot.id": format!("{site}:{p}:{t}"),
                "phenomenonTime": chrono::DateTime::from_timestamp_millis(*t).map(|d| d.to_rfc3339()),
                "result": v, "parameters": {"status": twin_engine::sta::store::STATUSES[usize::from(*st)]}});
            let _ = app.feed.send(("observation".into(), msg.to_string()));
            if ["PM2.5", "PM10", "SO2", "NO2", "CO", "O3"].contains(&p.as_str())
                && !stations.contains(site)
            {
                stations.push(site.clone());
            }
        }
        // the hourly VN_AQI of the last two hours of each station touched
        if app.feed.receiver_count() == 0 {
            continue;
        }
        let Ok(api) = app.api.read() else { return };
        for s in stations {
            let r = ext::get(
                &api,
                &format!("Things('{s}')/aqi"),
                &[("interval".into(), "hour".into())],
                "",
            );
            if let Some(last) = r.body["value"].as_array().and_then(|v| v.last()) {
                let msg = json!({"Thing@iot.id": s, "hour": last});
                let _ = app.feed.send(("aqi".into(), msg.to_string()));
            }
        }
    }
}

/// Decodes `%XX` and `+` (a space) in a query component.
fn decode(s: &str) -> String {
    percent_decode(s, true)
}

/// Decodes `%XX` (and `+` as a space only in a query component, not in a path).
fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(x) => {
                        out.push(x);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn json_response(status: u16, body: &Value) -> axum::response::Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body.to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// 401 with the RFC 6750 challenge (`invalid_token` when a token was given).
fn unauthorized(given: bool) -> axum::response::Response {
    let challenge = if given {
        r#"Bearer realm="qn-twin", error="invalid_token", error_description="the token is not known""#
    } else {
        r#"Bearer realm="qn-twin""#
    };
    let mut r = json_response(
        401,
        &ApiResponse::error(
            401,
            if given {
                "the bearer token is not valid"
            } else {
                "a bearer token is required (Authorization: Bearer <token>)"
            },
        )
        .body,
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    r
}

/// `None` when allowed; else the 401.
fn check_token(app: &App, headers: &HeaderMap) -> Option<axum::response::Response> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    match given {
        None => Some(unauthorized(false)),
        Some(h) => match h.strip_prefix("Bearer ") {
            Some(t) if app.auth.tokens.contains(t.trim()) => None,
            Some(_) => Some(unauthorized(true)),
            None => Some(unauthorized(false)),
        },
    }
}

/// Runs `f` on a plain thread (the engine's polars must not see the runtime).
async fn off_runtime<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.await.ok()
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let root = format!("http://{host}/v1.1");
    let path = parts.uri.path().to_string();
    let Some(rest) = path
        .strip_prefix("/v1.1")
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return json_response(
            404,
            &ApiResponse::error(404, "the service root is /v1.1").body,
        );
    };
    let rest = percent_decode(rest.trim_start_matches('/'), false);
    let query = query_pairs(parts.uri.query());
    match parts.method {
        Method::GET => {
            if app.auth.protect_reads
                && let Some(r) = check_token(&app, &parts.headers)
            {
                return r;
            }
            if rest == "ext/events" {
                return events(&app);
            }
            if rest == "ext/metrics" {
                return json_response(200, &metrics(&app));
            }
            let a = app.clone();
            let r = off_runtime(move || {
                let Ok(api) = a.api.read() else {
                    return ApiResponse::error(500, "the store is poisoned");
                };
                match rest.strip_prefix("ext/") {
                    Some(e) => ext::get(&api, e, &query, &root),
                    None => api.get(&rest, &query, &root),
                }
            })
            .await
            .unwrap_or_else(|| ApiResponse::error(500, "the request failed"));
            json_response(r.status, &r.body)
        }
        Method::POST => {
            if let Some(r) = check_token(&app, &parts.headers) {
                return r;
            }
            let bytes = match axum::body::to_bytes(body, 1 << 20).await {
                Ok(b) => b,
                Err(_) => {
                    return json_response(
                        413,
                        &ApiResponse::error(413, "the body is over 1 MiB").body,
                    );
                }
            };
            post(&app, &rest, &bytes, &root).await
        }
        _ => json_response(
            405,
            &ApiResponse::error(405, "GET (reads) and POST Observations (writes) only").body,
        ),
    }
}

fn metrics(app: &App) -> Value {
    let m = app.metrics.read().map(|m| m.clone()).unwrap_or_default();
    let wal = twin_engine::telemetry::live::wal_bytes(&app.lake);
    let dead = std::fs::read_to_string(app.lake.join("_dead_letter").join("dead_letter.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    json!({"readings": m.readings, "readings_per_s_last_minute": m.rate,
        "seconds_since_last_new_part": m.last_new_part.map(|t| t.elapsed().as_secs_f64()),
        "lake_refreshes": m.refreshes, "wal_bytes": wal, "dead_letters": dead,
        "sse_clients": app.feed.receiver_count()})
}

fn events(app: &App) -> axum::response::Response {
    let rx = app.feed.subscribe();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok((kind, data)) => Event::default().event(kind).data(data),
            // a slow client is told how many events it missed
            Err(broadcast::error::RecvError::Lagged(n)) => Event::default()
                .event("lagged")
                .data(format!("{{\"missed\": {n}}}")),
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok::<_, std::convert::Infallible>(event), rx))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// `POST Observations`: validated like an MQTT message, published, 201 after the PUBACK.
async fn post(app: &App, rest: &str, body: &[u8], root: &str) -> axum::response::Response {
    let bad = |m: String| json_response(400, &ApiResponse::error(400, m).body);
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return bad(format!("the body is not JSON: {e}")),
    };
    let from_path = rest
        .strip_prefix("Datastreams('")
        .and_then(|r| r.strip_suffix("')/Observations"))
        .map(str::to_string);
    let ds =
        match (from_path, rest) {
            (Some(d), _) => d,
            (None, "Observations") => match v["Datastream"]["@iot.id"].as_str() {
                Some(d) => d.to_string(),
                None => return bad(
                    "an Observation needs `Datastream`: {\"@iot.id\": \"<station>:<parameter>\"}"
                        .into(),
                ),
            },
            _ => {
                return json_response(
                    405,
                    &ApiResponse::error(
                        405,
                        "POST only to Observations or Datastreams('<id>')/Observations",
                    )
                    .body,
                );
            }
        };
    let Some(broker) = &app.broker else {
        return json_response(
            503,
            &ApiResponse::error(503, "writes need the server started with --mqtt").body,
        );
    };
    let mut payload = json!({"phenomenonTime": v["phenomenonTime"], "result": v["result"]});
    if let Some(st) = v["parameters"]["status"].as_str() {
        payload["status"] = json!(st);
    }
    let topic = format!("v1.1/Datastreams('{ds}')/Observations");
    let bytes = payload.to_string().into_bytes();
    // the ingester's own validation: refused here what it would refuse
    let reading = match parse_message(&topic, &bytes, &app.sites) {
        Ok(mut r) if r.len() == 1 => r.remove(0),
        Ok(_) => return bad("one observation per request".into()),
        Err(e) => return bad(e),
    };
    let _one = broker.one.lock().await;
    // what an earlier write that timed out left behind would pair the wrong packet ids
    while broker.sent.lock().await.try_recv().is_ok() {}
    while broker.acks.lock().await.try_recv().is_ok() {}
    if let Err(e) = broker
        .client
        .publish(topic, QoS::AtLeastOnce, false, bytes)
        .await
    {
        return json_response(
            503,
            &ApiResponse::error(503, format!("the broker: {e}")).body,
        );
    }
    let waited = tokio::time::timeout(Duration::from_secs(10), async {
        let pkid = broker.sent.lock().await.recv().await?;
        let mut acks = broker.acks.lock().await;
        loop {
            let a = acks.recv().await?;
            if a == pkid {
                return Some(());
            }
        }
    })
    .await;
    if !matches!(waited, Ok(Some(()))) {
        return json_response(
            504,
            &ApiResponse::error(504, "the broker did not acknowledge within 10 s").body,
        );
    }
    let t = chrono::DateTime::parse_from_rfc3339(reading.time.trim())
        .map(|d| d.timestamp_millis())
        .unwrap_or(0);
    let id = format!("{ds}:{t}");
    let mut r = json_response(
        201,
        &json!({"@iot.id": id, "@iot.selfLink": format!("{root}/Observations('{id}')"),
            "phenomenonTime": reading.time, "result": reading.value,
            "parameters": {"status": reading.status}}),
    );
    if let Ok(h) = HeaderValue::from_str(&format!("{root}/Observations('{id}')")) {
        r.headers_mut().insert(header::LOCATION, h);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_components_decode() {
        assert_eq!(decode("a%20b+c"), "a b c");
        assert_eq!(decode("%24top"), "$top");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("caf%C3%A9"), "café");
        assert_eq!(percent_decode("Things('a+b')", false), "Things('a+b')");
        let q = query_pairs(Some("$top=5&$filter=result%20gt%203&flag"));
        assert_eq!(q[1], ("$filter".into(), "result gt 3".into()));
        assert_eq!(q[2], ("flag".into(), String::new()));
    }
}
