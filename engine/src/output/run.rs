//! Run directories: what a model run writes, described by a typed `summary.json`, and
//! [`RunDir`], the one reader of them. The viewer, `twin telemetry evaluate`, the dispersion's
//! road-emission sources and the tests open runs only through [`RunDir::open`].
//!
//! Every `summary.json` carries `kind` (`dispersion`, `traffic`) and `format_version`
//! ([`FORMAT_VERSION`]); a directory without them, with another kind, or with a newer version
//! is refused with an error that says so. Rasters come back as `ndarray` arrays (band, row from
//! north, column) with their [`Grid`]; tables as polars `DataFrame`s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::geotiff;
use crate::dispersion::MassBudget;
use crate::gpu::AdapterReport;
use crate::grid::Grid;
use crate::model::Pollutant;
use crate::traffic::Control;
use crate::traffic::emissions::EmissionModel;

/// Version of the run-directory format this engine writes and reads. Raise it when a summary
/// field or an output file changes meaning; readers refuse other versions by name.
pub const FORMAT_VERSION: u32 = 3;

/// Name of the summary file in every run directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// A run's `summary.json`, tagged by model (`"kind"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunSummary {
    /// A dispersion run.
    Dispersion(Box<DispersionSummary>),
    /// A traffic run.
    Traffic(Box<TrafficSummary>),
    /// A mine ventilation (and gas) run.
    Mine(Box<MineSummary>),
}

impl RunSummary {
    /// The model name, as in `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Dispersion(_) => "dispersion",
            Self::Traffic(_) => "traffic",
            Self::Mine(_) => "mine",
        }
    }

    /// The scenario's name.
    pub fn scenario(&self) -> &str {
        match self {
            Self::Dispersion(s) => &s.scenario,
            Self::Traffic(s) => &s.scenario,
            Self::Mine(s) => &s.scenario,
        }
    }
}

/// Summary of a dispersion run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispersionSummary {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Scenario name.
    pub scenario: String,
    /// Start of the run, RFC 3339 UTC.
    pub start_utc: String,
    /// Simulated hours.
    pub duration_h: f64,
    /// `gpu` or `cpu`.
    pub backend: String,
    /// The wgpu adapter, on the GPU backend.
    pub adapter: Option<AdapterReport>,
    /// The grid of every raster.
    pub grid: Grid,
    /// Bands in order: the carried pollutants, then derived ones (NO₂ by the OLM).
    pub pollutants: Vec<String>,
    /// Mixed-layer depth of each output interval, m.
    pub mixing_height_m: Vec<f64>,
    /// Horizontal diffusivity of each output interval, m²/s.
    pub diffusivity_m2_s: Vec<f64>,
    /// Stability class of each output interval (empty entries: none given).
    pub stability: Vec<String>,
    /// Output intervals whose wind was below the calm threshold (raised to it).
    pub calm_intervals: usize,
    /// The calm threshold, m/s.
    pub calm_threshold_m_s: f64,
    /// Hours excluded from time means and tables.
    pub spin_up_h: f64,
    /// The near field (plume-in-grid).
    pub near_field: NearFieldSummary,
    /// Each stack's largest Briggs rise over the run.
    pub plume_rise: Vec<PlumeRiseSummary>,
    /// Background per pollutant, as applied (what was added to every ground-level output).
    pub background: BTreeMap<String, String>,
    /// NO₂ by the ozone limiting method, when derived.
    pub no2: Option<String>,
    /// Population-weighted time-mean ground-level concentration per district and pollutant,
    /// µg/m³ (2019 census population spread evenly over the district's land cells).
    pub exposure: BTreeMap<String, BTreeMap<String, f64>>,
    /// Time steps taken.
    pub steps: u64,
    /// Cell updates (cells × steps × pollutants).
    pub cell_updates: u64,
    /// Wall time of the time stepping, s.
    pub wall_s: f64,
    /// Cell updates per wall second.
    pub cell_updates_per_s: f64,
    /// What the mass-consistency solve (stage `poisson`) did to each interpolated wind field
    /// (stations mode; empty otherwise).
    #[serde(default)]
    pub wind_projection: Vec<crate::dispersion::projection::MassConsistency>,
    /// Mass budget per pollutant.
    pub mass_budget: BTreeMap<String, MassBudget>,
    /// Every emitting source by name.
    pub sources: Vec<String>,
    /// Sources or stations left out (outside the grid), with why.
    pub left_out: Vec<String>,
    /// Output file → what it holds.
    pub outputs: BTreeMap<String, String>,
}

/// The near field of a dispersion run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearFieldSummary {
    /// Whether plumes were modelled near their sources.
    pub enabled: bool,
    /// Longest travel before hand-over, m.
    pub max_travel_m: f64,
    /// Fade start, as a fraction of the hand-over distance.
    pub fade_start_fraction: f64,
    /// Raster receptor height, m.
    pub receptor_height_m: f64,
    /// Emitters (stacks, area and road pieces).
    pub emitters: usize,
    /// Receptor-plume evaluations.
    pub evaluations: u64,
    /// Wall time spent in the near field, s.
    pub wall_s: f64,
}

/// A stack's plume rise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlumeRiseSummary {
    /// Source name.
    pub source: String,
    /// Stack height, m.
    pub stack_height_m: f64,
    /// Largest final rise of any interval, m.
    pub max_final_rise_m: f64,
}

/// How a scenario's named feature was placed on the road network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// The feature id (a mine, a port, …).
    pub feature: String,
    /// The node it was placed on.
    pub node: String,
    /// Distance from the feature to the node, m.
    pub distance_m: f64,
}

/// The network of a traffic run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSummary {
    /// Nodes.
    pub nodes: usize,
    /// Directed links.
    pub links: usize,
    /// Cells.
    pub cells: usize,
    /// Signalised nodes.
    pub signals: usize,
    /// Signal control.
    pub control: Control,
    /// Topology warnings.
    pub warnings: Vec<String>,
}

/// Vehicle bookkeeping of a traffic run, per class (`classes` order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehicleSummary {
    /// Class names.
    pub classes: Vec<String>,
    /// Vehicles demanded.
    pub demand: [f64; 2],
    /// Entered the network.
    pub entered: [f64; 2],
    /// Left it at sinks.
    pub exited: [f64; 2],
    /// On links at the end.
    pub in_network: [f64; 2],
    /// Queued at origins at the end.
    pub waiting_at_origins: [f64; 2],
    /// |entered − exited − in network| / entered.
    pub conservation_relative_error: f64,
    /// Vehicle-seconds on links.
    pub vehicle_seconds: [f64; 2],
    /// Vehicle-kilometres on links.
    pub vehicle_km: [f64; 2],
}

/// Summary of a traffic run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficSummary {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Scenario name.
    pub scenario: String,
    /// Scenario file, when run from one.
    pub scenario_file: Option<String>,
    /// `gpu` or `cpu`.
    pub backend: String,
    /// The wgpu adapter, on the GPU backend.
    pub adapter: Option<AdapterReport>,
    /// Start of the run, RFC 3339 UTC.
    pub start_utc: String,
    /// Time step, s.
    pub dt_s: f64,
    /// Why that step.
    pub dt_reason: String,
    /// Steps taken.
    pub steps: u64,
    /// Output interval, s.
    pub output_interval_s: f64,
    /// Wall time, s.
    pub wall_s: f64,
    /// Cell updates per wall second.
    pub cell_updates_per_s: f64,
    /// The network.
    pub network: NetworkSummary,
    /// Where named features were placed.
    pub placements: Vec<Placement>,
    /// Vehicle bookkeeping.
    pub vehicles: VehicleSummary,
    /// Emitted mass per pollutant, kg.
    pub emissions_kg: BTreeMap<String, f64>,
    /// Of that, emitted by idling vehicles (stopped on links or waiting at origins), kg.
    #[serde(default)]
    pub idle_emissions_kg: BTreeMap<String, f64>,
    /// The emission factors used.
    pub emission_model: EmissionModel,
    /// Fixed-time plans timed by Webster (1958) from the assigned flows: node id → plan.
    #[serde(default)]
    pub webster_plans: BTreeMap<String, crate::traffic::webster::WebsterPlan>,
    /// Destination routing: the dynamic user equilibrium's relative gap per iteration.
    #[serde(default)]
    pub equilibrium: Option<crate::traffic::routing::Equilibrium>,
    /// Trucks' highest free-flow speed, km/h.
    #[serde(default)]
    pub truck_speed_km_h: f64,
    /// Road ids closed for the run.
    #[serde(default)]
    pub closed_roads: Vec<String>,
    /// Commodities carried (class × destination; the shared per-class ones have no `dest`).
    #[serde(default)]
    pub commodities: Vec<CommoditySummary>,
    /// Share of the destination demand routed by the shared commodities (more destinations
    /// than a cell carries).
    #[serde(default)]
    pub shared_destination_share: f64,
    /// Output file → what it holds.
    pub outputs: BTreeMap<String, String>,
}

/// One solver's result in a mine run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SolverSummary {
    /// `newton` or `hardy_cross`.
    pub solver: String,
    /// Iterations (Newton steps; Hardy Cross sweeps).
    pub iterations: usize,
    /// Largest mesh pressure imbalance, Pa.
    pub residual_pa: f64,
    /// Largest junction imbalance over the total flow.
    pub kirchhoff: f64,
}

/// The airflow after a what-if changed the network, in a mine run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AirflowChange {
    /// Minutes after the start.
    pub minute: f64,
    /// The solve.
    pub solver: SolverSummary,
    /// Fans' operating points.
    pub fans: Vec<crate::mine::FanPoint>,
    /// Rules broken.
    pub violations: Vec<crate::mine::Violation>,
}

/// The gas part of a mine run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MineGasSummary {
    /// Scenario file.
    pub scenario_file: String,
    /// Start of the run, RFC 3339 UTC.
    pub start_utc: String,
    /// Duration, min.
    pub duration_min: f64,
    /// Output interval, s.
    pub output_interval_s: f64,
    /// Cells.
    pub cells: usize,
    /// Time steps.
    pub steps: u64,
    /// Airflow after each what-if that changed it.
    pub airflow_changes: Vec<AirflowChange>,
    /// Gas released, m³ (CH4, CO).
    pub released_m3: [f64; 2],
    /// Gas in the network at the end, m³.
    pub held_m3: [f64; 2],
    /// Gas exhausted to the surface, m³.
    pub exhausted_m3: [f64; 2],
    /// |released − held − exhausted| / released.
    pub mass_error: [f64; 2],
    /// First time each working place reached 1.0 and 1.5 % CH₄.
    pub time_to_level: Vec<crate::mine::gas::TimeToLevel>,
    /// Alarm events (`alarms.parquet`).
    pub alarm_events: usize,
}

/// The ensemble part of a mine run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MineEnsembleSummary {
    /// Members (member 0 unperturbed).
    pub members: usize,
    /// Seed of the perturbations.
    pub seed: u64,
    /// σ of ln(resistance factor), lognormal with median 1.
    pub sigma_ln_resistance: f64,
    /// σ of ln(gas-make factor), lognormal with median 1.
    pub sigma_ln_gas_make: f64,
    /// `gpu` or `cpu`.
    pub backend: String,
    /// The wgpu adapter, on the GPU backend.
    pub adapter: Option<AdapterReport>,
    /// Step shared by all members, s.
    pub dt_s: f64,
    /// Steps.
    pub steps: u64,
    /// Member-steps per wall second of the transport.
    pub member_steps_per_s: f64,
    /// Wall time of the transport, s.
    pub transport_s: f64,
}

/// Summary of a mine run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MineSummary {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Network name.
    pub scenario: String,
    /// Network file.
    pub network_file: String,
    /// Methane class.
    pub methane_class: crate::mine::network::MethaneClass,
    /// The limits applied.
    pub limits: crate::mine::network::Limits,
    /// Junctions, branches, meshes, fans.
    pub junctions: usize,
    /// Branches.
    pub branches: usize,
    /// Independent meshes.
    pub meshes: usize,
    /// The steady solution reported (Newton).
    pub solver: SolverSummary,
    /// The same solved by Hardy Cross.
    pub hardy_cross: SolverSummary,
    /// Largest flow difference between the solvers over the largest flow.
    pub solver_agreement: f64,
    /// Natural ventilation pressure of the network's heads summed around each fan's mesh, Pa.
    pub natural_heads_pa: Vec<f64>,
    /// Fans' operating points.
    pub fans: Vec<crate::mine::FanPoint>,
    /// Rules broken at the steady state.
    pub violations: Vec<crate::mine::Violation>,
    /// The transient gas run, when a scenario was given.
    pub gas: Option<MineGasSummary>,
    /// The ensemble, when one was run.
    pub ensemble: Option<MineEnsembleSummary>,
    /// Wall time, s.
    pub wall_s: f64,
    /// Output file → what it holds.
    pub outputs: BTreeMap<String, String>,
}

/// One commodity of a traffic run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommoditySummary {
    /// `car` or `truck`.
    pub class: String,
    /// Destination node id; absent for a shared commodity.
    pub dest: Option<String>,
}

/// Errors from opening or reading a run directory.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The directory is not a run directory this engine can read.
    #[error("{}: {message}", path.display())]
    NotARun {
        /// The directory or its summary.
        path: PathBuf,
        /// Why not.
        message: String,
    },
    /// A file of the run is not what its summary says.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl RunError {
    fn invalid(path: &Path, message: impl Into<String>) -> Self {
        Self::Invalid {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

/// A gridded field of a run: one band per pollutant on the run's grid.
#[derive(Debug, Clone)]
pub struct GridField {
    /// The grid (row 0 of `values` is its **northern** row).
    pub grid: Grid,
    /// Band names (pollutants).
    pub bands: Vec<String>,
    /// Values, shape (band, row from north, column).
    pub values: ndarray::Array3<f32>,
}

/// Which concentration raster of a dispersion run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The time mean over the run (`concentration.tif`).
    Mean,
    /// The field at the end of the run (`concentration_final.tif`).
    Final,
}

impl Field {
    /// The file holding it.
    pub fn file(self) -> &'static str {
        match self {
            Self::Mean => "concentration.tif",
            Self::Final => "concentration_final.tif",
        }
    }
}

/// An opened run directory: its typed summary and readers for its files.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The directory.
    pub dir: PathBuf,
    /// Its `summary.json`.
    pub summary: RunSummary,
}

/// Writes `summary.json` into `dir`.
pub fn write_summary(dir: &Path, summary: &RunSummary) -> Result<(), super::OutputError> {
    let path = dir.join(SUMMARY_FILE);
    let text = serde_json::to_string_pretty(summary)
        .map_err(|e| super::OutputError::encode(&path, e.to_string()))?;
    std::fs::write(&path, text + "\n").map_err(|e| super::OutputError::io(&path, e))
}

impl RunDir {
    /// Opens a run directory by its `summary.json`. Errors say when the directory is not a run,
    /// was written by an older twin (no `format_version`), by a newer one, or by another tool.
    pub fn open(dir: &Path) -> Result<Self, RunError> {
        if !dir.is_dir() {
            return Err(RunError::NotARun {
                path: dir.to_path_buf(),
                message: "not a directory".into(),
            });
        }
        let path = dir.join(SUMMARY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RunError::NotARun {
                    path: dir.to_path_buf(),
                    message: format!("no {SUMMARY_FILE}: not a twin run directory"),
                });
            }
            Err(source) => return Err(RunError::Io { path, source }),
        };
        let not_a_run = |message: String| RunError::NotARun {
            path: path.clone(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| not_a_run(format!("not JSON: {e}")))?;
        let kind = value.get("kind").and_then(|k| k.as_str());
        let version = value.get("format_version").and_then(|v| v.as_u64());
        match (kind, version) {
            (None, None) if value.get("scenario").is_some() => {
                return Err(not_a_run(
                    "written by an older twin (no `kind` or `format_version`): run the scenario again"
                        .into(),
                ));
            }
            (None, _) => {
                return Err(not_a_run("no `kind`: not a summary written by twin".into()));
            }
            (Some(k), _) if !matches!(k, "dispersion" | "traffic" | "mine") => {
                return Err(not_a_run(format!(
                    "`kind` {k:?} is not a run this twin reads (dispersion, traffic, mine)"
                )));
            }
            (_, Some(v)) if v != u64::from(FORMAT_VERSION) => {
                return Err(not_a_run(format!(
                    "format_version {v}; this twin reads version {FORMAT_VERSION}"
                )));
            }
            (_, None) => return Err(not_a_run("no `format_version`".into())),
            _ => {}
        }
        let summary: RunSummary =
            serde_json::from_value(value).map_err(|e| not_a_run(e.to_string()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            summary,
        })
    }

    /// The dispersion summary, or an error naming the run's kind.
    pub fn dispersion(&self) -> Result<&DispersionSummary, RunError> {
        match &self.summary {
            RunSummary::Dispersion(s) => Ok(s),
            other => Err(self.wrong_kind("dispersion", other)),
        }
    }

    /// The traffic summary, or an error naming the run's kind.
    pub fn traffic(&self) -> Result<&TrafficSummary, RunError> {
        match &self.summary {
            RunSummary::Traffic(s) => Ok(s),
            other => Err(self.wrong_kind("traffic", other)),
        }
    }

    /// The mine summary, or an error naming the run's kind.
    pub fn mine(&self) -> Result<&MineSummary, RunError> {
        match &self.summary {
            RunSummary::Mine(s) => Ok(s),
            other => Err(self.wrong_kind("mine", other)),
        }
    }

    fn wrong_kind(&self, want: &str, got: &RunSummary) -> RunError {
        RunError::NotARun {
            path: self.dir.clone(),
            message: format!("a {} run, not a {want} run", got.kind()),
        }
    }

    /// A concentration raster of a dispersion run, checked against the summary's grid.
    pub fn concentration(&self, which: Field) -> Result<GridField, RunError> {
        let s = self.dispersion()?;
        let path = self.dir.join(which.file());
        let b = geotiff::read_bands(&path).map_err(|e| match e {
            geotiff::ReadError::Io { path, source } => RunError::Io { path, source },
            other => RunError::invalid(&path, other.to_string()),
        })?;
        let g = &s.grid;
        let (nb, ny, nx) = b.values.dim();
        if (nx, ny) != (g.nx, g.ny) || nb != s.pollutants.len() {
            return Err(RunError::invalid(
                &path,
                format!(
                    "{nb} band(s) of {nx}x{ny}, but {SUMMARY_FILE} says {} of {}x{}",
                    s.pollutants.len(),
                    g.nx,
                    g.ny
                ),
            ));
        }
        let want = geotiff::GeoReference {
            epsg: g.epsg,
            min_x: g.x0,
            max_y: g.y0 + g.ny as f64 * g.cell_m,
            pixel: g.cell_m,
        };
        let near = |a: f64, b: f64| (a - b).abs() <= 1e-6 * g.cell_m;
        if b.geo.epsg != want.epsg
            || !near(b.geo.min_x, want.min_x)
            || !near(b.geo.max_y, want.max_y)
            || !near(b.geo.pixel, want.pixel)
        {
            return Err(RunError::invalid(
                &path,
                format!(
                    "georeference {:?} differs from {SUMMARY_FILE}'s grid {want:?}",
                    b.geo
                ),
            ));
        }
        Ok(GridField {
            grid: g.clone(),
            bands: s.pollutants.clone(),
            values: b.values,
        })
    }

    /// Reads one of the run's Parquet tables, checking it has `columns`.
    fn table(&self, file: &str, columns: &[&str]) -> Result<DataFrame, RunError> {
        let path = self.dir.join(file);
        if !path.is_file() {
            return Err(RunError::Io {
                path: path.clone(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        // checked before decoding (crate::safeio): a corrupt table is an error naming it
        let df = crate::safeio::read_parquet(&path).map_err(|e| RunError::invalid(&path, e))?;
        for c in columns {
            if df.column(c).is_err() {
                return Err(RunError::invalid(&path, format!("no column `{c}`")));
            }
        }
        Ok(df)
    }

    /// `stations.parquet` of a dispersion run: `station_id`, `time` (UTC, interval end),
    /// `pollutant`, `concentration_ug_m3`.
    pub fn stations(&self) -> Result<DataFrame, RunError> {
        self.dispersion()?;
        self.table(
            "stations.parquet",
            &["station_id", "time", "pollutant", "concentration_ug_m3"],
        )
    }

    /// `links.parquet` of a traffic run (see its summary's `outputs`).
    pub fn links(&self) -> Result<DataFrame, RunError> {
        self.traffic()?;
        self.table(
            "links.parquet",
            &[
                "link_id",
                "road_id",
                "time",
                "class",
                "flow_veh_h",
                "density_veh_km",
                "speed_km_h",
                "travel_time_s",
            ],
        )
    }

    /// `network.toml` of a mine run: the network as given, checked again.
    pub fn mine_network(&self) -> Result<crate::mine::MineNetwork, RunError> {
        self.mine()?;
        let path = self.dir.join("network.toml");
        crate::mine::MineNetwork::read(&path).map_err(|e| RunError::invalid(&path, e.to_string()))
    }

    /// `airflow.parquet` of a mine run: the steady airflow per branch.
    pub fn airflow(&self) -> Result<DataFrame, RunError> {
        self.mine()?;
        self.table(
            "airflow.parquet",
            &["branch_id", "flow_m3_s", "velocity_m_s", "pressure_drop_pa"],
        )
    }

    /// `branches.parquet` of a mine run with a scenario (`None` for a steady-only run):
    /// `branch_id`, `time`, `flow_m3_s`, `ch4_pct`, `co_ppm`.
    pub fn mine_branches(&self) -> Result<Option<DataFrame>, RunError> {
        if self.mine()?.gas.is_none() {
            return Ok(None);
        }
        self.table(
            "branches.parquet",
            &["branch_id", "time", "flow_m3_s", "ch4_pct", "co_ppm"],
        )
        .map(Some)
    }

    /// `emissions.parquet` of a traffic run: `link_id`, `road_id`, `time`, `pollutant`,
    /// `emission_g_s`.
    pub fn emissions(&self) -> Result<DataFrame, RunError> {
        self.traffic()?;
        self.table(
            "emissions.parquet",
            &["link_id", "road_id", "time", "pollutant", "emission_g_s"],
        )
    }

    /// Time-mean emission per road (both directions summed) and pollutant, g/s.
    pub fn mean_emissions_by_road(
        &self,
    ) -> Result<BTreeMap<String, Vec<(Pollutant, f64)>>, RunError> {
        let df = self.emissions()?;
        let path = self.dir.join("emissions.parquet");
        let bad = |e: PolarsError| RunError::invalid(&path, e.to_string());
        let times = df
            .column("time")
            .map_err(bad)?
            .n_unique()
            .map_err(bad)?
            .max(1);
        let out = df
            .lazy()
            .group_by([col("road_id"), col("pollutant")])
            .agg([col("emission_g_s").cast(DataType::Float64).sum()])
            .sort(["road_id", "pollutant"], Default::default())
            .collect()
            .map_err(bad)?;
        let roads = crate::columns::strings(&out, "road_id").map_err(bad)?;
        let pols = crate::columns::strings(&out, "pollutant").map_err(bad)?;
        let rates = crate::columns::f64s(&out, "emission_g_s").map_err(bad)?;
        let mut map: BTreeMap<String, Vec<(Pollutant, f64)>> = BTreeMap::new();
        for (i, ((r, p), v)) in roads.iter().zip(&pols).zip(&rates).enumerate() {
            let Some(v) = v else {
                return Err(RunError::invalid(
                    &path,
                    format!("road {r:?}, {p}: a null emission_g_s"),
                ));
            };
            let pol = Pollutant::parse(p).ok_or_else(|| {
                RunError::invalid(&path, format!("row {i}: unknown pollutant {p:?}"))
            })?;
            map.entry(r.clone())
                .or_default()
                .push((pol, v / times as f64));
        }
        Ok(map)
    }
}
