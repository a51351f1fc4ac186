//! Dispersion scenarios: a TOML file (serde, unknown keys rejected) turned into a
//! [`DispersionProblem`] on a grid over a dataset. Every key carries its unit in its name
//! (`speed_m_s`, `mixing_height_m`); emission rates are `{pollutant, rate, unit}` like the
//! dataset's. A commented example: `datasets/quang-ninh/scenarios/winter-ne-monsoon.toml`.

mod sources;
mod spec;
mod wind;

use std::path::Path;

use chrono::{DateTime, Utc};

use super::{DispersionProblem, NearField, StationPoint};
use crate::dataset::Dataset;
use crate::geodesy::Utm;
use crate::grid::Grid;
use crate::model::{FeatureKind, Medium, Pollutant};
use crate::scenario::{
    ScenarioError, check_lon_lat, check_range, invalid, load_dataset, parse_start, read_toml,
};
pub use sources::{
    AREA_SIGMA_Z0_M, MAX_AREA_PIECES, MINE_PM10_KG_PER_T, MINE_PM25_FRACTION, POINT_MINE_SIDE_M,
    ROAD_PIECE_M, ROAD_SIGMA_Z0_M,
};
use sources::{SourceBook, collect_sources, pollutant_names};
pub use spec::*;
pub use wind::{diffusivity_from_stability, wind_components};

/// Most receptors a scenario may name (points plus every polar distance × bearing).
pub const MAX_RECEPTORS: usize = 100_000;

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
    /// Each receptor of `problem.receptors`, as written.
    pub receptors: Vec<ReceptorMeta>,
    /// Background per pollutant (in `pollutants` order) and interval, µg/m³ (zeros: none).
    pub background: Vec<Vec<f64>>,
    /// NO₂ by the ozone limiting method: (in-stack ratio, background O₃ µg/m³, NOx plane).
    pub no2: Option<(f64, f64, usize)>,
}

/// A receptor as the scenario gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceptorMeta {
    /// The `[[receptors.point]]` or `[[receptors.polar]]` name.
    pub name: String,
    /// Degrees east.
    pub lon: f64,
    /// Degrees north.
    pub lat: f64,
    /// Height above ground, m.
    pub height_m: f64,
    /// Distance from the polar centre, m (polar receptors).
    pub distance_m: Option<f64>,
    /// Compass bearing from the polar centre, degrees (polar receptors).
    pub direction_deg: Option<f64>,
}

/// Hourly means (µg/m³) of `parameter` at `station` for `hours` hours from `start_ms`, read from
/// a lake (only the local days the run touches) or an observation file; readings with a status
/// other than `measuring` are ignored. An hour without readings takes the nearest hour that has
/// some; none at all is an error.
fn observed_background(
    file: &Path,
    station: &str,
    parameter: &str,
    start_ms: i64,
    hours: usize,
) -> Result<Vec<f64>, String> {
    use crate::columns::{f64s, i64s, strings};
    use crate::telemetry::time::{HOUR_MS, local_day};
    let end_ms = start_ms + hours as i64 * HOUR_MS;
    let frames = if file.is_dir() {
        let mut v = Vec::new();
        for day in local_day(start_ms)..=local_day(end_ms - 1) {
            let lf = crate::telemetry::lake::read_day(file, day).map_err(|e| e.to_string())?;
            v.push(lf.frame);
        }
        v
    } else {
        vec![
            crate::telemetry::read_any(file)
                .map_err(|e| e.to_string())?
                .frame,
        ]
    };
    let mut sum = vec![0.0; hours];
    let mut count = vec![0usize; hours];
    for df in &frames {
        let col = |e: polars::prelude::PolarsError| format!("{}: {e}", file.display());
        let (st, par, t, v, status) = (
            strings(df, "station_id").map_err(col)?,
            strings(df, "parameter").map_err(col)?,
            i64s(df, "time_ms").map_err(col)?,
            f64s(df, "value").map_err(col)?,
            strings(df, "status").map_err(col)?,
        );
        for i in 0..df.height() {
            let (Some(t), Some(v)) = (t[i], v[i]) else {
                continue;
            };
            if st[i] != station || par[i] != parameter || status[i] != "measuring" {
                continue;
            }
            if t >= start_ms && t < end_ms {
                let h = ((t - start_ms) / HOUR_MS) as usize;
                sum[h] += v;
                count[h] += 1;
            }
        }
    }
    let have: Vec<usize> = (0..hours).filter(|h| count[*h] > 0).collect();
    if have.is_empty() {
        return Err(format!(
            "{}: station {station:?} has no {parameter} readings in the run's {hours} hours",
            file.display()
        ));
    }
    Ok((0..hours)
        .map(|h| {
            let nearest = have
                .iter()
                .min_by_key(|k| k.abs_diff(h))
                .copied()
                .unwrap_or(h);
            sum[nearest] / count[nearest] as f64
        })
        .collect())
}

/// The OLM's NO₂ from NOx (Cole & Summerhays 1979): ISR·NOx + min((1 − ISR)·NOx, (46/48)·O₃),
/// µg/m³.
pub fn olm_no2(nox: f64, in_stack_ratio: f64, ozone: f64) -> f64 {
    in_stack_ratio * nox + ((1.0 - in_stack_ratio) * nox).min(46.0 / 48.0 * ozone)
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
        self.check_values().map_err(bad)?;
        let cfl = self.cfl.unwrap_or(0.5);
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
        let near_field = NearField {
            enabled: self.near_field.enabled,
            max_travel_m: self.near_field.max_travel_m.unwrap_or(20_000.0),
            fade_start_fraction: self.near_field.fade_start_fraction.unwrap_or(0.5),
            raster_height_m: 1.5,
            ambient_k: self.wind.ambient_temperature_k.unwrap_or(288.15),
            sigma_y_from_k: self.wind.diffusivity_m2_s.is_some(),
        };
        if near_field.enabled && intervals.iter().any(|i| i.stability.is_none()) {
            return Err(bad("key `wind.stability`: the near field needs a Pasquill–Gifford class (A–F) for its σy and σz; give one, or set `[near_field] enabled = false`".into()));
        }

        // sources
        let SourceBook {
            emitters,
            source_list,
            mut outside,
        } = collect_sources(&self.sources, path, &dataset, &grid, &pollutants)?;
        if near_field.enabled {
            let work = emitters.len() as f64 * intervals.len() as f64;
            if emitters.len() > super::near::MAX_EMITTERS
                || work > super::near::MAX_EMITTER_INTERVALS
            {
                return Err(bad(format!(
                    "key `sources`: {} near-field emitters (stacks, area pieces, {} m road pieces) over {} intervals; at most {} emitters and {:.0e} emitter-intervals (fewer or shorter roads, a longer output interval, or `[near_field] enabled = false`)",
                    emitters.len(),
                    sources::ROAD_PIECE_M,
                    intervals.len(),
                    super::near::MAX_EMITTERS,
                    super::near::MAX_EMITTER_INTERVALS
                )));
            }
        }
        let (receptors, receptor_meta) = self.build_receptors(&grid, &utm, &mut outside);
        let background = self
            .build_background(path, start.timestamp_millis(), &pollutants, intervals.len())
            .map_err(bad)?;
        let no2 = match &self.no2 {
            None => None,
            Some(n) => {
                let k = pollutants
                    .iter()
                    .position(|p| *p == Pollutant::Nox)
                    .ok_or_else(|| {
                        bad(
                            "key `no2`: the ozone limiting method needs NOx among `pollutants`"
                                .into(),
                        )
                    })?;
                if pollutants.contains(&Pollutant::No2) {
                    return Err(bad("keys `no2` and `pollutants`: NO₂ is derived from NOx by `[no2]`; do not carry it as well".into()));
                }
                Some((n.in_stack_ratio.unwrap_or(0.1), n.ozone_ug_m3, k))
            }
        };

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
                },
            ));
        }
        let problem = DispersionProblem {
            grid,
            pollutants,
            decay_per_s: decay,
            deposition_m_s: deposition,
            emitters,
            near_field,
            stations,
            receptors,
            intervals,
            spin_up_s: self.spin_up_h * 3600.0,
            cfl,
        };
        // sub-steps follow from the wind, the diffusivity and the grid: bounded before a run
        let steps: f64 = problem
            .intervals
            .iter()
            .map(|i| problem.substeps(i).0 as f64)
            .sum();
        if steps > super::MAX_STEPS {
            return Err(bad(format!(
                "keys `wind` and `grid.resolution_m`: the stable time step needs {steps:.3e} sub-steps; at most {:.0e} (a coarser grid, a smaller diffusivity or a shorter run)",
                super::MAX_STEPS
            )));
        }
        let updates = steps * problem.grid.cells() as f64 * problem.pollutants.len() as f64;
        if updates > super::MAX_CELL_UPDATES {
            return Err(bad(format!(
                "keys `grid` and `duration_h`: {steps:.3e} sub-steps × {} cells × {} pollutant(s) is {updates:.3e} cell-updates; at most {:.0e} (a coarser grid, a smaller area or a shorter run)",
                problem.grid.cells(),
                problem.pollutants.len(),
                super::MAX_CELL_UPDATES
            )));
        }
        Ok(ResolvedDispersion {
            scenario: self,
            dataset,
            problem,
            start,
            source_list,
            outside,
            kdiff,
            receptors: receptor_meta,
            background,
            no2,
        })
    }

    /// Point and polar receptors in the grid's CRS; those outside the grid are listed in
    /// `outside` and left out (the grid part of their value would be an edge cell's).
    fn build_receptors(
        &self,
        grid: &Grid,
        utm: &Utm,
        outside: &mut Vec<String>,
    ) -> (Vec<super::ReceptorPoint>, Vec<ReceptorMeta>) {
        let mut pts = Vec::new();
        let mut meta = Vec::new();
        let mut push = |m: ReceptorMeta, label: String| {
            let (x, y) = utm.forward(m.lon, m.lat);
            if grid.cell_of(x, y).is_none() {
                outside.push(format!("receptor {label} (outside the grid)"));
                return;
            }
            pts.push(super::ReceptorPoint {
                name: label,
                x_m: x,
                y_m: y,
                z_m: m.height_m,
            });
            meta.push(m);
        };
        for r in &self.receptors.point {
            let h = r.height_m.unwrap_or(1.5);
            push(
                ReceptorMeta {
                    name: r.name.clone(),
                    lon: r.lon,
                    lat: r.lat,
                    height_m: h,
                    distance_m: None,
                    direction_deg: None,
                },
                r.name.clone(),
            );
        }
        for r in &self.receptors.polar {
            let h = r.height_m.unwrap_or(1.5);
            let (cx, cy) = utm.forward(r.lon, r.lat);
            for &d in &r.distances_m {
                for &dir in &r.directions_deg {
                    // a bearing is clockwise from grid north here: the UTM convergence in the
                    // province is under 1°, and the point goes back to lon/lat exactly
                    let t = dir.to_radians();
                    let (lon, lat) = utm.inverse(cx + d * t.sin(), cy + d * t.cos());
                    push(
                        ReceptorMeta {
                            name: r.name.clone(),
                            lon,
                            lat,
                            height_m: h,
                            distance_m: Some(d),
                            direction_deg: Some(dir),
                        },
                        format!("{} {d} m {dir}°", r.name),
                    );
                }
            }
        }
        (pts, meta)
    }

    /// Background per pollutant and interval, µg/m³.
    fn build_background(
        &self,
        path: &Path,
        start_ms: i64,
        pollutants: &[Pollutant],
        n: usize,
    ) -> Result<Vec<Vec<f64>>, String> {
        let mut out = vec![vec![0.0; n]; pollutants.len()];
        let interval_h = self.output_interval_min / 60.0;
        let hours = self.duration_h.ceil() as usize;
        for (name, b) in &self.background {
            let key = format!("background.\"{name}\"");
            let k = Pollutant::parse(name)
                .and_then(|p| pollutants.iter().position(|q| *q == p))
                .ok_or_else(|| {
                    format!("key `{key}`: {name:?} is not one of this run's pollutants")
                })?;
            let hourly: Vec<f64> = match (b.ug_m3, &b.hourly_ug_m3, &b.station, &b.observations) {
                (Some(v), None, None, None) => vec![v; hours.max(1)],
                (None, Some(series), None, None) => {
                    if series.len() < hours {
                        return Err(format!(
                            "key `{key}.hourly_ug_m3`: {} values do not cover the run's {hours} hours",
                            series.len()
                        ));
                    }
                    series.clone()
                }
                (None, None, Some(station), Some(obs)) => {
                    let file = crate::scenario::relative_to(path, obs);
                    observed_background(&file, station, name, start_ms, hours)
                        .map_err(|e| format!("key `{key}`: {e}"))?
                }
                _ => {
                    return Err(format!(
                        "key `{key}`: give one of `ug_m3` (a constant), `hourly_ug_m3` (one value per hour) or `station` with `observations` (a lake or file)"
                    ));
                }
            };
            for (i, v) in out[k].iter_mut().enumerate() {
                let hour = ((i as f64 * interval_h) + 1e-9).floor() as usize;
                *v = hourly[hour.min(hourly.len() - 1)];
            }
        }
        Ok(out)
    }

    /// Every number of the scenario finite and in its physical range, and the number of
    /// output intervals bounded, before anything is sized from them.
    fn check_values(&self) -> Result<(), String> {
        check_range("duration_h", self.duration_h, 1.0 / 60.0, 24.0 * 366.0, "h")?;
        check_range(
            "output_interval_min",
            self.output_interval_min,
            1.0,
            (self.duration_h * 60.0).max(1.0),
            "min",
        )?;
        let intervals = self.duration_h * 60.0 / self.output_interval_min;
        if intervals > super::MAX_INTERVALS {
            return Err(format!(
                "keys `duration_h` and `output_interval_min`: {intervals:.0} output intervals; at most {:.0} (a longer interval)",
                super::MAX_INTERVALS
            ));
        }
        check_range("mixing_height_m", self.mixing_height_m, 10.0, 5000.0, "m")?;
        for (i, m) in self.mixing_height.iter().enumerate() {
            check_range(
                &format!("mixing_height[{i}].hour"),
                m.hour,
                0.0,
                24.0 * 366.0,
                "h",
            )?;
            check_range(
                &format!("mixing_height[{i}].mixing_height_m"),
                m.mixing_height_m,
                10.0,
                5000.0,
                "m",
            )?;
        }
        check_range("spin_up_h", self.spin_up_h, 0.0, self.duration_h, "h")?;
        if self.spin_up_h >= self.duration_h {
            return Err(format!(
                "key `spin_up_h`: {} h leaves nothing of a {} h run to average",
                self.spin_up_h, self.duration_h
            ));
        }
        if let Some(v) = self.near_field.max_travel_m {
            check_range("near_field.max_travel_m", v, 100.0, 200_000.0, "m")?;
        }
        if let Some(v) = self.near_field.fade_start_fraction {
            check_range("near_field.fade_start_fraction", v, 0.0, 0.95, "")?;
        }
        for (i, r) in self.receptors.point.iter().enumerate() {
            check_lon_lat(&format!("receptors.point[{i}]"), r.lon, r.lat)?;
            if let Some(h) = r.height_m {
                check_range(
                    &format!("receptors.point[{i}].height_m"),
                    h,
                    0.0,
                    500.0,
                    "m",
                )?;
            }
        }
        let mut polar_count = 0usize;
        for (i, r) in self.receptors.polar.iter().enumerate() {
            check_lon_lat(&format!("receptors.polar[{i}]"), r.lon, r.lat)?;
            if let Some(h) = r.height_m {
                check_range(
                    &format!("receptors.polar[{i}].height_m"),
                    h,
                    0.0,
                    500.0,
                    "m",
                )?;
            }
            for (k, d) in r.distances_m.iter().enumerate() {
                check_range(
                    &format!("receptors.polar[{i}].distances_m[{k}]"),
                    *d,
                    1.0,
                    200_000.0,
                    "m",
                )?;
            }
            for (k, d) in r.directions_deg.iter().enumerate() {
                check_range(
                    &format!("receptors.polar[{i}].directions_deg[{k}]"),
                    *d,
                    -360.0,
                    360.0,
                    "°",
                )?;
            }
            polar_count = polar_count
                .saturating_add(r.distances_m.len().saturating_mul(r.directions_deg.len()));
        }
        if polar_count + self.receptors.point.len() > MAX_RECEPTORS {
            return Err(format!(
                "key `receptors`: {} receptors; at most {MAX_RECEPTORS} (use the rasters for dense fields)",
                polar_count + self.receptors.point.len()
            ));
        }
        for (name, b) in &self.background {
            if let Some(v) = b.ug_m3 {
                check_range(
                    &format!("background.\"{name}\".ug_m3"),
                    v,
                    0.0,
                    1e5,
                    "µg/m³",
                )?;
            }
            if let Some(st) = &b.station
                && st.trim().is_empty()
            {
                return Err(format!("key `background.\"{name}\".station`: empty"));
            }
            for (k, v) in b.hourly_ug_m3.iter().flatten().enumerate() {
                check_range(
                    &format!("background.\"{name}\".hourly_ug_m3[{k}]"),
                    *v,
                    0.0,
                    1e5,
                    "µg/m³",
                )?;
            }
        }
        if let Some(n) = &self.no2 {
            check_range("no2.ozone_ug_m3", n.ozone_ug_m3, 0.0, 1000.0, "µg/m³")?;
            if let Some(r) = n.in_stack_ratio {
                check_range("no2.in_stack_ratio", r, 0.0, 1.0, "")?;
            }
        }
        if let Some(c) = self.cfl {
            check_range("cfl", c, 0.01, 0.5, "")?;
        }
        for (name, r) in &self.removal {
            check_range(
                &format!("removal.\"{name}\".decay_per_s"),
                r.decay_per_s,
                0.0,
                1.0,
                "1/s",
            )?;
            check_range(
                &format!("removal.\"{name}\".deposition_m_s"),
                r.deposition_m_s,
                0.0,
                1.0,
                "m/s",
            )?;
        }
        check_range(
            "grid.resolution_m",
            self.grid.resolution_m,
            10.0,
            10_000.0,
            "m",
        )?;
        if let Some(b) = self.grid.bbox {
            check_lon_lat("grid.bbox[min]", b[0], b[1])?;
            check_lon_lat("grid.bbox[max]", b[2], b[3])?;
        }
        if let Some(e) = self.grid.extent_m {
            for (i, v) in e.iter().enumerate() {
                check_range(&format!("grid.extent_m[{i}]"), *v, -1e8, 1e8, "m")?;
            }
        }
        let w = &self.wind;
        let speed = |key: &str, v: f64| check_range(key, v, 0.0, 60.0, "m/s");
        let dir = |key: &str, v: f64| check_range(key, v, -360.0, 360.0, "°");
        if let Some(v) = w.speed_m_s {
            speed("wind.speed_m_s", v)?;
        }
        if let Some(v) = w.from_deg {
            dir("wind.from_deg", v)?;
        }
        if let Some(v) = w.diffusivity_m2_s {
            check_range("wind.diffusivity_m2_s", v, 0.01, 10_000.0, "m²/s")?;
        }
        if let Some(v) = w.idw_power {
            check_range("wind.idw_power", v, 0.5, 8.0, "")?;
        }
        if let Some(v) = w.ambient_temperature_k {
            check_range("wind.ambient_temperature_k", v, 220.0, 330.0, "K")?;
        }
        if let Some(v) = w.calm_m_s {
            check_range("wind.calm_m_s", v, 0.1, 2.0, "m/s")?;
        }
        for (i, s) in w.series.iter().enumerate() {
            check_range(
                &format!("wind.series[{i}].hour"),
                s.hour,
                0.0,
                24.0 * 366.0,
                "h",
            )?;
            speed(&format!("wind.series[{i}].speed_m_s"), s.speed_m_s)?;
            dir(&format!("wind.series[{i}].from_deg"), s.from_deg)?;
            if let Some(h) = s.mixing_height_m {
                check_range(
                    &format!("wind.series[{i}].mixing_height_m"),
                    h,
                    10.0,
                    5000.0,
                    "m",
                )?;
            }
        }
        for (i, s) in w.stations.iter().enumerate() {
            check_lon_lat(&format!("wind.stations[{i}]"), s.lon, s.lat)?;
            speed(&format!("wind.stations[{i}].speed_m_s"), s.speed_m_s)?;
            dir(&format!("wind.stations[{i}].from_deg"), s.from_deg)?;
        }
        let src = &self.sources;
        if let Some(v) = src.mine_pm10_kg_per_t {
            check_range("sources.mine_pm10_kg_per_t", v, 0.0, 100.0, "kg/t")?;
        }
        if let Some(v) = src.mine_pm25_fraction {
            check_range("sources.mine_pm25_fraction", v, 0.0, 1.0, "")?;
        }
        let rates = |key: &str, list: &[spec::EmissionSpec]| -> Result<(), String> {
            for (i, e) in list.iter().enumerate() {
                check_range(
                    &format!("{key}.emissions[{i}].rate"),
                    e.rate,
                    0.0,
                    1e9,
                    &e.unit,
                )?;
            }
            Ok(())
        };
        for (i, p) in src.point.iter().enumerate() {
            check_lon_lat(&format!("sources.point[{i}]"), p.lon, p.lat)?;
            let k = |f: &str| format!("sources.point[{i}].{f}");
            if let Some(v) = p.stack_height_m {
                check_range(&k("stack_height_m"), v, 0.0, 500.0, "m")?;
            }
            if let Some(v) = p.stack_diameter_m {
                check_range(&k("stack_diameter_m"), v, 0.05, 30.0, "m")?;
            }
            if let Some(v) = p.exit_velocity_m_s {
                check_range(&k("exit_velocity_m_s"), v, 0.01, 100.0, "m/s")?;
            }
            if let Some(v) = p.exit_temperature_k {
                check_range(&k("exit_temperature_k"), v, 200.0, 2000.0, "K")?;
            }
            rates(&format!("sources.point[{i}]"), &p.emissions)?;
        }
        for (i, a) in src.area.iter().enumerate() {
            check_lon_lat(&format!("sources.area[{i}]"), a.lon, a.lat)?;
            check_range(
                &format!("sources.area[{i}].radius_m"),
                a.radius_m,
                1.0,
                100_000.0,
                "m",
            )?;
            rates(&format!("sources.area[{i}]"), &a.emissions)?;
        }
        for (i, l) in src.line.iter().enumerate() {
            rates(&format!("sources.line[{i}]"), &l.emissions)?;
        }
        Ok(())
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
        // sized in floating point first: a huge extent must not wrap the cell count
        let (fx, fy) = (((x1 - x0) / res).ceil(), ((y1 - y0) / res).ceil());
        if !(fx.is_finite() && fy.is_finite()) || fx < 4.0 || fy < 4.0 || fx * fy > 2e8 {
            return Err(format!(
                "key `grid`: {fx} x {fy} cells; need at least 4 x 4 and at most 2e8 cells"
            ));
        }
        let (nx, ny) = (fx as usize, fy as usize);
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
