//! Methane and CO transport through the network over time, with what-ifs.
//!
//! Each branch is cut into cells along its length (finite volumes); gas is carried by the
//! branch's airflow with first-order upwind fluxes, and at a junction everything arriving mixes
//! fully and leaves in proportion to the outgoing airflows (no volume at junctions). The state
//! is the gas volume in each cell; a cell's gas-to-air ratio r is that over the cell's volume,
//! and the concentration is r/(1 + r) — so a constant source q into an airflow Q settles at
//! q/(Q + q). The time step keeps every cell's Courant number ≤ 1 (stable, positive), and stops
//! at every event and output time. When a what-if changes the network (a fan stops, a door
//! opens, a regulator changes) the steady airflow is solved again at that time (the air reaches
//! its new steady state within seconds to minutes, far faster than gas accumulates). Gas mass
//! is accounted for exactly: released = held in the network + exhausted to the surface.
//!
//! Scenario file (TOML): `start` (RFC 3339), `duration_min`, optional `output_interval_s` (60)
//! and `cell_length_m` (10), `[[gas_sources]]` (`branch`, `gas` CH4|CO, `rate_m3_min` a number
//! or `[[minute, rate], …]` steps held until the next) and `[[events]]` (`time_min`, `kind`
//! fan_stop|fan_start|door_open|regulator|production|outburst, `target`, `value`).

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::airflow::{self, Airflow, AirflowError, Operating};
use super::network::MineNetwork;
use crate::scenario::{ScenarioError, check_range, invalid, parse_start, read_toml};

/// The gases carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Gas {
    /// Methane (% by volume).
    CH4,
    /// Carbon monoxide (ppm).
    CO,
}

impl Gas {
    /// Index into per-gas arrays.
    pub fn index(self) -> usize {
        match self {
            Self::CH4 => 0,
            Self::CO => 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RateFile {
    Constant(f64),
    Steps(Vec<[f64; 2]>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    branch: String,
    gas: Gas,
    rate_m3_min: RateFile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
enum EventKindFile {
    FanStop,
    FanStart,
    DoorOpen,
    Regulator,
    Production,
    Outburst,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFile {
    time_min: f64,
    kind: EventKindFile,
    target: String,
    value: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    start: String,
    duration_min: f64,
    output_interval_s: Option<f64>,
    cell_length_m: Option<f64>,
    #[serde(default)]
    gas_sources: Vec<SourceFile>,
    #[serde(default)]
    events: Vec<EventFile>,
}

/// A gas source at a branch's upstream end.
#[derive(Debug, Clone, PartialEq)]
pub struct GasSource {
    /// Branch index.
    pub branch: usize,
    /// Gas.
    pub gas: Gas,
    /// (minute, m³/min) steps, the first at minute 0, each held until the next.
    pub steps: Vec<(f64, f64)>,
}

impl GasSource {
    /// Rate at minute `t`, m³/min (before any production factor).
    pub fn rate_at(&self, t_min: f64) -> f64 {
        self.steps
            .iter()
            .rev()
            .find(|(m, _)| *m <= t_min)
            .map_or(0.0, |s| s.1)
    }
}

/// A what-if at a time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EventKind {
    /// A fan stops (natural ventilation only, if it was the only fan).
    FanStop(usize),
    /// A fan starts again.
    FanStart(usize),
    /// A door on a branch is opened: its resistance becomes the value.
    DoorOpen(usize, f64),
    /// A regulator's resistance becomes the value.
    Regulator(usize, f64),
    /// The gas make of the sources on a branch becomes factor × the scenario's rate.
    Production(usize, f64),
    /// An outburst: this many m³ of methane at once at the branch's upstream end.
    Outburst(usize, f64),
}

impl EventKind {
    /// Whether the airflow must be solved again.
    pub fn changes_airflow(&self) -> bool {
        matches!(
            self,
            Self::FanStop(_) | Self::FanStart(_) | Self::DoorOpen(..) | Self::Regulator(..)
        )
    }
}

impl Operating {
    /// Applies what an event changes in the network (fans, doors, regulators); production
    /// and outbursts change the gas, not the network.
    pub fn apply(&mut self, kind: EventKind) {
        match kind {
            EventKind::FanStop(f) => self.fan_running[f] = false,
            EventKind::FanStart(f) => self.fan_running[f] = true,
            EventKind::DoorOpen(b, r) | EventKind::Regulator(b, r) => self.resistance[b] = r,
            EventKind::Production(..) | EventKind::Outburst(..) => {}
        }
    }
}

/// Cells a branch of `length_m` is cut into for cells of about `cell_length_m` (at least one).
pub fn cells_of(length_m: f64, cell_length_m: f64) -> usize {
    (length_m / cell_length_m).ceil().clamp(1.0, 100_000.0) as usize
}

/// An event at a minute of the scenario.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MineEvent {
    /// Minutes after the start.
    pub time_min: f64,
    /// What happens.
    pub kind: EventKind,
}

/// A checked mine scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct MineScenario {
    /// Start (UTC).
    pub start: DateTime<Utc>,
    /// Duration, min.
    pub duration_min: f64,
    /// Output interval, s.
    pub output_interval_s: f64,
    /// Target cell length, m.
    pub cell_length_m: f64,
    /// Gas sources.
    pub sources: Vec<GasSource>,
    /// Events in time order.
    pub events: Vec<MineEvent>,
}

impl MineScenario {
    /// Reads and checks a scenario against its network; errors name the file, record and key.
    pub fn read(path: &Path, net: &MineNetwork) -> Result<Self, ScenarioError> {
        let file: ScenarioFile = read_toml(path)?;
        Self::from_file(path, file, net)
    }

    /// Parses scenario TOML text (errors name `path`).
    pub fn parse(path: &Path, text: &str, net: &MineNetwork) -> Result<Self, ScenarioError> {
        let file: ScenarioFile =
            toml::from_str(text).map_err(|e| invalid(path, e.message().to_string()))?;
        Self::from_file(path, file, net)
    }

    fn from_file(path: &Path, f: ScenarioFile, net: &MineNetwork) -> Result<Self, ScenarioError> {
        let bad = |m: String| invalid(path, m);
        let start = parse_start(path, &f.start)?;
        let duration_min =
            check_range("duration_min", f.duration_min, 0.1, 525_600.0, "min").map_err(bad)?;
        let output_interval_s = check_range(
            "output_interval_s",
            f.output_interval_s.unwrap_or(60.0),
            1.0,
            86_400.0,
            "s",
        )
        .map_err(bad)?;
        let cell_length_m = check_range(
            "cell_length_m",
            f.cell_length_m.unwrap_or(10.0),
            0.5,
            10_000.0,
            "m",
        )
        .map_err(bad)?;
        let cells = cell_count(net, cell_length_m) as f64;
        if cells > MAX_CELLS {
            return Err(bad(format!(
                "key `cell_length_m`: {cell_length_m} m cuts the network into {cells:.0} cells; at most {MAX_CELLS:.0} (use longer cells)"
            )));
        }
        let mut sources = Vec::new();
        for (i, s) in f.gas_sources.into_iter().enumerate() {
            let at = |k: &str| format!("gas_sources[{i}] (branch {:?}): {k}", s.branch);
            let branch = net.branch(&s.branch).ok_or_else(|| {
                bad(at(&format!(
                    "key `branch`: no branch {:?} in the network",
                    s.branch
                )))
            })?;
            let steps = match &s.rate_m3_min {
                RateFile::Constant(r) => vec![(0.0, *r)],
                RateFile::Steps(v) => v.iter().map(|p| (p[0], p[1])).collect(),
            };
            if steps.is_empty() {
                return Err(bad(at("key `rate_m3_min`: no steps")));
            }
            for (k, (m, r)) in steps.iter().enumerate() {
                check_range(
                    &format!("rate_m3_min[{k}] minute"),
                    *m,
                    0.0,
                    duration_min,
                    "min",
                )
                .map_err(|e| bad(at(&e)))?;
                check_range(
                    &format!("rate_m3_min[{k}] rate"),
                    *r,
                    0.0,
                    10_000.0,
                    "m³/min",
                )
                .map_err(|e| bad(at(&e)))?;
                if k == 0 && *m != 0.0 {
                    return Err(bad(at(
                        "key `rate_m3_min`: the first step must be at minute 0",
                    )));
                }
                if k > 0 && *m <= steps[k - 1].0 {
                    return Err(bad(at(&format!(
                        "key `rate_m3_min`: step {k}'s minute {m} is not after the previous step's"
                    ))));
                }
            }
            sources.push(GasSource {
                branch,
                gas: s.gas,
                steps,
            });
        }
        let mut events = Vec::new();
        for (i, e) in f.events.into_iter().enumerate() {
            let at = |k: &str| format!("events[{i}] ({:?} at {:?}): {k}", e.kind, e.target);
            let time_min = check_range("time_min", e.time_min, 0.0, duration_min, "min")
                .map_err(|m| bad(at(&m)))?;
            let fan = || {
                net.fan(&e.target).ok_or_else(|| {
                    bad(at(&format!(
                        "key `target`: no fan {:?} in the network",
                        e.target
                    )))
                })
            };
            let branch = || {
                net.branch(&e.target).ok_or_else(|| {
                    bad(at(&format!(
                        "key `target`: no branch {:?} in the network",
                        e.target
                    )))
                })
            };
            let value = |what: &str, lo: f64, hi: f64, unit: &str| {
                let v = e
                    .value
                    .ok_or_else(|| bad(at(&format!("key `value`: missing ({what})"))))?;
                check_range("value", v, lo, hi, unit).map_err(|m| bad(at(&m)))
            };
            let source_branch = || {
                let b = branch()?;
                if sources.iter().any(|s| s.branch == b) {
                    Ok(b)
                } else {
                    Err(bad(at("key `target`: no gas source on this branch")))
                }
            };
            let kind = match e.kind {
                EventKindFile::FanStop => EventKind::FanStop(fan()?),
                EventKindFile::FanStart => EventKind::FanStart(fan()?),
                EventKindFile::DoorOpen => EventKind::DoorOpen(
                    branch()?,
                    value("the open door's resistance, N·s²/m⁸", 1e-9, 1e9, "N·s²/m⁸")?,
                ),
                EventKindFile::Regulator => EventKind::Regulator(
                    branch()?,
                    value("the new resistance, N·s²/m⁸", 1e-9, 1e9, "N·s²/m⁸")?,
                ),
                EventKindFile::Production => EventKind::Production(
                    source_branch()?,
                    value("the gas-make factor", 0.0, 1_000.0, "")?,
                ),
                EventKindFile::Outburst => EventKind::Outburst(
                    source_branch()?,
                    value("the methane released, m³", 0.0, 1e7, "m³")?,
                ),
            };
            events.push(MineEvent { time_min, kind });
        }
        events.sort_by(|a, b| a.time_min.total_cmp(&b.time_min));
        Ok(Self {
            start,
            duration_min,
            output_interval_s,
            cell_length_m,
            sources,
            events,
        })
    }
}

/// Most cells one network may be cut into (two f64 gases each: 160 MB).
pub const MAX_CELLS: f64 = 1e7;

/// Most cells × steps one run may take.
pub const MAX_WORK: f64 = 2e11;

/// The transport state and its bookkeeping.
#[derive(Debug, Clone)]
pub struct Transport {
    /// First cell of each branch (and one past the last at the end).
    pub offsets: Vec<usize>,
    /// Volume of each branch's cells, m³.
    pub cell_volume: Vec<f64>,
    /// Gas volume per cell, per gas, m³.
    pub gas: [Vec<f64>; 2],
    /// Released so far, per gas, m³.
    pub released: [f64; 2],
    /// Exhausted to the surface so far, per gas, m³.
    pub exhausted: [f64; 2],
}

impl Transport {
    /// Empty cells for a network (cells of about `cell_length_m`; at least one per branch).
    pub fn new(net: &MineNetwork, cell_length_m: f64) -> Self {
        let mut offsets = vec![0];
        let mut cell_volume = Vec::with_capacity(net.branches.len());
        for b in &net.branches {
            let n = cells_of(b.length_m, cell_length_m);
            offsets.push(offsets.last().copied().unwrap_or(0) + n);
            cell_volume.push(b.area_m2 * b.length_m / n as f64);
        }
        let cells = offsets.last().copied().unwrap_or(0);
        Self {
            offsets,
            cell_volume,
            gas: [vec![0.0; cells], vec![0.0; cells]],
            released: [0.0; 2],
            exhausted: [0.0; 2],
        }
    }

    /// Cells in all.
    pub fn cells(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }

    /// The largest stable time step for `flows`, s (Courant number 1 in the fastest cell).
    pub fn max_dt(&self, flows: &[f64]) -> f64 {
        flows
            .iter()
            .zip(&self.cell_volume)
            .filter(|(q, _)| q.abs() > 0.0)
            .map(|(q, v)| v / q.abs())
            .fold(f64::INFINITY, f64::min)
    }

    /// Gas held in the network, per gas, m³.
    pub fn held(&self) -> [f64; 2] {
        [self.gas[0].iter().sum(), self.gas[1].iter().sum()]
    }

    /// Concentration (volume fraction) at a branch's outlet (its downstream end for `flow`).
    pub fn outlet_fraction(&self, b: usize, flow: f64, gas: usize) -> f64 {
        let cell = if flow >= 0.0 {
            self.offsets[b + 1] - 1
        } else {
            self.offsets[b]
        };
        let r = self.gas[gas][cell] / self.cell_volume[b];
        r / (1.0 + r)
    }

    /// Adds `volume` m³ of gas at a branch's upstream end (for `flow`).
    pub fn inject(&mut self, b: usize, flow: f64, gas: usize, volume: f64) {
        let cell = if flow >= 0.0 {
            self.offsets[b]
        } else {
            self.offsets[b + 1] - 1
        };
        self.gas[gas][cell] += volume;
        self.released[gas] += volume;
    }

    /// One explicit upwind step of `dt` seconds with branch `flows` (Courant ≤ 1).
    pub fn step(
        &mut self,
        net: &MineNetwork,
        topo: &Topology,
        flows: &[f64],
        dt: f64,
        scratch: &mut Scratch,
    ) {
        let (node, nodes, atmosphere) = (&topo.node, topo.nodes, topo.atmosphere);
        scratch.out_flow.clear();
        scratch.out_flow.resize(nodes, 0.0);
        for (b, &q) in net.branches.iter().zip(flows) {
            if q != 0.0 {
                let up = if q > 0.0 { node[b.from] } else { node[b.to] };
                scratch.out_flow[up] += q.abs();
            }
        }
        for g in 0..2 {
            let gas = &mut self.gas[g];
            scratch.arrive.clear();
            scratch.arrive.resize(nodes, 0.0);
            // move gas along each branch; what leaves the last cell arrives at its node
            for (k, (b, &q)) in net.branches.iter().zip(flows).enumerate() {
                if q == 0.0 {
                    continue;
                }
                let (lo, hi) = (self.offsets[k], self.offsets[k + 1]);
                let frac = q.abs() * dt / self.cell_volume[k];
                let cells = &mut gas[lo..hi];
                let down = if q > 0.0 { node[b.to] } else { node[b.from] };
                if q > 0.0 {
                    let last = cells.len() - 1;
                    let mut carried = cells[last] * frac;
                    cells[last] -= carried;
                    scratch.arrive[down] += carried;
                    for i in (0..last).rev() {
                        carried = cells[i] * frac;
                        cells[i] -= carried;
                        cells[i + 1] += carried;
                    }
                } else {
                    let mut carried = cells[0] * frac;
                    cells[0] -= carried;
                    scratch.arrive[down] += carried;
                    for i in 1..cells.len() {
                        carried = cells[i] * frac;
                        cells[i] -= carried;
                        cells[i - 1] += carried;
                    }
                }
            }
            // full mixing at junctions: shares by outgoing airflow
            if let Some(a) = atmosphere {
                self.exhausted[g] += scratch.arrive[a];
                scratch.arrive[a] = 0.0;
            }
            for (k, (b, &q)) in net.branches.iter().zip(flows).enumerate() {
                if q == 0.0 {
                    continue;
                }
                let up = if q > 0.0 { node[b.from] } else { node[b.to] };
                let g_in = scratch.arrive[up];
                if g_in > 0.0 {
                    let first = if q > 0.0 {
                        self.offsets[k]
                    } else {
                        self.offsets[k + 1] - 1
                    };
                    gas[first] += g_in * q.abs() / scratch.out_flow[up];
                }
            }
        }
    }
}

/// The solver nodes of a network, for the transport: each junction's node, how many, and the
/// atmosphere's (see [`MineNetwork::nodes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    /// Node of each junction.
    pub node: Vec<usize>,
    /// Nodes.
    pub nodes: usize,
    /// The atmosphere node, if any junction is at the surface.
    pub atmosphere: Option<usize>,
}

impl Topology {
    /// The topology of `net`.
    pub fn of(net: &MineNetwork) -> Self {
        let (node, nodes, atmosphere) = net.nodes();
        Self {
            node,
            nodes,
            atmosphere,
        }
    }
}

/// Per-step scratch space.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    out_flow: Vec<f64>,
    arrive: Vec<f64>,
}

/// One output row per branch and output time.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Branch index.
    pub branch: Vec<u32>,
    /// Epoch ms.
    pub time_ms: Vec<i64>,
    /// Flow, m³/s.
    pub flow_m3_s: Vec<f64>,
    /// CH₄ at the outlet, %.
    pub ch4_pct: Vec<f64>,
    /// CO at the outlet, ppm.
    pub co_ppm: Vec<f64>,
}

/// When a working place first reached a CH₄ level.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimeToLevel {
    /// The working place (branch id).
    pub place: String,
    /// The level, % CH₄.
    pub level_pct: f64,
    /// Minutes after the start (the end of the step that reached it).
    pub minutes: f64,
}

/// A transient run's result.
#[derive(Debug, Clone)]
pub struct GasRun {
    /// Branch outlet series at every output time.
    pub series: Series,
    /// Airflow solves: (minute, solution) — the first at minute 0.
    pub airflows: Vec<(f64, Airflow)>,
    /// Time steps taken.
    pub steps: u64,
    /// Cells.
    pub cells: usize,
    /// Released, held, exhausted per gas at the end, m³.
    pub released: [f64; 2],
    /// Held in the network at the end, m³.
    pub held: [f64; 2],
    /// Exhausted to the surface, m³.
    pub exhausted: [f64; 2],
    /// |released − held − exhausted| / released, per gas (0 when nothing was released).
    pub mass_error: [f64; 2],
    /// First time each working place reached each CH₄ level.
    pub time_to_level: Vec<TimeToLevel>,
}

/// The CH₄ levels whose first arrival is reported per working place, % (30 CFR 75.323).
pub const CH4_LEVELS: [f64; 2] = [1.0, 1.5];

/// Solves the steady airflow (Newton, falling back to Hardy Cross).
pub fn solve(net: &MineNetwork, op: &Operating) -> Result<Airflow, AirflowError> {
    airflow::newton(net, op, 1e-12, 200).or_else(|_| airflow::hardy_cross(net, op, 1e-10, 200_000))
}

/// Runs a scenario: gas transport with the events, outputs every `output_interval_s`.
pub fn run(net: &MineNetwork, sc: &MineScenario) -> Result<GasRun, AirflowError> {
    let topo = Topology::of(net);
    let mut op = Operating::design(net);
    let mut flow = solve(net, &op)?;
    let mut airflows = vec![(0.0, flow.clone())];
    let mut tr = Transport::new(net, sc.cell_length_m);
    let mut factor = vec![1.0; net.branches.len()];
    let mut scratch = Scratch::default();
    let mut series = Series::default();
    let start_ms = sc.start.timestamp_millis();
    let end_s = sc.duration_min * 60.0;
    let out_dt = sc.output_interval_s;
    let places: Vec<usize> = (0..net.branches.len())
        .filter(|&b| net.branches[b].kind.is_working_place())
        .collect();
    let mut reached = vec![[None::<f64>; 2]; places.len()];
    let record = |series: &mut Series, tr: &Transport, flows: &[f64], t: f64| {
        for (b, &q) in flows.iter().enumerate() {
            series.branch.push(b as u32);
            series.time_ms.push(start_ms + (t * 1000.0).round() as i64);
            series.flow_m3_s.push(q);
            series.ch4_pct.push(100.0 * tr.outlet_fraction(b, q, 0));
            series.co_ppm.push(1e6 * tr.outlet_fraction(b, q, 1));
        }
    };
    let mut t = 0.0f64;
    let mut next_out = 0.0f64;
    let mut ev = 0usize;
    let mut steps = 0u64;
    loop {
        // events due now
        while ev < sc.events.len() && sc.events[ev].time_min * 60.0 <= t + 1e-9 {
            let e = sc.events[ev].kind;
            op.apply(e);
            match e {
                EventKind::Production(b, x) => factor[b] = x,
                EventKind::Outburst(b, v) => tr.inject(b, flow.flows[b], 0, v),
                _ => {}
            }
            if e.changes_airflow() {
                flow = solve(net, &op)?;
                airflows.push((t / 60.0, flow.clone()));
            }
            ev += 1;
        }
        if t >= next_out - 1e-9 {
            record(&mut series, &tr, &flow.flows, t);
            next_out += out_dt;
        }
        if t >= end_s - 1e-9 {
            break;
        }
        let next_event = sc
            .events
            .get(ev)
            .map_or(f64::INFINITY, |e| e.time_min * 60.0);
        let dt = tr
            .max_dt(&flow.flows)
            .min(next_out - t)
            .min(next_event - t)
            .min(end_s - t)
            .max(1e-6);
        tr.step(net, &topo, &flow.flows, dt, &mut scratch);
        // what the sources released over the step (at the rate holding at its start) is in the
        // branch's first cell at its end, like the air arriving from the junction — so a
        // steady source gives the same steady state whatever the step
        for s in &sc.sources {
            let rate = s.rate_at(t / 60.0) * factor[s.branch] / 60.0;
            if rate > 0.0 {
                tr.inject(s.branch, flow.flows[s.branch], s.gas.index(), rate * dt);
            }
        }
        t += dt;
        steps += 1;
        for (k, &b) in places.iter().enumerate() {
            let c = 100.0 * tr.outlet_fraction(b, flow.flows[b], 0);
            for (l, level) in CH4_LEVELS.iter().enumerate() {
                if reached[k][l].is_none() && c >= *level {
                    reached[k][l] = Some(t / 60.0);
                }
            }
        }
    }
    let held = tr.held();
    let mass_error = [0, 1].map(|g| {
        if tr.released[g] > 0.0 {
            (tr.released[g] - held[g] - tr.exhausted[g]).abs() / tr.released[g]
        } else {
            0.0
        }
    });
    let mut time_to_level = Vec::new();
    for (k, &b) in places.iter().enumerate() {
        for (l, level) in CH4_LEVELS.iter().enumerate() {
            if let Some(m) = reached[k][l] {
                time_to_level.push(TimeToLevel {
                    place: net.branches[b].id.clone(),
                    level_pct: *level,
                    minutes: m,
                });
            }
        }
    }
    Ok(GasRun {
        series,
        airflows,
        steps,
        cells: tr.cells(),
        released: tr.released,
        held,
        exhausted: tr.exhausted,
        mass_error,
        time_to_level,
    })
}

/// Estimated cells × steps of a run (for the size check before running).
pub fn work(net: &MineNetwork, sc: &MineScenario, flows: &[f64]) -> f64 {
    // sized from the branches alone: nothing is allocated before the check
    let (mut cells, mut dt) = (0usize, sc.output_interval_s);
    for (b, q) in net.branches.iter().zip(flows) {
        let n = cells_of(b.length_m, sc.cell_length_m);
        cells += n;
        if q.abs() > 0.0 {
            dt = dt.min(b.area_m2 * b.length_m / n as f64 / q.abs());
        }
    }
    cells as f64 * sc.duration_min * 60.0 / dt.max(1e-6)
}

/// Cells the network is cut into for cells of about `cell_length_m`.
pub fn cell_count(net: &MineNetwork, cell_length_m: f64) -> usize {
    net.branches
        .iter()
        .map(|b| cells_of(b.length_m, cell_length_m))
        .sum()
}
