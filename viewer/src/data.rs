//! What the viewer shows, loaded before the first frame: the dataset (terrain, land, districts,
//! roads, mines, plants, ports, stations) projected to scene coordinates, and the overlays of
//! up to two run directories (dispersion rasters and station series, traffic link series).
//! Plain Rust; the plugins turn it into meshes, gizmos and panels.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use geo::{Centroid, Contains, Point};
use polars::prelude::*;
use twin_engine::columns;
use twin_engine::dataset::Dataset;
use twin_engine::model::{MineGeometry, MiningMethod};
use twin_engine::output::run::{Field, RunDir, RunSummary};
use twin_engine::terrain::Terrain;

use crate::scene::{SceneProjection, scanline_mask};

/// Cells of the terrain mesh along its longer side.
pub const TERRAIN_CELLS: usize = 256;
/// Vertical exaggeration of the terrain.
pub const EXAGGERATION: f64 = 3.0;

/// A feature kind the viewer draws and picks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Monitoring station.
    Station,
    /// Underground mine.
    UndergroundMine,
    /// Open-pit mine.
    OpenPit,
    /// Power plant (with stack).
    Plant,
    /// Port.
    Port,
    /// District.
    District,
}

impl Kind {
    /// Name in the panels.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Station => "station",
            Kind::UndergroundMine => "underground mine",
            Kind::OpenPit => "open-pit mine",
            Kind::Plant => "power plant",
            Kind::Port => "port",
            Kind::District => "district",
        }
    }
}

/// A point feature (or a line's or area's label point) in scene coordinates.
#[derive(Debug, Clone)]
pub struct Feature {
    /// Kind.
    pub kind: Kind,
    /// Dataset id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Scene position (on the terrain).
    pub pos: [f32; 3],
    /// Properties shown when picked.
    pub properties: Vec<(String, String)>,
    /// Height of its marker (stacks: the stack height), scene units.
    pub height: f32,
}

/// A road link as a scene polyline.
#[derive(Debug, Clone)]
pub struct Road {
    /// Dataset id (= the traffic run's `road_id`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Class (`trunk`, `primary`, …).
    pub class: String,
    /// Free-flow speed, km/h.
    pub free_flow_kmh: f64,
    /// Scene points, slightly above the terrain.
    pub points: Vec<[f32; 3]>,
}

/// The terrain height field on a regular scene grid.
#[derive(Debug, Clone)]
pub struct HeightField {
    /// Scene x of the first column, z of the first row (north edge), cell size (scene units).
    pub x0: f32,
    /// See `x0`.
    pub z0: f32,
    /// Cell size, scene units.
    pub cell: f32,
    /// Columns, rows of vertices.
    pub nx: usize,
    /// Rows of vertices.
    pub nz: usize,
    /// Elevation, m (0 at sea), row-major from the north.
    pub elevation_m: Vec<f32>,
    /// Land (from the coastline polygons) per vertex.
    pub land: Vec<bool>,
    /// Whether the DEM is synthetic (labelled so in the viewer).
    pub synthetic: bool,
    /// Where it came from.
    pub source: String,
}

impl HeightField {
    /// Elevation (m, unexaggerated) of grid vertex (`i`, `j`) as the terrain mesh draws it:
    /// land at its DEM elevation (not below 0), sea (by the coastline mask) at 0 whatever the
    /// DEM says.
    pub fn drawn_elevation_m(&self, i: usize, j: usize) -> f32 {
        let k = j * self.nx + i;
        if self.land[k] {
            self.elevation_m[k].max(0.0)
        } else {
            0.0
        }
    }

    /// Scene height (exaggerated) at scene x, z, bilinear, of the terrain as drawn (sea
    /// vertices at 0); 0 outside.
    pub fn height_at(&self, x: f32, z: f32) -> f32 {
        let fx = (x - self.x0) / self.cell;
        let fz = (z - self.z0) / self.cell;
        if !(fx >= 0.0 && fz >= 0.0) {
            return 0.0;
        }
        let (i, j) = (fx.floor() as usize, fz.floor() as usize);
        if i + 1 >= self.nx || j + 1 >= self.nz {
            return 0.0;
        }
        let (tx, tz) = (fx - i as f32, fz - j as f32);
        let e = |i: usize, j: usize| self.drawn_elevation_m(i, j);
        let top = e(i, j) * (1.0 - tx) + e(i + 1, j) * tx;
        let bottom = e(i, j + 1) * (1.0 - tx) + e(i + 1, j + 1) * tx;
        (top * (1.0 - tz) + bottom * tz) * (EXAGGERATION as f32) / 1000.0
    }
}

/// A raster overlay of one pollutant on the dispersion grid.
#[derive(Debug, Clone)]
pub struct Raster {
    /// Band description (`PM2.5 time-mean µg/m³`).
    pub description: String,
    /// Pollutant name.
    pub pollutant: String,
    /// Columns, rows; row 0 north.
    pub nx: usize,
    /// Rows.
    pub ny: usize,
    /// Values, µg/m³.
    pub values: Vec<f32>,
    /// Projected western edge, northern edge, cell size (m).
    pub min_x: f64,
    /// Northern edge.
    pub max_y: f64,
    /// Cell size, m.
    pub cell_m: f64,
}

/// A road's traffic over one output interval, both directions together.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkState {
    /// Mean speed of the two directions, km/h.
    pub speed_kmh: f64,
    /// Summed density, veh/km.
    pub density_veh_km: f64,
    /// Summed flow, veh/h.
    pub flow_veh_h: f64,
}

/// What one run directory holds.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The directory.
    pub dir: PathBuf,
    /// Scenario name from summary.json.
    pub name: String,
    /// Dispersion: time-mean concentration per pollutant.
    pub rasters: Vec<Raster>,
    /// Station series: station → pollutant → [(time ms, µg/m³)].
    pub stations: BTreeMap<String, BTreeMap<String, Vec<(i64, f64)>>>,
    /// Traffic: road id → [(time ms, state)] (class `all`, both directions together).
    pub links: BTreeMap<String, Vec<(i64, LinkState)>>,
    /// Every output time (ms UTC), ascending.
    pub times: Vec<i64>,
    /// Mine: the ventilation network and its airflow and gas.
    pub mine: Option<MineView>,
}

/// A mine run's network, to draw beneath its dataset mine.
#[derive(Debug, Clone, Default)]
pub struct MineView {
    /// The dataset mine it lies beneath (the network file's `mine`).
    pub mine_id: String,
    /// Junctions: east and north of the plan's centre, m, and elevation, m.
    pub junctions: Vec<[f64; 3]>,
    /// Branches: id, from and to junction indices.
    pub branches: Vec<(String, usize, usize)>,
    /// Whether each branch is a working place (face or heading: the methane rules' places).
    pub working: Vec<bool>,
    /// Steady airflow per branch, m³/s.
    pub steady_flow: Vec<f64>,
    /// Per branch over time (transient runs): (time ms, flow m³/s, CH₄ %).
    pub series: Vec<Vec<(i64, f64, f64)>>,
}

impl MineView {
    /// Largest steady |flow|, m³/s (for the flow colours).
    pub fn max_flow(&self) -> f64 {
        self.steady_flow.iter().fold(0.0, |m, q| m.max(q.abs()))
    }

    /// Branch `b`'s (flow, CH₄) at `t`: the last output at or before `t` (the first before
    /// it starts); `None` without a transient.
    pub fn state_at(&self, b: usize, t: i64) -> Option<(f64, f64)> {
        let s = self.series.get(b)?;
        let k = s.partition_point(|p| p.0 <= t).saturating_sub(1);
        s.get(k).map(|p| (p.1, p.2))
    }
}

/// A mine run's network from its run directory: `network.toml` (its `mine` key places it),
/// `airflow.parquet`, and `branches.parquet` when the run had a scenario.
fn load_mine(rd: &RunDir, dir: &Path, run: &mut Run) -> anyhow::Result<()> {
    let net = rd.mine_network()?;
    let mine_id = net.mine.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "{}: the network file has no `mine` key naming the dataset mine it lies beneath, so the viewer cannot place it (open network.png)",
            dir.join("network.toml").display()
        )
    })?;
    let n = net.junctions.len().max(1) as f64;
    let cx = net.junctions.iter().map(|j| j.x_m).sum::<f64>() / n;
    let cy = net.junctions.iter().map(|j| j.y_m).sum::<f64>() / n;
    let index: BTreeMap<&str, usize> = net
        .branches
        .iter()
        .enumerate()
        .map(|(i, b)| (b.id.as_str(), i))
        .collect();
    let mut view = MineView {
        mine_id,
        junctions: net
            .junctions
            .iter()
            .map(|j| [j.x_m - cx, j.y_m - cy, j.elevation_m])
            .collect(),
        branches: net
            .branches
            .iter()
            .map(|b| (b.id.clone(), b.from, b.to))
            .collect(),
        working: net
            .branches
            .iter()
            .map(|b| b.kind.is_working_place())
            .collect(),
        steady_flow: vec![0.0; net.branches.len()],
        series: Vec::new(),
    };
    let path = dir.join("airflow.parquet");
    let df = rd.airflow()?;
    let ids = strings(&df, &path, "branch_id")?;
    let q = floats(&df, &path, "flow_m3_s")?;
    for (id, q) in ids.iter().zip(q) {
        let b = index.get(id.as_str()).ok_or_else(|| {
            anyhow::anyhow!("{}: branch {id:?} is not in network.toml", path.display())
        })?;
        view.steady_flow[*b] = q;
    }
    if let Some(df) = rd.mine_branches()? {
        let path = dir.join("branches.parquet");
        let ids = strings(&df, &path, "branch_id")?;
        let t = times_ms(&df, &path)?;
        let q = floats(&df, &path, "flow_m3_s")?;
        let ch4 = floats(&df, &path, "ch4_pct")?;
        view.series = vec![Vec::new(); net.branches.len()];
        for i in 0..df.height() {
            let (Some(b), Some(t)) = (index.get(ids[i].as_str()), t[i]) else {
                continue;
            };
            view.series[*b].push((t, q[i], ch4[i]));
            run.times.push(t);
        }
        for s in &mut view.series {
            s.sort_by_key(|p| p.0);
        }
    }
    run.mine = Some(view);
    Ok(())
}

/// The loaded twin, as a Bevy resource (inserted by `main` before the plugins).
#[derive(Debug, Clone, bevy::prelude::Resource)]
pub struct Twin(pub TwinData);

/// Everything loaded.
#[derive(Debug, Clone)]
pub struct TwinData {
    /// Dataset directory.
    pub dataset_dir: PathBuf,
    /// Province name.
    pub province: String,
    /// Projection to the scene.
    pub projection: SceneProjection,
    /// Terrain.
    pub terrain: HeightField,
    /// Points to draw and pick.
    pub features: Vec<Feature>,
    /// Roads.
    pub roads: Vec<Road>,
    /// District boundaries as scene rings.
    pub district_rings: Vec<Vec<[f32; 3]>>,
    /// The run (`--run`).
    pub run: Option<Run>,
    /// The comparison run (`--compare`).
    pub compare: Option<Run>,
    /// Observations (`--telemetry`).
    pub telemetry: Option<Telemetry>,
    /// Scene half-extent (x, z) of the province.
    pub extent: [f32; 2],
}

fn ring_points(
    ring: &geo::LineString<f64>,
    p: &SceneProjection,
    terrain: &Terrain,
    lift: f64,
) -> Vec<[f32; 3]> {
    ring.points()
        .map(|pt| {
            let e = terrain.elevation_at(pt.x(), pt.y()).unwrap_or(0.0).max(0.0);
            p.lon_lat_to_scene(pt.x(), pt.y(), e + lift)
        })
        .collect()
}

/// Loads the dataset, the run directories and (optionally) observations.
pub fn load_all(
    dataset_dir: &Path,
    run: &[PathBuf],
    compare: Option<&Path>,
    telemetry: Option<&Path>,
) -> anyhow::Result<TwinData> {
    let mut t = load(dataset_dir, run, compare)?;
    t.telemetry = telemetry
        .map(|p| load_telemetry(p).with_context(|| format!("reading telemetry {}", p.display())))
        .transpose()?;
    Ok(t)
}

/// Loads the dataset and the run directories.
pub fn load(
    dataset_dir: &Path,
    run: &[PathBuf],
    compare: Option<&Path>,
) -> anyhow::Result<TwinData> {
    let ds = Dataset::load(dataset_dir)
        .with_context(|| format!("loading dataset {}", dataset_dir.display()))?;
    let prov = &ds.province;
    let terrain_path = ds.terrain_path().with_context(|| {
        format!(
            "{}: the dataset names no terrain raster",
            dataset_dir.display()
        )
    })?;
    let terrain = Terrain::read_geotiff(&terrain_path)
        .with_context(|| format!("reading terrain {}", terrain_path.display()))?;
    let b = prov
        .bounds
        .with_context(|| format!("{}: the dataset has no bounds", dataset_dir.display()))?;
    let projection = SceneProjection::centred(
        ds.projection.clone(),
        (b.min_lon, b.max_lon),
        (b.min_lat, b.max_lat),
        EXAGGERATION,
    );
    // terrain grid over the projected bounding box
    let corners = [
        ds.projection.forward(b.min_lon, b.min_lat),
        ds.projection.forward(b.max_lon, b.min_lat),
        ds.projection.forward(b.min_lon, b.max_lat),
        ds.projection.forward(b.max_lon, b.max_lat),
    ];
    let min_x = corners.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
    let max_x = corners
        .iter()
        .map(|c| c.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let min_y = corners.iter().map(|c| c.1).fold(f64::INFINITY, f64::min);
    let max_y = corners
        .iter()
        .map(|c| c.1)
        .fold(f64::NEG_INFINITY, f64::max);
    let cell_m = (max_x - min_x).max(max_y - min_y) / TERRAIN_CELLS as f64;
    let nx = ((max_x - min_x) / cell_m).ceil() as usize + 1;
    let nz = ((max_y - min_y) / cell_m).ceil() as usize + 1;
    let mut elevation_m = Vec::with_capacity(nx * nz);
    for j in 0..nz {
        let y = max_y - j as f64 * cell_m;
        for i in 0..nx {
            let x = min_x + i as f64 * cell_m;
            let (lon, lat) = ds.projection.inverse(x, y);
            elevation_m.push(terrain.elevation_at(lon, lat).unwrap_or(0.0) as f32);
        }
    }
    // land from the coastline polygons, as projected rings; vertex (i, j) ↔ cell centre of a
    // grid shifted by half a cell
    let mut rings: Vec<Vec<[f64; 2]>> = Vec::new();
    for l in &prov.land {
        for poly in &l.geometry.0 {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                rings.push(
                    ring.points()
                        .map(|p| {
                            let (x, y) = ds.projection.forward(p.x(), p.y());
                            [x, y]
                        })
                        .collect(),
                );
            }
        }
    }
    let mask_rows = scanline_mask(
        &rings,
        (min_x - 0.5 * cell_m, max_y - (nz as f64 - 0.5) * cell_m),
        (cell_m, cell_m),
        (nx, nz),
    );
    // the mask's row 0 is the southern one; the height field's row 0 is the northern one
    let mut land = vec![false; nx * nz];
    for j in 0..nz {
        land[j * nx..(j + 1) * nx].copy_from_slice(&mask_rows[(nz - 1 - j) * nx..(nz - j) * nx]);
    }
    let o = projection.projected_to_scene(min_x, max_y, 0.0);
    let heightfield = HeightField {
        x0: o[0],
        z0: o[2],
        cell: (cell_m / crate::scene::M_PER_UNIT) as f32,
        nx,
        nz,
        elevation_m,
        land,
        synthetic: terrain.synthetic,
        source: terrain
            .description
            .clone()
            .unwrap_or_else(|| terrain_path.display().to_string()),
    };
    let ground = |lon: f64, lat: f64, lift_m: f64| {
        let e = terrain.elevation_at(lon, lat).unwrap_or(0.0).max(0.0);
        projection.lon_lat_to_scene(lon, lat, e + lift_m)
    };

    let mut features = Vec::new();
    let props = |extra: &BTreeMap<String, serde_json::Value>| -> Vec<(String, String)> {
        extra
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), s)
            })
            .collect()
    };
    for s in &prov.stations {
        let mut p = vec![
            (
                "medium".to_string(),
                format!("{:?}", s.medium).to_lowercase(),
            ),
            ("locality".to_string(), s.locality.clone()),
            ("parameters".to_string(), s.parameters.join(", ")),
        ];
        p.extend(props(&s.meta.extra));
        features.push(Feature {
            kind: Kind::Station,
            id: s.meta.id.clone(),
            name: s.meta.name.clone(),
            pos: ground(s.location.x(), s.location.y(), 0.0),
            properties: p,
            height: 0.6,
        });
    }
    for m in &prov.mines {
        let c = match &m.geometry {
            MineGeometry::Point(p) => *p,
            MineGeometry::Area(a) => a.centroid().unwrap_or(Point::new(0.0, 0.0)),
        };
        let mut p = vec![
            ("method".to_string(), m.method.as_str().replace('_', " ")),
            ("status".to_string(), m.status.as_str().to_string()),
            (
                "methane class".to_string(),
                format!("{:?}", m.methane_class),
            ),
            (
                "output".to_string(),
                format!("{:.2} Mt/yr", m.output_t_per_year / 1e6),
            ),
        ];
        p.extend(props(&m.meta.extra));
        features.push(Feature {
            kind: match m.method {
                MiningMethod::Underground | MiningMethod::UndergroundAndSurface => {
                    Kind::UndergroundMine
                }
                MiningMethod::OpenPit => Kind::OpenPit,
            },
            id: m.meta.id.clone(),
            name: m.meta.name.clone(),
            pos: ground(c.x(), c.y(), 0.0),
            properties: p,
            height: 0.5,
        });
    }
    for pl in &prov.plants {
        let mut p = vec![
            ("type".to_string(), format!("{:?}", pl.plant_type)),
            (
                "capacity".to_string(),
                format!("{} {:?}", pl.capacity, pl.capacity_unit),
            ),
            (
                "stack".to_string(),
                format!("{} m, Ø {} m", pl.stack_height_m, pl.stack_diameter_m),
            ),
        ];
        for e in &pl.emissions {
            p.push((
                format!("emission {}", e.pollutant.as_str()),
                format!("{:.1} g/s", e.grams_per_second),
            ));
        }
        p.extend(props(&pl.meta.extra));
        features.push(Feature {
            kind: Kind::Plant,
            id: pl.meta.id.clone(),
            name: pl.meta.name.clone(),
            pos: ground(pl.location.x(), pl.location.y(), 0.0),
            properties: p,
            height: (pl.stack_height_m * EXAGGERATION / 1000.0) as f32,
        });
    }
    for po in &prov.ports {
        let mut p = vec![("cargo".to_string(), po.cargo.clone())];
        p.extend(props(&po.meta.extra));
        features.push(Feature {
            kind: Kind::Port,
            id: po.meta.id.clone(),
            name: po.meta.name.clone(),
            pos: ground(po.location.x(), po.location.y(), 0.0),
            properties: p,
            height: 0.3,
        });
    }
    let mut district_rings = Vec::new();
    for d in &prov.districts {
        for poly in &d.geometry.0 {
            district_rings.push(ring_points(poly.exterior(), &projection, &terrain, 30.0));
        }
        if let Some(c) = d.geometry.centroid() {
            // a label point inside the district when the centroid falls outside it
            let c = if d.geometry.contains(&c) {
                c
            } else {
                d.geometry
                    .0
                    .first()
                    .and_then(|p| p.exterior().points().next())
                    .unwrap_or(c)
            };
            features.push(Feature {
                kind: Kind::District,
                id: d.meta.id.clone(),
                name: d.meta.name.clone(),
                pos: ground(c.x(), c.y(), 0.0),
                properties: vec![("type".to_string(), format!("{:?}", d.unit_type))],
                height: 0.0,
            });
        }
    }
    let roads = prov
        .road_links
        .iter()
        .map(|r| Road {
            id: r.meta.id.clone(),
            name: r.meta.name.clone(),
            class: format!("{:?}", r.class).to_lowercase(),
            free_flow_kmh: r.free_flow_speed_kmh,
            points: r
                .geometry
                .points()
                .map(|p| ground(p.x(), p.y(), 40.0))
                .collect(),
        })
        .collect();
    let extent = [
        ((max_x - min_x) / 2000.0) as f32,
        ((max_y - min_y) / 2000.0) as f32,
    ];
    Ok(TwinData {
        dataset_dir: dataset_dir.to_path_buf(),
        province: prov.name.clone(),
        projection,
        terrain: heightfield,
        features,
        roads,
        district_rings,
        run: load_runs(run)?,
        compare: compare.map(load_run).transpose()?,
        telemetry: None,
        extent,
    })
}

/// Columns of a run's or the telemetry's table, with the file in the error.
fn strings(df: &DataFrame, path: &Path, name: &str) -> anyhow::Result<Vec<String>> {
    columns::strings(df, name)
        .map_err(|e| anyhow::anyhow!("{}: column `{name}`: {e}", path.display()))
}

fn floats(df: &DataFrame, path: &Path, name: &str) -> anyhow::Result<Vec<f64>> {
    Ok(columns::f64s(df, name)
        .map_err(|e| anyhow::anyhow!("{}: column `{name}`: {e}", path.display()))?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

fn times_ms(df: &DataFrame, path: &Path) -> anyhow::Result<Vec<Option<i64>>> {
    columns::times_ms(df, "time")
        .map_err(|e| anyhow::anyhow!("{}: column `time`: {e}", path.display()))
}

/// Loads one or more run directories as one overlay (e.g. a dispersion run and the traffic run
/// that fed it): rasters, station series and link states together, times merged.
pub fn load_runs(dirs: &[PathBuf]) -> anyhow::Result<Option<Run>> {
    let mut merged: Option<Run> = None;
    for d in dirs {
        let r = load_run(d)?;
        merged = Some(match merged {
            None => r,
            Some(mut m) => {
                m.name = format!("{} + {}", m.name, r.name);
                m.rasters.extend(r.rasters);
                m.stations.extend(r.stations);
                m.links.extend(r.links);
                m.mine = m.mine.or(r.mine);
                m.times.extend(r.times);
                m.times.sort_unstable();
                m.times.dedup();
                m
            }
        });
    }
    Ok(merged)
}

/// Loads a run directory through the engine's [`RunDir`]: a dispersion run's time-mean rasters
/// and station series, or a traffic run's link states.
pub fn load_run(dir: &Path) -> anyhow::Result<Run> {
    let rd = RunDir::open(dir)?;
    let mut run = Run {
        dir: dir.to_path_buf(),
        name: rd.summary.scenario().to_string(),
        ..Default::default()
    };
    match &rd.summary {
        RunSummary::Dispersion(_) => {
            let field = rd.concentration(Field::Mean)?;
            let g = &field.grid;
            for (pollutant, band) in field.bands.iter().zip(field.values.outer_iter()) {
                run.rasters.push(Raster {
                    description: format!("{pollutant} time-mean µg/m³"),
                    pollutant: pollutant.clone(),
                    nx: g.nx,
                    ny: g.ny,
                    values: band.iter().copied().collect(),
                    min_x: g.x0,
                    max_y: g.y0 + g.ny as f64 * g.cell_m,
                    cell_m: g.cell_m,
                });
            }
            let st = dir.join("stations.parquet");
            let df = rd.stations()?;
            let ids = strings(&df, &st, "station_id")?;
            let pol = strings(&df, &st, "pollutant")?;
            let t = times_ms(&df, &st)?;
            let c = floats(&df, &st, "concentration_ug_m3")?;
            for i in 0..df.height() {
                if let Some(t) = t[i] {
                    run.stations
                        .entry(ids[i].clone())
                        .or_default()
                        .entry(pol[i].clone())
                        .or_default()
                        .push((t, c[i]));
                    run.times.push(t);
                }
            }
        }
        RunSummary::Traffic(_) => {
            let links = dir.join("links.parquet");
            let df = rd.links()?;
            let road = strings(&df, &links, "road_id")?;
            let class = strings(&df, &links, "class")?;
            let t = times_ms(&df, &links)?;
            let speed = floats(&df, &links, "speed_km_h")?;
            let dens = floats(&df, &links, "density_veh_km")?;
            let flow = floats(&df, &links, "flow_veh_h")?;
            // both directions of a road: mean speed, summed density and flow
            let mut acc: BTreeMap<(String, i64), (f64, f64, f64, u32)> = BTreeMap::new();
            for i in 0..df.height() {
                if class[i] != "all" {
                    continue;
                }
                let Some(t) = t[i] else { continue };
                let e = acc.entry((road[i].clone(), t)).or_default();
                e.0 += speed[i];
                e.1 += dens[i];
                e.2 += flow[i];
                e.3 += 1;
                run.times.push(t);
            }
            for ((r, t), (s, d, f, n)) in acc {
                run.links.entry(r).or_default().push((
                    t,
                    LinkState {
                        speed_kmh: s / f64::from(n),
                        density_veh_km: d,
                        flow_veh_h: f,
                    },
                ));
            }
        }
        RunSummary::Mine(_) => load_mine(&rd, dir, &mut run)?,
    }
    run.times.sort_unstable();
    run.times.dedup();
    for v in run.stations.values_mut().flat_map(|m| m.values_mut()) {
        v.sort_by_key(|p| p.0);
    }
    Ok(run)
}

/// What observations say, after QA: station and mine series of hourly means, each station's
/// latest hourly VN_AQI, and the mines' gas alarm events.
#[derive(Debug, Clone, Default)]
pub struct Telemetry {
    /// Where they came from.
    pub source: PathBuf,
    /// Station or mine → parameter → [(hour-ending time ms, mean)].
    pub series: BTreeMap<String, BTreeMap<String, Vec<(i64, f64)>>>,
    /// Station → (time ms, AQI, dominant parameter) of its latest hour with an AQI.
    pub latest_aqi: BTreeMap<String, (i64, i64, String)>,
    /// Mine → [(alarm, start ms, end ms, peak)].
    pub alarms: BTreeMap<String, Vec<(String, i64, i64, f64)>>,
}

/// Reads observations (CSV, Parquet or a lake) and summarises them for the viewer with the
/// engine's QA, hourly means, hourly VN_AQI and mine-gas alarms.
pub fn load_telemetry(path: &Path) -> anyhow::Result<Telemetry> {
    use twin_engine::telemetry::{alarms, hourly, qa};
    let read = twin_engine::telemetry::read_any(path)?;
    for b in &read.skipped {
        eprintln!("twin-viewer: warning: unreadable lake part skipped: {b}");
    }
    let obs = read.frame;
    let fail = |e: PolarsError| anyhow::anyhow!("{}: {e}", path.display());
    let accepted = qa::qa(obs.lazy(), &qa::QaConfig::default())
        .map_err(fail)?
        .accepted
        .collect()
        .map_err(fail)?;
    let mut t = Telemetry {
        source: path.to_path_buf(),
        ..Default::default()
    };
    let means = hourly::hourly_means(accepted.clone().lazy())
        .sort(["station_id", "parameter", "hour_ms"], Default::default())
        .collect()
        .map_err(fail)?;
    let ids = strings(&means, path, "station_id")?;
    let params = strings(&means, path, "parameter")?;
    let hours = floats(&means, path, "hour_ms")?;
    let values = floats(&means, path, "mean")?;
    for i in 0..means.height() {
        t.series
            .entry(ids[i].clone())
            .or_default()
            .entry(params[i].clone())
            .or_default()
            .push((hours[i] as i64, values[i]));
    }
    let aqi = hourly::hourly_aqi(accepted.clone().lazy(), hourly::Standard::Vn)
        .filter(col("aqi").is_not_null())
        .collect()
        .map_err(fail)?;
    let ids = strings(&aqi, path, "station_id")?;
    let times = times_ms(&aqi, path)?;
    let values = floats(&aqi, path, "aqi")?;
    let dominant = strings(&aqi, path, "dominant")?;
    for i in 0..aqi.height() {
        let Some(time) = times[i] else { continue };
        let e = t
            .latest_aqi
            .entry(ids[i].clone())
            .or_insert((i64::MIN, 0, String::new()));
        if time > e.0 {
            *e = (time, values[i] as i64, dominant[i].clone());
        }
    }
    let events = alarms::alarms(accepted.lazy(), &alarms::default_levels(), 60.0)
        .map_err(fail)?
        .events
        .collect()
        .map_err(fail)?;
    let ids = strings(&events, path, "station_id")?;
    let names = strings(&events, path, "alarm")?;
    let start = floats(&events, path, "start_ms")?;
    let end = floats(&events, path, "end_ms")?;
    let peak = floats(&events, path, "peak")?;
    for i in 0..events.height() {
        t.alarms.entry(ids[i].clone()).or_default().push((
            names[i].clone(),
            start[i] as i64,
            end[i] as i64,
            peak[i],
        ));
    }
    Ok(t)
}

/// The value of a series at time `t`: the last sample at or before it (or the first).
pub fn sample_at<T: Copy>(series: &[(i64, T)], t: i64) -> Option<T> {
    if series.is_empty() {
        return None;
    }
    let i = series.partition_point(|p| p.0 <= t);
    Some(series[i.saturating_sub(1)].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telemetry_gives_latest_aqi_series_and_mine_alarms() {
        use twin_engine::telemetry::{lake, synthetic};
        let ds = Dataset::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh"),
        )
        .expect("dataset");
        let air = ds
            .province
            .stations
            .iter()
            .find(|s| s.medium == twin_engine::model::Medium::Air)
            .expect("air station")
            .meta
            .id
            .clone();
        let mines: Vec<String> = ds
            .province
            .mines
            .iter()
            .filter(|m| m.method.underground() && m.operating())
            .map(|m| m.meta.id.clone())
            .collect();
        let mut ids = mines.clone();
        ids.push(air.clone());
        let sites = synthetic::sites(&ds.province, &synthetic::Selection::Ids(ids)).expect("sites");
        let g = synthetic::Generator::new(
            &ds.province,
            sites,
            lake::day_of("2026-01-10").unwrap_or(0),
            4,
        );
        let dir =
            std::env::temp_dir().join(format!("qn-twin-viewer-telemetry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in 0..3 {
            lake::append(&dir, &g.day(d).expect("day").readings).expect("append");
        }
        let t = load_telemetry(&dir).expect("telemetry");
        let (time, aqi, dominant) = t
            .latest_aqi
            .get(&air)
            .expect("latest AQI of the air station");
        assert!(*aqi > 0 && !dominant.is_empty());
        // the last hour of the third day (hour-ending), or close to it
        let end =
            twin_engine::telemetry::time::local_day_start(lake::day_of("2026-01-13").unwrap_or(0));
        assert!(
            end - time <= 2 * twin_engine::telemetry::time::HOUR_MS,
            "latest {time} vs day end {end}"
        );
        assert!(t.series[&air]["PM2.5"].len() >= 70, "hourly PM2.5 means");
        assert!(t.series[&mines[0]].contains_key("CH4"));
        assert!(
            t.alarms.values().map(Vec::len).sum::<usize>() > 0,
            "blasting CO alarms"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn series_sampling_holds_the_last_value() {
        let s = [(10, 1.0), (20, 2.0), (30, 3.0)];
        assert_eq!(sample_at(&s, 5), Some(1.0));
        assert_eq!(sample_at(&s, 10), Some(1.0));
        assert_eq!(sample_at(&s, 25), Some(2.0));
        assert_eq!(sample_at(&s, 99), Some(3.0));
        assert_eq!(sample_at::<f64>(&[], 1), None);
    }

    #[test]
    fn height_field_is_bilinear_and_clamps_the_sea() {
        let h = HeightField {
            x0: 0.0,
            z0: 0.0,
            cell: 1.0,
            nx: 2,
            nz: 2,
            elevation_m: vec![0.0, 1000.0, -50.0, 1000.0],
            land: vec![true; 4],
            synthetic: true,
            source: String::new(),
        };
        let e = EXAGGERATION as f32;
        assert!((h.height_at(0.5, 0.0) - 0.5 * e).abs() < 1e-6);
        assert!(
            (h.height_at(0.0, 1.0 - 1e-6) - 0.0).abs() < 1e-3,
            "sea counts as 0"
        );
        assert_eq!(h.height_at(-1.0, 0.5), 0.0);
        // a sea vertex (by the coastline) is at 0 even where the DEM has it higher
        let sea = HeightField {
            land: vec![true, false, true, true],
            ..h
        };
        assert!((sea.height_at(0.5, 0.0) - 0.0).abs() < 1e-6);
    }
}
