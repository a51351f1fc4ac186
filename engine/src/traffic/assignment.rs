//! Static user equilibrium (Wardrop 1952) with BPR link costs — the equilibrium machinery of
//! [`super::routing`] (destination labels and all-or-nothing loading) in a static mode, to be
//! checked against published equilibria (Sioux Falls: `scripts/validate-sioux-falls`).
//!
//! Link cost t(x) = t₀·(1 + b·(x/c)^p) (Bureau of Public Roads 1964). Two averaging schemes over
//! the same all-or-nothing loading: the method of successive averages (step 1/(i+1), what the
//! dynamic equilibrium uses; Sheffi 1985, §12) and Frank–Wolfe (LeBlanc, Morlok & Pierskalla
//! 1975: the step minimises Beckmann's objective along the direction, by bisection on its
//! derivative). The relative gap is (Σ t·x − Σ q·π)/Σ t·x with π the shortest OD cost
//! (the TNTP convention).
//!
//! Reads the TNTP text formats (Bar-Gera's transportation network test problems): the network
//! (`<init node> <term node> <capacity> <length> <free flow time> <b> <power> …;`), the trips
//! (`Origin o` then `d : q;` pairs) and a flow solution (`from to volume cost`).

use std::path::{Path, PathBuf};

use super::routing::{Graph, best_next, labels_to};

/// One link with a BPR cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BprLink {
    /// Tail node (0-based).
    pub from: usize,
    /// Head node (0-based).
    pub to: usize,
    /// Capacity, veh/h.
    pub capacity: f64,
    /// Free-flow time.
    pub t0: f64,
    /// BPR b.
    pub b: f64,
    /// BPR power.
    pub power: f64,
}

impl BprLink {
    /// Cost at flow x.
    pub fn cost(&self, x: f64) -> f64 {
        self.t0 * (1.0 + self.b * (x.max(0.0) / self.capacity).powf(self.power))
    }
    /// ∫₀ˣ t: the link's share of Beckmann's objective.
    pub fn integral(&self, x: f64) -> f64 {
        let x = x.max(0.0);
        self.t0
            * (x + self.b * self.capacity / (self.power + 1.0)
                * (x / self.capacity).powf(self.power + 1.0))
    }
}

/// A static assignment problem.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticProblem {
    /// Nodes.
    pub n_nodes: usize,
    /// Links.
    pub links: Vec<BprLink>,
    /// Trips (origin, destination, vehicles per hour), 0-based nodes.
    pub trips: Vec<(usize, usize, f64)>,
}

/// The averaging scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Method of successive averages, step 1/(i+1).
    Msa,
    /// Frank–Wolfe with an exact line search.
    FrankWolfe,
}

/// An equilibrium found.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticResult {
    /// Link flows.
    pub flows: Vec<f64>,
    /// Relative gap of every iteration's flows (before its averaging step).
    pub gaps: Vec<f64>,
    /// Beckmann's objective at the final flows.
    pub objective: f64,
}

impl StaticProblem {
    fn graph(&self) -> Graph {
        let pairs: Vec<(usize, usize)> = self.links.iter().map(|l| (l.from, l.to)).collect();
        Graph::new(self.n_nodes, &pairs)
    }

    /// All-or-nothing flows at link costs `t` and Σ q·π (π the shortest OD costs).
    fn all_or_nothing(&self, graph: &Graph, t: &[f64]) -> (Vec<f64>, f64) {
        let mut by_dest: Vec<Vec<(usize, f64)>> = vec![Vec::new(); self.n_nodes];
        for &(o, d, q) in &self.trips {
            if q > 0.0 && o != d {
                by_dest[d].push((o, q));
            }
        }
        let mut x = vec![0.0; self.links.len()];
        let mut spc = 0.0;
        let times = vec![t.to_vec()];
        for (d, trips) in by_dest.iter().enumerate() {
            if trips.is_empty() {
                continue;
            }
            let labels = labels_to(graph, d, &times, f64::INFINITY);
            let next = best_next(graph, d, &times, &labels, f64::INFINITY);
            let mut node_flow = vec![0.0; self.n_nodes];
            for &(o, q) in trips {
                node_flow[o] += q;
                if labels[0][o].is_finite() {
                    spc += q * labels[0][o];
                }
            }
            // push flows towards d in decreasing label order (every tree link lowers it)
            let mut order: Vec<usize> = (0..self.n_nodes)
                .filter(|&n| labels[0][n].is_finite())
                .collect();
            order.sort_by(|&a, &b| labels[0][b].total_cmp(&labels[0][a]));
            for n in order {
                if let Some(l) = next[0][n] {
                    x[l] += node_flow[n];
                    let h = graph.to[l];
                    node_flow[h] += node_flow[n];
                }
            }
        }
        (x, spc)
    }

    fn costs(&self, x: &[f64]) -> Vec<f64> {
        self.links.iter().zip(x).map(|(l, &v)| l.cost(v)).collect()
    }

    /// Beckmann's objective Σ ∫₀^x t.
    pub fn objective(&self, x: &[f64]) -> f64 {
        self.links.iter().zip(x).map(|(l, &v)| l.integral(v)).sum()
    }

    /// Assigns the trips: stops when the relative gap is below `target_gap` or after
    /// `max_iterations`.
    pub fn assign(&self, method: Method, max_iterations: usize, target_gap: f64) -> StaticResult {
        let graph = self.graph();
        let free: Vec<f64> = self.links.iter().map(|l| l.t0).collect();
        let (mut x, _) = self.all_or_nothing(&graph, &free);
        let mut gaps = Vec::new();
        for i in 1..=max_iterations.max(1) {
            let t = self.costs(&x);
            let (y, spc) = self.all_or_nothing(&graph, &t);
            let tstt: f64 = t.iter().zip(&x).map(|(a, b)| a * b).sum();
            let gap = if tstt > 0.0 { (tstt - spc) / tstt } else { 0.0 };
            gaps.push(gap);
            if gap <= target_gap || i == max_iterations {
                break;
            }
            let step = match method {
                Method::Msa => 1.0 / (i as f64 + 1.0),
                Method::FrankWolfe => {
                    // the derivative of Beckmann's objective along y − x is increasing in λ
                    let slope = |lam: f64| -> f64 {
                        self.links
                            .iter()
                            .enumerate()
                            .map(|(k, l)| (y[k] - x[k]) * l.cost(x[k] + lam * (y[k] - x[k])))
                            .sum()
                    };
                    let (mut lo, mut hi) = (0.0f64, 1.0f64);
                    if slope(1.0) <= 0.0 {
                        1.0
                    } else {
                        for _ in 0..60 {
                            let mid = 0.5 * (lo + hi);
                            if slope(mid) > 0.0 {
                                hi = mid;
                            } else {
                                lo = mid;
                            }
                        }
                        0.5 * (lo + hi)
                    }
                }
            };
            for (a, b) in x.iter_mut().zip(&y) {
                *a += step * (b - *a);
            }
        }
        let objective = self.objective(&x);
        StaticResult {
            flows: x,
            gaps,
            objective,
        }
    }
}

/// A TNTP file that cannot be read: the file, the line and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {message}", path.display())]
pub struct TntpError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line (0: the file as a whole).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn read(path: &Path) -> Result<String, TntpError> {
    std::fs::read_to_string(path).map_err(|e| TntpError {
        path: path.to_path_buf(),
        line: 0,
        message: format!("cannot read: {e}"),
    })
}

/// Lines after `<END OF METADATA>` that are not comments (`~`) or blank, with their numbers;
/// and the metadata's `<NUMBER OF NODES>`/`<NUMBER OF ZONES>` when given.
fn body(text: &str) -> (Vec<(usize, &str)>, Option<usize>) {
    let mut in_body = !text.contains("<END OF METADATA>");
    let mut nodes = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if !in_body {
            if t.starts_with("<END OF METADATA>") {
                in_body = true;
            } else if let Some(v) = t
                .strip_prefix("<NUMBER OF NODES>")
                .or_else(|| t.strip_prefix("<NUMBER OF ZONES>"))
            {
                nodes = v.trim().parse().ok().or(nodes);
            }
            continue;
        }
        if t.is_empty() || t.starts_with('~') {
            continue;
        }
        out.push((i + 1, t));
    }
    (out, nodes)
}

/// Most nodes a TNTP network may number (the largest published, Chicago regional, has ~13,000).
pub const MAX_TNTP_NODES: usize = 1_000_000;

fn node_of(path: &Path, line: usize, field: &str, v: &str) -> Result<usize, TntpError> {
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_TNTP_NODES).contains(&n) => Ok(n - 1),
        _ => Err(TntpError {
            path: path.to_path_buf(),
            line,
            message: format!("{field} {v:?} is not a node number in 1..={MAX_TNTP_NODES}"),
        }),
    }
}

fn number(
    path: &Path,
    line: usize,
    field: &str,
    v: &str,
    positive: bool,
) -> Result<f64, TntpError> {
    match v.parse::<f64>() {
        Ok(x) if x.is_finite() && (x > 0.0 || (!positive && x >= 0.0)) => Ok(x),
        _ => Err(TntpError {
            path: path.to_path_buf(),
            line,
            message: format!(
                "{field} {v:?} is not a finite number {}",
                if positive { "> 0" } else { "≥ 0" }
            ),
        }),
    }
}

/// Reads a TNTP network file: the links and the number of nodes.
pub fn read_tntp_network(path: &Path) -> Result<(usize, Vec<BprLink>), TntpError> {
    let text = read(path)?;
    let (lines, declared) = body(&text);
    let mut links = Vec::new();
    for (no, t) in lines {
        let f: Vec<&str> = t.trim_end_matches(';').split_whitespace().collect();
        if f.len() < 7 {
            return Err(TntpError {
                path: path.to_path_buf(),
                line: no,
                message: format!(
                    "{} fields; a link needs init node, term node, capacity, length, free flow time, b, power",
                    f.len()
                ),
            });
        }
        links.push(BprLink {
            from: node_of(path, no, "init node", f[0])?,
            to: node_of(path, no, "term node", f[1])?,
            capacity: number(path, no, "capacity", f[2], true)?,
            // positive: the loading pushes flow in decreasing label order, which a zero-time
            // link would not order
            t0: number(path, no, "free flow time", f[4], true)?,
            b: number(path, no, "b", f[5], false)?,
            power: number(path, no, "power", f[6], false)?,
        });
    }
    let max_node = links
        .iter()
        .map(|l| l.from.max(l.to) + 1)
        .max()
        .unwrap_or(0);
    let declared = declared.unwrap_or(0);
    if declared > MAX_TNTP_NODES {
        return Err(TntpError {
            path: path.to_path_buf(),
            line: 0,
            message: format!(
                "<NUMBER OF NODES> {declared} is above the most supported, {MAX_TNTP_NODES}"
            ),
        });
    }
    Ok((declared.max(max_node), links))
}

/// Reads a TNTP trips file: (origin, destination, flow), 0-based.
pub fn read_tntp_trips(path: &Path) -> Result<Vec<(usize, usize, f64)>, TntpError> {
    let text = read(path)?;
    let (lines, _) = body(&text);
    let mut origin = None;
    let mut trips = Vec::new();
    for (no, t) in lines {
        if let Some(o) = t.strip_prefix("Origin") {
            origin = Some(node_of(path, no, "origin", o.trim())?);
            continue;
        }
        let Some(o) = origin else {
            return Err(TntpError {
                path: path.to_path_buf(),
                line: no,
                message: "destination flows before any `Origin` line".into(),
            });
        };
        for pair in t.split(';') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let Some((d, q)) = pair.split_once(':') else {
                return Err(TntpError {
                    path: path.to_path_buf(),
                    line: no,
                    message: format!("{pair:?} is not `destination : flow`"),
                });
            };
            let d = node_of(path, no, "destination", d.trim())?;
            let q = number(path, no, "flow", q.trim(), false)?;
            trips.push((o, d, q));
        }
    }
    Ok(trips)
}

/// Reads a TNTP flow solution: (from, to, volume), 0-based.
pub fn read_tntp_flows(path: &Path) -> Result<Vec<(usize, usize, f64)>, TntpError> {
    let text = read(path)?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 3 || f[0].parse::<usize>().is_err() {
            continue; // the header and blank lines
        }
        out.push((
            node_of(path, i + 1, "from", f[0])?,
            node_of(path, i + 1, "to", f[1])?,
            number(path, i + 1, "volume", f[2], false)?,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two parallel links, t₁ = 10(1 + 0.15(x₁/1000)⁴), t₂ = 15(1 + 0.15(x₂/1000)⁴), 2,000
    /// trips: Wardrop's equilibrium has t₁ = t₂ with x₁ + x₂ = 2,000 — solved here by bisection
    /// on x₁ (x₁ = 1,227.1…) and reached by both schemes.
    #[test]
    fn two_links_reach_wardrop_equilibrium() {
        let l = |t0| BprLink {
            from: 0,
            to: 1,
            capacity: 1000.0,
            t0,
            b: 0.15,
            power: 4.0,
        };
        let p = StaticProblem {
            n_nodes: 2,
            links: vec![l(10.0), l(15.0)],
            trips: vec![(0, 1, 2000.0)],
        };
        let (mut lo, mut hi) = (0.0f64, 2000.0f64);
        for _ in 0..100 {
            let m = 0.5 * (lo + hi);
            if p.links[0].cost(m) > p.links[1].cost(2000.0 - m) {
                hi = m;
            } else {
                lo = m;
            }
        }
        let x1 = 0.5 * (lo + hi);
        let fw = p.assign(Method::FrankWolfe, 200, 1e-10);
        assert!((fw.flows[0] - x1).abs() < 1e-3, "{fw:?} vs {x1}");
        let msa = p.assign(Method::Msa, 2000, 1e-6);
        assert!((msa.flows[0] - x1).abs() < 2.0, "{msa:?} vs {x1}");
        assert!((fw.flows[0] + fw.flows[1] - 2000.0).abs() < 1e-6);
    }

    #[test]
    fn bad_tntp_lines_name_the_file_line_and_field() {
        let dir = std::env::temp_dir().join(format!("tntp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let f = dir.join("net.tntp");
        std::fs::write(
            &f,
            "<END OF METADATA>\n~ header\n1 2 100 1 1 0.15 4 ;\n2 x 100 1 1 0.15 4 ;\n",
        )
        .expect("write");
        let e = read_tntp_network(&f).expect_err("bad node").to_string();
        assert!(e.contains("net.tntp:4") && e.contains("term node"), "{e}");
        std::fs::write(&f, "<END OF METADATA>\nOrigin 1\n 2 : -5;\n").expect("write");
        let e = read_tntp_trips(&f).expect_err("negative").to_string();
        assert!(e.contains("net.tntp:3") && e.contains("flow"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
