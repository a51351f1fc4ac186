//! `twin simulate` and `twin import osm`: run directories, GeoTIFFs, GeoParquet, errors, the
//! one dataset rule.

use serde_json::Value;
use std::process::Command;

use crate::*;

#[test]
fn simulate_dispersion_writes_georeferenced_outputs() {
    let out = tmp_dir("dispersion");
    let scenario = bundled().join("scenarios/analytic-point-source.toml");
    let run = twin(&[
        "simulate",
        "dispersion",
        "--scenario",
        p(&scenario),
        "--backend",
        "cpu",
        "--out",
        p(&out),
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
        "concentration.qml",
        "concentration.SO2.qml",
        "stations.parquet",
        "summary.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(summary_kind(&out, "dispersion"));
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
        text.contains(
            "Description = SO2 time-mean from 0 h to 6 h, mixed-layer mean (grid alone), µg/m³"
        ),
        "{text}"
    );
    assert!(text.contains("Type=Float32"), "{text}");
    // a Cloud-Optimized GeoTIFF: tiled, with overviews, and GDAL's COG validator agrees
    assert!(text.contains("LAYOUT=COG"), "{text}");
    assert!(text.contains("Block=256x256"), "{text}");
    let validate = Command::new("/usr/bin/python3")
        .args([
            "-m",
            "osgeo_utils.samples.validate_cloud_optimized_geotiff",
            "--full-check=yes",
        ])
        .arg(out.join("concentration.tif"))
        .output()
        .expect("python3-gdal is installed by scripts/setup");
    let said = String::from_utf8_lossy(&validate.stdout);
    assert!(
        validate.status.success() && said.contains("is a valid cloud optimized GeoTIFF"),
        "{said}{}",
        String::from_utf8_lossy(&validate.stderr)
    );
    // the QGIS style spans the PNG's range
    let qml = std::fs::read_to_string(out.join("concentration.qml")).expect("qml");
    assert!(
        qml.contains("singlebandpseudocolor") && qml.contains("band=\"1\""),
        "{qml}"
    );
    // GeoParquet: the station table carries its points
    let geo = twin_engine::output::geoparquet::read_geo_metadata(&out.join("stations.parquet"))
        .expect("readable")
        .expect("geo metadata");
    assert_eq!(geo["columns"]["geometry"]["geometry_types"][0], "Point");
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
        [
            "station_id",
            "time",
            "pollutant",
            "concentration_ug_m3",
            "geometry"
        ]
    );
}

/// Whether `DIR/summary.json` opens through the engine's `RunDir` as a run of `kind`.
fn summary_kind(dir: &std::path::Path, kind: &str) -> bool {
    twin_engine::output::run::RunDir::open(dir)
        .map(|r| r.summary.kind() == kind)
        .unwrap_or(false)
}

#[test]
fn simulate_on_the_gpu_backend_uses_a_wgpu_adapter() {
    if std::env::var_os("QN_TWIN_SKIP_GPU").is_some() {
        return;
    }
    let out = tmp_dir("dispersion-gpu");
    let scenario = bundled().join("scenarios/analytic-point-source.toml");
    let run = twin(&[
        "simulate",
        "dispersion",
        "--scenario",
        p(&scenario),
        "--backend",
        "gpu",
        "--duration-h",
        "1",
        "--out",
        p(&out),
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

#[test]
fn simulate_traffic_writes_links_emissions_map_and_summary() {
    let out = tmp_dir("traffic");
    let scenario = bundled().join("scenarios/morning-peak-coal-trucks.toml");
    let o = twin(&[
        "simulate",
        "traffic",
        "--scenario",
        p(&scenario),
        "--backend",
        "cpu",
        "--out",
        p(&out),
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
            "travel_time_s",
            "geometry"
        ]
    );
    // 78 directed links × 20 quarter-hours × 3 classes
    assert_eq!(rows, 78 * 20 * 3);
    let (cols, rows) = parquet_columns(&out.join("emissions.parquet"));
    assert_eq!(
        cols,
        [
            "link_id",
            "road_id",
            "time",
            "pollutant",
            "emission_g_s",
            "geometry"
        ]
    );
    assert_eq!(rows, 78 * 20 * 3);
    assert!(summary_kind(&out, "traffic"));
    for table in ["links.parquet", "emissions.parquet"] {
        let geo = twin_engine::output::geoparquet::read_geo_metadata(&out.join(table))
            .expect("readable")
            .expect("GeoParquet `geo` metadata");
        assert_eq!(geo["version"], "1.1.0");
        assert_eq!(
            geo["columns"]["geometry"]["geometry_types"][0],
            "LineString"
        );
    }
    // rows are labelled with the interval's end: the first is 05:15 local, 22:15 UTC
    let links = twin_engine::output::run::RunDir::open(&out)
        .and_then(|r| r.links())
        .expect("links through RunDir");
    let first = twin_engine::columns::times_ms(&links, "time")
        .expect("times")
        .into_iter()
        .flatten()
        .min()
        .expect("a time");
    assert_eq!(first, 1_773_094_500_000, "2026-03-09T22:15:00Z");
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
            bundled()
        ),
    )
    .expect("write scenario");
    let dout = out.join("dust");
    let o = twin(&[
        "simulate",
        "dispersion",
        "--scenario",
        p(&disp),
        "--backend",
        "cpu",
        "--out",
        p(&dout),
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
}

#[test]
fn osm_import_feeds_a_traffic_scenario() {
    let out = tmp_dir("osm");
    std::fs::create_dir_all(&out).expect("dir");
    let pbf = data("osm/cam-pha-mini.osm.pbf");
    let roads = out.join("roads.geojson");
    let o = twin(&["import", "osm", p(&pbf), "--out", p(&roads)]);
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
        p(&pbf),
        "--bbox",
        "107.2,20.9,107.4,21.1",
        "--out",
        p(&clipped),
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
            bundled()
        ),
    )
    .expect("write scenario");
    let run = out.join("run");
    let text = twin_ok(&[
        "simulate",
        "traffic",
        "--scenario",
        p(&scenario),
        "--backend",
        "cpu",
        "--out",
        p(&run),
    ]);
    assert!(
        text.contains("network   11 nodes, 15 directed links"),
        "{text}"
    );
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
        p(&scenario),
        "--out",
        p(&out.join("run")),
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
        p(&scenario),
        "--out",
        p(&out.join("run")),
    ]);
    assert!(e.contains("unknown field `clas`"), "{e}");
    // a movement phase naming a road that does not leave the node; a closed road that is not
    // in the network; a TNTP file with a bad field
    std::fs::write(
        &scenario,
        "name = \"bad\"\nstart = \"2026-03-10T07:00:00+07:00\"\nduration_h = 1\n\
         [[signals.node]]\nnode = \"cam-pha\"\n[[signals.node.phases]]\ngreen_s = 20\n\
         movements = [[\"ql18-ha-tu-cam-pha\", \"ql18-hon-gai-ha-tu\"]]\n",
    )
    .expect("write");
    let run_dir = out.join("run");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            "traffic",
            "--scenario",
            p(&scenario),
            "--out",
            p(&run_dir),
        ];
        args.extend_from_slice(extra);
        one_line_error(&args)
    };
    let e = run(&[]);
    assert!(
        e.contains("key `signals.node[0].phases[0].movements[0]`: road \"ql18-hon-gai-ha-tu\" does not leave node \"cam-pha\""),
        "{e}"
    );
    std::fs::write(
        &scenario,
        "name = \"bad\"\nstart = \"2026-03-10T07:00:00+07:00\"\nduration_h = 1\n",
    )
    .expect("write");
    let e = run(&["--close-road", "no-such-road"]);
    assert!(
        e.contains("key `closed_roads`: \"no-such-road\" is not a road id"),
        "{e}"
    );
    let net = out.join("net.tntp");
    std::fs::write(
        &net,
        "<END OF METADATA>\n1 2 100 1 1 0.15 4 ;\n2 1 100 1 x 0.15 4 ;\n",
    )
    .expect("write");
    let e = one_line_error(&[
        "simulate",
        "static-assignment",
        "--net",
        p(&net),
        "--trips",
        p(&net),
    ]);
    assert!(e.contains("net.tntp:3: free flow time \"x\""), "{e}");
    let e = one_line_error(&[
        "import",
        "osm",
        "/nonexistent.osm.pbf",
        "--out",
        "/tmp/x.geojson",
    ]);
    assert!(e.contains("/nonexistent.osm.pbf"), "{e}");
}

#[test]
fn one_dataset_rule_for_every_command() {
    let mini = data("mini");
    let mini = p(&mini);
    let missing = "/nonexistent/qn-twin-dataset";
    let name_of = |o: Output| -> String {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        v["name"].as_str().expect("name").to_string()
    };
    // bundled default, then the variable, then the flag over the variable
    let bundled_name = name_of(twin_env(&["info", "--format", "json"], &[]));
    let mini_name = name_of(twin_env(
        &["info", "--format", "json"],
        &[("QN_TWIN_DATASET", mini)],
    ));
    assert_ne!(bundled_name, mini_name);
    assert_eq!(
        name_of(twin_env(
            &["info", "--format", "json", "--dataset", mini],
            &[("QN_TWIN_DATASET", missing)],
        )),
        mini_name
    );
    // `twin simulate` honours the variable (it used to ignore it) ...
    let out = tmp_dir("dataset-rule");
    let scenario = bundled().join("scenarios/analytic-point-source.toml");
    let sim = |vars: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec![
            "simulate",
            "dispersion",
            "--backend",
            "cpu",
            "--duration-h",
            "1",
            "--scenario",
            p(&scenario),
            "--out",
            p(&out),
        ];
        args.extend_from_slice(extra);
        twin_env(&args, vars)
    };
    let o = sim(&[("QN_TWIN_DATASET", missing)], &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(missing), "{err}");
    // ... and the flag wins over it
    let o = sim(
        &[("QN_TWIN_DATASET", missing)],
        &["--dataset", &bundled().display().to_string()],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // a scenario's own `dataset` key wins over both
    let keyed = out.join("keyed.toml");
    let text = std::fs::read_to_string(&scenario).expect("scenario");
    std::fs::write(
        &keyed,
        format!("dataset = {:?}\n{text}", bundled().display().to_string()),
    )
    .expect("write");
    let o = twin_env(
        &[
            "simulate",
            "dispersion",
            "--backend",
            "cpu",
            "--duration-h",
            "1",
            "--scenario",
            p(&keyed),
            "--dataset",
            missing,
            "--out",
            p(&out.join("keyed")),
        ],
        &[("QN_TWIN_DATASET", missing)],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn gpu_backend_prints_nothing_that_says_error() {
    if std::env::var_os("QN_TWIN_SKIP_GPU").is_some() {
        eprintln!("QN_TWIN_SKIP_GPU set: GPU test skipped");
        return;
    }
    let out = tmp_dir("no-error-words");
    let scenario = bundled().join("scenarios/analytic-point-source.toml");
    // a headless machine: no XDG_RUNTIME_DIR, no display
    let o = Command::new(env!("CARGO_BIN_EXE_twin"))
        .args([
            "simulate",
            "dispersion",
            "--backend",
            "gpu",
            "--duration-h",
            "1",
            "--scenario",
            p(&scenario),
            "--out",
            p(&out),
        ])
        .env_remove("QN_TWIN_DATASET")
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DISPLAY")
        .output()
        .expect("twin runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!all.to_lowercase().contains("error:"), "{all}");
}

/// `--bbox` runs a city box at 100 m without editing the scenario: every plant, mine and road
/// piece outside it stays a near-field emitter (listed as such), what their plumes hand over
/// outside the box is booked, receptors inside it are written, and the summary carries the
/// exposure and the plume rises.
#[test]
fn a_city_box_keeps_the_plumes_of_sources_outside_it() {
    let out = tmp_dir("bbox");
    let run = out.join("run");
    let scenario = bundled().join("scenarios/winter-ne-monsoon.toml");
    let text = twin_ok(&[
        "simulate",
        "dispersion",
        "--backend",
        "cpu",
        "--scenario",
        scenario.to_str().expect("utf-8"),
        "--bbox",
        "107.25,20.99,107.29,21.03",
        "--resolution-m",
        "100",
        "--duration-h",
        "4",
        "--out",
        run.to_str().expect("utf-8"),
    ]);
    assert!(text.contains("near field to 20 km"), "{text}");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(run.join("summary.json")).expect("summary"))
            .expect("json");
    let nx = summary["grid"]["nx"].as_u64().expect("nx");
    assert!((38..=46).contains(&nx), "a 4 km box at 100 m: {nx}");
    let left = summary["left_out"].to_string();
    assert!(
        left.contains("plant mong-duong-tpp (outside the grid: near field only)"),
        "{left}"
    );
    let so2 = &summary["mass_budget"]["SO2"];
    assert!(
        so2["handed_over_outside_kg"].as_f64().expect("kg") > 0.0,
        "{so2}"
    );
    assert!(so2["relative_error"].as_f64().expect("err") < 1e-6, "{so2}");
    assert_eq!(summary["near_field"]["enabled"], true);
    assert!(summary["plume_rise"].as_array().expect("rises").len() >= 5);
    assert!(
        summary["exposure"]["cam-pha"]["PM10"]
            .as_f64()
            .expect("exposure")
            > 0.0
    );
    assert_eq!(summary["pollutants"][4], "NO2");
    // the Cẩm Phả centre receptor is inside the box: a row per band for each interval after
    // the 2 h spin-up; the Mông Dương rings are outside it and listed so
    let df = twin_engine::safeio::read_parquet(&run.join("receptors.parquet")).expect("receptors");
    let names = twin_engine::columns::strings(&df, "receptor").expect("receptor");
    assert_eq!(
        names.iter().filter(|n| *n == "Cẩm Phả centre").count(),
        2 * 5
    );
    assert!(left.contains("receptor Mông Dương rings"), "{left}");
    let values = twin_engine::columns::f64s(&df, "concentration_ug_m3").expect("values");
    assert!(
        values
            .iter()
            .all(|v| v.is_some_and(|v| v.is_finite() && v >= 0.0))
    );
}

#[test]
fn simulate_mine_writes_airflow_gas_alarms_ensemble_and_summary() {
    let out = tmp_dir("mine");
    let mines = bundled().join("mines");
    let run = twin(&[
        "simulate",
        "mine",
        "--network",
        p(&mines.join("mong-duong.toml")),
        "--scenario",
        p(&mines.join("mong-duong-fan-stop.toml")),
        "--ensemble",
        "8",
        "--backend",
        "cpu",
        "--out",
        p(&out),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("reached   a-face CH4 1.0 %"), "{stdout}");
    for f in [
        "airflow.parquet",
        "branches.parquet",
        "alarms.parquet",
        "ensemble.parquet",
        "network.png",
        "summary.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    assert!(summary_kind(&out, "mine"));
    let s: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary"))
            .expect("json");
    assert!(s["solver_agreement"].as_f64().expect("agreement") < 1e-6);
    assert!(s["solver"]["kirchhoff"].as_f64().expect("kirchhoff") < 1e-9);
    assert_eq!(s["fans"][0]["id"], "main-fan");
    assert_eq!(s["fans"][0]["stall"], false);
    assert!(s["gas"]["mass_error"][0].as_f64().expect("mass") < 1e-9);
    assert_eq!(
        s["gas"]["airflow_changes"]
            .as_array()
            .expect("changes")
            .len(),
        2
    );
    assert_eq!(s["ensemble"]["members"], 8);
    assert!(s["gas"]["alarm_events"].as_u64().expect("alarms") >= 2);
    // the tables carry what the README says
    let t = twin_engine::safeio::read_parquet(&out.join("branches.parquet")).expect("branches");
    for c in ["branch_id", "time", "flow_m3_s", "ch4_pct", "co_ppm"] {
        assert!(t.column(c).is_ok(), "branches.parquet has no {c}");
    }
    let e = twin_engine::safeio::read_parquet(&out.join("ensemble.parquet")).expect("ensemble");
    for c in ["place", "time", "p_exceed_1_0", "p_exceed_1_5"] {
        assert!(e.column(c).is_ok(), "ensemble.parquet has no {c}");
    }
    // the steady run alone
    let steady = tmp_dir("mine-steady");
    let run = twin(&[
        "simulate",
        "mine",
        "--network",
        p(&mines.join("mong-duong.toml")),
        "--out",
        p(&steady),
    ]);
    assert!(run.status.success());
    assert!(steady.join("airflow.parquet").is_file());
    assert!(!steady.join("branches.parquet").exists());
}

#[test]
fn mine_errors_name_the_file_the_record_and_the_key() {
    let dir = tmp_dir("mine-bad");
    std::fs::create_dir_all(&dir).expect("dir");
    let text = std::fs::read_to_string(bundled().join("mines/mong-duong.toml")).expect("net");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, text.replacen("to = \"J3\"", "to = \"J99\"", 1)).expect("write");
    let e = one_line_error(&[
        "simulate",
        "mine",
        "--network",
        p(&bad),
        "--out",
        p(&dir.join("out")),
    ]);
    assert!(
        e.contains("bad.toml") && e.contains("(id \"a-intake\")") && e.contains("`to`"),
        "{e}"
    );
    let e = one_line_error(&[
        "simulate",
        "mine",
        "--network",
        p(&bundled().join("mines/mong-duong.toml")),
        "--ensemble",
        "4",
        "--out",
        p(&dir.join("out2")),
    ]);
    assert!(e.contains("--ensemble needs --scenario"), "{e}");
}
