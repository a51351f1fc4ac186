//! QA and hourly AQI over a lake a few local days at a time, so that memory stays bounded by
//! about ten days of readings whatever the lake holds, with results handed over day by day.
//!
//! The lake's days are taken in chunks of [`DAYS_PER_CHUNK`]. QA of a chunk runs parameter by
//! parameter (the lake's partitions) over a window: the chunk's readings with a margin either
//! side (the previous reading, the start of a stuck run; spikes look one reading ahead, stuck
//! runs may continue); the margin is max(3 h, 2 × the stuck run × the expected reading
//! interval). Only rows of the chunk are kept, split by day: readings with `time` in day `d`,
//! gaps that end in it. Hourly means of a day's accepted readings are exact (local days hold
//! whole hours); the PM NowCast of a day's first hours looks back into the previous day's
//! means, which are carried over. (A series' median interval, which sets its gap threshold, is
//! taken over the window.) Each series' last reading before the chunk is carried from chunk to
//! chunk and put into the window when the margin holds none (a dropout longer than the margin):
//! its time gives the gap, its value the spike check's neighbour. With stuck runs shorter than
//! the margin the result equals one pass over the whole lake (tests hold the two together). Each decoded day is read from disk
//! once, while the chunk before it is checked, and kept while a window needs it.

use std::collections::BTreeMap;
use std::path::Path;

use polars::prelude::*;

use super::hourly::{Standard, hourly_aqi_from_means};
use super::lake;
use super::observations::ObservationError;
use super::qa::{QaConfig, qa};
use super::time::{DAY_MS, HOUR_MS, local_day_start};

/// Lake days checked together: each window's margins are re-read from the neighbouring days,
/// so a longer chunk repeats less work (6 h of 102 for four days against 6 h of 30 for one);
/// memory holds a chunk, its neighbours and the next chunk being read.
pub const DAYS_PER_CHUNK: usize = 4;

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
    /// Lake parts skipped because they could not be read.
    pub skipped: Vec<super::lake::BadPart>,
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

/// One day's QA results, cut from its chunk's windows, and the day's hourly means.
struct DayQa {
    accepted: usize,
    rejected: DataFrame,
    gaps: DataFrame,
    means: DataFrame,
}

/// One lake day's readings, a frame per parameter.
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

/// The first and last ms (exclusive) of local day `day`.
fn day_span(day: i64) -> (i64, i64) {
    let start = local_day_start(day);
    (start, start + DAY_MS)
}

/// Per parameter, the last reading before the chunk of each series (`station_id`, `parameter`,
/// `time_ms`, `value`), carried from chunk to chunk.
type LastSeen = BTreeMap<String, DataFrame>;

/// The rows that stand in a window for readings before its margin: each series' last reading
/// before `lo` (its value, for the spike check's neighbour; its time, for the gap), in the
/// lake's schema. They lie before the chunk, so no output keeps them.
fn earlier_readings(last: &DataFrame, lo: i64) -> LazyFrame {
    last.clone()
        .lazy()
        .filter(col("time_ms").lt(lit(lo)))
        .select([
            col("station_id"),
            col("parameter"),
            col("time_ms"),
            col("value"),
            lit(NULL).cast(DataType::String).alias("unit"),
            lit("measuring").alias("status"),
        ])
}

/// QA of the days of `chunk` (ascending lake days) over one window per parameter, in parallel
/// (the lake is partitioned by parameter, so each sort is over one parameter's readings): the
/// chunk's days whole and the margins of the days either side in `decoded`. Results are split
/// by day, with each day's hourly means.
/// Also returns `last_seen` brought up to the chunk's end.
fn chunk_qa(
    decoded: &BTreeMap<i64, DayFrames>,
    last_seen: &LastSeen,
    chunk: &[i64],
    margin: i64,
    cfg: &QaConfig,
) -> PolarsResult<(Vec<DayQa>, LastSeen)> {
    use rayon::prelude::*;
    let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
    let (start, _) = day_span(first);
    let (_, end) = day_span(last);
    let (lo, hi) = (start - margin, end + margin);
    // a day whose day before is not in the lake also owns the hour ending at its start
    let orphan_start = |d: i64| !chunk.contains(&(d - 1)) && !decoded.contains_key(&(d - 1));
    let near: Vec<(i64, &DayFrames)> = decoded
        .range(first - 1..=last + 1)
        .map(|(d, f)| (*d, f))
        .collect();
    let mut params: Vec<&String> = near
        .iter()
        .filter(|(d, _)| chunk.contains(d))
        .flat_map(|(_, f)| f.keys())
        .collect();
    params.sort();
    params.dedup();
    // per parameter: for each day of the chunk, (accepted, rejected, gaps, means); and the
    // last readings before the next chunk
    type Part = (Vec<(usize, DataFrame, DataFrame, DataFrame)>, DataFrame);
    let parts: Vec<PolarsResult<Part>> = params
        .par_iter()
        .map(|p| {
            // the chunk's days whole (they lie inside the window), the neighbours' margins, and
            // the last reading of series silent through the margin before
            let earlier = last_seen.get(*p).map(|f| earlier_readings(f, lo));
            let window: Vec<LazyFrame> = earlier
                .into_iter()
                .chain(near.iter().filter_map(|(d, f)| {
                    f.get(*p).map(|f| {
                        let f = f.clone().lazy();
                        if chunk.contains(d) {
                            f
                        } else {
                            f.filter(
                                col("time_ms")
                                    .gt_eq(lit(lo))
                                    .and(col("time_ms").lt(lit(hi))),
                            )
                        }
                    })
                }))
                .collect();
            // the partition's parameter as one value, not a string per reading
            let window = concat(window, UnionArgs::default())?
                .drop(by_name(["parameter"], true, false))
                .with_column(lit(p.as_str()).alias("parameter"));
            let r = qa(window, cfg)?;
            let in_span = |c: &str, (a, b): (i64, i64)| col(c).gt_eq(lit(a)).and(col(c).lt(lit(b)));
            // accepted readings per day in one pass
            let counts = r
                .accepted
                .clone()
                .select(
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, d)| {
                            in_span("time_ms", day_span(*d))
                                .sum()
                                .alias(format!("d{i}"))
                        })
                        .collect::<Vec<_>>(),
                )
                .collect()?;
            // local days hold whole hours (UTC+7), so each day's means are complete: the hours
            // ending in (start, end], whose last reading (at `end`) is in the window's margin;
            // and, when the day before is not in the lake, the hour ending at `start` too (its
            // only readings are stamped exactly at `start`, in this day's partition)
            let means = r
                .hourly_means(
                    if orphan_start(first) {
                        start - 1
                    } else {
                        start
                    },
                    end,
                )
                .collect()?;
            let last = r.last_before(end).collect()?;
            let rejected = r
                .rejected
                .filter(in_span("time_ms", (start, end)))
                .collect()?;
            let gaps = r
                .gaps
                .filter(in_span("gap_end_ms", (start, end)))
                .collect()?;
            let per_day: PolarsResult<Vec<_>> = chunk
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let span = day_span(*d);
                    let accepted = counts
                        .column(&format!("d{i}"))?
                        .get(0)?
                        .extract::<usize>()
                        .unwrap_or(0);
                    // hour-ending labels: a reading stamped t is in the hour ending ⌈t⌉ (hours),
                    // so a day's hours end in (start, end] — and at `start` when nobody else
                    // has that hour
                    let from = if orphan_start(*d) { span.0 - 1 } else { span.0 };
                    let hour = col("hour_ms")
                        .gt(lit(from))
                        .and(col("hour_ms").lt_eq(lit(span.1)));
                    Ok((
                        accepted,
                        rejected
                            .clone()
                            .lazy()
                            .filter(in_span("time_ms", span))
                            .collect()?,
                        gaps.clone()
                            .lazy()
                            .filter(in_span("gap_end_ms", span))
                            .collect()?,
                        means.clone().lazy().filter(hour).collect()?,
                    ))
                })
                .collect();
            Ok((per_day?, last))
        })
        .collect();
    // per day: accepted count, and each parameter's rejected, gaps and means
    type Gathered = (usize, Vec<DataFrame>, Vec<DataFrame>, Vec<DataFrame>);
    let mut days: Vec<Gathered> = chunk.iter().map(|_| Default::default()).collect();
    // a parameter's last readings come from its window (which holds the earlier ones of
    // series silent through it); parameters absent from the chunk keep theirs
    let mut seen: LastSeen = last_seen.clone();
    for (p, part) in params.iter().zip(parts) {
        let (part, last) = part?;
        seen.insert(p.to_string(), last);
        for (day, (a, r, g, m)) in days.iter_mut().zip(part) {
            day.0 += a;
            day.1.push(r);
            day.2.push(g);
            day.3.push(m);
        }
    }
    let days = days
        .into_iter()
        .map(|(accepted, r, g, m)| {
            Ok(DayQa {
                accepted,
                rejected: stack(r)?,
                gaps: stack(g)?,
                means: stack(m)?,
            })
        })
        .collect::<PolarsResult<Vec<_>>>()?;
    Ok((days, seen))
}

/// The hourly AQI of the hours that end in `day`, from the day's hourly means and, when it is
/// the day before, the previous day's (the NowCast looks 11 hours back).
fn day_aqi(
    day: i64,
    means: &DataFrame,
    previous: Option<(i64, &DataFrame)>,
    next_in_lake: bool,
    standard: Standard,
) -> PolarsResult<DataFrame> {
    let (start, end) = day_span(day);
    // the hour ending at `start` is this day's when the day before is not in the lake
    let (history, from) = match previous {
        Some((d, m)) if d == day - 1 => (m.vstack(means)?, start),
        _ => (means.clone(), start - 1),
    };
    // and the hour after its last one (a NowCast without a reading of its own) when the day
    // after is not in the lake
    let to = if next_in_lake { end } else { end + HOUR_MS };
    hourly_aqi_from_means(history.lazy(), standard)
        .filter(
            col("time")
                .cast(DataType::Int64)
                .gt(lit(from))
                .and(col("time").cast(DataType::Int64).lt_eq(lit(to))),
        )
        .collect()
}

/// Runs QA then hourly AQI (on the accepted readings) over every day of `lake`, calling
/// `on_day` with each day's results in date order; `on_day` may stop the run with an error of
/// its own type (a write error stays a write error).
/// Days are checked [`DAYS_PER_CHUNK`] at a time, parameters in parallel, while the next
/// chunk's days are read from disk.
pub fn qa_hourly_aqi<E: From<ObservationError>>(
    lake_dir: &Path,
    cfg: &QaConfig,
    standard: Standard,
    mut on_day: impl FnMut(&DayResult) -> Result<(), E>,
) -> Result<Totals, E> {
    use rayon::prelude::*;
    let snapshot = lake::Snapshot::take(lake_dir)?;
    let days = snapshot.days();
    let margin = margin_ms(cfg);
    let enc = |e: PolarsError| err(lake_dir, e);
    let mut totals = Totals::default();
    let chunks: Vec<&[i64]> = days.chunks(DAYS_PER_CHUNK).collect();
    // the lake days a chunk's windows read: its own and one either side
    let around = |chunk: &[i64]| -> Vec<i64> {
        let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
        days.iter()
            .copied()
            .filter(|&d| d >= first - 1 && d <= last + 1)
            .collect()
    };
    // a day is read up to three times (its chunk's and its neighbours' windows): a bad part
    // is listed once
    let skipped = std::sync::Mutex::new(std::collections::BTreeSet::new());
    let read = |wanted: Vec<i64>| -> Result<Vec<(i64, DayFrames)>, ObservationError> {
        wanted
            .into_iter()
            .map(|d| {
                let mut bad = Vec::new();
                let frames = snapshot.read_day_by_parameter(d, &mut bad)?;
                if let Ok(mut s) = skipped.lock() {
                    s.extend(bad);
                }
                Ok((d, frames))
            })
            .collect()
    };
    // decoded days, kept while a window needs them
    let mut decoded: BTreeMap<i64, DayFrames> = BTreeMap::new();
    if let Some(c) = chunks.first() {
        decoded.extend(read(around(c))?);
    }
    // each series' last reading so far (a dropout may outlast the margin)
    let mut last_seen: LastSeen = BTreeMap::new();
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
            || chunk_qa(&decoded, &last_seen, chunk, margin, cfg),
            || read(next),
        );
        let (qs, seen) = results.map_err(enc)?;
        last_seen = seen;
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
                let next_in_lake = days.binary_search(&(chunk[i] + 1)).is_ok();
                day_aqi(chunk[i], &qs[i].means, previous, next_in_lake, standard)
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
    totals.skipped = skipped
        .into_inner()
        .map(|s| s.into_iter().collect())
        .unwrap_or_default();
    Ok(totals)
}
