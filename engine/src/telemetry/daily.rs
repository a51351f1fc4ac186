//! Daily AQI over a table of observations, as polars lazy expressions.
//!
//! Days are local (Asia/Ho_Chi_Minh, UTC+7, no daylight saving) and made of the hour-ending
//! hourly means from 01:00 to 24:00 local; `time` in the output is the start of the local day,
//! in UTC (17:00 the day before). VN_AQI (Decision 1459): PM = the day's mean of hourly means;
//! SO₂, NO₂, CO = the day's largest hourly mean; O₃ = the larger of the 1-h index of the day's
//! largest hourly mean and the 8-h index of its largest 8-h running mean (dropped above 400).
//! US EPA (PM only): the 24-h mean.
//!
//! Coverage (an assumption, since the decree's summary in the domain notes gives none): a
//! 24-h mean needs 18 of the 24 hourly means (75 %), an 8-h running mean 6 of 8.

use polars::prelude::*;

use super::aqi::AqiParameter;
use super::hourly::{Standard, finish, hourly_means, sub_index_expr, us_sub_index_expr};
use super::time::{DAY_MS, HOUR_MS, LOCAL_OFFSET_MS};

/// Hourly means a 24-h mean needs.
pub const MIN_HOURS_PER_DAY: u32 = 18;
/// Hourly means an 8-h running mean needs.
pub const MIN_HOURS_PER_8H: u32 = 6;

/// The local day number (days since 1970-01-01, UTC+7) of an hour-ending time in ms: the day
/// its hour starts in, so that the hour ending at 24:00 belongs to the day it ends.
pub(crate) fn local_day_of_hour(hour_ms: Expr) -> Expr {
    ((hour_ms - lit(HOUR_MS) + lit(LOCAL_OFFSET_MS)) / lit(DAY_MS)).cast(DataType::Int64)
}

/// 8-h running means of hourly means (`station_id`, `hour_ms`, `mean`): for every hour with a
/// mean, the mean of it and the 7 hours before, where at least [`MIN_HOURS_PER_8H`] exist
/// (`station_id`, `hour_ms`, `mean_8h`; rows below the coverage are left out).
pub(crate) fn running_8h(hourly: LazyFrame) -> LazyFrame {
    let on = [col("station_id"), col("hour_ms")];
    let mut run = hourly.clone().select([col("station_id"), col("hour_ms")]);
    let mut names = Vec::new();
    for k in 0..8i64 {
        let n = format!("_w{k}");
        let shifted = hourly.clone().select([
            col("station_id"),
            (col("hour_ms") + lit(k * HOUR_MS)).alias("hour_ms"),
            col("mean").alias(n.as_str()),
        ]);
        run = run.join(
            shifted,
            on.clone(),
            on.clone(),
            JoinArgs::new(JoinType::Left),
        );
        names.push(n);
    }
    let count = names.iter().fold(lit(0u32), |acc, n| {
        acc + when(col(n.as_str()).is_not_null())
            .then(lit(1u32))
            .otherwise(lit(0u32))
    });
    let sum = names
        .iter()
        .fold(lit(0.0), |acc, n| acc + col(n.as_str()).fill_null(lit(0.0)));
    run.filter(count.clone().gt_eq(lit(MIN_HOURS_PER_8H)))
        .select([
            col("station_id"),
            col("hour_ms"),
            (sum / count.cast(DataType::Float64)).alias("mean_8h"),
        ])
}

/// Daily AQI from normalised observations: one row per station and local day with any hourly
/// mean; columns as [`super::hourly::hourly_aqi`].
pub fn daily_aqi(obs: LazyFrame, standard: Standard) -> LazyFrame {
    let means = hourly_means(obs).with_column(
        // the local day of the hour's start (hour-ending 24:00 belongs to the day it ends)
        local_day_of_hour(col("hour_ms")).alias("day"),
    );
    let keys = means
        .clone()
        .select([col("station_id"), col("day")])
        .unique(None, UniqueKeepStrategy::First);
    let on = [col("station_id"), col("day")];
    let left = || JoinArgs::new(JoinType::Left);
    let per_day = |param: &str, agg: Expr, name: &str| {
        means
            .clone()
            .filter(col("parameter").eq(lit(param.to_string())))
            .group_by([col("station_id"), col("day")])
            .agg([agg.alias(name)])
    };
    let mut frame = keys;
    let mut si: Vec<(String, &'static str)> = Vec::new();
    let us = standard.us_edition();
    if us.is_none() {
        for (param, p, label) in [
            ("CO", AqiParameter::Co, "CO"),
            ("SO2", AqiParameter::So2, "SO2"),
            ("NO2", AqiParameter::No2, "NO2"),
        ] {
            let c = format!("c_{param}");
            frame = frame.join(
                per_day(param, col("mean").max(), &c),
                on.clone(),
                on.clone(),
                left(),
            );
            let s = format!("si_{param}");
            frame = frame.with_column(sub_index_expr(col(c.as_str()), p).alias(s.as_str()));
            si.push((s, label));
        }
        // O3: the day's max 1-h mean, and its max 8-h running mean
        frame = frame.join(
            per_day("O3", col("mean").max(), "c_O3_1h"),
            on.clone(),
            on.clone(),
            left(),
        );
        let o3 = means
            .clone()
            .filter(col("parameter").eq(lit("O3")))
            .select([col("station_id"), col("hour_ms"), col("mean")]);
        let run = running_8h(o3).with_column(local_day_of_hour(col("hour_ms")).alias("day"));
        let max8 = run
            .group_by([col("station_id"), col("day")])
            .agg([col("mean_8h").max().alias("c_O3_8h")]);
        frame = frame.join(max8, on.clone(), on.clone(), left());
        let (a, b) = (
            sub_index_expr(col("c_O3_1h"), AqiParameter::O3OneHour),
            sub_index_expr(col("c_O3_8h"), AqiParameter::O3EightHour),
        );
        frame = frame.with_columns([a.alias("_si_o3_1h"), b.alias("_si_o3_8h")]);
        frame = frame.with_column(
            when(
                col("_si_o3_8h").is_not_null().and(
                    col("_si_o3_1h")
                        .is_null()
                        .or(col("_si_o3_8h").gt(col("_si_o3_1h"))),
                ),
            )
            .then(col("_si_o3_8h"))
            .otherwise(col("_si_o3_1h"))
            .alias("si_O3"),
        );
        si.insert(0, ("si_O3".into(), "O3"));
    }
    for (param, p, label) in [
        ("PM10", AqiParameter::Pm10, "PM10"),
        ("PM2.5", AqiParameter::Pm25, "PM2.5"),
    ] {
        let c = format!("c_{}", param.replace('.', ""));
        let mean24 = when(col("mean").count().gt_eq(lit(MIN_HOURS_PER_DAY)))
            .then(col("mean").mean())
            .otherwise(lit(NULL).cast(DataType::Float64));
        frame = frame.join(per_day(param, mean24, &c), on.clone(), on.clone(), left());
        let s = format!("si_{}", param.replace('.', ""));
        let e = match us {
            Some(edition) => us_sub_index_expr(col(c.as_str()), p, edition),
            None => sub_index_expr(col(c.as_str()), p),
        };
        frame = frame.with_column(e.alias(s.as_str()));
        si.push((s, label));
    }
    frame =
        frame.with_column((col("day") * lit(DAY_MS) - lit(LOCAL_OFFSET_MS)).alias("day_start_ms"));
    finish(frame, &si, "day_start_ms", standard)
}
