//! Traffic members stepped together: the disjoint union of several compiled problems as one
//! set of step arrays ([`Union`]), so one dispatch of each stage advances every member, and
//! the rendezvous that gathers a sweep's members into such unions on a GPU ([`Batcher`]).
//!
//! Every stage works per cell or per node and reads only its own member's cells, nodes,
//! turning fractions, demand and signals (the union shifts every index by the member's
//! offset), so a member's arithmetic in a union is exactly its arithmetic alone: the tests
//! compare members batched and alone bit for bit. Members share the kernel constants that
//! are not counts (time step, demand periods, routing slices, commodities), the step count
//! and the output interval ([`batchable`]); members of one sweep that vary demand, signal
//! timing, control or the network itself qualify, a member that changes the time step runs in
//! its own union.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Condvar, Mutex, MutexGuard};

use super::engine::{
    CpuEngine, GpuEngine, MemberOffsets, StepArrays, StepEngine, TrafficRun, drive_members,
};
use super::{LinkData, NONE, NodeData, PhaseData, SignalData, StepParams, TrafficProblem};
use crate::gpu::{GpuContext, GpuError};

/// Whether two compiled problems can step in one union: the same kernel constants apart
/// from the counts, the same step count and the same output interval.
pub fn batchable(a: &TrafficProblem, b: &TrafficProblem) -> bool {
    mismatch(a, b).is_none()
}

/// What keeps two compiled problems out of one union, if anything.
pub fn mismatch(a: &TrafficProblem, b: &TrafficProblem) -> Option<&'static str> {
    let (p, q) = (&a.params, &b.params);
    if p.dt.to_bits() != q.dt.to_bits() || a.dt_s.to_bits() != b.dt_s.to_bits() {
        Some("time step")
    } else if a.steps != b.steps {
        Some("step count (duration)")
    } else if a.steps_per_output != b.steps_per_output {
        Some("output interval")
    } else if p.n_periods != q.n_periods || p.steps_per_period != q.steps_per_period {
        Some("demand periods")
    } else if p.n_slices != q.n_slices || p.steps_per_slice != q.steps_per_slice {
        Some("routing slices")
    } else if p.n_comm != q.n_comm || p.truck_mask != q.truck_mask {
        Some("commodities (class × destination)")
    } else if p.truck_pce.to_bits() != q.truck_pce.to_bits() {
        Some("truck PCE")
    } else {
        None
    }
}

/// The disjoint union of batchable problems as one set of step arrays.
#[derive(Debug, Clone)]
pub struct Union {
    params: StepParams,
    links: Vec<LinkData>,
    cell_link: Vec<u32>,
    nodes: Vec<NodeData>,
    in_links: Vec<u32>,
    out_links: Vec<u32>,
    turns: Vec<f32>,
    demand: Vec<f32>,
    signals: Vec<SignalData>,
    phases: Vec<PhaseData>,
    offsets: Vec<MemberOffsets>,
}

/// `x` moved by `by`, [`NONE`] staying [`NONE`].
fn shift(x: u32, by: u32) -> u32 {
    if x == NONE { NONE } else { x + by }
}

/// A count as a `u32` index base, or an error naming it.
fn base(n: usize, what: &str) -> Result<u32, String> {
    u32::try_from(n).map_err(|_| {
        format!("a batch of traffic members has {n} {what}, more than a u32 index reaches")
    })
}

impl Union {
    /// Joins `members` (at least one, all [`batchable`] with the first); member `i`'s cells
    /// and nodes start at `offsets()[i]`.
    pub fn new(members: &[&TrafficProblem]) -> Result<Self, String> {
        let Some(first) = members.first() else {
            return Err("a batch of traffic members needs at least one member".into());
        };
        let p0 = first.params;
        let kk = p0.n_comm as usize;
        let slices = p0.n_slices.max(1) as usize;
        let mut u = Union {
            params: p0,
            links: Vec::new(),
            cell_link: Vec::new(),
            nodes: Vec::new(),
            in_links: Vec::new(),
            out_links: Vec::new(),
            turns: Vec::new(),
            demand: Vec::new(),
            signals: Vec::new(),
            phases: Vec::new(),
            offsets: Vec::with_capacity(members.len()),
        };
        let mut entries = 0usize;
        let mut origins = 0usize;
        for (i, p) in members.iter().enumerate() {
            if let Some(what) = mismatch(first, p) {
                return Err(format!(
                    "traffic member {i} cannot share a batch with member 0: its {what} differs"
                ));
            }
            let e = p.params.n_turn_entries as usize;
            if p.turns.len() != slices * e * kk {
                return Err(format!(
                    "traffic member {i}: {} turning fractions, {} slices × {e} entries × {kk} commodities expected",
                    p.turns.len(),
                    slices
                ));
            }
            let periods = p.params.n_periods as usize;
            if p.demand.len() != p.origins.len() * periods * kk {
                return Err(format!(
                    "traffic member {i}: {} demand values, {} origins × {periods} periods × {kk} commodities expected",
                    p.demand.len(),
                    p.origins.len()
                ));
            }
            let cell0 = base(u.cell_link.len(), "cells")?;
            let node0 = base(u.nodes.len(), "nodes")?;
            let link0 = base(u.links.len(), "links")?;
            let in0 = base(u.in_links.len(), "incoming-link slots")?;
            let out0 = base(u.out_links.len(), "outgoing-link slots")?;
            let entry0 = base(entries, "turning-table entries")?;
            let origin0 = base(origins, "origins")?;
            let signal0 = base(u.signals.len(), "signals")?;
            let phase0 = base(u.phases.len(), "signal phases")?;
            u.offsets.push(MemberOffsets {
                cell: u.cell_link.len(),
                node: u.nodes.len(),
            });
            u.links.extend(p.links.iter().map(|l| LinkData {
                first_cell: shift(l.first_cell, cell0),
                from_node: shift(l.from_node, node0),
                to_node: shift(l.to_node, node0),
                in_slot: shift(l.in_slot, in0),
                out_slot: shift(l.out_slot, out0),
                ..*l
            }));
            u.cell_link
                .extend(p.cell_link.iter().map(|&l| shift(l, link0)));
            u.nodes.extend(p.nodes.iter().map(|n| NodeData {
                in_off: n.in_off + in0,
                out_off: n.out_off + out0,
                turn_off: n.turn_off + entry0,
                origin: shift(n.origin, origin0),
                signal: shift(n.signal, signal0),
                ..*n
            }));
            u.in_links
                .extend(p.in_links.iter().map(|&l| shift(l, link0)));
            u.out_links
                .extend(p.out_links.iter().map(|&l| shift(l, link0)));
            u.demand.extend_from_slice(&p.demand);
            u.signals.extend(p.signals.iter().map(|s| SignalData {
                phase_off: s.phase_off + phase0,
                ..*s
            }));
            u.phases.extend_from_slice(&p.phases);
            entries += e;
            origins += p.origins.len();
        }
        // turning fractions are slice-major: each slice holds every member's table in turn
        u.turns.reserve(slices * entries * kk);
        for s in 0..slices {
            for p in members {
                let len = p.params.n_turn_entries as usize * kk;
                u.turns.extend_from_slice(&p.turns[s * len..(s + 1) * len]);
            }
        }
        u.params.n_cells = base(u.cell_link.len(), "cells")?;
        u.params.n_nodes = base(u.nodes.len(), "nodes")?;
        u.params.n_turn_entries = base(entries, "turning-table entries")?;
        Ok(u)
    }

    /// The union's step arrays.
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

    /// Where each member's cells and nodes start.
    pub fn offsets(&self) -> &[MemberOffsets] {
        &self.offsets
    }
}

/// Runs batchable `members` as one union, on the GPU when `ctx` is given (else on the CPU
/// twin), and gives each member's run as if it had run alone ([`TrafficProblem::run`]);
/// `progress(intervals done, intervals)` after each output interval of the batch.
pub fn run_batch(
    ctx: Option<&GpuContext>,
    members: &[&TrafficProblem],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<TrafficRun>, GpuError> {
    let Some(first) = members.first() else {
        return Ok(Vec::new());
    };
    let union = Union::new(members).map_err(GpuError::TooLarge)?;
    let placed: Vec<(&TrafficProblem, MemberOffsets)> = members
        .iter()
        .copied()
        .zip(union.offsets().iter().copied())
        .collect();
    let every = first.steps_per_output;
    match ctx {
        Some(ctx) => {
            let mut engine = GpuEngine::from_arrays(ctx, union.arrays())?;
            let engine: &mut dyn StepEngine = &mut engine;
            drive_members(&placed, engine, Some(ctx.report.clone()), every, progress)
        }
        None => {
            let mut engine = CpuEngine::from_arrays(union.arrays());
            drive_members(&placed, &mut engine, None, every, progress)
        }
    }
}

/// Gathers the members a sweep's worker threads run into unions on one GPU.
///
/// Each worker thread holds a [`Worker`] while it takes members; [`Batcher::run`] hands a
/// compiled member in and blocks. When as many members wait as the batch holds, or as there
/// are workers (the others having run out of members), one waiting thread runs them — split
/// into unions of batchable members that fit the device's bindings — and every member gets
/// its own run back. Runs happen one batch at a time, so members of a sweep that arrive
/// together step together, and a sweep's last members are not held back.
pub struct Batcher<'a> {
    ctx: &'a GpuContext,
    capacity: usize,
    gate: Mutex<Gate>,
    turn: Condvar,
}

/// A member's run, or why it failed.
type MemberResult = Result<TrafficRun, String>;

#[derive(Default)]
struct Gate {
    workers: usize,
    next_ticket: u64,
    waiting: Vec<(u64, TrafficProblem)>,
    leading: bool,
    results: HashMap<u64, MemberResult>,
    /// Unions run and members stepped in them (for reports).
    unions: u64,
    members: u64,
}

/// A worker thread's membership of a [`Batcher`]; dropping it (also on unwinding) tells the
/// waiting members not to wait for this thread.
pub struct Worker<'b, 'a> {
    batcher: &'b Batcher<'a>,
}

impl Drop for Worker<'_, '_> {
    fn drop(&mut self) {
        let mut g = self.batcher.lock();
        g.workers = g.workers.saturating_sub(1);
        self.batcher.turn.notify_all();
    }
}

impl<'a> Batcher<'a> {
    /// Up to `capacity` members per union on `ctx`.
    pub fn new(ctx: &'a GpuContext, capacity: usize) -> Self {
        Self {
            ctx,
            capacity: capacity.max(1),
            gate: Mutex::new(Gate::default()),
            turn: Condvar::new(),
        }
    }

    /// Most members per union.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Unions run so far and members stepped in them.
    pub fn occupancy(&self) -> (u64, u64) {
        let g = self.lock();
        (g.unions, g.members)
    }

    fn lock(&self) -> MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the calling thread as a worker until the guard drops.
    pub fn worker(&self) -> Worker<'_, 'a> {
        self.lock().workers += 1;
        Worker { batcher: self }
    }

    /// Runs `problem` in the next batch and gives its run (as [`TrafficProblem::run`] on the
    /// GPU would); errors are the batch's, as text.
    pub fn run(&self, problem: &TrafficProblem) -> Result<TrafficRun, String> {
        let mut g = self.lock();
        let ticket = g.next_ticket;
        g.next_ticket += 1;
        g.waiting.push((ticket, problem.clone()));
        self.turn.notify_all();
        loop {
            if let Some(r) = g.results.remove(&ticket) {
                return r;
            }
            let want = self.capacity.min(g.workers.max(1));
            if !g.leading && g.waiting.len() >= want {
                g.leading = true;
                let mut taken = std::mem::take(&mut g.waiting);
                if taken.len() > self.capacity {
                    g.waiting = taken.split_off(self.capacity);
                }
                drop(g);
                let tickets: Vec<u64> = taken.iter().map(|(t, _)| *t).collect();
                let outcome = catch_unwind(AssertUnwindSafe(|| self.run_taken(&taken)));
                g = self.lock();
                g.leading = false;
                match outcome {
                    Ok((results, unions)) => {
                        g.unions += unions;
                        g.members += results.len() as u64;
                        g.results.extend(results);
                    }
                    Err(_) => {
                        for &t in &tickets {
                            g.results
                                .insert(t, Err("the GPU batch of traffic members panicked".into()));
                        }
                    }
                }
                for t in tickets {
                    g.results.entry(t).or_insert_with(|| {
                        Err("the GPU batch of traffic members gave no run for this member".into())
                    });
                }
                self.turn.notify_all();
                continue;
            }
            g = self.turn.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Splits the taken members into unions (batchable with the union's first member, fitting
    /// the device's binding size) and runs each; gives every ticket its result and the number
    /// of unions run.
    fn run_taken(&self, taken: &[(u64, TrafficProblem)]) -> (Vec<(u64, MemberResult)>, u64) {
        let limit = self.ctx.limits.max_storage_buffer_binding_size;
        let mut groups: Vec<(Vec<usize>, [u64; 3])> = Vec::new();
        for (i, (_, p)) in taken.iter().enumerate() {
            let bytes = p.arrays().binding_bytes().map(|(_, b)| b);
            let fits = |sum: &[u64; 3]| (0..3).all(|k| sum[k] + bytes[k] <= limit);
            match groups
                .iter_mut()
                .find(|(g, sum)| batchable(&taken[g[0]].1, p) && fits(sum))
            {
                Some((g, sum)) => {
                    g.push(i);
                    (0..3).for_each(|k| sum[k] += bytes[k]);
                }
                None => groups.push((vec![i], bytes)),
            }
        }
        let mut out = Vec::with_capacity(taken.len());
        for (g, _) in &groups {
            let members: Vec<&TrafficProblem> = g.iter().map(|&i| &taken[i].1).collect();
            match run_batch(Some(self.ctx), &members, &mut |_, _| {}) {
                Ok(runs) => out.extend(g.iter().map(|&i| taken[i].0).zip(runs.into_iter().map(Ok))),
                Err(e) => out.extend(g.iter().map(|&i| (taken[i].0, Err(e.to_string())))),
            }
        }
        (out, groups.len() as u64)
    }
}
