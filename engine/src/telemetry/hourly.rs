//! Hourly VN_AQI over a table of observations, as polars lazy expressions (no row loops):
//! hourly means per station and parameter, NowCast of PM over the last 12 hours by self-joins
//! on the hour, one sub-index column per parameter, the station AQI, its dominant parameter and
//! band. [`super::aqi`] holds the same rules value by value; the tests hold the two together.
//!
//! Hours are hour-ending in UTC: readings in [00:00, 01:00) make the mean labelled 01:00.
//! Only readings with status `measuring` count.

use polars::prelude::*;

use super::aqi::{AqiParameter, VN_INDEX, vn_breakpoints};

const HOUR_MS: i64 = 3_600_000;

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

/// Hourly means (µg/m³) per station, parameter and hour-ending time (`hour_ms`).
pub fn hourly_means(obs: LazyFrame) -> LazyFrame {
    obs.filter(
        col("status")
            .eq(lit("measuring"))
            .and(col("value").is_not_null()),
    )
    .with_column(
        // start of the hour (times are after 1970, so the remainder is ≥ 0), plus one hour
        (col("time_ms") - col("time_ms") % lit(HOUR_MS) + lit(HOUR_MS)).alias("hour_ms"),
    )
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

/// Adds the NowCast of columns `c0` (current hour) … `c11` (nulls = missing hours) as `out`.
/// The running minimum and maximum are materialised column by column (`_nc_min`, `_nc_max`),
/// so that the expression stays linear in size.
pub fn with_nowcast(frame: LazyFrame, cols: &[String; 12], out: &str) -> LazyFrame {
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
        let w = col("_nc_ratio").pow(lit(i as f64));
        num = num + w.clone() * v;
        den = den + w * has;
    }
    frame
        .with_column(
            when(present3.lt(lit(2i32)))
                .then(lit(NULL).cast(DataType::Float64))
                .when(col("_nc_ratio").lt_eq(lit(0.5)))
                .then(half)
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
/// station and hour-ending time with any hourly mean, columns `station_id`, `time` (UTC),
/// `aqi` (Int64, null without PM), `dominant`, `band`, and `si_<parameter>` sub-indices.
pub fn vn_hourly_aqi(obs: LazyFrame) -> LazyFrame {
    let means = hourly_means(obs);
    let keys = means
        .clone()
        .select([col("station_id"), col("hour_ms")])
        .unique(None, UniqueKeepStrategy::First);
    let mut frame = keys;
    let on = [col("station_id"), col("hour_ms")];
    for (name, _) in GASES {
        let g = means
            .clone()
            .filter(col("parameter").eq(lit(name)))
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
        frame = with_nowcast(frame, &arr, &col_name(name)).drop(by_name(names, true, false));
    }
    let mut si = Vec::new();
    for (name, p) in GASES.iter().chain(PMS.iter()) {
        let s = format!("si_{}", name.replace('.', ""));
        frame =
            frame.with_column(sub_index_expr(col(col_name(name).as_str()), *p).alias(s.as_str()));
        si.push((s, *p));
    }
    let si_names: Vec<String> = si.iter().map(|(s, _)| s.clone()).collect();
    frame = with_max_of(frame, &si_names, "aqi_max");
    let has_pm = col("si_PM10")
        .is_not_null()
        .or(col("si_PM25").is_not_null());
    frame = frame.with_column(
        when(has_pm)
            .then(col("aqi_max"))
            .otherwise(lit(NULL).cast(DataType::Float64))
            .alias("aqi_raw"),
    );
    // dominant: the first parameter (decree order) whose sub-index is the maximum
    let order = [
        ("si_O3", "O3"),
        ("si_CO", "CO"),
        ("si_SO2", "SO2"),
        ("si_NO2", "NO2"),
        ("si_PM10", "PM10"),
        ("si_PM25", "PM2.5"),
    ];
    let mut dom = lit(NULL).cast(DataType::String);
    for (s, name) in order.iter().rev() {
        dom = when(col(*s).eq(col("aqi_raw")))
            .then(lit(*name))
            .otherwise(dom);
    }
    let aqi = (col("aqi_raw") + lit(0.5)).cast(DataType::Int64);
    let band = when(col("aqi").lt_eq(lit(50i64)))
        .then(lit("Tốt"))
        .when(col("aqi").lt_eq(lit(100i64)))
        .then(lit("Trung bình"))
        .when(col("aqi").lt_eq(lit(150i64)))
        .then(lit("Kém"))
        .when(col("aqi").lt_eq(lit(200i64)))
        .then(lit("Xấu"))
        .when(col("aqi").lt_eq(lit(300i64)))
        .then(lit("Rất xấu"))
        .otherwise(lit("Nguy hại"));
    frame
        .with_columns([aqi.alias("aqi"), dom.alias("dominant")])
        .with_column(
            when(col("aqi").is_null())
                .then(lit(NULL).cast(DataType::String))
                .otherwise(band)
                .alias("band"),
        )
        .with_column(
            col("hour_ms")
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
