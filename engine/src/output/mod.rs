//! Output writers: the only place simulation results reach the filesystem. GeoTIFF rasters,
//! PNG maps, Parquet tables and JSON summaries.

pub mod geotiff;
pub mod map;
pub mod traffic;

use std::path::{Path, PathBuf};

use geo::Geometry;
use polars::prelude::*;
use serde_json::json;

use crate::dispersion::scenario::ResolvedScenario;
use crate::dispersion::{DispersionResult, Grid};
use crate::model::FeatureKind;
use crate::spatial::project;

/// Errors from writing outputs.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// A file could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An encoder (PNG, Parquet) failed.
    #[error("{}: {message}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's message.
        message: String,
    },
}

impl OutputError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub(crate) fn encode(path: &Path, message: String) -> Self {
        Self::Encode {
            path: path.to_path_buf(),
            message,
        }
    }
}

/// Rows of a `[pollutant][row from south][col]` field flipped to north-first, one band each.
fn north_up(grid: &Grid, field: &[f32], p: usize) -> Vec<f32> {
    let plane = grid.cells();
    let src = &field[p * plane..(p + 1) * plane];
    let mut out = Vec::with_capacity(plane);
    for j in (0..grid.ny).rev() {
        out.extend_from_slice(&src[j * grid.nx..(j + 1) * grid.nx]);
    }
    out
}

/// Writes `DIR/concentration.tif` (time-mean, one band per pollutant),
/// `DIR/concentration_final.tif` (end of run, one band per pollutant), `DIR/concentration.png`,
/// `DIR/stations.parquet` and `DIR/summary.json`. Returns the summary.
pub fn write_dispersion_run(
    out: &Path,
    run: &ResolvedScenario,
    result: &DispersionResult,
) -> Result<serde_json::Value, OutputError> {
    std::fs::create_dir_all(out).map_err(|e| OutputError::io(out, e))?;
    let g = &run.problem.grid;
    let names: Vec<&str> = run.problem.pollutants.iter().map(|p| p.as_str()).collect();
    let geo = geotiff::GeoReference {
        epsg: g.epsg,
        min_x: g.x0,
        max_y: g.y0 + g.ny as f64 * g.cell_m,
        pixel: g.cell_m,
    };
    let hours = run.scenario.duration_h;
    for (file, field, what) in [
        (
            "concentration.tif",
            &result.mean_conc,
            format!("time-mean over {hours} h"),
        ),
        (
            "concentration_final.tif",
            &result.final_conc,
            format!("final, at {hours} h"),
        ),
    ] {
        let planes: Vec<Vec<f32>> = (0..names.len()).map(|p| north_up(g, field, p)).collect();
        let bands: Vec<geotiff::Band<'_>> = planes
            .iter()
            .zip(&names)
            .map(|(v, n)| geotiff::Band {
                description: format!("{n} {what} µg/m³"),
                unit: "µg/m³".into(),
                values: v,
            })
            .collect();
        let path = out.join(file);
        geotiff::write_geotiff(
            &path,
            g.nx,
            g.ny,
            &geo,
            &bands,
            &[
                ("QUANTITY", what.clone()),
                ("SCENARIO", run.scenario.name.clone()),
                ("MIXING_HEIGHT_M", run.problem.mixing_height_m.to_string()),
                ("START_UTC", run.start.to_rfc3339()),
            ],
        )
        .map_err(|e| OutputError::io(&path, e))?;
    }

    // map
    let utm = &run.dataset.projection;
    let land: Vec<Geometry<f64>> = run
        .dataset
        .province
        .land
        .iter()
        .map(|l| project(utm, &Geometry::MultiPolygon(l.geometry.clone())))
        .collect();
    let mask = map::land_mask(g, &land);
    let mut markers = Vec::new();
    for (_, kind, lon, lat) in &run.source_list {
        if lon.is_nan() {
            continue;
        }
        let (x, y) = utm.forward(*lon, *lat);
        let (fx, fy) = g.cell_coords(x, y);
        let m = if *kind == FeatureKind::Plant {
            map::Marker::Plant
        } else {
            map::Marker::Mine
        };
        markers.push((m, fx, fy));
    }
    for (_, s) in &run.problem.stations {
        markers.push((map::Marker::Station, f64::from(s.fx), f64::from(s.fy)));
    }
    let plane = g.cells();
    let panels: Vec<map::Image> = names
        .iter()
        .enumerate()
        .map(|(p, n)| {
            let field = &result.mean_conc[p * plane..(p + 1) * plane];
            let scale = map::LogScale::for_values(field, 4.0);
            let title = format!("{n} mean {hours} h");
            let legend = map::Legend {
                scale,
                title: &title,
                unit: "µg/m³",
            };
            map::render_panel(g, field, &mask, &markers, legend, 900)
        })
        .collect();
    let png_path = out.join("concentration.png");
    map::compose(&panels, 2).write_png(&png_path)?;

    // station series
    let pq = out.join("stations.parquet");
    write_station_series(&pq, run, result)?;

    let budget: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .zip(&result.budget)
        .map(|(n, b)| ((*n).to_string(), json!(b)))
        .collect();
    let summary = json!({
        "scenario": run.scenario.name,
        "start_utc": run.start.to_rfc3339(),
        "duration_h": hours,
        "backend": if result.adapter.is_some() { "gpu" } else { "cpu" },
        "adapter": result.adapter,
        "grid": {
            "nx": g.nx, "ny": g.ny, "cell_m": g.cell_m, "crs": format!("EPSG:{}", g.epsg),
            "min_x": g.x0, "min_y": g.y0,
            "max_x": g.x0 + g.nx as f64 * g.cell_m, "max_y": g.y0 + g.ny as f64 * g.cell_m,
        },
        "pollutants": names,
        "mixing_height_m": run.problem.mixing_height_m,
        "diffusivity_m2_s": run.kdiff,
        "steps": result.steps,
        "cell_updates": result.cell_updates,
        "wall_s": result.wall_s,
        "cell_updates_per_s": result.cell_updates as f64 / result.wall_s.max(1e-9),
        "mass_budget": budget,
        "sources": run.source_list.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        "left_out": run.outside,
        "outputs": {
            "concentration.tif": "time-mean concentration, one Float32 band per pollutant (in `pollutants` order), µg/m³",
            "concentration_final.tif": "concentration at the end of the run, one band per pollutant, µg/m³",
            "concentration.png": "time-mean maps, log colour scale, one panel per pollutant",
            "stations.parquet": "station_id, time (UTC, end of each output interval), pollutant, concentration_ug_m3",
        },
    });
    let sp = out.join("summary.json");
    let text = serde_json::to_string_pretty(&summary)
        .map_err(|e| OutputError::encode(&sp, e.to_string()))?;
    std::fs::write(&sp, text + "\n").map_err(|e| OutputError::io(&sp, e))?;
    Ok(summary)
}

/// `stations.parquet`: one row per (station, output time, pollutant).
pub fn write_station_series(
    path: &Path,
    run: &ResolvedScenario,
    result: &DispersionResult,
) -> Result<(), OutputError> {
    let ns = run.problem.stations.len();
    let np = run.problem.pollutants.len();
    let mut ids = Vec::new();
    let mut times = Vec::new();
    let mut pols = Vec::new();
    let mut vals = Vec::new();
    let start_ms = run.start.timestamp_millis();
    let mut t_s = 0.0;
    for (slot, interval) in run.problem.intervals.iter().enumerate() {
        t_s += interval.duration_s;
        for (s, (id, _)) in run.problem.stations.iter().enumerate() {
            for (p, pol) in run.problem.pollutants.iter().enumerate() {
                ids.push(id.clone());
                times.push(start_ms + (t_s * 1000.0).round() as i64);
                pols.push(pol.as_str().to_string());
                vals.push(result.samples[(slot * ns + s) * np + p]);
            }
        }
    }
    let enc = |e: PolarsError| OutputError::encode(path, e.to_string());
    let time = Series::new("time".into(), times)
        .cast(&DataType::Datetime(
            TimeUnit::Milliseconds,
            Some(TimeZone::UTC),
        ))
        .map_err(enc)?;
    let mut df = DataFrame::new_infer_height(vec![
        Column::new("station_id".into(), ids),
        time.into_column(),
        Column::new("pollutant".into(), pols),
        Column::new("concentration_ug_m3".into(), vals),
    ])
    .map_err(enc)?;
    write_parquet(path, &mut df)
}

/// Writes a table as one Parquet file; errors name the file.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<(), OutputError> {
    let file = std::fs::File::create(path).map_err(|e| OutputError::io(path, e))?;
    ParquetWriter::new(file)
        .finish(df)
        .map_err(|e| OutputError::encode(path, e.to_string()))?;
    Ok(())
}
