//! Dispersion scenarios: a TOML file (serde, unknown keys rejected) turned into a
//! [`DispersionProblem`] on a grid over a dataset. Every key carries its unit in its name
//! (`speed_m_s`, `mixing_height_m`); emission rates are `{pollutant, rate, unit}` like the
//! dataset's. A commented example: `datasets/quang-ninh/scenarios/winter-ne-monsoon.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use geo::{Contains, Coord, Geometry, Point};
use serde::Deserialize;

use super::{DispersionProblem, FaceWind, Grid, Interval, SourceCell, StationPoint};
use crate::dataset::Dataset;
use crate::geodesy::Utm;
use crate::model::{EMISSION_UNITS, FeatureKind, Medium, MineGeometry, MiningMethod, Pollutant};
use crate::spatial::project;

/// Errors in a scenario: the file, and the key that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The scenario file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key is unknown, missing, of the wrong type, or has a bad value or unit.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The scenario file.
        path: PathBuf,
        /// What is wrong, starting with the key.
        message: String,
    },
}

/// A dispersion scenario as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Dataset directory, relative to the scenario file; default: the bundled dataset.
    pub dataset: Option<PathBuf>,
    /// Start time, RFC 3339 with offset (e.g. `2026-01-15T00:00:00+07:00`).
    pub start: String,
    /// Simulated duration, hours.
    pub duration_h: f64,
    /// Output (station sampling, wind update) interval, minutes.
    #[serde(default = "default_interval")]
    pub output_interval_min: f64,
    /// Pollutants to carry, by name (`PM2.5`, `PM10`, `SO2`, `NOx`, …), at most 8.
    pub pollutants: Vec<String>,
    /// Depth of the mixed layer, m.
    pub mixing_height_m: f64,
    /// Stability safety factor for the explicit scheme (default 0.5).
    pub cfl: Option<f64>,
    /// The grid.
    pub grid: GridSpec,
    /// The wind.
    pub wind: WindSpec,
    /// Decay and deposition per pollutant (absent: none).
    #[serde(default)]
    pub removal: BTreeMap<String, RemovalSpec>,
    /// Sources.
    #[serde(default)]
    pub sources: SourcesSpec,
}

fn default_interval() -> f64 {
    60.0
}

/// Grid: resolution, and the area as a lon/lat box or a projected extent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridSpec {
    /// Cell size, m.
    pub resolution_m: f64,
    /// `[min_lon, min_lat, max_lon, max_lat]`; default: the dataset's bounds.
    pub bbox: Option<[f64; 4]>,
    /// `[min_x, min_y, max_x, max_y]` in the dataset's projected CRS, metres.
    pub extent_m: Option<[f64; 4]>,
}

/// Wind: uniform, an hourly series, or interpolated from station observations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindSpec {
    /// `uniform`, `series` or `stations`.
    pub mode: String,
    /// Speed for `uniform`, m/s.
    pub speed_m_s: Option<f64>,
    /// Direction the wind blows from, degrees clockwise from north, for `uniform`/`stations`.
    pub from_deg: Option<f64>,
    /// Pasquill–Gifford stability class A–F (sets K from the wind speed).
    pub stability: Option<String>,
    /// Constant horizontal diffusivity, m²/s (instead of `stability`).
    pub diffusivity_m2_s: Option<f64>,
    /// Hourly values for `series`.
    #[serde(default)]
    pub series: Vec<WindSample>,
    /// Observations for `stations` (inverse-distance weighted onto the grid).
    #[serde(default)]
    pub stations: Vec<WindStation>,
    /// Inverse-distance power for `stations` (default 2).
    pub idw_power: Option<f64>,
}

/// One entry of a wind series, valid from `hour` (since start) until the next entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindSample {
    /// Hours since start.
    pub hour: f64,
    /// m/s.
    pub speed_m_s: f64,
    /// Degrees, the direction the wind blows from.
    pub from_deg: f64,
    /// Stability class for this period (default: the wind section's).
    pub stability: Option<String>,
}

/// A wind observation at a point.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindStation {
    /// Degrees east.
    pub lon: f64,
    /// Degrees north.
    pub lat: f64,
    /// m/s.
    pub speed_m_s: f64,
    /// Degrees, the direction the wind blows from.
    pub from_deg: f64,
}

/// First-order removal of one pollutant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemovalSpec {
    /// Chemical/first-order decay rate, 1/s.
    #[serde(default)]
    pub decay_per_s: f64,
    /// Dry deposition velocity, m/s.
    #[serde(default)]
    pub deposition_m_s: f64,
}

/// Which sources emit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcesSpec {
    /// Every dataset plant with emissions (stack point sources).
    #[serde(default)]
    pub plants: bool,
    /// Every open-pit mine as an area source of fugitive coal dust.
    #[serde(default)]
    pub open_pit_mines: bool,
    /// PM10 emitted per tonne of coal mined at open pits, kg/t (default 0.2).
    pub mine_pm10_kg_per_t: Option<f64>,
    /// PM2.5 as a fraction of PM10 for mine dust (default 0.15).
    pub mine_pm25_fraction: Option<f64>,
    /// Extra point sources.
    #[serde(default)]
    pub point: Vec<PointSourceSpec>,
    /// Extra area sources (discs).
    #[serde(default)]
    pub area: Vec<AreaSourceSpec>,
    /// Road line sources (a link id or a route ref, emission per km).
    #[serde(default)]
    pub line: Vec<LineSourceSpec>,
    /// Road line sources from a traffic run's `emissions.parquet` (time-mean per road).
    #[serde(default)]
    pub traffic: Vec<TrafficSourceSpec>,
}

/// Line sources from a traffic run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSourceSpec {
    /// A traffic run's `emissions.parquet`, relative to the scenario file.
    pub emissions: PathBuf,
    /// The road GeoJSON the traffic run used, relative to the scenario file, when it was not
    /// the dataset's road layer (e.g. an OSM import).
    pub roads: Option<PathBuf>,
}

/// An emission rate with its unit, as in the dataset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmissionSpec {
    /// Pollutant name.
    pub pollutant: String,
    /// Rate.
    pub rate: f64,
    /// Unit: g/s, kg/h, kg/day, t/yr (per km for line sources: g/s/km, kg/h/km, kg/day/km, t/yr/km).
    pub unit: String,
}

/// A point source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointSourceSpec {
    /// Name, for reports.
    pub name: String,
    /// Degrees east.
    pub lon: f64,
    /// Degrees north.
    pub lat: f64,
    /// Rates.
    pub emissions: Vec<EmissionSpec>,
}

/// A disc-shaped area source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaSourceSpec {
    /// Name, for reports.
    pub name: String,
    /// Centre, degrees east.
    pub lon: f64,
    /// Centre, degrees north.
    pub lat: f64,
    /// Radius, m.
    pub radius_m: f64,
    /// Total rates over the area.
    pub emissions: Vec<EmissionSpec>,
}

/// A line source along a road.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineSourceSpec {
    /// Link id or route ref (`QL18`).
    pub road: String,
    /// Rates per km of road.
    pub emissions: Vec<EmissionSpec>,
}

/// A scenario resolved against its dataset: the problem, plus what the outputs need to know.
#[derive(Debug, Clone)]
pub struct ResolvedScenario {
    /// The scenario as read.
    pub scenario: Scenario,
    /// The dataset it runs over.
    pub dataset: Dataset,
    /// The problem for the engine.
    pub problem: DispersionProblem,
    /// Start, UTC.
    pub start: DateTime<Utc>,
    /// Every emitting source by name, with g/s per pollutant actually on the grid.
    pub source_list: Vec<(String, FeatureKind, f64, f64)>,
    /// Sources or stations left out because they lie outside the grid (name, why).
    pub outside: Vec<String>,
    /// Diffusivity of each interval, m²/s.
    pub kdiff: Vec<f64>,
}

pub(crate) fn invalid(path: &Path, message: String) -> ScenarioError {
    ScenarioError::Invalid {
        path: path.to_path_buf(),
        message,
    }
}

/// Briggs open-country σy coefficient `a` (σy = a·x/√(1 + 0.0001 x)) per stability class.
fn briggs_a(class: &str) -> Option<f64> {
    Some(match class {
        "A" => 0.22,
        "B" => 0.16,
        "C" => 0.11,
        "D" => 0.08,
        "E" => 0.06,
        "F" => 0.04,
        _ => return None,
    })
}

/// Horizontal eddy diffusivity for a stability class and wind speed: K = u·σy(x₀)²/(2x₀), the K
/// for which a constant-K plume has Briggs' σy at x₀ = 1 km, at least 1 m²/s.
pub fn diffusivity_from_stability(class: &str, speed_m_s: f64) -> Option<f64> {
    let x0 = 1000.0;
    let sigma = briggs_a(class)? * x0 / (1.0 + 0.0001 * x0).sqrt();
    Some((speed_m_s * sigma * sigma / (2.0 * x0)).max(1.0))
}

/// Components (u east, v north) of a wind blowing *from* `from_deg`.
pub fn wind_components(speed: f64, from_deg: f64) -> (f64, f64) {
    let t = from_deg.to_radians();
    (-speed * t.sin(), -speed * t.cos())
}

impl Scenario {
    /// Reads a scenario file.
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        read_toml(path)
    }

    /// Reads a scenario and resolves it against its dataset (`dataset` key, or `default_dataset`).
    pub fn load(path: &Path, default_dataset: &Path) -> Result<ResolvedScenario, anyhow::Error> {
        Self::read(path)?.resolve_with_dataset(path, default_dataset)
    }

    /// Loads the scenario's dataset (`dataset` key relative to `path`, or `default_dataset`) and
    /// resolves the scenario against it.
    pub fn resolve_with_dataset(
        self,
        path: &Path,
        default_dataset: &Path,
    ) -> Result<ResolvedScenario, anyhow::Error> {
        let dir = match &self.dataset {
            Some(d) => path.parent().unwrap_or(Path::new(".")).join(d),
            None => default_dataset.to_path_buf(),
        };
        let dataset = Dataset::load(&dir)?;
        Ok(self.resolve(path, dataset)?)
    }

    /// Builds the problem: grid, wind per interval, sources and stations on the grid.
    pub fn resolve(self, path: &Path, dataset: Dataset) -> Result<ResolvedScenario, ScenarioError> {
        let bad = |m: String| invalid(path, m);
        let start = DateTime::parse_from_rfc3339(&self.start)
            .map_err(|e| {
                bad(format!(
                    "key `start`: {:?} is not an RFC 3339 time with offset: {e}",
                    self.start
                ))
            })?
            .with_timezone(&Utc);
        if !(self.duration_h > 0.0 && self.duration_h <= 24.0 * 366.0) {
            return Err(bad(format!(
                "key `duration_h`: {} must be in (0, 8784]",
                self.duration_h
            )));
        }
        if self.output_interval_min.is_nan()
            || self.output_interval_min <= 0.0
            || self.output_interval_min > self.duration_h * 60.0
        {
            return Err(bad(format!(
                "key `output_interval_min`: {} must be > 0 and at most the duration",
                self.output_interval_min
            )));
        }
        if self.mixing_height_m.is_nan() || self.mixing_height_m <= 0.0 {
            return Err(bad(format!(
                "key `mixing_height_m`: {} must be > 0",
                self.mixing_height_m
            )));
        }
        let cfl = self.cfl.unwrap_or(0.5);
        if !(cfl > 0.0 && cfl <= 0.5) {
            return Err(bad(format!("key `cfl`: {cfl} must be in (0, 0.5]")));
        }
        // pollutants
        let mut pollutants = Vec::new();
        for (i, name) in self.pollutants.iter().enumerate() {
            let p = Pollutant::parse(name).ok_or_else(|| {
                bad(format!(
                    "key `pollutants[{i}]`: unknown pollutant {name:?}; expected one of {}",
                    pollutant_names()
                ))
            })?;
            if pollutants.contains(&p) {
                return Err(bad(format!(
                    "key `pollutants[{i}]`: {name} is listed twice"
                )));
            }
            pollutants.push(p);
        }
        if pollutants.is_empty() || pollutants.len() > super::MAX_POLLUTANTS {
            return Err(bad(format!(
                "key `pollutants`: give 1 to {} pollutants",
                super::MAX_POLLUTANTS
            )));
        }
        let mut decay = vec![0.0; pollutants.len()];
        let mut deposition = vec![0.0; pollutants.len()];
        for (name, r) in &self.removal {
            let idx = Pollutant::parse(name)
                .and_then(|p| pollutants.iter().position(|q| *q == p))
                .ok_or_else(|| {
                    bad(format!(
                        "key `removal.\"{name}\"`: {name:?} is not one of this run's pollutants"
                    ))
                })?;
            if !(r.decay_per_s >= 0.0 && r.deposition_m_s >= 0.0) {
                return Err(bad(format!("key `removal.\"{name}\"`: rates must be >= 0")));
            }
            decay[idx] = r.decay_per_s;
            deposition[idx] = r.deposition_m_s;
        }

        let utm = dataset.projection.clone();
        let grid = self.build_grid(&dataset, &utm).map_err(bad)?;
        // state, next state and time integral: 20 bytes per cell and pollutant on the host
        if grid.cells() * pollutants.len() > 100_000_000 {
            return Err(bad(format!(
                "key `grid.resolution_m`: {} x {} cells x {} pollutants is more than 1e8 cell-planes (about 2 GB of state); use a coarser grid or a smaller area",
                grid.nx,
                grid.ny,
                pollutants.len()
            )));
        }
        let intervals = self.build_intervals(&grid, &utm).map_err(bad)?;
        let kdiff = intervals.iter().map(|i| i.kdiff).collect();

        // sources
        let volume = grid.cell_m * grid.cell_m * self.mixing_height_m;
        let mut cells: BTreeMap<(u32, u32), f64> = BTreeMap::new(); // (pollutant, cell) → g/s
        let mut source_list = Vec::new();
        let mut outside = Vec::new();
        let plane_of = |p: Pollutant| pollutants.iter().position(|q| *q == p);
        let p = &dataset.province;
        if self.sources.plants {
            for plant in &p.plants {
                let (x, y) = utm.forward(plant.location.x(), plant.location.y());
                let Some((i, j)) = grid.cell_of(x, y) else {
                    outside.push(format!("plant {}", plant.meta.id));
                    continue;
                };
                let mut total = 0.0;
                for e in &plant.emissions {
                    if let Some(k) = plane_of(e.pollutant) {
                        *cells
                            .entry((k as u32, (j * grid.nx + i) as u32))
                            .or_default() += e.grams_per_second;
                        total += e.grams_per_second;
                    }
                }
                if total > 0.0 {
                    source_list.push((
                        plant.meta.id.clone(),
                        FeatureKind::Plant,
                        plant.location.x(),
                        plant.location.y(),
                    ));
                }
            }
        }
        if self.sources.open_pit_mines {
            let pm10_kg_t = self.sources.mine_pm10_kg_per_t.unwrap_or(0.2);
            let pm25_frac = self.sources.mine_pm25_fraction.unwrap_or(0.15);
            if pm10_kg_t.is_nan() || pm10_kg_t < 0.0 || !(0.0..=1.0).contains(&pm25_frac) {
                return Err(bad("key `sources.mine_pm10_kg_per_t` must be >= 0 and `sources.mine_pm25_fraction` in [0, 1]".into()));
            }
            for mine in p.mines.iter().filter(|m| m.method == MiningMethod::OpenPit) {
                let pm10_g_s = mine.output_t_per_year * pm10_kg_t * 1000.0 / (365.0 * 86400.0);
                let geom: Geometry<f64> = match &mine.geometry {
                    MineGeometry::Point(pt) => (*pt).into(),
                    MineGeometry::Area(a) => a.clone().into(),
                };
                let footprint = area_cells(&grid, &project(&utm, &geom));
                if footprint.is_empty() {
                    outside.push(format!("mine {}", mine.meta.id));
                    continue;
                }
                for (pol, rate) in [
                    (Pollutant::Pm10, pm10_g_s),
                    (Pollutant::Pm25, pm25_frac * pm10_g_s),
                ] {
                    if let Some(k) = plane_of(pol) {
                        for c in &footprint {
                            *cells.entry((k as u32, *c)).or_default() +=
                                rate / footprint.len() as f64;
                        }
                    }
                }
                let c = geo::Centroid::centroid(&geom).unwrap_or(Point::new(0.0, 0.0));
                source_list.push((mine.meta.id.clone(), FeatureKind::Mine, c.x(), c.y()));
            }
        }
        for (n, s) in self.sources.point.iter().enumerate() {
            let key = format!("sources.point[{n}]");
            let rates = emission_rates(&s.emissions, &key, false).map_err(&bad)?;
            let (x, y) = utm.forward(s.lon, s.lat);
            let Some((i, j)) = grid.cell_of(x, y) else {
                return Err(bad(format!(
                    "key `{key}`: source {:?} at ({}, {}) is outside the grid",
                    s.name, s.lon, s.lat
                )));
            };
            for (pol, g_s) in rates {
                let k = plane_of(pol).ok_or_else(|| {
                    bad(format!(
                        "key `{key}.emissions`: {} is not one of this run's pollutants",
                        pol.as_str()
                    ))
                })?;
                *cells
                    .entry((k as u32, (j * grid.nx + i) as u32))
                    .or_default() += g_s;
            }
            source_list.push((s.name.clone(), FeatureKind::Plant, s.lon, s.lat));
        }
        for (n, s) in self.sources.area.iter().enumerate() {
            let key = format!("sources.area[{n}]");
            let rates = emission_rates(&s.emissions, &key, false).map_err(&bad)?;
            if s.radius_m.is_nan() || s.radius_m <= 0.0 {
                return Err(bad(format!("key `{key}.radius_m`: must be > 0")));
            }
            let (x, y) = utm.forward(s.lon, s.lat);
            let disc: Geometry<f64> = geo::Polygon::new(
                (0..=32)
                    .map(|k| {
                        let t = std::f64::consts::TAU * f64::from(k) / 32.0;
                        Coord {
                            x: x + s.radius_m * t.cos(),
                            y: y + s.radius_m * t.sin(),
                        }
                    })
                    .collect(),
                vec![],
            )
            .into();
            let footprint = area_cells(&grid, &disc);
            if footprint.is_empty() {
                return Err(bad(format!(
                    "key `{key}`: area {:?} is outside the grid",
                    s.name
                )));
            }
            for (pol, g_s) in rates {
                let k = plane_of(pol).ok_or_else(|| {
                    bad(format!(
                        "key `{key}.emissions`: {} is not one of this run's pollutants",
                        pol.as_str()
                    ))
                })?;
                for c in &footprint {
                    *cells.entry((k as u32, *c)).or_default() += g_s / footprint.len() as f64;
                }
            }
            source_list.push((s.name.clone(), FeatureKind::Mine, s.lon, s.lat));
        }
        for (n, s) in self.sources.line.iter().enumerate() {
            let key = format!("sources.line[{n}]");
            let rates = emission_rates(&s.emissions, &key, true).map_err(&bad)?;
            let links: Vec<usize> = (0..p.road_links.len())
                .filter(|&i| {
                    p.road_links[i].meta.id == s.road
                        || p.road_links[i].road_ref.as_deref() == Some(&s.road)
                })
                .collect();
            if links.is_empty() {
                return Err(bad(format!(
                    "key `{key}.road`: no road link with id or ref {:?}",
                    s.road
                )));
            }
            for l in links {
                let line = project(
                    &utm,
                    &p.geometry(crate::model::FeatureHandle {
                        kind: FeatureKind::Road,
                        index: l,
                    }),
                );
                let Geometry::LineString(ls) = line else {
                    continue;
                };
                let mut planes = Vec::with_capacity(rates.len());
                for (pol, g_s_km) in &rates {
                    let kk = plane_of(*pol).ok_or_else(|| {
                        bad(format!(
                            "key `{key}.emissions`: {} is not one of this run's pollutants",
                            pol.as_str()
                        ))
                    })?;
                    planes.push((kk as u32, *g_s_km));
                }
                deposit_along(&grid, &ls, &planes, &mut cells);
            }
            source_list.push((
                format!("road {}", s.road),
                FeatureKind::Road,
                f64::NAN,
                f64::NAN,
            ));
        }
        for (n, t) in self.sources.traffic.iter().enumerate() {
            let key = format!("sources.traffic[{n}]");
            let dir = path.parent().unwrap_or(Path::new("."));
            let file = dir.join(&t.emissions);
            let per_road =
                traffic_emissions(&file).map_err(|m| bad(format!("key `{key}.emissions`: {m}")))?;
            let roads = match &t.roads {
                Some(r) => {
                    let rf = dir.join(r);
                    crate::dataset::read_road_layer(&rf, dataset.manifest.bounds)
                        .map_err(|e| bad(format!("key `{key}.roads`: {e}")))?
                }
                None => p.road_links.clone(),
            };
            let mut skipped = std::collections::BTreeSet::new();
            let mut used = 0usize;
            for (road_id, rates) in &per_road {
                let Some(road) = roads.iter().find(|r| r.meta.id == *road_id) else {
                    return Err(bad(format!(
                        "key `{key}`: road {road_id:?} of {} is not in the road layer{}",
                        file.display(),
                        if t.roads.is_none() {
                            " (set `roads` to the file the traffic run used)"
                        } else {
                            ""
                        }
                    )));
                };
                let Geometry::LineString(ls) =
                    project(&utm, &Geometry::LineString(road.geometry.clone()))
                else {
                    continue;
                };
                let km = ls.lines().map(|l| l.dx().hypot(l.dy())).sum::<f64>() / 1000.0;
                if km <= 0.0 {
                    continue;
                }
                let mut planes = Vec::new();
                for (pol, g_s) in rates {
                    match plane_of(*pol) {
                        Some(k) => planes.push((k as u32, g_s / km)),
                        None => {
                            skipped.insert(pol.as_str());
                        }
                    }
                }
                used += 1;
                deposit_along(&grid, &ls, &planes, &mut cells);
            }
            for pol in skipped {
                outside.push(format!("traffic {pol} (not carried by this run)"));
            }
            source_list.push((
                format!("traffic {} ({used} roads)", t.emissions.display()),
                FeatureKind::Road,
                f64::NAN,
                f64::NAN,
            ));
        }
        let sources: Vec<SourceCell> = cells
            .into_iter()
            .filter(|(_, g_s)| *g_s > 0.0)
            .map(|((pollutant, cell), g_s)| SourceCell {
                cell,
                pollutant,
                rate: (g_s * 1e6 / volume) as f32,
                _pad: 0.0,
            })
            .collect();

        // air stations on the grid
        let mut stations = Vec::new();
        for st in p.stations.iter().filter(|s| s.medium == Medium::Air) {
            let (x, y) = utm.forward(st.location.x(), st.location.y());
            if grid.cell_of(x, y).is_none() {
                outside.push(format!("station {}", st.meta.id));
                continue;
            }
            let (fx, fy) = grid.cell_coords(x, y);
            stations.push((
                st.meta.id.clone(),
                StationPoint {
                    fx: fx as f32,
                    fy: fy as f32,
                    _pad: [0.0; 2],
                },
            ));
        }
        let problem = DispersionProblem {
            grid,
            pollutants,
            mixing_height_m: self.mixing_height_m,
            decay_per_s: decay,
            deposition_m_s: deposition,
            sources,
            stations,
            intervals,
            cfl,
        };
        Ok(ResolvedScenario {
            scenario: self,
            dataset,
            problem,
            start,
            source_list,
            outside,
            kdiff,
        })
    }

    fn build_grid(&self, dataset: &Dataset, utm: &Utm) -> Result<Grid, String> {
        let res = self.grid.resolution_m;
        if !(10.0..=10_000.0).contains(&res) {
            return Err(format!(
                "key `grid.resolution_m`: {res} must be in [10, 10000] m"
            ));
        }
        let (x0, y0, x1, y1) = match (self.grid.bbox, self.grid.extent_m) {
            (Some(_), Some(_)) => {
                return Err("keys `grid.bbox` and `grid.extent_m`: give one, not both".into());
            }
            (None, Some([a, b, c, d])) => (a, b, c, d),
            (bbox, None) => {
                let [a, b, c, d] = bbox.unwrap_or_else(|| {
                    let bb = dataset.manifest.bounds;
                    [bb.min_lon, bb.min_lat, bb.max_lon, bb.max_lat]
                });
                if !(a < c && b < d) {
                    return Err(format!(
                        "key `grid.bbox`: {:?} is not [min_lon, min_lat, max_lon, max_lat]",
                        [a, b, c, d]
                    ));
                }
                // projected envelope of the densified box
                let mut xs = Vec::new();
                let mut ys = Vec::new();
                for k in 0..=32 {
                    let t = f64::from(k) / 32.0;
                    for (lon, lat) in [
                        (a + t * (c - a), b),
                        (a + t * (c - a), d),
                        (a, b + t * (d - b)),
                        (c, b + t * (d - b)),
                    ] {
                        let (x, y) = utm.forward(lon, lat);
                        xs.push(x);
                        ys.push(y);
                    }
                }
                let f = |v: &[f64], max: bool| {
                    v.iter().copied().fold(
                        if max { f64::MIN } else { f64::MAX },
                        if max { f64::max } else { f64::min },
                    )
                };
                (f(&xs, false), f(&ys, false), f(&xs, true), f(&ys, true))
            }
        };
        if !(x0 < x1 && y0 < y1) {
            return Err(format!(
                "key `grid.extent_m`: {:?} is not [min_x, min_y, max_x, max_y]",
                [x0, y0, x1, y1]
            ));
        }
        let nx = ((x1 - x0) / res).ceil() as usize;
        let ny = ((y1 - y0) / res).ceil() as usize;
        if nx < 4 || ny < 4 || nx * ny > 200_000_000 {
            return Err(format!(
                "key `grid`: {nx} x {ny} cells; need at least 4 x 4 and at most 2e8 cells"
            ));
        }
        Ok(Grid {
            nx,
            ny,
            cell_m: res,
            x0,
            y0,
            epsg: utm.epsg(),
        })
    }

    fn build_intervals(&self, grid: &Grid, utm: &Utm) -> Result<Vec<Interval>, String> {
        let w = &self.wind;
        let interval_s = self.output_interval_min * 60.0;
        let total_s = self.duration_h * 3600.0;
        let n = (total_s / interval_s).round().max(1.0) as usize;
        if ((n as f64) * interval_s - total_s).abs() > 1e-6 * total_s {
            return Err(format!(
                "keys `duration_h` and `output_interval_min`: {} h is not a whole number of {}-minute intervals",
                self.duration_h, self.output_interval_min
            ));
        }
        let k_of = |class: Option<&String>, speed: f64, key: &str| -> Result<f64, String> {
            match (w.diffusivity_m2_s, class.or(w.stability.as_ref())) {
                (Some(k), _) if k > 0.0 => Ok(k),
                (Some(k), _) => Err(format!("key `wind.diffusivity_m2_s`: {k} must be > 0")),
                (None, Some(c)) => diffusivity_from_stability(c, speed).ok_or_else(|| {
                    format!(
                        "key `{key}`: unknown stability class {c:?}; expected A, B, C, D, E or F"
                    )
                }),
                (None, None) => {
                    Err("key `wind`: give `stability` (A–F) or `diffusivity_m2_s`".into())
                }
            }
        };
        let check_speed = |s: f64, key: &str| -> Result<(), String> {
            if (0.0..=60.0).contains(&s) {
                Ok(())
            } else {
                Err(format!("key `{key}`: {s} m/s must be in [0, 60]"))
            }
        };
        let mut out = Vec::with_capacity(n);
        match w.mode.as_str() {
            "uniform" => {
                let speed = w
                    .speed_m_s
                    .ok_or("key `wind.speed_m_s`: missing for mode \"uniform\"")?;
                let from = w
                    .from_deg
                    .ok_or("key `wind.from_deg`: missing for mode \"uniform\"")?;
                check_speed(speed, "wind.speed_m_s")?;
                let (u, v) = wind_components(speed, from);
                let k = k_of(None, speed, "wind.stability")?;
                let wind = std::sync::Arc::new(FaceWind::uniform(grid, u, v));
                out.extend((0..n).map(|_| Interval {
                    duration_s: interval_s,
                    wind: wind.clone(),
                    kdiff: k,
                }));
            }
            "series" => {
                if w.series.is_empty() {
                    return Err("key `wind.series`: mode \"series\" needs at least one [[wind.series]] entry".into());
                }
                for (i, s) in w.series.iter().enumerate() {
                    check_speed(s.speed_m_s, &format!("wind.series[{i}].speed_m_s"))?;
                    if i > 0 && s.hour <= w.series[i - 1].hour {
                        return Err(format!("key `wind.series[{i}].hour`: hours must increase"));
                    }
                }
                if w.series[0].hour > 0.0 {
                    return Err("key `wind.series[0].hour`: the series must start at hour 0".into());
                }
                for k in 0..n {
                    let t_h = k as f64 * interval_s / 3600.0;
                    let (idx, s) = w
                        .series
                        .iter()
                        .enumerate()
                        .rev()
                        .find(|(_, s)| s.hour <= t_h + 1e-9)
                        .unwrap_or((0, &w.series[0]));
                    let (u, v) = wind_components(s.speed_m_s, s.from_deg);
                    let kd = k_of(
                        s.stability.as_ref(),
                        s.speed_m_s,
                        &format!("wind.series[{idx}].stability"),
                    )?;
                    out.push(Interval {
                        duration_s: interval_s,
                        wind: std::sync::Arc::new(FaceWind::uniform(grid, u, v)),
                        kdiff: kd,
                    });
                }
            }
            "stations" => {
                if w.stations.is_empty() {
                    return Err("key `wind.stations`: mode \"stations\" needs at least one [[wind.stations]] entry".into());
                }
                let power = w.idw_power.unwrap_or(2.0);
                let obs: Vec<(f64, f64, f64, f64)> = w
                    .stations
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        check_speed(s.speed_m_s, &format!("wind.stations[{i}].speed_m_s"))?;
                        let (x, y) = utm.forward(s.lon, s.lat);
                        let (u, v) = wind_components(s.speed_m_s, s.from_deg);
                        Ok((x, y, u, v))
                    })
                    .collect::<Result<_, String>>()?;
                let mut uc = vec![0.0; grid.cells()];
                let mut vc = vec![0.0; grid.cells()];
                for j in 0..grid.ny {
                    for i in 0..grid.nx {
                        let (x, y) = grid.centre(i, j);
                        let (mut su, mut sv, mut sw) = (0.0, 0.0, 0.0);
                        for (ox, oy, u, v) in &obs {
                            let d = (x - ox).hypot(y - oy).max(1.0);
                            let wgt = d.powf(-power);
                            su += wgt * u;
                            sv += wgt * v;
                            sw += wgt;
                        }
                        uc[j * grid.nx + i] = su / sw;
                        vc[j * grid.nx + i] = sv / sw;
                    }
                }
                let mean_speed =
                    w.stations.iter().map(|s| s.speed_m_s).sum::<f64>() / w.stations.len() as f64;
                let k = k_of(None, mean_speed, "wind.stability")?;
                let wind = std::sync::Arc::new(FaceWind::from_cells(grid, &uc, &vc));
                out.extend((0..n).map(|_| Interval {
                    duration_s: interval_s,
                    wind: wind.clone(),
                    kdiff: k,
                }));
            }
            other => {
                return Err(format!(
                    "key `wind.mode`: unknown mode {other:?}; expected uniform, series or stations"
                ));
            }
        }
        Ok(out)
    }
}

fn pollutant_names() -> String {
    Pollutant::ALL
        .iter()
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rates in g/s (per km for line sources), checking pollutant names and units.
fn emission_rates(
    list: &[EmissionSpec],
    key: &str,
    per_km: bool,
) -> Result<Vec<(Pollutant, f64)>, String> {
    let mut out = Vec::new();
    for (i, e) in list.iter().enumerate() {
        let k = format!("{key}.emissions[{i}]");
        let p = Pollutant::parse(&e.pollutant).ok_or_else(|| {
            format!(
                "key `{k}.pollutant`: unknown pollutant {:?}; expected one of {}",
                e.pollutant,
                pollutant_names()
            )
        })?;
        let unit = if per_km {
            e.unit.strip_suffix("/km").ok_or_else(|| format!("key `{k}.unit`: {:?} is not a per-km unit (g/s/km, kg/h/km, kg/day/km, t/yr/km)", e.unit))?
        } else {
            e.unit.as_str()
        };
        let factor = EMISSION_UNITS
            .iter()
            .find(|(n, _)| *n == unit)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let names: Vec<String> = EMISSION_UNITS
                    .iter()
                    .map(|(n, _)| {
                        if per_km {
                            format!("{n}/km")
                        } else {
                            (*n).to_string()
                        }
                    })
                    .collect();
                format!(
                    "key `{k}.unit`: unknown unit {:?}; expected one of {}",
                    e.unit,
                    names.join(", ")
                )
            })?;
        if !(e.rate >= 0.0 && e.rate.is_finite()) {
            return Err(format!("key `{k}.rate`: {} must be a number >= 0", e.rate));
        }
        out.push((p, e.rate * factor));
    }
    Ok(out)
}

/// Cells whose centres lie in a projected area (or the one cell under a point / a small area).
fn area_cells(grid: &Grid, g: &Geometry<f64>) -> Vec<u32> {
    use geo::BoundingRect;
    let Some(r) = g.bounding_rect() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let i0 = ((r.min().x - grid.x0) / grid.cell_m).floor().max(0.0) as usize;
    let j0 = ((r.min().y - grid.y0) / grid.cell_m).floor().max(0.0) as usize;
    let i1 = (((r.max().x - grid.x0) / grid.cell_m).ceil().max(0.0) as usize).min(grid.nx);
    let j1 = (((r.max().y - grid.y0) / grid.cell_m).ceil().max(0.0) as usize).min(grid.ny);
    for j in j0..j1 {
        for i in i0..i1 {
            let (x, y) = grid.centre(i, j);
            if g.contains(&Point::new(x, y)) {
                out.push((j * grid.nx + i) as u32);
            }
        }
    }
    if out.is_empty() {
        let c = geo::Centroid::centroid(g);
        if let Some((i, j)) = c.and_then(|c| grid.cell_of(c.x(), c.y())) {
            out.push((j * grid.nx + i) as u32);
        }
    }
    out
}

/// Adds per-km rates `(pollutant plane, g/s per km)` along a projected line to the grid cells it
/// crosses, walking it in steps of a quarter cell.
fn deposit_along(
    grid: &Grid,
    ls: &geo::LineString<f64>,
    planes: &[(u32, f64)],
    cells: &mut BTreeMap<(u32, u32), f64>,
) {
    for seg in ls.lines() {
        let len = seg.dx().hypot(seg.dy());
        let n_steps = ((len / (grid.cell_m / 4.0)).ceil() as usize).max(1);
        let piece_km = len / n_steps as f64 / 1000.0;
        for k in 0..n_steps {
            let t = (k as f64 + 0.5) / n_steps as f64;
            let (x, y) = (seg.start.x + t * seg.dx(), seg.start.y + t * seg.dy());
            if let Some((i, j)) = grid.cell_of(x, y) {
                for (plane, g_s_km) in planes {
                    *cells.entry((*plane, (j * grid.nx + i) as u32)).or_default() +=
                        g_s_km * piece_km;
                }
            }
        }
    }
}

/// Time-mean emission per road (both directions summed) and pollutant, g/s, from a traffic run's
/// `emissions.parquet`; errors name the file and the column.
fn traffic_emissions(file: &Path) -> Result<BTreeMap<String, Vec<(Pollutant, f64)>>, String> {
    use polars::prelude::*;
    let where_ = |e: PolarsError| format!("{}: {e}", file.display());
    let f =
        std::fs::File::open(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let df = ParquetReader::new(f).finish().map_err(where_)?;
    for col in ["road_id", "time", "pollutant", "emission_g_s"] {
        if df.column(col).is_err() {
            return Err(format!(
                "{}: no column `{col}` (not a traffic emissions table?)",
                file.display()
            ));
        }
    }
    let times = df
        .column("time")
        .map_err(where_)?
        .n_unique()
        .map_err(where_)?
        .max(1);
    let out = df
        .lazy()
        .group_by([col("road_id"), col("pollutant")])
        .agg([col("emission_g_s").sum()])
        .sort(["road_id", "pollutant"], Default::default())
        .collect()
        .map_err(where_)?;
    let roads = out
        .column("road_id")
        .map_err(where_)?
        .str()
        .map_err(where_)?
        .clone();
    let pols = out
        .column("pollutant")
        .map_err(where_)?
        .str()
        .map_err(where_)?
        .clone();
    let rates = out
        .column("emission_g_s")
        .map_err(where_)?
        .f64()
        .map_err(where_)?
        .clone();
    let mut map: BTreeMap<String, Vec<(Pollutant, f64)>> = BTreeMap::new();
    for i in 0..out.height() {
        let (Some(r), Some(p), Some(v)) = (roads.get(i), pols.get(i), rates.get(i)) else {
            return Err(format!(
                "{}: row {i}: a null road_id, pollutant or emission_g_s",
                file.display()
            ));
        };
        let pol = Pollutant::parse(p)
            .ok_or_else(|| format!("{}: row {i}: unknown pollutant {p:?}", file.display()))?;
        map.entry(r.to_string())
            .or_default()
            .push((pol, v / times as f64));
    }
    Ok(map)
}

/// Reads a TOML file into `T`; errors name the file and the key, on one line.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| {
        let msg = e.to_string();
        let lines: Vec<&str> = msg
            .lines()
            .map(str::trim)
            .filter(|l| {
                !l.is_empty()
                    && !l.starts_with('|')
                    && !l.chars().next().is_some_and(|c| c.is_ascii_digit())
            })
            .collect();
        invalid(path, lines.join(" "))
    })
}
