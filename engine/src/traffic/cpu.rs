//! The CPU twin of `shaders/traffic/*.wgsl`: the same three stages over the same `#[repr(C)]`
//! arrays, in the same f32 operation order, parallel with rayon. Per-node outputs are laid out
//! in node order (`in_links`/`out_links` positions), so every node writes a disjoint slice.

use rayon::prelude::*;

use super::{LinkData, NONE, NodeData, PhaseData, SignalData, StepParams};

/// Vehicle counters are exact integers in units of 2⁻²⁴ vehicle, 64 bits held as (lo, hi) u32
/// words: integer additions cannot be reassociated or contracted by a shader compiler the way
/// a compensated float sum can.
pub const COUNT_SCALE: f32 = 16_777_216.0;

/// Adds `v` vehicles (≥ 0) to a (lo, hi) fixed-point counter.
#[inline]
pub fn count(c: [u32; 2], v: f32) -> [u32; 2] {
    let x = (v.max(0.0) * COUNT_SCALE).round() as u32;
    let lo = c[0].wrapping_add(x);
    [lo, c[1] + u32::from(lo < x)]
}

/// A (lo, hi) fixed-point counter in vehicles.
pub fn counted(lo: u32, hi: u32) -> f64 {
    ((u64::from(hi) << 32) | u64::from(lo)) as f64 / f64::from(COUNT_SCALE)
}

/// Occupancy in PCE of a (car, truck) pair.
#[inline]
pub fn pce(n: [f32; 2], truck_pce: f32) -> f32 {
    (n[0] + truck_pce * n[1]).max(0.0)
}

/// Stage `sending_receiving` (`shaders/traffic/sending_receiving.wgsl`): per cell, what it can
/// send, min(v_f·Δt/ℓ · n, Q·Δt), and receive, min(Q·Δt, w·Δt/ℓ · (N − n)), in PCE.
pub fn sending_receiving(
    p: &StepParams,
    links: &[LinkData],
    cell_link: &[u32],
    state: &[[f32; 2]],
    sr: &mut [[f32; 2]],
) {
    sr.par_iter_mut().enumerate().for_each(|(c, out)| {
        let l = &links[cell_link[c] as usize];
        let n = pce(state[c], p.truck_pce);
        let s = (l.send_ratio * n).min(l.q_step);
        let r = l.q_step.min(l.recv_ratio * (l.jam_cell - n).max(0.0));
        *out = [s, r];
    });
}

/// Read-only inputs of the node stage.
pub struct NodeInputs<'a> {
    /// Kernel constants.
    pub params: &'a StepParams,
    /// Links.
    pub links: &'a [LinkData],
    /// Nodes.
    pub nodes: &'a [NodeData],
    /// Incoming links grouped by node.
    pub in_links: &'a [u32],
    /// Outgoing links grouped by node.
    pub out_links: &'a [u32],
    /// Turning fractions.
    pub turns: &'a [[f32; 2]],
    /// Demand per origin slot and period, vehicles per step.
    pub demand: &'a [[f32; 2]],
    /// Signal plans.
    pub signals: &'a [SignalData],
    /// Phases.
    pub phases: &'a [PhaseData],
    /// Sending/receiving per cell.
    pub sr: &'a [[f32; 2]],
    /// Cell state.
    pub state: &'a [[f32; 2]],
}

/// Mutable per-node outputs of the node stage.
pub struct NodeOutputs<'a> {
    /// Vehicles leaving each incoming link this step (by `in_links` position).
    pub out_flow: &'a mut [[f32; 2]],
    /// Vehicles entering each outgoing link this step (by `out_links` position).
    pub in_flow: &'a mut [[f32; 2]],
    /// Vehicles waiting at each node's origin.
    pub queue: &'a mut [[f32; 2]],
    /// Per node: entered (car lo, hi, truck lo, hi) and exited, fixed point (see [`count`]).
    pub counters: &'a mut [[u32; 4]],
    /// Per node signal state: (phase, steps since it started).
    pub signal_state: &'a mut [[u32; 2]],
}

fn split_by<T>(mut s: &mut [T], counts: impl Iterator<Item = usize>) -> Vec<&mut [T]> {
    let mut out = Vec::new();
    for n in counts {
        let (a, b) = s.split_at_mut(n);
        out.push(a);
        s = b;
    }
    out
}

/// Vehicles per PCE of each class in a (car, truck) pair; all car when empty.
#[inline]
fn per_pce(n: [f32; 2], truck_pce: f32) -> [f32; 2] {
    let t = pce(n, truck_pce);
    if t > 0.0 {
        [n[0].max(0.0) / t, n[1].max(0.0) / t]
    } else {
        [1.0, 0.0]
    }
}

fn occupancy(inp: &NodeInputs<'_>, link: u32) -> f32 {
    let l = &inp.links[link as usize];
    let mut x = 0.0f32;
    for c in l.first_cell..l.first_cell + l.n_cells {
        x += pce(inp.state[c as usize], inp.params.truck_pce);
    }
    x
}

/// Max-pressure of a phase: Σ over its approaches a of Q_a·(x_a − Σ_j β_aj x_j), x the link
/// occupancy in PCE and β the turning fraction mixed by the class mix of a's last cell.
fn pressure(inp: &NodeInputs<'_>, node: &NodeData, ph: &PhaseData) -> f32 {
    let pt = inp.params.truck_pce;
    let cols = node.n_out + 1;
    let mut total = 0.0f32;
    for a in 0..node.n_in {
        if ph.mask & (1 << a) == 0 {
            continue;
        }
        let li = inp.in_links[(node.in_off + a) as usize];
        let l = &inp.links[li as usize];
        let share = per_pce(inp.state[(l.first_cell + l.n_cells - 1) as usize], pt);
        let mut down = 0.0f32;
        for j in 0..node.n_out {
            let b = inp.turns[(node.turn_off + a * cols + j) as usize];
            let beta = share[0] * b[0] + pt * share[1] * b[1];
            if beta > 0.0 {
                down += beta * occupancy(inp, inp.out_links[(node.out_off + j) as usize]);
            }
        }
        total += l.q_step * (occupancy(inp, li) - down);
    }
    total
}

/// The approaches with green at a node this step; updates the max-pressure state.
fn signal_mask(inp: &NodeInputs<'_>, node: &NodeData, clock: u32, st: &mut [u32; 2]) -> u32 {
    if node.signal == NONE {
        return u32::MAX;
    }
    let sig = &inp.signals[node.signal as usize];
    let phases = &inp.phases[sig.phase_off as usize..(sig.phase_off + sig.n_phases) as usize];
    if sig.kind == 0 {
        let t = (clock + sig.offset) % sig.cycle.max(1);
        let mut acc = 0u32;
        for ph in phases {
            if t < acc + ph.green {
                return ph.mask;
            }
            acc += ph.green + sig.lost;
            if t < acc {
                return 0;
            }
        }
        return 0;
    }
    // max-pressure: after the minimum green, the phase with the largest pressure gets the
    // green (the current one keeps it on ties)
    if st[1] >= sig.lost + sig.min_green {
        let mut best = st[0];
        let mut best_p = pressure(inp, node, &phases[st[0] as usize]);
        for (p, ph) in phases.iter().enumerate() {
            let pr = pressure(inp, node, ph);
            if pr > best_p {
                best = p as u32;
                best_p = pr;
            }
        }
        if best != st[0] {
            st[0] = best;
            st[1] = 0;
        }
    }
    let mask = if st[1] >= sig.lost {
        phases[st[0] as usize].mask
    } else {
        0
    };
    st[1] = st[1].saturating_add(1);
    mask
}

/// One node: merge/diverge of everything that wants to cross it this step.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn node_flow(
    inp: &NodeInputs<'_>,
    n: usize,
    clock: u32,
    out_flow: &mut [[f32; 2]],
    in_flow: &mut [[f32; 2]],
    queue: &mut [f32; 2],
    counters: &mut [[u32; 4]],
    st: &mut [u32; 2],
) {
    const MAX: usize = super::network::MAX_DEGREE + 1;
    let p = inp.params;
    let pt = p.truck_pce;
    let node = &inp.nodes[n];
    let (n_in, n_out) = (node.n_in as usize, node.n_out as usize);
    let cols = n_out + 1;
    let mask = signal_mask(inp, node, clock, st);

    // origin: demand arrives into the queue
    let mut q = *queue;
    if node.origin != NONE {
        let period = clock / p.steps_per_period.max(1);
        if period < p.n_periods {
            let d = inp.demand[(node.origin * p.n_periods + period) as usize];
            q = [q[0] + d[0], q[1] + d[1]];
        }
    }
    // sending of each incoming row (the last row is the origin), its per-PCE class mix
    let mut send = [0.0f32; MAX];
    let mut mix = [[0.0f32; 2]; MAX];
    for a in 0..n_in {
        let l = &inp.links[inp.in_links[node.in_off as usize + a] as usize];
        let last = (l.first_cell + l.n_cells - 1) as usize;
        mix[a] = per_pce(inp.state[last], pt);
        send[a] = if mask & (1 << a) != 0 {
            inp.sr[last][0]
        } else {
            0.0
        };
    }
    mix[n_in] = per_pce(q, pt);
    let mut cap = 0.0f32;
    for j in 0..n_out {
        cap = cap.max(inp.links[inp.out_links[node.out_off as usize + j] as usize].q_step);
    }
    send[n_in] = pce(q, pt).min(cap);

    // demand on each outgoing link, and the share of it each can take
    let mut want = [0.0f32; MAX];
    for a in 0..=n_in {
        for (j, w) in want.iter_mut().enumerate().take(cols) {
            let b = inp.turns[node.turn_off as usize + a * cols + j];
            let beta = mix[a][0] * b[0] + pt * mix[a][1] * b[1];
            *w += beta * send[a];
        }
    }
    let mut ratio = [1.0f32; MAX];
    for j in 0..n_out {
        let l = &inp.links[inp.out_links[node.out_off as usize + j] as usize];
        let r = inp.sr[l.first_cell as usize][1];
        if want[j] > r {
            ratio[j] = r / want[j];
        }
    }
    // FIFO: each row moves at the tightest ratio among the links it feeds
    let mut into = [[0.0f32; 2]; MAX];
    for a in 0..=n_in {
        let mut phi = 1.0f32;
        for j in 0..cols {
            let b = inp.turns[node.turn_off as usize + a * cols + j];
            if b[0] > 0.0 || b[1] > 0.0 {
                phi = phi.min(ratio[j]);
            }
        }
        let y = phi * send[a];
        let mut left = [0.0f32; 2];
        for (j, dst) in into.iter_mut().enumerate().take(cols) {
            let b = inp.turns[node.turn_off as usize + a * cols + j];
            let m = [y * mix[a][0] * b[0], y * mix[a][1] * b[1]];
            dst[0] += m[0];
            dst[1] += m[1];
            left[0] += m[0];
            left[1] += m[1];
        }
        if a < n_in {
            out_flow[a] = left;
        } else {
            q = [q[0] - left[0], q[1] - left[1]];
            let e = &mut counters[0];
            let car = count([e[0], e[1]], left[0]);
            let truck = count([e[2], e[3]], left[1]);
            *e = [car[0], car[1], truck[0], truck[1]];
        }
    }
    in_flow[..n_out].copy_from_slice(&into[..n_out]);
    let x = &mut counters[1];
    let car = count([x[0], x[1]], into[n_out][0]);
    let truck = count([x[2], x[3]], into[n_out][1]);
    *x = [car[0], car[1], truck[0], truck[1]];
    *queue = q;
}

/// Stage `node_flows` (`shaders/traffic/node_flows.wgsl`): per node, signals, origin demand,
/// the proportional merge and the FIFO diverge.
pub fn node_flows(inp: &NodeInputs<'_>, out: NodeOutputs<'_>, clock: u32) {
    let outs = split_by(out.out_flow, inp.nodes.iter().map(|n| n.n_in as usize));
    let ins = split_by(out.in_flow, inp.nodes.iter().map(|n| n.n_out as usize));
    outs.into_par_iter()
        .zip(ins)
        .zip(out.queue.par_iter_mut())
        .zip(out.counters.par_chunks_mut(2))
        .zip(out.signal_state.par_iter_mut())
        .enumerate()
        .for_each(|(n, ((((of, inf), q), c), st))| {
            node_flow(inp, n, clock, of, inf, q, c, st);
        });
}

/// Stage `update_cells` (`shaders/traffic/update_cells.wgsl`): per cell, n' = n + in − out,
/// with flows inside a link min(S_up, R_down) split by the sending cell's class mix (never more
/// of a class than the cell holds), and the node flows at the link ends; accumulates vehicle-seconds and vehicle-metres per class.
#[allow(clippy::too_many_arguments)]
pub fn update_cells(
    p: &StepParams,
    links: &[LinkData],
    cell_link: &[u32],
    sr: &[[f32; 2]],
    out_flow: &[[f32; 2]],
    in_flow: &[[f32; 2]],
    state: &[[f32; 2]],
    next: &mut [[f32; 2]],
    stats: &mut [[f32; 4]],
) {
    let pt = p.truck_pce;
    next.par_iter_mut()
        .zip(stats.par_iter_mut())
        .enumerate()
        .for_each(|(c, (nx, acc))| {
            let l = &links[cell_link[c] as usize];
            let k = c as u32 - l.first_cell;
            let n = state[c];
            let inflow = if k == 0 {
                in_flow[l.out_slot as usize]
            } else {
                let up = state[c - 1];
                let y = sr[c - 1][0].min(sr[c][1]);
                let m = per_pce(up, pt);
                [(y * m[0]).min(up[0]), (y * m[1]).min(up[1])]
            };
            let outflow = if k + 1 == l.n_cells {
                out_flow[l.in_slot as usize]
            } else {
                let y = sr[c][0].min(sr[c + 1][1]);
                let m = per_pce(n, pt);
                [(y * m[0]).min(n[0]), (y * m[1]).min(n[1])]
            };
            // no clamp at zero: it would create vehicles from rounding residues
            let v = [n[0] + inflow[0] - outflow[0], n[1] + inflow[1] - outflow[1]];
            *nx = v;
            acc[0] += v[0] * p.dt;
            acc[1] += v[1] * p.dt;
            acc[2] += outflow[0] * l.cell_len;
            acc[3] += outflow[1] * l.cell_len;
        });
}
