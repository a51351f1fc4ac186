//! Observation readers: unit normalisation, long and wide CSV with errors naming file, row
//! and column, and the lake (append-only, first accepted wins).

use super::*;

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
    let p: Vec<String> = strings(&df, "parameter").expect("column");
    assert_eq!(p, ["PM2.5", "SO2", "SO2"]);
    let v = df.column("value").expect("col").f64().expect("f64").clone();
    assert!(
        (v.get(1).expect("so2") - 262.0286).abs() < 1e-3,
        "ppb converted"
    );
    assert_eq!(strings(&df, "status").expect("column")[2], "calibrating");

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
}

#[test]
fn lake_appends_never_rewrite_and_first_accepted_wins() {
    use twin_engine::telemetry::lake;
    let dir = tmp("lake");
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
    let partition = dir.join("parameter=PM2.5/date=2026-01-02");
    let names: Vec<String> = std::fs::read_dir(&partition)
        .expect("partition")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.len() == 1 && names[0].starts_with("part-") && names[0].ends_with(".parquet"),
        "{names:?}"
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
    let back = lake::read(&dir).expect("read back").frame;
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
    let s = strings(&back, "station_id").expect("column");
    let p = strings(&back, "parameter").expect("column");
    for i in 0..back.height() {
        let h = (t.get(i).expect("t") - T0) / HOUR;
        if s[i] == "st-1" && p[i] == "PM2.5" {
            let want = if h < 48 { 10.0 + h as f64 } else { 999.0 };
            assert_eq!(v.get(i), Some(want), "hour {h}");
        }
    }
    // every analysis reads a lake directory as input
    let obs = twin_engine::telemetry::read_any(&dir)
        .expect("lake as input")
        .frame;
    assert_eq!(obs.height(), 202);
}

/// An AirNow hourly file is read by the ordinary reader (local time UTC+7, each hour stamped at
/// its end), and the polars US pipeline (2012 table) reproduces, hour by hour, published columns
/// that the value-by-value reference functions computed from the same raw values (NowCast
/// truncated to 0.1 µg/m³ as the publisher's column is) — across missing, −999 and invalid
/// hours. Stamping hours by their start, or binning a reading stamped on the hour into the next
/// hour, shifts every NowCast window and fails this.
#[test]
fn an_airnow_file_goes_through_the_pipeline_as_its_publisher_computes() {
    use twin_engine::telemetry::airnow::{compare, read_rows};
    use twin_engine::telemetry::aqi::{UsEdition, us_aqi_edition, us_truncate};
    let path = tmp("airnow.csv");
    let mut f = std::fs::File::create(&path).expect("create");
    writeln!(f, "Site,Parameter,Date (LT),Year,Month,Day,Hour,NowCast Conc.,AQI,AQI Category,Raw Conc.,Conc. Unit,Duration,QC Name").expect("write");
    let mut rng = StdRng::seed_from_u64(11);
    let mut level: f64 = 40.0;
    let mut raw: Vec<Option<f64>> = Vec::new();
    for h in 0..72usize {
        level = (level * rng.random_range(0.7..1.4)).clamp(2.0, 400.0);
        // 0.1 µg/m³ as in the files; a few missing and invalid hours
        let v = (level * 10.0).round() / 10.0;
        let (value, qc) = match h {
            20 | 21 => (None, "Missing"),
            40 => (Some(v), "Invalid"),
            _ => (Some(v), "Valid"),
        };
        raw.push(value.filter(|_| qc == "Valid"));
        let window: [Option<f64>; 12] =
            std::array::from_fn(|k| if k <= h { raw[h - k] } else { None });
        let nowcast = us_nowcast(&window).map(|c| us_truncate(AqiParameter::Pm25, c));
        let aqi = nowcast.and_then(|c| us_aqi_edition(AqiParameter::Pm25, c, UsEdition::Y2012));
        let (d, hh) = (1 + h / 24, h % 24);
        writeln!(
            f,
            "Hanoi,PM2.5 - Principal,2017-01-{d:02} {hh:02}:00,2017,01,{d:02},{hh:02},{},{},x,{},UG/M3,1 Hr,{qc}",
            nowcast.map_or("-999".into(), |v| format!("{v:.1}")),
            aqi.map_or(-999, |v| v),
            value.map_or("-999".into(), |v| format!("{v:.1}")),
        )
        .expect("write");
    }
    drop(f);
    let obs = observations::read(&path).expect("an AirNow file reads");
    assert_eq!(obs.height(), 70, "72 rows less the two missing ones");
    let df = hourly_aqi(obs.lazy(), Standard::Us2012)
        .collect()
        .expect("pipeline");
    let times = i64s(&df, "time").expect("column");
    let aqi = i64s(&df, "aqi").expect("column");
    let twin: HashMap<i64, i64> = times
        .iter()
        .zip(aqi.iter())
        .filter_map(|(t, a)| Some(((*t)?, (*a)?)))
        .collect();
    let rows = read_rows(&path, 7).expect("rows");
    // 01:00–02:00 local on 1 January 2017 ends at 19:00 UTC the day before
    let end = chrono::DateTime::parse_from_rfc3339("2016-12-31T19:00:00Z")
        .expect("time")
        .timestamp_millis();
    assert_eq!(rows[1].hour_end_ms, end);
    let c = compare(&rows, &twin);
    assert!(c.published >= 60, "{c:?}");
    assert_eq!(c.lookup_agree, c.published, "{c:?}");
    assert_eq!(
        (c.both, c.pipeline_agree, c.twin_missing),
        (c.published, c.published, 0),
        "{c:?}"
    );
}
