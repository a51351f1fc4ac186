//! Traffic flow on the road network: a Cell Transmission Model (Daganzo 1994, 1995) with two
//! vehicle classes (general traffic and coal trucks, in passenger-car equivalents), merges and
//! diverges at nodes from turning ratios, fixed-time and max-pressure (Varaiya 2013) signals,
//! and link emissions from the simulated flows and speeds.
//!
//! The pieces, in data-flow order:
//! - [`network`]: the directed graph (nodes, one link per travel direction, fundamental
//!   diagrams) and its topology checks;
//! - [`scenario`]: the TOML scenario → a [`TrafficSetup`] (demand, signals, time);
//! - [`TrafficSetup::compile`]: routing of OD demand into turning ratios, cells, and the flat
//!   `#[repr(C)]` arrays shared by the CPU twin ([`cpu`]) and the WGSL stages in
//!   `shaders/traffic/` (same stage names: `sending_receiving`, `node_flows`, `update_cells`);
//! - [`engine`]: the two step engines and [`TrafficProblem::run`], which accumulates Edie's
//!   link statistics per output interval and checks vehicle conservation;
//! - [`batch`]: members of a sweep stepped together as the disjoint union of their arrays
//!   (one dispatch per stage for all of them) and the rendezvous that gathers them on a GPU;
//! - [`emissions`]: emission factors per vehicle-km → g/s per link and interval;
//! - [`osm`]: the OpenStreetMap PBF importer.

pub mod assignment;
pub mod batch;
mod compile;
pub mod cpu;
pub mod emissions;
pub mod engine;
pub mod network;
pub mod osm;
pub mod routing;
pub mod scenario;
pub mod synthetic;
pub mod webster;

use std::collections::HashMap;

use bytemuck::{Pod, Zeroable};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use network::{RoadNetwork, TopologyProblem};

/// No origin / no signal at a node.
pub const NONE: u32 = u32::MAX;

/// Most time steps one run may take (a year at Δt = 0.32 s); checked before anything is sized.
pub const MAX_STEPS: f64 = 1e8;
/// Most cells a network may be cut into (about 0.4 GB of state and buffers).
pub const MAX_CELLS: f64 = 5e7;
/// Most output intervals × links of per-interval statistics (32 bytes each: 640 MB; a year
/// of 15-minute intervals on 500 links).
pub const MAX_INTERVAL_LINKS: f64 = 2e7;

/// Vehicle classes carried in every cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleClass {
    /// General traffic (cars, vans, buses, motorcycles as car equivalents): 1 PCE.
    Car,
    /// Heavy coal trucks: `truck_pce` PCE each.
    Truck,
}

impl VehicleClass {
    /// Both classes, in state order.
    pub const ALL: [VehicleClass; 2] = [VehicleClass::Car, VehicleClass::Truck];
    /// Index in the per-cell state vector.
    pub fn index(self) -> usize {
        self as usize
    }
    /// Name used in scenarios and outputs.
    pub fn name(self) -> &'static str {
        match self {
            VehicleClass::Car => "car",
            VehicleClass::Truck => "truck",
        }
    }
}

/// Device limits the traffic stages need (`node_flows` binds 16 storage buffers: every node's
/// inputs and outputs; WebGPU's downlevel default is 4, many GPUs offer 8–31).
pub const GPU_LIMITS: crate::gpu::shaders::StageLimits = crate::gpu::shaders::StageLimits {
    max_storage_buffers_per_shader_stage: 16,
    max_uniform_buffers_per_shader_stage: 1,
};

/// Signal control strategy, chosen by the scenario for every signalised node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Fixed-time plans: each phase gets its green, then the lost (amber + all-red) time.
    FixedTime,
    /// Max-pressure (Varaiya 2013): after each minimum green, the phase with the largest
    /// pressure Σ capacity·(upstream − turning-weighted downstream occupancy) gets the green.
    MaxPressure,
}

/// A per-link description for the kernels (48 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct LinkData {
    /// Index of the link's first cell.
    pub first_cell: u32,
    /// Number of cells.
    pub n_cells: u32,
    /// Upstream node.
    pub from_node: u32,
    /// Downstream node.
    pub to_node: u32,
    /// v_f·Δt / cell length (≤ 1).
    pub send_ratio: f32,
    /// w·Δt / cell length (≤ 1).
    pub recv_ratio: f32,
    /// Capacity per step, PCE.
    pub q_step: f32,
    /// Jam occupancy of one cell, PCE.
    pub jam_cell: f32,
    /// Cell length, m.
    pub cell_len: f32,
    /// Position of the link in `in_links` (its downstream node's incoming list).
    pub in_slot: u32,
    /// Position of the link in `out_links` (its upstream node's outgoing list).
    pub out_slot: u32,
    /// Trucks' send ratio: min(v_f, truck speed)·Δt / cell length (≤ `send_ratio`).
    pub truck_send_ratio: f32,
}

/// A per-node description for the node kernel (32 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct NodeData {
    /// Offset of the node's incoming links in `in_links`.
    pub in_off: u32,
    /// Number of incoming links.
    pub n_in: u32,
    /// Offset of the node's outgoing links in `out_links`.
    pub out_off: u32,
    /// Number of outgoing links.
    pub n_out: u32,
    /// Offset of the node's turning table in `turns`: (n_in + 1) rows (the last is the origin)
    /// × (n_out + 1) columns (the last is the sink).
    pub turn_off: u32,
    /// Origin slot, or [`NONE`].
    pub origin: u32,
    /// Signal index, or [`NONE`].
    pub signal: u32,
    /// Bit `a` set: incoming link `a` is a minor road at this unsignalised node (its priority
    /// is its capacity × [`MINOR_PRIORITY`]).
    pub minor_mask: u32,
}

/// Priority weight of a minor-road approach at an unsignalised node, relative to its capacity
/// (major approaches: 1). A modelling choice, not a calibrated value: small enough that the
/// major road's demand is served first when it fits (the minor road takes the supply the major
/// road leaves), positive so the node model still holds the minor road by the supply it
/// competes for (Tampère et al. 2011 allow any positive priorities).
pub const MINOR_PRIORITY: f32 = 0.05;

/// A signal plan in steps (32 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct SignalData {
    /// 0 fixed-time, 1 max-pressure.
    pub kind: u32,
    /// Cycle length, steps (fixed-time).
    pub cycle: u32,
    /// Offset, steps (fixed-time).
    pub offset: u32,
    /// Number of phases.
    pub n_phases: u32,
    /// Offset of the phases in `phases`.
    pub phase_off: u32,
    /// Minimum green / decision interval, steps (max-pressure).
    pub min_green: u32,
    /// Lost time after each phase (amber + all-red), steps.
    pub lost: u32,
    /// Padding.
    pub _pad: u32,
}

/// One signal phase: its green (steps, fixed-time), the incoming approaches it serves (bit
/// `a` = the node's `a`-th incoming link) and, per approach, the movements that have green
/// (72 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct PhaseData {
    /// Green, steps.
    pub green: u32,
    /// Approach mask.
    pub mask: u32,
    /// Per approach `a`: the columns (outgoing links, bit `n_out` the sink) with green;
    /// `u32::MAX`: the whole approach.
    pub cols: [u32; network::MAX_DEGREE],
}

/// Most commodities (vehicle class × destination) one cell carries: the bits of
/// [`StepParams::truck_mask`]. Destinations beyond it share a per-class commodity routed by
/// mean turning fractions (see `compile`).
pub const MAX_COMMODITIES: usize = 32;

/// Trucks' default highest free-flow speed, km/h: the limit for trucks over 3.5 t on
/// undivided roads outside built-up areas in Vietnam (Circular 31/2019/TT-BGTVT, Art. 7);
/// a link with a lower free-flow speed keeps its own.
pub const DEFAULT_TRUCK_SPEED_KM_H: f64 = 70.0;

/// Most turning-table values (slices × movements × commodities, 4 bytes each: 400 MB).
pub const MAX_TURN_VALUES: f64 = 1e8;

/// What the vehicles of one commodity have in common: their class and where they go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Commodity {
    /// Vehicle class.
    pub class: VehicleClass,
    /// Destination node; `None`: the class's shared commodity, routed by the mean turning
    /// fractions of the demand it carries (no destination given, or more destinations than
    /// [`MAX_COMMODITIES`] allows).
    pub dest: Option<usize>,
}

/// Route choice settings: time-dependent destination routing by dynamic user equilibrium.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoutingSettings {
    /// Routing slice: turning fractions are constant within it, s.
    pub slice_s: f64,
    /// Most equilibrium iterations (0: free-flow all-or-nothing routes, no equilibration).
    pub max_iterations: u32,
    /// Stop when the relative gap is below this.
    pub target_gap: f64,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            slice_s: 900.0,
            max_iterations: 0,
            target_gap: 0.01,
        }
    }
}

/// Per-run constants for the kernels (48 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct StepParams {
    /// Cells.
    pub n_cells: u32,
    /// Nodes.
    pub n_nodes: u32,
    /// Demand periods.
    pub n_periods: u32,
    /// Steps per demand period.
    pub steps_per_period: u32,
    /// PCE of a truck.
    pub truck_pce: f32,
    /// Time step, s.
    pub dt: f32,
    /// Commodities carried per cell, K ≤ [`MAX_COMMODITIES`].
    pub n_comm: u32,
    /// Bit k set: commodity k is a truck.
    pub truck_mask: u32,
    /// Routing slices (one turning table each).
    pub n_slices: u32,
    /// Steps per routing slice.
    pub steps_per_slice: u32,
    /// Entries (row × column) of one slice's turning table, all nodes.
    pub n_turn_entries: u32,
    /// Padding.
    pub _pad: u32,
}

/// Demand between an origin node and a destination node, for one class, piecewise constant.
#[derive(Debug, Clone, PartialEq)]
pub struct OdDemand {
    /// Origin node index.
    pub origin: usize,
    /// Destination node index; `None`: vehicles follow the default turning ratios.
    pub dest: Option<usize>,
    /// Vehicle class.
    pub class: VehicleClass,
    /// Length of one demand period, s.
    pub period_s: f64,
    /// Vehicles per hour in each period from the start; zero after the last.
    pub veh_h: Vec<f64>,
}

/// One phase of a signal plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Phase {
    /// Green time, s (fixed-time; ignored by max-pressure).
    pub green_s: f64,
    /// Incoming link indices served whole.
    pub approaches: Vec<usize>,
    /// Single movements served (incoming link, outgoing link): a protected turn, e.g. a
    /// left-turn phase; the approach's other movements wait (in a turn pocket: see `cpu`).
    pub movements: Vec<(usize, usize)>,
}

/// How a fixed-time plan's greens are set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timing {
    /// The phases' `green_s` as given.
    Given,
    /// Webster (1958) from the flows of the free-flow assignment of the demand, at compile
    /// ([`webster::plan`]); `cycle_s` fixes the cycle, else Webster's optimum.
    Webster {
        /// The cycle, s, when fixed.
        cycle_s: Option<f64>,
    },
}

/// A signalised node.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalPlan {
    /// Node index.
    pub node: usize,
    /// Offset of the cycle start, s.
    pub offset_s: f64,
    /// Lost time after each phase (amber + all-red), s.
    pub lost_s: f64,
    /// Minimum green (max-pressure decision interval), s.
    pub min_green_s: f64,
    /// Phases in order.
    pub phases: Vec<Phase>,
    /// How the greens are set.
    pub timing: Timing,
}

impl SignalPlan {
    /// Cycle length, s: greens plus lost times.
    pub fn cycle_s(&self) -> f64 {
        self.phases.iter().map(|p| p.green_s + self.lost_s).sum()
    }
}

/// Everything a traffic run needs, before compilation into cells and flat arrays.
#[derive(Debug, Clone)]
pub struct TrafficSetup {
    /// The road graph.
    pub network: RoadNetwork,
    /// Time step, s (links shorter than v_f·Δt are stretched to one full cell).
    pub dt_s: f64,
    /// Simulated duration, s.
    pub duration_s: f64,
    /// Output interval, s.
    pub output_interval_s: f64,
    /// Simulation start.
    pub start: DateTime<Utc>,
    /// Passenger-car equivalents of a truck.
    pub truck_pce: f64,
    /// OD demand.
    pub demand: Vec<OdDemand>,
    /// Signal control for every signalised node.
    pub control: Control,
    /// Signalised nodes.
    pub signals: Vec<SignalPlan>,
    /// Emission factors.
    pub emissions: emissions::EmissionModel,
    /// Trucks' highest free-flow speed, km/h (a link's own v_f when lower).
    pub truck_speed_km_h: f64,
    /// Route choice.
    pub routing: RoutingSettings,
}

/// Errors in setting up a run (bad demand, bad signal plan).
#[derive(Debug, Clone, thiserror::Error)]
pub enum SetupError {
    /// A demand cannot be routed or placed.
    #[error("demand #{index}: {message}")]
    Demand {
        /// Index of the demand entry.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// A signal plan is inconsistent with the network.
    #[error("signal at node {node:?}: {message}")]
    Signal {
        /// Node id.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// A time setting is out of range.
    #[error("{0}")]
    Time(String),
    /// The road network has topology errors.
    #[error(transparent)]
    Network(#[from] network::TopologyErrors),
}

/// The compiled run: cells, flat arrays for the kernels, and what is needed to report.
#[derive(Debug, Clone)]
pub struct TrafficProblem {
    /// The road graph.
    pub network: RoadNetwork,
    /// Time step used, s.
    pub dt_s: f64,
    /// The step and what it means for short links.
    pub dt_reason: String,
    /// Total steps.
    pub steps: u64,
    /// Steps per output interval.
    pub steps_per_output: u64,
    /// Simulation start.
    pub start: DateTime<Utc>,
    /// Kernel constants.
    pub params: StepParams,
    /// Per-link data (same order as `network.links`).
    pub links: Vec<LinkData>,
    /// Link index of every cell.
    pub cell_link: Vec<u32>,
    /// Per-node data.
    pub nodes: Vec<NodeData>,
    /// Incoming link indices, grouped by node.
    pub in_links: Vec<u32>,
    /// Outgoing link indices, grouped by node.
    pub out_links: Vec<u32>,
    /// Turning fractions per routing slice, movement (grouped by node) and commodity:
    /// `((slice × n_turn_entries) + entry) × K + commodity`.
    pub turns: Vec<f32>,
    /// Node index of every origin slot.
    pub origins: Vec<u32>,
    /// Vehicles arriving per step, `(origin × n_periods + period) × K + commodity`.
    pub demand: Vec<f32>,
    /// The commodities carried, in state order.
    pub commodities: Vec<Commodity>,
    /// Route choice settings.
    pub routing: RoutingSettings,
    /// Share of the destination demand (vehicles) in the shared per-class commodities because
    /// there were more destinations than [`MAX_COMMODITIES`].
    pub shared_destination_share: f64,
    /// Trucks' highest free-flow speed, km/h.
    pub truck_speed_km_h: f64,
    /// The equilibrium iterations behind the current turning fractions, when
    /// [`TrafficProblem::equilibrate`] ran.
    pub equilibrium: Option<routing::Equilibrium>,
    /// Signal plans.
    pub signals: Vec<SignalData>,
    /// Signal phases.
    pub phases: Vec<PhaseData>,
    /// Control strategy.
    pub control: Control,
    /// Emission factors.
    pub emissions: emissions::EmissionModel,
    /// Demand that could not enter any route (unreachable destinations are errors, so this
    /// is the total requested, for the report), vehicles per class.
    pub demand_total: [f64; 2],
    /// The Webster plans computed at compile: (node id, plan).
    pub webster_plans: Vec<(String, webster::WebsterPlan)>,
}

impl TrafficProblem {
    /// Total cells.
    pub fn n_cells(&self) -> usize {
        self.cell_link.len()
    }
    /// Output intervals.
    pub fn n_outputs(&self) -> u64 {
        self.steps.div_ceil(self.steps_per_output)
    }
    /// Commodities carried per cell.
    pub fn n_comm(&self) -> usize {
        self.commodities.len()
    }
}
