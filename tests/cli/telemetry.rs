//! `twin telemetry`: generate, ingest, stream, aqi, qa, alarms, evaluate, report.

use crate::*;

#[test]
fn telemetry_aqi_writes_hourly_indices() {
    let out = tmp_dir("aqi");
    std::fs::create_dir_all(&out).expect("dir");
    let csv = out.join("obs.csv");
    let mut text = String::from("station_id,parameter,time,value,unit,status\n");
    for h in 0..6 {
        text += &format!(
            "st-1,PM2.5,2026-01-15T{:02}:30:00+07:00,{},µg/m³,measuring\n",
            8 + h,
            20 + 10 * h
        );
        text += &format!(
            "st-1,NO2,2026-01-15T{:02}:30:00+07:00,40,ppb,measuring\n",
            8 + h
        );
    }
    std::fs::write(&csv, text).expect("write");
    let pq = out.join("aqi.parquet");
    let text = twin_ok(&["telemetry", "aqi", "--input", p(&csv), "--out", p(&pq)]);
    // the first hour has no earlier PM hours: NowCast needs two of the last three; the hour
    // after the last reading has none of its own but a NowCast (two of its last three hours)
    assert!(text.contains("7 station-hours, 6 with an AQI"), "{text}");
    let (cols, rows) = parquet_columns(&pq);
    assert_eq!(rows, 7);
    assert_eq!(
        cols[..5],
        ["station_id", "time", "aqi", "dominant", "band"].map(String::from)
    );
    let e = one_line_error(&[
        "telemetry",
        "aqi",
        "--input",
        "/nonexistent.csv",
        "--out",
        "/tmp/x.parquet",
    ]);
    assert!(e.contains("/nonexistent.csv"), "{e}");
    // the same readings through a lake: ingest twice (the second adds nothing), then the AQI
    let lake = out.join("lake");
    let text = twin_ok(&[
        "telemetry",
        "ingest",
        "--input",
        p(&csv),
        "--lake",
        p(&lake),
    ]);
    assert!(
        text.contains("appended  12 readings in 2 new part file(s); 0 duplicate"),
        "{text}"
    );
    let text = twin_ok(&[
        "telemetry",
        "ingest",
        "--input",
        p(&csv),
        "--lake",
        p(&lake),
    ]);
    assert!(
        text.contains("appended  0 readings in 0 new part file(s); 12 duplicate"),
        "{text}"
    );
    let text = twin_ok(&["telemetry", "aqi", "--input", p(&lake), "--out", p(&pq)]);
    assert!(text.contains("7 station-hours, 6 with an AQI"), "{text}");
    // daily and US flavours run on the same file: six hours are too few for a daily PM mean
    let text = twin_ok(&[
        "telemetry",
        "aqi",
        "--input",
        p(&csv),
        "--scale",
        "daily",
        "--out",
        p(&pq),
    ]);
    assert!(text.contains("1 station-days, 0 with an AQI"), "{text}");
    let o = twin(&[
        "telemetry",
        "aqi",
        "--input",
        p(&csv),
        "--standard",
        "us",
        "--out",
        p(&pq),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (cols, _) = parquet_columns(&pq);
    assert_eq!(cols[5..], ["si_PM10", "si_PM25"].map(String::from));
}

#[test]
fn telemetry_qa_and_alarms_write_their_tables() {
    let out = tmp_dir("qa");
    std::fs::create_dir_all(&out).expect("dir");
    let csv = out.join("mine.csv");
    let mut text = String::from("station_id,parameter,time,value,unit,status\n");
    for m in 0..40 {
        let ch4 = if (10..15).contains(&m) {
            12000
        } else {
            5000 + 10 * m
        };
        text += &format!(
            "mine-ha-lam,CH4,2026-01-15T09:{m:02}:00+07:00,{ch4},ppm,{}\n",
            if m == 30 { "error" } else { "measuring" }
        );
    }
    std::fs::write(&csv, text).expect("write");
    let text = twin_ok(&[
        "telemetry",
        "qa",
        "--input",
        p(&csv),
        "--out",
        p(&out.join("qa")),
    ]);
    assert!(
        text.contains("accepted  39") && text.contains("status error: 1"),
        "{text}"
    );
    let (cols, rows) = parquet_columns(&out.join("qa/rejected.parquet"));
    assert_eq!(rows, 1);
    assert_eq!(cols.last().map(String::as_str), Some("reason"));
    let text = twin_ok(&[
        "telemetry",
        "alarms",
        "--input",
        p(&csv),
        "--out",
        p(&out.join("alarms")),
    ]);
    // 12,000 ppm = 1.2 %: one event above 1.0 %, none above 1.5 %
    assert!(
        text.contains("events    1") && text.contains("CH4 >= 1.0 %: 1"),
        "{text}"
    );
    let (_, rows) = parquet_columns(&out.join("alarms/per_shift.parquet"));
    assert_eq!(rows, 1);
    let text = twin_ok(&[
        "telemetry",
        "exceedances",
        "--input",
        p(&csv),
        "--out",
        p(&out.join("exc.parquet")),
    ]);
    // no air pollutants in a methane file: no rows, the edition named
    assert!(
        text.contains("QCVN 05:2013/BTNMT") && text.contains("rows      0"),
        "{text}"
    );
}

#[test]
fn telemetry_evaluate_pairs_a_dispersion_run_with_observations() {
    let out = tmp_dir("evaluate");
    std::fs::create_dir_all(&out).expect("dir");
    // a real 3-hour dispersion run on a 10 km box around one air station
    let ds = twin_engine::dataset::Dataset::load(&bundled()).expect("bundled dataset");
    let st = ds
        .province
        .stations
        .iter()
        .find(|s| s.medium == twin_engine::model::Medium::Air)
        .expect("an air station");
    let (lon, lat) = (st.location.x(), st.location.y());
    let (x, y) = ds.projection.forward(lon, lat);
    let (x0, y0) = ((x / 500.0).round() * 500.0, (y / 500.0).round() * 500.0);
    let scenario = out.join("eval.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"eval\"\nstart = \"2026-01-15T07:00:00+07:00\"\nduration_h = 3\n\
             output_interval_min = 60\npollutants = [\"PM10\"]\nmixing_height_m = 500\n\
             [grid]\nresolution_m = 500\nextent_m = [{}, {}, {}, {}]\n\
             [wind]\nmode = \"uniform\"\nspeed_m_s = 2.0\nfrom_deg = 270\nstability = \"D\"\n\
             [sources]\nplants = false\nopen_pit_mines = false\n\
             [[sources.point]]\nname = \"upwind stack\"\nlon = {}\nlat = {lat}\n\
             emissions = [{{ pollutant = \"PM10\", rate = 100, unit = \"g/s\" }}]\n",
            x0 - 5000.0,
            y0 - 5000.0,
            x0 + 5000.0,
            y0 + 5000.0,
            lon - 0.01,
        ),
    )
    .expect("scenario");
    let sim = out.join("run");
    twin_ok(&[
        "simulate",
        "dispersion",
        "--backend",
        "cpu",
        "--scenario",
        p(&scenario),
        "--out",
        p(&sim),
    ]);
    let csv = out.join("obs.csv");
    std::fs::write(
        &csv,
        format!(
            "station_id,parameter,time,value,unit,status\n\
         {0},PM10,2026-01-15T07:30:00+07:00,45,µg/m³,measuring\n\
         {0},PM10,2026-01-15T08:30:00+07:00,55,µg/m³,measuring\n\
         {0},PM10,2026-01-15T09:30:00+07:00,60,µg/m³,measuring\n",
            st.meta.id
        ),
    )
    .expect("write");
    let res = out.join("eval.parquet");
    let o = twin(&[
        "telemetry",
        "evaluate",
        "--sim",
        p(&sim),
        "--obs",
        p(&csv),
        "--out",
        p(&res),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("evaluated 1 station × pollutant"));
    let (cols, rows) = parquet_columns(&res);
    assert_eq!(rows, 1);
    assert!(cols.iter().any(|c| c == "fac2") && cols.iter().any(|c| c == "r"));
    let e = one_line_error(&[
        "telemetry",
        "evaluate",
        "--sim",
        p(&csv),
        "--obs",
        p(&csv),
        "--out",
        p(&res),
    ]);
    assert!(e.contains("obs.csv"), "{e}");
}

#[test]
fn telemetry_generate_stream_and_report() {
    let lake = tmp_dir("gen-lake");
    let ds = twin_engine::dataset::Dataset::load(&bundled()).expect("bundled dataset");
    let air: Vec<String> = ds
        .province
        .stations
        .iter()
        .filter(|s| s.medium == twin_engine::model::Medium::Air)
        .take(2)
        .map(|s| s.meta.id.clone())
        .collect();
    let mine = ds
        .province
        .mines
        .iter()
        .find(|m| m.method == twin_engine::model::MiningMethod::Underground && m.operating())
        .expect("an underground mine")
        .meta
        .id
        .clone();
    let ids = format!("{},{},{mine}", air[0], air[1]);
    let lake_s = lake.display().to_string();
    let gen_args = [
        "telemetry",
        "generate",
        "--days",
        "3",
        "--start",
        "2026-01-05",
        "--stations",
        &ids,
        "--seed",
        "9",
        "--out",
        &lake_s,
    ];
    let s = twin_ok(&gen_args);
    assert!(s.contains("generated") && s.contains("faults"), "{s}");
    assert!(lake.join("_faults.csv").is_file() && lake.join("_generator.json").is_file());
    // appending the same seed again adds nothing: first accepted wins
    let again = twin_ok(&gen_args);
    assert!(again.contains("generated 0 readings"), "{again}");
    // a station that does not exist is named
    let e = one_line_error(&[
        "telemetry",
        "generate",
        "--days",
        "1",
        "--stations",
        "no-such-station",
        "--out",
        &lake_s,
    ]);
    assert!(e.contains("no-such-station"), "{e}");

    let out = tmp_dir("gen-stream");
    let s = twin_ok(&[
        "telemetry",
        "stream",
        "--input",
        &lake_s,
        "--out",
        &out.display().to_string(),
    ]);
    assert!(s.contains("3 local days"), "{s}");
    for f in ["aqi_hourly.parquet", "rejected.parquet", "gaps.parquet"] {
        assert!(out.join(f).is_file(), "{f}");
    }

    let rep = tmp_dir("gen-report");
    let s = twin_ok(&[
        "telemetry",
        "report",
        "--input",
        &lake_s,
        "--out",
        &rep.display().to_string(),
    ]);
    assert!(s.contains("report.html"), "{s}");
    let md = std::fs::read_to_string(rep.join("report.md")).expect("report.md");
    assert!(
        md.contains("Daily VN_AQI") && md.contains("QCVN 05:2013"),
        "{md}"
    );
    assert!(md.contains(&mine), "alarm table names the mine");
    let html = std::fs::read_to_string(rep.join("report.html")).expect("report.html");
    assert!(html.contains("<table>") && html.contains("aqi_calendar.png"));
    // the plots are real pictures: many colours, not one flat fill
    for png in [
        "aqi_calendar.png",
        "alarms.png",
        &format!("series_{}.png", air[0]),
    ] {
        let path = rep.join(png);
        let dec = ::png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        ));
        let mut reader = dec.read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("png data");
        let px = &buf[..info.buffer_size()];
        let step = info.color_type.samples();
        let distinct: std::collections::HashSet<&[u8]> = px.chunks(step).collect();
        assert!(distinct.len() > 8, "{png}: only {} colours", distinct.len());
    }
}

/// `check-airnow` on a small AirNow file: six hours at 20.0 µg/m³ (NowCast 20.0 from the second
/// hour, AQI 68 in the 2012 table) agree on every hour; a published AQI the table does not give
/// fails the command with a one-line reason.
#[test]
fn check_airnow_proves_the_pipeline_and_refuses_a_wrong_table() {
    let out = tmp_dir("airnow");
    std::fs::create_dir_all(&out).expect("dir");
    let write = |name: &str, aqi: i64| {
        let mut text = String::from(
            "Site,Parameter,Date (LT),Year,Month,Day,Hour,NowCast Conc.,AQI,AQI Category,Raw Conc.,Conc. Unit,Duration,QC Name\n",
        );
        for h in 1..=6 {
            let (nc, a) = if h == 1 {
                ("-999".to_string(), -999)
            } else {
                ("20.0".to_string(), aqi)
            };
            text += &format!(
                "Hanoi,PM2.5 - Principal,2017-03-01 {h:02}:00 AM,2017,03,01,{h:02},{nc},{a},Moderate,20.0,UG/M3,1 Hr,Valid\n"
            );
        }
        let f = out.join(name);
        std::fs::write(&f, text).expect("write");
        f
    };
    let good = write("good.csv", 68);
    let text = twin_ok(&["telemetry", "check-airnow", "--input", p(&good)]);
    assert!(text.contains("on 5/5 hours (100.00 %)"), "{text}");
    assert!(
        text.contains("published AQI on 5/5 hours (100.0 %"),
        "{text}"
    );
    // the same file through `aqi --standard us-2012`: read as an AirNow file directly
    let pq = out.join("aqi.parquet");
    let text = twin_ok(&[
        "telemetry",
        "aqi",
        "--input",
        p(&good),
        "--standard",
        "us-2012",
        "--out",
        p(&pq),
    ]);
    assert!(text.contains("read      6 readings"), "{text}");
    let bad = write("bad.csv", 69);
    let e = one_line_error(&["telemetry", "check-airnow", "--input", p(&bad)]);
    assert!(e.contains("2012 table does not reproduce"), "{e}");
}
