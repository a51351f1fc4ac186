//! The live path's durable half, independent of the network: MQTT payloads → readings (or a
//! reason to refuse them), the write-ahead log that makes an acknowledgement mean "durable", and
//! the dead-letter file. The MQTT loop itself (tokio, rumqttc) is in the CLI (`twin telemetry
//! ingest --mqtt`); it calls these in this order for every batch of messages:
//! [`parse_message`] each → [`Wal::append`] the readings and [`DeadLetters::record`] the refused
//! → [`Wal::sync`] and [`DeadLetters::sync`] (fsync) → only then acknowledge (PUBACK). From time
//! to time [`Wal::flush_to_lake`] appends the WAL's readings to the lake as one crash-safe batch
//! and truncates the WAL; on start [`Wal::open`] hands back what a killed ingester left, which is
//! flushed first. A reading can reach the lake twice (killed between the lake's commit and the
//! truncation, or redelivered by the broker): the lake's "first accepted wins" key drops the
//! second, so replay is idempotent.
//!
//! Topics and payloads (JSON):
//! - `qn/<site_id>/<parameter>`: `{"time": RFC 3339, "value": number, "unit": string,
//!   "status": optional string}`;
//! - `qn/<station_id>`: the dataloggers' batch `{"time": …, "values": {"PM2.5 [µg/m³]": 12.1, …},
//!   "status": optional}`;
//! - `v1.1/Datastreams('<station_id>:<parameter>')/Observations`: `{"phenomenonTime": …,
//!   "result": number}` in the parameter's canonical unit (SensorThings).
//!
//! Units are checked by [`super::observations::to_canonical`] here and converted by
//! [`super::observations::normalise`] at the flush — the file readers' code path.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::ObservationError;
use super::lake::AppendReport;
use super::observations::{canonical_unit, normalise, to_canonical};

/// The topic filters the ingester subscribes to.
pub const TOPICS: [&str; 3] = ["qn/+/+", "qn/+", "v1.1/+/Observations"];

/// One reading as it arrived (unit not yet converted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Station or mine id.
    #[serde(rename = "s")]
    pub station_id: String,
    /// Parameter.
    #[serde(rename = "p")]
    pub parameter: String,
    /// RFC 3339 time with offset (the end of the averaging period).
    #[serde(rename = "t")]
    pub time: String,
    /// Value in `unit`.
    #[serde(rename = "v")]
    pub value: f64,
    /// Unit as sent.
    #[serde(rename = "u")]
    pub unit: String,
    /// `measuring`, `calibrating` or `error`.
    #[serde(rename = "st")]
    pub status: String,
}

fn field<'a>(v: &'a serde_json::Value, key: &str) -> Result<&'a serde_json::Value, String> {
    v.get(key).ok_or_else(|| format!("payload has no `{key}`"))
}

fn text(v: &serde_json::Value, key: &str) -> Result<String, String> {
    field(v, key)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("`{key}` is not a string"))
}

fn number(v: &serde_json::Value, key: &str) -> Result<f64, String> {
    field(v, key)?
        .as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("`{key}` is not a finite number"))
}

fn status(v: &serde_json::Value) -> Result<String, String> {
    match v.get("status") {
        None | Some(serde_json::Value::Null) => Ok("measuring".into()),
        Some(s) => match s.as_str() {
            Some(s @ ("measuring" | "calibrating" | "error")) => Ok(s.to_string()),
            _ => Err(format!(
                "`status` {s} is not measuring, calibrating or error"
            )),
        },
    }
}

fn reading(
    sites: &HashSet<String>,
    station: &str,
    parameter: &str,
    time: String,
    value: f64,
    unit: String,
    status: String,
) -> Result<Reading, String> {
    if !sites.contains(station) {
        return Err(format!("unknown station or mine `{station}`"));
    }
    let Some((factor, canonical)) = to_canonical(parameter, &unit) else {
        return Err(format!(
            "unit `{unit}` is unknown or does not fit parameter `{parameter}`"
        ));
    };
    // the flush converts it (normalise): refuse now what it would refuse then
    if !(value * factor).is_finite() {
        return Err(format!(
            "value {value} {unit} is not a finite number in {canonical}"
        ));
    }
    if chrono::DateTime::parse_from_rfc3339(time.trim()).is_err() {
        return Err(format!("time {time:?} is not RFC 3339 with an offset"));
    }
    Ok(Reading {
        station_id: station.to_string(),
        parameter: parameter.to_string(),
        time,
        value,
        unit,
        status,
    })
}

/// The ids a live reading may name: the province's stations and mines.
pub fn site_ids(province: &crate::model::Province) -> HashSet<String> {
    province
        .stations
        .iter()
        .map(|s| s.meta.id.clone())
        .chain(province.mines.iter().map(|m| m.meta.id.clone()))
        .collect()
}

/// The readings of one MQTT message, or why it is refused (it then goes to the dead letters).
/// `sites`: the dataset's station and mine ids.
pub fn parse_message(
    topic: &str,
    payload: &[u8],
    sites: &HashSet<String>,
) -> Result<Vec<Reading>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    let parts: Vec<&str> = topic.split('/').collect();
    match parts.as_slice() {
        ["qn", site, parameter] => Ok(vec![reading(
            sites,
            site,
            parameter,
            text(&v, "time")?,
            number(&v, "value")?,
            text(&v, "unit")?,
            status(&v)?,
        )?]),
        ["qn", site] => {
            let time = text(&v, "time")?;
            let st = status(&v)?;
            let values = field(&v, "values")?
                .as_object()
                .ok_or("`values` is not an object")?;
            if values.is_empty() {
                return Err("`values` is empty".into());
            }
            values
                .iter()
                .map(|(head, x)| {
                    let (p, u) = head
                        .strip_suffix(']')
                        .and_then(|h| h.split_once('['))
                        .map(|(p, u)| (p.trim(), u.trim()))
                        .filter(|(p, _)| !p.is_empty())
                        .ok_or_else(|| {
                            format!("`values` key {head:?} is not `PARAMETER [unit]`")
                        })?;
                    let x = x
                        .as_f64()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| format!("`values` {head:?} is not a finite number"))?;
                    reading(sites, site, p, time.clone(), x, u.to_string(), st.clone())
                })
                .collect()
        }
        ["v1.1", datastream, "Observations"] => {
            let id = datastream
                .strip_prefix("Datastreams('")
                .and_then(|d| d.strip_suffix("')"))
                .ok_or_else(|| {
                    format!("`{datastream}` is not Datastreams('<station>:<parameter>')")
                })?;
            let (site, parameter) = id
                .split_once(':')
                .ok_or_else(|| format!("Datastream id `{id}` is not <station>:<parameter>"))?;
            let unit = canonical_unit(parameter)
                .ok_or_else(|| format!("unknown parameter `{parameter}`"))?;
            Ok(vec![reading(
                sites,
                site,
                parameter,
                text(&v, "phenomenonTime")?,
                number(&v, "result")?,
                unit.to_string(),
                status(&v)?,
            )?])
        }
        _ => Err(format!(
            "topic `{topic}` is none of qn/<site>/<parameter>, qn/<station>, v1.1/Datastreams('<id>')/Observations"
        )),
    }
}

/// The write-ahead log: numbered segments `LAKE/_wal/<seq>.jsonl`, one JSON reading per line.
/// Readings go to the active segment; [`Wal::seal`] closes it and opens the next, and the sealed
/// [`Segment`] is flushed into the lake (on another thread, while the active segment keeps
/// taking readings) and only then deleted. So the ingester's event loop never waits for a lake
/// flush, and a reading is always in a segment file or in the lake.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    seq: u64,
    file: File,
    active: Vec<Reading>,
}

/// A sealed WAL segment: its readings, to be flushed into the lake in sequence order.
#[derive(Debug)]
pub struct Segment {
    path: PathBuf,
    /// The readings, in arrival order.
    pub readings: Vec<Reading>,
}

/// The WAL's directory in a lake.
pub fn wal_dir(lake: &Path) -> PathBuf {
    lake.join("_wal")
}

/// Bytes in the lake's WAL segments (sealed and active).
pub fn wal_bytes(lake: &Path) -> u64 {
    std::fs::read_dir(wal_dir(lake)).map_or(0, |d| {
        d.flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    })
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> ObservationError {
    ObservationError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The records of a JSON-lines file that parse (a torn or foreign line is skipped); none when
/// the file does not exist.
fn json_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, ObservationError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let f = File::open(path).map_err(|e| io_err(path, e))?;
    let mut out = Vec::new();
    for line in BufReader::new(f).lines() {
        let line = line.map_err(|e| io_err(path, e))?;
        if let Ok(r) = serde_json::from_str(&line) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Opens a file for appending, creating it.
fn open_append(path: &Path) -> Result<File, ObservationError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_err(path, e))
}

fn sync_dir(dir: &Path) -> Result<(), ObservationError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))
}

/// A segment's sequence number from its file name (`<seq>.jsonl`; the single `wal.jsonl` of
/// earlier versions is segment 0).
fn segment_seq(name: &str) -> Option<u64> {
    if name == "wal.jsonl" {
        return Some(0);
    }
    let digits = name.strip_suffix(".jsonl")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.jsonl"))
}

impl Wal {
    /// Opens the lake's WAL: the segments a killed ingester left (in sequence order; a torn last
    /// line — a write that never completed, so never acknowledged — is dropped), and a new, empty
    /// active segment after them. Flush the held segments before anything new.
    pub fn open(lake: &Path) -> Result<(Self, Vec<Segment>), ObservationError> {
        let dir = wal_dir(lake);
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)
            .map_err(|e| io_err(&dir, e))?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name();
                segment_seq(name.to_str()?).map(|q| (q, e.path()))
            })
            .collect();
        found.sort();
        let mut held = Vec::new();
        for (_, path) in &found {
            let readings: Vec<Reading> = json_lines(path)?;
            held.push(Segment {
                path: path.clone(),
                readings,
            });
        }
        let seq = found.last().map_or(1, |(q, _)| q + 1);
        let path = segment_path(&dir, seq);
        let file = open_append(&path)?;
        sync_dir(&dir)?;
        Ok((
            Self {
                dir,
                seq,
                file,
                active: Vec::new(),
            },
            held,
        ))
    }

    /// Appends readings to the active segment (not yet durable: call [`Wal::sync`] before
    /// acknowledging them); they stay readable in [`Wal::active`] until the segment is sealed.
    pub fn append(&mut self, readings: Vec<Reading>) -> Result<(), ObservationError> {
        let mut buf = Vec::with_capacity(readings.len() * 96);
        for r in &readings {
            serde_json::to_writer(&mut buf, r).map_err(|e| io_err(&self.dir, e))?;
            buf.push(b'\n');
        }
        self.file
            .write_all(&buf)
            .map_err(|e| io_err(&segment_path(&self.dir, self.seq), e))?;
        self.active.extend(readings);
        Ok(())
    }

    /// The active segment's readings, in arrival order.
    pub fn active(&self) -> &[Reading] {
        &self.active
    }

    /// Makes every appended reading durable (fdatasync).
    pub fn sync(&mut self) -> Result<(), ObservationError> {
        self.file
            .sync_data()
            .map_err(|e| io_err(&segment_path(&self.dir, self.seq), e))
    }

    /// Readings in the active segment.
    pub fn pending(&self) -> usize {
        self.active.len()
    }

    /// Seals the active segment (made durable first) and opens the next; `None` when the active
    /// segment is empty (it is kept).
    pub fn seal(&mut self) -> Result<Option<Segment>, ObservationError> {
        if self.active.is_empty() {
            return Ok(None);
        }
        self.sync()?;
        let sealed = segment_path(&self.dir, self.seq);
        let next = segment_path(&self.dir, self.seq + 1);
        self.file = open_append(&next)?;
        sync_dir(&self.dir)?;
        self.seq += 1;
        Ok(Some(Segment {
            path: sealed,
            readings: std::mem::take(&mut self.active),
        }))
    }

    /// Seals the active segment and flushes it into the lake at once (tests, tools).
    pub fn flush_to_lake(&mut self, lake: &Path) -> Result<AppendReport, ObservationError> {
        match self.seal()? {
            Some(s) => s.flush(lake),
            None => Ok(AppendReport::default()),
        }
    }
}

impl Segment {
    /// Readings in the segment.
    pub fn len(&self) -> usize {
        self.readings.len()
    }

    /// `true` when it holds no reading.
    pub fn is_empty(&self) -> bool {
        self.readings.is_empty()
    }

    /// Bytes of its file.
    pub fn bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Appends the segment's readings to the lake as one batch (units converted by the file
    /// readers' code path), then deletes the segment. Killed in between, the segment is replayed
    /// on the next start and the lake's key drops what it already holds.
    pub fn flush(self, lake: &Path) -> Result<AppendReport, ObservationError> {
        let report = if self.readings.is_empty() {
            AppendReport::default()
        } else {
            let frame = raw_frame(&self.readings).map_err(|e| io_err(&self.path, e))?;
            let obs = normalise(&self.path, frame)?;
            super::lake::append(lake, &obs)?
        };
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&self.path, e)),
        }
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        Ok(report)
    }
}

/// Readings as a raw observation frame (strings, as a CSV reads), for [`normalise`].
pub fn raw_frame(readings: &[Reading]) -> PolarsResult<DataFrame> {
    let col = |name: &str, f: &dyn Fn(&Reading) -> String| {
        Column::new(name.into(), readings.iter().map(f).collect::<Vec<_>>())
    };
    DataFrame::new_infer_height(vec![
        col("station_id", &|r| r.station_id.clone()),
        col("parameter", &|r| r.parameter.clone()),
        col("time", &|r| r.time.clone()),
        col("value", &|r| r.value.to_string()),
        col("unit", &|r| r.unit.clone()),
        col("status", &|r| r.status.clone()),
    ])
}

/// The dead-letter file `LAKE/_dead_letter/dead_letter.jsonl`: one line per refused message
/// (reason, topic, payload), each message once however often the broker redelivers it.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    file: File,
    seen: HashSet<u64>,
    dirty: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct DeadLetter {
    reason: String,
    topic: String,
    payload: String,
    hash: String,
}

/// A stable hash of a message: 64-bit FNV-1a over the topic, a 0xFF separator (never in UTF-8)
/// and the payload — the same across runs, builds and toolchains.
pub fn message_hash(topic: &str, payload: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic.bytes().chain([0xff]).chain(payload.iter().copied()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl DeadLetters {
    /// Opens (creating) the lake's dead-letter file, remembering the messages already in it.
    pub fn open(lake: &Path) -> Result<Self, ObservationError> {
        let dir = lake.join("_dead_letter");
        std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let path = dir.join("dead_letter.jsonl");
        let seen = json_lines::<DeadLetter>(&path)?
            .iter()
            .filter_map(|d| u64::from_str_radix(&d.hash, 16).ok())
            .collect();
        let file = open_append(&path)?;
        Ok(Self {
            path,
            file,
            seen,
            dirty: false,
        })
    }

    /// Records a refused message unless it is already there; `true` when written.
    pub fn record(
        &mut self,
        topic: &str,
        payload: &[u8],
        reason: &str,
    ) -> Result<bool, ObservationError> {
        let h = message_hash(topic, payload);
        if !self.seen.insert(h) {
            return Ok(false);
        }
        let d = DeadLetter {
            reason: reason.to_string(),
            topic: topic.to_string(),
            payload: String::from_utf8_lossy(payload).into_owned(),
            hash: format!("{h:016x}"),
        };
        let mut line = serde_json::to_vec(&d).map_err(|e| io_err(&self.path, e))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| io_err(&self.path, e))?;
        self.dirty = true;
        Ok(true)
    }

    /// Makes the recorded messages durable (an fsync only when something was recorded since
    /// the last one).
    pub fn sync(&mut self) -> Result<(), ObservationError> {
        if !self.dirty {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| io_err(&self.path, e))?;
        self.dirty = false;
        Ok(())
    }

    /// Messages recorded (this run and before).
    pub fn count(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_numbers_are_the_exact_doubles_their_text_names() {
        // serde_json's default float parser may be a unit in the last place off; the file
        // readers are not, so the same reading must not differ by path (float_roundtrip)
        let sites: HashSet<String> = ["st-1".to_string()].into();
        let r = parse_message(
            "qn/st-1/PM2.5",
            br#"{"time": "2026-01-01T00:00:00Z", "value": 54.800000000000004, "unit": "\u00b5g/m\u00b3"}"#,
            &sites,
        )
        .expect("reading");
        assert_eq!(
            r[0].value,
            "54.800000000000004".parse::<f64>().expect("f64")
        );
        assert_ne!(r[0].value, 54.8);
    }

    fn sites() -> HashSet<String> {
        ["st-1", "mine-a"].iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_three_topic_forms_parse() {
        let r = parse_message(
            "qn/st-1/SO2",
            br#"{"time": "2026-03-01T08:00:00+07:00", "value": 12.5, "unit": "ppb"}"#,
            &sites(),
        )
        .expect("single");
        assert_eq!(r.len(), 1);
        assert_eq!(
            (r[0].unit.as_str(), r[0].status.as_str()),
            ("ppb", "measuring")
        );
        let r = parse_message(
            "qn/st-1",
            r#"{"time": "2026-03-01T08:00:00+07:00", "values": {"PM2.5 [µg/m³]": 12.1, "NO2 [ppb]": 20}, "status": "calibrating"}"#.as_bytes(),
            &sites(),
        )
        .expect("batch");
        assert_eq!(r.len(), 2);
        assert!(r.iter().all(|x| x.status == "calibrating"));
        let r = parse_message(
            "v1.1/Datastreams('mine-a:CH4')/Observations",
            br#"{"phenomenonTime": "2026-03-01T01:00:00Z", "result": 0.8}"#,
            &sites(),
        )
        .expect("sta");
        assert_eq!((r[0].parameter.as_str(), r[0].unit.as_str()), ("CH4", "%"));
    }

    #[test]
    fn refusals_say_why() {
        let s = sites();
        let why = |t: &str, p: &[u8]| parse_message(t, p, &s).expect_err("refused");
        assert!(why("qn/st-1/SO2", b"not json").contains("not JSON"));
        assert!(
            why(
                "qn/st-9/SO2",
                br#"{"time": "2026-03-01T08:00:00+07:00", "value": 1, "unit": "ppb"}"#
            )
            .contains("unknown station")
        );
        assert!(
            why(
                "qn/st-1/SO2",
                br#"{"time": "2026-03-01T08:00:00+07:00", "value": 1, "unit": "furlongs"}"#
            )
            .contains("unit `furlongs`")
        );
        assert!(
            why(
                "qn/st-1/SO2",
                br#"{"time": "yesterday", "value": 1, "unit": "ppb"}"#
            )
            .contains("RFC 3339")
        );
        assert!(
            why(
                "qn/st-1/SO2",
                br#"{"time": "2026-03-01T08:00:00+07:00", "value": "1", "unit": "ppb"}"#
            )
            .contains("`value`")
        );
        // finite as sent, infinite once converted (the flush would refuse it: found by fuzzing)
        assert!(
            why(
                "qn/st-1/SO2",
                br#"{"time": "2026-03-01T08:00:00+07:00", "value": 1e308, "unit": "ppb"}"#
            )
            .contains("not a finite number in")
        );
        assert!(why("a/b/c/d", b"{}").contains("none of"));
        assert!(
            why(
                "v1.1/Datastreams('st-1:FOO')/Observations",
                br#"{"phenomenonTime": "2026-03-01T01:00:00Z", "result": 1}"#
            )
            .contains("unknown parameter")
        );
    }

    fn one(value: f64, minute: u32) -> Vec<Reading> {
        let payload = format!(
            r#"{{"time": "2026-03-01T08:{minute:02}:00+07:00", "value": {value}, "unit": "ug/m3"}}"#
        );
        parse_message("qn/st-1/PM2.5", payload.as_bytes(), &sites()).expect("reading")
    }

    fn segments(lake: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(wal_dir(lake))
            .expect("wal dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_wal_survives_a_torn_line_and_flushes_once() {
        let dir = tempfile::tempdir().expect("dir");
        let lake = dir.path();
        let (mut wal, held) = Wal::open(lake).expect("open");
        assert!(held.is_empty());
        let r = one(12.5, 0);
        wal.append(r.clone()).expect("append");
        wal.sync().expect("sync");
        drop(wal);
        // a killed writer's half line
        let mut f = OpenOptions::new()
            .append(true)
            .open(wal_dir(lake).join(&segments(lake)[0]))
            .expect("open");
        f.write_all(b"{\"s\":\"st-1\",\"p\":").expect("write");
        drop(f);
        let (mut wal, held) = Wal::open(lake).expect("reopen");
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].readings, r);
        let mut report = AppendReport::default();
        for s in held {
            report = s.flush(lake).expect("flush held");
        }
        assert_eq!(report.rows, 1);
        // only the new active segment is left
        assert_eq!(segments(lake).len(), 1);
        // the same reading again (redelivered): the lake keeps the first
        wal.append(r.clone()).expect("append");
        let report = wal.flush_to_lake(lake).expect("flush");
        assert_eq!((report.rows, report.duplicates), (0, 1));
        assert_eq!(wal.pending(), 0);
    }

    #[test]
    fn sealed_segments_replay_in_order_and_the_first_reading_wins() {
        let dir = tempfile::tempdir().expect("dir");
        let lake = dir.path();
        // the single WAL file of earlier versions is segment 0
        std::fs::create_dir_all(wal_dir(lake)).expect("dir");
        let legacy = serde_json::to_string(&one(1.0, 0)[0]).expect("json");
        std::fs::write(wal_dir(lake).join("wal.jsonl"), format!("{legacy}\n")).expect("write");
        let (mut wal, held) = Wal::open(lake).expect("open");
        assert_eq!(held.len(), 1);
        // two sealed segments, neither flushed (the flusher was killed): the same key, first 2.0
        // then 3.0, and a reading only in the second
        wal.append(one(2.0, 0)).expect("append");
        let a = wal.seal().expect("seal").expect("segment");
        wal.append(one(3.0, 0)).expect("append");
        wal.append(one(4.0, 1)).expect("append");
        let b = wal.seal().expect("seal").expect("segment");
        assert_eq!((a.len(), b.len()), (1, 2));
        assert!(
            wal.seal().expect("seal").is_none(),
            "an empty segment is not sealed"
        );
        drop((wal, a, b));
        let (_wal, held) = Wal::open(lake).expect("reopen");
        let sizes: Vec<usize> = held.iter().map(Segment::len).collect();
        // legacy, the two sealed ones, and the empty active segment left open
        assert_eq!(sizes, vec![1, 1, 2, 0]);
        let mut rows = 0;
        for s in held {
            rows += s.flush(lake).expect("flush").rows;
        }
        assert_eq!(rows, 2);
        let back = crate::telemetry::lake::read(lake).expect("lake").frame;
        let values = back.column("value").expect("value").f64().expect("f64");
        let mut v: Vec<f64> = values.into_no_null_iter().collect();
        v.sort_by(f64::total_cmp);
        // the legacy segment's 1.0 (first accepted) and the 4.0
        assert_eq!(v, vec![1.0, 4.0]);
        assert_eq!(segments(lake).len(), 1);
    }

    #[test]
    fn a_dead_letter_is_written_once() {
        let dir = tempfile::tempdir().expect("dir");
        let mut d = DeadLetters::open(dir.path()).expect("open");
        assert!(
            d.record("qn/x", b"bad", "payload is not JSON")
                .expect("record")
        );
        assert!(
            !d.record("qn/x", b"bad", "payload is not JSON")
                .expect("again")
        );
        d.sync().expect("sync");
        drop(d);
        let mut d = DeadLetters::open(dir.path()).expect("reopen");
        assert!(!d.record("qn/x", b"bad", "x").expect("after restart"));
        assert_eq!(d.count(), 1);
    }
}
