//! Quality assurance of observations, as polars lazy expressions: every reading is either
//! accepted or rejected with its reason — nothing is dropped — and gaps in each series are
//! reported.
//!
//! Reasons, first match wins: `status calibrating` / `status error` (only `measuring` counts,
//! Circular 10/2021/TT-BTNMT), `range` (outside the parameter's plausible range), `spike` (more
//! than `spike_factor` times the mean of both neighbours, and more than the parameter's minimum
//! jump from the nearer one — or as far below), `stuck` (part of a run of at least `stuck_run`
//! identical consecutive values).

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
    /// Expected interval between readings, s; a gap is reported beyond 1.5 of it.
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

/// The three tables of a QA pass.
pub struct QaResult {
    /// Readings that passed, in the input schema.
    pub accepted: LazyFrame,
    /// Readings that did not, with a `reason` column.
    pub rejected: LazyFrame,
    /// `station_id`, `parameter`, `gap_start_ms`, `gap_end_ms`, `gap_s` (time between the two
    /// readings around the gap).
    pub gaps: LazyFrame,
}

fn table(cfg: &QaConfig) -> PolarsResult<LazyFrame> {
    let mut params = Vec::new();
    let (mut lo, mut hi, mut jump) = (Vec::new(), Vec::new(), Vec::new());
    let mut names: Vec<&String> = cfg.ranges.keys().chain(cfg.spike_min_jump.keys()).collect();
    names.sort();
    names.dedup();
    for p in names {
        params.push(p.clone());
        lo.push(cfg.ranges.get(p).map(|r| r.0));
        hi.push(cfg.ranges.get(p).map(|r| r.1));
        jump.push(cfg.spike_min_jump.get(p).copied());
    }
    Ok(DataFrame::new_infer_height(vec![
        Column::new("parameter".into(), params),
        Column::new("_lo".into(), lo),
        Column::new("_hi".into(), hi),
        Column::new("_jump".into(), jump),
    ])?
    .lazy())
}

/// Runs QA over normalised observations ([`super::observations::read`]).
pub fn qa(obs: LazyFrame, cfg: &QaConfig) -> PolarsResult<QaResult> {
    let group = [col("station_id"), col("parameter")];
    let v = || col("value");
    let prev = || col("_prev");
    let next = || col("_next");
    let sorted = obs
        .sort(["station_id", "parameter", "time_ms"], Default::default())
        .join(
            table(cfg)?,
            [col("parameter")],
            [col("parameter")],
            JoinArgs::new(JoinType::Left),
        )
        .with_columns([
            v().shift(lit(1)).over(group.clone())?.alias("_prev"),
            v().shift(lit(-1)).over(group.clone())?.alias("_next"),
            col("time_ms")
                .shift(lit(1))
                .over(group.clone())?
                .alias("_prev_t"),
        ])
        .with_column(
            // a new run starts where the value changes
            when(prev().is_null().or(v().neq(prev())))
                .then(lit(1u32))
                .otherwise(lit(0u32))
                .cum_sum(false)
                .over(group.clone())?
                .alias("_run"),
        )
        .with_column(
            v().count()
                .over([col("station_id"), col("parameter"), col("_run")])?
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
    let reason = when(col("status").eq(lit("calibrating")))
        .then(lit("status calibrating"))
        .when(col("status").eq(lit("error")))
        .then(lit("status error"))
        .when(v().lt(col("_lo")).or(v().gt(col("_hi"))))
        .then(lit("range"))
        .when(spike)
        .then(lit("spike"))
        .when(col("_run_len").gt_eq(lit(cfg.stuck_run)))
        .then(lit("stuck"))
        .otherwise(lit(NULL).cast(DataType::String));
    let checked = sorted.with_column(reason.alias("reason"));
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
        .filter(col("reason").is_null())
        .select(base.clone());
    let rejected = checked
        .clone()
        .filter(col("reason").is_not_null())
        .select([base.to_vec(), vec![col("reason")]].concat());
    let limit = (cfg.expected_interval_s * 1.5 * 1000.0) as i64;
    let gaps = checked
        .filter(
            col("_prev_t")
                .is_not_null()
                .and((col("time_ms") - col("_prev_t")).gt(lit(limit))),
        )
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
    })
}
