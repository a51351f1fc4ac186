//! Extensions beyond the SensorThings API (what FROST's users most ask for), under
//! `{root}/ext`:
//!
//! - `GET ext/latest[?site=ID]`: the latest observation of every Datastream (of one site) in
//!   one call.
//! - `GET ext/Datastreams('<site>:<parameter>')/aggregate?interval=hour|day[&from=T][&to=T]`:
//!   mean, min, max and count of the `measuring` readings per hour (hour-ending: the hour
//!   ending at H holds the readings in (H − 1 h, H]) or per local day (UTC+7, the days owning
//!   the hours ending in (00:00, 24:00]).
//! - `GET ext/Things('<station>')/aqi?interval=hour|day[&from=T][&to=T][&standard=vn|us]`:
//!   hourly (NowCast for PM) or daily VN_AQI (Decision 1459/QĐ-TCMT; `us` for the US EPA PM
//!   AQI) with the dominant parameter, the band and the sub-indices — computed by the same
//!   code as `twin telemetry aqi`.
//!
//! `from`/`to` are RFC 3339 instants; without them the last 7 days (hourly) or 90 days
//! (daily) up to the newest reading. A span is at most 400 days hourly, 20 years daily.

use polars::prelude::*;
use serde_json::{Value, json};

use super::store::{STATUSES, Series};
use super::{Api, Response};
use crate::telemetry::daily::{daily_aqi, local_day_of_hour};
use crate::telemetry::hourly::{Standard, hour_ending_ms, hourly_aqi};
use crate::telemetry::time::{
    DAY_MS, HOUR_MS, LOCAL_OFFSET_MS, local_day, local_day_start, rfc3339_ms as rfc3339,
};

/// The first line of an error (polars appends its whole query plan).
fn first_line(e: &impl std::fmt::Display) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Answers `GET {root}/ext/{path}`.
pub fn get(api: &Api, path: &str, query: &[(String, String)], root: &str) -> Response {
    let path = path.trim_matches('/');
    if path == "latest" {
        return latest(api, param(query, "site"), root);
    }
    let quoted = |prefix: &str, suffix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix))
            .map(|id| id.replace("''", "'"))
    };
    if let Some(id) = quoted("Datastreams('", "')/aggregate") {
        return aggregate(api, &id, query);
    }
    if let Some(id) = quoted("Things('", "')/aqi") {
        return aqi(api, &id, query);
    }
    Response::error(
        404,
        format!(
            "no extension `{path}`: ext/latest, ext/Datastreams('<site>:<parameter>')/aggregate, ext/Things('<site>')/aqi"
        ),
    )
}

fn latest(api: &Api, site: Option<&str>, root: &str) -> Response {
    if let Some(s) = site
        && !api.has_site(s)
    {
        return Response::error(404, format!("no Things `{s}`"));
    }
    let value: Vec<Value> = api
        .store
        .series
        .iter()
        .filter(|((s, _), _)| site.is_none_or(|x| x == s))
        .filter_map(|((s, p), se)| {
            let i = se.t.len().checked_sub(1)?;
            let t = rfc3339(se.t[i]);
            Some(json!({
                "Datastream@iot.id": format!("{s}:{p}"),
                "Datastream@iot.navigationLink": format!("{root}/Datastreams('{s}:{p}')"),
                "@iot.id": format!("{s}:{p}:{}", se.t[i]),
                "phenomenonTime": t, "resultTime": t, "result": se.v[i],
                "unitOfMeasurement": se.unit, "parameters": {"status": STATUSES[usize::from(se.status[i])]},
            }))
        })
        .collect();
    Response {
        status: 200,
        body: json!({"value": value}),
    }
}

/// `interval`, `from`, `to` (ms) of a request; the newest reading is the default end.
fn window(query: &[(String, String)], newest: i64) -> Result<(bool, i64, i64), String> {
    let daily = match param(query, "interval").unwrap_or("hour") {
        "hour" => false,
        "day" => true,
        x => return Err(format!("interval={x}: hour or day")),
    };
    let t = |name: &str| -> Result<Option<i64>, String> {
        param(query, name)
            .map(|v| {
                super::odata::parse_time(v)
                    .ok_or_else(|| format!("{name}={v}: not an RFC 3339 time with offset"))
            })
            .transpose()
    };
    let to = t("to")?.unwrap_or(newest);
    let from = t("from")?.unwrap_or(to - if daily { 90 * DAY_MS } else { 7 * DAY_MS });
    let max = if daily {
        20 * 366 * DAY_MS
    } else {
        400 * DAY_MS
    };
    if from >= to {
        return Err("from must be before to".into());
    }
    if to - from > max {
        return Err(format!(
            "the span is at most {} days for interval={}",
            max / DAY_MS,
            if daily { "day" } else { "hour" }
        ));
    }
    Ok((daily, from, to))
}

/// Observations of one site's series within [lo, hi] as a normalised frame.
fn frame(series: &[(&str, &str, &Series)], lo: i64, hi: i64) -> PolarsResult<DataFrame> {
    let (mut st, mut pa, mut t, mut v, mut u, mut s) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for (site, p, se) in series {
        for i in se.range(lo, hi) {
            st.push(*site);
            pa.push(*p);
            t.push(se.t[i]);
            v.push(se.v[i]);
            u.push(se.unit.as_str());
            s.push(STATUSES[usize::from(se.status[i])]);
        }
    }
    df!("station_id" => st, "parameter" => pa, "time_ms" => t, "value" => v, "unit" => u, "status" => s)
}

/// Rows of a frame as JSON objects (`*_ms` integers also as RFC 3339 without the suffix).
fn rows(df: &DataFrame) -> Vec<Value> {
    let mut out = vec![serde_json::Map::new(); df.height()];
    for c in df.columns() {
        let name = c.name().to_string();
        let s = c.as_materialized_series();
        for (i, row) in out.iter_mut().enumerate() {
            let v = match s.get(i) {
                Ok(AnyValue::Int64(x)) if name.ends_with("_ms") => {
                    row.insert(name.trim_end_matches("_ms").to_string(), json!(rfc3339(x)));
                    continue;
                }
                Ok(AnyValue::Int64(x)) => json!(x),
                Ok(AnyValue::Int32(x)) => json!(x),
                Ok(AnyValue::UInt32(x)) => json!(x),
                Ok(AnyValue::UInt64(x)) => json!(x),
                Ok(AnyValue::Float64(x)) if x.is_finite() => json!(x),
                Ok(AnyValue::String(x)) => json!(x),
                Ok(AnyValue::StringOwned(x)) => json!(x.as_str()),
                Ok(AnyValue::Datetime(x, unit, _)) => {
                    let ms = match unit {
                        TimeUnit::Milliseconds => x,
                        TimeUnit::Microseconds => x / 1000,
                        TimeUnit::Nanoseconds => x / 1_000_000,
                    };
                    json!(rfc3339(ms))
                }
                _ => Value::Null,
            };
            row.insert(name.clone(), v);
        }
    }
    out.into_iter().map(Value::Object).collect()
}

fn aggregate(api: &Api, id: &str, query: &[(String, String)]) -> Response {
    let Some((site, p)) = id.split_once(':') else {
        return Response::error(404, format!("no Datastreams `{id}`"));
    };
    let Some(se) = api.store.series.get(&(site.to_string(), p.to_string())) else {
        return Response::error(404, format!("no observations for Datastreams `{id}`"));
    };
    let (daily, from, to) = match window(query, se.t.last().copied().unwrap_or(0)) {
        Ok(w) => w,
        Err(m) => return Response::error(400, m),
    };
    let run = || -> PolarsResult<DataFrame> {
        // the hour-ending convention and the local day owning an hour, as the AQI uses them
        let key = if daily {
            local_day_of_hour(hour_ending_ms()) * lit(DAY_MS) - lit(LOCAL_OFFSET_MS)
        } else {
            hour_ending_ms() - lit(HOUR_MS)
        };
        let span = if daily { DAY_MS } else { HOUR_MS };
        frame(&[(site, p, se)], from + 1, to)?
            .lazy()
            .filter(col("status").eq(lit("measuring")))
            .with_column(key.alias("start_ms"))
            .group_by([col("start_ms")])
            .agg([
                col("value").mean().alias("mean"),
                col("value").min().alias("min"),
                col("value").max().alias("max"),
                col("value").count().cast(DataType::Int64).alias("count"),
            ])
            .with_column((col("start_ms") + lit(span)).alias("end_ms"))
            .sort(["start_ms"], Default::default())
            .select([
                col("start_ms"),
                col("end_ms"),
                col("mean"),
                col("min"),
                col("max"),
                col("count"),
            ])
            .collect()
    };
    match run() {
        Ok(df) => Response {
            status: 200,
            body: json!({"Datastream@iot.id": id, "interval": if daily { "day" } else { "hour" },
                "unitOfMeasurement": se.unit, "value": rows(&df)}),
        },
        Err(e) => Response::error(500, format!("aggregating {id}: {}", first_line(&e))),
    }
}

fn aqi(api: &Api, site: &str, query: &[(String, String)]) -> Response {
    if !api.has_site(site) {
        return Response::error(404, format!("no Things `{site}`"));
    }
    let series: Vec<(&str, &str, &Series)> = api
        .store
        .series
        .iter()
        .filter(|((s, _), _)| s == site)
        .map(|((s, p), se)| (s.as_str(), p.as_str(), se))
        .collect();
    let newest = series
        .iter()
        .filter_map(|x| x.2.t.last())
        .max()
        .copied()
        .unwrap_or(0);
    let (daily, from, to) = match window(query, newest) {
        Ok(w) => w,
        Err(m) => return Response::error(400, m),
    };
    let standard = match param(query, "standard").unwrap_or("vn") {
        "vn" => Standard::Vn,
        "us" => Standard::Us,
        x => return Response::error(400, format!("standard={x}: vn or us")),
    };
    // the AQI frames' `time` (UTC datetime: the hour's end, or the local day's start) in ms
    let t_ms = || col("time").cast(DataType::Int64);
    let run = || -> PolarsResult<DataFrame> {
        if daily {
            // whole local days around the window (24-h means, O₃ 8-h runs reach back a day)
            let obs = frame(&series, from - 2 * DAY_MS, to + DAY_MS)?.lazy();
            daily_aqi(obs, standard)
                .filter(
                    t_ms()
                        .gt_eq(lit(local_day_start(local_day(from))))
                        .and(t_ms().lt_eq(lit(local_day_start(local_day(to))))),
                )
                .sort(["time"], Default::default())
                .collect()
        } else {
            // the NowCast looks back 11 hours
            let obs = frame(&series, from - 12 * HOUR_MS, to)?.lazy();
            hourly_aqi(obs, standard)
                .filter(t_ms().gt(lit(from)).and(t_ms().lt_eq(lit(to))))
                .sort(["time"], Default::default())
                .collect()
        }
    };
    match run() {
        Ok(df) => Response {
            status: 200,
            body: json!({"Thing@iot.id": site, "interval": if daily { "day" } else { "hour" },
                "standard": if standard == Standard::Vn { "VN_AQI (Decision 1459/QĐ-TCMT)" } else { "US EPA AQI (2024)" },
                "value": rows(&df)}),
        },
        Err(e) => Response::error(500, format!("AQI of {site}: {}", first_line(&e))),
    }
}
