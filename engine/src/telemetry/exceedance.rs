//! Exceedances of ambient air limits, as polars lazy plans: per station, parameter and averaging
//! period, how many periods were evaluated, how many exceeded the limit, and the largest value.
//!
//! The limits table is configurable and carries its edition. The default is QCVN 05:2013/BTNMT
//! (µg/m³): SO₂ 1 h 350 / 24 h 125 / year 50; NO₂ 1 h 200 / 24 h 100 / year 40; CO 1 h 30,000 /
//! 8 h 10,000; O₃ 1 h 200 / 8 h 120; TSP 1 h 300 / 24 h 200 / year 100; PM10 24 h 150 / year 50;
//! PM2.5 24 h 50 / year 25. QCVN 05:2023/BTNMT has since revised it: load its table with
//! [`LimitTable`] when reporting against it.
//!
//! Periods: 1 h = hourly means (hour-ending); 8 h = running means of 8 hourly means (6 needed),
//! each hour; 24 h = local-day means (18 hourly means needed, as in [`super::daily`]); year = the
//! mean of all hourly means of a calendar year (local), reported whatever the coverage, with
//! the count of hours in `periods`.

use polars::prelude::*;

use super::daily::{MIN_HOURS_PER_DAY, local_day_of_hour, running_8h};
use super::hourly::hourly_means;

/// An averaging period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// 1-h mean.
    Hour,
    /// 8-h running mean.
    EightHours,
    /// Local-day mean.
    Day,
    /// Calendar-year mean (local).
    Year,
}

impl Period {
    /// Label used in reports.
    pub fn label(self) -> &'static str {
        match self {
            Period::Hour => "1h",
            Period::EightHours => "8h",
            Period::Day => "24h",
            Period::Year => "year",
        }
    }
}

/// Limits with the edition they come from.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitTable {
    /// Edition, e.g. `QCVN 05:2013/BTNMT`.
    pub edition: String,
    /// (parameter, period, limit µg/m³).
    pub limits: Vec<(String, Period, f64)>,
}

impl Default for LimitTable {
    fn default() -> Self {
        use Period::*;
        let l = [
            ("SO2", Hour, 350.0),
            ("SO2", Day, 125.0),
            ("SO2", Year, 50.0),
            ("NO2", Hour, 200.0),
            ("NO2", Day, 100.0),
            ("NO2", Year, 40.0),
            ("CO", Hour, 30_000.0),
            ("CO", EightHours, 10_000.0),
            ("O3", Hour, 200.0),
            ("O3", EightHours, 120.0),
            ("TSP", Hour, 300.0),
            ("TSP", Day, 200.0),
            ("TSP", Year, 100.0),
            ("PM10", Day, 150.0),
            ("PM10", Year, 50.0),
            ("PM2.5", Day, 50.0),
            ("PM2.5", Year, 25.0),
        ];
        Self {
            edition: "QCVN 05:2013/BTNMT".into(),
            limits: l.iter().map(|(p, d, v)| (p.to_string(), *d, *v)).collect(),
        }
    }
}

/// Period means for one parameter: `station_id`, `value` (one row per period).
fn period_means(hourly: &LazyFrame, parameter: &str, period: Period) -> LazyFrame {
    let h = hourly
        .clone()
        .filter(col("parameter").eq(lit(parameter.to_string())))
        .select([col("station_id"), col("hour_ms"), col("mean")]);
    match period {
        Period::Hour => h.select([col("station_id"), col("mean").alias("value")]),
        Period::EightHours => {
            running_8h(h).select([col("station_id"), col("mean_8h").alias("value")])
        }
        Period::Day | Period::Year => {
            let day = local_day_of_hour(col("hour_ms"));
            let key = if period == Period::Day {
                day
            } else {
                civil_year(day)
            };
            let grouped = h
                .with_column(key.alias("_k"))
                .group_by([col("station_id"), col("_k")])
                .agg([
                    col("mean").mean().alias("value"),
                    col("mean").count().alias("_n"),
                ]);
            if period == Period::Day {
                grouped
                    .filter(col("_n").gt_eq(lit(MIN_HOURS_PER_DAY)))
                    .select([col("station_id"), col("value")])
            } else {
                grouped.select([col("station_id"), col("value")])
            }
        }
    }
}

/// The civil (proleptic Gregorian) year of a day number since 1970-01-01, by Howard Hinnant's
/// `civil_from_days`, in integer expression arithmetic (days after 1970 only).
fn civil_year(days: Expr) -> Expr {
    let div = |a: Expr, b: i64| (a / lit(b)).cast(DataType::Int64); // a ≥ 0 here
    let z = days + lit(719_468i64);
    let era = div(z.clone(), 146_097);
    let doe = z - era.clone() * lit(146_097i64);
    let yoe = div(
        doe.clone() - div(doe.clone(), 1460) + div(doe.clone(), 36_524) - div(doe.clone(), 146_096),
        365,
    );
    let y = yoe.clone() + era * lit(400i64);
    let doy = doe - (lit(365i64) * yoe.clone() + div(yoe.clone(), 4) - div(yoe, 100));
    let mp = div(lit(5i64) * doy + lit(2i64), 153);
    // months March..February: January and February belong to the next year
    y + when(mp.gt_eq(lit(10i64)))
        .then(lit(1i64))
        .otherwise(lit(0i64))
}

/// Exceedance table from normalised observations: `station_id`, `parameter`, `period`,
/// `limit_ug_m3`, `edition`, `periods`, `exceedances`, `max_ug_m3`.
pub fn exceedances(obs: LazyFrame, table: &LimitTable) -> PolarsResult<LazyFrame> {
    let hourly = hourly_means(obs);
    let mut parts = Vec::new();
    for (p, period, limit) in &table.limits {
        parts.push(
            period_means(&hourly, p, *period)
                .group_by([col("station_id")])
                .agg([
                    col("value").count().alias("periods"),
                    col("value")
                        .gt(lit(*limit))
                        .cast(DataType::UInt32)
                        .sum()
                        .alias("exceedances"),
                    col("value").max().alias("max_ug_m3"),
                ])
                .with_columns([
                    lit(p.clone()).alias("parameter"),
                    lit(period.label()).alias("period"),
                    lit(*limit).alias("limit_ug_m3"),
                    lit(table.edition.clone()).alias("edition"),
                ])
                .select([
                    col("station_id"),
                    col("parameter"),
                    col("period"),
                    col("limit_ug_m3"),
                    col("edition"),
                    col("periods"),
                    col("exceedances"),
                    col("max_ug_m3"),
                ]),
        );
    }
    if parts.is_empty() {
        return Err(PolarsError::ComputeError(
            "the limits table is empty".into(),
        ));
    }
    Ok(concat(parts, UnionArgs::default())?
        .sort(["station_id", "parameter", "period"], Default::default()))
}
