//! The observations lake: Hive-partitioned Parquet that polars, DuckDB and Spark read as-is.
//!
//! Layout: `LAKE/parameter=<PARAMETER>/date=<YYYY-MM-DD>/part-<NNNNNN>.parquet`, the date being
//! the reading's local date (UTC+7). Files hold `station_id`, `time` (UTC datetime, ms),
//! `value` (canonical unit), `unit`, `status`; `parameter` and `date` come from the path
//! (`read_parquet('LAKE/**/*.parquet', hive_partitioning = true)` in DuckDB).
//!
//! Appends never rewrite accepted data: each append writes new part files only. Duplicates —
//! the same station, parameter and time — are resolved by "first accepted wins": a reading
//! already in the lake, or earlier in the same batch, is not written, and the append reports
//! how many were skipped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::observations::ObservationError;
use super::time::{DAY_MS, LOCAL_OFFSET_MS};

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AppendReport {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// Readings written.
    pub rows: usize,
    /// Readings skipped as duplicates of accepted ones.
    pub duplicates: usize,
}

fn err(path: &Path, e: impl std::fmt::Display) -> ObservationError {
    ObservationError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The local date (YYYY-MM-DD) of a local day number.
pub fn date_of(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("day{day}"))
}

/// Part files of one partition, in name order.
fn parts(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("part-") && n.ends_with(".parquet"))
        })
        .collect();
    v.sort();
    v
}

fn read_part(file: &Path) -> Result<DataFrame, ObservationError> {
    let f = std::fs::File::open(file).map_err(|e| err(file, e))?;
    ParquetReader::new(f).finish().map_err(|e| err(file, e))
}

/// Appends normalised observations ([`super::observations::read`]) to the lake at `lake`.
pub fn append(lake: &Path, obs: &DataFrame) -> Result<AppendReport, ObservationError> {
    let enc = |e: PolarsError| err(lake, e);
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
    for (offset, len) in bounds {
        let (Some(param), Some(day)) = (params.get(offset), days.get(offset)) else {
            continue;
        };
        if param.contains(['/', '\\', '=']) || param.is_empty() {
            return Err(err(
                lake,
                format!("parameter {param:?} cannot name a partition"),
            ));
        }
        let dir = lake
            .join(format!("parameter={param}"))
            .join(format!("date={}", date_of(day)));
        // what the partition already holds
        let mut seen: HashSet<(String, i64)> = HashSet::new();
        let existing = parts(&dir);
        for f in &existing {
            let df = read_part(f)?;
            let t = df
                .column("time")
                .and_then(|c| c.cast(&DataType::Int64))
                .map_err(|e| err(f, e))?;
            let ids = df
                .column("station_id")
                .map_err(|e| err(f, e))?
                .str()
                .map_err(|e| err(f, e))?
                .clone();
            for (s, t) in ids.iter().zip(t.i64().map_err(|e| err(f, e))?.iter()) {
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
        std::fs::create_dir_all(&dir).map_err(|e| err(&dir, e))?;
        let file = dir.join(format!("part-{:06}.parquet", existing.len()));
        // create_new: an append never replaces a file
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
            .map_err(|e| err(&file, e))?;
        ParquetWriter::new(f)
            .finish(&mut out)
            .map_err(|e| err(&file, e))?;
        report.rows += out.height();
        report.files.push(file);
    }
    Ok(report)
}

/// The local dates (days since 1970-01-01) that any partition of the lake holds, ascending.
pub fn days(lake: &Path) -> Result<Vec<i64>, ObservationError> {
    let mut out = std::collections::BTreeSet::new();
    for pdir in param_dirs(lake)? {
        for d in std::fs::read_dir(&pdir)
            .map_err(|e| err(&pdir, e))?
            .flatten()
        {
            let name = d.file_name();
            if let Some(day) = name
                .to_str()
                .and_then(|n| n.strip_prefix("date="))
                .and_then(day_of)
            {
                out.insert(day);
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn day_of(date: &str) -> Option<i64> {
    let d = chrono::NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((d - epoch).num_days())
}

fn param_dirs(lake: &Path) -> Result<Vec<PathBuf>, ObservationError> {
    let mut params: Vec<PathBuf> = std::fs::read_dir(lake)
        .map_err(|e| err(lake, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("parameter="))
        })
        .collect();
    params.sort();
    Ok(params)
}

/// Reads one local day of the lake (every parameter's `date=` partition for `day`), as
/// [`read`] does; an empty frame with the normalised schema when no partition holds the day.
pub fn read_day(lake: &Path, day: i64) -> Result<DataFrame, ObservationError> {
    let date = date_of(day);
    let mut frames = Vec::new();
    for pdir in param_dirs(lake)? {
        let dir = pdir.join(format!("date={date}"));
        if dir.is_dir() {
            read_partition(&pdir, &dir, &mut frames)?;
        }
    }
    concat_or_empty(lake, frames)
}

/// Reads one local day of the lake, one frame per parameter (in name order), as
/// [`read_day`] does; parameters without a partition for `day` are absent.
pub fn read_day_by_parameter(
    lake: &Path,
    day: i64,
) -> Result<std::collections::BTreeMap<String, DataFrame>, ObservationError> {
    let date = date_of(day);
    let mut out = std::collections::BTreeMap::new();
    for pdir in param_dirs(lake)? {
        let dir = pdir.join(format!("date={date}"));
        if dir.is_dir() {
            let mut frames = Vec::new();
            read_partition(&pdir, &dir, &mut frames)?;
            out.insert(partition_parameter(&pdir), concat_or_empty(lake, frames)?);
        }
    }
    Ok(out)
}

fn partition_parameter(pdir: &Path) -> String {
    pdir.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("parameter="))
        .unwrap_or_default()
        .to_string()
}

fn read_partition(
    pdir: &Path,
    dir: &Path,
    frames: &mut Vec<DataFrame>,
) -> Result<(), ObservationError> {
    let name = partition_parameter(pdir);
    for f in parts(dir) {
        let df = read_part(&f)?;
        let out = df
            .lazy()
            .select([
                col("station_id"),
                lit(name.clone()).alias("parameter"),
                col("time").cast(DataType::Int64).alias("time_ms"),
                col("value"),
                col("unit"),
                col("status"),
            ])
            .collect()
            .map_err(|e| err(&f, e))?;
        frames.push(out);
    }
    Ok(())
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
pub fn read(lake: &Path) -> Result<DataFrame, ObservationError> {
    let mut frames = Vec::new();
    for pdir in param_dirs(lake)? {
        let mut dates: Vec<PathBuf> = std::fs::read_dir(&pdir)
            .map_err(|e| err(&pdir, e))?
            .flatten()
            .map(|e| e.path())
            .collect();
        dates.sort();
        for d in dates {
            read_partition(&pdir, &d, &mut frames)?;
        }
    }
    if frames.is_empty() {
        return Err(err(lake, "the lake holds no part files"));
    }
    concat_or_empty(lake, frames)
}
