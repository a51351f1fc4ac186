//! `twin-viewer --screenshot` offscreen (no display, no X server) with lavapipe: the image is not blank, and land,
//! sea, a road and the overlay show where the viewer's projection puts them (the probes in the
//! screenshot's JSON sidecar). A synthetic run directory — a Gaussian PM2.5 blob on the
//! dispersion grid, every road jammed — checks that the overlays are wired.

use std::path::{Path, PathBuf};
use std::process::Command;

use polars::prelude::*;
use twin_engine::output::geotiff::{Band, GeoReference, write_geotiff};

/// A temporary directory removed when the test ends, passed or panicked.
fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("qn-twin-viewer-{name}-"))
        .tempdir()
        .expect("temporary directory")
}

/// RGB pixels of a PNG and its width.
fn read_png(path: &Path) -> (Vec<[u8; 3]>, usize, usize) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut r = png::Decoder::new(std::io::BufReader::new(f))
        .read_info()
        .expect("png header");
    let mut buf = vec![0; r.output_buffer_size().expect("size")];
    let info = r.next_frame(&mut buf).expect("png data");
    let step = info.color_type.samples();
    let px = buf[..info.buffer_size()]
        .chunks(step)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (px, info.width as usize, info.height as usize)
}

struct Shot {
    px: Vec<[u8; 3]>,
    w: usize,
    h: usize,
    probes: serde_json::Value,
    stdout: String,
}

impl Shot {
    fn at(&self, name: &str) -> (usize, usize) {
        let p = self.probes["probes"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == name))
            .unwrap_or_else(|| panic!("no probe {name:?} in {}", self.probes));
        let x = p["x"].as_f64().expect("x") as usize;
        let y = p["y"].as_f64().expect("y") as usize;
        assert!(
            x < self.w && y < self.h,
            "probe {name} at {x},{y} off the image"
        );
        (x, y)
    }

    /// Pixels within `r` of a probe.
    fn around(&self, name: &str, r: usize) -> Vec<[u8; 3]> {
        let (x, y) = self.at(name);
        let mut v = Vec::new();
        for j in y.saturating_sub(r)..=(y + r).min(self.h - 1) {
            for i in x.saturating_sub(r)..=(x + r).min(self.w - 1) {
                v.push(self.px[j * self.w + i]);
            }
        }
        v
    }
}

/// `twin-viewer` with no display in its environment: `--screenshot` renders offscreen, so
/// it needs neither a window nor an X server.
fn viewer() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_twin-viewer"));
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    cmd
}

fn shoot(name: &str, extra: &[&str]) -> Shot {
    let tmp = tmp(name);
    let dir = tmp.path();
    let png_path = dir.join("shot.png");
    let mut cmd = viewer();
    cmd.args(extra)
        .args(["--frames", "6", "--size", "960x540", "--screenshot"])
        .arg(&png_path)
        .env_remove("QN_TWIN_DATASET");
    let out = cmd
        .output()
        .expect("twin-viewer runs (install mesa-vulkan-drivers: scripts/setup)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "twin-viewer failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (px, w, h) = read_png(&png_path);
    assert_eq!((w, h), (960, 540));
    let sidecar = std::fs::read_to_string(dir.join("shot.png.json")).expect("probe sidecar");
    let probes: serde_json::Value = serde_json::from_str(&sidecar).expect("JSON sidecar");
    Shot {
        px,
        w,
        h,
        probes,
        stdout,
    }
}

/// A dispersion run (PM2.5 blob centred on `centre`, projected m) in `dir/dispersion` and a
/// traffic run (every road at 5 km/h) in `dir/traffic`, written through the engine's typed
/// summaries and writers as `twin simulate` writes them.
fn synthetic_runs(dir: &Path, centre: (f64, f64)) -> (PathBuf, PathBuf) {
    synthetic_runs_sized(dir, centre, (200, 140, 500.0))
}

/// [`synthetic_runs`] on an `nx` × `ny` grid of `cell`-metre cells centred on `centre`.
fn synthetic_runs_sized(
    dir: &Path,
    centre: (f64, f64),
    (nx, ny, cell): (usize, usize, f64),
) -> (PathBuf, PathBuf) {
    use std::collections::BTreeMap;
    use twin_engine::output::run::{
        DispersionSummary, FORMAT_VERSION, NetworkSummary, RunSummary, TrafficSummary,
        VehicleSummary, write_summary,
    };
    let (disp, traffic) = (dir.join("dispersion"), dir.join("traffic"));
    std::fs::create_dir_all(&disp).expect("dispersion dir");
    std::fs::create_dir_all(&traffic).expect("traffic dir");
    let (min_x, max_y) = (
        centre.0 - nx as f64 * cell / 2.0,
        centre.1 + ny as f64 * cell / 2.0,
    );
    let mut v = vec![0f32; nx * ny];
    for j in 0..ny {
        for i in 0..nx {
            let x = min_x + (i as f64 + 0.5) * cell - centre.0;
            let y = max_y - (j as f64 + 0.5) * cell - centre.1;
            v[j * nx + i] = (80.0 * (-(x * x + y * y) / (2.0 * 6000.0f64.powi(2))).exp()) as f32;
        }
    }
    let geo = GeoReference {
        epsg: 32648,
        min_x,
        max_y,
        pixel: cell,
    };
    for file in ["concentration.tif", "concentration_final.tif"] {
        write_geotiff(
            &disp.join(file),
            nx,
            ny,
            &geo,
            &[Band {
                description: "PM2.5 time-mean µg/m³".into(),
                unit: "µg/m³".into(),
                values: &v,
            }],
            &[],
        )
        .expect("GeoTIFF");
    }
    let start = "2026-01-01T00:00:00+00:00".to_string();
    let summary = RunSummary::Dispersion(Box::new(DispersionSummary {
        format_version: FORMAT_VERSION,
        scenario: "synthetic blob".into(),
        start_utc: start.clone(),
        duration_h: 1.0,
        backend: "cpu".into(),
        adapter: None,
        grid: twin_engine::grid::Grid {
            nx,
            ny,
            cell_m: cell,
            x0: min_x,
            y0: max_y - ny as f64 * cell,
            epsg: 32648,
        },
        pollutants: vec!["PM2.5".into()],
        mixing_height_m: vec![500.0],
        diffusivity_m2_s: vec![50.0],
        stability: vec!["D".into()],
        calm_intervals: 0,
        calm_threshold_m_s: 0.5,
        spin_up_h: 0.0,
        near_field: twin_engine::output::run::NearFieldSummary {
            enabled: false,
            max_travel_m: 20_000.0,
            fade_start_fraction: 0.5,
            receptor_height_m: 1.5,
            emitters: 0,
            evaluations: 0,
            wall_s: 0.0,
        },
        plume_rise: vec![],
        background: BTreeMap::new(),
        no2: None,
        exposure: BTreeMap::new(),
        steps: 0,
        cell_updates: 0,
        wall_s: 0.0,
        cell_updates_per_s: 0.0,
        wind_projection: vec![],
        mass_budget: BTreeMap::new(),
        sources: vec![],
        left_out: vec![],
        outputs: BTreeMap::new(),
    }));
    write_summary(&disp, &summary).expect("dispersion summary");
    let time = |n: usize| {
        Column::new("time".into(), vec![1_767_225_600_000i64; n])
            .cast(&DataType::Datetime(
                TimeUnit::Milliseconds,
                Some(TimeZone::UTC),
            ))
            .expect("time")
    };
    let mut stations = DataFrame::new_infer_height(vec![
        Column::new("station_id".into(), Vec::<String>::new()),
        time(0),
        Column::new("pollutant".into(), Vec::<String>::new()),
        Column::new("concentration_ug_m3".into(), Vec::<f32>::new()),
    ])
    .expect("stations frame");
    twin_engine::output::write_parquet(&disp.join("stations.parquet"), &mut stations)
        .expect("stations.parquet");

    let ds = twin_engine::dataset::Dataset::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh"),
    )
    .expect("dataset");
    let ids: Vec<String> = ds
        .province
        .road_links
        .iter()
        .map(|r| r.meta.id.clone())
        .collect();
    let n = ids.len();
    let mut links = DataFrame::new_infer_height(vec![
        Column::new("link_id".into(), ids.clone()),
        Column::new("road_id".into(), ids),
        time(n),
        Column::new("class".into(), vec!["all"; n]),
        Column::new("flow_veh_h".into(), vec![300.0f64; n]),
        Column::new("density_veh_km".into(), vec![150.0f64; n]),
        Column::new("speed_km_h".into(), vec![5.0f64; n]),
        Column::new("travel_time_s".into(), vec![600.0f64; n]),
    ])
    .expect("links frame");
    twin_engine::output::write_parquet(&traffic.join("links.parquet"), &mut links)
        .expect("links.parquet");
    let summary = RunSummary::Traffic(Box::new(TrafficSummary {
        format_version: FORMAT_VERSION,
        scenario: "every road jammed".into(),
        scenario_file: None,
        backend: "cpu".into(),
        adapter: None,
        start_utc: start,
        dt_s: 1.0,
        dt_reason: "synthetic".into(),
        steps: 0,
        output_interval_s: 900.0,
        wall_s: 0.0,
        cell_updates_per_s: 0.0,
        network: NetworkSummary {
            nodes: 0,
            links: n,
            cells: 0,
            signals: 0,
            control: twin_engine::traffic::Control::FixedTime,
            warnings: vec![],
        },
        placements: vec![],
        vehicles: VehicleSummary {
            classes: vec!["car".into(), "truck".into()],
            demand: [0.0; 2],
            entered: [0.0; 2],
            exited: [0.0; 2],
            in_network: [0.0; 2],
            waiting_at_origins: [0.0; 2],
            conservation_relative_error: 0.0,
            vehicle_seconds: [0.0; 2],
            vehicle_km: [0.0; 2],
        },
        emissions_kg: BTreeMap::new(),
        idle_emissions_kg: BTreeMap::new(),
        emission_model: Default::default(),
        webster_plans: Default::default(),
        equilibrium: None,
        truck_speed_km_h: 70.0,
        closed_roads: Vec::new(),
        commodities: Vec::new(),
        shared_destination_share: 0.0,
        outputs: BTreeMap::new(),
    }));
    write_summary(&traffic, &summary).expect("traffic summary");
    (disp, traffic)
}

fn is_sea([r, g, b]: [u8; 3]) -> bool {
    b as i32 > r as i32 + 40 && b >= g
}

fn is_land([r, g, b]: [u8; 3]) -> bool {
    g as i32 > b as i32 + 15 && r < 230
}

#[test]
fn screenshots_show_land_sea_roads_and_overlays() {
    let base = shoot("base", &[]);
    assert!(base.stdout.contains("mean frame time"), "{}", base.stdout);
    assert!(base.stdout.contains("offscreen"), "{}", base.stdout);
    for key in ["mean_frame_ms", "p95_frame_ms"] {
        let v = base.probes[key].as_f64().unwrap_or(0.0);
        assert!(
            v > 0.0,
            "{key} missing or zero in the sidecar: {}",
            base.probes
        );
    }
    let distinct: std::collections::HashSet<[u8; 3]> = base.px.iter().copied().collect();
    assert!(
        distinct.len() > 500,
        "a blank image: {} colours",
        distinct.len()
    );
    let land = base.px[base.at("land").1 * base.w + base.at("land").0];
    assert!(is_land(land), "land probe is {land:?}");
    let sea = base.px[base.at("sea").1 * base.w + base.at("sea").0];
    assert!(is_sea(sea), "sea probe is {sea:?}");
    // a road drawn in a class colour (trunk orange, primary yellow, secondary/other light grey)
    let road = base.around("road", 3);
    assert!(
        road.iter()
            .any(|&[r, g, b]| r > 200 && g > 110 && (b < 120 || (g > 180 && b > 180))),
        "no road colour near the road probe: {road:?}"
    );

    // the run: a PM2.5 blob over the bay east of Cẩm Phả (no markers there) and every road jammed
    let run = tmp("run");
    let utm = twin_engine::geodesy::Utm::zone_48n();
    let (disp, traffic) = synthetic_runs(run.path(), utm.forward(107.55, 20.98));
    let with = shoot(
        "with-run",
        &[
            "--run",
            &disp.display().to_string(),
            "--run",
            &traffic.display().to_string(),
        ],
    );
    let (x, y) = with.at("overlay_max");
    let top = with.px[y * with.w + x];
    // the top of the colour scale (viridis yellow, 75 % over the sea, blended in linear light)
    let (r, g, b) = (i32::from(top[0]), i32::from(top[1]), i32::from(top[2]));
    assert!(
        r > 150 && g > 150 && b < r - 40 && b < g - 40,
        "overlay maximum is {top:?}"
    );
    assert!(
        is_sea(base.px[y * base.w + x]),
        "without the run that place is sea"
    );
    assert_ne!(top, base.px[y * base.w + x], "the overlay changed nothing");
    let jammed = with.around("road", 3);
    assert!(
        jammed.iter().any(|&[r, g, b]| r > 120 && g < 60 && b < 60),
        "no jammed-red road near the road probe: {jammed:?}"
    );
}

/// A raster wider than any texture an adapter must support (20,000 columns; lavapipe allows
/// 16,384) is shown block-averaged instead of failing wgpu's validation.
#[test]
fn a_raster_wider_than_the_texture_limit_is_shown() {
    let tmp = tmp("wide");
    let utm = twin_engine::geodesy::Utm::zone_48n();
    let centre = utm.forward(107.2, 21.0);
    let (disp, _) = synthetic_runs_sized(tmp.path(), centre, (20_000, 6, 5.0));
    let shot = shoot("wide-shot", &["--run", disp.to_str().expect("utf-8")]);
    assert!(shot.stdout.contains("mean frame time"), "{}", shot.stdout);
}

// the broker helper the CLI's live tests use
#[allow(dead_code)]
#[path = "../../tests/cli/broker.rs"]
mod broker;

/// `twin` (built next to `twin-viewer` by `cargo test --workspace`).
fn twin_exe() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_twin-viewer")).with_file_name("twin");
    assert!(
        p.exists(),
        "{} is built (cargo test --workspace)",
        p.display()
    );
    p
}

/// The whole live chain: mosquitto, `twin telemetry ingest --mqtt`, `twin serve --mqtt`, and
/// `twin-viewer --live` headless; a methane reading over 1.5 % published to the broker makes the
/// mine flash red in the screenshot, where the projection puts it.
#[test]
fn a_published_alarm_marks_its_mine_in_the_live_viewer() {
    let tmp = tmp("live");
    let dir = tmp.path();
    let b = broker::start(dir);
    let mqtt = b.tcp_url();
    let bundled = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh");
    let lake = dir.join("lake");
    let ingest_log = dir.join("ingest.log");
    let flags = ["--flush-s", "0.5"];
    let mut ingest = broker::ingester(&twin_exe(), &mqtt, &lake, &bundled, &ingest_log, &flags);
    broker::wait_for_line(
        &ingest_log,
        "ingest: subscribed",
        std::time::Duration::from_secs(60),
    );
    let serve_log = std::fs::File::create(dir.join("serve.log")).expect("log");
    let mut serve = Command::new(twin_exe())
        .args(["serve", "--lake", lake.to_str().expect("utf-8")])
        .args(["--bind", "127.0.0.1:0", "--mqtt", &mqtt])
        .args(["--dataset", bundled.to_str().expect("utf-8")])
        .env_remove("QN_TWIN_DATASET")
        .stdout(serve_log.try_clone().expect("log"))
        .stderr(serve_log)
        .spawn()
        .expect("twin serve starts");
    broker::wait_for_line(
        &dir.join("serve.log"),
        "serving",
        std::time::Duration::from_secs(60),
    );
    let port = broker::served_port(&dir.join("serve.log"));
    let png_path = dir.join("live.png");
    let vlog = std::fs::File::create(dir.join("viewer.log")).expect("log");
    let mut viewer = viewer()
        .args([
            "--live",
            &format!("http://127.0.0.1:{port}/v1.1/ext/events"),
        ])
        .args(["--frames", "6", "--size", "960x540", "--screenshot"])
        .arg(&png_path)
        .env_remove("QN_TWIN_DATASET")
        .stdout(vlog.try_clone().expect("log"))
        .stderr(vlog)
        .spawn()
        .expect("twin-viewer runs");
    broker::wait_for_line(
        &dir.join("viewer.log"),
        "live: connected",
        std::time::Duration::from_secs(300),
    );
    std::thread::sleep(std::time::Duration::from_millis(500)); // the server's SUBSCRIBE is in
    let now = chrono::Utc::now().to_rfc3339();
    let st = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &b.port.to_string(),
            "-q",
            "1",
            "-t",
            "qn/mine-ha-lam/CH4",
        ])
        .args([
            "-m",
            &format!(r#"{{"time": "{now}", "value": 1.6, "unit": "%"}}"#),
        ])
        .status()
        .expect("mosquitto_pub runs (scripts/setup installs mosquitto-clients)");
    assert!(st.success());
    let status = broker::wait_exit(&mut viewer, std::time::Duration::from_secs(600));
    let log = std::fs::read_to_string(dir.join("viewer.log")).unwrap_or_default();
    assert!(status.success(), "{log}");
    for c in [&mut ingest, &mut serve] {
        let _ = c.kill();
        let _ = c.wait();
    }
    let (px, w, h) = read_png(&png_path);
    let probes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("live.png.json")).expect("sidecar"))
            .expect("json");
    let shot = Shot {
        px,
        w,
        h,
        probes,
        stdout: log,
    };
    let near = shot.around("alarm:mine-ha-lam", 2);
    let red = near
        .iter()
        .filter(|&&[r, g, b]| r > 140 && g < 60 && b < 60)
        .count();
    assert!(
        red * 2 > near.len(),
        "the alarmed mine is not red: {near:?}"
    );
}

/// A mine run (`twin simulate mine` on the bundled network with its fan-stop scenario) picked
/// with `--pick` draws its network beneath the mine: ten minutes after the faces pass 1.5 % CH₄,
/// a face is red and a fresh-air branch green.
#[test]
fn a_mine_run_draws_its_network_under_the_picked_mine() {
    let tmp = tmp("mine");
    let mines = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh/mines");
    let run = tmp.path().join("run");
    let out = Command::new(twin_exe())
        .args(["simulate", "mine", "--network"])
        .arg(mines.join("mong-duong.toml"))
        .arg("--scenario")
        .arg(mines.join("mong-duong-fan-stop.toml"))
        .arg("--out")
        .arg(&run)
        .env_remove("QN_TWIN_DATASET")
        .output()
        .expect("twin runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = run.to_str().expect("utf-8");
    let shot = shoot(
        "mine-shot",
        &[
            "--run",
            run,
            "--pick",
            "mine-mong-duong",
            "--time",
            "2026-03-10T06:50:00+07:00",
        ],
    );
    let hot = shot.around("mine_hot", 2);
    assert!(
        hot.iter().any(|&[r, g, b]| r > 150 && g < 60 && b < 60),
        "no red near the hot face: {hot:?}"
    );
    let clean = shot.around("mine_clean", 2);
    assert!(
        clean.iter().any(|&[r, g, b]| g > 120 && r < 110 && b < 110),
        "no green near a fresh-air branch: {clean:?}"
    );
    // an unknown id is a usage error naming it
    let bad = viewer()
        .args(["--run", run, "--pick", "mine-nowhere", "--screenshot"])
        .arg(tmp.path().join("x.png"))
        .output()
        .expect("runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("mine-nowhere"));
}
