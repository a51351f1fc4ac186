//! Failure behaviour end to end: a lake survives SIGKILL, outputs are whole or absent, outputs
//! that are inputs are refused, scenario values and derived sizes are bounded, flags checked.

use std::process::Command;

use crate::*;

/// A long-layout CSV batch: `hours` hourly readings of PM2.5 and SO2 at station `station`
/// starting 2026-01-01 07:00 local, so every batch spans two local days and four partitions.
fn batch_csv(path: &std::path::Path, station: &str, hours: u32) {
    let mut text = String::from("station_id,parameter,time,value,unit,status\n");
    for h in 0..hours {
        let t = chrono::DateTime::from_timestamp(1_767_225_600 + i64::from(h) * 3600, 0)
            .expect("time")
            .format("%Y-%m-%dT%H:%M:%SZ");
        text += &format!("{station},PM2.5,{t},{},µg/m³,measuring\n", 10 + h % 7);
        text += &format!("{station},SO2,{t},{},µg/m³,measuring\n", 5 + h % 3);
    }
    std::fs::write(path, text).expect("write batch");
}

/// Rows per station in the lake, and the unreadable parts the read skipped.
fn lake_rows(lake: &std::path::Path) -> (std::collections::BTreeMap<String, usize>, usize) {
    let r = twin_engine::telemetry::lake::read(lake).expect("the lake reads");
    let mut per = std::collections::BTreeMap::new();
    for s in r
        .frame
        .column("station_id")
        .expect("station_id")
        .str()
        .expect("str")
        .iter()
        .flatten()
    {
        *per.entry(s.to_string()).or_insert(0) += 1;
    }
    (per, r.skipped.len())
}

#[test]
fn an_ingest_killed_at_random_moments_loses_nothing_acknowledged() {
    let dir = tmp_dir("sigkill");
    let lake = dir.join("lake");
    const HOURS: u32 = 400; // 800 readings over 17 local days and 2 parameters: 34 partitions
    const KILLS: usize = 24;
    let batches: Vec<std::path::PathBuf> = (0..KILLS + 1)
        .map(|i| {
            let f = dir.join(format!("batch-{i}.csv"));
            batch_csv(&f, &format!("b{i:02}"), HOURS);
            f
        })
        .collect();
    let ingest = |f: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_twin"))
            .args(["telemetry", "ingest", "--input", p(f), "--lake", p(&lake)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("twin starts")
    };
    // how long one ingest takes here, to spread the kills over it
    let t0 = std::time::Instant::now();
    let status = ingest(&batches[0]).wait().expect("wait");
    assert!(status.success());
    let full = t0.elapsed();
    let mut acknowledged = vec!["b00".to_string()];
    // a fixed pseudo-random sequence of kill moments in [0, 1.3 × one ingest]
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let (mut whole, mut absent, mut finished) = (0, 0, 0);
    for (i, f) in batches.iter().enumerate().skip(1) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = full.mul_f64((x % 1000) as f64 / 1000.0 * 1.3);
        let mut child = ingest(f);
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().expect("wait");
        let name = format!("b{i:02}");
        if status.success() {
            acknowledged.push(name.clone());
            finished += 1;
        }
        let (per, skipped) = lake_rows(&lake);
        assert_eq!(skipped, 0, "after kill {i}: no unreadable part");
        for a in &acknowledged {
            assert_eq!(
                per.get(a),
                Some(&(2 * HOURS as usize)),
                "after kill {i}: {a}"
            );
        }
        match per.get(&name) {
            None => absent += 1,
            Some(&n) if n == 2 * HOURS as usize => {
                whole += 1;
                if !status.success() {
                    // committed before the kill: it counts from now on
                    acknowledged.push(name.clone());
                }
            }
            Some(n) => panic!("after kill {i}: batch {name} is in the lake by halves ({n} rows)"),
        }
        let extra: Vec<_> = per.keys().filter(|k| !acknowledged.contains(k)).collect();
        assert!(extra.is_empty(), "after kill {i}: {extra:?}");
    }
    // every later append works, and check finds the lake clean after a repair of leftovers
    let next = dir.join("next.csv");
    batch_csv(&next, "next", 10);
    twin_ok(&[
        "telemetry",
        "ingest",
        "--input",
        p(&next),
        "--lake",
        p(&lake),
    ]);
    twin_ok(&["telemetry", "lake", "repair", p(&lake)]);
    let text = twin_ok(&["telemetry", "lake", "check", p(&lake)]);
    assert!(text.contains("unreadable 0"), "{text}");
    eprintln!(
        "{KILLS} kills over {:?} per ingest: {absent} batches absent, {whole} whole ({finished} had finished)",
        full
    );
    assert_eq!(absent + whole, KILLS);
}

#[test]
fn lake_check_and_repair_name_a_garbage_part() {
    let dir = tmp_dir("lake-check");
    let lake = dir.join("lake");
    let csv = dir.join("b.csv");
    batch_csv(&csv, "st-1", 30);
    twin_ok(&[
        "telemetry",
        "ingest",
        "--input",
        p(&csv),
        "--lake",
        p(&lake),
    ]);
    let garbage = lake.join("parameter=PM2.5/date=2026-01-01/part-999999.parquet");
    std::fs::write(&garbage, b"garbage").expect("write");
    // analyses go on without it, and say so on stderr
    let out = dir.join("aqi.parquet");
    let run = twin(&["telemetry", "aqi", "--input", p(&lake), "--out", p(&out)]);
    assert!(run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("1 unreadable part file(s)") && err.contains("part-999999.parquet"),
        "{err}"
    );
    // the next ingest works too
    batch_csv(&csv, "st-2", 30);
    twin_ok(&[
        "telemetry",
        "ingest",
        "--input",
        p(&csv),
        "--lake",
        p(&lake),
    ]);
    let check = twin(&["telemetry", "lake", "check", p(&lake)]);
    assert_eq!(check.status.code(), Some(1));
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(
        text.contains("unreadable 1") && text.contains("part-999999.parquet"),
        "{text}"
    );
    let text = twin_ok(&["telemetry", "lake", "repair", p(&lake)]);
    assert!(text.contains("quarantined 1"), "{text}");
    assert!(garbage.with_extension("parquet.bad").exists());
    twin_ok(&["telemetry", "lake", "check", p(&lake)]);
}

#[test]
fn output_directories_are_whole_or_absent_and_never_an_input() {
    let dir = tmp_dir("outputs");
    let csv = dir.join("obs.csv");
    batch_csv(&csv, "st-1", 48);
    let out = dir.join("qa");
    twin_ok(&["telemetry", "qa", "--input", p(&csv), "--out", p(&out)]);
    // a directory that holds files is refused, before anything is computed, and left as it is
    std::fs::write(out.join("stale.parquet"), b"from an earlier run").expect("write");
    let e = one_line_error(&["telemetry", "qa", "--input", p(&csv), "--out", p(&out)]);
    assert!(
        e.contains("already holds files") && e.contains("--overwrite"),
        "{e}"
    );
    assert!(out.join("stale.parquet").exists());
    // --overwrite replaces it whole: nothing of the earlier directory is left
    twin_ok(&[
        "telemetry",
        "qa",
        "--input",
        p(&csv),
        "--out",
        p(&out),
        "--overwrite",
    ]);
    assert!(!out.join("stale.parquet").exists());
    assert!(out.join("accepted.parquet").is_file());
    // a failed run leaves neither the directory nor a hidden staging sibling
    let failed = dir.join("failed");
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "station_id,parameter,time,value,unit,status\nst,PM2.5,x,1,µg/m³,measuring\n",
    )
    .expect("write");
    one_line_error(&["telemetry", "qa", "--input", p(&bad), "--out", p(&failed)]);
    assert!(!failed.exists());
    let hidden: Vec<_> = std::fs::read_dir(&*dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
    // an output that is an input, holds it or lies inside it is refused before computing
    let e = one_line_error(&["telemetry", "aqi", "--input", p(&csv), "--out", p(&csv)]);
    assert!(e.contains("is the input") && e.contains("same path"), "{e}");
    let before = std::fs::read(&csv).expect("read");
    let e = one_line_error(&[
        "telemetry",
        "qa",
        "--input",
        p(&csv),
        "--out",
        p(&dir),
        "--overwrite",
    ]);
    assert!(e.contains("holds it"), "{e}");
    assert_eq!(
        std::fs::read(&csv).expect("read"),
        before,
        "the input is untouched"
    );
    let lake = dir.join("lake");
    twin_ok(&[
        "telemetry",
        "ingest",
        "--input",
        p(&csv),
        "--lake",
        p(&lake),
    ]);
    let e = one_line_error(&[
        "telemetry",
        "stream",
        "--input",
        p(&lake),
        "--out",
        p(&lake.join("results")),
    ]);
    assert!(e.contains("lies inside it"), "{e}");
    let e = one_line_error(&[
        "telemetry",
        "ingest",
        "--input",
        p(&lake),
        "--lake",
        p(&lake),
    ]);
    assert!(e.contains("is the input"), "{e}");
    let scenario = bundled().join("scenarios/analytic-point-source.toml");
    let e = one_line_error(&[
        "simulate",
        "dispersion",
        "--scenario",
        p(&scenario),
        "--out",
        p(&scenario),
    ]);
    assert!(e.contains("is the input"), "{e}");
    // a file in place of an output directory is refused
    let file = dir.join("notes.txt");
    std::fs::write(&file, "keep me").expect("write");
    let e = one_line_error(&["telemetry", "qa", "--input", p(&csv), "--out", p(&file)]);
    assert!(
        e.contains("is a file; an output directory was expected"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "keep me");
}

/// Writes the bundled `name` scenario with `from` replaced by `to` into `dir`; runs it.
fn run_changed(dir: &std::path::Path, model: &str, name: &str, edits: &[(&str, &str)]) -> String {
    let mut text =
        std::fs::read_to_string(bundled().join("scenarios").join(name)).expect("scenario");
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} in {name}");
        text = text.replacen(from, to, 1);
    }
    let file = dir.join(format!("case-{}.toml", text.len()));
    std::fs::write(&file, &text).expect("write");
    // refused before running: a case that starts computing is killed after a minute and fails
    let mut child = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args([
            "simulate",
            model,
            "--scenario",
            p(&file),
            "--backend",
            "cpu",
            "--out",
        ])
        .arg(dir.join("never"))
        .env_remove("QN_TWIN_DATASET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("twin starts");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("{edits:?}: still running after 60 s, not refused");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut e = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut e).expect("read");
    assert!(!status.success(), "{edits:?} should fail");
    assert_eq!(e.trim_end().lines().count(), 1, "{edits:?}: {e}");
    assert!(!e.contains("panicked"), "{e}");
    assert!(!dir.join("never").exists());
    e
}

#[test]
fn dispersion_scenario_values_are_finite_and_bounded_before_anything_is_sized() {
    let dir = tmp_dir("bounds-dispersion");
    let a = "analytic-point-source.toml";
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[(
                "extent_m = [700000, 2315000, 725000, 2325000]",
                "extent_m = [0, 0, inf, inf]",
            )],
            "key `grid.extent_m[2]`: inf m must be a finite number",
        ),
        (
            &[(
                "extent_m = [700000, 2315000, 725000, 2325000]",
                "extent_m = [0, 0, 1e12, 1e12]",
            )],
            "key `grid.extent_m[2]`",
        ),
        (
            &[("output_interval_min = 60", "output_interval_min = 1e-9")],
            "key `output_interval_min`",
        ),
        (
            &[("diffusivity_m2_s = 50", "diffusivity_m2_s = inf")],
            "key `wind.diffusivity_m2_s`: inf",
        ),
        (
            &[
                ("diffusivity_m2_s = 50", "diffusivity_m2_s = 10000"),
                ("resolution_m = 100", "resolution_m = 10"),
            ],
            "sub-steps",
        ),
        (
            &[("from_deg = 270", "from_deg = nan")],
            "key `wind.from_deg`: NaN",
        ),
        (
            &[("from_deg = 270", "from_deg = 270\nidw_power = nan")],
            "key `wind.idw_power`: NaN",
        ),
        (
            &[("mixing_height_m = 500", "mixing_height_m = inf")],
            "key `mixing_height_m`: inf",
        ),
        (
            &[("[sources]", "[removal.SO2]\ndecay_per_s = inf\n\n[sources]")],
            "key `removal.\"SO2\".decay_per_s`: inf",
        ),
        (
            &[(
                "open_pit_mines = false",
                "open_pit_mines = false\nmine_pm10_kg_per_t = inf",
            )],
            "key `sources.mine_pm10_kg_per_t`: inf",
        ),
        (
            &[("rate = 100,", "rate = nan,")],
            "key `sources.point[0].emissions[0].rate`: NaN",
        ),
        (
            &[("lat = 20.969853", "lat = 95")],
            "key `sources.point[0].lat`",
        ),
        (
            &[("duration_h = 6", "duration_h = 1e300")],
            "key `duration_h`",
        ),
        (
            &[
                ("duration_h = 6", "duration_h = 8784"),
                ("output_interval_min = 60", "output_interval_min = 1"),
            ],
            "output intervals; at most",
        ),
    ];
    for (edits, want) in cases {
        let e = run_changed(&dir, "dispersion", a, edits);
        assert!(e.contains(want), "{edits:?}: {e}");
    }
}

#[test]
fn traffic_scenario_values_are_finite_and_bounded_before_anything_is_sized() {
    let dir = tmp_dir("bounds-traffic");
    let t = "morning-peak-coal-trucks.toml";
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("dt_s = 2 ", "dt_s = 1e-7 ")],
            "key `dt_s`: 0.0000001 s must be",
        ),
        (&[("dt_s = 2 ", "dt_s = nan ")], "key `dt_s`: NaN"),
        (
            &[(
                "jam_density_veh_km_lane = 150",
                "jam_density_veh_km_lane = 5",
            )],
            "key `jam_density_veh_km_lane`: 5 veh/km/lane must be",
        ),
        (
            &[(
                "jam_density_veh_km_lane = 150",
                "jam_density_veh_km_lane = 25",
            )],
            "is not above its critical density",
        ),
        (
            &[("duration_h = 5", "duration_h = 1e9")],
            "key `duration_h`",
        ),
        (
            &[("output_interval_min = 15", "output_interval_min = 1e-6")],
            "key `output_interval_min`",
        ),
        (
            &[
                ("duration_h = 5", "duration_h = 8784"),
                ("dt_s = 2 ", "dt_s = 0.1 "),
            ],
            "steps; at most",
        ),
        (
            &[
                ("duration_h = 5", "duration_h = 8784"),
                ("output_interval_min = 15", "output_interval_min = 1"),
            ],
            "per-interval link statistics; at most",
        ),
        (
            &[("truck_pce = 2.5", "truck_pce = inf")],
            "key `truck_pce`: inf",
        ),
        (
            &[(
                "# [emissions.truck]\n",
                "[emissions.truck]\nnox_g_km = 7\nnox_speed_curve = { gamma = 1, eta = 1, v_min_km_h = 10, v_max_km_h = 80 }\n",
            )],
            "both set",
        ),
        (
            &[(
                "# [emissions.truck]\n",
                "[emissions.truck]\nnox_speed_curve = { gamma = -1, eta = 1, v_min_km_h = 10, v_max_km_h = 80 }\n",
            )],
            "key `emissions.truck.nox_speed_curve`: the factor at 10 km/h is -1 g/km",
        ),
        (
            &[(
                "# [emissions.truck]\n",
                "[emissions.truck]\nnox_speed_curve = { gamma = 1, eta = 1, v_min_km_h = 10 }\n",
            )],
            "v_max_km_h",
        ),
        (
            &[(
                "# [emissions.truck]\n",
                "[emissions.truck]\nidle_nox_g_h = -3\n",
            )],
            "key `emissions.truck.idle_nox_g_h`",
        ),
    ];
    for (edits, want) in cases {
        let e = run_changed(&dir, "traffic", t, edits);
        assert!(e.contains(want), "{edits:?}: {e}");
    }
}

#[test]
fn query_and_telemetry_flags_are_bounded() {
    // k larger than memory: every feature, nearest first, no allocation of k slots
    let v = json_of(&[
        "query",
        "nearest",
        "--lon",
        "107.3",
        "--lat",
        "21.0",
        "-k",
        "18446744073709551615",
        "--format",
        "json",
    ]);
    assert!(v.as_array().is_some_and(|a| a.len() > 100), "{v}");
    let dir = tmp_dir("flags");
    let csv = dir.join("obs.csv");
    batch_csv(&csv, "st-1", 24);
    for (flag, value) in [
        ("--stuck-run", "0"),
        ("--interval-s", "nan"),
        ("--interval-s", "=-60"),
        ("--interval-s", "inf"),
    ] {
        let e = one_line_error(&[
            "telemetry",
            "qa",
            "--input",
            p(&csv),
            "--out",
            p(&dir.join("qa")),
            &format!(
                "{flag}{}{value}",
                if value.starts_with('=') { "" } else { "=" }
            ),
        ]);
        assert!(e.contains(flag), "{flag} {value}: {e}");
    }
    let e = one_line_error(&[
        "telemetry",
        "alarms",
        "--input",
        p(&csv),
        "--out",
        p(&dir.join("alarms")),
        "--interval-s",
        "nan",
    ]);
    assert!(e.contains("--interval-s"), "{e}");
}

#[test]
fn a_report_over_readings_millennia_apart_has_a_bounded_calendar() {
    let dir = tmp_dir("calendar");
    let csv = dir.join("obs.csv");
    let mut text = String::from("station_id,parameter,time,value,unit,status\n");
    for year in ["2026", "9999"] {
        for h in 0..24 {
            text += &format!("st-1,PM2.5,{year}-01-15T{h:02}:30:00+07:00,35,µg/m³,measuring\n");
            text += &format!("st-1,PM10,{year}-01-15T{h:02}:30:00+07:00,60,µg/m³,measuring\n");
        }
    }
    std::fs::write(&csv, text).expect("write");
    let out = dir.join("report");
    let s = twin_ok(&["telemetry", "report", "--input", p(&csv), "--out", p(&out)]);
    assert!(s.contains("report.md"), "{s}");
    let md = std::fs::read_to_string(out.join("report.md")).expect("report.md");
    if out.join("aqi_calendar.png").exists() {
        assert!(
            md.contains("left out (the calendar shows the last 157 weeks)"),
            "{md}"
        );
        let size = std::fs::metadata(out.join("aqi_calendar.png"))
            .expect("png")
            .len();
        assert!(size < 5_000_000, "{size}");
    }
}

#[test]
fn an_osm_import_of_a_clipped_extract_keeps_what_is_complete_and_always_loads() {
    let out = tmp_dir("osm-clipped");
    let pbf = data("osm/clipped.osm.pbf");
    let roads = out.join("roads.geojson");
    let text = twin_ok(&["import", "osm", p(&pbf), "--out", p(&roads)]);
    assert!(
        text.contains("clipped   2 way(s) reference 2 node(s) the file does not hold"),
        "{text}"
    );
    assert!(
        text.contains("clamped   way 202: maxspeed=\"150 mph\" is beyond the road layer's range, 200 km/h used"),
        "{text}"
    );
    assert!(text.contains("clamped   way 202: lanes=\"20\""), "{text}");
    assert!(
        text.contains("default   way 203: maxspeed=\"-5\""),
        "{text}"
    );
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&roads).expect("geojson")).expect("json");
    let ids: Vec<&str> = g["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| f["properties"]["id"].as_str().expect("id"))
        .collect();
    // the trunk 1-2-(3)-4-5 is cut at the missing node 3: pieces 1-2 and 4-5; way 201 has one
    // node left and is dropped (its node 20 still splits way 202)
    assert_eq!(
        ids,
        [
            "osm-w200-0",
            "osm-w200-1",
            "osm-w202-0",
            "osm-w202-1",
            "osm-w203-0"
        ]
    );
    // what the importer writes, the loader reads
    let ds = twin_engine::dataset::Dataset::load(&bundled()).expect("dataset");
    twin_engine::dataset::read_road_layer(&roads, ds.manifest.bounds).expect("the import loads");
}
