//! Output writers: the only place simulation results reach the filesystem. GeoTIFF rasters,
//! PNG maps, Parquet tables and JSON summaries.

pub mod geoparquet;
pub mod geotiff;
pub mod map;
pub mod mine;
pub mod run;
pub mod style;
pub mod text;
pub mod traffic;

use std::path::{Path, PathBuf};

use geo::Geometry;
use polars::prelude::*;

use crate::dispersion::DispersionRun;
use crate::dispersion::scenario::{ResolvedDispersion, olm_no2};
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

/// The ground-level bands of a run as written: each carried pollutant (near field + grid +
/// background) and NO₂ by the OLM when asked; per band its time-mean and final fields and its
/// per-interval station and receptor values.
struct Bands {
    names: Vec<String>,
    mean: Vec<Vec<f32>>,
    last: Vec<Vec<f32>>,
    /// `[band][interval][station]`.
    stations: Vec<Vec<Vec<f32>>>,
    /// `[band][interval][receptor]`.
    receptors: Vec<Vec<Vec<f32>>>,
}

fn ground_bands(run: &ResolvedDispersion, result: &DispersionRun) -> Bands {
    let pr = &run.problem;
    let plane = pr.grid.cells();
    let np = pr.pollutants.len();
    let (ns, nr, ni) = (pr.stations.len(), pr.receptors.len(), pr.intervals.len());
    let counted = counted_intervals(run);
    let mut names: Vec<String> = pr
        .pollutants
        .iter()
        .map(|p| p.as_str().to_string())
        .collect();
    let mut mean: Vec<Vec<f32>> = Vec::new();
    let mut last: Vec<Vec<f32>> = Vec::new();
    let mut stations: Vec<Vec<Vec<f32>>> = Vec::new();
    let mut receptors: Vec<Vec<Vec<f32>>> = Vec::new();
    for p in 0..np {
        let bg = &run.background[p];
        let bg_mean = if counted.is_empty() {
            0.0
        } else {
            counted.iter().map(|i| bg[*i]).sum::<f64>() / counted.len() as f64
        };
        let bg_last = bg.last().copied().unwrap_or(0.0);
        mean.push(
            result.mean_conc[p * plane..(p + 1) * plane]
                .iter()
                .map(|v| (f64::from(*v) + bg_mean) as f32)
                .collect(),
        );
        last.push(
            result.final_conc[p * plane..(p + 1) * plane]
                .iter()
                .map(|v| (f64::from(*v) + bg_last) as f32)
                .collect(),
        );
        stations.push(
            (0..ni)
                .map(|i| {
                    (0..ns)
                        .map(|s| (f64::from(result.samples[(i * ns + s) * np + p]) + bg[i]) as f32)
                        .collect()
                })
                .collect(),
        );
        receptors.push(
            (0..ni)
                .map(|i| {
                    (0..nr)
                        .map(|r| {
                            (f64::from(result.receptor_samples[(i * nr + r) * np + p]) + bg[i])
                                as f32
                        })
                        .collect()
                })
                .collect(),
        );
    }
    if let Some((isr, o3, k)) = run.no2 {
        let olm = |v: &f32| olm_no2(f64::from(*v), isr, o3) as f32;
        names.push("NO2".into());
        mean.push(mean[k].iter().map(olm).collect());
        last.push(last[k].iter().map(olm).collect());
        let per = |x: &Vec<Vec<f32>>| -> Vec<Vec<f32>> {
            x.iter().map(|row| row.iter().map(olm).collect()).collect()
        };
        stations.push(per(&stations[k]));
        receptors.push(per(&receptors[k]));
    }
    Bands {
        names,
        mean,
        last,
        stations,
        receptors,
    }
}

/// Indices of the output intervals after the spin-up.
fn counted_intervals(run: &ResolvedDispersion) -> Vec<usize> {
    let after = run.problem.after_spin_up();
    (0..after.len()).filter(|i| after[*i]).collect()
}

/// End time of each output interval, ms since the epoch.
fn interval_ends_ms(run: &ResolvedDispersion) -> Vec<i64> {
    let start_ms = run.start.timestamp_millis();
    let mut t_s = 0.0;
    run.problem
        .intervals
        .iter()
        .map(|iv| {
            t_s += iv.duration_s;
            start_ms + (t_s * 1000.0).round() as i64
        })
        .collect()
}

/// Writes `DIR/concentration.tif` (ground-level time-mean, one band per pollutant),
/// `DIR/concentration_final.tif` (ground level at the end), `DIR/concentration.png`,
/// `DIR/stations.parquet`, `DIR/receptors.parquet` and `DIR/summary.json`. Returns the summary.
pub fn write_dispersion_run(
    out: &Path,
    run: &ResolvedDispersion,
    result: &DispersionRun,
) -> Result<run::RunSummary, OutputError> {
    std::fs::create_dir_all(out).map_err(|e| OutputError::io(out, e))?;
    let g = &run.problem.grid;
    let bands = ground_bands(run, result);
    let names: Vec<&str> = bands.names.iter().map(String::as_str).collect();
    let geo = geotiff::GeoReference {
        epsg: g.epsg,
        min_x: g.x0,
        max_y: g.y0 + g.ny as f64 * g.cell_m,
        pixel: g.cell_m,
    };
    let hours = run.scenario.duration_h;
    let spin = run.scenario.spin_up_h;
    let height = run.problem.near_field.raster_height_m;
    let level = if run.problem.near_field.enabled {
        format!("ground level ({height} m: near-field plumes + grid)")
    } else {
        "mixed-layer mean (grid alone)".to_string()
    };
    let with_bg = if run.background.iter().any(|b| b.iter().any(|v| *v != 0.0)) {
        ", background included"
    } else {
        ""
    };
    for (file, fields, what) in [
        (
            "concentration.tif",
            &bands.mean,
            format!("time-mean from {spin} h to {hours} h"),
        ),
        (
            "concentration_final.tif",
            &bands.last,
            format!("final interval, at {hours} h"),
        ),
    ] {
        let planes: Vec<Vec<f32>> = fields.iter().map(|f| north_up(g, f, 0)).collect();
        let tif_bands: Vec<geotiff::Band<'_>> = planes
            .iter()
            .zip(&names)
            .map(|(v, n)| geotiff::Band {
                description: format!("{n} {what}, {level}{with_bg}, µg/m³"),
                unit: "µg/m³".into(),
                values: v,
            })
            .collect();
        let path = out.join(file);
        let lids: Vec<String> = run
            .problem
            .intervals
            .iter()
            .map(|i| i.mixing_height_m.to_string())
            .collect();
        geotiff::write_geotiff(
            &path,
            g.nx,
            g.ny,
            &geo,
            &tif_bands,
            &[
                ("QUANTITY", format!("{what}, {level}{with_bg}")),
                ("SCENARIO", run.scenario.name.clone()),
                ("MIXING_HEIGHT_M", lids.join(",")),
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
        local_minute(start_ms + (spin * 3.6e6).round() as i64),
        local_minute(start_ms + (hours * 3.6e6).round() as i64),
        run.scenario.name
    );
    let pen = text::Pen::system();
    let mut panels = Vec::with_capacity(names.len());
    for (p, n) in names.iter().enumerate() {
        let field = &bands.mean[p];
        let scale = map::LogScale::for_values(field, 4.0);
        let title = format!("{n}: time-mean ground-level concentration, µg/m³");
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

    write_station_series(&out.join("stations.parquet"), run, &bands)?;
    write_receptors(&out.join("receptors.parquet"), run, &bands)?;
    let exposure = exposure(run, &bands, &mask);

    let outputs = [
        (
            "concentration.tif",
            "Cloud-Optimized GeoTIFF: ground-level (1.5 m: near-field plumes at the cell centres + the grid) time-mean after the spin-up, background included, one Float32 band per pollutant (in `pollutants` order), µg/m³",
        ),
        (
            "concentration_final.tif",
            "ground-level concentration of the last output interval (grid at the end + that interval's near field + background), one band per pollutant, µg/m³",
        ),
        (
            "concentration.png",
            "time-mean ground-level maps, log colour scale, one panel per pollutant",
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
            "GeoParquet: station_id, time (UTC, end of each output interval after the spin-up), pollutant, concentration_ug_m3 (interval mean at the station's position and 1.5 m, near field + grid + background), geometry (lon/lat)",
        ),
        (
            "receptors.parquet",
            "GeoParquet: receptor, lon, lat, height_m, distance_m and direction_deg (polar receptors), time (UTC, interval end), pollutant, concentration_ug_m3 (interval mean, near field + grid + background), geometry",
        ),
    ];
    let calm = run.problem.intervals.iter().filter(|i| i.calm).count();
    let nf = &run.problem.near_field;
    let plume_rise = run
        .problem
        .emitters
        .iter()
        .zip(&result.max_rise_m)
        .filter(|(e, _)| e.exit.is_some())
        .map(|(e, r)| run::PlumeRiseSummary {
            source: run.source_list[e.source].0.clone(),
            stack_height_m: e.height_m,
            max_final_rise_m: *r,
        })
        .collect();
    let background = run
        .scenario
        .background
        .iter()
        .map(|(k, b)| {
            let what = match (b.ug_m3, &b.hourly_ug_m3, &b.station) {
                (Some(v), _, _) => format!("{v} µg/m³, constant"),
                (_, Some(s), _) => format!("hourly series of {} values", s.len()),
                (_, _, Some(st)) => format!(
                    "hourly means observed at station {st} ({})",
                    b.observations
                        .as_ref()
                        .map_or(String::new(), |p| p.display().to_string())
                ),
                _ => String::new(),
            };
            (k.clone(), what)
        })
        .collect();
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
        pollutants: bands.names.clone(),
        mixing_height_m: run
            .problem
            .intervals
            .iter()
            .map(|i| i.mixing_height_m)
            .collect(),
        diffusivity_m2_s: run.kdiff.clone(),
        stability: run
            .problem
            .intervals
            .iter()
            .map(|i| i.stability.map_or(String::new(), |s| s.as_str().to_string()))
            .collect(),
        calm_intervals: calm,
        calm_threshold_m_s: run.scenario.wind.calm_m_s.unwrap_or(0.5),
        spin_up_h: spin,
        near_field: run::NearFieldSummary {
            enabled: nf.enabled,
            max_travel_m: nf.max_travel_m,
            fade_start_fraction: nf.fade_start_fraction,
            receptor_height_m: nf.raster_height_m,
            emitters: run.problem.emitters.len(),
            evaluations: result.near_evaluations,
            wall_s: result.near_wall_s,
        },
        plume_rise,
        background,
        no2: run.no2.map(|(isr, o3, _)| {
            format!("ozone limiting method (Cole & Summerhays 1979) on ground-level NOx (background NOx included): in-stack NO2/NOx {isr}, background O3 {o3} µg/m³; rasters apply it to the time-mean field, tables to each interval")
        }),
        exposure,
        steps: result.steps,
        cell_updates: result.cell_updates,
        wall_s: result.wall_s,
        cell_updates_per_s: result.cell_updates as f64 / result.wall_s.max(1e-9),
        wind_projection: result.wind_projections.clone(),
        mass_budget: run
            .problem
            .pollutants
            .iter()
            .zip(&result.budget)
            .map(|(n, b)| (n.as_str().to_string(), *b))
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

/// Population-weighted time-mean ground-level concentration per district (and `province`) and
/// band: each district's 2019 population spread evenly over its land cells in the grid.
fn exposure(
    run: &ResolvedDispersion,
    bands: &Bands,
    land: &[bool],
) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>> {
    let g = &run.problem.grid;
    let utm = &run.dataset.projection;
    let mut out = std::collections::BTreeMap::new();
    let mut province = vec![0.0f64; bands.names.len()];
    let mut people = 0.0;
    for d in &run.dataset.province.districts {
        let Some(pop) = d.population_2019 else {
            continue;
        };
        let shape = project(utm, &Geometry::MultiPolygon(d.geometry.clone()));
        let inside = map::land_mask(g, &[shape]);
        let cells: Vec<usize> = (0..g.cells()).filter(|&c| inside[c] && land[c]).collect();
        if cells.is_empty() {
            continue;
        }
        let mut per = std::collections::BTreeMap::new();
        for (b, name) in bands.names.iter().enumerate() {
            let m = cells
                .iter()
                .map(|&c| f64::from(bands.mean[b][c]))
                .sum::<f64>()
                / cells.len() as f64;
            province[b] += pop * m;
            per.insert(name.clone(), m);
        }
        people += pop;
        out.insert(d.meta.id.clone(), per);
    }
    if people > 0.0 {
        out.insert(
            "province".to_string(),
            bands
                .names
                .iter()
                .zip(&province)
                .map(|(n, v)| (n.clone(), v / people))
                .collect(),
        );
    }
    out
}

/// `stations.parquet`: one row per (station, output time after the spin-up, band).
fn write_station_series(
    path: &Path,
    run: &ResolvedDispersion,
    bands: &Bands,
) -> Result<(), OutputError> {
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
    let ends = interval_ends_ms(run);
    for slot in counted_intervals(run) {
        for (s, (id, _)) in run.problem.stations.iter().enumerate() {
            for (b, name) in bands.names.iter().enumerate() {
                geometry.push(station_wkb[s].clone());
                ids.push(id.clone());
                times.push(ends[slot]);
                pols.push(name.clone());
                vals.push(bands.stations[b][slot][s]);
            }
        }
    }
    let enc = |e: PolarsError| OutputError::encode(path, e.to_string());
    let df = DataFrame::new_infer_height(vec![
        Column::new("station_id".into(), ids),
        Column::new("time_ms".into(), times),
        Column::new("pollutant".into(), pols),
        Column::new("concentration_ug_m3".into(), vals),
    ])
    .map_err(enc)?;
    geoparquet::write_geoparquet(path, df, "Point", geometry)
}

/// `receptors.parquet`: one row per (receptor, output time after the spin-up, band).
fn write_receptors(
    path: &Path,
    run: &ResolvedDispersion,
    bands: &Bands,
) -> Result<(), OutputError> {
    let mut geometry = Vec::new();
    let (mut names, mut lons, mut lats, mut hs, mut ds, mut dirs) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let (mut times, mut pols, mut vals) = (Vec::new(), Vec::new(), Vec::new());
    let ends = interval_ends_ms(run);
    for slot in counted_intervals(run) {
        for (r, m) in run.receptors.iter().enumerate() {
            for (b, name) in bands.names.iter().enumerate() {
                geometry.push(geoparquet::wkb_point(m.lon, m.lat));
                names.push(m.name.clone());
                lons.push(m.lon);
                lats.push(m.lat);
                hs.push(m.height_m);
                ds.push(m.distance_m);
                dirs.push(m.direction_deg);
                times.push(ends[slot]);
                pols.push(name.clone());
                vals.push(bands.receptors[b][slot][r]);
            }
        }
    }
    let enc = |e: PolarsError| OutputError::encode(path, e.to_string());
    let df = DataFrame::new_infer_height(vec![
        Column::new("receptor".into(), names),
        Column::new("lon".into(), lons),
        Column::new("lat".into(), lats),
        Column::new("height_m".into(), hs),
        Column::new("distance_m".into(), ds),
        Column::new("direction_deg".into(), dirs),
        Column::new("time_ms".into(), times),
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
