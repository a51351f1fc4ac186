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
    let v = || col("value");
    let prev = || col("_prev");
    let next = || col("_next");
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
    // sorted by series and time, neighbours come from plain shifts masked at series edges, and
    // runs of equal values are contiguous: their lengths come from running maxima/minima of
    // row indices (no per-row grouping)
    let sorted = by_series_time
        .with_columns([
            per_parameter(&|p| cfg.ranges.get(p).map(|r| r.0), "_lo").alias("_lo"),
            per_parameter(&|p| cfg.ranges.get(p).map(|r| r.1), "_hi").alias("_hi"),
            per_parameter(&|p| cfg.spike_min_jump.get(p).copied(), "_jump").alias("_jump"),
        ])
        .with_row_index("_i", None)
        .with_columns([differs(1).alias("_first"), differs(-1).alias("_last")])
        .with_columns([
            when(col("_first"))
                .then(lit(NULL).cast(DataType::Float64))
                .otherwise(v().shift(lit(1)))
                .alias("_prev"),
            when(col("_last"))
                .then(lit(NULL).cast(DataType::Float64))
                .otherwise(v().shift(lit(-1)))
                .alias("_next"),
            when(col("_first"))
                .then(lit(NULL).cast(DataType::Int64))
                .otherwise(col("time_ms").shift(lit(1)))
                .alias("_prev_t"),
        ])
        // a new run starts at a series' first reading or where the value changes
        .with_column(
            col("_first")
                .or(v().neq(prev()).fill_null(lit(true)))
                .alias("_run_start"),
        )
        .with_column(
            col("_run_start")
                .shift(lit(-1))
                .fill_null(lit(true))
                .alias("_run_end"),
        )
        .with_column(
            (when(col("_run_end"))
                .then(col("_i").cast(DataType::Int64))
                .otherwise(lit(i64::MAX))
                .cum_min(true)
                - when(col("_run_start"))
                    .then(col("_i").cast(DataType::Int64))
                    .otherwise(lit(-1i64))
                    .cum_max(false)
                + lit(1i64))
            .alias("_run_len"),
        );
    let mean_nb = (prev() + next()) / lit(2.0);
    let nearest_up = when(prev().gt(next())).then(prev()).otherwise(next());
    let nearest_down = when(prev().lt(next())).then(prev()).otherwise(next());
    let f = lit(cfg.spike_factor);
    let spike = col("_jump").is_not_null().and(
        (v().gt(f.clone() * mean_nb.clone())
            .and((v() - nearest_up).gt(col("_jump"))))
        .or(v()
            .lt(mean_nb / f)
            .and((nearest_down - v()).gt(col("_jump")))),
    );
    // the first failing check as a small integer (0: accepted), named only on rejected rows
    let check = when(col("status").eq(lit("calibrating")))
        .then(lit(1i32))
        .when(col("status").eq(lit("error")))
        .then(lit(2i32))
        .when(v().lt(col("_lo")).or(v().gt(col("_hi"))))
        .then(lit(3i32))
        .when(spike)
        .then(lit(4i32))
        .when(col("_run_len").gt_eq(lit(cfg.stuck_run)))
        .then(lit(5i32))
        .otherwise(lit(0i32));
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
    let checked = sorted.with_column(check.alias("_check")).collect()?.lazy();
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
