//! The `twin` binary end to end: JSON shapes, exit codes, one-line errors.

use std::process::{Command, Output};

use serde_json::Value;

use crate::data;

fn twin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .env_remove("QN_TWIN_DATASET")
        .output()
        .expect("twin runs")
}

fn json_of(args: &[&str]) -> Value {
    let out = twin(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// Runs a command that must succeed; returns its stdout.
fn twin_ok(args: &[&str]) -> String {
    let out = twin(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A failing command prints exactly one line on stderr and exits non-zero.
fn one_line_error(args: &[&str]) -> String {
    let out = twin(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("twin: "), "{err}");
    err
}

#[test]
fn info_json_reports_the_province() {
    let v = json_of(&["info", "--format", "json"]);
    assert_eq!(v["districts"], 14);
    assert_eq!(v["stations"], 105);
    assert!(v["mines"].as_u64().expect("count") >= 14);
    assert!(v["plants"].as_u64().expect("count") >= 5);
    assert!(v["ports"].as_u64().expect("count") >= 2);
    assert!(v["road_links"].as_u64().expect("count") > 0);
    assert_eq!(v["projected_crs"], "EPSG:32648");
    assert_eq!(v["terrain"]["synthetic"], true);
    let table = twin(&["info"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("SYNTHETIC"));
}

#[test]
fn info_accepts_a_real_dem_in_place_of_the_synthetic_one() {
    let dem = data("dem/srtm-like-4326.tif");
    let v = json_of(&[
        "info",
        "--format",
        "json",
        "--terrain",
        dem.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(v["terrain"]["synthetic"], false);
    assert_eq!(v["terrain"]["crs"], "EPSG:4326");
}

#[test]
fn nearest_json_is_an_ascending_array_of_id_name_kind_distance() {
    let v = json_of(&[
        "query",
        "nearest",
        "--lon",
        "107.07336",
        "--lat",
        "20.95045",
        "-k",
        "4",
        "--kind",
        "station",
        "--format",
        "json",
    ]);
    let a = v.as_array().expect("array");
    assert_eq!(a.len(), 4);
    for x in a {
        assert_eq!(x["kind"], "station");
        assert!(x["id"].is_string() && x["name"].is_string());
    }
    let d: Vec<f64> = a
        .iter()
        .map(|x| x["distance_m"].as_f64().expect("number"))
        .collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
}

#[test]
fn within_district_and_bbox_and_radius_work_from_the_command_line() {
    let v = json_of(&[
        "query",
        "within",
        "--district",
        "cam-pha",
        "--kind",
        "mine",
        "--format",
        "json",
    ]);
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|x| x["name"].as_str())
        .collect();
    assert!(names.iter().any(|n| n.contains("Cọc Sáu")), "{names:?}");
    let v = json_of(&[
        "query",
        "within",
        "--bbox",
        "107.0,20.9,107.2,21.0",
        "--format",
        "geojson",
    ]);
    assert_eq!(v["type"], "FeatureCollection");
    assert!(!v["features"].as_array().expect("features").is_empty());
    let v = json_of(&[
        "query",
        "within",
        "--radius-m",
        "5000",
        "--lon",
        "107.27",
        "--lat",
        "21.01",
        "--format",
        "json",
    ]);
    assert!(
        v.as_array()
            .expect("array")
            .iter()
            .all(|x| x["distance_m"].as_f64().expect("d") <= 5000.0)
    );
}

#[test]
fn snap_and_corridor() {
    let v = json_of(&[
        "query", "snap", "--lon", "107.2", "--lat", "21.0", "--format", "json",
    ]);
    assert!(v["link_id"].as_str().expect("id").starts_with("ql18"));
    assert!(
        v["offset_m"].as_f64().expect("offset") <= v["link_length_m"].as_f64().expect("length")
    );
    let v = json_of(&[
        "query",
        "corridor",
        "--road",
        "QL18",
        "--width-m",
        "1000",
        "--kind",
        "station",
        "--format",
        "json",
    ]);
    assert!(
        v.as_array()
            .expect("array")
            .iter()
            .all(|x| x["distance_m"].as_f64().expect("d") <= 500.0)
    );
}

#[test]
fn errors_are_one_clear_line() {
    let e = one_line_error(&[
        "info",
        "--dataset",
        data("bad/missing-field").to_str().expect("utf-8"),
    ]);
    assert!(
        e.contains("stations.geojson") && e.contains("st-2") && e.contains("properties.medium"),
        "{e}"
    );
    let e = one_line_error(&[
        "query", "nearest", "--lon", "107", "--lat", "21", "--kind", "volcano",
    ]);
    assert!(e.contains("volcano"), "{e}");
    let e = one_line_error(&["query", "within", "--district", "atlantis"]);
    assert!(e.contains("atlantis"), "{e}");
    let e = one_line_error(&["query", "within", "--bbox", "108,21,107,22"]);
    assert!(e.contains("MINLON < MAXLON"), "{e}");
    let e = one_line_error(&["query", "nearest", "--lon", "200", "--lat", "21"]);
    assert!(e.contains("--lon 200"), "{e}");
    let e = one_line_error(&["info", "--dataset", "/nonexistent/dataset"]);
    assert!(e.contains("/nonexistent/dataset"), "{e}");
}

#[test]
fn validate_lists_every_problem() {
    let out = twin(&[
        "validate",
        "--dataset",
        data("bad/many-problems").to_str().expect("utf-8"),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("stations.geojson: feature #"))
            .count(),
        3,
        "{err}"
    );
    let ok = twin(&["validate"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

fn tmp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("qn-twin-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn simulate_dispersion_writes_georeferenced_outputs() {
    let out = tmp_dir("dispersion");
    let scenario = twin_engine::bundled_dataset_dir().join("scenarios/analytic-point-source.toml");
    let run = twin(&[
        "simulate",
        "dispersion",
        "--scenario",
        scenario.to_str().expect("utf-8"),
        "--backend",
        "cpu",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("backend   cpu twin"), "{stdout}");
    for f in [
        "concentration.tif",
        "concentration_final.tif",
        "concentration.png",
        "stations.parquet",
        "summary.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // summary: backend, grid, steps, throughput, budget
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["backend"], "cpu");
    assert_eq!(summary["grid"]["nx"], 250);
    assert!(summary["steps"].as_u64().expect("steps") > 100);
    assert!(summary["cell_updates_per_s"].as_f64().expect("rate") > 0.0);
    assert!(
        summary["mass_budget"]["SO2"]["relative_error"]
            .as_f64()
            .expect("err")
            < 1e-5
    );
    // GDAL sees the CRS, the corners and what the band is
    let info = Command::new("gdalinfo")
        .arg(out.join("concentration.tif"))
        .output()
        .expect("gdalinfo is installed by scripts/setup");
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "{text}");
    assert!(text.contains("\"EPSG\",32648"), "{text}");
    assert!(
        text.contains("Upper Left  (  700000.000, 2325000.000)"),
        "{text}"
    );
    assert!(
        text.contains("Lower Right (  725000.000, 2315000.000)"),
        "{text}"
    );
    assert!(
        text.contains("Description = SO2 time-mean over 6 h µg/m³"),
        "{text}"
    );
    assert!(text.contains("Type=Float32"), "{text}");
    // the station table reads back
    use polars::prelude::SerReader;
    let file = std::fs::File::open(out.join("stations.parquet")).expect("parquet");
    let df = polars::prelude::ParquetReader::new(file)
        .finish()
        .expect("readable parquet");
    let cols: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(
        cols,
        ["station_id", "time", "pollutant", "concentration_ug_m3"]
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn simulate_on_the_gpu_backend_uses_a_wgpu_adapter() {
    if std::env::var_os("QN_TWIN_SKIP_GPU").is_some() {
        return;
    }
    let out = tmp_dir("dispersion-gpu");
    let scenario = twin_engine::bundled_dataset_dir().join("scenarios/analytic-point-source.toml");
    let run = twin(&[
        "simulate",
        "dispersion",
        "--scenario",
        scenario.to_str().expect("utf-8"),
        "--backend",
        "gpu",
        "--duration-h",
        "1",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(summary["backend"], "gpu");
    assert!(summary["adapter"]["name"].is_string());
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn simulate_errors_are_one_line() {
    let e = one_line_error(&[
        "simulate",
        "dispersion",
        "--scenario",
        "/nonexistent.toml",
        "--out",
        "/tmp/x",
    ]);
    assert!(e.contains("/nonexistent.toml"), "{e}");
}

fn parquet_columns(path: &std::path::Path) -> (Vec<String>, usize) {
    use polars::prelude::SerReader;
    let file = std::fs::File::open(path).expect("parquet");
    let df = polars::prelude::ParquetReader::new(file)
        .finish()
        .expect("readable parquet");
    (
        df.get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        df.height(),
    )
}

#[test]
fn simulate_traffic_writes_links_emissions_map_and_summary() {
    let out = tmp_dir("traffic");
    let scenario =
        twin_engine::bundled_dataset_dir().join("scenarios/morning-peak-coal-trucks.toml");
    let o = twin(&[
        "simulate",
        "traffic",
        "--scenario",
        scenario.to_str().expect("utf-8 path"),
        "--backend",
        "cpu",
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("placed    mine-cao-son on node mong-duong"),
        "{text}"
    );
    let (cols, rows) = parquet_columns(&out.join("links.parquet"));
    assert_eq!(
        cols,
        [
            "link_id",
            "road_id",
            "time",
            "class",
            "flow_veh_h",
            "density_veh_km",
            "speed_km_h",
            "travel_time_s"
        ]
    );
    // 78 directed links × 20 quarter-hours × 3 classes
    assert_eq!(rows, 78 * 20 * 3);
    let (cols, rows) = parquet_columns(&out.join("emissions.parquet"));
    assert_eq!(
        cols,
        ["link_id", "road_id", "time", "pollutant", "emission_g_s"]
    );
    assert_eq!(rows, 78 * 20 * 3);
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("json");
    assert_eq!(s["backend"], "cpu");
    assert_eq!(s["steps"], 9000);
    let v = &s["vehicles"];
    assert!(v["conservation_relative_error"].as_f64().expect("number") < 1e-5);
    assert!(v["entered"][1].as_f64().expect("trucks") > 3000.0);
    assert!(s["emissions_kg"]["PM10"].as_f64().expect("kg") > 0.0);
    let png = std::fs::read(out.join("traffic.png")).expect("png");
    assert_eq!(&png[1..4], b"PNG");

    // the run's emissions feed a dispersion run as road line sources: over the same 5 h and a
    // grid covering every road, the mass emitted is the traffic run's
    let disp = out.join("dust.toml");
    std::fs::write(
        &disp,
        format!(
            "name = \"dust\"\ndataset = {:?}\nstart = \"2026-03-10T05:00:00+07:00\"\nduration_h = 5\n\
             pollutants = [\"PM10\", \"NOx\"]\nmixing_height_m = 500\n[grid]\nresolution_m = 2000\n\
             [wind]\nmode = \"uniform\"\nspeed_m_s = 3\nfrom_deg = 45\nstability = \"D\"\n\
             [[sources.traffic]]\nemissions = \"emissions.parquet\"\n",
            twin_engine::bundled_dataset_dir()
        ),
    )
    .expect("write scenario");
    let dout = out.join("dust");
    let o = twin(&[
        "simulate",
        "dispersion",
        "--scenario",
        disp.to_str().expect("utf-8 path"),
        "--backend",
        "cpu",
        "--out",
        dout.to_str().expect("utf-8 path"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d: Value =
        serde_json::from_str(&std::fs::read_to_string(dout.join("summary.json")).expect("summary"))
            .expect("json");
    let text = d.to_string();
    assert!(
        text.contains("traffic emissions.parquet (39 roads)"),
        "{text}"
    );
    assert!(
        text.contains("traffic PM2.5 (not carried by this run)"),
        "{text}"
    );
    for pol in ["PM10", "NOx"] {
        let emitted = d["mass_budget"][pol]["emitted_kg"].as_f64().expect("kg");
        let traffic = s["emissions_kg"][pol].as_f64().expect("kg");
        assert!(
            (emitted - traffic).abs() / traffic < 1e-3,
            "{pol}: dispersion emitted {emitted} kg, traffic {traffic} kg"
        );
    }
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn osm_import_feeds_a_traffic_scenario() {
    let out = tmp_dir("osm");
    std::fs::create_dir_all(&out).expect("dir");
    let pbf = data("osm/cam-pha-mini.osm.pbf");
    let roads = out.join("roads.geojson");
    let o = twin(&[
        "import",
        "osm",
        pbf.to_str().expect("utf-8 path"),
        "--out",
        roads.to_str().expect("utf-8 path"),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains("7 motor-road ways kept, 1 other ways skipped"),
        "{text}"
    );
    assert!(text.contains("links     11 "), "{text}");
    assert!(text.contains("way 104: maxspeed=\"signals\""), "{text}");
    let g: Value =
        serde_json::from_str(&std::fs::read_to_string(&roads).expect("geojson")).expect("json");
    let f = g["features"].as_array().expect("features");
    let by_id = |id: &str| {
        f.iter()
            .find(|x| x["properties"]["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing"))
    };
    // the trunk is split where the street crosses it and where the tertiary leaves it
    assert_eq!(by_id("osm-w100-0")["properties"]["to_node"], "osm-n3");
    assert_eq!(by_id("osm-w100-0")["properties"]["lanes"], 2);
    assert_eq!(
        by_id("osm-w100-0")["properties"]["free_flow_speed_kmh"],
        70.0
    );
    // oneway=-1 is reversed; motorway links are oneway by default
    assert_eq!(by_id("osm-w105-0")["properties"]["from_node"], "osm-n41");
    assert_eq!(by_id("osm-w104-0")["properties"]["oneway"], true);
    // the closed roundabout: two oneway links, neither a loop
    for k in 0..2 {
        let r = &by_id(&format!("osm-w107-{k}"))["properties"];
        assert_eq!(r["oneway"], true);
        assert_ne!(r["from_node"], r["to_node"]);
    }

    // the bbox drops what lies outside
    let clipped = out.join("clipped.geojson");
    let o = twin(&[
        "import",
        "osm",
        pbf.to_str().expect("utf-8 path"),
        "--bbox",
        "107.2,20.9,107.4,21.1",
        "--out",
        clipped.to_str().expect("utf-8 path"),
    ]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("links     10 "));

    // a scenario on the imported roads runs
    let scenario = out.join("osm.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"osm\"\ndataset = {:?}\nroads = \"clipped.geojson\"\nstart = \"2026-03-10T07:00:00+07:00\"\n\
             duration_h = 0.5\noutput_interval_min = 10\n\
             [[demand]]\nfrom = \"osm-n1\"\nto = \"osm-n40\"\nveh_h = 400\n",
            twin_engine::bundled_dataset_dir()
        ),
    )
    .expect("write scenario");
    let run = out.join("run");
    let text = twin_ok(&[
        "simulate",
        "traffic",
        "--scenario",
        scenario.to_str().expect("utf-8 path"),
        "--backend",
        "cpu",
        "--out",
        run.to_str().expect("utf-8 path"),
    ]);
    assert!(
        text.contains("network   11 nodes, 15 directed links"),
        "{text}"
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn traffic_errors_are_one_line() {
    let out = tmp_dir("traffic-bad");
    std::fs::create_dir_all(&out).expect("dir");
    let scenario = out.join("bad.toml");
    std::fs::write(
        &scenario,
        "name = \"bad\"\nstart = \"2026-03-10T07:00:00+07:00\"\nduration_h = 1\n\
         [[demand]]\nfrom = \"nowhere\"\nto = \"hon-gai\"\nveh_h = 100\n",
    )
    .expect("write");
    let e = one_line_error(&[
        "simulate",
        "traffic",
        "--scenario",
        scenario.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert!(
        e.contains(
            "key `demand[0].from`: \"nowhere\" is neither a road node nor a dataset feature"
        ),
        "{e}"
    );
    std::fs::write(
        &scenario,
        "name = \"bad\"\nstart = \"2026-03-10T07:00:00+07:00\"\nduration_h = 1\n\
         [[demand]]\nfrom = \"cam-pha\"\nto = \"hon-gai\"\nveh_h = 100\nclas = \"truck\"\n",
    )
    .expect("write");
    let e = one_line_error(&[
        "simulate",
        "traffic",
        "--scenario",
        scenario.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    assert!(e.contains("unknown field `clas`"), "{e}");
    let e = one_line_error(&[
        "import",
        "osm",
        "/nonexistent.osm.pbf",
        "--out",
        "/tmp/x.geojson",
    ]);
    assert!(e.contains("/nonexistent.osm.pbf"), "{e}");
    std::fs::remove_dir_all(&out).ok();
}

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
    let text = twin_ok(&[
        "telemetry",
        "aqi",
        "--input",
        csv.to_str().expect("utf-8 path"),
        "--out",
        pq.to_str().expect("utf-8 path"),
    ]);
    // the first hour has no earlier PM hours: NowCast needs two of the last three
    assert!(text.contains("6 station-hours, 5 with an AQI"), "{text}");
    let (cols, rows) = parquet_columns(&pq);
    assert_eq!(rows, 6);
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
        csv.to_str().expect("utf-8 path"),
        "--lake",
        lake.to_str().expect("utf-8 path"),
    ]);
    assert!(
        text.contains("appended  12 readings in 2 new part file(s); 0 duplicate"),
        "{text}"
    );
    let text = twin_ok(&[
        "telemetry",
        "ingest",
        "--input",
        csv.to_str().expect("utf-8 path"),
        "--lake",
        lake.to_str().expect("utf-8 path"),
    ]);
    assert!(
        text.contains("appended  0 readings in 0 new part file(s); 12 duplicate"),
        "{text}"
    );
    let text = twin_ok(&[
        "telemetry",
        "aqi",
        "--input",
        lake.to_str().expect("utf-8 path"),
        "--out",
        pq.to_str().expect("utf-8 path"),
    ]);
    assert!(text.contains("6 station-hours, 5 with an AQI"), "{text}");
    // daily and US flavours run on the same file: six hours are too few for a daily PM mean
    let text = twin_ok(&[
        "telemetry",
        "aqi",
        "--input",
        csv.to_str().expect("utf-8 path"),
        "--scale",
        "daily",
        "--out",
        pq.to_str().expect("utf-8 path"),
    ]);
    assert!(text.contains("1 station-days, 0 with an AQI"), "{text}");
    let o = twin(&[
        "telemetry",
        "aqi",
        "--input",
        csv.to_str().expect("utf-8 path"),
        "--standard",
        "us",
        "--out",
        pq.to_str().expect("utf-8 path"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (cols, _) = parquet_columns(&pq);
    assert_eq!(cols[5..], ["si_PM10", "si_PM25"].map(String::from));
    std::fs::remove_dir_all(&out).ok();
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
        csv.to_str().expect("utf-8 path"),
        "--out",
        out.join("qa").to_str().expect("utf-8 path"),
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
        csv.to_str().expect("utf-8 path"),
        "--out",
        out.join("alarms").to_str().expect("utf-8 path"),
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
        csv.to_str().expect("utf-8 path"),
        "--out",
        out.join("exc.parquet").to_str().expect("utf-8 path"),
    ]);
    // no air pollutants in a methane file: no rows, the edition named
    assert!(
        text.contains("QCVN 05:2013/BTNMT") && text.contains("rows      0"),
        "{text}"
    );
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn telemetry_evaluate_pairs_a_dispersion_run_with_observations() {
    use polars::prelude::*;
    let out = tmp_dir("evaluate");
    std::fs::create_dir_all(&out).expect("dir");
    let sim = out.join("stations.parquet");
    // a tiny simulated series for one station: 3 hours of PM10
    let t0: i64 = 1_768_438_800_000; // 2026-01-15T01:00Z
    let time = Series::new("time".into(), vec![t0, t0 + 3_600_000, t0 + 7_200_000])
        .cast(&DataType::Datetime(
            TimeUnit::Milliseconds,
            Some(TimeZone::UTC),
        ))
        .expect("cast");
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("station_id".into(), vec!["st-1"; 3]),
        time.into_column(),
        Column::new("pollutant".into(), vec!["PM10"; 3]),
        Column::new("concentration_ug_m3".into(), vec![40.0f32, 50.0, 70.0]),
    ])
    .expect("frame");
    let f = std::fs::File::create(&sim).expect("create");
    ParquetWriter::new(f).finish(&mut df).expect("write");
    let csv = out.join("obs.csv");
    std::fs::write(
        &csv,
        "station_id,parameter,time,value,unit,status\n\
         st-1,PM10,2026-01-15T07:30:00+07:00,45,µg/m³,measuring\n\
         st-1,PM10,2026-01-15T08:30:00+07:00,55,µg/m³,measuring\n\
         st-1,PM10,2026-01-15T09:30:00+07:00,60,µg/m³,measuring\n",
    )
    .expect("write");
    let res = out.join("eval.parquet");
    let o = twin(&[
        "telemetry",
        "evaluate",
        "--sim",
        sim.to_str().expect("utf-8 path"),
        "--obs",
        csv.to_str().expect("utf-8 path"),
        "--out",
        res.to_str().expect("utf-8 path"),
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
        csv.to_str().expect("utf-8 path"),
        "--obs",
        csv.to_str().expect("utf-8 path"),
        "--out",
        res.to_str().expect("utf-8 path"),
    ]);
    assert!(e.contains("obs.csv"), "{e}");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn telemetry_generate_stream_and_report() {
    let lake = tmp_dir("gen-lake");
    let ds = twin_engine::dataset::Dataset::load(&twin_engine::bundled_dataset_dir())
        .expect("bundled dataset");
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
        .find(|m| m.method == twin_engine::model::MiningMethod::Underground)
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
    for d in [lake, out, rep] {
        let _ = std::fs::remove_dir_all(d);
    }
}
