//! Telemetry: the polars hourly VN_AQI pipeline against the value-by-value reference functions
//! on seeded random series with gaps and non-measuring statuses; unit normalisation; readers'
//! errors naming file, row and column.

use std::collections::HashMap;
use std::io::Write;

use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use twin_engine::telemetry::aqi::{
    AqiParameter, DayInputs, HourInputs, us_aqi, us_nowcast, vn_daily, vn_hourly,
};
use twin_engine::telemetry::daily::daily_aqi;
use twin_engine::telemetry::hourly::{Standard, hourly_aqi, vn_hourly_aqi};
use twin_engine::telemetry::observations::{self, ObservationError, to_canonical};

const HOUR: i64 = 3_600_000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("qn-twin-telemetry-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("tmp dir");
    d.join(name)
}

/// Seeded readings: 3 stations × 60 hours, PM2.5, PM10, SO2, NO2, CO, O3, one or two readings
/// per hour, about 15 % of hours missing per parameter, 5 % calibrating.
fn random_readings(seed: u64) -> Vec<(String, &'static str, i64, f64, &'static str)> {
    random_readings_hours(seed, 60)
}

fn random_readings_hours(
    seed: u64,
    hours: i64,
) -> Vec<(String, &'static str, i64, f64, &'static str)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ranges = [
        ("PM2.5", 0.0, 300.0),
        ("PM10", 0.0, 450.0),
        ("SO2", 0.0, 900.0),
        ("NO2", 0.0, 900.0),
        ("CO", 0.0, 70_000.0),
        ("O3", 0.0, 500.0),
    ];
    let mut out = Vec::new();
    for s in 0..3 {
        for (p, lo, hi) in ranges {
            let mut level: f64 = rng.random_range(lo..hi);
            for h in 0..hours {
                level = (level * rng.random_range(0.6..1.5)).clamp(lo, hi);
                if rng.random_bool(0.15) {
                    continue;
                }
                let n = if rng.random_bool(0.3) { 2 } else { 1 };
                for k in 0..n {
                    let status = if rng.random_bool(0.05) {
                        "calibrating"
                    } else {
                        "measuring"
                    };
                    let t = T0 + h * HOUR + (10 + 30 * k) * 60_000;
                    out.push((
                        format!("st-{s}"),
                        p,
                        t,
                        level * rng.random_range(0.9..1.1),
                        status,
                    ));
                }
            }
        }
    }
    out
}

fn frame(readings: &[(String, &'static str, i64, f64, &'static str)]) -> DataFrame {
    DataFrame::new_infer_height(vec![
        Column::new(
            "station_id".into(),
            readings.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "parameter".into(),
            readings.iter().map(|r| r.1).collect::<Vec<_>>(),
        ),
        Column::new(
            "time_ms".into(),
            readings.iter().map(|r| r.2).collect::<Vec<_>>(),
        ),
        Column::new(
            "value".into(),
            readings.iter().map(|r| r.3).collect::<Vec<_>>(),
        ),
        Column::new("unit".into(), vec!["µg/m³"; readings.len()]),
        Column::new(
            "status".into(),
            readings.iter().map(|r| r.4).collect::<Vec<_>>(),
        ),
    ])
    .expect("frame")
}

#[test]
fn polars_hourly_aqi_matches_the_reference_rules() {
    for seed in [1, 2] {
        let readings = random_readings(seed);
        let df = vn_hourly_aqi(frame(&readings).lazy())
            .collect()
            .expect("pipeline");
        // reference: hourly means (hour-ending) of measuring readings
        let mut sums: HashMap<(String, &str, i64), (f64, u32)> = HashMap::new();
        for (s, p, t, v, st) in &readings {
            if *st == "measuring" {
                let e = sums
                    .entry((s.clone(), *p, t / HOUR * HOUR + HOUR))
                    .or_insert((0.0, 0));
                e.0 += v;
                e.1 += 1;
            }
        }
        let mean = |s: &str, p: &str, h: i64| {
            sums.get(&(s.to_string(), p, h))
                .map(|(a, n)| a / f64::from(*n))
        };
        let ids = df
            .column("station_id")
            .expect("col")
            .str()
            .expect("str")
            .clone();
        let times = df
            .column("time")
            .expect("col")
            .cast(&DataType::Int64)
            .expect("cast");
        let times = times.i64().expect("i64").clone();
        let aqi = df.column("aqi").expect("col").i64().expect("i64").clone();
        let dom = df
            .column("dominant")
            .expect("col")
            .str()
            .expect("str")
            .clone();
        let si_pm25 = df
            .column("si_PM25")
            .expect("col")
            .f64()
            .expect("f64")
            .clone();
        let mut checked = 0;
        let mut with_aqi = 0;
        for i in 0..df.height() {
            let (s, h) = (ids.get(i).expect("id"), times.get(i).expect("time"));
            let pm = |p: &str| std::array::from_fn(|k| mean(s, p, h - k as i64 * HOUR));
            let inputs = HourInputs {
                o3: mean(s, "O3", h),
                co: mean(s, "CO", h),
                so2: mean(s, "SO2", h),
                no2: mean(s, "NO2", h),
                pm10: pm("PM10"),
                pm25: pm("PM2.5"),
            };
            let reference = vn_hourly(&inputs);
            assert_eq!(
                aqi.get(i),
                reference.as_ref().map(|r| r.aqi),
                "{s} at {h}: polars {:?} vs reference {reference:?}",
                aqi.get(i)
            );
            if let Some(r) = &reference {
                with_aqi += 1;
                let name = match r.dominant {
                    AqiParameter::Pm25 => "PM2.5",
                    p => p.name(),
                };
                assert_eq!(dom.get(i), Some(name), "{s} at {h}");
                let want = r
                    .sub_indices
                    .iter()
                    .find(|(p, _)| *p == AqiParameter::Pm25)
                    .map(|(_, v)| *v);
                match (si_pm25.get(i), want) {
                    (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "{a} vs {b}"),
                    (a, b) => assert_eq!(a.is_some(), b.is_some()),
                }
            }
            checked += 1;
        }
        eprintln!("seed {seed}: {checked} station-hours, {with_aqi} with an AQI");
        assert!(checked > 150 && with_aqi > 100);
    }
}

#[test]
fn units_normalise_to_micrograms() {
    // SO2: 1 ppb = 64.066 / 24.45 µg/m³
    let (f, u) = to_canonical("SO2", "ppb").expect("known");
    assert!((f - 2.620_286).abs() < 1e-6 && u == "µg/m³");
    assert_eq!(to_canonical("CO", "mg/m³"), Some((1000.0, "µg/m³")));
    assert_eq!(to_canonical("CH4", "ppm"), Some((1e-4, "%")));
    assert_eq!(to_canonical("PM2.5", "ppm"), None, "no molar mass for PM");
    assert_eq!(to_canonical("SO2", "furlongs"), None);
}

#[test]
fn csv_reader_normalises_and_names_the_bad_row() {
    let good = tmp("good.csv");
    let mut f = std::fs::File::create(&good).expect("create");
    writeln!(f, "station_id,parameter,time,value,unit,status").expect("write");
    writeln!(f, "st-1,SO2,2026-01-15T08:00:00+07:00,100,ppb,measuring").expect("write");
    writeln!(f, "st-1,CO,2026-01-15T08:00:00+07:00,2.5,mg/m3,measuring").expect("write");
    writeln!(f, "st-1,PM2.5,2026-01-15T01:00:00Z,42,µg/m³,calibrating").expect("write");
    drop(f);
    let df = observations::read(&good).expect("valid file");
    let v = df.column("value").expect("col").f64().expect("f64").clone();
    assert!((v.get(0).expect("v") - 262.0286).abs() < 1e-3);
    assert_eq!(v.get(1), Some(2500.0));
    let t = df
        .column("time_ms")
        .expect("col")
        .i64()
        .expect("i64")
        .clone();
    assert_eq!(t.get(0), Some(1_768_438_800_000)); // 01:00 UTC
    assert_eq!(t.get(0), t.get(2));

    let bad = tmp("bad.csv");
    let mut f = std::fs::File::create(&bad).expect("create");
    writeln!(f, "station_id,parameter,time,value,unit,status").expect("write");
    writeln!(f, "st-1,SO2,2026-01-15T08:00:00+07:00,100,ppb,measuring").expect("write");
    writeln!(f, "st-1,NO2,2026-01-15T08:00:00+07:00,30,parts,measuring").expect("write");
    drop(f);
    let e = observations::read(&bad).expect_err("unknown unit");
    assert!(matches!(e, ObservationError::Row { row: 2, .. }), "{e}");
    assert!(
        e.to_string().ends_with(
            "bad.csv: row 2: column `unit`: unit \"parts\" is unknown for parameter \"NO2\""
        ),
        "{e}"
    );

    let mut f = std::fs::File::create(&bad).expect("create");
    writeln!(f, "station_id,parameter,time,value,unit,status").expect("write");
    writeln!(f, "st-1,SO2,15/01/2026 08:00,100,ppb,measuring").expect("write");
    drop(f);
    let e = observations::read(&bad).expect_err("bad time").to_string();
    assert!(e.contains("row 1: column `time`"), "{e}");

    let mut f = std::fs::File::create(&bad).expect("create");
    writeln!(f, "station_id,parameter,time,value,unit,status").expect("write");
    writeln!(f, "st-1,SO2,2026-01-15T08:00:00+07:00,abc,ppb,measuring").expect("write");
    writeln!(f, "st-1,SO2,2026-01-15T08:00:00+07:00,1,ppb,broken").expect("write");
    drop(f);
    let e = observations::read(&bad).expect_err("bad value").to_string();
    assert!(
        e.contains("row 1: column `value`: abc is not a number")
            || e.contains("row 1: column `value`"),
        "{e}"
    );
    std::fs::remove_file(&good).ok();
    std::fs::remove_file(&bad).ok();
}

type Means = HashMap<(String, &'static str, i64), f64>;

/// Hourly means (hour-ending) of the measuring readings.
fn reference_means(readings: &[(String, &'static str, i64, f64, &'static str)]) -> Means {
    let mut sums: HashMap<(String, &'static str, i64), (f64, u32)> = HashMap::new();
    for (s, p, t, v, st) in readings {
        if *st == "measuring" {
            let e = sums
                .entry((s.clone(), *p, t / HOUR * HOUR + HOUR))
                .or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(k, (a, n))| (k, a / f64::from(n)))
        .collect()
}

fn column_strings(df: &DataFrame, name: &str) -> Vec<String> {
    df.column(name)
        .expect("col")
        .str()
        .expect("str")
        .iter()
        .map(|s| s.expect("value").to_string())
        .collect()
}

fn column_i64(df: &DataFrame, name: &str) -> Vec<Option<i64>> {
    let c = df
        .column(name)
        .expect("col")
        .cast(&DataType::Int64)
        .expect("cast");
    c.i64().expect("i64").iter().collect()
}

#[test]
fn polars_daily_aqi_matches_the_reference_rules() {
    let readings = random_readings_hours(5, 24 * 5);
    let means = reference_means(&readings);
    let df = daily_aqi(frame(&readings).lazy(), Standard::Vn)
        .collect()
        .expect("pipeline");
    let ids = column_strings(&df, "station_id");
    let starts = column_i64(&df, "time");
    let aqi = column_i64(&df, "aqi");
    let local = 7 * HOUR;
    let mut with_aqi = 0;
    for i in 0..df.height() {
        let (s, start) = (ids[i].as_str(), starts[i].expect("time"));
        // the day's hour-ending means: start + 1 h … start + 24 h
        let hours: Vec<i64> = (1..=24).map(|k| start + k * HOUR).collect();
        let day_vals = |p: &'static str| -> Vec<f64> {
            hours
                .iter()
                .filter_map(|h| means.get(&(s.to_string(), p, *h)).copied())
                .collect()
        };
        let max = |p| day_vals(p).into_iter().reduce(f64::max);
        let mean24 = |p| {
            let v = day_vals(p);
            (v.len() >= 18).then(|| v.iter().sum::<f64>() / v.len() as f64)
        };
        let run8 = hours
            .iter()
            .filter(|h| means.contains_key(&(s.to_string(), "O3", **h)))
            .filter_map(|h| {
                let w: Vec<f64> = (0..8)
                    .filter_map(|k| means.get(&(s.to_string(), "O3", h - k * HOUR)).copied())
                    .collect();
                (w.len() >= 6).then(|| w.iter().sum::<f64>() / w.len() as f64)
            })
            .reduce(f64::max);
        let reference = vn_daily(&DayInputs {
            o3_max_1h: max("O3"),
            o3_max_8h: run8,
            co_max_1h: max("CO"),
            so2_max_1h: max("SO2"),
            no2_max_1h: max("NO2"),
            pm10_24h: mean24("PM10"),
            pm25_24h: mean24("PM2.5"),
        });
        assert_eq!(
            aqi[i],
            reference.as_ref().map(|r| r.aqi),
            "{s} day from {start} ({}): {reference:?}",
            start + local
        );
        with_aqi += usize::from(reference.is_some());
    }
    eprintln!("{} station-days, {with_aqi} with an AQI", df.height());
    assert!(df.height() >= 15 && with_aqi >= 5);
}

#[test]
fn polars_us_hourly_aqi_matches_the_reference() {
    let readings = random_readings(9);
    let means = reference_means(&readings);
    let df = hourly_aqi(frame(&readings).lazy(), Standard::Us)
        .collect()
        .expect("pipeline");
    let ids = column_strings(&df, "station_id");
    let times = column_i64(&df, "time");
    let aqi = column_i64(&df, "aqi");
    let band = df.column("band").expect("col").str().expect("str").clone();
    for i in 0..df.height() {
        let (s, h) = (ids[i].as_str(), times[i].expect("time"));
        let series = |p: &'static str| -> [Option<f64>; 12] {
            std::array::from_fn(|k| means.get(&(s.to_string(), p, h - k as i64 * HOUR)).copied())
        };
        let a = us_nowcast(&series("PM2.5")).and_then(|c| us_aqi(AqiParameter::Pm25, c));
        let b = us_nowcast(&series("PM10")).and_then(|c| us_aqi(AqiParameter::Pm10, c));
        let want = match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        assert_eq!(aqi[i], want, "{s} at {h}");
        if want.is_some_and(|v| v <= 50) {
            assert_eq!(band.get(i), Some("Good"));
        }
    }
}

/// One minute-level PM2.5 series with every kind of fault at a known place.
#[test]
fn qa_rejects_each_fault_with_its_reason_and_reports_gaps() {
    use twin_engine::telemetry::qa::{QaConfig, qa};
    let mut rows: Vec<(String, &'static str, i64, f64, &'static str)> = Vec::new();
    let minute = 60_000;
    for m in 0..300i64 {
        if (100..110).contains(&m) {
            continue; // a 10-minute dropout: one gap of 11 min between readings
        }
        let mut v = 30.0 + (m % 7) as f64; // varies every minute
        let mut status = "measuring";
        if m == 50 {
            v = 400.0; // spike: > 4× neighbours and > 50 above them
        }
        if m == 60 {
            v = -5.0; // below the plausible range
        }
        if (200..240).contains(&m) {
            v = 33.3; // stuck for 40 readings (≥ 30)
        }
        if (250..255).contains(&m) {
            status = "calibrating";
        }
        rows.push(("st-1".into(), "PM2.5", T0 + m * minute, v, status));
    }
    // a second parameter without range or spike settings is only status/stuck-checked
    rows.push(("st-1".into(), "humidity", T0, 250.0, "measuring"));
    let n = rows.len();
    let r = qa(frame(&rows).lazy(), &QaConfig::default()).expect("plan");
    let accepted = r.accepted.collect().expect("accepted");
    let rejected = r.rejected.collect().expect("rejected");
    let gaps = r.gaps.collect().expect("gaps");
    assert_eq!(accepted.height() + rejected.height(), n, "nothing dropped");
    let reasons: Vec<(i64, String)> = {
        let t = rejected
            .column("time_ms")
            .expect("col")
            .i64()
            .expect("i64")
            .clone();
        let why = rejected
            .column("reason")
            .expect("col")
            .str()
            .expect("str")
            .clone();
        t.iter()
            .zip(why.iter())
            .map(|(t, w)| {
                (
                    (t.expect("t") - T0) / minute,
                    w.expect("reason").to_string(),
                )
            })
            .collect()
    };
    let count = |w: &str| reasons.iter().filter(|(_, r)| r == w).count();
    assert_eq!(count("spike"), 1);
    assert!(reasons.contains(&(50, "spike".into())));
    assert_eq!(count("range"), 1);
    assert!(reasons.contains(&(60, "range".into())));
    assert_eq!(count("stuck"), 40);
    assert_eq!(count("status calibrating"), 5);
    assert_eq!(rejected.height(), 47);
    assert_eq!(gaps.height(), 1);
    let g = gaps
        .column("gap_s")
        .expect("col")
        .f64()
        .expect("f64")
        .get(0);
    assert_eq!(g, Some(660.0));
}

/// A methane excursion: 0.6 % background, 12 minutes at or above 1.0 % with 3 of them at or
/// above 1.5 %, a second short excursion; a slow-air spell.
#[test]
fn mine_gas_alarms_find_events_with_peaks_and_rules() {
    use twin_engine::telemetry::alarms::{alarms, default_levels};
    let minute = 60_000;
    let start = T0 + 2 * HOUR; // 09:00 local, in the 06:00 shift
    let mut rows: Vec<(String, &'static str, i64, f64, &'static str)> = Vec::new();
    for m in 0..120i64 {
        let ch4 = match m {
            20..=31 => {
                if (25..=27).contains(&m) {
                    1.5 + 0.05 * (m - 25) as f64
                } else {
                    1.1
                }
            }
            70..=71 => 1.0,
            _ => 0.6,
        };
        rows.push((
            "mine-khe-cham".into(),
            "CH4",
            start + m * minute,
            ch4,
            "measuring",
        ));
        let v = if (40..45).contains(&m) { 0.2 } else { 0.8 };
        rows.push((
            "mine-khe-cham".into(),
            "air_velocity",
            start + m * minute,
            v,
            "measuring",
        ));
    }
    // a calibration reading above 1.5 % does not alarm
    rows.push((
        "mine-khe-cham".into(),
        "CH4",
        start + 200 * minute,
        2.0,
        "calibrating",
    ));
    let a = alarms(frame(&rows).lazy(), &default_levels(), 60.0).expect("plan");
    let ev = a.events.collect().expect("events");
    let name = ev.column("alarm").expect("col").str().expect("str").clone();
    let start_ms = ev
        .column("start_ms")
        .expect("col")
        .i64()
        .expect("i64")
        .clone();
    let end_ms = ev
        .column("end_ms")
        .expect("col")
        .i64()
        .expect("i64")
        .clone();
    let peak = ev.column("peak").expect("col").f64().expect("f64").clone();
    let peak_ms = ev
        .column("peak_ms")
        .expect("col")
        .i64()
        .expect("i64")
        .clone();
    let rule = ev.column("rule").expect("col").str().expect("str").clone();
    let got: Vec<(String, i64, i64, f64, i64)> = (0..ev.height())
        .map(|i| {
            (
                name.get(i).expect("name").to_string(),
                (start_ms.get(i).expect("s") - start) / minute,
                (end_ms.get(i).expect("e") - start) / minute,
                peak.get(i).expect("p"),
                (peak_ms.get(i).expect("t") - start) / minute,
            )
        })
        .collect();
    eprintln!("{got:?}");
    assert_eq!(got.len(), 4);
    assert!(got.contains(&("CH4 >= 1.0 %".into(), 20, 31, 1.6, 27)));
    assert!(got.contains(&("CH4 >= 1.5 %".into(), 25, 27, 1.6, 27)));
    assert!(got.contains(&("CH4 >= 1.0 %".into(), 70, 71, 1.0, 70)));
    assert!(got.contains(&("air velocity < 0.25 m/s".into(), 40, 44, 0.2, 40)));
    assert!(
        rule.iter()
            .flatten()
            .any(|r| r.starts_with("30 CFR 75.323(b)(2)"))
    );
    assert!(
        rule.iter()
            .flatten()
            .any(|r| r.starts_with("QCVN 01:2011/BCT"))
    );
    // time beyond each level in the shift that started at 06:00 local (23:00 UTC the day before)
    let ps = a.per_shift.collect().expect("per shift");
    let shift = ps
        .column("shift_start_ms")
        .expect("col")
        .i64()
        .expect("i64")
        .clone();
    let mins = ps
        .column("minutes_beyond")
        .expect("col")
        .f64()
        .expect("f64")
        .clone();
    let al = ps.column("alarm").expect("col").str().expect("str").clone();
    for i in 0..ps.height() {
        assert_eq!(
            shift.get(i),
            Some(T0 - HOUR),
            "one shift, starting 23:00 UTC"
        );
        let want = match al.get(i).expect("alarm") {
            "CH4 >= 1.0 %" => 14.0,
            "CH4 >= 1.5 %" => 3.0,
            "air velocity < 0.25 m/s" => 5.0,
            other => panic!("unexpected {other}"),
        };
        assert_eq!(mins.get(i), Some(want));
    }
}

/// SO₂ at one station over two local days (from 2026-01-01 00:00 local) and one hour of
/// 2025: three hourly exceedances of 350, one daily of 125, and two calendar years.
#[test]
fn exceedances_count_periods_against_the_named_edition() {
    use twin_engine::telemetry::exceedance::{LimitTable, exceedances};
    let local_midnight = T0 - 7 * HOUR;
    let mut rows: Vec<(String, &'static str, i64, f64, &'static str)> = Vec::new();
    for h in 0..48i64 {
        let v = if (8..11).contains(&h) { 400.0 } else { 100.0 };
        rows.push((
            "st-1".into(),
            "SO2",
            local_midnight + h * HOUR + 30 * 60_000,
            v,
            "measuring",
        ));
    }
    // 2025-12-31 23:30 local
    rows.push((
        "st-1".into(),
        "SO2",
        local_midnight - 30 * 60_000,
        20.0,
        "measuring",
    ));
    let df = exceedances(frame(&rows).lazy(), &LimitTable::default())
        .expect("plan")
        .collect()
        .expect("run");
    let get = |period: &str| {
        let p = df
            .column("period")
            .expect("col")
            .str()
            .expect("str")
            .clone();
        let i = (0..df.height())
            .find(|&i| {
                p.get(i) == Some(period)
                    && df
                        .column("parameter")
                        .expect("col")
                        .str()
                        .expect("str")
                        .get(i)
                        == Some("SO2")
            })
            .expect("row");
        let n = |c: &str| {
            df.column(c)
                .expect("col")
                .cast(&DataType::Float64)
                .expect("cast")
                .f64()
                .expect("f64")
                .get(i)
                .expect("value")
        };
        (n("periods"), n("exceedances"), n("max_ug_m3"))
    };
    assert_eq!(get("1h"), (49.0, 3.0, 400.0));
    // day 1: (21·100 + 3·400)/24 = 137.5 > 125; day 2: 100; 31 Dec has 1 hour (< 18): no mean
    assert_eq!(get("24h"), (2.0, 1.0, 137.5));
    // 2025: 20; 2026: (45·100 + 3·400)/48 = 118.75 > 50
    assert_eq!(get("year"), (2.0, 1.0, 118.75));
    let ed = df
        .column("edition")
        .expect("col")
        .str()
        .expect("str")
        .get(0);
    assert_eq!(ed, Some("QCVN 05:2013/BTNMT"));
}

/// Four hourly pairs with known statistics; a pollutant only simulated and an hour only observed
/// do not pair.
#[test]
fn evaluation_statistics_follow_chang_and_hanna() {
    use twin_engine::telemetry::evaluate::{pairs, statistics};
    let obs_v = [10.0, 20.0, 30.0, 40.0];
    let sim_v = [4.0, 20.0, 60.0, 40.0];
    let mut rows: Vec<(String, &'static str, i64, f64, &'static str)> = Vec::new();
    for (h, v) in obs_v.iter().enumerate() {
        rows.push((
            "st-1".into(),
            "PM10",
            T0 + h as i64 * HOUR + 1_800_000,
            *v,
            "measuring",
        ));
    }
    rows.push((
        "st-1".into(),
        "PM10",
        T0 + 10 * HOUR + 1_800_000,
        99.0,
        "measuring",
    ));
    let mut t = Vec::new();
    let mut v = Vec::new();
    let mut p = Vec::new();
    for (h, c) in sim_v.iter().enumerate() {
        t.push(T0 + (h as i64 + 1) * HOUR); // hour-ending
        v.push(*c as f32);
        p.push("PM10");
    }
    t.push(T0 + HOUR);
    v.push(1.0);
    p.push("SO2");
    let time = Series::new("time".into(), t)
        .cast(&DataType::Datetime(
            TimeUnit::Milliseconds,
            Some(TimeZone::UTC),
        ))
        .expect("cast");
    let sim = DataFrame::new_infer_height(vec![
        Column::new("station_id".into(), vec!["st-1"; p.len()]),
        time.into_column(),
        Column::new("pollutant".into(), p),
        Column::new("concentration_ug_m3".into(), v),
    ])
    .expect("sim");
    let df = statistics(pairs(frame(&rows).lazy(), sim.lazy()))
        .collect()
        .expect("stats");
    assert_eq!(df.height(), 1);
    let g = |c: &str| {
        df.column(c)
            .expect("col")
            .cast(&DataType::Float64)
            .expect("cast")
            .f64()
            .expect("f64")
            .get(0)
            .expect("value")
    };
    let n = 4.0;
    let mo = obs_v.iter().sum::<f64>() / n;
    let mp = sim_v.iter().sum::<f64>() / n;
    assert_eq!(g("pairs"), n);
    assert!((g("fb") - (mo - mp) / (0.5 * (mo + mp))).abs() < 1e-12);
    let mse = obs_v
        .iter()
        .zip(&sim_v)
        .map(|(o, s)| (o - s) * (o - s))
        .sum::<f64>()
        / n;
    assert!((g("nmse") - mse / (mo * mp)).abs() < 1e-12);
    assert!(
        (g("fac2") - 0.75).abs() < 1e-12,
        "30 → 60 is exactly 2: inside"
    );
    let lnr: Vec<f64> = obs_v
        .iter()
        .zip(&sim_v)
        .map(|(o, s)| (o / s).ln())
        .collect();
    let m = lnr.iter().sum::<f64>() / n;
    assert!((g("mg") - m.exp()).abs() < 1e-12);
    let m2 = lnr.iter().map(|x| x * x).sum::<f64>() / n;
    assert!((g("vg") - m2.exp()).abs() < 1e-12);
    let cov = obs_v
        .iter()
        .zip(&sim_v)
        .map(|(o, s)| (o - mo) * (s - mp))
        .sum::<f64>();
    let so = obs_v.iter().map(|o| (o - mo) * (o - mo)).sum::<f64>();
    let sp = sim_v.iter().map(|s| (s - mp) * (s - mp)).sum::<f64>();
    assert!((g("r") - cov / (so * sp).sqrt()).abs() < 1e-9);
}

#[test]
fn wide_csv_layout_reads_like_the_long_one() {
    let path = tmp("wide.csv");
    std::fs::write(
        &path,
        "station_id,time,status,PM2.5 [µg/m³],SO2 [ppb]\n\
         st-1,2026-01-15T08:00:00+07:00,measuring,42,100\n\
         st-1,2026-01-15T09:00:00+07:00,calibrating,,50\n",
    )
    .expect("write");
    let df = observations::read(&path).expect("valid wide file");
    assert_eq!(df.height(), 3, "the empty PM2.5 cell is no reading");
    let p: Vec<String> = column_strings(&df, "parameter");
    assert_eq!(p, ["PM2.5", "SO2", "SO2"]);
    let v = df.column("value").expect("col").f64().expect("f64").clone();
    assert!(
        (v.get(1).expect("so2") - 262.0286).abs() < 1e-3,
        "ppb converted"
    );
    assert_eq!(column_strings(&df, "status")[2], "calibrating");

    // a unit the parameter cannot take: the data row and the column header are named
    std::fs::write(
        &path,
        "station_id,time,PM2.5 [µg/m³],NO2 [parts]\n\
         st-1,2026-01-15T08:00:00+07:00,42,\n\
         st-1,2026-01-15T09:00:00+07:00,40,7\n",
    )
    .expect("write");
    let e = observations::read(&path).expect_err("bad unit").to_string();
    assert!(
        e.ends_with(
            "wide.csv: row 2: column `NO2 [parts]`: unit \"parts\" is unknown for parameter \"NO2\""
        ),
        "{e}"
    );
    std::fs::write(
        &path,
        "station_id,time,PM2.5\nst-1,2026-01-15T08:00:00+07:00,42\n",
    )
    .expect("write");
    let e = observations::read(&path).expect_err("no unit").to_string();
    assert!(
        e.contains("column `PM2.5`: a wide-layout column must be headed"),
        "{e}"
    );
    std::fs::remove_file(&path).ok();
}

#[test]
fn lake_appends_never_rewrite_and_first_accepted_wins() {
    use twin_engine::telemetry::lake;
    let dir = std::env::temp_dir().join(format!("qn-twin-lake-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // two local days of PM2.5 and SO2 for two stations
    let mut rows: Vec<(String, &'static str, i64, f64, &'static str)> = Vec::new();
    for h in 0..48i64 {
        for s in ["st-1", "st-2"] {
            rows.push((
                s.into(),
                "PM2.5",
                T0 + h * HOUR,
                10.0 + h as f64,
                "measuring",
            ));
            rows.push((s.into(), "SO2", T0 + h * HOUR, 5.0, "measuring"));
        }
    }
    let first = frame(&rows);
    let r = lake::append(&dir, &first).expect("append");
    assert_eq!((r.rows, r.duplicates), (192, 0));
    // T0 is 07:00 local on 1 January: hours 0–16 fall on the 1st, 17–40 on the 2nd, 41–47 on the 3rd
    assert_eq!(r.files.len(), 6, "{:?}", r.files);
    assert!(
        dir.join("parameter=PM2.5/date=2026-01-02/part-000000.parquet")
            .exists()
    );
    let stamp = |p: &std::path::Path| {
        std::fs::metadata(p)
            .expect("meta")
            .modified()
            .expect("mtime")
    };
    let before: Vec<_> = r.files.iter().map(|f| stamp(f)).collect();
    // the same batch again: all duplicates, nothing written
    let again = lake::append(&dir, &first).expect("append");
    assert_eq!(
        (again.rows, again.duplicates, again.files.len()),
        (0, 192, 0)
    );
    // an overlapping batch: 10 new hours, 10 duplicates with other values (first accepted wins)
    let mut more: Vec<(String, &'static str, i64, f64, &'static str)> = Vec::new();
    for h in 38..58i64 {
        more.push(("st-1".into(), "PM2.5", T0 + h * HOUR, 999.0, "measuring"));
    }
    let r2 = lake::append(&dir, &frame(&more)).expect("append");
    assert_eq!((r2.rows, r2.duplicates), (10, 10));
    assert!(
        r2.files.iter().all(|f| !r.files.contains(f)),
        "new part files only"
    );
    let after: Vec<_> = r.files.iter().map(|f| stamp(f)).collect();
    assert_eq!(before, after, "accepted files untouched");
    let back = lake::read(&dir).expect("read back");
    assert_eq!(back.height(), 202);
    let v = back
        .column("value")
        .expect("col")
        .f64()
        .expect("f64")
        .clone();
    let t = back
        .column("time_ms")
        .expect("col")
        .i64()
        .expect("i64")
        .clone();
    let s = column_strings(&back, "station_id");
    let p = column_strings(&back, "parameter");
    for i in 0..back.height() {
        let h = (t.get(i).expect("t") - T0) / HOUR;
        if s[i] == "st-1" && p[i] == "PM2.5" {
            let want = if h < 48 { 10.0 + h as f64 } else { 999.0 };
            assert_eq!(v.get(i), Some(want), "hour {h}");
        }
    }
    // every analysis reads a lake directory as input
    let obs = observations::read(&dir).expect("lake as input");
    assert_eq!(obs.height(), 202);
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------- synthetic telemetry

fn generator(ids: &[&str], seed: u64) -> twin_engine::telemetry::synthetic::Generator {
    use twin_engine::telemetry::{lake, synthetic};
    let ds = twin_engine::dataset::Dataset::load(&twin_engine::bundled_dataset_dir())
        .expect("bundled dataset");
    let sel = synthetic::Selection::Ids(ids.iter().map(|s| s.to_string()).collect());
    let sites = synthetic::sites(&ds.province, &sel).expect("known ids");
    synthetic::Generator::new(
        &ds.province,
        sites,
        lake::day_of("2026-01-10").expect("date"),
        seed,
    )
}

/// The first `days` generated days in one frame, and their faults.
fn generate_days(
    g: &twin_engine::telemetry::synthetic::Generator,
    days: u32,
) -> (DataFrame, Vec<twin_engine::telemetry::synthetic::Fault>) {
    let mut obs = g.day(0).expect("day");
    for d in 1..days {
        let day = g.day(d).expect("day");
        obs.readings.vstack_mut(&day.readings).expect("stack");
        obs.faults.extend(day.faults);
    }
    (obs.readings, obs.faults)
}

/// An air station, a water station and the dataset's first underground mine.
fn some_ids() -> Vec<String> {
    let ds = twin_engine::dataset::Dataset::load(&twin_engine::bundled_dataset_dir())
        .expect("bundled dataset");
    let air = ds
        .province
        .stations
        .iter()
        .find(|s| s.medium == twin_engine::model::Medium::Air)
        .expect("an air station");
    let water = ds
        .province
        .stations
        .iter()
        .find(|s| s.medium == twin_engine::model::Medium::Water)
        .expect("a water station");
    let mine = ds
        .province
        .mines
        .iter()
        .find(|m| m.method == twin_engine::model::MiningMethod::Underground)
        .expect("an underground mine");
    vec![
        air.meta.id.clone(),
        water.meta.id.clone(),
        mine.meta.id.clone(),
    ]
}

#[test]
fn generator_is_deterministic_per_seed_and_readable() {
    let ids = some_ids();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let a = generator(&ids, 7).day(0).expect("day");
    let b = generator(&ids, 7).day(0).expect("day");
    let c = generator(&ids, 8).day(0).expect("day");
    assert!(
        a.readings.equals_missing(&b.readings),
        "same seed, same readings"
    );
    assert!(
        !a.readings.equals_missing(&c.readings),
        "another seed differs"
    );
    assert_eq!(a.faults, b.faults);
    // minute readings for air and mine, 5-minute for water, less the dropouts
    let g = generator(&ids, 7);
    let dropped: i64 = a
        .faults
        .iter()
        .filter(|f| f.kind == twin_engine::telemetry::synthetic::FaultKind::Dropout)
        .map(|f| {
            let site = g.sites.iter().find(|s| s.id == f.station_id).expect("site");
            let step = site.interval_s * 1000;
            (f.end_ms - f.start_ms + step - 1) / step
        })
        .sum();
    let expected = g.readings_per_day() as i64 - dropped;
    assert!(
        (a.readings.height() as i64 - expected).abs() <= 2 * a.faults.len() as i64,
        "{} readings, about {expected} expected",
        a.readings.height()
    );
    // every unit is one the readers accept for its parameter
    let p = column_strings(&a.readings, "parameter");
    let u = column_strings(&a.readings, "unit");
    for (p, u) in p.iter().zip(&u) {
        assert!(to_canonical(p, u).is_some(), "{p} in {u}");
    }
}

#[test]
fn qa_finds_the_faults_the_generator_injected() {
    use twin_engine::telemetry::qa::{QaConfig, qa};
    use twin_engine::telemetry::synthetic::FaultKind;
    let ids = some_ids();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let g = generator(&ids, 3);
    let (obs, faults) = generate_days(&g, 6);
    let r = qa(obs.lazy(), &QaConfig::default()).expect("qa");
    let rejected = r.rejected.collect().expect("rejected");
    let gaps = r.gaps.collect().expect("gaps");
    let rs = column_strings(&rejected, "station_id");
    let rp = column_strings(&rejected, "parameter");
    let rt = column_i64(&rejected, "time_ms");
    let rr = column_strings(&rejected, "reason");
    let reason_at = |s: &str, p: &str, t: i64| {
        (0..rejected.height())
            .find(|&i| rs[i] == s && rp[i] == p && rt[i] == Some(t))
            .map(|i| rr[i].clone())
    };
    let (mut spikes, mut caught_spikes, mut stuck, mut caught_stuck) = (0, 0, 0, 0);
    let mut calibrations = 0;
    for f in &faults {
        match f.kind {
            FaultKind::Spike => {
                spikes += 1;
                if reason_at(&f.station_id, &f.parameter, f.start_ms).is_some() {
                    caught_spikes += 1;
                }
            }
            FaultKind::Stuck => {
                // the middle of a stuck window (dropouts and errors may cover its ends)
                stuck += 1;
                let mid = f.start_ms + (f.end_ms - f.start_ms) / 2;
                let mid = mid - mid.rem_euclid(60_000);
                if reason_at(&f.station_id, &f.parameter, mid).is_some() {
                    caught_stuck += 1;
                }
            }
            FaultKind::Calibration => {
                // readings inside the window are rejected for their status (unless a dropout
                // or an error period overlaps it)
                calibrations += 1;
                let flagged = (0..rejected.height()).any(|i| {
                    rs[i] == f.station_id
                        && rp[i] == f.parameter
                        && rt[i].is_some_and(|t| (f.start_ms..f.end_ms).contains(&t))
                        && rr[i] == "status calibrating"
                });
                let overlapped = faults.iter().any(|d| {
                    matches!(d.kind, FaultKind::Dropout | FaultKind::Error)
                        && d.station_id == f.station_id
                        && d.parameter == f.parameter
                        && d.start_ms < f.end_ms
                        && f.start_ms < d.end_ms
                });
                assert!(
                    flagged || overlapped,
                    "calibration of {} {} at {} not flagged",
                    f.station_id,
                    f.parameter,
                    f.start_ms
                );
            }
            FaultKind::Dropout => {
                // a gap ends at the first reading after the dropout
                let gs = column_strings(&gaps, "station_id");
                let gp = column_strings(&gaps, "parameter");
                let ge = column_i64(&gaps, "gap_end_ms");
                let gs0 = column_i64(&gaps, "gap_start_ms");
                let found = (0..gaps.height()).any(|i| {
                    gs[i] == f.station_id
                        && gp[i] == f.parameter
                        && gs0[i].is_some_and(|s| s < f.start_ms + 1)
                        && ge[i].is_some_and(|e| e >= f.end_ms - 1)
                });
                let at_edge = f.start_ms <= T0_GEN || f.end_ms >= T0_GEN + 6 * 86_400_000;
                assert!(found || at_edge, "dropout not reported as a gap: {f:?}");
            }
            FaultKind::Error => {}
        }
    }
    assert!(
        spikes > 0 && stuck > 0 && calibrations > 0,
        "{spikes} spikes, {stuck} stuck, {calibrations} calibrations"
    );
    assert!(
        caught_spikes * 10 >= spikes * 8,
        "QA caught {caught_spikes} of {spikes} spikes"
    );
    assert_eq!(caught_stuck, stuck, "every stuck window is rejected");
}

/// 2026-01-10 00:00 local, ms UTC.
const T0_GEN: i64 = 1_767_978_000_000;

/// Frame rows as comparable tuples, in frame order.
fn rows_of(df: &DataFrame, cols: &[&str]) -> Vec<String> {
    let cols: Vec<Column> = cols
        .iter()
        .map(|c| {
            df.column(c)
                .expect("column")
                .cast(&DataType::String)
                .expect("cast")
        })
        .collect();
    (0..df.height())
        .map(|i| {
            cols.iter()
                .map(|c| c.str().expect("str").get(i).unwrap_or("∅").to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

/// QA codes stations and parameters as integers (one hashed lookup per reading, codes in
/// lexical order) and sorts on one integer key: the same readings in any order give the same
/// tables in the same order; the per-series hourly means equal the string-keyed ones; a lake
/// spanning more than 2^39 ms (the one-key limit) takes the two-key sort and grouping and still
/// finds each series' stuck run, gap and hourly means.
#[test]
fn qa_results_do_not_depend_on_input_order_or_key_width() {
    use twin_engine::telemetry::hourly::hourly_means;
    use twin_engine::telemetry::qa::{QaConfig, qa};
    let ids = some_ids();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let g = generator(&ids, 11);
    let (obs, _) = generate_days(&g, 2);
    let n = obs.height();
    // a seeded permutation of the rows
    let mut order: Vec<IdxSize> = (0..n as IdxSize).collect();
    let mut rng = StdRng::seed_from_u64(5);
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let shuffled = obs
        .take(&IdxCa::from_vec("i".into(), order))
        .expect("shuffle");
    let cfg = QaConfig::default();
    let a = qa(obs.clone().lazy(), &cfg).expect("qa");
    let b = qa(shuffled.lazy(), &cfg).expect("qa");
    let keys = ["station_id", "parameter", "time_ms", "value", "status"];
    let rej_a = a.rejected.clone().collect().expect("rejected");
    let rej_b = b.rejected.clone().collect().expect("rejected");
    assert!(rej_a.height() > 100, "{} rejected", rej_a.height());
    let with_reason = [keys.as_slice(), &["reason"]].concat();
    assert_eq!(rows_of(&rej_a, &with_reason), rows_of(&rej_b, &with_reason));
    let acc_a = a.accepted.clone().collect().expect("accepted");
    let acc_b = b.accepted.clone().collect().expect("accepted");
    assert_eq!(acc_a.height() + rej_a.height(), n, "nothing dropped");
    assert_eq!(rows_of(&acc_a, &keys), rows_of(&acc_b, &keys));
    // accepted rows come series by series in time order, series in lexical order
    let acc_rows = rows_of(&acc_a, &["station_id", "parameter", "time_ms"]);
    let st = column_strings(&acc_a, "station_id");
    let pa = column_strings(&acc_a, "parameter");
    let tm = column_i64(&acc_a, "time_ms");
    for i in 1..acc_rows.len() {
        let before = (&st[i - 1], &pa[i - 1], tm[i - 1]);
        assert!(before < (&st[i], &pa[i], tm[i]), "row {i} out of order");
    }
    let gap_cols = [
        "station_id",
        "parameter",
        "gap_start_ms",
        "gap_end_ms",
        "gap_s",
    ];
    let gaps_a = a.gaps.clone().collect().expect("gaps");
    assert!(gaps_a.height() > 0);
    assert_eq!(
        rows_of(&gaps_a, &gap_cols),
        rows_of(&b.gaps.clone().collect().expect("gaps"), &gap_cols)
    );
    // hourly means on integer series codes = the string-keyed means of the accepted rows
    let sort = |df: DataFrame| {
        df.lazy()
            .sort(["station_id", "parameter", "hour_ms"], Default::default())
            .collect()
            .expect("sort")
    };
    let means_cols = ["station_id", "parameter", "hour_ms", "mean", "n"];
    let coded = sort(a.hourly_means(i64::MIN, i64::MAX).collect().expect("means"));
    let strings = sort(hourly_means(acc_a.lazy()).collect().expect("means"));
    assert!(coded.height() > 100);
    assert_eq!(rows_of(&coded, &means_cols), rows_of(&strings, &means_cols));
    // a window of hours only
    let first_day = a
        .hourly_means(T0_GEN, T0_GEN + 86_400_000)
        .collect()
        .expect("means");
    assert!(first_day.height() > 0 && first_day.height() < coded.height());
    assert!(
        column_i64(&first_day, "hour_ms")
            .iter()
            .all(|h| h.is_some_and(|h| h > T0_GEN && h <= T0_GEN + 86_400_000))
    );

    // two series 40 years apart: one-key sort impossible, two keys take over
    let minute = 60_000;
    let old = T0 - 40 * 365 * 86_400_000;
    let mut rows: Vec<(String, &'static str, i64, f64, &'static str)> = Vec::new();
    for (sid, start) in [("st-b", T0), ("st-a", old)] {
        for m in 0..120i64 {
            if (60..70).contains(&m) {
                continue; // a 10-minute dropout
            }
            let v = if (20..55).contains(&m) {
                12.5 // stuck for 35 readings
            } else {
                20.0 + (m % 5) as f64
            };
            rows.push((sid.into(), "PM2.5", start + m * minute, v, "measuring"));
        }
    }
    rows.reverse();
    let r = qa(frame(&rows).lazy(), &cfg).expect("qa");
    let coded = sort(r.hourly_means(i64::MIN, i64::MAX).collect().expect("means"));
    let accepted = r.accepted.clone().collect().expect("accepted");
    let strings = sort(hourly_means(accepted.lazy()).collect().expect("means"));
    assert_eq!(coded.height(), 4, "two hours in each of two series");
    assert_eq!(rows_of(&coded, &means_cols), rows_of(&strings, &means_cols));
    let rejected = r.rejected.collect().expect("rejected");
    let gaps = r.gaps.collect().expect("gaps");
    for sid in ["st-a", "st-b"] {
        let stuck = (0..rejected.height())
            .filter(|&i| column_strings(&rejected, "station_id")[i] == sid)
            .count();
        assert_eq!(stuck, 35, "{sid}: the stuck run is rejected");
    }
    assert_eq!(column_strings(&gaps, "station_id"), vec!["st-a", "st-b"]);
    assert_eq!(
        column_i64(&gaps, "gap_end_ms"),
        vec![Some(old + 70 * minute), Some(T0 + 70 * minute)]
    );

    // no readings: three empty tables, no error
    let r = qa(frame(&[]).lazy(), &cfg).expect("qa of nothing");
    assert_eq!(r.accepted.collect().expect("accepted").height(), 0);
    assert_eq!(r.rejected.collect().expect("rejected").height(), 0);
    assert_eq!(r.gaps.collect().expect("gaps").height(), 0);
}

#[test]
fn generated_mine_gas_events_raise_alarms() {
    use twin_engine::telemetry::alarms::{alarms, default_levels};
    let ds = twin_engine::dataset::Dataset::load(&twin_engine::bundled_dataset_dir())
        .expect("bundled dataset");
    let mines: Vec<&str> = ds
        .province
        .mines
        .iter()
        .filter(|m| m.method == twin_engine::model::MiningMethod::Underground)
        .map(|m| m.meta.id.as_str())
        .collect();
    let g = generator(&mines, 11);
    let (obs, _) = generate_days(&g, 10);
    let a = alarms(obs.lazy(), &default_levels(), 60.0).expect("alarms");
    let ev = a.events.collect().expect("events");
    let names = column_strings(&ev, "alarm");
    assert!(names.iter().any(|n| n == "CH4 >= 1.0 %"), "{names:?}");
    assert!(
        names.iter().any(|n| n == "CO >= 50 ppm"),
        "blasting CO: {names:?}"
    );
}

/// A dropout longer than the stream's margin across the boundary between two chunks: the
/// stream still sees the reading before it (its time for the gap, its value for the spike check
/// of the reading after), as one pass over the lake does.
#[test]
fn streaming_sees_across_a_dropout_longer_than_its_margin() {
    use twin_engine::telemetry::hourly::Standard;
    use twin_engine::telemetry::qa::{QaConfig, qa};
    use twin_engine::telemetry::{lake, stream};
    let day_ms = 86_400_000;
    let first = lake::day_of("2026-01-01").expect("date");
    let start = first * day_ms - 7 * HOUR; // local midnight, UTC+7
    let boundary = start + stream::DAYS_PER_CHUNK as i64 * day_ms;
    // the last reading before the dropout lies before the second chunk's margin
    let (gap_from, gap_to) = (boundary - 4 * HOUR, boundary + 2 * HOUR);
    assert!(boundary - gap_from > stream::margin_ms(&QaConfig::default()));
    let mut rows: Vec<(String, &'static str, i64, f64, &'static str)> = Vec::new();
    for m in 0..6 * 1440i64 {
        let t = start + m * 60_000;
        if (gap_from..gap_to).contains(&t) {
            continue;
        }
        // the first reading after the dropout is a spike against its two neighbours
        let v = if t == gap_to {
            400.0
        } else {
            30.0 + (m % 7) as f64
        };
        rows.push(("st-x".into(), "PM2.5", t, v, "measuring"));
    }
    let dir = tmp("stream-dropout-lake");
    let _ = std::fs::remove_dir_all(&dir);
    lake::append(&dir, &frame(&rows)).expect("append");
    let mut gaps: Vec<(i64, i64)> = Vec::new();
    let mut rejected: Vec<(i64, String)> = Vec::new();
    stream::qa_hourly_aqi(&dir, &QaConfig::default(), Standard::Vn, |d| {
        let (s, e) = (
            column_i64(&d.gaps, "gap_start_ms"),
            column_i64(&d.gaps, "gap_end_ms"),
        );
        gaps.extend(
            s.iter()
                .zip(&e)
                .map(|(s, e)| (s.unwrap_or(0), e.unwrap_or(0))),
        );
        let (t, why) = (
            column_i64(&d.rejected, "time_ms"),
            column_strings(&d.rejected, "reason"),
        );
        rejected.extend(t.iter().map(|t| t.unwrap_or(0)).zip(why));
        Ok(())
    })
    .expect("stream");
    assert_eq!(
        gaps,
        vec![(gap_from - 60_000, gap_to)],
        "the dropout is one gap"
    );
    assert_eq!(rejected, vec![(gap_to, "spike".to_string())]);
    // and one pass agrees
    let r = qa(lake::read(&dir).expect("lake").lazy(), &QaConfig::default()).expect("qa");
    let all = r.gaps.collect().expect("gaps");
    assert_eq!(column_i64(&all, "gap_end_ms"), vec![Some(gap_to)]);
    let all = r.rejected.collect().expect("rejected");
    assert_eq!(column_i64(&all, "time_ms"), vec![Some(gap_to)]);
}

/// Six lake days with one missing in the middle: two chunks of the stream (four days, then
/// two), the missing day inside the first.
#[test]
fn streaming_by_day_equals_one_pass_over_the_lake() {
    use twin_engine::telemetry::hourly::Standard;
    use twin_engine::telemetry::qa::{QaConfig, qa};
    use twin_engine::telemetry::{lake, stream};
    let ids = some_ids();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let g = generator(&ids, 5);
    let dir = tmp("stream-lake");
    let _ = std::fs::remove_dir_all(&dir);
    let days = [0, 1, 2, 4, 5, 6];
    assert!(days.len() > stream::DAYS_PER_CHUNK);
    for d in days {
        lake::append(&dir, &g.day(d).expect("day").readings).expect("append");
    }
    let mut seen = Vec::new();
    let mut rejected_s: Option<DataFrame> = None;
    let mut aqi_s: Option<DataFrame> = None;
    let mut gaps_s = 0;
    let totals = stream::qa_hourly_aqi(&dir, &QaConfig::default(), Standard::Vn, |d| {
        for (acc, df) in [(&mut rejected_s, &d.rejected), (&mut aqi_s, &d.aqi)] {
            match acc.as_mut() {
                Some(a) => {
                    a.vstack_mut(df).expect("stack");
                }
                None => *acc = Some(df.clone()),
            }
        }
        gaps_s += d.gaps.height();
        seen.push(d.day);
        Ok(())
    })
    .expect("stream");
    assert_eq!(totals.days, days.len());
    let first = lake::day_of("2026-01-10").expect("date");
    assert_eq!(
        seen,
        days.iter()
            .map(|d| first + i64::from(*d))
            .collect::<Vec<_>>(),
        "days handed over in date order"
    );
    let all = lake::read(&dir).expect("lake");
    assert_eq!(totals.readings, all.height());
    let r = qa(all.lazy(), &QaConfig::default()).expect("qa");
    let sort = |df: DataFrame, keys: &[&str]| {
        df.lazy()
            .sort(
                keys.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                Default::default(),
            )
            .collect()
            .expect("sort")
    };
    let keys = ["station_id", "parameter", "time_ms"];
    let rejected_all = sort(r.rejected.collect().expect("rejected"), &keys);
    let rejected_s = sort(rejected_s.expect("some rejected"), &keys);
    assert!(rejected_all.height() > 0);
    assert!(
        rejected_all.equals_missing(&rejected_s),
        "rejected readings differ"
    );
    assert_eq!(gaps_s, r.gaps.collect().expect("gaps").height());
    let accepted = r.accepted.collect().expect("accepted");
    let aqi_all = sort(
        twin_engine::telemetry::hourly::hourly_aqi(accepted.lazy(), Standard::Vn)
            .collect()
            .expect("aqi"),
        &["station_id", "time"],
    );
    let aqi_s = sort(aqi_s.expect("some aqi"), &["station_id", "time"]);
    assert!(aqi_all.height() > 0);
    assert!(aqi_all.equals_missing(&aqi_s), "hourly AQI differs");
}
