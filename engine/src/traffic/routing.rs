//! Destination routing and dynamic user equilibrium (DUE).
//!
//! Vehicles carry their destination (a commodity per class × destination, see
//! [`super::Commodity`]); at every node and routing slice each commodity splits over the
//! outgoing links by *splitting rates* (destination-based route choice: a vehicle's choice
//! depends on where it is, where it goes and when, not on how it got there).
//!
//! - **Time-dependent shortest paths.** Link travel times per slice τ_l(s) (from a network
//!   loading: Edie's mean speed on the link, [`link_times`]) give the cost-to-destination
//!   label L_d(n, s) of leaving node n at the start of slice s, by the backward recursion
//!   L(n, s) = min_l τ_l(s) + L(head l, s + τ_l(s)) with the label at the arrival time
//!   interpolated linearly between slice starts — the discrete-time dynamic shortest path of
//!   Chabini (1998, "Discrete dynamic shortest path problems in transportation applications",
//!   TRR 1645), label-correcting within a slice ([`labels_to`]). Labels past the last slice
//!   are the last slice's.
//! - **All-or-nothing and MSA.** Each iteration sends every commodity at every node and slice
//!   along its best next link (all-or-nothing splitting rates) and averages them into the
//!   current rates with step 1/(i+1), the method of successive averages (Sheffi 1985, §12;
//!   for DUE with splitting rates, e.g. Himpe, Corthout & Tampère 2016, "An efficient
//!   iterative link transmission model", TR-B 92). The network is loaded again with the new
//!   rates (CTM, GPU or CPU) and the link times re-measured.
//! - **Gap.** The relative gap (Chiu et al. 2011, *Dynamic Traffic Assignment: A Primer*,
//!   TRB E-C153, §5) is Σ q·(E − L) / Σ q·L over every origin, departure slice and
//!   commodity: q the vehicles departing, E the mean travel time they experience under the
//!   current splitting rates (the same recursion, weighted by the rates, [`expected_to`]) and
//!   L the shortest. It is zero exactly when no vehicle could arrive sooner by another route.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::network::{OrdF64, RoadNetwork};

/// Link travel times per routing slice: `times[slice][link]`, s.
pub type SliceTimes = Vec<Vec<f64>>;

/// The directed graph the route search needs: each link's tail and head, and each node's
/// incoming and outgoing links.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Tail node of every link.
    pub from: Vec<usize>,
    /// Head node of every link.
    pub to: Vec<usize>,
    /// Links entering each node.
    pub incoming: Vec<Vec<usize>>,
    /// Links leaving each node.
    pub outgoing: Vec<Vec<usize>>,
}

impl Graph {
    /// From (tail, head) pairs on `n_nodes` nodes.
    pub fn new(n_nodes: usize, links: &[(usize, usize)]) -> Self {
        let mut incoming = vec![Vec::new(); n_nodes];
        let mut outgoing = vec![Vec::new(); n_nodes];
        for (l, &(a, b)) in links.iter().enumerate() {
            outgoing[a].push(l);
            incoming[b].push(l);
        }
        Self {
            from: links.iter().map(|x| x.0).collect(),
            to: links.iter().map(|x| x.1).collect(),
            incoming,
            outgoing,
        }
    }

    /// The road network's graph.
    pub fn of(net: &RoadNetwork) -> Self {
        Self {
            from: net.links.iter().map(|l| l.from).collect(),
            to: net.links.iter().map(|l| l.to).collect(),
            incoming: net.incoming.clone(),
            outgoing: net.outgoing.clone(),
        }
    }

    /// Nodes.
    pub fn n_nodes(&self) -> usize {
        self.incoming.len()
    }
}

/// The arrival term of a link entered at the start of slice `s` with travel time `tau`:
/// (weight on the current slice's label at the head, the rest already known).
fn arrival(labels: &[Vec<f64>], head: usize, s: usize, tau: f64, slice_s: f64) -> (f64, f64) {
    let last = labels.len() - 1;
    let x = tau / slice_s;
    let m = s + x.floor() as usize;
    let f = x - x.floor();
    let at = |k: usize| k.min(last);
    // a zero weight never multiplies an unreachable (infinite) label
    let part = |w: f64, k: usize| {
        if w > 0.0 {
            w * labels[at(k)][head]
        } else {
            0.0
        }
    };
    match (at(m) == s, at(m + 1) == s) {
        (true, true) => (1.0, 0.0),
        (true, false) => (1.0 - f, part(f, m + 1)),
        _ => (0.0, part(1.0 - f, m) + part(f, m + 1)),
    }
}

/// Cost-to-destination labels L[slice][node] (s) of leaving each node at the start of each
/// slice for `dest` on the fastest time-dependent route; infinite where `dest` cannot be
/// reached. `times[slice][link]`, slices of `slice_s` seconds.
pub fn labels_to(net: &Graph, dest: usize, times: &[Vec<f64>], slice_s: f64) -> Vec<Vec<f64>> {
    let n_nodes = net.n_nodes();
    let n_slices = times.len();
    let mut labels = vec![vec![f64::INFINITY; n_nodes]; n_slices];
    for s in (0..n_slices).rev() {
        // label-correcting from the destination backwards, in the order of the labels
        // (Dijkstra when the link times are FIFO; corrections otherwise)
        let mut cur = vec![f64::INFINITY; n_nodes];
        let mut heap = BinaryHeap::new();
        // a node's label with every head's current-slice term: the known part is fixed
        let known: Vec<(f64, f64)> = (0..net.to.len())
            .map(|l| {
                let tau = times[s][l];
                arrival(&labels, net.to[l], s, tau, slice_s)
            })
            .collect();
        cur[dest] = 0.0;
        heap.push((Reverse(OrdF64(0.0)), dest));
        // links whose head is in later slices entirely are candidates from the start
        for (l, &from) in net.from.iter().enumerate() {
            let (w, rest) = known[l];
            if w == 0.0 && from != dest {
                let c = times[s][l] + rest;
                if c < cur[from] {
                    cur[from] = c;
                    heap.push((Reverse(OrdF64(c)), from));
                }
            }
        }
        while let Some((Reverse(OrdF64(c)), n)) = heap.pop() {
            if c > cur[n] {
                continue;
            }
            for &l in &net.incoming[n] {
                let from = net.from[l];
                if from == dest {
                    continue;
                }
                let (w, rest) = known[l];
                if w == 0.0 {
                    continue;
                }
                let cand = times[s][l] + w * c + rest;
                if cand < cur[from] * (1.0 - 1e-12) {
                    cur[from] = cand;
                    heap.push((Reverse(OrdF64(cand)), from));
                }
            }
        }
        labels[s] = cur;
    }
    labels
}

/// Cost of leaving by link `l` at the start of slice `s` under the labels `labels` (its time
/// plus the head's label at the arrival time).
fn via(
    net: &Graph,
    labels: &[Vec<f64>],
    times: &[Vec<f64>],
    l: usize,
    s: usize,
    slice_s: f64,
) -> f64 {
    let h = net.to[l];
    let (w, rest) = arrival(labels, h, s, times[s][l], slice_s);
    // a zero weight never multiplies an unreachable (infinite) label
    let here = if w > 0.0 { w * labels[s][h] } else { 0.0 };
    times[s][l] + here + rest
}

/// The best next link per slice and node for `dest` (`None` at the destination and where it
/// cannot be reached): the all-or-nothing splitting rates.
pub fn best_next(
    net: &Graph,
    dest: usize,
    times: &[Vec<f64>],
    labels: &[Vec<f64>],
    slice_s: f64,
) -> Vec<Vec<Option<usize>>> {
    (0..times.len())
        .map(|s| {
            (0..net.n_nodes())
                .map(|n| {
                    if n == dest || !labels[s][n].is_finite() {
                        return None;
                    }
                    let mut best: Option<(f64, usize)> = None;
                    for &l in &net.outgoing[n] {
                        let c = via(net, labels, times, l, s, slice_s);
                        if c.is_finite() && best.is_none_or(|(b, _)| c < b) {
                            best = Some((c, l));
                        }
                    }
                    best.map(|(_, l)| l)
                })
                .collect()
        })
        .collect()
}

/// Mean travel time to `dest` E[slice][node] of vehicles that follow the splitting rates
/// `split(slice, node, link)` (fractions over the node's outgoing links): the fixed point of
/// E(n, s) = Σ_l β_l·(τ_l(s) + E(head l, arrival)), iterated from the shortest labels
/// (at most `max_sweeps` sweeps per slice, stopping at a change below 1 ms).
pub fn expected_to(
    net: &Graph,
    dest: usize,
    times: &[Vec<f64>],
    labels: &[Vec<f64>],
    slice_s: f64,
    split: &dyn Fn(usize, usize, usize) -> f64,
    max_sweeps: usize,
) -> Vec<Vec<f64>> {
    let n_slices = times.len();
    let mut e = labels.to_vec();
    for s in (0..n_slices).rev() {
        for _ in 0..max_sweeps {
            let mut change = 0.0f64;
            for n in 0..net.n_nodes() {
                if n == dest || !labels[s][n].is_finite() {
                    continue;
                }
                let mut v = 0.0;
                let mut w_total = 0.0;
                for &l in &net.outgoing[n] {
                    let b = split(s, n, l);
                    if b <= 0.0 {
                        continue;
                    }
                    let c = via(net, &e, times, l, s, slice_s);
                    if c.is_finite() {
                        v += b * c;
                        w_total += b;
                    }
                }
                if w_total > 0.0 {
                    let v = v / w_total;
                    change = change.max((v - e[s][n]).abs());
                    e[s][n] = v;
                }
            }
            if change < 1e-3 {
                break;
            }
        }
    }
    e
}

use serde::{Deserialize, Serialize};

use super::engine::{CpuEngine, GpuEngine};
use super::{TrafficProblem, VehicleClass};
use crate::gpu::{GpuContext, GpuError};

/// One equilibrium iteration, as reported in `summary.json`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GapRecord {
    /// Iteration (0: the free-flow routes).
    pub iteration: u32,
    /// Relative gap Σ q·(E − L) / Σ q·L.
    pub relative_gap: f64,
    /// Σ q·E: the travel time the routed vehicles experience, vehicle-hours.
    pub experienced_veh_h: f64,
    /// Σ q·L: what they would need on their fastest routes, vehicle-hours.
    pub shortest_veh_h: f64,
}

/// The outcome of [`TrafficProblem::equilibrate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Equilibrium {
    /// Per iteration.
    pub iterations: Vec<GapRecord>,
    /// Whether the last gap is below the target.
    pub converged: bool,
    /// The target.
    pub target_gap: f64,
    /// Routing slice, s.
    pub slice_s: f64,
    /// Commodities routed by destination (the rest share mean turning fractions).
    pub destination_commodities: usize,
    /// Share of the destination demand in the shared commodities.
    pub shared_destination_share: f64,
}

impl TrafficProblem {
    /// Free-flow travel time of every link for a class, s (trucks at their own speed; at least
    /// one time step, a cell's shortest stay).
    pub fn free_flow_times(&self, class: VehicleClass) -> Vec<f64> {
        self.network
            .links
            .iter()
            .map(|l| {
                let v = match class {
                    VehicleClass::Car => l.free_flow_m_s,
                    VehicleClass::Truck => l.free_flow_m_s.min(self.truck_speed_km_h / 3.6),
                };
                (l.length_m / v).max(self.dt_s)
            })
            .collect()
    }

    /// Writes the splitting rates of commodity `k` in routing slice `s` (`f[out_links
    /// position]`, fractions over each node's outgoing links) into every row of the turning
    /// tables; at its destination, or where a node has no way on for it, it leaves by the sink.
    pub fn set_splits(&mut self, k: usize, s: usize, f: &[f64]) {
        let kk = self.n_comm();
        let base = s * self.params.n_turn_entries as usize;
        for node in &self.nodes {
            let cols = node.n_out as usize + 1;
            let (off, n_out) = (node.out_off as usize, node.n_out as usize);
            let total: f64 = f[off..off + n_out].iter().sum();
            for a in 0..=node.n_in as usize {
                let row = base + node.turn_off as usize + a * cols;
                for j in 0..n_out {
                    let v = if total > 0.0 { f[off + j] / total } else { 0.0 };
                    self.turns[(row + j) * kk + k] = v as f32;
                }
                self.turns[(row + n_out) * kk + k] = if total > 0.0 { 0.0 } else { 1.0 };
            }
        }
    }

    /// All-or-nothing splitting rates `[slice][out_links position]` of a destination under
    /// link times `times`.
    fn aon_splits(
        &self,
        graph: &Graph,
        dest: usize,
        times: &[Vec<f64>],
        slice_s: f64,
    ) -> Vec<Vec<f64>> {
        let labels = labels_to(graph, dest, times, slice_s);
        let next = best_next(graph, dest, times, &labels, slice_s);
        next.iter()
            .map(|per_node| {
                let mut f = vec![0.0; self.out_links.len()];
                for l in per_node.iter().flatten() {
                    f[self.links[*l].out_slot as usize] = 1.0;
                }
                f
            })
            .collect()
    }

    /// Every destination commodity on its free-flow fastest paths, in every slice.
    pub(super) fn free_flow_routes(&mut self) {
        let graph = Graph::of(&self.network);
        for k in 0..self.n_comm() {
            let m = self.commodities[k];
            let Some(dest) = m.dest else { continue };
            let times = vec![self.free_flow_times(m.class)];
            let f = self
                .aon_splits(&graph, dest, &times, f64::INFINITY)
                .remove(0);
            for s in 0..self.params.n_slices as usize {
                self.set_splits(k, s, &f);
            }
        }
    }

    /// Vehicles of each commodity departing each origin slot in each routing slice:
    /// `[slice][origin slot × K + commodity]`.
    fn departures(&self) -> Vec<Vec<f64>> {
        let p = &self.params;
        let kk = self.n_comm();
        let np = p.n_periods as u64;
        let (sps, spp) = (u64::from(p.steps_per_slice), u64::from(p.steps_per_period));
        (0..u64::from(p.n_slices))
            .map(|s| {
                let (a, b) = (s * sps, ((s + 1) * sps).min(self.steps));
                let mut q = vec![0.0; self.origins.len() * kk];
                for period in 0..np {
                    let (pa, pb) = (period * spp, (period + 1) * spp);
                    let overlap = pb.min(b).saturating_sub(pa.max(a)) as f64;
                    if overlap <= 0.0 {
                        continue;
                    }
                    for o in 0..self.origins.len() {
                        for k in 0..kk {
                            q[o * kk + k] += f64::from(
                                self.demand[(o * np as usize + period as usize) * kk + k],
                            ) * overlap;
                        }
                    }
                }
                q
            })
            .collect()
    }

    /// One network loading (on the GPU when `ctx` is given) and the travel times it gives per
    /// class, routing slice and link ([`TrafficProblem::experienced_times`]).
    pub fn loaded_times(&self, ctx: Option<&GpuContext>) -> Result<[SliceTimes; 2], GpuError> {
        match ctx {
            Some(ctx) => self.experienced_times(&mut GpuEngine::new(ctx, self)?),
            None => self.experienced_times(&mut CpuEngine::new(self)),
        }
    }

    /// Runs the problem on `engine` from empty and returns the experienced link travel times
    /// `[class][slice][link]` from cumulative curves (Newell 1993): every link's cumulative
    /// arrivals A(t) = vehicles on it + D(t) and departures D(t) (its last cell's outflow)
    /// per class, sampled about every minute; a vehicle entering at t leaves when D reaches
    /// A(t), so τ(t) = D⁻¹(A(t)) − t. A slice's time is the mean of τ over the sample times
    /// in it (entrants through the slice), never below free flow; one whose vehicles have not
    /// all left by the end of the run takes the rest of the run.
    pub fn experienced_times(
        &self,
        engine: &mut dyn super::engine::StepEngine,
    ) -> Result<[SliceTimes; 2], GpuError> {
        let kk = self.n_comm();
        let n_links = self.links.len();
        let sps = u64::from(self.params.steps_per_slice);
        // about one sample a minute, fewer when the run is long: at most 2e7 samples × links
        // (two f64 curves per class each: 640 MB)
        let budget = (2e7 / n_links.max(1) as f64 / f64::from(self.params.n_slices.max(1)))
            .floor()
            .max(1.0) as u64;
        let per_slice = ((sps as f64 * self.dt_s / 60.0).ceil() as u64)
            .min(budget)
            .clamp(1, sps);
        let mut bounds = vec![0u64];
        for s in 0..u64::from(self.params.n_slices) {
            for j in 1..=per_slice {
                let b = (s * sps + j * sps / per_slice).min(self.steps);
                if b > *bounds.last().unwrap_or(&0) {
                    bounds.push(b);
                }
            }
        }
        // cumulative arrivals and departures per sample, class and link
        let mut arr = vec![vec![[0.0f64; 2]; n_links]; bounds.len()];
        let mut dep = vec![vec![[0.0f64; 2]; n_links]; bounds.len()];
        for i in 1..bounds.len() {
            engine.steps(bounds[i] - bounds[i - 1])?;
            let stats = engine.take_stats()?;
            let state = engine.state()?;
            let mut on = vec![[0.0f64; 2]; n_links];
            for c in 0..self.n_cells() {
                let l = self.cell_link[c] as usize;
                for k in 0..kk {
                    on[l][self.commodities[k].class.index()] += f64::from(state[c * kk + k]);
                }
            }
            for (l, link) in self.links.iter().enumerate() {
                let last = (link.first_cell + link.n_cells - 1) as usize;
                let len = f64::from(link.cell_len).max(1e-9);
                for c in 0..2 {
                    dep[i][l][c] = dep[i - 1][l][c] + f64::from(stats[last][2 + c]) / len;
                    arr[i][l][c] = on[l][c] + dep[i][l][c];
                }
            }
        }
        let t_of = |i: usize| bounds[i] as f64 * self.dt_s;
        let horizon = t_of(bounds.len() - 1);
        let mut out = [Vec::new(), Vec::new()];
        for class in VehicleClass::ALL {
            let c = class.index();
            let ff = self.free_flow_times(class);
            let mut times = vec![vec![0.0f64; n_links]; self.params.n_slices as usize];
            for (l, &ff_l) in ff.iter().enumerate() {
                // τ at each sample time, by a forward scan of the departure curve
                let mut tau = vec![0.0f64; bounds.len()];
                let mut k = 0usize;
                for i in 0..bounds.len() {
                    // a hundredth of a vehicle: f32 residues in an emptied link are not a vehicle
                    let target = arr[i][l][c] - 0.01;
                    k = k.max(i);
                    while k < bounds.len() && dep[k][l][c] < target {
                        k += 1;
                    }
                    tau[i] = if k == bounds.len() {
                        horizon - t_of(i)
                    } else if k == i || dep[k][l][c] <= dep[k - 1][l][c] {
                        t_of(k) - t_of(i)
                    } else {
                        let f = (target - dep[k - 1][l][c]) / (dep[k][l][c] - dep[k - 1][l][c]);
                        t_of(k - 1) + f.clamp(0.0, 1.0) * (t_of(k) - t_of(k - 1)) - t_of(i)
                    };
                }
                for (s, row) in times.iter_mut().enumerate() {
                    let (a, b) = (s as u64 * sps, (s as u64 + 1) * sps);
                    let (mut sum, mut n) = (0.0, 0.0);
                    for (i, &bd) in bounds.iter().enumerate() {
                        if bd >= a && bd < b {
                            sum += tau[i];
                            n += 1.0;
                        }
                    }
                    row[l] = if n > 0.0 { sum / n } else { 0.0 }.max(ff_l);
                }
            }
            out[c] = times;
        }
        Ok(out)
    }

    /// Dynamic user equilibrium by the method of successive averages over destination
    /// splitting rates (module docs): loads the network (on the GPU when `ctx` is given),
    /// measures link times per slice, finds every destination's time-dependent fastest next
    /// links and the relative gap, and averages. Stops below `routing.target_gap` or after
    /// `routing.max_iterations`; the problem keeps the splitting rates of the last loading
    /// (the one the last gap describes). `progress(iteration, gap)` after each.
    pub fn equilibrate(
        &mut self,
        ctx: Option<&GpuContext>,
        progress: &mut dyn FnMut(u32, f64),
    ) -> Result<Equilibrium, GpuError> {
        let kk = self.n_comm();
        let slice_s = f64::from(self.params.steps_per_slice) * self.dt_s;
        let n_slices = self.params.n_slices as usize;
        let q = self.departures();
        let graph = Graph::of(&self.network);
        let own: Vec<usize> = (0..kk)
            .filter(|&k| self.commodities[k].dest.is_some())
            .collect();
        // current splitting rates of each destination commodity, from the free-flow routes
        let mut splits: Vec<Vec<Vec<f64>>> = own
            .iter()
            .map(|&k| {
                let m = self.commodities[k];
                let times = vec![self.free_flow_times(m.class); n_slices];
                self.aon_splits(&graph, m.dest.unwrap_or(0), &times, slice_s)
            })
            .collect();
        for (per_slice, &k) in splits.iter().zip(&own) {
            for (s, f) in per_slice.iter().enumerate() {
                self.set_splits(k, s, f);
            }
        }
        let mut iterations = Vec::new();
        let target = self.routing.target_gap;
        let mut it = 0u32;
        loop {
            let times = self.loaded_times(ctx)?;
            let (mut exp, mut short) = (0.0f64, 0.0f64);
            let mut aon = Vec::with_capacity(own.len());
            for (i, &k) in own.iter().enumerate() {
                let m = self.commodities[k];
                let dest = m.dest.unwrap_or(0);
                let t = &times[m.class.index()];
                let labels = labels_to(&graph, dest, t, slice_s);
                let cur = &splits[i];
                let split = |s: usize, _n: usize, l: usize| cur[s][self.links[l].out_slot as usize];
                let e = expected_to(&graph, dest, t, &labels, slice_s, &split, 200);
                for (s, qs) in q.iter().enumerate() {
                    for (o, &node) in self.origins.iter().enumerate() {
                        let v = qs[o * kk + k];
                        let (lo, eo) = (labels[s][node as usize], e[s][node as usize]);
                        if v > 0.0 && lo.is_finite() && eo.is_finite() {
                            exp += v * eo;
                            short += v * lo;
                        }
                    }
                }
                let next = best_next(&graph, dest, t, &labels, slice_s);
                aon.push(next);
            }
            let gap = if short > 0.0 {
                (exp - short).max(0.0) / short
            } else {
                0.0
            };
            iterations.push(GapRecord {
                iteration: it,
                relative_gap: gap,
                experienced_veh_h: exp / 3600.0,
                shortest_veh_h: short / 3600.0,
            });
            progress(it, gap);
            if gap <= target || it >= self.routing.max_iterations || own.is_empty() {
                break;
            }
            // MSA: move 1/(i+2) of the way to the all-or-nothing rates
            it += 1;
            let step = 1.0 / f64::from(it + 1);
            for (i, &k) in own.iter().enumerate() {
                for s in 0..n_slices {
                    let cur = &mut splits[i][s];
                    cur.iter_mut().for_each(|v| *v *= 1.0 - step);
                    for l in aon[i][s].iter().flatten() {
                        cur[self.links[*l].out_slot as usize] += step;
                    }
                    let f = cur.clone();
                    self.set_splits(k, s, &f);
                }
            }
        }
        let last = iterations.last().map_or(0.0, |g| g.relative_gap);
        let eq = Equilibrium {
            converged: last <= target,
            iterations,
            target_gap: target,
            slice_s,
            destination_commodities: own.len(),
            shared_destination_share: self.shared_destination_share,
        };
        self.equilibrium = Some(eq.clone());
        Ok(eq)
    }
}
