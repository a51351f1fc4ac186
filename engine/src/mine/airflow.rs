//! Steady airflow in a ventilation network: Atkinson's square law Δp = R·Q·|Q| in every branch,
//! fans by their fitted curves, natural-ventilation heads, mass conserved at every junction
//! (Kirchhoff's first law) and pressures summing to zero around every mesh (the second law).
//!
//! The unknowns are mesh flows: a spanning tree of the network (lowest resistances first, fan
//! branches last, so fans and high resistances become the chords — the usual choice for Hardy
//! Cross) gives one fundamental mesh per chord, and a branch's flow is the signed sum of the
//! flows of the meshes through it, so the first law holds by construction. Two solvers on
//! the same equations:
//! - [`hardy_cross`]: Hardy Cross (1936), mesh by mesh, ΔQ = −Σ s·f(Q) / Σ f′(Q);
//! - [`newton`]: Newton–Raphson on all loop equations at once, J·Δq = −F with the Jacobian
//!   J = Cᵀ·diag(f′)·C built in `ndarray` and solved by a hand-written dense LU with partial
//!   pivoting, damped by backtracking when a full step does not lower the residual.
//!
//! Here f(Q) = R·Q·|Q| − p_fan(Q) − h (h the branch's natural head) and f′ = 2R|Q| − p_fan′(Q).

use ndarray::{Array1, Array2};
use serde::Serialize;

use super::network::{MineNetwork, solve_dense};

/// What the network is doing now: each branch's resistance (doors and regulators change it)
/// and whether each fan runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Operating {
    /// Resistance per branch, N·s²/m⁸.
    pub resistance: Vec<f64>,
    /// Per fan: running.
    pub fan_running: Vec<bool>,
}

impl Operating {
    /// The network as designed: file resistances, every fan running.
    pub fn design(net: &MineNetwork) -> Self {
        Self {
            resistance: net.branches.iter().map(|b| b.resistance).collect(),
            fan_running: vec![true; net.fans.len()],
        }
    }
}

/// The fundamental meshes of a network.
#[derive(Debug, Clone, PartialEq)]
pub struct Meshes {
    /// Per mesh, (branch, orientation ±1) — the chord first, with +1.
    pub meshes: Vec<Vec<(usize, f64)>>,
}

/// A solved airflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Airflow {
    /// `hardy_cross` or `newton`.
    pub solver: &'static str,
    /// Flow per branch, m³/s (positive in the design direction).
    pub flows: Vec<f64>,
    /// Iterations (Hardy Cross: sweeps over all meshes; Newton: steps).
    pub iterations: usize,
    /// Largest mesh pressure imbalance at the end, Pa.
    pub residual_pa: f64,
    /// Largest junction imbalance over the total flow through the network.
    pub kirchhoff: f64,
}

/// Why a solve failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AirflowError {
    /// No convergence within the iteration limit.
    #[error(
        "{solver} did not converge in {iterations} iterations (mesh residual {residual_pa:.3e} Pa)"
    )]
    NoConvergence {
        /// Solver.
        solver: &'static str,
        /// Iterations taken.
        iterations: usize,
        /// Residual reached, Pa.
        residual_pa: f64,
    },
    /// The Newton system was singular.
    #[error("newton: the loop equations' Jacobian is singular")]
    Singular,
}

/// Builds the fundamental meshes: a spanning tree (Kruskal, lowest resistance first, fan
/// branches last), one mesh per chord closed through the tree.
pub fn meshes(net: &MineNetwork) -> Meshes {
    let (node, n, _) = net.nodes();
    let nb = net.branches.len();
    let has_fan: Vec<bool> = (0..nb)
        .map(|b| net.fans.iter().any(|f| f.branch == b))
        .collect();
    let mut order: Vec<usize> = (0..nb).collect();
    order.sort_by(|&a, &b| {
        has_fan[a]
            .cmp(&has_fan[b])
            .then(
                net.branches[a]
                    .resistance
                    .total_cmp(&net.branches[b].resistance),
            )
            .then(a.cmp(&b))
    });
    let mut parent: Vec<usize> = (0..n).collect();
    fn find(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    let mut in_tree = vec![false; nb];
    let mut adj: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for &b in &order {
        let (u, v) = (node[net.branches[b].from], node[net.branches[b].to]);
        let (ru, rv) = (find(&mut parent, u), find(&mut parent, v));
        if ru != rv {
            parent[ru] = rv;
            in_tree[b] = true;
            adj[u].push((v, b));
            adj[v].push((u, b));
        }
    }
    // root the tree at node 0: parent node, parent branch, depth
    let mut up = vec![(usize::MAX, usize::MAX); n];
    let mut depth = vec![0usize; n];
    let mut seen = vec![false; n];
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(u) = stack.pop() {
        for &(v, b) in &adj[u] {
            if !seen[v] {
                seen[v] = true;
                up[v] = (u, b);
                depth[v] = depth[u] + 1;
                stack.push(v);
            }
        }
    }
    let step = |x: usize, out: &mut Vec<(usize, f64)>| {
        // traverse the tree branch from x to its parent
        let (p, b) = up[x];
        let br = &net.branches[b];
        let forward = node[br.from] == x && node[br.to] == p;
        out.push((b, if forward { 1.0 } else { -1.0 }));
        p
    };
    let mut out = Vec::new();
    for c in (0..nb).filter(|&b| !in_tree[b]) {
        let br = &net.branches[c];
        let mut mesh = vec![(c, 1.0)];
        // from the chord's end back to its start through the tree
        let (mut a, mut b) = (node[br.to], node[br.from]);
        let mut tail = Vec::new(); // b's side, reversed at the end
        while a != b {
            if depth[a] >= depth[b] {
                a = step(a, &mut mesh);
            } else {
                // walking from b up, the path is used from the top down: reversed orientation
                let (p, tb) = up[b];
                let t = &net.branches[tb];
                let forward = node[t.from] == p && node[t.to] == b;
                tail.push((tb, if forward { 1.0 } else { -1.0 }));
                b = p;
            }
        }
        mesh.extend(tail.into_iter().rev());
        out.push(mesh);
    }
    Meshes { meshes: out }
}

/// The per-branch equations at the current flows.
struct Branches<'a> {
    net: &'a MineNetwork,
    op: &'a Operating,
    heads: Vec<f64>,
    fan_of: Vec<Option<usize>>,
}

impl<'a> Branches<'a> {
    fn new(net: &'a MineNetwork, op: &'a Operating) -> Self {
        let mut fan_of = vec![None; net.branches.len()];
        for (i, f) in net.fans.iter().enumerate() {
            fan_of[f.branch] = Some(i);
        }
        Self {
            net,
            op,
            heads: net.natural_heads(),
            fan_of,
        }
    }

    /// f(Q) and f′(Q) of branch `b` (f′ kept away from zero at zero flow).
    fn eval(&self, b: usize, q: f64) -> (f64, f64) {
        let r = self.op.resistance[b];
        let (mut f, mut d) = (r * q * q.abs() - self.heads[b], 2.0 * r * q.abs().max(1e-6));
        if let Some(i) = self.fan_of[b]
            && self.op.fan_running[i]
        {
            let fan = &self.net.fans[i];
            f -= fan.pressure(q);
            d -= fan.slope(q);
        }
        (f, d.max(1e-12))
    }

    /// The largest driving pressure (fan at zero flow, natural heads): the residual scale.
    fn scale(&self) -> f64 {
        let fans = self
            .net
            .fans
            .iter()
            .enumerate()
            .filter(|(i, _)| self.op.fan_running[*i])
            .map(|(_, f)| f.pressure(0.0).abs())
            .fold(0.0, f64::max);
        let heads = self.heads.iter().map(|h| h.abs()).fold(0.0, f64::max);
        fans.max(heads).max(1.0)
    }
}

fn branch_flows(nb: usize, m: &Meshes, q: &[f64]) -> Vec<f64> {
    let mut flows = vec![0.0; nb];
    for (mesh, &qm) in m.meshes.iter().zip(q) {
        for &(b, s) in mesh {
            flows[b] += s * qm;
        }
    }
    flows
}

fn mesh_residuals(br: &Branches, m: &Meshes, flows: &[f64]) -> Vec<f64> {
    m.meshes
        .iter()
        .map(|mesh| mesh.iter().map(|&(b, s)| s * br.eval(b, flows[b]).0).sum())
        .collect()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().map(|x| x.abs()).fold(0.0, f64::max)
}

/// Largest junction imbalance over the total flow (the sum of the positive inflows at all
/// junctions, halved).
pub fn kirchhoff(net: &MineNetwork, flows: &[f64]) -> f64 {
    let (node, n, _) = net.nodes();
    let mut net_in = vec![0.0; n];
    let mut through = 0.0;
    for (b, &q) in net.branches.iter().zip(flows) {
        net_in[node[b.to]] += q;
        net_in[node[b.from]] -= q;
        through += q.abs();
    }
    max_abs(&net_in) / through.max(1e-300)
}

fn initial(m: &Meshes) -> Vec<f64> {
    vec![1.0; m.meshes.len()]
}

/// Hardy Cross: each mesh in turn corrected by ΔQ = −Σ s·f / Σ f′ until the largest correction
/// is below `tol` m³/s and the residual below `tol` × the driving pressure.
pub fn hardy_cross(
    net: &MineNetwork,
    op: &Operating,
    tol: f64,
    max_sweeps: usize,
) -> Result<Airflow, AirflowError> {
    let m = meshes(net);
    let br = Branches::new(net, op);
    let scale = br.scale();
    let mut q = initial(&m);
    let mut flows = branch_flows(net.branches.len(), &m, &q);
    for sweep in 1..=max_sweeps {
        let mut largest: f64 = 0.0;
        for (k, mesh) in m.meshes.iter().enumerate() {
            let (mut f, mut d) = (0.0, 0.0);
            for &(b, s) in mesh {
                let (fb, db) = br.eval(b, flows[b]);
                f += s * fb;
                d += db;
            }
            let dq = -f / d;
            q[k] += dq;
            for &(b, s) in mesh {
                flows[b] += s * dq;
            }
            largest = largest.max(dq.abs());
        }
        if largest <= tol {
            // recompute from the mesh flows (no drift from the increments)
            flows = branch_flows(net.branches.len(), &m, &q);
            let residual = max_abs(&mesh_residuals(&br, &m, &flows));
            if residual <= tol * scale {
                return Ok(Airflow {
                    solver: "hardy_cross",
                    kirchhoff: kirchhoff(net, &flows),
                    flows,
                    iterations: sweep,
                    residual_pa: residual,
                });
            }
        }
    }
    let flows = branch_flows(net.branches.len(), &m, &q);
    Err(AirflowError::NoConvergence {
        solver: "hardy_cross",
        iterations: max_sweeps,
        residual_pa: max_abs(&mesh_residuals(&br, &m, &flows)),
    })
}

/// Newton–Raphson on the loop equations (see the module documentation), from `start` mesh
/// flows when given (the previous solution after a what-if), until the residual is below
/// `tol` × the driving pressure.
pub fn newton(
    net: &MineNetwork,
    op: &Operating,
    tol: f64,
    max_steps: usize,
) -> Result<Airflow, AirflowError> {
    let m = meshes(net);
    let br = Branches::new(net, op);
    let scale = br.scale();
    let nm = m.meshes.len();
    let nb = net.branches.len();
    // the mesh–branch incidence C (nm × nb)
    let mut c = Array2::<f64>::zeros((nm, nb));
    for (k, mesh) in m.meshes.iter().enumerate() {
        for &(b, s) in mesh {
            c[[k, b]] += s;
        }
    }
    let mut q = Array1::from(initial(&m));
    let mut flows = branch_flows(nb, &m, q.as_slice().unwrap_or(&[]));
    let mut res = mesh_residuals(&br, &m, &flows);
    let norm = |r: &[f64]| r.iter().map(|x| x * x).sum::<f64>();
    for step in 0..=max_steps {
        let worst = max_abs(&res);
        if worst <= tol * scale {
            return Ok(Airflow {
                solver: "newton",
                kirchhoff: kirchhoff(net, &flows),
                flows,
                iterations: step,
                residual_pa: worst,
            });
        }
        if step == max_steps {
            break;
        }
        let d = Array1::from_iter((0..nb).map(|b| br.eval(b, flows[b]).1));
        // J = C · diag(f′) · Cᵀ
        let cd = &c * &d;
        let j = cd.dot(&c.t());
        let mut a: Vec<f64> = j.iter().copied().collect();
        let mut rhs: Vec<f64> = res.iter().map(|r| -r).collect();
        solve_dense(&mut a, &mut rhs).ok_or(AirflowError::Singular)?;
        let dq = Array1::from(rhs);
        // backtracking: halve the step until the residual falls (at most 30 times)
        let before = norm(&res);
        let mut lambda = 1.0;
        loop {
            let trial = &q + &(&dq * lambda);
            let tf = branch_flows(nb, &m, trial.as_slice().unwrap_or(&[]));
            let tr = mesh_residuals(&br, &m, &tf);
            if norm(&tr) < before || lambda < 1e-9 {
                q = trial;
                flows = tf;
                res = tr;
                break;
            }
            lambda *= 0.5;
        }
    }
    Err(AirflowError::NoConvergence {
        solver: "newton",
        iterations: max_steps,
        residual_pa: max_abs(&res),
    })
}

/// One rule a steady airflow breaks.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Violation {
    /// The branch (or fan) concerned.
    pub branch: String,
    /// Short name of the check.
    pub check: String,
    /// What was found.
    pub detail: String,
    /// The rule it comes from.
    pub rule: String,
}

/// A fan's operating point.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct FanPoint {
    /// Fan id.
    pub id: String,
    /// Flow, m³/s.
    pub flow_m3_s: f64,
    /// Fan pressure, Pa.
    pub pressure_pa: f64,
    /// Outside its curve's points or on a rising part.
    pub stall: bool,
}

/// The fans' operating points.
pub fn fan_points(net: &MineNetwork, op: &Operating, flows: &[f64]) -> Vec<FanPoint> {
    net.fans
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let q = flows[f.branch];
            let running = op.fan_running[i];
            FanPoint {
                id: f.id.clone(),
                flow_m3_s: q,
                pressure_pa: if running { f.pressure(q) } else { 0.0 },
                stall: running && f.stalls(q),
            }
        })
        .collect()
}

/// Checks a steady airflow against the rules: air velocity at working places and air per
/// person (QCVN 01:2011/BCT), fan stall, recirculation (flow against the design direction).
pub fn check(net: &MineNetwork, op: &Operating, flows: &[f64]) -> Vec<Violation> {
    let lim = &net.limits;
    let total: f64 = flows.iter().map(|q| q.abs()).fold(0.0, f64::max);
    let mut out = Vec::new();
    for (b, &q) in net.branches.iter().zip(flows) {
        let v = q.abs() / b.area_m2;
        if b.kind.is_working_place() && v < lim.working_place_velocity_m_s {
            out.push(Violation {
                branch: b.id.clone(),
                check: "air velocity".into(),
                detail: format!(
                    "{v:.3} m/s at a {} (least {} m/s)",
                    if b.kind == super::network::BranchKind::Face {
                        "face"
                    } else {
                        "heading"
                    },
                    lim.working_place_velocity_m_s
                ),
                rule: "QCVN 01:2011/BCT: average air velocity ≥ 0.25 m/s at working faces and gassy headings (≥ 0.5 m/s in class III, super-class and outburst mines)".into(),
            });
        }
        let need = lim.air_per_person_m3_min * f64::from(b.persons);
        if b.persons > 0 && q.abs() * 60.0 < need {
            out.push(Violation {
                branch: b.id.clone(),
                check: "air per person".into(),
                detail: format!(
                    "{:.1} m³/min for {} persons (least {need:.1} m³/min)",
                    q.abs() * 60.0,
                    b.persons
                ),
                rule: "QCVN 01:2011/BCT: ≥ 4 m³/min of air per person underground".into(),
            });
        }
        if q < -1e-9 * total.max(1e-9) {
            out.push(Violation {
                branch: b.id.clone(),
                check: "recirculation".into(),
                detail: format!("{:.3} m³/s against the design direction", -q),
                rule: "flow reversed against the branch's design direction (from → to)".into(),
            });
        }
    }
    for p in fan_points(net, op, flows) {
        if p.stall {
            out.push(Violation {
                branch: p.id.clone(),
                check: "fan stall".into(),
                detail: format!(
                    "operating point {:.2} m³/s, {:.0} Pa",
                    p.flow_m3_s, p.pressure_pa
                ),
                rule: "fan operating point outside its curve's points or on a rising part (stall)"
                    .into(),
            });
        }
    }
    out
}
