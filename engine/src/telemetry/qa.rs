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

/// Runs QA over normalised observations ([`super::observations::read`]). The checks run once,
/// over one sorted table (series by series, in time order); the three results are views of it.
pub fn qa(obs: LazyFrame, cfg: &QaConfig) -> PolarsResult<QaResult> {
    let v = || col("value");
    let prev = || col("_prev");
    let next = || col("_next");
    let differs = |c: &str, k: i64| col(c).neq(col(c).shift(lit(k))).fill_null(lit(true));
    // sorted by series and time, neighbours come from plain shifts masked at series edges, and
    // runs of equal values are contiguous: their lengths come from running maxima/minima of
    // row indices (no hashing of string keys per row)
    let sorted = obs
        .join(
            table(cfg)?,
            [col("parameter")],
            [col("parameter")],
            JoinArgs::new(JoinType::Left),
        )
        .sort(["station_id", "parameter", "time_ms"], Default::default())
        .with_row_index("_i", None)
        .with_columns([
            differs("station_id", 1)
                .or(differs("parameter", 1))
                .alias("_first"),
            differs("station_id", -1)
                .or(differs("parameter", -1))
                .alias("_last"),
        ])
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
            col("_first")
                .cast(DataType::UInt32)
                .cum_sum(false)
                .alias("_sid"),
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
    // materialised once: accepted, rejected and gaps are views of the same table
    let checked = sorted.with_column(reason.alias("reason")).collect()?.lazy();
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
    // a gap: longer than 1.5 × the series' own median interval (so 5-minute water series are
    // not all gaps), and never shorter than 1.5 × the configured interval
    let limit = cfg.expected_interval_s * 1.5 * 1000.0;
    let dt = || (col("time_ms") - col("_prev_t")).cast(DataType::Float64);
    let typical = dt().median().over([col("_sid")])? * lit(1.5);
    let threshold = when(typical.clone().gt(lit(limit)))
        .then(typical)
        .otherwise(lit(limit));
    let gaps = checked
        .filter(col("_prev_t").is_not_null().and(dt().gt(threshold)))
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
