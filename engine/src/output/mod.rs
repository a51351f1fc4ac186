//! Output writers: the only place simulation results reach the filesystem. GeoTIFF rasters,
//! PNG maps, Parquet tables and JSON summaries.

pub mod geoparquet;
pub mod geotiff;
pub mod map;
pub mod run;
pub mod style;
pub mod text;
pub mod traffic;

use std::path::{Path, PathBuf};

use geo::Geometry;
use polars::prelude::*;

use crate::dispersion::DispersionRun;
use crate::dispersion::scenario::ResolvedDispersion;
use crate::grid::Grid;
use crate::model::FeatureKind;
use crate::spatial::project;
use crate::telemetry::time::local_minute;

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

/// A pollutant name as a file-name part (`PM2.5` → `PM2_5`).
fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
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
    run: &ResolvedDispersion,
    result: &DispersionRun,
) -> Result<run::RunSummary, OutputError> {
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
    // district seats, by name
    let seats: Vec<(String, f64, f64)> = run
        .dataset
        .province
        .districts
        .iter()
        .filter_map(|d| {
            let seat = d.meta.extra.get("seat")?.as_array()?;
            let (lon, lat) = (seat.first()?.as_f64()?, seat.get(1)?.as_f64()?);
            let (x, y) = utm.forward(lon, lat);
            let (fx, fy) = g.cell_coords(x, y);
            Some((d.meta.name.clone(), fx, fy))
        })
        .collect();
    let start_ms = run.start.timestamp_millis();
    let period = format!(
        "{} to {} (UTC+7), {hours} h; scenario {}",
        local_minute(start_ms),
        local_minute(start_ms + (hours * 3.6e6).round() as i64),
        run.scenario.name
    );
    let pen = text::Pen::system();
    let plane = g.cells();
    let mut panels = Vec::with_capacity(names.len());
    for (p, n) in names.iter().enumerate() {
        let field = &result.mean_conc[p * plane..(p + 1) * plane];
        let scale = map::LogScale::for_values(field, 4.0);
        let title = format!("{n}: time-mean concentration, µg/m³");
        let legend = map::Legend {
            scale,
            title: &title,
            subtitle: &period,
            unit: "µg/m³",
        };
        panels.push(map::render_panel(
            g, field, &mask, &markers, &seats, legend, &pen, 900,
        ));
        // the same colours in QGIS: `concentration.qml` styles band 1 (QGIS loads it with the
        // raster), `concentration.<pollutant>.qml` each band
        let qml = out.join(format!("concentration.{}.qml", file_safe(n)));
        style::write_qml(&qml, p + 1, scale, "µg/m³")?;
        if p == 0 {
            style::write_qml(&out.join("concentration.qml"), 1, scale, "µg/m³")?;
        }
    }
    let png_path = out.join("concentration.png");
    map::compose(&panels, 2).write_png(&png_path)?;

    // station series
    let pq = out.join("stations.parquet");
    write_station_series(&pq, run, result)?;

    let outputs = [
        (
            "concentration.tif",
            "Cloud-Optimized GeoTIFF: time-mean concentration, one Float32 band per pollutant (in `pollutants` order), µg/m³",
        ),
        (
            "concentration_final.tif",
            "concentration at the end of the run, one band per pollutant, µg/m³",
        ),
        (
            "concentration.png",
            "time-mean maps, log colour scale, one panel per pollutant",
        ),
        (
            "concentration.qml",
            "QGIS style of concentration.tif band 1: the PNG's log viridis and range",
        ),
        (
            "concentration.<pollutant>.qml",
            "QGIS style of each pollutant's band",
        ),
        (
            "stations.parquet",
            "GeoParquet: station_id, time (UTC, end of each output interval), pollutant, concentration_ug_m3, geometry (the station, lon/lat)",
        ),
    ];
    let summary = run::DispersionSummary {
        format_version: run::FORMAT_VERSION,
        scenario: run.scenario.name.clone(),
        start_utc: run.start.to_rfc3339(),
        duration_h: hours,
        backend: if result.adapter.is_some() {
            "gpu"
        } else {
            "cpu"
        }
        .into(),
        adapter: result.adapter.clone(),
        grid: g.clone(),
        pollutants: names.iter().map(ToString::to_string).collect(),
        mixing_height_m: run.problem.mixing_height_m,
        diffusivity_m2_s: run.kdiff.clone(),
        steps: result.steps,
        cell_updates: result.cell_updates,
        wall_s: result.wall_s,
        cell_updates_per_s: result.cell_updates as f64 / result.wall_s.max(1e-9),
        mass_budget: names
            .iter()
            .zip(&result.budget)
            .map(|(n, b)| ((*n).to_string(), *b))
            .collect(),
        sources: run.source_list.iter().map(|s| s.0.clone()).collect(),
        left_out: run.outside.clone(),
        outputs: outputs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
    };
    let summary = run::RunSummary::Dispersion(Box::new(summary));
    run::write_summary(out, &summary)?;
    Ok(summary)
}

/// `stations.parquet`: one row per (station, output time, pollutant).
pub fn write_station_series(
    path: &Path,
    run: &ResolvedDispersion,
    result: &DispersionRun,
) -> Result<(), OutputError> {
    let ns = run.problem.stations.len();
    let np = run.problem.pollutants.len();
    // each station's point, as WKB in lon/lat
    let p = &run.dataset.province;
    let station_wkb: Vec<Vec<u8>> = run
        .problem
        .stations
        .iter()
        .map(|(id, _)| {
            let loc = p
                .find(id)
                .filter(|h| h.kind == FeatureKind::Station)
                .map(|h| p.stations[h.index].location);
            loc.map_or_else(Vec::new, |l| geoparquet::wkb_point(l.x(), l.y()))
        })
        .collect();
    let mut geometry = Vec::new();
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
                geometry.push(station_wkb[s].clone());
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
    let df = DataFrame::new_infer_height(vec![
        Column::new("station_id".into(), ids),
        time.into_column(),
        Column::new("pollutant".into(), pols),
        Column::new("concentration_ug_m3".into(), vals),
    ])
    .map_err(enc)?;
    geoparquet::write_geoparquet(path, df, "Point", geometry)
}

/// The one rule for time in written tables: every instant is written as a UTC-tagged
/// `timestamp[ms]` (Parquet `isAdjustedToUTC = true`), so pandas, DuckDB and GIS tools read
/// instants, not local-naive times. An `Int64` column whose name ends in `_ms` holds epoch
/// milliseconds (the engine's internal form) and is written under the name without the suffix
/// (`start_ms` → `start`); a datetime column is tagged UTC (the engine's datetimes are all UTC
/// instants; polars without its `timezones` feature drops a zone on `cast`, so the tag is set on
/// the physical values directly).
pub fn utc_times(df: &DataFrame) -> PolarsResult<DataFrame> {
    let utc = || Some(TimeZone::UTC);
    let mut out = df.clone();
    for c in df.columns() {
        let name = c.name().as_str();
        match c.dtype() {
            DataType::Int64 => {
                if let Some(base) = name.strip_suffix("_ms")
                    && !base.is_empty()
                    && df.column(base).is_err()
                {
                    let t = c
                        .as_materialized_series()
                        .clone()
                        .into_datetime(TimeUnit::Milliseconds, utc());
                    out.replace(name, t.into_column())?;
                    out.rename(name, base.into())?;
                }
            }
            DataType::Datetime(unit, tz) if tz.as_deref().map(|z| z.as_str()) != Some("UTC") => {
                let t = c
                    .as_materialized_series()
                    .to_physical_repr()
                    .into_owned()
                    .into_datetime(*unit, utc());
                out.replace(name, t.into_column())?;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Writes a table as one Parquet file (times by [`utc_times`]), whole or not at all
/// ([`crate::safeio::write_atomic`]: an earlier file is replaced only by a complete one);
/// errors name the file.
pub fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<(), OutputError> {
    let enc = |e: PolarsError| OutputError::encode(path, e.to_string());
    let mut df = utc_times(df).map_err(enc)?;
    let mut failure = None;
    crate::safeio::write_atomic(path, |f| {
        ParquetWriter::new(f)
            .finish(&mut df)
            .map(|_| ())
            .map_err(|e| {
                let m = e.to_string();
                failure = Some(m.clone());
                std::io::Error::other(m)
            })
    })
    .map_err(|e| match failure.take() {
        Some(m) => OutputError::encode(path, m),
        None => OutputError::io(path, e),
    })
}

/// Parquet tables written a batch at a time (polars' batched writer, one row group per batch),
/// e.g. a streamed run's daily results; times by [`utc_times`]. A table with no rows written
/// still gets a file once [`ParquetSinks::finish`] runs (with the schema of its first batch).
pub struct ParquetSinks {
    dir: PathBuf,
    names: Vec<String>,
    writers: Vec<Option<polars::io::parquet::write::BatchedWriter<std::fs::File>>>,
}

impl std::fmt::Debug for ParquetSinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSinks")
            .field("dir", &self.dir)
            .field("names", &self.names)
            .finish()
    }
}

impl ParquetSinks {
    /// Sinks `DIR/<name>.parquet`, one per name.
    pub fn new(dir: &Path, names: &[&str]) -> Self {
        Self {
            dir: dir.to_path_buf(),
            names: names.iter().map(|s| s.to_string()).collect(),
            writers: names.iter().map(|_| None).collect(),
        }
    }

    /// Appends a batch to sink `i` (the first batch creates the file).
    pub fn write(&mut self, i: usize, df: &DataFrame) -> Result<(), OutputError> {
        let path = self.dir.join(format!("{}.parquet", self.names[i]));
        let enc = |e: PolarsError| OutputError::encode(&path, e.to_string());
        let df = utc_times(df).map_err(enc)?;
        let writer = match &mut self.writers[i] {
            Some(w) => w,
            slot => {
                let f = std::fs::File::create(&path).map_err(|e| OutputError::io(&path, e))?;
                slot.insert(ParquetWriter::new(f).batched(df.schema()).map_err(enc)?)
            }
        };
        if df.height() > 0 {
            writer.write_batch(&df).map_err(enc)?;
        }
        Ok(())
    }

    /// Closes every file.
    pub fn finish(self) -> Result<(), OutputError> {
        for (w, name) in self.writers.into_iter().zip(&self.names) {
            if let Some(w) = w {
                let path = self.dir.join(format!("{name}.parquet"));
                w.finish()
                    .map_err(|e| OutputError::encode(&path, e.to_string()))?;
            }
        }
        Ok(())
    }
}
