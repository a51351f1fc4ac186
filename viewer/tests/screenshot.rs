//! `twin-viewer --screenshot` under `xvfb-run` with lavapipe: the image is not blank, and land,
//! sea, a road and the overlay show where the viewer's projection puts them (the probes in the
//! screenshot's JSON sidecar). A synthetic run directory — a Gaussian PM2.5 blob on the
//! dispersion grid, every road jammed — checks that the overlays are wired.

use std::path::{Path, PathBuf};
use std::process::Command;

use polars::prelude::*;
use twin_engine::output::geotiff::{Band, GeoReference, write_geotiff};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("qn-twin-viewer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("tmp dir");
    d
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

fn shoot(name: &str, extra: &[&str]) -> Shot {
    let dir = tmp(name);
    let png_path = dir.join("shot.png");
    let mut cmd = Command::new("xvfb-run");
    cmd.args(["-a", env!("CARGO_BIN_EXE_twin-viewer")])
        .args(extra)
        .args(["--frames", "6", "--size", "960x540", "--screenshot"])
        .arg(&png_path)
        .env_remove("QN_TWIN_DATASET");
    let out = cmd
        .output()
        .expect("xvfb-run runs (install xvfb and mesa-vulkan-drivers: scripts/setup)");
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

/// A dispersion + traffic run directory: PM2.5 blob centred on `centre` (projected m), all
/// roads at 5 km/h.
fn synthetic_run(dir: &Path, centre: (f64, f64)) {
    let (nx, ny, cell) = (200usize, 140usize, 500.0);
    let (min_x, max_y) = (centre.0 - 50_000.0, centre.1 + 35_000.0);
    let mut v = vec![0f32; nx * ny];
    for j in 0..ny {
        for i in 0..nx {
            let x = min_x + (i as f64 + 0.5) * cell - centre.0;
            let y = max_y - (j as f64 + 0.5) * cell - centre.1;
            v[j * nx + i] = (80.0 * (-(x * x + y * y) / (2.0 * 6000.0f64.powi(2))).exp()) as f32;
        }
    }
    write_geotiff(
        &dir.join("concentration.tif"),
        nx,
        ny,
        &GeoReference {
            epsg: 32648,
            min_x,
            max_y,
            pixel: cell,
        },
        &[Band {
            description: "PM2.5 time-mean µg/m³".into(),
            unit: "µg/m³".into(),
            values: &v,
        }],
        &[],
    )
    .expect("GeoTIFF");
    let summary = serde_json::json!({
        "scenario": "synthetic blob",
        "pollutants": ["PM2.5"],
        "grid": {"nx": nx, "ny": ny, "cell_m": cell, "min_x": min_x, "max_y": max_y,
                 "max_x": min_x + nx as f64 * cell, "min_y": max_y - ny as f64 * cell, "crs": "EPSG:32648"},
    });
    std::fs::write(dir.join("summary.json"), summary.to_string()).expect("summary");
    let ds =
        twin_engine::dataset::Dataset::load(&twin_engine::bundled_dataset_dir()).expect("dataset");
    let ids: Vec<String> = ds
        .province
        .road_links
        .iter()
        .map(|r| r.meta.id.clone())
        .collect();
    let n = ids.len();
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("road_id".into(), ids),
        Column::new("class".into(), vec!["all"; n]),
        Column::new("time".into(), vec![1_767_225_600_000i64; n])
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .expect("time"),
        Column::new("speed_km_h".into(), vec![5.0f64; n]),
        Column::new("density_veh_km".into(), vec![150.0f64; n]),
        Column::new("flow_veh_h".into(), vec![300.0f64; n]),
    ])
    .expect("links frame");
    let f = std::fs::File::create(dir.join("links.parquet")).expect("links.parquet");
    ParquetWriter::new(f).finish(&mut df).expect("parquet");
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
    synthetic_run(&run, utm.forward(107.55, 20.98));
    let with = shoot("with-run", &["--run", &run.display().to_string()]);
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
    let _ = std::fs::remove_dir_all(run);
}
