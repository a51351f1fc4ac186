//! `--live URL`: the viewer follows `twin serve`'s Server-Sent Events feed
//! (`http://HOST:PORT/v1.1/ext/events`). Stations recolour by their latest hourly VN_AQI (`aqi`
//! events), mine-gas alarms (`alert` events of kind `alarm`) flash on their mine and list in the
//! "Live" panel, and the panel's clock follows real time. The feed is read on its own thread
//! (plain HTTP/1.1, reconnecting every second when the server is away) and handed to the app
//! through a channel.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::data::{Kind, Twin};
use crate::world::{FlatMaterial, Marker, Palette, StationAqi};

/// One message from the feed thread.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveMsg {
    /// Connected (or reconnected) to the feed.
    Connected,
    /// Lost the connection (with why); retrying.
    Lost(String),
    /// An SSE event: its name and JSON data.
    Event(String, serde_json::Value),
}

/// `http://HOST:PORT/PATH` → (host:port, /path).
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--live {url:?}: expected http://HOST:PORT/v1.1/ext/events"))?;
    let (addr, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/v1.1/ext/events"),
    };
    if addr.is_empty() {
        return Err(format!("--live {url:?}: no host"));
    }
    let addr = if addr.contains(':') {
        addr.to_string()
    } else {
        format!("{addr}:80")
    };
    Ok((addr, path.to_string()))
}

/// Reads SSE events from `reader` until it ends: each `event:`/`data:` block, sent on `tx`.
/// Returns false when the receiver is gone.
pub fn read_events(reader: impl BufRead, tx: &Sender<LiveMsg>) -> bool {
    let (mut name, mut data) = (String::new(), String::new());
    for line in reader.lines() {
        let Ok(line) = line else { return true };
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            if !data.is_empty() {
                let v =
                    serde_json::from_str(&data).unwrap_or(serde_json::Value::String(data.clone()));
                let kind = if name.is_empty() {
                    "message".to_string()
                } else {
                    name.clone()
                };
                if tx.send(LiveMsg::Event(kind, v)).is_err() {
                    return false;
                }
            }
            name.clear();
            data.clear();
        } else if let Some(v) = line.strip_prefix("event:") {
            name = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.trim_start());
        }
    }
    true
}

fn feed(addr: String, path: String, tx: Sender<LiveMsg>) {
    loop {
        let res = (|| -> std::io::Result<bool> {
            let mut s = TcpStream::connect(&addr)?;
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
            )?;
            let mut r = BufReader::new(s);
            let mut status = String::new();
            r.read_line(&mut status)?;
            if !status.contains(" 200") {
                return Err(std::io::Error::other(format!(
                    "the feed answered {}",
                    status.trim()
                )));
            }
            // the head ends with a blank line
            loop {
                let mut h = String::new();
                if r.read_line(&mut h)? == 0 || h.trim().is_empty() {
                    break;
                }
            }
            if tx.send(LiveMsg::Connected).is_err() {
                return Ok(false);
            }
            Ok(read_events(r, &tx))
        })();
        let why = match res {
            Ok(false) => return,
            Ok(true) => "the feed ended".to_string(),
            Err(e) => e.to_string(),
        };
        if tx.send(LiveMsg::Lost(why)).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// One alarm in the panel.
#[derive(Debug, Clone)]
pub struct AlarmRow {
    /// Mine (or station) id.
    pub site: String,
    /// `CH4 >= 1.0 %` …
    pub level: String,
    /// Value that started (or ended) it.
    pub value: f64,
    /// Its time (RFC 3339).
    pub time: String,
    /// Still on.
    pub active: bool,
}

/// The live state.
#[derive(Resource)]
pub struct Live {
    /// The feed URL.
    pub url: String,
    rx: Mutex<Receiver<LiveMsg>>,
    /// Connected now.
    pub connected: bool,
    /// Why the last connection was lost.
    pub lost: Option<String>,
    /// Alarms, newest last (at most 200 kept).
    pub alarms: Vec<AlarmRow>,
    /// Alarm events received.
    pub alarm_events: u64,
    /// Sites with an active alarm → their levels.
    pub active: BTreeMap<String, Vec<String>>,
    /// Latest hourly VN_AQI per station (from `aqi` events).
    pub aqi: BTreeMap<String, i64>,
}

/// Follows the feed at `url`.
pub struct LivePlugin {
    /// `http://HOST:PORT/v1.1/ext/events`.
    pub url: String,
}

impl Plugin for LivePlugin {
    fn build(&self, app: &mut App) {
        let (tx, rx) = channel();
        match split_url(&self.url) {
            Ok((addr, path)) => {
                std::thread::spawn(move || feed(addr, path, tx));
            }
            Err(e) => {
                let _ = tx.send(LiveMsg::Lost(e));
            }
        }
        app.insert_resource(Live {
            url: self.url.clone(),
            rx: Mutex::new(rx),
            connected: false,
            lost: None,
            alarms: Vec::new(),
            alarm_events: 0,
            active: BTreeMap::new(),
            aqi: BTreeMap::new(),
        })
        .init_resource::<AlarmMaterials>()
        .add_systems(Update, (receive, flash).chain())
        .add_systems(EguiPrimaryContextPass, panel);
    }
}

/// The alarm colours (bright and dark red, alternating).
#[derive(Resource, Default)]
struct AlarmMaterials(
    Option<(Handle<FlatMaterial>, Handle<FlatMaterial>)>,
    BTreeMap<Entity, Handle<FlatMaterial>>,
);

fn receive(
    mut live: ResMut<Live>,
    twin: Res<Twin>,
    mut station_aqi: ResMut<StationAqi>,
    mut q: Query<(&Marker, &mut MeshMaterial3d<FlatMaterial>)>,
    mut materials: ResMut<Assets<FlatMaterial>>,
    mut palette: ResMut<Palette>,
) {
    let msgs: Vec<LiveMsg> = match live.rx.lock() {
        Ok(rx) => rx.try_iter().collect(),
        Err(_) => return,
    };
    for m in msgs {
        match m {
            LiveMsg::Connected => {
                live.connected = true;
                live.lost = None;
                println!("live: connected to {}", live.url);
            }
            LiveMsg::Lost(why) => {
                if live.connected || live.lost.is_none() {
                    eprintln!("twin-viewer: live feed: {why}; retrying");
                }
                live.connected = false;
                live.lost = Some(why);
            }
            LiveMsg::Event(kind, v) => match kind.as_str() {
                "aqi" => {
                    let (Some(site), Some(aqi)) =
                        (v["Thing@iot.id"].as_str(), v["hour"]["aqi"].as_i64())
                    else {
                        continue;
                    };
                    live.aqi.insert(site.to_string(), aqi);
                    for (mk, mut mat) in &mut q {
                        if mk.kind == Kind::Station && twin.0.features[mk.index].id == site {
                            station_aqi.0.insert(mk.index, Some(aqi));
                            // only on a change of colour (each event would otherwise mark it)
                            mat.set_if_neq(MeshMaterial3d(palette.aqi(&mut materials, Some(aqi))));
                        }
                    }
                }
                "alert" if v["kind"] == "alarm" => {
                    let site = v["site"].as_str().unwrap_or_default().to_string();
                    let level = v["level"].as_str().unwrap_or_default().to_string();
                    let start = v["event"] == "start";
                    live.alarm_events += 1;
                    if start {
                        live.active
                            .entry(site.clone())
                            .or_default()
                            .push(level.clone());
                    } else if let Some(l) = live.active.get_mut(&site) {
                        l.retain(|x| *x != level);
                        if l.is_empty() {
                            live.active.remove(&site);
                        }
                        for row in live
                            .alarms
                            .iter_mut()
                            .filter(|r| r.site == site && r.level == level)
                        {
                            row.active = false;
                        }
                    }
                    live.alarms.push(AlarmRow {
                        site,
                        level,
                        value: v["value"].as_f64().unwrap_or(f64::NAN),
                        time: v["time"].as_str().unwrap_or_default().to_string(),
                        active: start,
                    });
                    if live.alarms.len() > 200 {
                        live.alarms.remove(0);
                    }
                }
                _ => {}
            },
        }
    }
}

/// Mines with an active alarm: red, flashing (bright/dark every 0.4 s), drawn 2.5× larger.
fn flash(
    live: Res<Live>,
    twin: Res<Twin>,
    time: Res<Time<Real>>,
    mut mats: ResMut<AlarmMaterials>,
    mut materials: ResMut<Assets<FlatMaterial>>,
    mut palette: ResMut<Palette>,
    mut q: Query<(
        Entity,
        &Marker,
        &mut MeshMaterial3d<FlatMaterial>,
        &mut Transform,
    )>,
) {
    let (bright, dark) = mats
        .0
        .get_or_insert_with(|| {
            let mut m = |c: Color| palette.get(&mut materials, c);
            (
                m(Color::srgb(1.0, 0.08, 0.05)),
                m(Color::srgb(0.62, 0.0, 0.0)),
            )
        })
        .clone();
    let on = ((time.elapsed_secs() / 0.4) as u64).is_multiple_of(2);
    for (e, mk, mut mat, mut tr) in &mut q {
        if !matches!(mk.kind, Kind::UndergroundMine | Kind::OpenPit) {
            continue;
        }
        let alarmed = live.active.contains_key(&twin.0.features[mk.index].id);
        match (alarmed, mats.1.contains_key(&e)) {
            (true, had) => {
                if !had {
                    mats.1.insert(e, mat.0.clone());
                    tr.scale = Vec3::splat(2.5);
                }
                let want = if on { &bright } else { &dark };
                if mat.0 != *want {
                    mat.0 = want.clone();
                }
            }
            (false, true) => {
                if let Some(orig) = mats.1.remove(&e) {
                    mat.0 = orig;
                    tr.scale = Vec3::ONE;
                }
            }
            (false, false) => {}
        }
    }
}

fn panel(mut contexts: EguiContexts, live: Res<Live>, twin: Res<Twin>) -> Result {
    let ctx = contexts.ctx_mut()?;
    let now = chrono::Utc::now().timestamp_millis();
    egui::Window::new("Live")
        .default_pos(egui::pos2(
            ctx.content_rect().right() - 360.0,
            ctx.content_rect().bottom() - 260.0,
        ))
        .default_width(340.0)
        .show(ctx, |ui| {
            ui.label(crate::timeline::local_label(now));
            ui.label(if live.connected {
                format!("connected: {}", live.url)
            } else {
                format!(
                    "not connected ({})",
                    live.lost.as_deref().unwrap_or("connecting")
                )
            });
            ui.separator();
            let name = |id: &str| {
                twin.0
                    .features
                    .iter()
                    .find(|f| f.id == id)
                    .map_or(id.to_string(), |f| f.name.clone())
            };
            if live.active.is_empty() {
                ui.label("no active alarm");
            }
            for (site, levels) in &live.active {
                ui.colored_label(
                    egui::Color32::from_rgb(230, 40, 30),
                    format!("ALARM {}: {}", name(site), levels.join(", ")),
                );
            }
            ui.separator();
            egui::ScrollArea::vertical()
                .max_height(140.0)
                .show(ui, |ui| {
                    for r in live.alarms.iter().rev().take(30) {
                        ui.label(format!(
                            "{} {} {} = {} {}",
                            r.time.get(11..16).unwrap_or(&r.time),
                            name(&r.site),
                            r.level,
                            r.value,
                            if r.active { "(on)" } else { "" }
                        ));
                    }
                });
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_sse_blocks_parse() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/v1.1/ext/events").expect("url"),
            ("127.0.0.1:8080".into(), "/v1.1/ext/events".into())
        );
        assert_eq!(
            split_url("http://host").expect("url"),
            ("host:80".into(), "/v1.1/ext/events".into())
        );
        assert!(split_url("https://x").is_err());
        let (tx, rx) = channel();
        let text = "event: alert\ndata: {\"kind\":\"alarm\"}\n\n: keep-alive\n\nevent: aqi\ndata: {\"a\":\ndata: 1}\n\n";
        assert!(read_events(text.as_bytes(), &tx));
        let got: Vec<LiveMsg> = rx.try_iter().collect();
        assert_eq!(
            got,
            vec![
                LiveMsg::Event("alert".into(), serde_json::json!({"kind": "alarm"})),
                LiveMsg::Event("aqi".into(), serde_json::json!({"a": 1})),
            ]
        );
    }
}
