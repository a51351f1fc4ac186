//! The two step engines behind [`TrafficProblem::run`] (the CPU twin and the GPU), and the run
//! loop: steps in batches, Edie's link statistics per output interval, and the vehicle
//! conservation check.

use std::time::Instant;

use serde::Serialize;

use super::cpu::{self, NodeInputs, NodeOutputs};
use super::{
    LinkData, NONE, NodeData, PhaseData, SignalData, StepParams, TrafficProblem, VehicleClass,
};
use crate::gpu::{self, AdapterReport, GpuContext, GpuError, Kernel};

/// Steps recorded into one GPU submission: small networks are launch-bound, so many steps go
/// into one command buffer (three dispatches each).
pub const STEPS_PER_SUBMIT: u64 = 256;

/// A backend that advances the traffic state.
pub trait StepEngine {
    /// Runs `n` steps.
    fn steps(&mut self, n: u64) -> Result<(), GpuError>;
    /// Per-cell statistics (vehicle-seconds car, truck; vehicle-metres car, truck) since the
    /// last call; restarts them.
    fn take_stats(&mut self) -> Result<Vec<[f32; 4]>, GpuError>;
    /// Current cell state: vehicles of each commodity, `cell × K + commodity`.
    fn state(&self) -> Result<Vec<f32>, GpuError>;
    /// Per node: entered and exited counters (fixed point, see [`cpu::count`]).
    fn counters(&self) -> Result<Vec<[u32; 4]>, GpuError>;
    /// Vehicles waiting at each node's origin, `node × K + commodity`.
    fn queues(&self) -> Result<Vec<f32>, GpuError>;
    /// Waits until every step asked for has run (for timing).
    fn wait(&mut self) -> Result<(), GpuError>;
}

/// The arrays the step stages read, borrowed: one problem's ([`TrafficProblem::arrays`]) or
/// a batch's union of members ([`super::batch::Union`]).
#[derive(Debug, Clone, Copy)]
pub struct StepArrays<'a> {
    /// Kernel constants.
    pub params: &'a StepParams,
    /// Per link.
    pub links: &'a [LinkData],
    /// Link of every cell.
    pub cell_link: &'a [u32],
    /// Per node.
    pub nodes: &'a [NodeData],
    /// Incoming link indices, grouped by node.
    pub in_links: &'a [u32],
    /// Outgoing link indices, grouped by node.
    pub out_links: &'a [u32],
    /// Turning fractions (see [`TrafficProblem::turns`]).
    pub turns: &'a [f32],
    /// Vehicles arriving per step (see [`TrafficProblem::demand`]).
    pub demand: &'a [f32],
    /// Signal plans.
    pub signals: &'a [SignalData],
    /// Signal phases.
    pub phases: &'a [PhaseData],
}

impl StepArrays<'_> {
    fn n_cells(&self) -> usize {
        self.cell_link.len()
    }
    fn n_comm(&self) -> usize {
        self.params.n_comm as usize
    }

    /// Bytes of the three largest device arrays (cell statistics, one state buffer, the
    /// turning fractions), by name: each must fit one storage binding (a union's are the sums
    /// of its members').
    pub fn binding_bytes(&self) -> [(&'static str, u64); 3] {
        let c = self.n_cells() as u64;
        [
            ("statistics", c * 16),
            ("state", c * self.n_comm() as u64 * 4),
            ("turning fractions", self.turns.len() as u64 * 4),
        ]
    }
}

impl TrafficProblem {
    /// The arrays the step stages read.
    pub fn arrays(&self) -> StepArrays<'_> {
        StepArrays {
            params: &self.params,
            links: &self.links,
            cell_link: &self.cell_link,
            nodes: &self.nodes,
            in_links: &self.in_links,
            out_links: &self.out_links,
            turns: &self.turns,
            demand: &self.demand,
            signals: &self.signals,
            phases: &self.phases,
        }
    }
}

fn initial_signal_state(p: &StepArrays<'_>) -> Vec<[u32; 2]> {
    p.nodes
        .iter()
        .map(|n| {
            if n.signal == NONE {
                [0, 0]
            } else {
                [0, p.signals[n.signal as usize].lost]
            }
        })
        .collect()
}

/// The CPU twin.
pub struct CpuEngine<'a> {
    problem: StepArrays<'a>,
    state: Vec<f32>,
    next: Vec<f32>,
    sr: Vec<[f32; 2]>,
    out_flow: Vec<f32>,
    in_flow: Vec<f32>,
    queue: Vec<f32>,
    counters: Vec<[u32; 4]>,
    signal_state: Vec<[u32; 2]>,
    stats: Vec<[f32; 4]>,
    clock: u32,
}

impl<'a> CpuEngine<'a> {
    /// An empty network for a problem.
    pub fn new(problem: &'a TrafficProblem) -> Self {
        Self::from_arrays(problem.arrays())
    }

    /// An empty network for borrowed step arrays.
    pub fn from_arrays(problem: StepArrays<'a>) -> Self {
        let c = problem.n_cells();
        let n = problem.nodes.len();
        let kk = problem.n_comm();
        Self {
            problem,
            state: vec![0.0; c * kk],
            next: vec![0.0; c * kk],
            sr: vec![[0.0; 2]; c],
            out_flow: vec![0.0; problem.in_links.len() * kk],
            in_flow: vec![0.0; problem.out_links.len() * kk],
            queue: vec![0.0; n * kk],
            counters: vec![[0; 4]; 2 * n],
            signal_state: initial_signal_state(&problem),
            stats: vec![[0.0; 4]; c],
            clock: 0,
        }
    }
}

impl StepEngine for CpuEngine<'_> {
    fn steps(&mut self, n: u64) -> Result<(), GpuError> {
        let p = &self.problem;
        for _ in 0..n {
            cpu::sending_receiving(p.params, p.links, p.cell_link, &self.state, &mut self.sr);
            let inputs = NodeInputs {
                arrays: *p,
                sr: &self.sr,
                state: &self.state,
            };
            cpu::node_flows(
                &inputs,
                NodeOutputs {
                    out_flow: &mut self.out_flow,
                    in_flow: &mut self.in_flow,
                    queue: &mut self.queue,
                    counters: &mut self.counters,
                    signal_state: &mut self.signal_state,
                },
                self.clock,
            );
            cpu::update_cells(
                p.params,
                p.links,
                p.cell_link,
                &self.sr,
                &self.out_flow,
                &self.in_flow,
                &self.state,
                &mut self.next,
                &mut self.stats,
            );
            std::mem::swap(&mut self.state, &mut self.next);
            self.clock += 1;
        }
        Ok(())
    }

    fn take_stats(&mut self) -> Result<Vec<[f32; 4]>, GpuError> {
        let out = self.stats.clone();
        self.stats.iter_mut().for_each(|s| *s = [0.0; 4]);
        Ok(out)
    }

    fn state(&self) -> Result<Vec<f32>, GpuError> {
        Ok(self.state.clone())
    }

    fn counters(&self) -> Result<Vec<[u32; 4]>, GpuError> {
        Ok(self.counters.clone())
    }

    fn queues(&self) -> Result<Vec<f32>, GpuError> {
        Ok(self.queue.clone())
    }

    fn wait(&mut self) -> Result<(), GpuError> {
        Ok(())
    }
}

/// The GPU engine: the WGSL stages of `shaders/traffic/`.
pub struct GpuEngine<'a> {
    ctx: &'a GpuContext,
    kernels: [Kernel; 3],
    groups: [[wgpu::BindGroup; 3]; 2],
    state: [wgpu::Buffer; 2],
    stats: wgpu::Buffer,
    counters: wgpu::Buffer,
    queue: wgpu::Buffer,
    current: usize,
    n_cells: usize,
    n_nodes: usize,
}

impl<'a> GpuEngine<'a> {
    /// Uploads a problem with an empty network.
    pub fn new(ctx: &'a GpuContext, p: &TrafficProblem) -> Result<Self, GpuError> {
        Self::from_arrays(ctx, p.arrays())
    }

    /// Uploads borrowed step arrays with an empty network.
    pub fn from_arrays(ctx: &'a GpuContext, p: StepArrays<'_>) -> Result<Self, GpuError> {
        let c = p.n_cells();
        let n = p.nodes.len();
        let kk = p.n_comm();
        let limit = ctx.limits.max_storage_buffer_binding_size;
        for (what, bytes) in p.binding_bytes() {
            if bytes > limit {
                return Err(GpuError::TooLarge(format!(
                    "{c} cells × {kk} commodities need {bytes} bytes of {what}; the adapter binds at most {limit}"
                )));
            }
        }
        fn nonempty<T: bytemuck::Pod + bytemuck::Zeroable>(v: &[T]) -> Vec<T> {
            if v.is_empty() {
                vec![T::zeroed()]
            } else {
                v.to_vec()
            }
        }
        let params = ctx.uniform("traffic-params", p.params);
        let links = ctx.storage("links", p.links);
        let cell_link = ctx.storage("cell-link", p.cell_link);
        let nodes = ctx.storage("nodes", p.nodes);
        let in_links = ctx.storage("in-links", &nonempty(p.in_links));
        let out_links = ctx.storage("out-links", &nonempty(p.out_links));
        let turns = ctx.storage("turns", p.turns);
        let demand = ctx.storage("demand", &nonempty(p.demand));
        let signals = ctx.storage("signals", &nonempty(p.signals));
        let phases = ctx.storage("phases", &nonempty(p.phases));
        let state = [
            ctx.storage_zeroed::<f32>("state-a", c * kk),
            ctx.storage_zeroed::<f32>("state-b", c * kk),
        ];
        let sr = ctx.storage_zeroed::<[f32; 2]>("sending-receiving", c);
        let out_flow = ctx.storage_zeroed::<f32>("out-flow", p.in_links.len().max(1) * kk);
        let in_flow = ctx.storage_zeroed::<f32>("in-flow", p.out_links.len().max(1) * kk);
        let queue = ctx.storage_zeroed::<f32>("queue", n * kk);
        let counters = ctx.storage_zeroed::<[u32; 4]>("counters", 2 * n);
        let signal_state = ctx.storage("signal-state", &initial_signal_state(&p));
        let stats = ctx.storage_zeroed::<[f32; 4]>("stats", c);
        let clock = ctx.storage("clock", &[0u32; 4]);
        let kernels = [
            ctx.kernel(&gpu::shaders::TRAFFIC_SENDING_RECEIVING),
            ctx.kernel(&gpu::shaders::TRAFFIC_NODE_FLOWS),
            ctx.kernel(&gpu::shaders::TRAFFIC_UPDATE_CELLS),
        ];
        let groups = [0usize, 1].map(|k| {
            [
                ctx.bind(&kernels[0], &[&params, &links, &cell_link, &state[k], &sr]),
                ctx.bind(
                    &kernels[1],
                    &[
                        &params,
                        &links,
                        &nodes,
                        &in_links,
                        &out_links,
                        &turns,
                        &demand,
                        &signals,
                        &phases,
                        &sr,
                        &state[k],
                        &out_flow,
                        &in_flow,
                        &queue,
                        &counters,
                        &signal_state,
                        &clock,
                    ],
                ),
                ctx.bind(
                    &kernels[2],
                    &[
                        &params,
                        &links,
                        &cell_link,
                        &sr,
                        &out_flow,
                        &in_flow,
                        &state[k],
                        &state[1 - k],
                        &stats,
                        &clock,
                    ],
                ),
            ]
        });
        Ok(Self {
            ctx,
            kernels,
            groups,
            state,
            stats,
            counters,
            queue,
            current: 0,
            n_cells: c,
            n_nodes: n,
        })
    }
}

impl StepEngine for GpuEngine<'_> {
    fn steps(&mut self, n: u64) -> Result<(), GpuError> {
        let cell_groups = gpu::groups_2d(self.n_cells, 64);
        let node_groups = gpu::groups_2d(self.n_nodes, 64);
        let mut left = n;
        while left > 0 {
            let batch = left.min(STEPS_PER_SUBMIT);
            let mut enc = self.ctx.encoder();
            for _ in 0..batch {
                let g = &self.groups[self.current];
                self.kernels[0].dispatch(&mut enc, &g[0], cell_groups);
                self.kernels[1].dispatch(&mut enc, &g[1], node_groups);
                self.kernels[2].dispatch(&mut enc, &g[2], cell_groups);
                self.current = 1 - self.current;
            }
            self.ctx.submit(enc);
            left -= batch;
        }
        Ok(())
    }

    fn take_stats(&mut self) -> Result<Vec<[f32; 4]>, GpuError> {
        let v = self.ctx.read::<[f32; 4]>(&self.stats)?;
        let mut enc = self.ctx.encoder();
        enc.clear_buffer(&self.stats, 0, None);
        self.ctx.submit(enc);
        Ok(v)
    }

    fn state(&self) -> Result<Vec<f32>, GpuError> {
        self.ctx.read::<f32>(&self.state[self.current])
    }

    fn counters(&self) -> Result<Vec<[u32; 4]>, GpuError> {
        self.ctx.read::<[u32; 4]>(&self.counters)
    }

    fn queues(&self) -> Result<Vec<f32>, GpuError> {
        self.ctx.read::<f32>(&self.queue)
    }

    fn wait(&mut self) -> Result<(), GpuError> {
        self.ctx.submit_and_wait(self.ctx.encoder())
    }
}

/// Per-link totals of one output interval (Edie's generalised definitions use them).
#[derive(Debug, Clone, PartialEq)]
pub struct IntervalStats {
    /// Interval start, s from the run start.
    pub start_s: f64,
    /// Interval length, s.
    pub seconds: f64,
    /// Vehicle-seconds per link (car, truck).
    pub vehicle_s: Vec<[f64; 2]>,
    /// Vehicle-metres per link (car, truck).
    pub vehicle_m: Vec<[f64; 2]>,
    /// Vehicle-seconds waiting at each node's origin (car, truck): the trapezoid of the queues
    /// read at the interval's two ends (exact when a queue grows or shrinks steadily).
    pub queued_s: Vec<[f64; 2]>,
}

/// Vehicle bookkeeping at the end of a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Conservation {
    /// Vehicles that entered the network from origins, per class.
    pub entered: [f64; 2],
    /// Vehicles that left it at sinks, per class.
    pub exited: [f64; 2],
    /// Vehicles in the network's cells at the end, per class.
    pub in_network: [f64; 2],
    /// Vehicles still waiting at origins, per class.
    pub waiting: [f64; 2],
    /// Demand offered during the run, per class.
    pub demand: [f64; 2],
    /// max over classes of |entered − exited − in network| / max(entered, 1).
    pub relative_error: f64,
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct TrafficRun {
    /// The wgpu adapter the run used; `None`: the CPU twin.
    pub adapter: Option<AdapterReport>,
    /// Steps run.
    pub steps: u64,
    /// Wall time of the stepping (without set-up and output), s.
    pub wall_s: f64,
    /// Cell updates per second of wall time.
    pub cell_updates_per_s: f64,
    /// Per output interval.
    pub intervals: Vec<IntervalStats>,
    /// Final cell state, vehicles per class (commodities summed).
    pub final_state: Vec<[f32; 2]>,
    /// Vehicle bookkeeping.
    pub conservation: Conservation,
}

impl TrafficProblem {
    /// Runs the problem on the GPU when `ctx` is given, else on the CPU twin.
    pub fn run(&self, ctx: Option<&GpuContext>) -> Result<TrafficRun, GpuError> {
        self.run_with_progress(ctx, &mut |_, _| {})
    }

    /// Like [`TrafficProblem::run`], calling `progress(intervals done, intervals)` after each
    /// output interval (the same unit as the dispersion model's progress).
    pub fn run_with_progress(
        &self,
        ctx: Option<&GpuContext>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<TrafficRun, GpuError> {
        match ctx {
            Some(ctx) => {
                let mut e = GpuEngine::new(ctx, self)?;
                self.drive(&mut e, Some(ctx.report.clone()), progress)
            }
            None => {
                let mut e = CpuEngine::new(self);
                self.drive(&mut e, None, progress)
            }
        }
    }

    /// Runs the problem on a given engine.
    pub fn drive(
        &self,
        engine: &mut dyn StepEngine,
        adapter: Option<AdapterReport>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<TrafficRun, GpuError> {
        self.drive_every(engine, adapter, self.steps_per_output, progress)
    }

    /// Runs the problem on a given engine with statistics every `every` steps.
    pub fn drive_every(
        &self,
        engine: &mut dyn StepEngine,
        adapter: Option<AdapterReport>,
        every: u64,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<TrafficRun, GpuError> {
        let mut runs = drive_members(
            &[(self, MemberOffsets::default())],
            engine,
            adapter,
            every,
            progress,
        )?;
        runs.pop()
            .ok_or_else(|| GpuError::Readback("a run of one member gave no result".into()))
    }

    /// Vehicles waiting per node and class from the engine's queues (`node × K + commodity`).
    fn queued_by_node(&self, q: &[f32]) -> Vec<[f64; 2]> {
        let kk = self.n_comm();
        let mut v = vec![[0.0f64; 2]; self.nodes.len()];
        for (i, x) in q.iter().enumerate() {
            if let Some(node) = v.get_mut(i / kk) {
                node[self.commodities[i % kk].class.index()] += f64::from(*x);
            }
        }
        v
    }
}

/// Where a member's cells and nodes start in the arrays an engine steps: zero for a run
/// alone, its place in the union for a member of a batch ([`super::batch::Union`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemberOffsets {
    /// First cell.
    pub cell: usize,
    /// First node.
    pub node: usize,
}

/// A member's part of the engine's queues (`node × K + commodity`).
fn member_queues<'v>(
    queues: &'v [f32],
    p: &TrafficProblem,
    o: &MemberOffsets,
) -> Result<&'v [f32], GpuError> {
    let kk = p.n_comm();
    part(queues, o.node * kk, p.nodes.len() * kk, "queues")
}

/// `len` items of `v` from `start`, or an error naming `what` (an engine answered with fewer).
fn part<'v, T>(v: &'v [T], start: usize, len: usize, what: &str) -> Result<&'v [T], GpuError> {
    v.get(start..start + len).ok_or_else(|| {
        GpuError::Readback(format!(
            "{what}: {} values read, {} needed",
            v.len(),
            start + len
        ))
    })
}

/// Runs the members an engine steps together (one problem alone, or a batch's union with each
/// member at its offsets) to the end, with statistics every `every` steps, and gives each
/// member's run as if it had run alone: its own intervals, final state and conservation check.
/// Members share the step count and the time step (the union is built only for such members);
/// `wall_s` is the whole batch's.
pub fn drive_members(
    members: &[(&TrafficProblem, MemberOffsets)],
    engine: &mut dyn StepEngine,
    adapter: Option<AdapterReport>,
    every: u64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<TrafficRun>, GpuError> {
    let Some(&(first, _)) = members.first() else {
        return Ok(Vec::new());
    };
    let t0 = Instant::now();
    let steps = first.steps;
    let every = every.max(1);
    let n_intervals = steps.div_ceil(every) as usize;
    let mut intervals: Vec<Vec<IntervalStats>> = vec![Vec::new(); members.len()];
    let queues = engine.queues()?;
    let mut queued_before = Vec::with_capacity(members.len());
    for (p, o) in members {
        queued_before.push(p.queued_by_node(member_queues(&queues, p, o)?));
    }
    let mut done = 0u64;
    while done < steps {
        let n = every.min(steps - done);
        engine.steps(n)?;
        let stats = engine.take_stats()?;
        let queues = engine.queues()?;
        for (m, (p, o)) in members.iter().enumerate() {
            let queued_after = p.queued_by_node(member_queues(&queues, p, o)?);
            let seconds = n as f64 * p.dt_s;
            let queued_s = queued_before[m]
                .iter()
                .zip(&queued_after)
                .map(|(a, b)| [0.5 * (a[0] + b[0]) * seconds, 0.5 * (a[1] + b[1]) * seconds])
                .collect();
            queued_before[m] = queued_after;
            let mut vehicle_s = vec![[0.0f64; 2]; p.links.len()];
            let mut vehicle_m = vec![[0.0f64; 2]; p.links.len()];
            let cells = part(&stats, o.cell, p.n_cells(), "cell statistics")?;
            for (c, s) in cells.iter().enumerate() {
                let l = p.cell_link[c] as usize;
                vehicle_s[l][0] += f64::from(s[0]);
                vehicle_s[l][1] += f64::from(s[1]);
                vehicle_m[l][0] += f64::from(s[2]);
                vehicle_m[l][1] += f64::from(s[3]);
            }
            intervals[m].push(IntervalStats {
                start_s: done as f64 * p.dt_s,
                seconds,
                vehicle_s,
                vehicle_m,
                queued_s,
            });
        }
        done += n;
        progress(intervals[0].len(), n_intervals);
    }
    let state = engine.state()?;
    let wall_s = t0.elapsed().as_secs_f64();
    let counters = engine.counters()?;
    let queues = engine.queues()?;
    let mut runs = Vec::with_capacity(members.len());
    for ((p, o), intervals) in members.iter().zip(intervals) {
        let kk = p.n_comm();
        let class_of = |k: usize| p.commodities[k].class.index();
        let final_state: Vec<[f32; 2]> = part(&state, o.cell * kk, p.n_cells() * kk, "state")?
            .chunks(kk)
            .map(|cell| {
                let mut v = [0.0f32; 2];
                for (k, x) in cell.iter().enumerate() {
                    v[class_of(k)] += x;
                }
                v
            })
            .collect();
        let mut entered = [0.0f64; 2];
        let mut exited = [0.0f64; 2];
        for pair in part(&counters, 2 * o.node, 2 * p.nodes.len(), "counters")?.chunks(2) {
            for c in 0..2 {
                entered[c] += cpu::counted(pair[0][2 * c], pair[0][2 * c + 1]);
                exited[c] += cpu::counted(pair[1][2 * c], pair[1][2 * c + 1]);
            }
        }
        let mut in_network = [0.0f64; 2];
        for s in &final_state {
            in_network[0] += f64::from(s[0]);
            in_network[1] += f64::from(s[1]);
        }
        let mut waiting = [0.0f64; 2];
        for (i, x) in member_queues(&queues, p, o)?.iter().enumerate() {
            waiting[class_of(i % kk)] += f64::from(*x);
        }
        let relative_error = VehicleClass::ALL
            .iter()
            .map(|c| {
                let i = c.index();
                (entered[i] - exited[i] - in_network[i]).abs() / entered[i].max(1.0)
            })
            .fold(0.0, f64::max);
        runs.push(TrafficRun {
            adapter: adapter.clone(),
            steps: p.steps,
            wall_s,
            cell_updates_per_s: p.n_cells() as f64 * p.steps as f64 / wall_s.max(1e-9),
            intervals,
            final_state,
            conservation: Conservation {
                entered,
                exited,
                in_network,
                waiting,
                demand: p.demand_total,
                relative_error,
            },
        });
    }
    Ok(runs)
}

/// Link measures of one interval and class, by Edie's generalised definitions over the
/// link × interval space-time region: flow = distance travelled / (L·T), density = time spent /
/// (L·T), speed = distance / time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkMeasures {
    /// Vehicles per hour.
    pub flow_veh_h: f64,
    /// Vehicles per km.
    pub density_veh_km: f64,
    /// km/h (free-flow speed when the link was empty).
    pub speed_km_h: f64,
    /// Travel time at that speed, s.
    pub travel_time_s: f64,
}

impl LinkMeasures {
    /// From vehicle-metres and vehicle-seconds on a link of `length_m` over `seconds`.
    pub fn edie(vehicle_m: f64, vehicle_s: f64, length_m: f64, seconds: f64, vf_m_s: f64) -> Self {
        let area = length_m * seconds;
        let speed = if vehicle_s > 1e-9 && vehicle_m > 0.0 {
            (vehicle_m / vehicle_s).min(vf_m_s)
        } else {
            vf_m_s
        };
        LinkMeasures {
            flow_veh_h: vehicle_m / area * 3600.0,
            density_veh_km: vehicle_s / area * 1000.0,
            speed_km_h: speed * 3.6,
            travel_time_s: length_m / speed,
        }
    }
}
