//! The AQI pipelines (polars) against the value-by-value reference rules, exceedances against
//! the named edition, and model evaluation statistics.

use super::*;

#[test]
fn polars_hourly_aqi_matches_the_reference_rules() {
    for seed in [1, 2] {
        let readings = random_readings(seed);
        let df = vn_hourly_aqi(frame(&readings).lazy())
            .collect()
            .expect("pipeline");
        // reference: hourly means of measuring readings, the hour ending at H holding the
        // readings stamped in (H − 1 h, H]
        let mut sums: HashMap<(String, &str, i64), (f64, u32)> = HashMap::new();
        for (s, p, t, v, st) in &readings {
            if *st == "measuring" {
                let e = sums
                    .entry((s.clone(), *p, (t - 1) / HOUR * HOUR + HOUR))
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

type Means = HashMap<(String, &'static str, i64), f64>;

/// Hourly means (hour-ending) of the measuring readings.
fn reference_means(readings: &[(String, &'static str, i64, f64, &'static str)]) -> Means {
    let mut sums: HashMap<(String, &'static str, i64), (f64, u32)> = HashMap::new();
    for (s, p, t, v, st) in readings {
        if *st == "measuring" {
            let e = sums
                .entry((s.clone(), *p, (t - 1) / HOUR * HOUR + HOUR))
                .or_insert((0.0, 0));
            e.0 += v;
            e.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(k, (a, n))| (k, a / f64::from(n)))
        .collect()
}

#[test]
fn polars_daily_aqi_matches_the_reference_rules() {
    let readings = random_readings_hours(5, 24 * 5);
    let means = reference_means(&readings);
    let df = daily_aqi(frame(&readings).lazy(), Standard::Vn)
        .collect()
        .expect("pipeline");
    let ids = strings(&df, "station_id").expect("column");
    let starts = i64s(&df, "time").expect("column");
    let aqi = i64s(&df, "aqi").expect("column");
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
    let ids = strings(&df, "station_id").expect("column");
    let times = i64s(&df, "time").expect("column");
    let aqi = i64s(&df, "aqi").expect("column");
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
