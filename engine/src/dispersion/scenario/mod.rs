//! Dispersion scenarios: a TOML file (serde, unknown keys rejected) turned into a
//! [`DispersionProblem`] on a grid over a dataset. Every key carries its unit in its name
//! (`speed_m_s`, `mixing_height_m`); emission rates are `{pollutant, rate, unit}` like the
//! dataset's. A commented example: `datasets/quang-ninh/scenarios/winter-ne-monsoon.toml`.

mod sources;
mod spec;
mod wind;

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{DispersionProblem, StationPoint};
use crate::dataset::Dataset;
use crate::geodesy::Utm;
use crate::grid::Grid;
use crate::model::{FeatureKind, Medium, Pollutant};
use crate::scenario::{ScenarioError, invalid, load_dataset, parse_start, read_toml};
use sources::{SourceBook, collect_sources, pollutant_names};
pub use spec::*;
pub use wind::{diffusivity_from_stability, wind_components};

/// A scenario resolved against its dataset: the problem, plus what the outputs need to know.
#[derive(Debug, Clone)]
pub struct ResolvedDispersion {
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

impl Scenario {
    /// Reads a scenario file.
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        read_toml(path)
    }

    /// Reads a scenario and resolves it against its dataset (see [`Self::resolve_with_dataset`]).
    pub fn load(
        path: &Path,
        dataset_flag: Option<&Path>,
    ) -> Result<ResolvedDispersion, ScenarioError> {
        Self::read(path)?.resolve_with_dataset(path, dataset_flag)
    }

    /// Loads the scenario's dataset — its `dataset` key relative to `path`, else
    /// [`crate::dataset::resolve_dir`] of `dataset_flag` — and resolves the scenario against it.
    pub fn resolve_with_dataset(
        self,
        path: &Path,
        dataset_flag: Option<&Path>,
    ) -> Result<ResolvedDispersion, ScenarioError> {
        let dataset = load_dataset(path, self.dataset.as_deref(), dataset_flag)?;
        self.resolve(path, dataset)
    }

    /// Builds the problem: grid, wind per interval, sources and stations on the grid.
    pub fn resolve(
        self,
        path: &Path,
        dataset: Dataset,
    ) -> Result<ResolvedDispersion, ScenarioError> {
        let bad = |m: String| invalid(path, m);
        let start = parse_start(path, &self.start)?;
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
        let SourceBook {
            sources,
            source_list,
            mut outside,
        } = collect_sources(
            &self.sources,
            path,
            &dataset,
            &grid,
            &pollutants,
            self.mixing_height_m,
        )?;

        // air stations on the grid
        let mut stations = Vec::new();
        for st in dataset
            .province
            .stations
            .iter()
            .filter(|s| s.medium == Medium::Air)
        {
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
        Ok(ResolvedDispersion {
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
}
