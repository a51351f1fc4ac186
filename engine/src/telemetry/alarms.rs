//! Mine-gas alarms, as polars lazy expressions: events where a reading stays at or beyond an
//! alarm level, with start, end, peak and the rule the level comes from, and the time spent
//! beyond each level per station and shift.
//!
//! Default levels (configurable): CH₄ ≥ 1.0 % and ≥ 1.5 % (US 30 CFR 75.323, mirrored in many
//! codes: de-energise and adjust ventilation; withdraw people and cut power), CO ≥ 50 ppm
//! (an 8-h exposure limit: OSHA PEL / MSHA), O₂ < 19.5 % (oxygen-deficient atmosphere), and air
//! velocity < 0.25 m/s at working faces (QCVN 01:2011/BCT). Shifts are the usual three 8-h
//! shifts of Vietnamese coal mines, 06:00, 14:00 and 22:00 local time (UTC+7).

use polars::prelude::*;

use super::time::HOUR_MS;

/// Which side of the level alarms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// value ≥ level.
    AtOrAbove,
    /// value < level.
    Below,
}

/// One alarm level.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmLevel {
    /// Parameter (`CH4`, `CO_mine`, `O2`, `air_velocity`).
    pub parameter: String,
    /// Level in the parameter's canonical unit.
    pub level: f64,
    /// Which side alarms.
    pub direction: Direction,
    /// Short name (`CH4 1.0 %`).
    pub name: String,
    /// The rule it comes from.
    pub rule: String,
}

/// The default levels (see the module documentation).
pub fn default_levels() -> Vec<AlarmLevel> {
    let l = |p: &str, level: f64, direction, name: &str, rule: &str| AlarmLevel {
        parameter: p.into(),
        level,
        direction,
        name: name.into(),
        rule: rule.into(),
    };
    vec![
        l(
            "CH4",
            1.0,
            Direction::AtOrAbove,
            "CH4 >= 1.0 %",
            "30 CFR 75.323(b)(1): de-energise non-permissible equipment, adjust ventilation",
        ),
        l(
            "CH4",
            1.5,
            Direction::AtOrAbove,
            "CH4 >= 1.5 %",
            "30 CFR 75.323(b)(2): withdraw persons not needed to fix it, cut power",
        ),
        l(
            "CO_mine",
            50.0,
            Direction::AtOrAbove,
            "CO >= 50 ppm",
            "8-h exposure limit 50 ppm (OSHA PEL, MSHA)",
        ),
        l(
            "O2",
            19.5,
            Direction::Below,
            "O2 < 19.5 %",
            "oxygen-deficient atmosphere below 19.5 %",
        ),
        l(
            "air_velocity",
            0.25,
            Direction::Below,
            "air velocity < 0.25 m/s",
            "QCVN 01:2011/BCT: ≥ 0.25 m/s at working faces",
        ),
    ]
}

/// Alarm events and time beyond each level per shift.
pub struct Alarms {
    /// `station_id`, `alarm`, `rule`, `start_ms`, `end_ms` (last reading beyond the level),
    /// `peak`, `peak_ms`, `readings`.
    pub events: LazyFrame,
    /// `station_id`, `alarm`, `shift_start_ms` (UTC), `minutes_beyond` (readings beyond the
    /// level × the reading interval).
    pub per_shift: LazyFrame,
}

/// Checks the interval between readings (the `--interval-s` flag): finite, positive, at most a
/// day. [`alarms`] checks it too; callers check it first to refuse before reading anything.
pub fn check_interval(interval_s: f64) -> Result<(), String> {
    if interval_s.is_finite() && interval_s > 0.0 && interval_s <= 86_400.0 {
        Ok(())
    } else {
        Err(format!(
            "--interval-s: {interval_s} is not an interval between readings (0 < s ≤ 86400)"
        ))
    }
}

/// Finds alarm events in normalised observations (only `measuring` readings count).
pub fn alarms(obs: LazyFrame, levels: &[AlarmLevel], interval_s: f64) -> PolarsResult<Alarms> {
    check_interval(interval_s).map_err(|m| PolarsError::ComputeError(m.into()))?;
    let mut events: Vec<LazyFrame> = Vec::new();
    let mut shifts: Vec<LazyFrame> = Vec::new();
    let measuring = obs.filter(col("status").eq(lit("measuring")));
    for lv in levels {
        let beyond = match lv.direction {
            Direction::AtOrAbove => col("value").gt_eq(lit(lv.level)),
            Direction::Below => col("value").lt(lit(lv.level)),
        };
        let series = measuring
            .clone()
            .filter(col("parameter").eq(lit(lv.parameter.clone())))
            .sort(["station_id", "time_ms"], Default::default())
            .with_column(beyond.alias("_b"))
            .with_column(
                // a new run starts where the state changes
                when(
                    col("_b")
                        .neq(col("_b").shift(lit(1)))
                        .or(col("_b").shift(lit(1)).is_null()),
                )
                .then(lit(1u32))
                .otherwise(lit(0u32))
                .cum_sum(false)
                .over([col("station_id")])?
                .alias("_run"),
            )
            .filter(col("_b"));
        let peak = match lv.direction {
            Direction::AtOrAbove => col("value").max(),
            Direction::Below => col("value").min(),
        };
        let peak_at = match lv.direction {
            Direction::AtOrAbove => col("time_ms")
                .sort_by(
                    [col("value")],
                    SortMultipleOptions::default().with_order_descending(true),
                )
                .first(),
            Direction::Below => col("time_ms")
                .sort_by([col("value")], SortMultipleOptions::default())
                .first(),
        };
        events.push(
            series
                .clone()
                .group_by([col("station_id"), col("_run")])
                .agg([
                    col("time_ms").min().alias("start_ms"),
                    col("time_ms").max().alias("end_ms"),
                    peak.alias("peak"),
                    peak_at.alias("peak_ms"),
                    col("value").count().alias("readings"),
                ])
                .with_columns([
                    lit(lv.name.clone()).alias("alarm"),
                    lit(lv.rule.clone()).alias("rule"),
                ])
                .select([
                    col("station_id"),
                    col("alarm"),
                    col("rule"),
                    col("start_ms"),
                    col("end_ms"),
                    col("peak"),
                    col("peak_ms"),
                    col("readings"),
                ]),
        );
        // shifts start at 06, 14, 22 local = 23, 07, 15 UTC: shift index of (t + 7 h − 6 h)
        let shift_start = ((col("time_ms") + lit(HOUR_MS))
            - (col("time_ms") + lit(HOUR_MS)) % lit(8 * HOUR_MS))
            - lit(HOUR_MS);
        shifts.push(
            series
                .with_column(shift_start.alias("shift_start_ms"))
                .group_by([col("station_id"), col("shift_start_ms")])
                .agg([
                    (col("value").count().cast(DataType::Float64) * lit(interval_s / 60.0))
                        .alias("minutes_beyond"),
                ])
                .with_column(lit(lv.name.clone()).alias("alarm"))
                .select([
                    col("station_id"),
                    col("alarm"),
                    col("shift_start_ms"),
                    col("minutes_beyond"),
                ]),
        );
    }
    let union = |v: Vec<LazyFrame>| -> PolarsResult<LazyFrame> {
        if v.is_empty() {
            return Err(PolarsError::ComputeError("no alarm levels".into()));
        }
        concat(v, UnionArgs::default())
    };
    Ok(Alarms {
        events: union(events)?.sort(["station_id", "start_ms"], Default::default()),
        per_shift: union(shifts)?.sort(
            ["station_id", "shift_start_ms", "alarm"],
            Default::default(),
        ),
    })
}
