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

use super::daily::LOCAL_OFFSET_MS;
use super::observations::ObservationError;

const DAY_MS: i64 = 86_400_000;

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

/// Local date of a day number since 1970-01-01.
fn date_of(day: i64) -> String {
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
        let mut out = fresh
            .lazy()
            .select([
                col("station_id"),
                col("time_ms")
                    .cast(DataType::Datetime(
                        TimeUnit::Milliseconds,
                        Some(TimeZone::UTC),
                    ))
                    .alias("time"),
                col("value"),
                col("unit"),
                col("status"),
            ])
            .collect()
            .map_err(enc)?;
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

/// Reads the whole lake back as normalised observations (`station_id`, `parameter`, `time_ms`,
/// `value`, `unit`, `status`), parameters in name order, then partition and part order.
pub fn read(lake: &Path) -> Result<DataFrame, ObservationError> {
    let mut frames = Vec::new();
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
    for pdir in params {
        let name = pdir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("parameter="))
            .unwrap_or_default()
            .to_string();
        let mut dates: Vec<PathBuf> = std::fs::read_dir(&pdir)
            .map_err(|e| err(&pdir, e))?
            .flatten()
            .map(|e| e.path())
            .collect();
        dates.sort();
        for d in dates {
            for f in parts(&d) {
                let df = read_part(&f)?;
                let n = df.height();
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
                debug_assert_eq!(out.height(), n);
                frames.push(out);
            }
        }
    }
    let Some(mut all) = frames.first().cloned() else {
        return Err(err(lake, "the lake holds no part files"));
    };
    for f in &frames[1..] {
        all.vstack_mut(f).map_err(|e| err(lake, e))?;
    }
    Ok(all)
}
