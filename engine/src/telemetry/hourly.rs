//! Hourly VN_AQI over a table of observations, as polars lazy expressions (no row loops):
//! hourly means per station and parameter, NowCast of PM over the last 12 hours by self-joins
//! on the hour, one sub-index column per parameter, the station AQI, its dominant parameter and
//! band. [`super::aqi`] holds the same rules value by value; the tests hold the two together.
//!
//! Hours are hour-ending in UTC: readings stamped in (00:00, 01:00] make the mean labelled 01:00.
//! Only readings with status `measuring` count.

use polars::prelude::*;

use super::aqi::{AqiParameter, UsEdition, VN_INDEX, vn_breakpoints};

use super::time::HOUR_MS;

/// The parameters of the hourly AQI and their column suffixes.
const GASES: [(&str, AqiParameter); 4] = [
    ("O3", AqiParameter::O3OneHour),
    ("CO", AqiParameter::Co),
    ("SO2", AqiParameter::So2),
    ("NO2", AqiParameter::No2),
];
const PMS: [(&str, AqiParameter); 2] =
    [("PM10", AqiParameter::Pm10), ("PM2.5", AqiParameter::Pm25)];

fn col_name(p: &str) -> String {
    format!("c_{}", p.replace('.', ""))
}

/// The hour-ending time of each reading's `time_ms`, which marks the *end* of the reading's
/// averaging period: the hour ending at H holds the readings stamped in (H − 1 h, H], so an
/// hourly mean stamped 02:00 is the hour ending 02:00 and a 5-min reading stamped 02:00 closes
/// that hour too. (Times are after 1970, so the remainder is ≥ 0.)
pub(crate) fn hour_ending_ms() -> Expr {
    let before = col("time_ms") - lit(1i64);
    before.clone() - before % lit(HOUR_MS) + lit(HOUR_MS)
}

/// Hourly means (µg/m³) per station, parameter and hour-ending time (`hour_ms`).
pub fn hourly_means(obs: LazyFrame) -> LazyFrame {
    obs.filter(
        col("status")
            .eq(lit("measuring"))
            .and(col("value").is_not_null()),
    )
    .with_column(hour_ending_ms().alias("hour_ms"))
    .group_by([col("station_id"), col("parameter"), col("hour_ms")])
    .agg([
        col("value").mean().alias("mean"),
        col("value").count().alias("n"),
    ])
}

/// A VN_AQI sub-index expression for a concentration column (null stays null; 500 above the
/// table; O₃ 8 h null above 400).
pub fn sub_index_expr(c: Expr, p: AqiParameter) -> Expr {
    let bp = vn_breakpoints(p);
    let null = || lit(NULL).cast(DataType::Float64);
    let mut expr = if p == AqiParameter::O3EightHour {
        null()
    } else {
        lit(500.0)
    };
    for i in (0..7).rev() {
        let (Some(lo), Some(hi)) = (bp[i], bp[i + 1]) else {
            continue;
        };
        let seg = lit((VN_INDEX[i + 1] - VN_INDEX[i]) / (hi - lo)) * (c.clone() - lit(lo))
            + lit(VN_INDEX[i]);
        expr = when(c.clone().lt_eq(lit(hi))).then(seg).otherwise(expr);
    }
    when(c.clone().is_null().or(c.lt(lit(0.0))))
        .then(null())
        .otherwise(expr)
}

/// Adds the NowCast of columns `c0` (current hour) … `c11` (nulls = missing hours) as `out`:
/// Decision 1459's form, or with `us` the US EPA form (always Σ w^(i−1)·cᵢ / Σ w^(i−1), w at
/// least ½). The running minimum and maximum are materialised column by column (`_nc_min`,
/// `_nc_max`), so that the expression stays linear in size.
pub fn with_nowcast(frame: LazyFrame, cols: &[String; 12], out: &str, us: bool) -> LazyFrame {
    let c = |i: usize| col(cols[i].as_str());
    let mut frame = frame.with_columns([c(0).alias("_nc_min"), c(0).alias("_nc_max")]);
    for i in 1..12 {
        let (mn, mx) = (col("_nc_min"), col("_nc_max"));
        frame = frame.with_columns([
            when(
                c(i).is_not_null()
                    .and(mn.clone().is_null().or(c(i).lt(mn.clone()))),
            )
            .then(c(i))
            .otherwise(mn)
            .alias("_nc_min"),
            when(
                c(i).is_not_null()
                    .and(mx.clone().is_null().or(c(i).gt(mx.clone()))),
            )
            .then(c(i))
            .otherwise(mx)
            .alias("_nc_max"),
        ]);
    }
    frame = frame.with_column(
        when(col("_nc_max").gt(lit(0.0)))
            .then(col("_nc_min") / col("_nc_max"))
            .otherwise(lit(1.0))
            .alias("_nc_ratio"),
    );
    let present3 = (0..3).fold(lit(0i32), |acc, i| {
        acc + when(c(i).is_not_null())
            .then(lit(1i32))
            .otherwise(lit(0i32))
    });
    let mut half = lit(0.0);
    let mut num = lit(0.0);
    let mut den = lit(0.0);
    for i in 0..12 {
        let v = c(i).fill_null(lit(0.0));
        let has = when(c(i).is_not_null()).then(lit(1.0)).otherwise(lit(0.0));
        half = half + lit(0.5f64.powi(i as i32 + 1)) * v.clone();
        let w = when(col("_nc_ratio").lt(lit(0.5)))
            .then(lit(0.5))
            .otherwise(col("_nc_ratio"))
            .pow(lit(i as f64));
        num = num + w.clone() * v;
        den = den + w * has;
    }
    let vn_half = if us { num.clone() / den.clone() } else { half };
    frame
        .with_column(
            when(present3.lt(lit(2i32)))
                .then(lit(NULL).cast(DataType::Float64))
                .when(col("_nc_ratio").lt_eq(lit(0.5)))
                .then(vn_half)
                .otherwise(num / den)
                .alias(out),
        )
        .drop(by_name(["_nc_min", "_nc_max", "_nc_ratio"], true, false))
}

/// Adds the largest of several nullable columns as `out` (null when all are null), one
/// column step at a time.
fn with_max_of(mut frame: LazyFrame, cols: &[String], out: &str) -> LazyFrame {
    frame = frame.with_column(col(cols[0].as_str()).alias(out));
    for c in &cols[1..] {
        let (e, m) = (col(c.as_str()), col(out));
        frame = frame.with_column(
            when(
                e.clone()
                    .is_not_null()
                    .and(m.clone().is_null().or(e.clone().gt(m.clone()))),
            )
            .then(e)
            .otherwise(m)
            .alias(out),
        );
    }
    frame
}

/// Hourly VN_AQI from normalised observations ([`super::observations::read`]): one row per
/// station and hour-ending time with an hourly mean of an AQI parameter, columns `station_id`, `time` (UTC),
/// `aqi` (Int64, null without PM), `dominant`, `band`, and `si_<parameter>` sub-indices.
pub fn vn_hourly_aqi(obs: LazyFrame) -> LazyFrame {
    hourly_aqi(obs, Standard::Vn)
}

/// Hourly AQI by either standard (US: NowCast PM only, its own NowCast form).
pub fn hourly_aqi(obs: LazyFrame, standard: Standard) -> LazyFrame {
    hourly_aqi_from_means(hourly_means(obs), standard)
}

/// `parameter` is one of `names`.
fn parameter_in<'a>(names: impl Iterator<Item = &'a str>) -> Expr {
    names
        .map(|n| col("parameter").eq(lit(n)))
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false))
}

/// Hourly AQI from hourly means ([`hourly_means`]): one row per station and hour with a mean of
/// an AQI parameter (the PM NowCast looks back 11 hours in `means`).
pub fn hourly_aqi_from_means(means: LazyFrame, standard: Standard) -> LazyFrame {
    let us = standard.us_edition();
    let aqi_params = parameter_in(
        GASES
            .iter()
            .chain(PMS.iter())
            .filter(|(_, p)| us.is_none() || matches!(p, AqiParameter::Pm10 | AqiParameter::Pm25))
            .map(|(n, _)| *n),
    );
    let means = means.filter(aqi_params);
    // the station-hours with a mean, and the hour after each PM mean: NowCast needs two of the
    // three latest hours, so an hour without a reading of its own can still have one (those
    // rows are kept only if it does)
    let pm = parameter_in(PMS.iter().map(|(n, _)| *n));
    let with_mean = means
        .clone()
        .select([
            col("station_id"),
            col("hour_ms"),
            lit(true).alias("_has_mean"),
        ])
        .unique(None, UniqueKeepStrategy::First);
    let after_pm = means
        .clone()
        .filter(pm)
        .select([
            col("station_id"),
            (col("hour_ms") + lit(HOUR_MS)).alias("hour_ms"),
        ])
        .unique(None, UniqueKeepStrategy::First);
    let keys = with_mean
        .join(
            after_pm,
            [col("station_id"), col("hour_ms")],
            [col("station_id"), col("hour_ms")],
            JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
        )
        .select([
            col("station_id"),
            col("hour_ms"),
            col("_has_mean").fill_null(lit(false)),
        ]);
    let mut frame = keys;
    let on = [col("station_id"), col("hour_ms")];
    for (name, _) in GASES.iter().filter(|_| us.is_none()) {
        let g = means
            .clone()
            .filter(col("parameter").eq(lit(*name)))
            .select([
                col("station_id"),
                col("hour_ms"),
                col("mean").alias(col_name(name)),
            ]);
        frame = frame.join(g, on.clone(), on.clone(), JoinArgs::new(JoinType::Left));
    }
    for (name, _) in PMS {
        let pm = means
            .clone()
            .filter(col("parameter").eq(lit(name)))
            .select([col("station_id"), col("hour_ms"), col("mean")]);
        let mut names: Vec<String> = Vec::new();
        for k in 0..12i64 {
            let cname = format!("{}_{k}", col_name(name));
            let shifted = pm.clone().select([
                col("station_id"),
                (col("hour_ms") + lit(k * HOUR_MS)).alias("hour_ms"),
                col("mean").alias(cname.as_str()),
            ]);
            frame = frame.join(
                shifted,
                on.clone(),
                on.clone(),
                JoinArgs::new(JoinType::Left),
            );
            names.push(cname);
        }
        let arr: [String; 12] = std::array::from_fn(|k| names[k].clone());
        frame = with_nowcast(frame, &arr, &col_name(name), us.is_some())
            .drop(by_name(names, true, false));
    }
    // an hour without a mean of its own stays only where a PM NowCast exists
    let has_nowcast = PMS
        .iter()
        .map(|(n, _)| col(col_name(n).as_str()).is_not_null())
        .reduce(|a, b| a.or(b))
        .unwrap_or(lit(false));
    frame =
        frame
            .filter(col("_has_mean").or(has_nowcast))
            .drop(by_name(["_has_mean"], true, false));
    let mut si = Vec::new();
    let params: Vec<&(&str, AqiParameter)> = if us.is_some() {
        PMS.iter().collect()
    } else {
        GASES.iter().chain(PMS.iter()).collect()
    };
    for (name, p) in params {
        let s = format!("si_{}", name.replace('.', ""));
        let c = col(col_name(name).as_str());
        let e = match us {
            Some(edition) => us_sub_index_expr(c, *p, edition),
            None => sub_index_expr(c, *p),
        };
        frame = frame.with_column(e.alias(s.as_str()));
        si.push((s, *name));
    }
    finish(frame, &si, "hour_ms", standard)
}

/// Which index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standard {
    /// VN_AQI, Decision 1459/QĐ-TCMT.
    Vn,
    /// US EPA AQI (PM only: PM2.5 breakpoints of May 2024, PM10).
    Us,
    /// US EPA AQI with the 2012–2024 breakpoints (historical AirNow files).
    Us2012,
}

impl Standard {
    /// The US breakpoint edition, `None` for VN_AQI.
    pub fn us_edition(self) -> Option<UsEdition> {
        match self {
            Standard::Vn => None,
            Standard::Us => Some(UsEdition::Y2024),
            Standard::Us2012 => Some(UsEdition::Y2012),
        }
    }
}

/// Band names for an integer AQI column: Decision 1459's, or the US EPA's.
fn band_expr(aqi: Expr, standard: Standard) -> Expr {
    let names = match standard {
        Standard::Vn => ["Tốt", "Trung bình", "Kém", "Xấu", "Rất xấu", "Nguy hại"],
        Standard::Us | Standard::Us2012 => [
            "Good",
            "Moderate",
            "Unhealthy for Sensitive Groups",
            "Unhealthy",
            "Very Unhealthy",
            "Hazardous",
        ],
    };
    when(aqi.clone().is_null())
        .then(lit(NULL).cast(DataType::String))
        .when(aqi.clone().lt_eq(lit(50i64)))
        .then(lit(names[0]))
        .when(aqi.clone().lt_eq(lit(100i64)))
        .then(lit(names[1]))
        .when(aqi.clone().lt_eq(lit(150i64)))
        .then(lit(names[2]))
        .when(aqi.clone().lt_eq(lit(200i64)))
        .then(lit(names[3]))
        .when(aqi.lt_eq(lit(300i64)))
        .then(lit(names[4]))
        .otherwise(lit(names[5]))
}

/// A US EPA AQI expression for a 24-h-type PM concentration column: truncated (PM2.5 to
/// 0.1 µg/m³, PM10 to 1), interpolated, rounded half up; 500 above the table.
pub fn us_sub_index_expr(c: Expr, p: AqiParameter, edition: UsEdition) -> Expr {
    let Some(table) = super::aqi::us_pm_breakpoints(p, edition) else {
        return lit(NULL).cast(DataType::Float64);
    };
    let t = if p == AqiParameter::Pm25 {
        ((c.clone() * lit(10.0) + lit(1e-9))
            .cast(DataType::Int64)
            .cast(DataType::Float64))
            / lit(10.0)
    } else {
        (c.clone() + lit(1e-9))
            .cast(DataType::Int64)
            .cast(DataType::Float64)
    };
    let mut expr = lit(500.0);
    for &(lo, hi, ilo, ihi) in table.iter().rev() {
        let v = ((lit((ihi - ilo) / (hi - lo)) * (t.clone() - lit(lo)) + lit(ilo)) + lit(0.5))
            .cast(DataType::Int64)
            .cast(DataType::Float64);
        expr = when(t.clone().lt_eq(lit(hi))).then(v).otherwise(expr);
    }
    when(c.clone().is_null().or(c.lt(lit(0.0))))
        .then(lit(NULL).cast(DataType::Float64))
        .otherwise(expr)
}

/// From sub-index columns `(si column, parameter label)` in decree order to the station AQI:
/// the largest sub-index (only where PM has one), rounded half up; the first parameter holding
/// it; the band; `time` from the millisecond column `time_ms_col`.
pub(crate) fn finish(
    mut frame: LazyFrame,
    si: &[(String, &'static str)],
    time_ms_col: &str,
    standard: Standard,
) -> LazyFrame {
    let si_names: Vec<String> = si.iter().map(|(s, _)| s.clone()).collect();
    frame = with_max_of(frame, &si_names, "aqi_max");
    let pm: Vec<&String> = si
        .iter()
        .filter(|(_, p)| p.starts_with("PM"))
        .map(|(s, _)| s)
        .collect();
    let has_pm = pm
        .iter()
        .fold(lit(false), |acc, s| acc.or(col(s.as_str()).is_not_null()));
    frame = frame.with_column(
        when(has_pm)
            .then(col("aqi_max"))
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias("aqi_raw"),
    );
    let mut dom = lit(NULL).cast(DataType::String);
    for (s, name) in si.iter().rev() {
        dom = when(col(s.as_str()).eq(col("aqi_raw")))
            .then(lit(*name))
            .otherwise(dom);
    }
    let aqi = (col("aqi_raw") + lit(0.5)).cast(DataType::Int64);
    frame
        .with_columns([aqi.alias("aqi"), dom.alias("dominant")])
        .with_column(band_expr(col("aqi"), standard).alias("band"))
        .with_column(
            col(time_ms_col)
                .cast(DataType::Datetime(
                    TimeUnit::Milliseconds,
                    Some(TimeZone::UTC),
                ))
                .alias("time"),
        )
        .select(
            [
                vec![
                    col("station_id"),
                    col("time"),
                    col("aqi"),
                    col("dominant"),
                    col("band"),
                ],
                si.iter().map(|(s, _)| col(s.as_str())).collect(),
            ]
            .concat(),
        )
        .sort(["station_id", "time"], Default::default())
}
