//! Ensembles: N members of a mine scenario with perturbed branch resistances and gas makes; the
//! airflow of each member solved on the CPU (Newton, small systems), then all members' gas
//! transport advanced together — one batched GPU dispatch per stage and step
//! (`shaders/mine/{advect,mix,sample}.wgsl`) or the CPU twin here (rayon over members, the same
//! f32 operations in the same order). Out: the probability that each working place is at or
//! above 1.0 % and 1.5 % CH₄ at each output time.
//!
//! Distributions (stated, seeded): each branch's resistance × exp(σ_R·Z), σ_R = 0.10 (a
//! lognormal with median 1, about ±10 % — survey scatter of Atkinson resistances); each gas
//! source's rate × exp(σ_G·Z), σ_G = 0.25 (gas make is the least certain input); Z standard
//! normal (Box–Muller on the member's own SplitMix64 stream, seeded by seed and member). Member 0 is the
//! unperturbed scenario.
//!
//! Time: one step for all members, dt = output interval / ⌈output interval / dt_CFL⌉ with
//! dt_CFL the smallest stable step over all members and airflow states, so outputs fall on
//! steps; events and source-rate steps take effect at the first step boundary at or after their
//! time (at most one step late); an outburst is its volume spread over one step.

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::airflow::{AirflowError, Operating};
use super::gas::{EventKind, MineScenario, cells_of, solve};
use super::network::MineNetwork;
use crate::gpu::{self, GpuContext, GpuError, Kernel};
use crate::traffic::synthetic::SplitMix64;

/// What the ensemble stages bind.
pub const GPU_LIMITS: crate::gpu::shaders::StageLimits = crate::gpu::shaders::StageLimits {
    max_storage_buffers_per_shader_stage: 6,
    max_uniform_buffers_per_shader_stage: 1,
};

/// σ of ln(resistance factor).
pub const SIGMA_RESISTANCE: f64 = 0.10;
/// σ of ln(gas-make factor).
pub const SIGMA_GAS: f64 = 0.25;
/// Most members.
pub const MAX_MEMBERS: usize = 100_000;

/// Shared with WGSL (`shaders/mine/common.wgsl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct Params {
    /// Members.
    pub n_members: u32,
    /// Branches.
    pub n_branches: u32,
    /// Cells of one member.
    pub n_cells: u32,
    /// Working places sampled.
    pub n_places: u32,
    /// Step, s.
    pub dt: f32,
    /// Output index the sample stage writes.
    pub out_idx: u32,
    /// The atmosphere node (u32::MAX: none).
    pub atmosphere: u32,
    /// Nodes.
    pub n_nodes: u32,
}

/// Shared with WGSL.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq)]
pub struct BranchData {
    /// First cell.
    pub first_cell: u32,
    /// Cells.
    pub n_cells: u32,
    /// Solver node of `from`.
    pub from_node: u32,
    /// Solver node of `to`.
    pub to_node: u32,
}

/// A change of flows or source rates at a step.
#[derive(Debug, Clone)]
struct Change {
    step: u64,
    flows: Option<Vec<f32>>,
    rates: Option<Vec<f32>>,
}

/// Everything both backends need: geometry, topology, and the schedule of flows and rates.
#[derive(Debug, Clone)]
pub struct EnsembleProblem {
    /// Uniform parameters (out_idx set per output).
    pub params: Params,
    /// Branches.
    pub branches: Vec<BranchData>,
    /// Cell volume per branch, m³.
    pub volume: Vec<f32>,
    /// CSR of the branches incident to each node.
    pub node_start: Vec<u32>,
    /// Incident branches.
    pub node_branch: Vec<u32>,
    /// Working places (branch indices).
    pub places: Vec<u32>,
    /// Steps in all.
    pub steps: u64,
    /// Steps per output.
    pub steps_per_output: u64,
    /// Outputs (including time 0).
    pub outputs: usize,
    changes: Vec<Change>,
}

/// One member's perturbation factors: per branch (resistance) and per source (gas make).
pub fn member_factors(
    net: &MineNetwork,
    sc: &MineScenario,
    seed: u64,
    member: usize,
) -> (Vec<f64>, Vec<f64>) {
    if member == 0 {
        return (vec![1.0; net.branches.len()], vec![1.0; sc.sources.len()]);
    }
    let mut rng =
        SplitMix64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (member as u64).rotate_left(32));
    let r = (0..net.branches.len())
        .map(|_| (SIGMA_RESISTANCE * rng.normal()).exp())
        .collect();
    let g = (0..sc.sources.len())
        .map(|_| (SIGMA_GAS * rng.normal()).exp())
        .collect();
    (r, g)
}

impl EnsembleProblem {
    /// Builds the problem: solves every member's airflow at every airflow state of the scenario.
    pub fn new(
        net: &MineNetwork,
        sc: &MineScenario,
        members: usize,
        seed: u64,
    ) -> Result<Self, AirflowError> {
        let (node, nodes, atm) = net.nodes();
        let nb = net.branches.len();
        let mut branches = Vec::with_capacity(nb);
        let mut volume = Vec::with_capacity(nb);
        let mut first = 0u32;
        for b in &net.branches {
            let n = cells_of(b.length_m, sc.cell_length_m) as u32;
            branches.push(BranchData {
                first_cell: first,
                n_cells: n,
                from_node: node[b.from] as u32,
                to_node: node[b.to] as u32,
            });
            volume.push((b.area_m2 * b.length_m / f64::from(n)) as f32);
            first += n;
        }
        let mut incident: Vec<Vec<u32>> = vec![Vec::new(); nodes];
        for (k, b) in branches.iter().enumerate() {
            incident[b.from_node as usize].push(k as u32);
            if b.to_node != b.from_node {
                incident[b.to_node as usize].push(k as u32);
            }
        }
        let mut node_start = vec![0u32];
        let mut node_branch = Vec::new();
        for list in &incident {
            node_branch.extend_from_slice(list);
            node_start.push(node_branch.len() as u32);
        }
        let places: Vec<u32> = (0..nb)
            .filter(|&b| net.branches[b].kind.is_working_place())
            .map(|b| b as u32)
            .collect();
        // airflow states: the design, then after each event that changes the airflow
        let mut states: Vec<(f64, Operating)> = vec![(0.0, Operating::design(net))];
        for e in &sc.events {
            if e.kind.changes_airflow() {
                let mut op = states
                    .last()
                    .map(|s| s.1.clone())
                    .unwrap_or_else(|| Operating::design(net));
                op.apply(e.kind);
                states.push((e.time_min * 60.0, op));
            }
        }
        let factors: Vec<(Vec<f64>, Vec<f64>)> = (0..members)
            .map(|m| member_factors(net, sc, seed, m))
            .collect();
        // flows[state][member × branch]
        let flows: Vec<Vec<f32>> = states
            .iter()
            .map(|(_, op)| {
                let per: Result<Vec<Vec<f32>>, AirflowError> = factors
                    .par_iter()
                    .map(|(rf, _)| {
                        let mut o = op.clone();
                        for (r, f) in o.resistance.iter_mut().zip(rf) {
                            *r *= f;
                        }
                        solve(net, &o).map(|a| a.flows.iter().map(|&q| q as f32).collect())
                    })
                    .collect();
                per.map(|v| v.concat())
            })
            .collect::<Result<_, _>>()?;
        let dt_cfl = flows
            .iter()
            .flat_map(|f| f.chunks(nb))
            .flat_map(|fm| {
                fm.iter()
                    .zip(&volume)
                    .filter(|(q, _)| q.abs() > 0.0)
                    .map(|(q, v)| f64::from(*v) / f64::from(q.abs()))
            })
            .fold(f64::INFINITY, f64::min);
        let out_dt = sc.output_interval_s;
        let per_out = (out_dt / dt_cfl.min(out_dt)).ceil().max(1.0) as u64;
        let dt = out_dt / per_out as f64;
        let outputs_f = (sc.duration_min * 60.0 / out_dt).floor();
        let steps = outputs_f as u64 * per_out;
        let at_step = |t_s: f64| (t_s / dt - 1e-9).ceil().max(0.0) as u64;
        // source-rate change times (minutes): step-series boundaries, production events, outbursts
        let rates_at = |t_min: f64, pulse: Option<(usize, f64)>| -> Vec<f32> {
            let mut factor = vec![1.0; nb];
            for e in sc.events.iter().filter(|e| e.time_min <= t_min + 1e-12) {
                if let EventKind::Production(b, x) = e.kind {
                    factor[b] = x;
                }
            }
            let mut out = vec![0.0f32; members * nb * 2];
            for (m, (_, gf)) in factors.iter().enumerate() {
                for (s, src) in sc.sources.iter().enumerate() {
                    let rate = src.rate_at(t_min) * factor[src.branch] * gf[s] / 60.0;
                    out[(m * nb + src.branch) * 2 + src.gas.index()] += rate as f32;
                }
                if let Some((b, v)) = pulse {
                    out[(m * nb + b) * 2] += (v / dt) as f32;
                }
            }
            out
        };
        let mut times: Vec<f64> = vec![0.0];
        for s in &sc.sources {
            times.extend(s.steps.iter().map(|x| x.0));
        }
        for e in &sc.events {
            if matches!(e.kind, EventKind::Production(..) | EventKind::Outburst(..)) {
                times.push(e.time_min);
            }
        }
        let mut changes: Vec<Change> = Vec::new();
        let mut push = |step: u64, flows: Option<Vec<f32>>, rates: Option<Vec<f32>>| match changes
            .iter_mut()
            .find(|c| c.step == step)
        {
            Some(c) => {
                if flows.is_some() {
                    c.flows = flows;
                }
                if rates.is_some() {
                    c.rates = rates;
                }
            }
            None => changes.push(Change { step, flows, rates }),
        };
        for (k, (t, _)) in states.iter().enumerate() {
            push(at_step(*t), Some(flows[k].clone()), None);
        }
        times.sort_by(f64::total_cmp);
        times.dedup();
        for t in &times {
            let s = at_step(t * 60.0);
            // the rates holding from that step on (an outburst there lasts one step)
            let t_eff = s as f64 * dt / 60.0;
            push(s, None, Some(rates_at(t_eff.max(*t), None)));
        }
        for e in &sc.events {
            if let EventKind::Outburst(b, v) = e.kind {
                let s = at_step(e.time_min * 60.0);
                let t_eff = (s as f64 * dt / 60.0).max(e.time_min);
                push(s, None, Some(rates_at(t_eff, Some((b, v)))));
                push(s + 1, None, Some(rates_at(t_eff + dt / 60.0, None)));
            }
        }
        changes.sort_by_key(|c| c.step);
        Ok(Self {
            params: Params {
                n_members: members as u32,
                n_branches: nb as u32,
                n_cells: first,
                n_places: places.len() as u32,
                dt: dt as f32,
                out_idx: 0,
                atmosphere: atm.map_or(u32::MAX, |a| a as u32),
                n_nodes: nodes as u32,
            },
            branches,
            volume,
            node_start,
            node_branch,
            places,
            steps,
            steps_per_output: per_out,
            outputs: outputs_f as usize + 1,
            changes,
        })
    }

    /// Members × cells × gases of state, f32.
    pub fn state_len(&self) -> usize {
        2 * self.params.n_members as usize * self.params.n_cells as usize
    }
}

/// The ensemble's result: CH₄ at each working place, member and output time.
#[derive(Debug, Clone)]
pub struct EnsembleRun {
    /// `(output × members + member) × places + place`, % CH₄.
    pub samples: Vec<f32>,
    /// Member-steps per wall second of the transport (airflow solves not counted).
    pub member_steps_per_s: f64,
    /// Wall time of the transport, s.
    pub transport_s: f64,
    /// `cpu` or `gpu`.
    pub backend: String,
}

impl EnsembleRun {
    /// Share of members at or above `level` % at each (output, place).
    pub fn exceedance(&self, p: &EnsembleProblem, level: f32) -> Vec<f64> {
        let (m, np) = (p.params.n_members as usize, p.params.n_places as usize);
        let mut out = vec![0.0; p.outputs * np];
        for o in 0..p.outputs {
            for k in 0..np {
                let n = (0..m)
                    .filter(|&mm| self.samples[(o * m + mm) * np + k] >= level)
                    .count();
                out[o * np + k] = n as f64 / m as f64;
            }
        }
        out
    }
}

/// CPU twin of `mine/advect` for one member (its slices of every array).
fn advect(
    p: &EnsembleProblem,
    flows: &[f32],
    rates: &[f32],
    state: [&mut [f32]; 2],
    outflux: [&mut [f32]; 2],
) {
    let dt = p.params.dt;
    let [s0, s1] = state;
    let [o0, o1] = outflux;
    let st = [s0, s1];
    let of = [o0, o1];
    for (b, br) in p.branches.iter().enumerate() {
        let q = flows[b];
        let frac = q.abs() * dt / p.volume[b];
        for g in 0..2 {
            let s = &mut *st[g];
            let base = br.first_cell as usize;
            let last = base + br.n_cells as usize - 1;
            let mut leaving = 0.0f32;
            if q > 0.0 {
                let mut carried = s[last] * frac;
                s[last] -= carried;
                leaving = carried;
                for k in (1..br.n_cells as usize).rev() {
                    carried = s[base + k - 1] * frac;
                    s[base + k - 1] -= carried;
                    s[base + k] += carried;
                }
            } else if q < 0.0 {
                let mut carried = s[base] * frac;
                s[base] -= carried;
                leaving = carried;
                for k in 1..br.n_cells as usize {
                    carried = s[base + k] * frac;
                    s[base + k] -= carried;
                    s[base + k - 1] += carried;
                }
            }
            // the sources' release over the step ends in the upstream cell
            let src = rates[b * 2 + g] * dt;
            if q >= 0.0 {
                s[base] += src;
            } else {
                s[last] += src;
            }
            of[g][b] = leaving;
        }
    }
}

/// CPU twin of `mine/mix` for one member.
fn mix(p: &EnsembleProblem, flows: &[f32], outflux: [&[f32]; 2], state: [&mut [f32]; 2]) {
    let [s0, s1] = state;
    for (b, br) in p.branches.iter().enumerate() {
        let q = flows[b];
        if q == 0.0 {
            continue;
        }
        let u = if q > 0.0 { br.from_node } else { br.to_node };
        if u == p.params.atmosphere {
            continue;
        }
        let (mut a0, mut a1, mut out_sum) = (0.0f32, 0.0f32, 0.0f32);
        for k in p.node_start[u as usize]..p.node_start[u as usize + 1] {
            let j = p.node_branch[k as usize] as usize;
            let qj = flows[j];
            let bj = &p.branches[j];
            let inflow = (qj > 0.0 && bj.to_node == u) || (qj < 0.0 && bj.from_node == u);
            let outflow = (qj > 0.0 && bj.from_node == u) || (qj < 0.0 && bj.to_node == u);
            if inflow {
                a0 += outflux[0][j];
                a1 += outflux[1][j];
            }
            if outflow {
                out_sum += qj.abs();
            }
        }
        let share = q.abs() / out_sum;
        let mut head = br.first_cell as usize;
        if q < 0.0 {
            head += br.n_cells as usize - 1;
        }
        s0[head] += a0 * share;
        s1[head] += a1 * share;
    }
}

/// CPU twin of `mine/sample` for one member: CH₄ % at each place.
fn sample(p: &EnsembleProblem, flows: &[f32], state0: &[f32], out: &mut [f32]) {
    for (k, &b) in p.places.iter().enumerate() {
        let br = &p.branches[b as usize];
        let cell = if flows[b as usize] >= 0.0 {
            br.first_cell + br.n_cells - 1
        } else {
            br.first_cell
        } as usize;
        let r = state0[cell] / p.volume[b as usize];
        out[k] = 100.0 * r / (1.0 + r);
    }
}

/// Runs the ensemble on the CPU twin (rayon over members).
pub fn run_cpu(p: &EnsembleProblem) -> EnsembleRun {
    let started = std::time::Instant::now();
    let (m, nb, nc, np) = (
        p.params.n_members as usize,
        p.params.n_branches as usize,
        p.params.n_cells as usize,
        p.params.n_places as usize,
    );
    let mut samples = vec![0.0f32; p.outputs * m * np];
    // per member: its flows and rates over time follow the shared schedule
    let per_member: Vec<Vec<f32>> = (0..m)
        .into_par_iter()
        .map(|mm| {
            let mut flows = vec![0.0f32; nb];
            let mut rates = vec![0.0f32; nb * 2];
            let mut s0 = vec![0.0f32; nc];
            let mut s1 = vec![0.0f32; nc];
            let mut o0 = vec![0.0f32; nb];
            let mut o1 = vec![0.0f32; nb];
            let mut out = vec![0.0f32; p.outputs * np];
            let mut next_change = 0usize;
            for step in 0..=p.steps {
                while next_change < p.changes.len() && p.changes[next_change].step == step {
                    let c = &p.changes[next_change];
                    if let Some(f) = &c.flows {
                        flows.copy_from_slice(&f[mm * nb..(mm + 1) * nb]);
                    }
                    if let Some(r) = &c.rates {
                        rates.copy_from_slice(&r[mm * nb * 2..(mm + 1) * nb * 2]);
                    }
                    next_change += 1;
                }
                if step.is_multiple_of(p.steps_per_output) {
                    let o = (step / p.steps_per_output) as usize;
                    sample(p, &flows, &s0, &mut out[o * np..(o + 1) * np]);
                }
                if step == p.steps {
                    break;
                }
                advect(p, &flows, &rates, [&mut s0, &mut s1], [&mut o0, &mut o1]);
                mix(p, &flows, [&o0, &o1], [&mut s0, &mut s1]);
            }
            out
        })
        .collect();
    for (mm, out) in per_member.iter().enumerate() {
        for o in 0..p.outputs {
            samples[(o * m + mm) * np..(o * m + mm + 1) * np]
                .copy_from_slice(&out[o * np..(o + 1) * np]);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    EnsembleRun {
        samples,
        member_steps_per_s: (m as u64 * p.steps) as f64 / secs.max(1e-9),
        transport_s: secs,
        backend: "cpu".into(),
    }
}

/// Steps recorded into one submission.
const STEPS_PER_SUBMIT: u64 = 512;

/// Runs the ensemble on the GPU: all members in one dispatch per stage and step.
pub fn run_gpu(ctx: &GpuContext, p: &EnsembleProblem) -> Result<EnsembleRun, GpuError> {
    let (m, nb, np) = (
        p.params.n_members as usize,
        p.params.n_branches as usize,
        p.params.n_places as usize,
    );
    let limit = ctx.limits.max_storage_buffer_binding_size;
    let bytes = (p.state_len() * 4) as u64;
    if bytes > limit {
        return Err(GpuError::TooLarge(format!(
            "{m} members × {} cells need {bytes} bytes of state; the adapter binds at most {limit}",
            p.params.n_cells
        )));
    }
    let started = std::time::Instant::now();
    let first = p.changes.first();
    let params = ctx.uniform("mine-params", &p.params);
    let branches = ctx.storage("mine-branches", &p.branches);
    let volume = ctx.storage("mine-volume", &p.volume);
    let flows = ctx.storage(
        "mine-flows",
        first
            .and_then(|c| c.flows.as_deref())
            .unwrap_or(&vec![0.0f32; m * nb]),
    );
    let rates = ctx.storage(
        "mine-rates",
        first
            .and_then(|c| c.rates.as_deref())
            .unwrap_or(&vec![0.0f32; m * nb * 2]),
    );
    let state = ctx.storage_zeroed::<f32>("mine-state", p.state_len());
    let outflux = ctx.storage_zeroed::<f32>("mine-outflux", 2 * m * nb);
    let node_start = ctx.storage("mine-node-start", &p.node_start);
    let node_branch = ctx.storage(
        "mine-node-branch",
        &if p.node_branch.is_empty() {
            vec![0]
        } else {
            p.node_branch.clone()
        },
    );
    let places = ctx.storage(
        "mine-places",
        &if p.places.is_empty() {
            vec![0]
        } else {
            p.places.clone()
        },
    );
    let samples = ctx.storage_zeroed::<f32>("mine-samples", (p.outputs * m * np).max(1));
    let kernels: [Kernel; 3] = [
        ctx.kernel(&gpu::shaders::MINE_ADVECT),
        ctx.kernel(&gpu::shaders::MINE_MIX),
        ctx.kernel(&gpu::shaders::MINE_SAMPLE),
    ];
    let g_advect = ctx.bind(
        &kernels[0],
        &[
            &params, &branches, &volume, &flows, &rates, &state, &outflux,
        ],
    );
    let g_mix = ctx.bind(
        &kernels[1],
        &[
            &params,
            &branches,
            &flows,
            &outflux,
            &node_start,
            &node_branch,
            &state,
        ],
    );
    let g_sample = ctx.bind(
        &kernels[2],
        &[
            &params, &branches, &volume, &flows, &places, &state, &samples,
        ],
    );
    let branch_groups = gpu::groups_2d(m * nb, 64);
    let place_groups = gpu::groups_2d(m * np, 64);
    let mut next_change = 0usize;
    let mut step = 0u64;
    let mut enc = ctx.encoder();
    let mut recorded = 0u64;
    loop {
        // a change or an output needs the recorded steps submitted first (writes are ordered
        // before the next submission only)
        let change_now = next_change < p.changes.len() && p.changes[next_change].step == step;
        let output_now = step.is_multiple_of(p.steps_per_output);
        if change_now || output_now || recorded >= STEPS_PER_SUBMIT {
            ctx.submit(std::mem::replace(&mut enc, ctx.encoder()));
            recorded = 0;
        }
        while next_change < p.changes.len() && p.changes[next_change].step == step {
            let c = &p.changes[next_change];
            if let Some(f) = &c.flows {
                ctx.write(&flows, f);
            }
            if let Some(r) = &c.rates {
                ctx.write(&rates, r);
            }
            next_change += 1;
        }
        if output_now {
            let mut prm = p.params;
            prm.out_idx = (step / p.steps_per_output) as u32;
            ctx.write(&params, std::slice::from_ref(&prm));
            kernels[2].dispatch(&mut enc, &g_sample, place_groups);
            // the sample must run before params change again
            ctx.submit(std::mem::replace(&mut enc, ctx.encoder()));
        }
        if step == p.steps {
            break;
        }
        kernels[0].dispatch(&mut enc, &g_advect, branch_groups);
        kernels[1].dispatch(&mut enc, &g_mix, branch_groups);
        recorded += 1;
        step += 1;
    }
    ctx.submit(enc);
    let samples = ctx.read::<f32>(&samples)?;
    let secs = started.elapsed().as_secs_f64();
    Ok(EnsembleRun {
        samples: samples[..p.outputs * m * np].to_vec(),
        member_steps_per_s: (m as u64 * p.steps) as f64 / secs.max(1e-9),
        transport_s: secs,
        backend: "gpu".into(),
    })
}
