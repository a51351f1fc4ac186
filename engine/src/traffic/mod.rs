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
//! - [`emissions`]: emission factors per vehicle-km → g/s per link and interval;
//! - [`osm`]: the OpenStreetMap PBF importer.

pub mod cpu;
pub mod emissions;
pub mod engine;
pub mod network;
pub mod osm;
pub mod scenario;
pub mod synthetic;

use std::collections::HashMap;

use bytemuck::{Pod, Zeroable};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use network::{RoadNetwork, TopologyProblem};

/// No origin / no signal at a node.
pub const NONE: u32 = u32::MAX;

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

/// Signal control strategy, chosen by the scenario for every signalised node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// Padding.
    pub _pad: u32,
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
    /// Padding.
    pub _pad: u32,
}

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

/// One signal phase: its green (steps, fixed-time) and the incoming approaches it serves (bit
/// `a` = the node's `a`-th incoming link).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct PhaseData {
    /// Green, steps.
    pub green: u32,
    /// Approach mask.
    pub mask: u32,
}

/// Per-run constants for the kernels (32 bytes).
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
    /// Padding.
    pub _pad: [u32; 2],
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
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Green time, s (fixed-time; ignored by max-pressure).
    pub green_s: f64,
    /// Incoming link indices served.
    pub approaches: Vec<usize>,
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
    /// Turning fractions (car, truck) per movement, grouped by node.
    pub turns: Vec<[f32; 2]>,
    /// Node index of every origin slot.
    pub origins: Vec<u32>,
    /// Vehicles (car, truck) arriving per step, `origin × n_periods + period`.
    pub demand: Vec<[f32; 2]>,
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
}

impl TrafficSetup {
    /// Routes the demand into turning ratios (free-flow fastest paths, all-or-nothing, weighted
    /// by each OD's mean rate), cuts links into cells and lays everything out for the kernels.
    pub fn compile(self) -> Result<TrafficProblem, SetupError> {
        let net = self.network;
        if !(self.duration_s > 0.0 && self.dt_s > 0.0 && self.output_interval_s > 0.0) {
            return Err(SetupError::Time(
                "duration, time step and output interval must be positive".into(),
            ));
        }
        // time step as requested; a link shorter than v_f·Δt becomes one cell of length v_f·Δt
        // (storage and travel time of a full cell; a shorter cell would throttle the flow to
        // its jam storage per step), so its travel time is rounded up to one step
        if net.links.is_empty() {
            return Err(SetupError::Time("the road network has no links".into()));
        }
        let dt = self.dt_s;
        let short: Vec<usize> = (0..net.links.len())
            .filter(|&i| net.links[i].length_m < net.links[i].free_flow_m_s * dt)
            .collect();
        let dt_reason = match short
            .iter()
            .min_by(|&&a, &&b| net.links[a].length_m.total_cmp(&net.links[b].length_m))
        {
            None => "as requested".to_string(),
            Some(&i) => format!(
                "as requested; {} link(s) shorter than v_f·Δt are one cell of length v_f·Δt \
                 (travel time rounded up to one step; shortest {:?}, {:.1} m)",
                short.len(),
                net.links[i].id,
                net.links[i].length_m
            ),
        };
        let steps = (self.duration_s / dt).round().max(1.0) as u64;
        let steps_per_output = ((self.output_interval_s / dt).round() as u64).clamp(1, steps);

        // cells
        let mut links = Vec::with_capacity(net.links.len());
        let mut cell_link = Vec::new();
        for (i, l) in net.links.iter().enumerate() {
            let n = ((l.length_m / (l.free_flow_m_s * dt)) * (1.0 + 1e-9))
                .floor()
                .max(1.0);
            let len = l.length_m / n;
            // storage length: at least one free-flow step (see above)
            let store = len.max(l.free_flow_m_s * dt);
            let q = l.capacity_veh_h / 3600.0;
            links.push(LinkData {
                first_cell: cell_link.len() as u32,
                n_cells: n as u32,
                from_node: l.from as u32,
                to_node: l.to as u32,
                send_ratio: (l.free_flow_m_s * dt / store).min(1.0) as f32,
                recv_ratio: (l.wave_speed_m_s() * dt / store).min(1.0) as f32,
                q_step: (q * dt) as f32,
                jam_cell: (l.jam_veh_km / 1000.0 * store) as f32,
                cell_len: len as f32,
                in_slot: 0,
                out_slot: 0,
                _pad: 0,
            });
            cell_link.extend(std::iter::repeat_n(i as u32, n as usize));
        }

        // origins and demand table
        let mut origin_slot: HashMap<usize, usize> = HashMap::new();
        let mut origins = Vec::new();
        let mut max_period_end = 0.0f64;
        for d in &self.demand {
            max_period_end = max_period_end.max(d.period_s * d.veh_h.len() as f64);
        }
        let period_s = self
            .demand
            .iter()
            .map(|d| d.period_s)
            .fold(f64::INFINITY, f64::min);
        let period_s = if period_s.is_finite() {
            period_s
        } else {
            self.duration_s
        };
        let steps_per_period = ((period_s / dt).round() as u64).max(1);
        let n_periods = (((max_period_end / dt).round() as u64).div_ceil(steps_per_period)).max(1);
        for (k, d) in self.demand.iter().enumerate() {
            let ratio = d.period_s / period_s;
            if (ratio - ratio.round()).abs() > 1e-9 {
                return Err(SetupError::Demand {
                    index: k,
                    message: format!(
                        "period {} s is not a multiple of the shortest demand period {period_s} s",
                        d.period_s
                    ),
                });
            }
            if d.veh_h.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(SetupError::Demand {
                    index: k,
                    message: "rates must be finite and ≥ 0".into(),
                });
            }
            if net.outgoing[d.origin].is_empty() {
                return Err(SetupError::Demand {
                    index: k,
                    message: format!(
                        "origin node {:?} has no outgoing link",
                        net.nodes[d.origin].id
                    ),
                });
            }
            origin_slot.entry(d.origin).or_insert_with(|| {
                origins.push(d.origin as u32);
                origins.len() - 1
            });
        }
        let np = n_periods as usize;
        let mut demand = vec![[0.0f32; 2]; origins.len() * np];
        let mut demand_acc = vec![[0.0f64; 2]; origins.len() * np];
        let mut demand_total = [0.0f64; 2];
        for d in &self.demand {
            let slot = origin_slot[&d.origin];
            let ratio = (d.period_s / period_s).round() as usize;
            for (p, &v) in d.veh_h.iter().enumerate() {
                for sub in 0..ratio {
                    let period = p * ratio + sub;
                    if period < np {
                        demand_acc[slot * np + period][d.class.index()] += v / 3600.0 * dt;
                    }
                }
            }
        }
        let horizon_periods = steps.div_ceil(steps_per_period) as usize;
        for (i, acc) in demand_acc.iter().enumerate() {
            for c in 0..2 {
                demand[i][c] = acc[c] as f32;
                let period = i % np;
                if period < horizon_periods {
                    let in_horizon =
                        (steps - (period as u64 * steps_per_period)).min(steps_per_period) as f64;
                    demand_total[c] += f64::from(demand[i][c]) * in_horizon;
                }
            }
        }

        // routing → movement volumes per node: (in row, out col) → [car, truck]
        let n_nodes = net.nodes.len();
        let mut volumes: Vec<HashMap<(usize, usize), [f64; 2]>> = vec![HashMap::new(); n_nodes];
        let local_in = |n: usize, l: usize| net.incoming[n].iter().position(|&x| x == l);
        let local_out = |n: usize, l: usize| net.outgoing[n].iter().position(|&x| x == l);
        let mut trees: HashMap<usize, Vec<Option<usize>>> = HashMap::new();
        for (k, d) in self.demand.iter().enumerate() {
            let Some(dest) = d.dest else { continue };
            let mean: f64 = d.veh_h.iter().sum::<f64>() / d.veh_h.len().max(1) as f64;
            let weight = mean.max(1e-9);
            let tree = trees
                .entry(d.origin)
                .or_insert_with(|| net.shortest_path_tree(d.origin));
            if dest == d.origin {
                return Err(SetupError::Demand {
                    index: k,
                    message: format!(
                        "origin and destination are the same node {:?}",
                        net.nodes[dest].id
                    ),
                });
            }
            let Some(path) = net.path_to(tree, d.origin, dest) else {
                return Err(SetupError::Demand {
                    index: k,
                    message: format!(
                        "no route from {:?} to {:?}",
                        net.nodes[d.origin].id, net.nodes[dest].id
                    ),
                });
            };
            let c = d.class.index();
            let o = d.origin;
            let row_o = net.incoming[o].len();
            let first = local_out(o, path[0]).unwrap_or(0);
            volumes[o].entry((row_o, first)).or_insert([0.0; 2])[c] += weight;
            for w in path.windows(2) {
                let n = net.links[w[0]].to;
                let (i, j) = (local_in(n, w[0]), local_out(n, w[1]));
                if let (Some(i), Some(j)) = (i, j) {
                    volumes[n].entry((i, j)).or_insert([0.0; 2])[c] += weight;
                }
            }
            let last = path[path.len() - 1];
            let n = net.links[last].to;
            if let Some(i) = local_in(n, last) {
                let sink = net.outgoing[n].len();
                volumes[n].entry((i, sink)).or_insert([0.0; 2])[c] += weight;
            }
        }

        // nodes, turning tables
        let mut nodes = Vec::with_capacity(n_nodes);
        let mut in_links = Vec::new();
        let mut out_links = Vec::new();
        let mut turns = Vec::new();
        for (n, node_volumes) in volumes.iter().enumerate() {
            let (ins, outs) = (&net.incoming[n], &net.outgoing[n]);
            nodes.push(NodeData {
                in_off: in_links.len() as u32,
                n_in: ins.len() as u32,
                out_off: out_links.len() as u32,
                n_out: outs.len() as u32,
                turn_off: turns.len() as u32,
                origin: origin_slot.get(&n).map_or(NONE, |&s| s as u32),
                signal: NONE,
                _pad: 0,
            });
            for &l in ins {
                links[l].in_slot = in_links.len() as u32;
                in_links.push(l as u32);
            }
            for &l in outs {
                links[l].out_slot = out_links.len() as u32;
                out_links.push(l as u32);
            }
            let cols = outs.len() + 1;
            for row in 0..=ins.len() {
                let mut fractions = [vec![0.0f64; cols], vec![0.0f64; cols]];
                let mut have = [false; 2];
                for c in 0..2 {
                    let total: f64 = (0..cols)
                        .map(|j| node_volumes.get(&(row, j)).map_or(0.0, |v| v[c]))
                        .sum();
                    if total > 0.0 {
                        for (j, f) in fractions[c].iter_mut().enumerate() {
                            *f = node_volumes.get(&(row, j)).map_or(0.0, |v| v[c]) / total;
                        }
                        have[c] = true;
                    }
                }
                let default = default_turns(&net, n, row);
                for c in 0..2 {
                    if !have[c] {
                        fractions[c] = if have[1 - c] {
                            fractions[1 - c].clone()
                        } else {
                            default.clone()
                        };
                    }
                }
                turns.extend(
                    fractions[0]
                        .iter()
                        .zip(&fractions[1])
                        .map(|(car, truck)| [*car as f32, *truck as f32]),
                );
            }
        }

        // signals
        let mut signals = Vec::new();
        let mut phases = Vec::new();
        let to_steps = |s: f64| (s / dt).round().max(0.0) as u32;
        for plan in &self.signals {
            let node_id = net.nodes[plan.node].id.clone();
            let err = |message: String| SetupError::Signal {
                node: node_id.clone(),
                message,
            };
            if plan.phases.is_empty() {
                return Err(err("no phases".into()));
            }
            if nodes[plan.node].signal != NONE {
                return Err(err("signalised twice".into()));
            }
            let phase_off = phases.len() as u32;
            for (p, ph) in plan.phases.iter().enumerate() {
                let mut mask = 0u32;
                for &a in &ph.approaches {
                    let Some(pos) = net.incoming[plan.node].iter().position(|&x| x == a) else {
                        return Err(err(format!(
                            "phase {p}: link {:?} does not enter this node",
                            net.links[a].id
                        )));
                    };
                    mask |= 1 << pos;
                }
                let green = to_steps(ph.green_s);
                if self.control == Control::FixedTime && green == 0 {
                    return Err(err(format!("phase {p}: green shorter than one time step")));
                }
                phases.push(PhaseData { green, mask });
            }
            let lost = to_steps(plan.lost_s);
            let cycle: u32 = phases[phase_off as usize..]
                .iter()
                .map(|p| p.green + lost)
                .sum();
            nodes[plan.node].signal = signals.len() as u32;
            signals.push(SignalData {
                kind: match self.control {
                    Control::FixedTime => 0,
                    Control::MaxPressure => 1,
                },
                cycle,
                offset: to_steps(plan.offset_s) % cycle.max(1),
                n_phases: plan.phases.len() as u32,
                phase_off,
                min_green: to_steps(plan.min_green_s).max(1),
                lost,
                _pad: 0,
            });
        }
        let params = StepParams {
            n_cells: cell_link.len() as u32,
            n_nodes: n_nodes as u32,
            n_periods: n_periods as u32,
            steps_per_period: steps_per_period as u32,
            truck_pce: self.truck_pce as f32,
            dt: dt as f32,
            _pad: [0; 2],
        };
        Ok(TrafficProblem {
            network: net,
            dt_s: dt,
            dt_reason,
            steps,
            steps_per_output,
            start: self.start,
            params,
            links,
            cell_link,
            nodes,
            in_links,
            out_links,
            turns,
            origins,
            demand,
            signals,
            phases,
            control: self.control,
            emissions: self.emissions,
            demand_total,
        })
    }
}

/// Turning fractions for a row with no routed traffic: split by capacity among the outgoing
/// links that are not a U-turn; a node with no other way out is an exit (all to the sink).
fn default_turns(net: &RoadNetwork, n: usize, row: usize) -> Vec<f64> {
    let outs = &net.outgoing[n];
    let mut f = vec![0.0; outs.len() + 1];
    let from = net.incoming[n].get(row).copied();
    let allowed: Vec<usize> = (0..outs.len())
        .filter(|&j| from.is_none_or(|i| !net.is_u_turn(i, outs[j])))
        .collect();
    let total: f64 = allowed
        .iter()
        .map(|&j| net.links[outs[j]].capacity_veh_h)
        .sum();
    if allowed.is_empty() || total <= 0.0 {
        f[outs.len()] = 1.0;
    } else {
        for &j in &allowed {
            f[j] = net.links[outs[j]].capacity_veh_h / total;
        }
    }
    f
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
}
