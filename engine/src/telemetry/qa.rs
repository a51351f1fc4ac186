//! Quality assurance of observations, as polars lazy expressions: every reading is either
//! accepted or rejected with its reason — nothing is dropped — and gaps in each series are
//! reported.
//!
//! Reasons, first match wins: `status calibrating` / `status error` (only `measuring` counts,
//! Circular 10/2021/TT-BTNMT), `range` (outside the parameter's plausible range), `spike` (more
//! than `spike_factor` times the mean of both neighbours, and more than the parameter's minimum
//! jump from the nearer one — or as far below), `stuck` (part of a run of at least `stuck_run`
//! identical consecutive values). Gaps: the time between two readings of a series beyond 1.5 ×
//! its median interval (at least 1.5 × `expected_interval_s`).

use std::collections::BTreeMap;

use polars::prelude::*;

/// QA settings; [`QaConfig::default`] gives the defaults, in canonical units.
#[derive(Debug, Clone, PartialEq)]
pub struct QaConfig {
    /// Plausible range per parameter (inclusive); parameters without one are not range-checked.
    pub ranges: BTreeMap<String, (f64, f64)>,
    /// Minimum absolute jump for a spike per parameter; parameters without one are not
    /// spike-checked.
    pub spike_min_jump: BTreeMap<String, f64>,
    /// Ratio to the neighbours' mean that makes a spike.
    pub spike_factor: f64,
    /// Identical consecutive values that make a stuck sensor.
    pub stuck_run: u32,
    /// Expected interval between readings, s; a gap is reported beyond 1.5 of it, or of the
    /// series' median interval where that is longer.
    pub expected_interval_s: f64,
}

impl Default for QaConfig {
    fn default() -> Self {
        let ranges = [
            ("PM2.5", 0.0, 1000.0),
            ("PM10", 0.0, 2000.0),
            ("TSP", 0.0, 5000.0),
            ("SO2", 0.0, 10_000.0),
            ("NO2", 0.0, 10_000.0),
            ("NO", 0.0, 10_000.0),
            ("CO", 0.0, 200_000.0),
            ("O3", 0.0, 2000.0),
            ("NH3", 0.0, 5000.0),
            ("CH4", 0.0, 100.0),
            ("O2", 0.0, 25.0),
            ("CO_mine", 0.0, 10_000.0),
            ("air_velocity", 0.0, 30.0),
            ("dust", 0.0, 1000.0),
            ("temperature", -20.0, 60.0),
            ("wind_speed", 0.0, 75.0),
            ("wind_direction", 0.0, 360.0),
            ("pH", 0.0, 14.0),
            ("DO", 0.0, 20.0),
            ("COD", 0.0, 1000.0),
            ("BOD5", 0.0, 1000.0),
            ("TSS", 0.0, 5000.0),
            ("NH4", 0.0, 100.0),
            ("NH4+", 0.0, 100.0),
            ("relative_humidity", 0.0, 100.0),
            ("conductivity", 0.0, 80_000.0),
            ("salinity", 0.0, 45.0),
        ];
        let jumps = [
            ("PM2.5", 50.0),
            ("PM10", 80.0),
            ("SO2", 100.0),
            ("NO2", 100.0),
            ("CO", 5000.0),
            ("O3", 100.0),
            ("CH4", 0.5),
            ("CO_mine", 20.0),
        ];
        Self {
            ranges: ranges
                .iter()
                .map(|(p, lo, hi)| (p.to_string(), (*lo, *hi)))
                .collect(),
            spike_min_jump: jumps.iter().map(|(p, j)| (p.to_string(), *j)).collect(),
            spike_factor: 4.0,
            stuck_run: 30,
            expected_interval_s: 60.0,
        }
    }
}

impl QaConfig {
    /// Checks the settings: a positive finite interval (at most a day), a stuck run of at
    /// least 2 readings, a spike factor above 1, ranges with finite `lo ≤ hi`, finite
    /// non-negative jumps. The message names the setting (as the CLI flag where there is one).
    pub fn check(&self) -> Result<(), String> {
        super::alarms::check_interval(self.expected_interval_s)?;
        if self.stuck_run < 2 {
            return Err(format!(
                "--stuck-run: {} identical readings cannot make a stuck sensor (at least 2)",
                self.stuck_run
            ));
        }
        if !(self.spike_factor.is_finite() && self.spike_factor > 1.0) {
            return Err(format!(
                "spike factor {} must be a finite ratio above 1",
                self.spike_factor
            ));
        }
        for (p, (lo, hi)) in &self.ranges {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(format!("range of {p}: [{lo}, {hi}] is not a finite range"));
            }
        }
        for (p, j) in &self.spike_min_jump {
            if !(j.is_finite() && *j >= 0.0) {
                return Err(format!("spike jump of {p}: {j} must be finite and ≥ 0"));
            }
        }
        Ok(())
    }
}

/// Why a reading is rejected, in the order the checks run (the first failing one is given).
pub const REASONS: [&str; 5] = [
    "status calibrating",
    "status error",
    "range",
    "spike",
    "stuck",
];

/// The three tables of a QA pass.
pub struct QaResult {
    /// Readings that passed, in the input schema.
    pub accepted: LazyFrame,
    /// Readings that did not, with a `reason` column.
    pub rejected: LazyFrame,
    /// `station_id`, `parameter`, `gap_start_ms`, `gap_end_ms`, `gap_s` (time between the two
    /// readings around the gap).
    pub gaps: LazyFrame,
    /// The checked table: the input sorted by series and time, with the series code `_code`
    /// and `_check` (0 when accepted, else 1 + the index of the reason in [`REASONS`]).
    checked: LazyFrame,
    /// The time that keys start from when (series, time) is one integer key.
    key_origin: Option<i64>,
}

impl QaResult {
    /// The last reading before `before_ms` of each series (`station_id`, `parameter`,
    /// `time_ms`, `value`): what a later window needs to see the reading before its first one.
    pub fn last_before(&self, before_ms: i64) -> LazyFrame {
        self.checked
            .clone()
            .filter(
                col("time_ms").lt(lit(before_ms)).and(
                    col("_last").or(col("time_ms")
                        .shift(lit(-1))
                        .gt_eq(lit(before_ms))
                        .fill_null(lit(true))),
                ),
            )
            .select([
                col("station_id"),
                col("parameter"),
                col("time_ms"),
                col("value"),
            ])
    }

    /// Hourly means of the accepted readings with status `measuring` whose `time_ms` lies in
    /// (`from_ms`, `to_ms`] — the hours ending after `from_ms` up to `to_ms` — in [`super::hourly::hourly_means`]'s schema (`station_id`,
    /// `parameter`, `hour_ms`, `mean`, `n`). Grouped on the integer series code, so no string
    /// is hashed per reading.
    pub fn hourly_means(&self, from_ms: i64, to_ms: i64) -> LazyFrame {
        let accepted = self
            .checked
            .clone()
            .filter(
                col("_check")
                    .eq(lit(0i32))
                    .and(col("status").eq(lit("measuring")))
                    .and(col("value").is_not_null())
                    .and(col("time_ms").gt(lit(from_ms)))
                    .and(col("time_ms").lt_eq(lit(to_ms))),
            )
            .with_column(super::hourly::hour_ending_ms().alias("hour_ms"));
        // one integer group key (series, hour) when it fits, as for the sort
        let grouped = match self.key_origin {
            Some(t0) => accepted
                .with_column(
                    (col("_code") * lit(KEY_SPAN_MS) + col("hour_ms") - lit(t0)).alias("_hkey"),
                )
                .group_by([col("_hkey")])
                .agg([
                    col("station_id").first(),
                    col("parameter").first(),
                    col("hour_ms").first(),
                    col("value").mean().alias("mean"),
                    col("value").count().alias("n"),
                ]),
            None => accepted.group_by([col("_code"), col("hour_ms")]).agg([
                col("station_id").first(),
                col("parameter").first(),
                col("value").mean().alias("mean"),
                col("value").count().alias("n"),
            ]),
        };
        grouped.select([
            col("station_id"),
            col("parameter"),
            col("hour_ms"),
            col("mean"),
            col("n"),
        ])
    }
}

/// A parameter's QA limits, looked up once per series.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    /// Lowest plausible value.
    pub lo: Option<f64>,
    /// Highest plausible value.
    pub hi: Option<f64>,
    /// Minimum absolute jump for a spike (no spike check without one).
    pub spike_min_jump: Option<f64>,
}

impl QaConfig {
    /// The limits of `parameter`.
    pub fn limits(&self, parameter: &str) -> Limits {
        Limits {
            lo: self.ranges.get(parameter).map(|r| r.0),
            hi: self.ranges.get(parameter).map(|r| r.1),
            spike_min_jump: self.spike_min_jump.get(parameter).copied(),
        }
    }
}

/// The reason of a check code ([`SeriesQa`]'s verdicts): `None` for 0 (accepted).
pub fn reason(check: u8) -> Option<&'static str> {
    REASONS.get(usize::from(check).checked_sub(1)?).copied()
}

/// A reading whose verdict waits for its next neighbour (spike) or the end of its run (stuck).
#[derive(Debug, Clone, Copy)]
struct Pending {
    seq: u64,
    spike: Option<bool>,
    stuck: Option<bool>,
}

/// The QA rules of one series, applied reading by reading in time order — the one
/// implementation behind both the batch [`qa`] (a sorted table, series by series) and the live
/// ingester (readings as they arrive). Each reading gets a sequence number from
/// [`SeriesQa::push`] and, as soon as it is certain, a verdict `(seq, check)`: 0 accepted, else
/// 1 + the index of the reason in [`REASONS`] (see [`reason`]). The status and range checks are
/// certain at once; a spike needs the next reading (the last one of a series has none and is no
/// spike); a run of identical values is stuck once it reaches `stuck_run` (then every member,
/// the earlier ones too) and is not stuck once the value changes before that. So verdicts wait
/// at most `stuck_run` readings, and [`SeriesQa::finish`] settles the rest.
#[derive(Debug, Clone)]
pub struct SeriesQa {
    limits: Limits,
    spike_factor: f64,
    stuck_run: u32,
    next_seq: u64,
    pending: std::collections::VecDeque<Pending>,
    /// The last reading (seq, value) and the value before it (`Some(None)`: a reading without
    /// a value).
    last: Option<(u64, Option<f64>)>,
    before_last: Option<Option<f64>>,
    run_start: u64,
    run_len: u32,
    run_value: Option<f64>,
}

impl SeriesQa {
    /// A series of a parameter with these limits, under `cfg`'s spike factor and stuck run.
    pub fn new(limits: Limits, cfg: &QaConfig) -> Self {
        Self {
            limits,
            spike_factor: cfg.spike_factor,
            stuck_run: cfg.stuck_run,
            next_seq: 0,
            pending: Default::default(),
            last: None,
            before_last: None,
            run_start: 0,
            run_len: 0,
            run_value: None,
        }
    }

    /// The oldest reading still without a verdict.
    pub fn oldest_pending(&self) -> Option<u64> {
        self.pending.front().map(|p| p.seq)
    }

    /// Spike rule: more than `spike_factor` × the mean of both neighbours and more than the
    /// minimum jump above the nearer one — or as far below.
    fn spike(&self, prev: Option<f64>, v: Option<f64>, next: Option<f64>) -> bool {
        let (Some(jump), Some(p), Some(v), Some(n)) = (self.limits.spike_min_jump, prev, v, next)
        else {
            return false;
        };
        let f = self.spike_factor;
        let mean = (p + n) / 2.0;
        let up = if p > n { p } else { n };
        let down = if p < n { p } else { n };
        (v > f * mean && v - up > jump) || (v < mean / f && down - v > jump)
    }

    /// Takes the next reading of the series (later than the previous one); appends to `out`
    /// the verdicts that became certain. Returns the reading's sequence number.
    pub fn push(
        &mut self,
        value: Option<f64>,
        status: Option<&str>,
        out: &mut Vec<(u64, u8)>,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let out_of_range = value.is_some_and(|v| {
            self.limits.lo.is_some_and(|lo| v < lo) || self.limits.hi.is_some_and(|hi| v > hi)
        });
        let base = match status {
            Some("calibrating") => 1,
            Some("error") => 2,
            _ if out_of_range => 3,
            _ => 0,
        };
        // the previous reading now has both neighbours
        if let Some((last_seq, last_v)) = self.last {
            let spike = self.spike(self.before_last.flatten(), last_v, value);
            if let Some(p) = self.pending.back_mut().filter(|p| p.seq == last_seq) {
                p.spike = Some(spike);
            }
        }
        let continues = self.last.is_some() && value.is_some() && value == self.run_value;
        if continues {
            self.run_len += 1;
            if self.run_len == self.stuck_run {
                self.settle_run(true);
            }
        } else {
            if self.last.is_some() && self.run_len < self.stuck_run {
                self.settle_run(false);
            }
            self.run_start = seq;
            self.run_len = 1;
            self.run_value = value;
        }
        self.before_last = self.last.map(|(_, v)| v);
        self.last = Some((seq, value));
        if base == 0 {
            self.pending.push_back(Pending {
                seq,
                // a series' first reading has no previous neighbour: no spike
                spike: (self.before_last.is_none()).then_some(false),
                stuck: (self.run_len >= self.stuck_run).then_some(true),
            });
        } else {
            out.push((seq, base));
        }
        self.drain(out);
        seq
    }

    /// The pending members of the current run are (not) stuck.
    fn settle_run(&mut self, stuck: bool) {
        for p in self.pending.iter_mut().rev() {
            if p.seq < self.run_start {
                break;
            }
            p.stuck = Some(stuck);
        }
    }

    fn drain(&mut self, out: &mut Vec<(u64, u8)>) {
        while let Some(&Pending {
            seq,
            spike: Some(spike),
            stuck: Some(stuck),
        }) = self.pending.front()
        {
            out.push((
                seq,
                if spike {
                    4
                } else if stuck {
                    5
                } else {
                    0
                },
            ));
            self.pending.pop_front();
        }
    }

    /// The series ends (or the caller settles it now): the last reading has no next neighbour
    /// and the current run ends; appends every remaining verdict to `out`.
    pub fn finish(&mut self, out: &mut Vec<(u64, u8)>) {
        if let Some((last_seq, _)) = self.last
            && let Some(p) = self.pending.back_mut().filter(|p| p.seq == last_seq)
            && p.spike.is_none()
        {
            p.spike = Some(false);
        }
        if self.run_len < self.stuck_run {
            self.settle_run(false);
        }
        self.drain(out);
    }
}

/// The check code of every row of a table sorted by series and time (`_code`, `value`,
/// `status`, and the parameter's limits `_lo`, `_hi`, `_jump`): [`SeriesQa`] over each series.
fn check_sorted(df: &DataFrame, cfg: &QaConfig) -> PolarsResult<Vec<i32>> {
    let get =
        |n: &str| -> PolarsResult<Series> { Ok(df.column(n)?.as_materialized_series().rechunk()) };
    let (code, value, status) = (get("_code")?, get("value")?, get("status")?);
    let (lo, hi, jump) = (get("_lo")?, get("_hi")?, get("_jump")?);
    let (code, value, status) = (code.i64()?, value.f64()?, status.str()?);
    let (lo, hi, jump) = (lo.f64()?, hi.f64()?, jump.f64()?);
    let mut checks = vec![0i32; df.height()];
    let mut verdicts: Vec<(u64, u8)> = Vec::new();
    let mut start = 0usize;
    let record = |checks: &mut [i32], start: usize, verdicts: &mut Vec<(u64, u8)>| {
        for (seq, c) in verdicts.drain(..) {
            checks[start + seq as usize] = i32::from(c);
        }
    };
    let mut current: Option<(Option<i64>, SeriesQa)> = None;
    for i in 0..df.height() {
        let c = code.get(i);
        if current.as_ref().is_none_or(|(k, _)| *k != c) {
            if let Some((_, mut qa)) = current.take() {
                qa.finish(&mut verdicts);
                record(&mut checks, start, &mut verdicts);
            }
            start = i;
            let limits = Limits {
                lo: lo.get(i),
                hi: hi.get(i),
                spike_min_jump: jump.get(i),
            };
            current = Some((c, SeriesQa::new(limits, cfg)));
        }
        if let Some((_, qa)) = current.as_mut() {
            qa.push(value.get(i), status.get(i), &mut verdicts);
            record(&mut checks, start, &mut verdicts);
        }
    }
    if let Some((_, mut qa)) = current.take() {
        qa.finish(&mut verdicts);
        record(&mut checks, start, &mut verdicts);
    }
    Ok(checks)
}

/// Codes the string column `name` of `df` as `out`: the index of each value among the
/// column's distinct values in lexical order (null stays null), and returns those values. A
/// column holding one value (a lake partition's parameter) is coded
/// without hashing; otherwise each string is hashed once into a fresh dictionary, whose
/// first-seen codes are then renumbered in lexical order (so the codes do not depend on the
/// order the dictionary was filled in).
fn code_column(df: &mut DataFrame, name: &str, out: &str) -> PolarsResult<Vec<String>> {
    let zeros = |n: usize| {
        Column::new_scalar(
            out.into(),
            Scalar::new(IDX_DTYPE, AnyValue::from(0 as IdxSize)),
            n,
        )
    };
    if let Some(sc) = df.column(name)?.as_scalar_column()
        && let Some(v) = sc.scalar().value().extract_str()
    {
        let v = v.to_string();
        df.with_column(zeros(df.height()))?;
        return Ok(vec![v]);
    }
    let s = df.column(name)?.as_materialized_series().clone();
    let strings = s.str()?;
    if !strings.is_empty()
        && let Some(first) = strings.get(0)
        && strings.null_count() == 0
        && strings.equal(first).all()
    {
        let first = first.to_string();
        df.with_column(zeros(df.height()))?;
        return Ok(vec![first]);
    }
    let dict = Categories::random("qn-twin-qa".into(), CategoricalPhysical::U32);
    // the categorical series holds the dictionary's mapping alive while it is read
    let cat = s.cast(&DataType::from_categories(dict))?;
    let cat = cat.cat32()?;
    let codes = cat.physical();
    let mapping = cat.get_mapping();
    let n = mapping.num_cats_upper_bound();
    let mut seen: Vec<(&str, IdxSize)> = (0..n)
        .filter_map(|c| mapping.cat_to_str(c as u32).map(|v| (v, c as IdxSize)))
        .collect();
    seen.sort_unstable();
    let mut rank = vec![0 as IdxSize; n];
    for (r, (_, c)) in seen.iter().enumerate() {
        rank[*c as usize] = r as IdxSize;
    }
    let lexical = IdxCa::from_vec(out.into(), rank).take(codes)?;
    df.with_column(lexical.into_column())?;
    Ok(seen.into_iter().map(|(v, _)| v.to_string()).collect())
}

/// Reading times span less than half this many ms for the one-key sort (17 years, so that
/// hour-ending times fit too), and there are fewer series than 2^22; otherwise the sort takes
/// (series, time) as two keys.
const KEY_SPAN_MS: i64 = 1 << 40;
const KEY_SERIES: usize = 1 << 22;

/// Runs QA over normalised observations ([`super::observations::read`]). The checks run once,
/// over one sorted table (series by series, in time order); the three results are views of it.
pub fn qa(obs: LazyFrame, cfg: &QaConfig) -> PolarsResult<QaResult> {
    cfg.check()
        .map_err(|m| PolarsError::ComputeError(m.into()))?;
    let mut obs = obs.collect()?;
    // series codes in (station, parameter) order: each string is hashed once, and the sort and
    // every series edge after it work on integers
    let stations = code_column(&mut obs, "station_id", "_s")?;
    let params = code_column(&mut obs, "parameter", "_p")?;
    // a parameter's limits: one value when there is one parameter (a lake partition), else
    // looked up by the parameter code after the sort
    let per_parameter = |f: &dyn Fn(&String) -> Option<f64>, name: &str| match params.as_slice() {
        [p] => lit(f(p).map(AnyValue::Float64).map_or_else(
            || Scalar::null(DataType::Float64),
            |v| Scalar::new(DataType::Float64, v),
        )),
        _ => {
            let values: Vec<Option<f64>> = params.iter().map(f).collect();
            lit(Series::new(name.into(), values)).gather(col("_p"), false)
        }
    };
    let (t_min, t_max, t_nulls) = {
        let t = obs
            .column("time_ms")?
            .as_materialized_series()
            .i64()?
            .clone();
        (t.min().unwrap_or(0), t.max().unwrap_or(0), t.null_count())
    };
    let keyed = obs
        .lazy()
        .with_column(
            (col("_s").cast(DataType::Int64) * lit(params.len() as i64)
                + col("_p").cast(DataType::Int64))
            .alias("_code"),
        )
        .drop(by_name(["_s"], true, false));
    // one integer key (series, time) when both fit (and no time is missing, which would lose
    // its series); ties keep input order
    let one_key = t_nulls == 0
        && t_max.saturating_sub(t_min) < KEY_SPAN_MS / 2
        && stations.len() * params.len() < KEY_SERIES;
    let by_series_time = if one_key {
        keyed
            .with_column(
                (col("_code") * lit(KEY_SPAN_MS) + col("time_ms") - lit(t_min)).alias("_key"),
            )
            .sort(
                ["_key"],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .drop(by_name(["_key"], true, false))
    } else {
        keyed.sort(
            ["_code", "time_ms"],
            SortMultipleOptions::default().with_maintain_order(true),
        )
    };
    let differs = |k: i64| {
        col("_code")
            .neq(col("_code").shift(lit(k)))
            .fill_null(lit(true))
    };
    // sorted by series and time: each series' first and last rows, the time before each
    // reading (gaps), and the parameter's limits for the rules
    let mut sorted = by_series_time
        .with_columns([
            per_parameter(&|p| cfg.ranges.get(p).map(|r| r.0), "_lo").alias("_lo"),
            per_parameter(&|p| cfg.ranges.get(p).map(|r| r.1), "_hi").alias("_hi"),
            per_parameter(&|p| cfg.spike_min_jump.get(p).copied(), "_jump").alias("_jump"),
        ])
        .with_columns([differs(1).alias("_first"), differs(-1).alias("_last")])
        .with_column(
            when(col("_first"))
                .then(lit(NULL).cast(DataType::Int64))
                .otherwise(col("time_ms").shift(lit(1)))
                .alias("_prev_t"),
        )
        .collect()?;
    // the rules, series by series: the same code the live ingester runs per reading
    let checks = check_sorted(&sorted, cfg)?;
    sorted.with_column(Column::new("_check".into(), checks))?;
    let reason =
        REASONS
            .iter()
            .enumerate()
            .rev()
            .fold(lit(NULL).cast(DataType::String), |acc, (i, r)| {
                when(col("_check").eq(lit(i as i32 + 1)))
                    .then(lit(*r))
                    .otherwise(acc)
            });
    // materialised once: accepted, rejected and gaps are views of the same table
    let checked = sorted.lazy();
    let base = [
        col("station_id"),
        col("parameter"),
        col("time_ms"),
        col("value"),
        col("unit"),
        col("status"),
    ];
    let accepted = checked
        .clone()
        .filter(col("_check").eq(lit(0i32)))
        .select(base.clone());
    let rejected = checked
        .clone()
        .filter(col("_check").gt(lit(0i32)))
        .select([base.to_vec(), vec![reason.alias("reason")]].concat());
    // a gap: longer than 1.5 × the series' own median interval (so 5-minute water series are
    // not all gaps), and never shorter than 1.5 × the configured interval
    let limit = cfg.expected_interval_s * 1.5 * 1000.0;
    let dt = || (col("time_ms") - col("_prev_t")).cast(DataType::Float64);
    // only intervals beyond the configured one can be gaps; the median interval is needed only
    // for the series that have such intervals (an inner join on their codes keeps their rows)
    let candidates = checked
        .clone()
        .filter(col("_prev_t").is_not_null().and(dt().gt(lit(limit))));
    let medians = checked
        .clone()
        .join(
            candidates
                .clone()
                .select([col("_code")])
                .unique(None, UniqueKeepStrategy::Any),
            [col("_code")],
            [col("_code")],
            JoinArgs::new(JoinType::Inner),
        )
        .group_by([col("_code")])
        .agg([(dt().median() * lit(1.5)).alias("_typical")]);
    let threshold = when(col("_typical").gt(lit(limit)))
        .then(col("_typical"))
        .otherwise(lit(limit));
    // only intervals beyond the configured one can be gaps: the series medians join those few
    let gaps = candidates
        .join(
            medians,
            [col("_code")],
            [col("_code")],
            JoinArgs {
                maintain_order: MaintainOrderJoin::Left,
                ..JoinArgs::new(JoinType::Left)
            },
        )
        .filter(dt().gt(threshold))
        .select([
            col("station_id"),
            col("parameter"),
            col("_prev_t").alias("gap_start_ms"),
            col("time_ms").alias("gap_end_ms"),
            ((col("time_ms") - col("_prev_t")).cast(DataType::Float64) / lit(1000.0))
                .alias("gap_s"),
        ]);
    Ok(QaResult {
        accepted,
        rejected,
        gaps,
        checked,
        key_origin: one_key.then_some(t_min),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The rules read straight off the module documentation, over a whole series at once.
    fn oracle(v: &[Option<f64>], st: &[&str], l: Limits, cfg: &QaConfig) -> Vec<u8> {
        let n = v.len();
        // run lengths of equal consecutive values (a missing value is a run of its own)
        let mut run_len = vec![1u32; n];
        let mut i = 0;
        while i < n {
            let mut j = i + 1;
            while j < n && v[i].is_some() && v[j] == v[i] {
                j += 1;
            }
            for r in &mut run_len[i..j] {
                *r = (j - i) as u32;
            }
            i = j;
        }
        (0..n)
            .map(|i| {
                let spike = i > 0
                    && i + 1 < n
                    && match (l.spike_min_jump, v[i - 1], v[i], v[i + 1]) {
                        (Some(jump), Some(p), Some(x), Some(q)) => {
                            let mean = (p + q) / 2.0;
                            (x > cfg.spike_factor * mean && x - p.max(q) > jump)
                                || (x < mean / cfg.spike_factor && p.min(q) - x > jump)
                        }
                        _ => false,
                    };
                let out = v[i].is_some_and(|x| {
                    l.lo.is_some_and(|lo| x < lo) || l.hi.is_some_and(|hi| x > hi)
                });
                match st[i] {
                    "calibrating" => 1,
                    "error" => 2,
                    _ if out => 3,
                    _ if spike => 4,
                    _ if run_len[i] >= cfg.stuck_run => 5,
                    _ => 0,
                }
            })
            .collect()
    }

    #[test]
    fn reading_by_reading_verdicts_equal_the_whole_series_rules_and_wait_at_most_a_run() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for case in 0..400 {
            let cfg = QaConfig {
                stuck_run: rng.random_range(2..8),
                ..QaConfig::default()
            };
            let l = cfg.limits("PM2.5");
            let n = rng.random_range(0..200);
            let mut v: Vec<Option<f64>> = Vec::with_capacity(n);
            let mut st: Vec<&str> = Vec::with_capacity(n);
            for _ in 0..n {
                let x = match rng.random_range(0..10) {
                    0 => None,
                    1 | 2 => v.last().copied().flatten(), // runs
                    3 => Some(rng.random_range(200.0..900.0)), // spikes
                    4 => Some(-1.0),                      // out of range
                    _ => Some(f64::from(rng.random_range(20..24))),
                };
                v.push(x);
                st.push(match rng.random_range(0..20) {
                    0 => "calibrating",
                    1 => "error",
                    _ => "measuring",
                });
            }
            let want = oracle(&v, &st, l, &cfg);
            let mut qa = SeriesQa::new(l, &cfg);
            let mut got = vec![u8::MAX; n];
            let mut out = Vec::new();
            for i in 0..n {
                let seq = qa.push(v[i], Some(st[i]), &mut out);
                assert_eq!(seq, i as u64);
                for (s, c) in out.drain(..) {
                    assert_eq!(got[s as usize], u8::MAX, "one verdict per reading");
                    got[s as usize] = c;
                }
                // every reading older than a run (plus its next neighbour) is settled
                let settled = (i + 1).saturating_sub(cfg.stuck_run as usize);
                assert!(got[..settled].iter().all(|&c| c != u8::MAX), "case {case}");
            }
            qa.finish(&mut out);
            for (s, c) in out.drain(..) {
                got[s as usize] = c;
            }
            assert_eq!(got, want, "case {case}: {v:?} {st:?}");
        }
    }
}
