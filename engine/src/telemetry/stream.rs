//! QA and hourly AQI over a lake one local day at a time, so that memory stays bounded by a
//! day and a half of readings whatever the lake holds.
//!
//! QA of day `d` runs over a window: the readings of `d` with a margin either side (the previous
//! reading, the start of a stuck run; spikes look one reading ahead, stuck runs may continue);
//! the margin is max(3 h, 2 × the stuck run × the expected reading interval). Only the rows of
//! `d` are kept: readings with `time` in day `d`, gaps that end in it. Hourly means of the day's
//! accepted readings are exact (local days hold whole hours); the PM NowCast of the day's first
//! hours looks back into the previous day's means, which are carried over. (A series' median
//! interval, which sets its gap threshold, is taken over the window.) With stuck runs shorter
//! than the margin the result equals one pass over the whole lake (a test holds the two
//! together). Each decoded day is read from disk once and kept while the window needs it.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::daily::LOCAL_OFFSET_MS;
use super::hourly::{Standard, hourly_aqi_from_means};
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
    /// Accepted readings of the day (they are the day's readings less the rejected ones).
    pub accepted: usize,
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

/// The look-back/look-ahead margin for `cfg`, ms: 3 h, or twice a stuck run at the expected
/// interval when longer (3 h covers a 30-reading stuck run of series reporting every 6 min).
pub fn margin_ms(cfg: &QaConfig) -> i64 {
    let stuck = 2.0 * f64::from(cfg.stuck_run) * cfg.expected_interval_s * 1000.0;
    (stuck as i64).max(3 * HOUR_MS)
}

/// One day's QA over its window, and the day's hourly means.
struct DayQa {
    accepted: usize,
    rejected: DataFrame,
    gaps: DataFrame,
    means: DataFrame,
}

/// One parameter's frames of the days around `day` (d − 1, d, d + 1, those present).
type DayFrames = BTreeMap<String, DataFrame>;

/// Stacks frames of one schema into one contiguous frame (the first, empty, frame keeps the
/// schema when all are empty).
fn stack(frames: Vec<DataFrame>) -> PolarsResult<DataFrame> {
    let mut it = frames.into_iter();
    let Some(mut first) = it.next() else {
        return Ok(DataFrame::empty());
    };
    for f in it.filter(|f| f.height() > 0) {
        first.vstack_mut(&f)?;
    }
    first.rechunk_mut_par();
    Ok(first)
}

/// QA of one day, parameter by parameter in parallel (the lake is partitioned by parameter, so
/// each sort is over one parameter's readings), and the day's hourly means.
fn day_qa(
    days: &[&DayFrames],
    day_index: usize,
    day: i64,
    margin: i64,
    cfg: &QaConfig,
) -> PolarsResult<DayQa> {
    use rayon::prelude::*;
    let start = day * DAY_MS - LOCAL_OFFSET_MS;
    let end = start + DAY_MS;
    let (lo, hi) = (start - margin, end + margin);
    let params: Vec<&String> = days[day_index].keys().collect();
    type Part = (usize, DataFrame, DataFrame, DataFrame);
    let parts: Vec<PolarsResult<Part>> = params
        .par_iter()
        .map(|p| {
            let window: Vec<LazyFrame> = days
                .iter()
                .filter_map(|d| d.get(*p))
                .map(|f| {
                    f.clone().lazy().filter(
                        col("time_ms")
                            .gt_eq(lit(lo))
                            .and(col("time_ms").lt(lit(hi))),
                    )
                })
                .collect();
            // the partition's parameter as one value, not a string per reading
            let window = concat(window, UnionArgs::default())?
                .drop(by_name(["parameter"], true, false))
                .with_column(lit(p.as_str()).alias("parameter"));
            let r = qa(window, cfg)?;
            let in_day = |c: &str| col(c).gt_eq(lit(start)).and(col(c).lt(lit(end)));
            let accepted = r
                .accepted
                .clone()
                .filter(in_day("time_ms"))
                .select([len()])
                .collect()?;
            let accepted = accepted
                .column("len")?
                .get(0)?
                .extract::<usize>()
                .unwrap_or(0);
            // the day holds whole hours (UTC+7), so these means are complete
            let means = r.hourly_means(start, end).collect()?;
            Ok((
                accepted,
                r.rejected.filter(in_day("time_ms")).collect()?,
                r.gaps.filter(in_day("gap_end_ms")).collect()?,
                means,
            ))
        })
        .collect();
    let (mut accepted, mut rej, mut gap, mut means) = (0, Vec::new(), Vec::new(), Vec::new());
    for p in parts {
        let (a, r, g, m) = p?;
        accepted += a;
        rej.push(r);
        gap.push(g);
        means.push(m);
    }
    Ok(DayQa {
        accepted,
        rejected: stack(rej)?,
        gaps: stack(gap)?,
        means: stack(means)?,
    })
}

/// The hourly AQI of the hours that end in `day`, from the day's hourly means and, when it is
/// the day before, the previous day's (the NowCast looks 11 hours back).
fn day_aqi(
    day: i64,
    means: &DataFrame,
    previous: Option<(i64, &DataFrame)>,
    standard: Standard,
) -> PolarsResult<DataFrame> {
    let start = day * DAY_MS - LOCAL_OFFSET_MS;
    let end = start + DAY_MS;
    let history = match previous {
        Some((d, m)) if d == day - 1 => m.vstack(means)?,
        _ => means.clone(),
    };
    hourly_aqi_from_means(history.lazy(), standard)
        .filter(
            col("time")
                .cast(DataType::Int64)
                .gt(lit(start))
                .and(col("time").cast(DataType::Int64).lt_eq(lit(end))),
        )
        .collect()
}

/// Runs QA then hourly AQI (on the accepted readings) over every day of `lake`, calling
/// `on_day` with each day's results in date order; `on_day` may stop the run with an error.
/// Days are processed a few at a time in parallel (as many as rayon has threads, at most 4),
/// parameter by parameter, while the next few days are read from disk; memory holds those
/// days and their neighbours.
pub fn qa_hourly_aqi(
    lake_dir: &Path,
    cfg: &QaConfig,
    standard: Standard,
    mut on_day: impl FnMut(&DayResult) -> Result<(), ObservationError>,
) -> Result<Totals, ObservationError> {
    use rayon::prelude::*;
    let days = lake::days(lake_dir)?;
    let margin = margin_ms(cfg);
    let enc = |e: PolarsError| err(lake_dir, e);
    let mut totals = Totals::default();
    let batch = rayon::current_num_threads().clamp(1, 4);
    let chunks: Vec<&[i64]> = days.chunks(batch).collect();
    // the lake days a chunk's windows read: its own and one either side
    let around = |chunk: &[i64]| -> Vec<i64> {
        let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
        days.iter()
            .copied()
            .filter(|&d| d >= first - 1 && d <= last + 1)
            .collect()
    };
    let read = |wanted: Vec<i64>| -> Result<Vec<(i64, DayFrames)>, ObservationError> {
        wanted
            .into_iter()
            .map(|d| Ok((d, lake::read_day_by_parameter(lake_dir, d)?)))
            .collect()
    };
    // decoded days, kept while a window needs them
    let mut decoded: BTreeMap<i64, DayFrames> = BTreeMap::new();
    if let Some(c) = chunks.first() {
        decoded.extend(read(around(c))?);
    }
    // the previous day's hourly means (the NowCast looks 11 hours back)
    let mut prev_means: Option<(i64, DataFrame)> = None;
    for (k, chunk) in chunks.iter().enumerate() {
        let next: Vec<i64> = chunks
            .get(k + 1)
            .map(|c| around(c))
            .unwrap_or_default()
            .into_iter()
            .filter(|d| !decoded.contains_key(d))
            .collect();
        // this chunk's QA and hourly means, and the next chunk's days from disk, together
        let (results, fetched) = rayon::join(
            || -> PolarsResult<Vec<DayQa>> {
                chunk
                    .par_iter()
                    .map(|&day| {
                        let near: Vec<(&i64, &DayFrames)> =
                            decoded.range(day - 1..=day + 1).collect();
                        let at = near.iter().position(|(d, _)| **d == day).unwrap_or(0);
                        let frames: Vec<&DayFrames> = near.iter().map(|(_, f)| *f).collect();
                        day_qa(&frames, at, day, margin, cfg)
                    })
                    .collect()
            },
            || read(next),
        );
        let qs = results.map_err(enc)?;
        decoded.extend(fetched?);
        if let Some(c) = chunks.get(k + 1) {
            decoded.retain(|d, _| *d >= c[0] - 1);
        }
        // each day's AQI needs its own means and the day before's
        let aqis: Vec<PolarsResult<DataFrame>> = (0..qs.len())
            .into_par_iter()
            .map(|i| {
                let previous = if i == 0 {
                    prev_means.as_ref().map(|(d, m)| (*d, m))
                } else {
                    Some((chunk[i - 1], &qs[i - 1].means))
                };
                day_aqi(chunk[i], &qs[i].means, previous, standard)
            })
            .collect();
        for ((&day, q), aqi) in chunk.iter().zip(qs).zip(aqis) {
            let aqi = aqi.map_err(enc)?;
            prev_means = Some((day, q.means));
            let result = DayResult {
                day,
                readings: q.accepted + q.rejected.height(),
                accepted: q.accepted,
                rejected: q.rejected,
                gaps: q.gaps,
                aqi,
            };
            totals.days += 1;
            totals.readings += result.readings;
            totals.accepted += result.accepted;
            totals.rejected += result.rejected.height();
            totals.gaps += result.gaps.height();
            totals.aqi_rows += result.aqi.height();
            on_day(&result)?;
        }
    }
    Ok(totals)
}
