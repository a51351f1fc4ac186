//! The CPU twin of `shaders/traffic/*.wgsl`: the same three stages over the same `#[repr(C)]`
//! arrays, in the same f32 operation order, parallel with rayon. Per-node outputs are laid out
//! in node order (`in_links`/`out_links` positions), so every node writes a disjoint slice.

use rayon::prelude::*;

use super::engine::StepArrays;
use super::{LinkData, MAX_COMMODITIES, NONE, NodeData, PhaseData, StepParams};

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

/// PCE of commodity `k` (bit k of `truck_mask` set: a truck).
#[inline]
pub fn comm_pce(p: &StepParams, k: usize) -> f32 {
    if p.truck_mask & (1 << k) != 0 {
        p.truck_pce
    } else {
        1.0
    }
}

/// Occupancy in PCE of one cell's (or queue's) commodities.
#[inline]
pub fn pce(p: &StepParams, n: &[f32]) -> f32 {
    let mut t = 0.0f32;
    for (k, v) in n.iter().enumerate() {
        t += comm_pce(p, k) * *v;
    }
    t.max(0.0)
}

/// What a cell of link `l` can send, in PCE, before the capacity cap: Σ_k r_k·pce_k·n_k with
/// r_k the commodity's class send ratio (v·Δt/ℓ; trucks at their own free-flow speed).
#[inline]
fn send_potential(p: &StepParams, l: &LinkData, n: &[f32]) -> f32 {
    let mut t = 0.0f32;
    for (k, v) in n.iter().enumerate() {
        t += class_ratio(p, l, k) * comm_pce(p, k) * v.max(0.0);
    }
    t
}

#[inline]
fn class_ratio(p: &StepParams, l: &LinkData, k: usize) -> f32 {
    if p.truck_mask & (1 << k) != 0 {
        l.truck_send_ratio
    } else {
        l.send_ratio
    }
}

/// What a row sends before the capacity cap, the denominator of [`share`]: a cell of link `l`,
/// Σ_k r_k·pce_k·n_k ([`send_potential`]); an origin queue (`l = None`), its PCE.
#[inline]
pub fn row_total(p: &StepParams, l: Option<&LinkData>, n: &[f32]) -> f32 {
    match l {
        Some(l) => send_potential(p, l, n),
        None => pce(p, n),
    }
}

/// Vehicles of commodity `k` per PCE of what a row sends, `t` its [`row_total`]:
/// r_k·n_k / t (the faster class leaves a free-flowing cell first; in a queue the whole cell
/// is held by supply, with this same split); an origin queue, n_k / t.
#[inline]
pub fn share(p: &StepParams, l: Option<&LinkData>, n: &[f32], k: usize, t: f32) -> f32 {
    if t > 0.0 {
        match l {
            Some(l) => class_ratio(p, l, k) * n[k].max(0.0) / t,
            None => n[k].max(0.0) / t,
        }
    } else {
        0.0
    }
}

/// Stage `sending_receiving` (`shaders/traffic/sending_receiving.wgsl`): per cell, what it can
/// send, min(Σ_k v_k·Δt/ℓ · pce_k·n_k, Q·Δt), and receive, min(Q·Δt, w·Δt/ℓ · (N − n)), in PCE.
pub fn sending_receiving(
    p: &StepParams,
    links: &[LinkData],
    cell_link: &[u32],
    state: &[f32],
    sr: &mut [[f32; 2]],
) {
    let kk = p.n_comm as usize;
    sr.par_iter_mut().enumerate().for_each(|(c, out)| {
        let l = &links[cell_link[c] as usize];
        let n = &state[c * kk..(c + 1) * kk];
        let s = send_potential(p, l, n).min(l.q_step);
        let r = l
            .q_step
            .min(l.recv_ratio * (l.jam_cell - pce(p, n)).max(0.0));
        *out = [s, r];
    });
}

/// Read-only inputs of the node stage.
pub struct NodeInputs<'a> {
    /// The network's arrays (one problem's or a batch's union).
    pub arrays: StepArrays<'a>,
    /// Sending/receiving per cell.
    pub sr: &'a [[f32; 2]],
    /// Cell state, K commodities per cell.
    pub state: &'a [f32],
}

/// Mutable per-node outputs of the node stage.
pub struct NodeOutputs<'a> {
    /// Vehicles leaving each incoming link this step (by `in_links` position), per commodity.
    pub out_flow: &'a mut [f32],
    /// Vehicles entering each outgoing link this step (by `out_links` position), per commodity.
    pub in_flow: &'a mut [f32],
    /// Vehicles waiting at each node's origin, per commodity.
    pub queue: &'a mut [f32],
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

fn occupancy(inp: &NodeInputs<'_>, link: u32) -> f32 {
    let kk = inp.arrays.params.n_comm as usize;
    let l = &inp.arrays.links[link as usize];
    let mut x = 0.0f32;
    for c in l.first_cell..l.first_cell + l.n_cells {
        let c = c as usize;
        x += pce(inp.arrays.params, &inp.state[c * kk..(c + 1) * kk]);
    }
    x
}

/// Offset of a node's turning table in the current routing slice.
#[inline]
fn slice_offset(p: &StepParams, clock: u32) -> usize {
    let s = (clock / p.steps_per_slice.max(1)).min(p.n_slices.max(1) - 1);
    s as usize * p.n_turn_entries as usize
}

/// The PCE turning fraction of row `a` (its sending cell `n`, or the origin queue) to column
/// `j`: Σ_k share_k·pce_k·β_k(a, j).
#[inline]
fn row_beta(inp: &NodeInputs<'_>, l: Option<&LinkData>, n: &[f32], t: f32, entry: usize) -> f32 {
    let p = inp.arrays.params;
    let kk = p.n_comm as usize;
    let mut b = 0.0f32;
    for k in 0..kk {
        let s = share(p, l, n, k, t);
        if s > 0.0 {
            b += s * comm_pce(p, k) * inp.arrays.turns[entry * kk + k];
        }
    }
    b
}

/// Max-pressure of a phase with storage-normalised occupancies (the capacity-aware
/// back-pressure of Gregoire, Qian, Frazzoli, de La Fortelle & Wongpiromsarn 2015): Σ over its
/// approaches a of Q_a·(x_a/N_a − Σ_j β_aj·x_j/N_j), x the link occupancy and N its jam storage
/// in PCE, β the PCE turning fraction of a's sending cell — a short link near its storage
/// presses harder than a long one with the same queue, and a full exit stops the pressure.
/// An approach served for some movements only counts those: Q_a·(g_a·x_a/N_a − Σ_{j green}
/// β_aj·x_j/N_j), g_a the PCE share of its green movements.
fn pressure(inp: &NodeInputs<'_>, node: &NodeData, ph: &PhaseData, turn0: usize) -> f32 {
    let kk = inp.arrays.params.n_comm as usize;
    let cols = node.n_out + 1;
    let full = full_cols(node);
    let mut total = 0.0f32;
    for a in 0..node.n_in {
        if ph.mask & (1 << a) == 0 {
            continue;
        }
        let allowed = ph.cols[a as usize];
        let li = inp.arrays.in_links[(node.in_off + a) as usize];
        let l = &inp.arrays.links[li as usize];
        let last = (l.first_cell + l.n_cells - 1) as usize;
        let n = &inp.state[last * kk..(last + 1) * kk];
        let t = row_total(inp.arrays.params, Some(l), n);
        let mut down = 0.0f32;
        for j in 0..node.n_out {
            let beta = row_beta(
                inp,
                Some(l),
                n,
                t,
                turn0 + (node.turn_off + a * cols + j) as usize,
            );
            if beta > 0.0 && allowed & (1 << j) != 0 {
                let lj = inp.arrays.out_links[(node.out_off + j) as usize];
                down += beta * occupancy(inp, lj) / storage(&inp.arrays.links[lj as usize]);
            }
        }
        let up = occupancy(inp, li) / storage(l);
        if allowed & full == full {
            total += l.q_step * (up - down);
        } else {
            let mut g = 0.0f32;
            for j in 0..cols {
                if allowed & (1 << j) != 0 {
                    g += row_beta(
                        inp,
                        Some(l),
                        n,
                        t,
                        turn0 + (node.turn_off + a * cols + j) as usize,
                    );
                }
            }
            total += l.q_step * (g * up - down);
        }
    }
    total
}

/// The bits of every column (outgoing links and the sink) of a node.
#[inline]
fn full_cols(node: &NodeData) -> u32 {
    if node.n_out + 1 >= 32 {
        u32::MAX
    } else {
        (1u32 << (node.n_out + 1)) - 1
    }
}

/// Jam storage of a link, PCE.
#[inline]
fn storage(l: &LinkData) -> f32 {
    (l.jam_cell * l.n_cells as f32).max(1e-6)
}

/// The approaches with green at a node this step and the phase giving it (its index in
/// `phases`, [`NONE`] when unsignalised or between phases); updates the max-pressure state.
fn signal_mask(
    inp: &NodeInputs<'_>,
    node: &NodeData,
    clock: u32,
    turn0: usize,
    st: &mut [u32; 2],
) -> (u32, u32) {
    if node.signal == NONE {
        return (u32::MAX, NONE);
    }
    let sig = &inp.arrays.signals[node.signal as usize];
    let phases =
        &inp.arrays.phases[sig.phase_off as usize..(sig.phase_off + sig.n_phases) as usize];
    if sig.kind == 0 {
        let t = (clock + sig.offset) % sig.cycle.max(1);
        let mut acc = 0u32;
        for (p, ph) in phases.iter().enumerate() {
            if t < acc + ph.green {
                return (ph.mask, sig.phase_off + p as u32);
            }
            acc += ph.green + sig.lost;
            if t < acc {
                return (0, NONE);
            }
        }
        return (0, NONE);
    }
    // max-pressure: after the minimum green, the phase with the largest pressure gets the
    // green (the current one keeps it on ties)
    if st[1] >= sig.lost + sig.min_green {
        let mut best = st[0];
        let mut best_p = pressure(inp, node, &phases[st[0] as usize], turn0);
        for (p, ph) in phases.iter().enumerate() {
            let pr = pressure(inp, node, ph, turn0);
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
    let out = if st[1] >= sig.lost {
        (phases[st[0] as usize].mask, sig.phase_off + st[0])
    } else {
        (0, NONE)
    };
    st[1] = st[1].saturating_add(1);
    out
}

/// Rows (incoming links and the origin) and columns one node holds at most.
pub const MAX_ROWS: usize = super::network::MAX_DEGREE + 1;

/// The node model (inlined in `shaders/traffic/node_flows.wgsl`, same order of operations): Tampère, Corthout,
/// Cattrysse & Immers (2011), "A generic class of first order node models for dynamic macroscopic
/// simulation of traffic flows" (TR-B 45), with priorities in proportion to capacity. Rows `a`
/// (incoming links, then the origin) send `send[a]` (PCE this step) split by `beta[a][j]` over
/// the `n_out` outgoing links (a further column, the sink, never constrains); `supply[j]` is what
/// outgoing link j can receive. Returns, per row, the fraction of its sending flow that crosses
/// (FIFO: the same fraction to every column).
///
/// The algorithm: among the outgoing links still constraining, find the most restrictive one, j*,
/// with the smallest remaining supply per unit of the priorities still feeding it
/// (a_j = R̃_j / Σ_a p_a·β_aj). Any row feeding j* whose whole demand fits (send ≤ a_j*·p_a) is
/// demand-constrained: it crosses whole, its flows are taken from every supply, and j* is
/// looked for again. Otherwise every row feeding j* is held by j* at a_j*·p_a, its flows are
/// taken from the supplies, and j* is done. Rows left when no outgoing link constrains cross
/// whole. This maximises flow (every row is either whole or held by the supply of one outgoing
/// link), conserves turning fractions, and obeys the invariance principle: a supply-held row
/// crosses a_j*·p_a whatever its demand above that.
#[allow(clippy::needless_range_loop)]
pub fn node_model(
    n_rows: usize,
    n_out: usize,
    send: &[f32; MAX_ROWS],
    prio: &[f32; MAX_ROWS],
    beta: &[[f32; MAX_ROWS]; MAX_ROWS],
    supply: &[f32; MAX_ROWS],
) -> [f32; MAX_ROWS] {
    let mut phi = [1.0f32; MAX_ROWS];
    let mut fixed = [false; MAX_ROWS];
    let mut done = [false; MAX_ROWS];
    let mut left = *supply;
    for a in 0..n_rows {
        fixed[a] = send[a] <= 0.0;
    }
    for _ in 0..(n_rows + n_out) {
        // the most restrictive outgoing link
        let mut best = MAX_ROWS;
        let mut best_a = f32::INFINITY;
        for j in 0..n_out {
            if done[j] {
                continue;
            }
            let mut w = 0.0f32;
            for a in 0..n_rows {
                if !fixed[a] {
                    w += prio[a] * beta[a][j];
                }
            }
            if w > 0.0 {
                let r = left[j].max(0.0) / w;
                if r < best_a {
                    best_a = r;
                    best = j;
                }
            }
        }
        if best == MAX_ROWS {
            break;
        }
        // rows feeding it whose whole demand fits cross whole
        let mut some_whole = false;
        for a in 0..n_rows {
            if !fixed[a] && beta[a][best] > 0.0 && send[a] <= best_a * prio[a] {
                fixed[a] = true;
                some_whole = true;
                for j in 0..n_out {
                    left[j] -= beta[a][j] * send[a];
                }
            }
        }
        if some_whole {
            continue;
        }
        // the others are held by it
        for a in 0..n_rows {
            if !fixed[a] && beta[a][best] > 0.0 {
                let q = best_a * prio[a];
                phi[a] = (q / send[a]).min(1.0);
                fixed[a] = true;
                for j in 0..n_out {
                    left[j] -= beta[a][j] * q;
                }
            }
        }
        done[best] = true;
    }
    phi
}

/// One node: merge/diverge of everything that wants to cross it this step.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn node_flow(
    inp: &NodeInputs<'_>,
    n: usize,
    clock: u32,
    out_flow: &mut [f32],
    in_flow: &mut [f32],
    queue: &mut [f32],
    counters: &mut [[u32; 4]],
    st: &mut [u32; 2],
) {
    const MAX: usize = MAX_ROWS;
    let p = inp.arrays.params;
    let kk = p.n_comm as usize;
    let node = &inp.arrays.nodes[n];
    let (n_in, n_out) = (node.n_in as usize, node.n_out as usize);
    let cols = n_out + 1;
    let turn0 = slice_offset(p, clock);
    let (mask, phase) = signal_mask(inp, node, clock, turn0, st);
    // the columns each row has green for: all, unless the phase serves single movements of it
    let full = full_cols(node);
    let allowed = |a: usize| -> u32 {
        if phase == NONE || a >= n_in {
            u32::MAX
        } else {
            inp.arrays.phases[phase as usize].cols[a]
        }
    };

    // origin: demand arrives into the queue
    if node.origin != NONE {
        let period = clock / p.steps_per_period.max(1);
        if period < p.n_periods {
            let d0 = (node.origin * p.n_periods + period) as usize * kk;
            for k in 0..kk {
                queue[k] += inp.arrays.demand[d0 + k];
            }
        }
    }
    // sending of each incoming row (the last row is the origin)
    let row_link = |a: usize| -> Option<&LinkData> {
        (a < n_in)
            .then(|| &inp.arrays.links[inp.arrays.in_links[node.in_off as usize + a] as usize])
    };
    let row_state = |a: usize| -> &[f32] {
        match row_link(a) {
            Some(l) => {
                let last = (l.first_cell + l.n_cells - 1) as usize;
                &inp.state[last * kk..(last + 1) * kk]
            }
            None => &[],
        }
    };
    let mut send = [0.0f32; MAX];
    for a in 0..n_in {
        let l = &inp.arrays.links[inp.arrays.in_links[node.in_off as usize + a] as usize];
        let last = (l.first_cell + l.n_cells - 1) as usize;
        send[a] = if mask & (1 << a) != 0 {
            inp.sr[last][0]
        } else {
            0.0
        };
    }
    let mut cap = 0.0f32;
    for j in 0..n_out {
        cap = cap
            .max(inp.arrays.links[inp.arrays.out_links[node.out_off as usize + j] as usize].q_step);
    }
    send[n_in] = pce(p, queue).min(cap);

    // the PCE turning fraction of each row to each column, each row's priority (its
    // capacity: the in-link's, or for the origin row the largest outgoing one), each
    // outgoing link's supply; the node model gives each row the fraction of its sending flow
    // that crosses
    let mut beta = [[0.0f32; MAX]; MAX];
    let mut prio = [0.0f32; MAX];
    let mut total = [0.0f32; MAX];
    for a in 0..=n_in {
        let rs: &[f32] = if a < n_in { row_state(a) } else { queue };
        total[a] = row_total(p, row_link(a), rs);
        for (j, bt) in beta[a].iter_mut().enumerate().take(cols) {
            *bt = row_beta(
                inp,
                row_link(a),
                rs,
                total[a],
                turn0 + node.turn_off as usize + a * cols + j,
            );
        }
        prio[a] = match row_link(a) {
            Some(l) if node.minor_mask & (1 << a) != 0 => l.q_step * super::MINOR_PRIORITY,
            Some(l) => l.q_step,
            None => cap,
        };
    }
    let mut supply = [0.0f32; MAX];
    for (j, r) in supply.iter_mut().enumerate().take(n_out) {
        let l = &inp.arrays.links[inp.arrays.out_links[node.out_off as usize + j] as usize];
        *r = inp.sr[l.first_cell as usize][1];
    }
    // a row with green for some movements only (a protected turn): vehicles for the red ones
    // wait in the last cell — a turn pocket — without taking the discharge of the others (as
    // on separate lanes): the row offers min(g·T, Q), T its send potential and g the PCE
    // share of it bound for green columns, split over those columns
    let mut whole = [0.0f32; MAX];
    for a in 0..n_in {
        let al = allowed(a);
        if al & full != full && send[a] > 0.0 {
            let mut g = 0.0f32;
            for j in 0..cols {
                if al & (1 << j) != 0 {
                    g += beta[a][j];
                }
            }
            let q = row_link(a).map_or(0.0, |l| l.q_step);
            let offered = (g * total[a]).min(q);
            whole[a] = if g > 0.0 { offered / g } else { 0.0 };
            for j in 0..cols {
                beta[a][j] = if al & (1 << j) != 0 && g > 0.0 {
                    beta[a][j] / g
                } else {
                    0.0
                };
            }
            send[a] = offered;
        }
    }
    let phi_of = node_model(n_in + 1, n_out, &send, &prio, &beta, &supply);
    // FIFO per row: a row moves the same fraction to every column it feeds, each commodity
    // by its share of the row's sending flow and its own turning fraction
    in_flow.iter_mut().for_each(|v| *v = 0.0);
    let mut q0 = [0.0f32; MAX_COMMODITIES];
    q0[..kk].copy_from_slice(queue);
    let mut exited = [0.0f32; 2];
    let mut entered = [0.0f32; 2];
    for a in 0..=n_in {
        let restricted = whole[a] > 0.0;
        let y = if restricted {
            phi_of[a] * whole[a]
        } else {
            phi_of[a] * send[a]
        };
        let al = allowed(a);
        for k in 0..kk {
            let rs: &[f32] = if a < n_in { row_state(a) } else { &q0[..kk] };
            let sh = share(p, row_link(a), rs, k, total[a]);
            let mut left = 0.0f32;
            for j in 0..cols {
                let b = if restricted && al & (1 << j) == 0 {
                    0.0
                } else {
                    inp.arrays.turns[(turn0 + node.turn_off as usize + a * cols + j) * kk + k]
                };
                let m = y * sh * b;
                if j < n_out {
                    in_flow[j * kk + k] += m;
                } else {
                    exited[usize::from(p.truck_mask & (1 << k) != 0)] += m;
                }
                left += m;
            }
            if a < n_in {
                out_flow[a * kk + k] = left;
            } else {
                entered[usize::from(p.truck_mask & (1 << k) != 0)] += left;
                queue[k] -= left;
            }
        }
    }
    let e = &mut counters[0];
    let car = count([e[0], e[1]], entered[0]);
    let truck = count([e[2], e[3]], entered[1]);
    *e = [car[0], car[1], truck[0], truck[1]];
    let x = &mut counters[1];
    let car = count([x[0], x[1]], exited[0]);
    let truck = count([x[2], x[3]], exited[1]);
    *x = [car[0], car[1], truck[0], truck[1]];
}

/// Stage `node_flows` (`shaders/traffic/node_flows.wgsl`): per node, signals, origin demand,
/// the node model ([`node_model`]) and the FIFO split.
pub fn node_flows(inp: &NodeInputs<'_>, out: NodeOutputs<'_>, clock: u32) {
    let kk = inp.arrays.params.n_comm as usize;
    let outs = split_by(
        out.out_flow,
        inp.arrays.nodes.iter().map(|n| n.n_in as usize * kk),
    );
    let ins = split_by(
        out.in_flow,
        inp.arrays.nodes.iter().map(|n| n.n_out as usize * kk),
    );
    outs.into_par_iter()
        .zip(ins)
        .zip(out.queue.par_chunks_mut(kk))
        .zip(out.counters.par_chunks_mut(2))
        .zip(out.signal_state.par_iter_mut())
        .enumerate()
        .for_each(|(n, ((((of, inf), q), c), st))| {
            node_flow(inp, n, clock, of, inf, q, c, st);
        });
}

/// Stage `update_cells` (`shaders/traffic/update_cells.wgsl`): per cell and commodity,
/// n' = n + in − out, with flows inside a link min(S_up, R_down) split by the sending cell's
/// shares ([`share`]; never more of a commodity than the cell holds), and the node flows
/// at the link ends; accumulates vehicle-seconds and vehicle-metres per class.
#[allow(clippy::too_many_arguments)]
pub fn update_cells(
    p: &StepParams,
    links: &[LinkData],
    cell_link: &[u32],
    sr: &[[f32; 2]],
    out_flow: &[f32],
    in_flow: &[f32],
    state: &[f32],
    next: &mut [f32],
    stats: &mut [[f32; 4]],
) {
    let kk = p.n_comm as usize;
    next.par_chunks_mut(kk)
        .zip(stats.par_iter_mut())
        .enumerate()
        .for_each(|(c, (nx, acc))| {
            let l = &links[cell_link[c] as usize];
            let pos = c as u32 - l.first_cell;
            let n = &state[c * kk..(c + 1) * kk];
            let y_in = if pos == 0 {
                0.0
            } else {
                sr[c - 1][0].min(sr[c][1])
            };
            let y_out = if pos + 1 == l.n_cells {
                0.0
            } else {
                sr[c][0].min(sr[c + 1][1])
            };
            let up: &[f32] = if pos == 0 {
                &[]
            } else {
                &state[(c - 1) * kk..c * kk]
            };
            let t_up = if pos == 0 {
                0.0
            } else {
                send_potential(p, l, up)
            };
            let t_own = if pos + 1 == l.n_cells {
                0.0
            } else {
                send_potential(p, l, n)
            };
            for k in 0..kk {
                let inflow = if pos == 0 {
                    in_flow[l.out_slot as usize * kk + k]
                } else {
                    (y_in * share(p, Some(l), up, k, t_up)).min(up[k].max(0.0))
                };
                let outflow = if pos + 1 == l.n_cells {
                    out_flow[l.in_slot as usize * kk + k]
                } else {
                    (y_out * share(p, Some(l), n, k, t_own)).min(n[k].max(0.0))
                };
                // no clamp at zero: it would create vehicles from rounding residues
                let v = n[k] + inflow - outflow;
                nx[k] = v;
                let class = usize::from(p.truck_mask & (1 << k) != 0);
                acc[class] += v * p.dt;
                acc[2 + class] += outflow * l.cell_len;
            }
        });
}

#[cfg(test)]
mod node_model_tests {
    use super::*;

    /// Runs [`node_model`] on plain vectors: returns each row's crossing fraction.
    fn run(send: &[f32], prio: &[f32], beta: &[&[f32]], supply: &[f32]) -> Vec<f32> {
        let mut s = [0.0f32; MAX_ROWS];
        let mut p = [0.0f32; MAX_ROWS];
        let mut b = [[0.0f32; MAX_ROWS]; MAX_ROWS];
        let mut r = [0.0f32; MAX_ROWS];
        s[..send.len()].copy_from_slice(send);
        p[..prio.len()].copy_from_slice(prio);
        for (a, row) in beta.iter().enumerate() {
            b[a][..row.len()].copy_from_slice(row);
        }
        r[..supply.len()].copy_from_slice(supply);
        node_model(send.len(), supply.len(), &s, &p, &b, &r)[..send.len()].to_vec()
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-4 * b.abs().max(1.0)
    }

    /// `../shared/reference/domain.md` §5: A sends 1,000 split 50/50 to X and Y, B 1,000 all to
    /// Y, equal capacities, supplies X = 100, Y = 1,000: A is held by X at 200, B takes the
    /// remaining 900 of Y — 1,100 in all (the former ratio-per-link model passed 867).
    #[test]
    fn worked_example_passes_1100() {
        let phi = run(
            &[1000.0, 1000.0],
            &[2000.0, 2000.0],
            &[&[0.5, 0.5], &[0.0, 1.0]],
            &[100.0, 1000.0],
        );
        let total = 1000.0 * phi[0] + 1000.0 * phi[1];
        assert!(
            close(1000.0 * phi[0], 200.0) && close(1000.0 * phi[1], 900.0),
            "{phi:?}"
        );
        assert!(close(total, 1100.0), "{total}");
    }

    /// The invariance principle: A is held by X's supply; raising A's demand changes nothing.
    #[test]
    fn a_supply_held_row_ignores_more_demand() {
        let base = run(
            &[1000.0, 1000.0],
            &[2000.0, 2000.0],
            &[&[0.5, 0.5], &[0.0, 1.0]],
            &[100.0, 1000.0],
        );
        let more = run(
            &[1800.0, 1000.0],
            &[2000.0, 2000.0],
            &[&[0.5, 0.5], &[0.0, 1.0]],
            &[100.0, 1000.0],
        );
        assert!(
            close(1000.0 * base[0], 1800.0 * more[0]),
            "{base:?} {more:?}"
        );
        assert!(close(base[1], more[1]), "{base:?} {more:?}");
    }

    /// Daganzo's diverge with a blocked exit: one incoming link, 30 % to the exit whose supply
    /// is 60: the link passes R_exit/β_exit = 200, of which 140 go through.
    #[test]
    fn diverge_with_a_blocked_exit_holds_the_whole_link() {
        let phi = run(&[1000.0], &[2000.0], &[&[0.3, 0.7]], &[60.0, 5000.0]);
        assert!(close(1000.0 * phi[0], 200.0), "{phi:?}");
        assert!(close(1000.0 * phi[0] * 0.7, 140.0), "{phi:?}");
    }

    /// Tampère et al. (2011), the 4-in/4-out unsignalised example (veh/h; priorities = in-link
    /// capacities), as encoded in `../shared/data/validation/node-model/tampere2011_example.json`:
    /// acceptance factors 1, 0.68483412, 1, 0.80568720 and its turn flows.
    #[test]
    fn tampere_four_by_four_example() {
        let f: [&[f32]; 4] = [
            &[0.0, 0.1, 0.3, 0.6],
            &[0.05, 0.0, 0.15, 0.8],
            &[0.125, 0.125, 0.0, 0.75],
            &[0.058_823_53, 0.470_588_24, 0.470_588_24, 0.0],
        ];
        let send = [500.0, 2000.0, 800.0, 1700.0];
        let phi = run(
            &send,
            &[1000.0, 2000.0, 1000.0, 2000.0],
            &f,
            &[1000.0, 2000.0, 1000.0, 2000.0],
        );
        let expected = [1.0, 0.684_834_1, 1.0, 0.805_687_2];
        for (p, e) in phi.iter().zip(expected) {
            assert!(close(*p, e), "{phi:?}");
        }
        // turn flows of in-link 2 (index 1) and 4 (index 3)
        let t = |a: usize, j: usize| send[a] * phi[a] * f[a][j];
        assert!(
            close(t(1, 3), 1095.735) && close(t(3, 1), 644.550),
            "{phi:?}"
        );
        // out-link 3 (index 2) is full
        let into2: f32 = (0..4).map(|a| t(a, 2)).sum();
        assert!(close(into2, 1000.0), "{into2}");
    }

    /// Major/minor priority: a two-lane major road (capacity 3,600, demand 3,000) and a one-lane
    /// minor road (1,800, demand 1,000) merge into a two-lane link (supply 3,600). With
    /// capacity-proportional priorities the minor road fits its share and crosses whole (1,000)
    /// and the major road gets 2,600; with the minor road's priority × MINOR_PRIORITY the major
    /// road crosses whole (3,000) and the minor road takes the 600 left.
    #[test]
    fn a_minor_road_takes_what_the_major_road_leaves() {
        let beta: [&[f32]; 2] = [&[1.0], &[1.0]];
        let by_capacity = run(&[3000.0, 1000.0], &[3600.0, 1800.0], &beta, &[3600.0]);
        assert!(
            close(3000.0 * by_capacity[0], 2600.0) && close(by_capacity[1], 1.0),
            "{by_capacity:?}"
        );
        let minor = run(
            &[3000.0, 1000.0],
            &[3600.0, 1800.0 * super::super::MINOR_PRIORITY],
            &beta,
            &[3600.0],
        );
        assert!(
            close(minor[0], 1.0) && close(1000.0 * minor[1], 600.0),
            "{minor:?}"
        );
    }

    /// PLANit's simple case from the same file: two rows to one outgoing link of supply 100,
    /// capacities 100 and 200: accepted 1/3 and 2/3; with half of row 2 turned to a second
    /// link, both accept 1/2.
    #[test]
    fn capacity_proportional_priorities() {
        let phi = run(
            &[100.0, 100.0],
            &[100.0, 200.0],
            &[&[0.0, 0.0, 0.0, 1.0], &[0.0, 0.0, 0.0, 1.0]],
            &[100.0, 200.0, 100.0, 100.0],
        );
        assert!(
            close(phi[0], 1.0 / 3.0) && close(phi[1], 2.0 / 3.0),
            "{phi:?}"
        );
        let phi = run(
            &[100.0, 200.0],
            &[100.0, 200.0],
            &[&[0.0, 0.0, 0.0, 1.0], &[0.0, 0.0, 0.5, 0.5]],
            &[100.0, 200.0, 100.0, 100.0],
        );
        assert!(close(phi[0], 0.5) && close(phi[1], 0.5), "{phi:?}");
    }
}
