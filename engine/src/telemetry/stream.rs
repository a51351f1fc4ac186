//! QA and hourly AQI over a lake one local day at a time, so that memory stays bounded by a
//! day and a half of readings whatever the lake holds.
//!
//! Day `d` is computed over a window: the readings of `d`, the last 12 h + margin of `d − 1`
//! (NowCast looks 11 hours back; QA needs the previous reading and the start of stuck runs)
//! and the first margin of `d + 1` (spikes look one reading ahead, stuck runs may continue);
//! the margin is max(1 h, 2 × the stuck run × the reading interval). Only the rows of `d` are
//! kept: readings with `time` in day `d`, gaps that end in it, hours that end in it. With runs
//! shorter than the margin the result equals a pass over the whole lake (a test holds the two
//! together). Each decoded day is read from disk once and kept while the window needs it.

use std::collections::VecDeque;
use std::path::Path;

use polars::prelude::*;

use super::daily::LOCAL_OFFSET_MS;
use super::hourly::{Standard, hourly_aqi};
use super::lake;
use super::observations::ObservationError;
use super::qa::{QaConfig, qa};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The results of one local day.
pub struct DayResult {
    /// Local day, days since 1970-01-01.
    pub day: i64,
    /// Readings of the day.
    pub readings: usize,
    /// Accepted readings (the QA's `accepted` schema).
    pub accepted: DataFrame,
    /// Rejected readings with `reason`.
    pub rejected: DataFrame,
    /// Gaps that end in the day.
    pub gaps: DataFrame,
    /// Hourly AQI rows for hours that end in the day.
    pub aqi: DataFrame,
}

/// Totals over a streamed run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Local days processed.
    pub days: usize,
    /// Readings read.
    pub readings: usize,
    /// Readings accepted.
    pub accepted: usize,
    /// Readings rejected.
    pub rejected: usize,
    /// Gaps found.
    pub gaps: usize,
    /// Hourly AQI rows.
    pub aqi_rows: usize,
}

fn err(path: &Path, e: impl std::fmt::Display) -> ObservationError {
    ObservationError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The look-back/look-ahead margin for `cfg`, ms.
pub fn margin_ms(cfg: &QaConfig) -> i64 {
    let stuck = 2.0 * f64::from(cfg.stuck_run) * cfg.expected_interval_s * 1000.0;
    (stuck as i64).max(HOUR_MS)
}

/// Runs QA then hourly AQI (on the accepted readings) over every day of `lake`, calling
/// `on_day` with each day's results in date order; `on_day` may stop the run with an error.
pub fn qa_hourly_aqi(
    lake_dir: &Path,
    cfg: &QaConfig,
    standard: Standard,
    mut on_day: impl FnMut(&DayResult) -> Result<(), ObservationError>,
) -> Result<Totals, ObservationError> {
    let days = lake::days(lake_dir)?;
    let margin = margin_ms(cfg);
    let enc = |e: PolarsError| err(lake_dir, e);
    let mut totals = Totals::default();
    // decoded days: (day, frame), at most d − 1, d, d + 1
    let mut window: VecDeque<(i64, DataFrame)> = VecDeque::new();
    for (i, &day) in days.iter().enumerate() {
        let start = day * DAY_MS - LOCAL_OFFSET_MS;
        let end = start + DAY_MS;
        window.retain(|(d, _)| *d >= day - 1);
        for &d in days[i..].iter().take(2).filter(|&&d| d <= day + 1) {
            if !window.iter().any(|(w, _)| *w == d) {
                window.push_back((d, lake::read_day(lake_dir, d)?));
            }
        }
        let lo = start - 12 * HOUR_MS - margin;
        let hi = end + margin;
        let frames: Vec<LazyFrame> = window
            .iter()
            .map(|(_, f)| {
                f.clone().lazy().filter(
                    col("time_ms")
                        .gt_eq(lit(lo))
                        .and(col("time_ms").lt(lit(hi))),
                )
            })
            .collect();
        let obs = concat(frames, UnionArgs::default()).map_err(enc)?;
        let r = qa(obs, cfg).map_err(enc)?;
        let in_day = |c: &str| col(c).gt_eq(lit(start)).and(col(c).lt(lit(end)));
        let accepted_window = r.accepted.collect().map_err(enc)?;
        let accepted = accepted_window
            .clone()
            .lazy()
            .filter(in_day("time_ms"))
            .collect()
            .map_err(enc)?;
        let rejected = r
            .rejected
            .filter(in_day("time_ms"))
            .collect()
            .map_err(enc)?;
        let gaps = r.gaps.filter(in_day("gap_end_ms")).collect().map_err(enc)?;
        let aqi = hourly_aqi(accepted_window.lazy(), standard)
            .filter(
                col("time")
                    .cast(DataType::Int64)
                    .gt(lit(start))
                    .and(col("time").cast(DataType::Int64).lt_eq(lit(end))),
            )
            .collect()
            .map_err(enc)?;
        let readings = accepted.height() + rejected.height();
        let result = DayResult {
            day,
            readings,
            accepted,
            rejected,
            gaps,
            aqi,
        };
        totals.days += 1;
        totals.readings += readings;
        totals.accepted += result.accepted.height();
        totals.rejected += result.rejected.height();
        totals.gaps += result.gaps.height();
        totals.aqi_rows += result.aqi.height();
        on_day(&result)?;
    }
    Ok(totals)
}
