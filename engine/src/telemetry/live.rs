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

/// The write-ahead log: one JSON reading per line in `LAKE/_wal/wal.jsonl`.
#[derive(Debug)]
pub struct Wal {
    path: PathBuf,
    file: File,
    pending: usize,
}

/// The WAL's directory in a lake.
pub fn wal_path(lake: &Path) -> PathBuf {
    lake.join("_wal").join("wal.jsonl")
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

impl Wal {
    /// Opens (creating) the lake's WAL; returns it and the readings it already holds (a killed
    /// ingester's; a torn last line — a write that never completed, so never acknowledged — is
    /// dropped).
    pub fn open(lake: &Path) -> Result<(Self, Vec<Reading>), ObservationError> {
        let path = wal_path(lake);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        }
        let held: Vec<Reading> = json_lines(&path)?;
        let file = open_append(&path)?;
        let mut wal = Self {
            path,
            file,
            pending: held.len(),
        };
        // a torn line would glue onto the next record: rewrite the file from what parsed
        wal.rewrite(&held)?;
        Ok((wal, held))
    }

    fn rewrite(&mut self, readings: &[Reading]) -> Result<(), ObservationError> {
        let tmp = self.path.with_extension("jsonl.tmp");
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        for r in readings {
            let line = serde_json::to_string(r).map_err(|e| io_err(&tmp, e))?;
            writeln!(f, "{line}").map_err(|e| io_err(&tmp, e))?;
        }
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io_err(&self.path, e))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err(dir, e))?;
        }
        self.file = open_append(&self.path)?;
        self.pending = readings.len();
        Ok(())
    }

    /// Appends readings (not yet durable: call [`Wal::sync`] before acknowledging them).
    pub fn append(&mut self, readings: &[Reading]) -> Result<(), ObservationError> {
        let mut buf = Vec::with_capacity(readings.len() * 96);
        for r in readings {
            serde_json::to_writer(&mut buf, r).map_err(|e| io_err(&self.path, e))?;
            buf.push(b'\n');
        }
        self.file
            .write_all(&buf)
            .map_err(|e| io_err(&self.path, e))?;
        self.pending += readings.len();
        Ok(())
    }

    /// Makes every appended reading durable (fdatasync).
    pub fn sync(&mut self) -> Result<(), ObservationError> {
        self.file.sync_data().map_err(|e| io_err(&self.path, e))
    }

    /// Readings in the WAL not yet flushed to the lake.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Bytes in the WAL.
    pub fn bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Appends the WAL's readings to the lake as one batch (units converted by the file
    /// readers' code path), then truncates the WAL.
    pub fn flush_to_lake(&mut self, lake: &Path) -> Result<AppendReport, ObservationError> {
        let readings: Vec<Reading> = json_lines(&self.path)?;
        let report = if readings.is_empty() {
            AppendReport::default()
        } else {
            let frame = raw_frame(&readings).map_err(|e| io_err(&self.path, e))?;
            let obs = normalise(&self.path, frame)?;
            super::lake::append(lake, &obs)?
        };
        self.rewrite(&[])?;
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
        Ok(Self { path, file, seen })
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
        Ok(true)
    }

    /// Makes the recorded messages durable.
    pub fn sync(&mut self) -> Result<(), ObservationError> {
        self.file.sync_data().map_err(|e| io_err(&self.path, e))
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

    #[test]
    fn the_wal_survives_a_torn_line_and_flushes_once() {
        let dir = tempfile::tempdir().expect("dir");
        let lake = dir.path();
        let (mut wal, held) = Wal::open(lake).expect("open");
        assert!(held.is_empty());
        let r = parse_message(
            "qn/st-1/PM2.5",
            br#"{"time": "2026-03-01T08:00:00+07:00", "value": 12.5, "unit": "ug/m3"}"#,
            &sites(),
        )
        .expect("reading");
        wal.append(&r).expect("append");
        wal.sync().expect("sync");
        drop(wal);
        // a killed writer's half line
        let mut f = OpenOptions::new()
            .append(true)
            .open(wal_path(lake))
            .expect("open");
        f.write_all(b"{\"s\":\"st-1\",\"p\":").expect("write");
        drop(f);
        let (mut wal, held) = Wal::open(lake).expect("reopen");
        assert_eq!(held, r);
        let report = wal.flush_to_lake(lake).expect("flush");
        assert_eq!(report.rows, 1);
        assert_eq!(wal.pending(), 0);
        // the same reading again (redelivered): the lake keeps the first
        wal.append(&r).expect("append");
        let report = wal.flush_to_lake(lake).expect("flush");
        assert_eq!((report.rows, report.duplicates), (0, 1));
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
