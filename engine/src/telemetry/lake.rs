//! The observations lake: Hive-partitioned Parquet that polars, DuckDB and Spark read as-is.
//!
//! Layout: `LAKE/parameter=<PARAMETER>/date=<YYYY-MM-DD>/part-<ID>.parquet`, the date being
//! the reading's local date (UTC+7). Files hold `station_id`, `time` (UTC datetime, ms),
//! `value` (canonical unit), `unit`, `status`; `parameter` and `date` come from the path
//! (`read_parquet('LAKE/**/*.parquet', hive_partitioning = true)` in DuckDB).
//!
//! Appends never rewrite accepted data: each append writes new part files only. Duplicates —
//! the same station, parameter and time — are resolved by "first accepted wins": a reading
//! already in the lake, or earlier in the same batch, is not written, and the append reports
//! how many were skipped.
//!
//! # Crash safety
//! An append is whole or absent, even across partitions and even if the process is killed or
//! the machine loses power:
//! 1. writers serialise on an advisory lock (`flock`) of `LAKE/.lock`;
//! 2. each new part is written as `part-<ID>.parquet.tmp` and flushed (`fsync`);
//! 3. the batch commits by writing its list of renames to `LAKE/_journal/<BATCH>.json`
//!    (itself written to a temporary name, flushed and renamed);
//! 4. the parts are renamed to `part-<ID>.parquet`, the directories flushed, the journal
//!    removed.
//!
//! A journal left by a crash is finished (its renames done) by the next writer or reader
//! before it looks at the lake, so a batch whose journal exists is never seen half; `.tmp`
//! parts without a journal were never acknowledged and are removed by the next append to their
//! partition and by [`repair`]. Part ids are the batch's start time in nanoseconds, the
//! writer's process id and a sequence number: they cannot collide and sort by time. Readers
//! list the part files under a shared lock (a consistent set) and decode them without it.
//! `.tmp` parts and quarantined parts (`.parquet.bad`, see [`repair`]) do not match
//! `LAKE/**/*.parquet`. A part that cannot be read is skipped and reported by name
//! ([`BadPart`]), never dropped silently.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::observations::ObservationError;
use super::time::{DAY_MS, LOCAL_OFFSET_MS};
use crate::safeio::{read_parquet, sync_dir, write_atomic};

/// The lock file writers (exclusive) and readers (shared, while listing) take.
pub const LOCK_FILE: &str = ".lock";
/// Where committed batches list their renames until they are done.
pub const JOURNAL_DIR: &str = "_journal";
/// Suffix of a part being written.
pub const TMP_SUFFIX: &str = ".parquet.tmp";
/// Suffix of a quarantined part ([`repair`]).
pub const BAD_SUFFIX: &str = ".parquet.bad";

/// A part file that could not be read, and why; readers skip it and say so.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BadPart {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

impl std::fmt::Display for BadPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppendReport {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Readings written.
    pub rows: usize,
    /// Readings skipped as duplicates of accepted ones.
    pub duplicates: usize,
    /// Existing parts that could not be read to check for duplicates (their readings cannot be
    /// compared; run [`repair`] to quarantine them).
    pub skipped: Vec<BadPart>,
}

/// Observations read from a lake, and the parts that could not be read.
#[derive(Debug, Clone)]
pub struct LakeFrame {
    /// Normalised observations.
    pub frame: DataFrame,
    /// Parts skipped because they could not be read.
    pub skipped: Vec<BadPart>,
}

fn err(path: &Path, e: impl std::fmt::Display) -> ObservationError {
    ObservationError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The local date (YYYY-MM-DD) of a local day number.
pub fn date_of(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day.saturating_mul(DAY_MS))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("day{day}"))
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn day_of(date: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((d - epoch).num_days())
}

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// Entries of a directory whose names satisfy `keep`, in name order.
fn entries(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| keep(file_name(p)))
        .collect();
    v.sort();
    v
}

fn is_part(name: &str) -> bool {
    name.starts_with("part-") && name.ends_with(".parquet")
}

/// Part files of one partition, in name order (never `.tmp` or `.bad` files).
fn parts(dir: &Path) -> Vec<PathBuf> {
    entries(dir, is_part)
}

fn param_dirs(lake: &Path) -> Result<Vec<PathBuf>, ObservationError> {
    std::fs::read_dir(lake).map_err(|e| err(lake, e))?;
    Ok(entries(lake, |n| n.starts_with("parameter=")))
}

fn partition_parameter(pdir: &Path) -> String {
    file_name(pdir)
        .strip_prefix("parameter=")
        .unwrap_or_default()
        .to_string()
}

/// The lake's lock, held until dropped. `None` when the lake cannot hold a lock file
/// (a read-only copy): nothing can write to it then either.
struct Lock(#[allow(dead_code)] File);

fn open_lock(lake: &Path, create: bool) -> Result<Option<File>, ObservationError> {
    let path = lake.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(&path);
    match f {
        Ok(f) => Ok(Some(f)),
        Err(e) if !create => {
            // a lake on a read-only medium, or one written before the lock existed
            let _ = e;
            Ok(None)
        }
        Err(e) => Err(err(&path, format!("cannot open the lake lock: {e}"))),
    }
}

fn lock_exclusive(lake: &Path) -> Result<Lock, ObservationError> {
    std::fs::create_dir_all(lake).map_err(|e| err(lake, e))?;
    let f = open_lock(lake, true)?.ok_or_else(|| err(lake, "no lock file"))?;
    f.lock()
        .map_err(|e| err(&lake.join(LOCK_FILE), format!("cannot lock: {e}")))?;
    Ok(Lock(f))
}

/// A committed batch's renames (paths relative to the lake).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Journal {
    renames: Vec<(PathBuf, PathBuf)>,
}

fn journals(lake: &Path) -> Vec<PathBuf> {
    entries(&lake.join(JOURNAL_DIR), |n| n.ends_with(".json"))
}

/// Finishes every committed batch a crash left half renamed (call with the exclusive lock).
/// Returns how many journals were finished.
fn finish_journals(lake: &Path) -> Result<usize, ObservationError> {
    let list = journals(lake);
    for j in &list {
        let text = std::fs::read_to_string(j).map_err(|e| err(j, e))?;
        let journal: Journal =
            serde_json::from_str(&text).map_err(|e| err(j, format!("unreadable journal: {e}")))?;
        let mut dirs = std::collections::BTreeSet::new();
        for (tmp, fin) in &journal.renames {
            let (tmp, fin) = (lake.join(tmp), lake.join(fin));
            if tmp.exists() {
                std::fs::rename(&tmp, &fin).map_err(|e| err(&tmp, e))?;
            }
            if let Some(d) = fin.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
        for d in dirs {
            sync_dir(&d).map_err(|e| err(&d, e))?;
        }
        std::fs::remove_file(j).map_err(|e| err(j, e))?;
    }
    if !list.is_empty() {
        let jd = lake.join(JOURNAL_DIR);
        sync_dir(&jd).map_err(|e| err(&jd, e))?;
    }
    Ok(list.len())
}

/// The part files of every partition, listed as one consistent set: under the shared lock,
/// after any journal a crash left behind has been finished.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    lake: PathBuf,
    /// (parameter, day) → part files, in name order.
    parts: BTreeMap<(String, i64), Vec<PathBuf>>,
}

impl Snapshot {
    /// Lists the lake.
    pub fn take(lake: &Path) -> Result<Self, ObservationError> {
        let lock = open_lock(lake, false)?;
        if let Some(f) = &lock {
            f.lock_shared()
                .map_err(|e| err(&lake.join(LOCK_FILE), format!("cannot lock: {e}")))?;
            if !journals(lake).is_empty() {
                // a crashed writer's batch: finish it first (needs the exclusive lock)
                f.unlock().map_err(|e| err(lake, e))?;
                f.lock().map_err(|e| err(lake, e))?;
                finish_journals(lake)?;
                f.unlock().map_err(|e| err(lake, e))?;
                f.lock_shared().map_err(|e| err(lake, e))?;
            }
        }
        let mut parts = BTreeMap::new();
        for pdir in param_dirs(lake)? {
            let param = partition_parameter(&pdir);
            for d in entries(&pdir, |n| n.starts_with("date=")) {
                if let Some(day) = file_name(&d).strip_prefix("date=").and_then(day_of) {
                    parts.insert((param.clone(), day), self::parts(&d));
                }
            }
        }
        drop(lock);
        Ok(Self {
            lake: lake.to_path_buf(),
            parts,
        })
    }

    /// The local days any partition holds, ascending.
    pub fn days(&self) -> Vec<i64> {
        let set: std::collections::BTreeSet<i64> = self.parts.keys().map(|(_, d)| *d).collect();
        set.into_iter().collect()
    }

    /// Every part file with its parameter, parameters in name order, then date and part order.
    pub fn part_files(&self) -> impl Iterator<Item = (&str, &Path)> {
        self.parts
            .iter()
            .flat_map(|((p, _), files)| files.iter().map(move |f| (p.as_str(), f.as_path())))
    }

    /// Number of part files.
    pub fn part_count(&self) -> usize {
        self.parts.values().map(Vec::len).sum()
    }

    /// One day, one frame per parameter (name order); parameters without the day are absent.
    pub fn read_day_by_parameter(
        &self,
        day: i64,
        skipped: &mut Vec<BadPart>,
    ) -> Result<BTreeMap<String, DataFrame>, ObservationError> {
        let mut out = BTreeMap::new();
        for ((param, d), files) in &self.parts {
            if *d == day {
                let frames = read_files(param, files, skipped)?;
                out.insert(param.clone(), concat_or_empty(&self.lake, frames)?);
            }
        }
        Ok(out)
    }

    /// Every part, parameters in name order, then date and part order.
    pub fn read_all(&self, skipped: &mut Vec<BadPart>) -> Result<DataFrame, ObservationError> {
        let mut frames = Vec::new();
        for ((param, _), files) in &self.parts {
            frames.extend(read_files(param, files, skipped)?);
        }
        concat_or_empty(&self.lake, frames)
    }
}

/// Reads one part (checked before decoding, see [`crate::safeio::check_parquet`]).
fn read_part(file: &Path) -> Result<DataFrame, String> {
    let df = read_parquet(file)?;
    for (c, ok) in [
        (
            "station_id",
            df.column("station_id")
                .is_ok_and(|c| c.dtype() == &DataType::String),
        ),
        (
            "time",
            df.column("time")
                .is_ok_and(|c| matches!(c.dtype(), DataType::Datetime(_, _))),
        ),
        (
            "value",
            df.column("value")
                .is_ok_and(|c| c.dtype() == &DataType::Float64),
        ),
        (
            "unit",
            df.column("unit")
                .is_ok_and(|c| c.dtype() == &DataType::String),
        ),
        (
            "status",
            df.column("status")
                .is_ok_and(|c| c.dtype() == &DataType::String),
        ),
    ] {
        if !ok {
            return Err(format!(
                "column `{c}` is missing or of the wrong type: not a lake part"
            ));
        }
    }
    Ok(df)
}

/// One part as normalised observations of `param`; any failure is the part's.
pub fn load_part(param: &str, f: &Path) -> Result<DataFrame, String> {
    read_part(f).and_then(|df| {
        df.lazy()
            .select([
                col("station_id"),
                lit(param.to_string()).alias("parameter"),
                col("time").cast(DataType::Int64).alias("time_ms"),
                col("value"),
                col("unit"),
                col("status"),
            ])
            .collect()
            .map_err(|e| format!("inconsistent columns: {e}"))
    })
}

fn read_files(
    param: &str,
    files: &[PathBuf],
    skipped: &mut Vec<BadPart>,
) -> Result<Vec<DataFrame>, ObservationError> {
    let mut frames = Vec::new();
    for f in files {
        match load_part(param, f) {
            Ok(out) => frames.push(out),
            Err(reason) => skipped.push(BadPart {
                path: f.clone(),
                reason,
            }),
        }
    }
    Ok(frames)
}

/// Appends normalised observations ([`super::observations::read`]) to the lake at `lake`, as
/// one batch: whole or absent (see the module's crash-safety notes).
pub fn append(lake: &Path, obs: &DataFrame) -> Result<AppendReport, ObservationError> {
    let enc = |e: PolarsError| err(lake, e);
    // a reading without its key cannot be placed or deduplicated: refused, never counted
    for c in ["station_id", "parameter", "time_ms"] {
        let column = obs.column(c).map_err(enc)?;
        if let Some(row) = (0..column.len()).find(|&i| column.get(i).is_ok_and(|v| v.is_null())) {
            return Err(ObservationError::Row {
                path: lake.to_path_buf(),
                row: row as u64 + 1,
                column: c.to_string(),
                message: format!("missing `{c}`: every reading needs one"),
            });
        }
    }
    let _lock = lock_exclusive(lake)?;
    finish_journals(lake)?;
    let mut report = AppendReport::default();
    let keyed = obs
        .clone()
        .lazy()
        .with_column(
            ((col("time_ms") + lit(LOCAL_OFFSET_MS)
                - (col("time_ms") + lit(LOCAL_OFFSET_MS)) % lit(DAY_MS))
                / lit(DAY_MS))
            .cast(DataType::Int64)
            .alias("_day"),
        )
        .collect()
        .map_err(enc)?;
    // one stable sort by partition, then each partition is a contiguous slice (input order is
    // kept within it, so the first reading of a duplicate pair is the one accepted)
    let sorted = keyed
        .lazy()
        .sort(
            ["parameter", "_day"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
        .collect()
        .map_err(enc)?;
    let params = sorted
        .column("parameter")
        .map_err(enc)?
        .str()
        .map_err(enc)?
        .clone();
    let days = sorted
        .column("_day")
        .map_err(enc)?
        .i64()
        .map_err(enc)?
        .clone();
    let mut bounds: Vec<(usize, usize)> = Vec::new();
    let mut start = 0usize;
    for i in 1..=sorted.height() {
        if i == sorted.height()
            || params.get(i) != params.get(start)
            || days.get(i) != days.get(start)
        {
            bounds.push((start, i - start));
            start = i;
        }
    }
    let batch_id = format!(
        "{:020}-{:08x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
        std::process::id()
    );
    // every part written as .tmp first; renamed only once the batch is committed
    let mut written: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| {
        for (offset, len) in bounds {
            let (Some(param), Some(day)) = (params.get(offset), days.get(offset)) else {
                continue;
            };
            if param.contains(['/', '\\', '=']) || param.is_empty() || param.starts_with('.') {
                return Err(err(
                    lake,
                    format!("parameter {param:?} cannot name a partition"),
                ));
            }
            let pdir = lake.join(format!("parameter={param}"));
            let dir = pdir.join(format!("date={}", date_of(day)));
            // leftovers of writers that died before committing were never acknowledged
            for t in entries(&dir, |n| n.starts_with("part-") && n.ends_with(TMP_SUFFIX)) {
                std::fs::remove_file(&t).map_err(|e| err(&t, e))?;
            }
            // what the partition already holds
            let mut seen: HashSet<(String, i64)> = HashSet::new();
            for f in parts(&dir) {
                let df = match load_part(param, &f) {
                    Ok(df) => df,
                    Err(reason) => {
                        report.skipped.push(BadPart { path: f, reason });
                        continue;
                    }
                };
                let t = df
                    .column("time_ms")
                    .and_then(|c| c.cast(&DataType::Int64))
                    .map_err(|e| err(&f, e))?;
                let ids = df
                    .column("station_id")
                    .map_err(|e| err(&f, e))?
                    .str()
                    .map_err(|e| err(&f, e))?
                    .clone();
                for (s, t) in ids.iter().zip(t.i64().map_err(|e| err(&f, e))?.iter()) {
                    if let (Some(s), Some(t)) = (s, t) {
                        seen.insert((s.to_string(), t));
                    }
                }
            }
            let batch = sorted
                .slice(offset as i64, len)
                .lazy()
                .sort(
                    ["station_id", "time_ms"],
                    SortMultipleOptions::default().with_maintain_order(true),
                )
                .collect()
                .map_err(enc)?;
            let ids = batch
                .column("station_id")
                .map_err(enc)?
                .str()
                .map_err(enc)?
                .clone();
            let ts = batch
                .column("time_ms")
                .map_err(enc)?
                .i64()
                .map_err(enc)?
                .clone();
            let keep: BooleanChunked = ids
                .iter()
                .zip(ts.iter())
                .map(|(s, t)| match (s, t) {
                    (Some(s), Some(t)) => Some(seen.insert((s.to_string(), t))),
                    _ => Some(false),
                })
                .collect();
            let fresh = batch.filter(&keep).map_err(enc)?;
            report.duplicates += batch.height() - fresh.height();
            if fresh.height() == 0 {
                continue;
            }
            let out = fresh
                .lazy()
                .select([
                    col("station_id"),
                    col("time_ms"),
                    col("value"),
                    col("unit"),
                    col("status"),
                ])
                .collect()
                .map_err(enc)?;
            // `time_ms` → `time`, a UTC-tagged timestamp (the one rule for written times)
            let mut out = crate::output::utc_times(&out).map_err(enc)?;
            for d in [&pdir, &dir] {
                if !d.is_dir() {
                    std::fs::create_dir_all(d).map_err(|e| err(d, e))?;
                    let parent = d.parent().unwrap_or(lake);
                    sync_dir(parent).map_err(|e| err(parent, e))?;
                }
            }
            let name = format!("part-{batch_id}-{:05}", written.len());
            let fin = dir.join(format!("{name}.parquet"));
            let tmp = dir.join(format!("{name}{TMP_SUFFIX}"));
            written.push((tmp.clone(), fin));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| err(&tmp, e))?;
            ParquetWriter::new(&mut f)
                .finish(&mut out)
                .map_err(|e| err(&tmp, e))?;
            f.sync_all().map_err(|e| err(&tmp, e))?;
            report.rows += out.height();
        }
        if written.is_empty() {
            return Ok(());
        }
        let mut dirs: std::collections::BTreeSet<PathBuf> = std::collections::BTreeSet::new();
        for (t, _) in &written {
            if let Some(d) = t.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
        for d in &dirs {
            sync_dir(d).map_err(|e| err(d, e))?;
        }
        // the commit point: the journal names every rename
        let rel = |p: &Path| p.strip_prefix(lake).unwrap_or(p).to_path_buf();
        let journal = Journal {
            renames: written.iter().map(|(t, f)| (rel(t), rel(f))).collect(),
        };
        let jdir = lake.join(JOURNAL_DIR);
        std::fs::create_dir_all(&jdir).map_err(|e| err(&jdir, e))?;
        let jpath = jdir.join(format!("{batch_id}.json"));
        let text = serde_json::to_vec(&journal).map_err(|e| err(&jpath, e))?;
        write_atomic(&jpath, |f| std::io::Write::write_all(f, &text))
            .map_err(|e| err(&jpath, e))?;
        finish_journals(lake)
            .map(|_| ())
            .map_err(|e| err(lake, format!("committed, but not yet renamed into place ({e}); the next reader or writer finishes it")))
    })();
    if let Err(e) = result {
        // not committed: remove what this batch wrote (committed batches are finished later)
        if !lake
            .join(JOURNAL_DIR)
            .join(format!("{batch_id}.json"))
            .exists()
        {
            for (t, _) in &written {
                let _ = std::fs::remove_file(t);
            }
        }
        return Err(e);
    }
    report.files = written.into_iter().map(|(_, f)| f).collect();
    Ok(report)
}

/// The local dates (days since 1970-01-01) that any partition of the lake holds, ascending.
pub fn days(lake: &Path) -> Result<Vec<i64>, ObservationError> {
    Ok(Snapshot::take(lake)?.days())
}

/// Reads one local day of the lake (every parameter's `date=` partition for `day`), as
/// [`read`] does; an empty frame with the normalised schema when no partition holds the day.
pub fn read_day(lake: &Path, day: i64) -> Result<LakeFrame, ObservationError> {
    let snap = Snapshot::take(lake)?;
    let mut skipped = Vec::new();
    let by = snap.read_day_by_parameter(day, &mut skipped)?;
    let frame = concat_or_empty(lake, by.into_values().collect())?;
    Ok(LakeFrame { frame, skipped })
}

fn concat_or_empty(lake: &Path, frames: Vec<DataFrame>) -> Result<DataFrame, ObservationError> {
    let mut it = frames.into_iter();
    let Some(mut all) = it.next() else {
        return DataFrame::new_infer_height(vec![
            Column::new_empty("station_id".into(), &DataType::String),
            Column::new_empty("parameter".into(), &DataType::String),
            Column::new_empty("time_ms".into(), &DataType::Int64),
            Column::new_empty("value".into(), &DataType::Float64),
            Column::new_empty("unit".into(), &DataType::String),
            Column::new_empty("status".into(), &DataType::String),
        ])
        .map_err(|e| err(lake, e));
    };
    for f in it {
        all.vstack_mut(&f).map_err(|e| err(lake, e))?;
    }
    Ok(all)
}

/// Reads the whole lake back as normalised observations (`station_id`, `parameter`, `time_ms`,
/// `value`, `unit`, `status`), parameters in name order, then partition and part order.
/// Unreadable parts are skipped and listed; a lake with no part at all is an error.
pub fn read(lake: &Path) -> Result<LakeFrame, ObservationError> {
    let snap = Snapshot::take(lake)?;
    if snap.part_count() == 0 {
        return Err(err(lake, "the lake holds no part files"));
    }
    let mut skipped = Vec::new();
    let frame = snap.read_all(&mut skipped)?;
    Ok(LakeFrame { frame, skipped })
}

/// What [`check`] found, and what [`repair`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Readable part files.
    pub parts: usize,
    /// Readings in them.
    pub rows: usize,
    /// Parts that cannot be read (quarantined by [`repair`]).
    pub bad: Vec<BadPart>,
    /// `.tmp` parts of writers that died before committing (removed by [`repair`]).
    pub leftovers: Vec<PathBuf>,
    /// Parts already quarantined (`.parquet.bad`).
    pub quarantined: Vec<PathBuf>,
    /// Committed batches a crash left half renamed (finished by [`repair`] and by any append
    /// or read).
    pub journals: usize,
}

impl CheckReport {
    /// Whether the lake needs no repair.
    pub fn is_clean(&self) -> bool {
        self.bad.is_empty() && self.leftovers.is_empty() && self.journals == 0
    }
}

fn partition_dirs(lake: &Path) -> Result<Vec<PathBuf>, ObservationError> {
    let mut out = Vec::new();
    for pdir in param_dirs(lake)? {
        out.extend(entries(&pdir, |n| n.starts_with("date=")));
    }
    Ok(out)
}

fn inspect(lake: &Path) -> Result<CheckReport, ObservationError> {
    let mut r = CheckReport {
        journals: journals(lake).len(),
        ..Default::default()
    };
    for dir in partition_dirs(lake)? {
        let param = dir.parent().map(partition_parameter).unwrap_or_default();
        for f in parts(&dir) {
            match load_part(&param, &f) {
                Ok(df) => {
                    r.parts += 1;
                    r.rows += df.height();
                }
                Err(reason) => r.bad.push(BadPart { path: f, reason }),
            }
        }
        r.leftovers.extend(entries(&dir, |n| {
            n.starts_with("part-") && n.ends_with(TMP_SUFFIX)
        }));
        r.quarantined.extend(entries(&dir, |n| {
            n.starts_with("part-") && n.ends_with(BAD_SUFFIX)
        }));
    }
    Ok(r)
}

/// Lists every part that cannot be read, every `.tmp` leftover and every unfinished batch,
/// changing nothing (it waits for a writer in progress).
pub fn check(lake: &Path) -> Result<CheckReport, ObservationError> {
    if !lake.is_dir() {
        return Err(err(lake, "is not a directory"));
    }
    let lock = open_lock(lake, false)?;
    if let Some(f) = &lock {
        f.lock_shared().map_err(|e| err(lake, e))?;
    }
    inspect(lake)
}

/// Repairs the lake under the writers' lock: finishes unfinished batches, removes `.tmp`
/// leftovers, and quarantines unreadable parts by renaming `part-….parquet` to
/// `part-….parquet.bad` (kept, for whoever wants to recover them by hand; no reader or
/// `**/*.parquet` glob sees them). Returns what it found before repairing.
pub fn repair(lake: &Path) -> Result<CheckReport, ObservationError> {
    if !lake.is_dir() {
        return Err(err(lake, "is not a directory"));
    }
    let _lock = lock_exclusive(lake)?;
    let report = inspect(lake)?;
    finish_journals(lake)?;
    let mut dirs = std::collections::BTreeSet::new();
    for t in &report.leftovers {
        std::fs::remove_file(t).map_err(|e| err(t, e))?;
        if let Some(d) = t.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    for b in &report.bad {
        let mut q = b.path.clone().into_os_string();
        q.push(".bad");
        std::fs::rename(&b.path, &q).map_err(|e| err(&b.path, e))?;
        if let Some(d) = b.path.parent() {
            dirs.insert(d.to_path_buf());
        }
    }
    for d in dirs {
        sync_dir(&d).map_err(|e| err(&d, e))?;
    }
    Ok(report)
}
