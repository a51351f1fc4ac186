//! The ventilation network file (TOML) → a checked [`MineNetwork`]: junctions, branches with
//! their Atkinson resistances, fans with least-squares curves, the mine's methane class and the
//! limits its rules use, and each branch's natural-ventilation head.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::scenario::{ScenarioError, check_range, invalid, read_toml};

/// Standard gravity, m/s².
pub const G: f64 = 9.806_65;
/// Specific gas constant of dry air, J/(kg·K).
pub const R_AIR: f64 = 287.05;
/// Sea-level standard pressure, Pa.
pub const P0: f64 = 101_325.0;

/// Most junctions or branches a network may have (the dense Newton system is meshes²).
pub const MAX_BRANCHES: usize = 5_000;

pub use crate::model::MethaneClass;

/// What a branch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BranchKind {
    /// Roadway.
    Airway,
    /// Shaft or drift to the surface.
    Shaft,
    /// Longwall or other working face (a working place).
    Face,
    /// Development heading (a working place).
    Heading,
    /// Regulator (resistance set by scenarios).
    Regulator,
    /// Ventilation door (resistance set by scenarios).
    Door,
    /// Goaf (gob) leakage path.
    Goaf,
}

impl BranchKind {
    /// Faces and headings: where people work, where the gas rules apply.
    pub fn is_working_place(self) -> bool {
        matches!(self, Self::Face | Self::Heading)
    }
}

/// The limits the checks apply; QCVN 01:2011/BCT defaults, overridable in `[limits]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, Deserialize)]
pub struct Limits {
    /// Least average air velocity at faces and headings, m/s (0.25; 0.5 in class III, super
    /// and outburst mines).
    pub working_place_velocity_m_s: f64,
    /// Least air per person at a working place, m³/min (4).
    pub air_per_person_m3_min: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    working_place_velocity_m_s: Option<f64>,
    air_per_person_m3_min: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkFile {
    name: String,
    mine: Option<String>,
    methane_class: MethaneClass,
    #[serde(default = "default_density")]
    air_density_kg_m3: f64,
    limits: Option<LimitsFile>,
    #[serde(default)]
    junctions: Vec<JunctionFile>,
    #[serde(default)]
    branches: Vec<BranchFile>,
    #[serde(default)]
    fans: Vec<FanFile>,
}

fn default_density() -> f64 {
    1.2
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JunctionFile {
    id: String,
    x_m: f64,
    y_m: f64,
    elevation_m: f64,
    temperature_c: Option<f64>,
    #[serde(default)]
    surface: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchFile {
    id: String,
    from: String,
    to: String,
    resistance_ns2_m8: Option<f64>,
    friction_factor_kg_m3: Option<f64>,
    length_m: Option<f64>,
    perimeter_m: Option<f64>,
    area_m2: f64,
    kind: BranchKind,
    #[serde(default)]
    persons: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FanFile {
    id: String,
    branch: String,
    curve: Vec<[f64; 2]>,
}

/// A junction.
#[derive(Debug, Clone, PartialEq)]
pub struct Junction {
    /// Id.
    pub id: String,
    /// Plan position, local metres.
    pub x_m: f64,
    /// Plan position, local metres.
    pub y_m: f64,
    /// Elevation, m.
    pub elevation_m: f64,
    /// Air temperature, °C (none: the network's density applies).
    pub temperature_c: Option<f64>,
    /// Joined to the atmosphere.
    pub surface: bool,
}

/// A branch (airway) between two junctions; positive flow runs `from` → `to` (its design
/// direction).
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    /// Id.
    pub id: String,
    /// Index of the upstream junction (design direction).
    pub from: usize,
    /// Index of the downstream junction.
    pub to: usize,
    /// Atkinson resistance R, N·s²/m⁸ (Δp = R·Q·|Q|).
    pub resistance: f64,
    /// Cross-section, m².
    pub area_m2: f64,
    /// Length, m.
    pub length_m: f64,
    /// What it is.
    pub kind: BranchKind,
    /// People working there.
    pub persons: u32,
}

/// A fan on a branch, pushing air `from` → `to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fan {
    /// Id.
    pub id: String,
    /// Index of its branch.
    pub branch: usize,
    /// The curve's points (Q m³/s, p Pa).
    pub points: Vec<[f64; 2]>,
    /// Least-squares polynomial coefficients in Q/`q_scale`, lowest power first.
    pub coefficients: Vec<f64>,
    /// Q scale of the polynomial (largest point Q, or 1).
    pub q_scale: f64,
}

impl Fan {
    /// Fan pressure at flow `q`, Pa (the polynomial, also outside the points).
    pub fn pressure(&self, q: f64) -> f64 {
        let x = q / self.q_scale;
        self.coefficients
            .iter()
            .rev()
            .fold(0.0, |acc, c| acc * x + c)
    }

    /// dp/dQ at `q`, Pa·s/m³.
    pub fn slope(&self, q: f64) -> f64 {
        let x = q / self.q_scale;
        let mut d = 0.0;
        for (k, c) in self.coefficients.iter().enumerate().skip(1).rev() {
            d = d * x + k as f64 * c;
        }
        d / self.q_scale
    }

    /// Whether the operating point at `q` is a stall: outside the points' Q range or on a
    /// rising part of the curve.
    pub fn stalls(&self, q: f64) -> bool {
        let lo = self.points.first().map_or(0.0, |p| p[0]);
        let hi = self.points.last().map_or(0.0, |p| p[0]);
        let tol = 1e-9 * hi.abs().max(1.0);
        q < lo - tol || q > hi + tol || self.slope(q) > 0.0
    }
}

/// A checked ventilation network.
#[derive(Debug, Clone, PartialEq)]
pub struct MineNetwork {
    /// Name.
    pub name: String,
    /// The dataset mine (feature id) the network lies beneath, when said: the viewer draws a
    /// run's network under that mine.
    pub mine: Option<String>,
    /// Methane class.
    pub methane_class: MethaneClass,
    /// Air density where temperatures are not given, kg/m³.
    pub air_density_kg_m3: f64,
    /// Check limits.
    pub limits: Limits,
    /// Junctions.
    pub junctions: Vec<Junction>,
    /// Branches.
    pub branches: Vec<Branch>,
    /// Fans.
    pub fans: Vec<Fan>,
}

/// Solves `a·x = b` in place by LU with partial pivoting (`a` row-major n×n); `None` when
/// singular. Small dense systems: the Newton loop equations and the fan-curve fits.
pub fn solve_dense(a: &mut [f64], b: &mut [f64]) -> Option<()> {
    let n = b.len();
    debug_assert_eq!(a.len(), n * n);
    for k in 0..n {
        let (p, pv) = (k..n)
            .map(|i| (i, a[i * n + k].abs()))
            .fold((k, -1.0), |best, c| if c.1 > best.1 { c } else { best });
        if pv <= 0.0 || !pv.is_finite() {
            return None;
        }
        if p != k {
            for j in 0..n {
                a.swap(k * n + j, p * n + j);
            }
            b.swap(k, p);
        }
        let d = a[k * n + k];
        for i in k + 1..n {
            let f = a[i * n + k] / d;
            if f == 0.0 {
                continue;
            }
            a[i * n + k] = 0.0;
            for j in k + 1..n {
                a[i * n + j] -= f * a[k * n + j];
            }
            b[i] -= f * b[k];
        }
    }
    for k in (0..n).rev() {
        let s: f64 = (k + 1..n).map(|j| a[k * n + j] * b[j]).sum();
        b[k] = (b[k] - s) / a[k * n + k];
    }
    b.iter().all(|x| x.is_finite()).then_some(())
}

/// Least-squares polynomial of degree min(3, points − 1) through a fan curve's points, in
/// Q/`q_scale` (normal equations; with degree + 1 points it interpolates them).
pub fn fit_curve(points: &[[f64; 2]]) -> Option<(Vec<f64>, f64)> {
    let degree = points.len().checked_sub(1)?.min(3);
    let q_scale = points
        .iter()
        .map(|p| p[0].abs())
        .fold(0.0, f64::max)
        .max(1e-12);
    let m = degree + 1;
    let mut a = vec![0.0; m * m];
    let mut b = vec![0.0; m];
    for p in points {
        let x = p[0] / q_scale;
        let pow: Vec<f64> = (0..m).map(|k| x.powi(k as i32)).collect();
        for i in 0..m {
            b[i] += pow[i] * p[1];
            for j in 0..m {
                a[i * m + j] += pow[i] * pow[j];
            }
        }
    }
    solve_dense(&mut a, &mut b)?;
    Some((b, q_scale))
}

impl MineNetwork {
    /// Reads and checks a network file; errors name the file, the record and the key.
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        let file: NetworkFile = read_toml(path)?;
        Self::from_file(path, file)
    }

    /// Parses network TOML text (errors name `path`).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ScenarioError> {
        let file: NetworkFile =
            toml::from_str(text).map_err(|e| invalid(path, e.message().to_string()))?;
        Self::from_file(path, file)
    }

    fn from_file(path: &Path, f: NetworkFile) -> Result<Self, ScenarioError> {
        let bad = |m: String| invalid(path, m);
        if f.name.trim().is_empty() {
            return Err(bad("key `name`: empty".into()));
        }
        if f.mine.as_ref().is_some_and(|m| m.trim().is_empty()) {
            return Err(bad(
                "key `mine`: empty (a dataset mine id, e.g. \"mine-mong-duong\")".into(),
            ));
        }
        check_range("air_density_kg_m3", f.air_density_kg_m3, 0.5, 2.0, "kg/m³").map_err(bad)?;
        if f.junctions.is_empty() || f.branches.is_empty() {
            return Err(bad(
                "a network needs [[junctions]] and [[branches]] (none given)".into(),
            ));
        }
        if f.junctions.len() > MAX_BRANCHES || f.branches.len() > MAX_BRANCHES {
            return Err(bad(format!(
                "{} junctions and {} branches: at most {MAX_BRANCHES} of each",
                f.junctions.len(),
                f.branches.len()
            )));
        }
        let default_velocity = match f.methane_class {
            MethaneClass::I | MethaneClass::II => 0.25,
            _ => 0.5,
        };
        let limits = Limits {
            working_place_velocity_m_s: f
                .limits
                .as_ref()
                .and_then(|l| l.working_place_velocity_m_s)
                .unwrap_or(default_velocity),
            air_per_person_m3_min: f
                .limits
                .as_ref()
                .and_then(|l| l.air_per_person_m3_min)
                .unwrap_or(4.0),
        };
        check_range(
            "limits.working_place_velocity_m_s",
            limits.working_place_velocity_m_s,
            0.0,
            20.0,
            "m/s",
        )
        .map_err(bad)?;
        check_range(
            "limits.air_per_person_m3_min",
            limits.air_per_person_m3_min,
            0.0,
            100.0,
            "m³/min",
        )
        .map_err(bad)?;
        let mut index = HashMap::new();
        let mut junctions = Vec::with_capacity(f.junctions.len());
        for (i, j) in f.junctions.into_iter().enumerate() {
            let at = |k: &str| format!("junctions[{i}] (id {:?}): {k}", j.id);
            if j.id.trim().is_empty() {
                return Err(bad(format!("junctions[{i}]: key `id`: empty")));
            }
            for (k, v, lo, hi, u) in [
                ("x_m", j.x_m, -1e6, 1e6, "m"),
                ("y_m", j.y_m, -1e6, 1e6, "m"),
                ("elevation_m", j.elevation_m, -5_000.0, 5_000.0, "m"),
            ] {
                check_range(k, v, lo, hi, u).map_err(|m| bad(at(&m)))?;
            }
            if let Some(t) = j.temperature_c {
                check_range("temperature_c", t, -50.0, 80.0, "°C").map_err(|m| bad(at(&m)))?;
            }
            if index.insert(j.id.clone(), i).is_some() {
                return Err(bad(at("key `id`: used by an earlier junction")));
            }
            junctions.push(Junction {
                id: j.id,
                x_m: j.x_m,
                y_m: j.y_m,
                elevation_m: j.elevation_m,
                temperature_c: j.temperature_c,
                surface: j.surface,
            });
        }
        let mut branch_index = HashMap::new();
        let mut branches = Vec::with_capacity(f.branches.len());
        for (i, b) in f.branches.into_iter().enumerate() {
            let at = |k: &str| format!("branches[{i}] (id {:?}): {k}", b.id);
            if b.id.trim().is_empty() {
                return Err(bad(format!("branches[{i}]: key `id`: empty")));
            }
            if branch_index.insert(b.id.clone(), i).is_some() {
                return Err(bad(at("key `id`: used by an earlier branch")));
            }
            let end = |key: &str, id: &str| {
                index.get(id).copied().ok_or_else(|| {
                    bad(at(&format!(
                        "key `{key}`: no junction {id:?} in the network"
                    )))
                })
            };
            let (from, to) = (end("from", &b.from)?, end("to", &b.to)?);
            if from == to {
                return Err(bad(at("keys `from` and `to`: the same junction")));
            }
            check_range("area_m2", b.area_m2, 0.01, 1_000.0, "m²").map_err(|m| bad(at(&m)))?;
            let (ja, jb) = (&junctions[from], &junctions[to]);
            let straight = ((ja.x_m - jb.x_m).powi(2)
                + (ja.y_m - jb.y_m).powi(2)
                + (ja.elevation_m - jb.elevation_m).powi(2))
            .sqrt();
            let length_m = match b.length_m {
                Some(l) => {
                    check_range("length_m", l, 0.1, 100_000.0, "m").map_err(|m| bad(at(&m)))?
                }
                None if straight >= 0.1 => straight,
                None => {
                    return Err(bad(at(
                        "key `length_m`: missing, and its junctions are at the same place",
                    )));
                }
            };
            let resistance = match (b.resistance_ns2_m8, b.friction_factor_kg_m3) {
                (Some(r), None) => check_range("resistance_ns2_m8", r, 1e-9, 1e9, "N·s²/m⁸")
                    .map_err(|m| bad(at(&m)))?,
                (None, Some(k)) => {
                    check_range("friction_factor_kg_m3", k, 1e-5, 1.0, "kg/m³")
                        .map_err(|m| bad(at(&m)))?;
                    let Some(per) = b.perimeter_m else {
                        return Err(bad(at(
                            "key `perimeter_m`: needed with `friction_factor_kg_m3`",
                        )));
                    };
                    check_range("perimeter_m", per, 0.1, 1_000.0, "m").map_err(|m| bad(at(&m)))?;
                    if b.length_m.is_none() {
                        return Err(bad(at(
                            "key `length_m`: needed with `friction_factor_kg_m3`",
                        )));
                    }
                    // Atkinson: R = k·L·per / A³ (McPherson 1993, eq. 5.6)
                    k * length_m * per / b.area_m2.powi(3)
                }
                (Some(_), Some(_)) => {
                    return Err(bad(at(
                        "keys `resistance_ns2_m8` and `friction_factor_kg_m3`: give one, not both",
                    )));
                }
                (None, None) => {
                    return Err(bad(at(
                        "key `resistance_ns2_m8` (or `friction_factor_kg_m3` with `length_m`, `perimeter_m`): missing",
                    )));
                }
            };
            if b.persons > 1_000 {
                return Err(bad(at(&format!(
                    "key `persons`: {} is more than 1000",
                    b.persons
                ))));
            }
            branches.push(Branch {
                id: b.id,
                from,
                to,
                resistance,
                area_m2: b.area_m2,
                length_m,
                kind: b.kind,
                persons: b.persons,
            });
        }
        let mut fans = Vec::new();
        let mut fan_ids = HashMap::new();
        for (i, fan) in f.fans.into_iter().enumerate() {
            let at = |k: &str| format!("fans[{i}] (id {:?}): {k}", fan.id);
            if fan_ids.insert(fan.id.clone(), i).is_some() {
                return Err(bad(at("key `id`: used by an earlier fan")));
            }
            let branch = *branch_index.get(&fan.branch).ok_or_else(|| {
                bad(at(&format!(
                    "key `branch`: no branch {:?} in the network",
                    fan.branch
                )))
            })?;
            if fans.iter().any(|x: &Fan| x.branch == branch) {
                return Err(bad(at("key `branch`: another fan is on this branch")));
            }
            if fan.curve.len() < 2 || fan.curve.len() > 50 {
                return Err(bad(at(&format!(
                    "key `curve`: {} points; a curve needs 2–50 [Q m³/s, p Pa] points",
                    fan.curve.len()
                ))));
            }
            for (k, p) in fan.curve.iter().enumerate() {
                check_range(&format!("curve[{k}][0]"), p[0], 0.0, 10_000.0, "m³/s")
                    .map_err(|m| bad(at(&m)))?;
                check_range(&format!("curve[{k}][1]"), p[1], -100_000.0, 100_000.0, "Pa")
                    .map_err(|m| bad(at(&m)))?;
                if k > 0 && p[0] <= fan.curve[k - 1][0] {
                    return Err(bad(at(&format!(
                        "key `curve`: point {k}'s Q {} is not above the previous point's",
                        p[0]
                    ))));
                }
            }
            let (coefficients, q_scale) = fit_curve(&fan.curve)
                .ok_or_else(|| bad(at("key `curve`: the points do not fit a polynomial")))?;
            fans.push(Fan {
                id: fan.id,
                branch,
                points: fan.curve,
                coefficients,
                q_scale,
            });
        }
        let net = Self {
            name: f.name,
            mine: f.mine,
            methane_class: f.methane_class,
            air_density_kg_m3: f.air_density_kg_m3,
            limits,
            junctions,
            branches,
            fans,
        };
        let unreached = net.unconnected();
        if !unreached.is_empty() {
            let ids: Vec<&str> = unreached
                .iter()
                .take(10)
                .map(|&j| net.junctions[j].id.as_str())
                .collect();
            return Err(bad(format!(
                "{} junctions not connected to the rest of the network (surface junctions count as one): {}",
                unreached.len(),
                ids.join(", ")
            )));
        }
        Ok(net)
    }

    /// The solver's node of each junction: surface junctions all share node 0 (the
    /// atmosphere) when there are any; the others follow in file order.
    pub fn nodes(&self) -> (Vec<usize>, usize, Option<usize>) {
        let has_surface = self.junctions.iter().any(|j| j.surface);
        let mut next = usize::from(has_surface);
        let node = self
            .junctions
            .iter()
            .map(|j| {
                if j.surface {
                    0
                } else {
                    next += 1;
                    next - 1
                }
            })
            .collect();
        (node, next, has_surface.then_some(0))
    }

    fn unconnected(&self) -> Vec<usize> {
        let (node, n, _) = self.nodes();
        let mut adj = vec![Vec::new(); n];
        for b in &self.branches {
            adj[node[b.from]].push(node[b.to]);
            adj[node[b.to]].push(node[b.from]);
        }
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(u) = stack.pop() {
            for &v in &adj[u] {
                if !seen[v] {
                    seen[v] = true;
                    stack.push(v);
                }
            }
        }
        (0..self.junctions.len())
            .filter(|&j| !seen[node[j]])
            .collect()
    }

    /// Air density at a junction, kg/m³: from its temperature and the barometric pressure at
    /// its elevation (isothermal column at that temperature from sea-level standard pressure),
    /// or the network's density without a temperature.
    pub fn junction_density(&self, j: usize) -> Option<f64> {
        let jn = &self.junctions[j];
        jn.temperature_c.map(|t| {
            let tk = t + 273.15;
            let p = P0 * (-G * jn.elevation_m / (R_AIR * tk)).exp();
            p / (R_AIR * tk)
        })
    }

    /// Each branch's natural-ventilation head in its design direction, Pa: ρ·g·(z_from − z_to)
    /// with ρ the mean of its junctions' densities (the network's density unless both have a
    /// temperature), plus, where a branch starts or ends at the surface, the atmosphere's
    /// column between that opening and the highest surface opening (at the opening's density).
    /// Around any closed path the heads sum to the natural ventilation pressure; with one
    /// density everywhere they sum to zero.
    pub fn natural_heads(&self) -> Vec<f64> {
        let rho0 = self.air_density_kg_m3;
        let top = self
            .junctions
            .iter()
            .filter(|j| j.surface)
            .map(|j| j.elevation_m)
            .fold(f64::NEG_INFINITY, f64::max);
        let rho = |j: usize| self.junction_density(j);
        self.branches
            .iter()
            .map(|b| {
                let (a, c) = (&self.junctions[b.from], &self.junctions[b.to]);
                let rb = match (rho(b.from), rho(b.to)) {
                    (Some(x), Some(y)) => 0.5 * (x + y),
                    _ => rho0,
                };
                let mut h = rb * G * (a.elevation_m - c.elevation_m);
                if a.surface {
                    // from the top of the atmosphere down to this opening
                    h += rho(b.from).unwrap_or(rho0) * G * (top - a.elevation_m);
                }
                if c.surface {
                    // from this opening up to the top
                    h -= rho(b.to).unwrap_or(rho0) * G * (top - c.elevation_m);
                }
                h
            })
            .collect()
    }

    /// Index of a branch by id.
    pub fn branch(&self, id: &str) -> Option<usize> {
        self.branches.iter().position(|b| b.id == id)
    }

    /// Index of a fan by id.
    pub fn fan(&self, id: &str) -> Option<usize> {
        self.fans.iter().position(|f| f.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_points_give_the_exact_quadratic_and_four_a_cubic() {
        let pts = [[0.0, 3000.0], [20.0, 2200.0], [35.0, 550.0]];
        let (c, s) = fit_curve(&pts).expect("fit");
        assert_eq!(c.len(), 3);
        let fan = Fan {
            id: "F".into(),
            branch: 0,
            points: pts.to_vec(),
            coefficients: c,
            q_scale: s,
        };
        for p in pts {
            assert!((fan.pressure(p[0]) - p[1]).abs() < 1e-9, "{p:?}");
        }
        // slope by central difference
        let h = 1e-4;
        let num = (fan.pressure(10.0 + h) - fan.pressure(10.0 - h)) / (2.0 * h);
        assert!((fan.slope(10.0) - num).abs() < 1e-6);
        assert!(!fan.stalls(10.0));
        assert!(fan.stalls(36.0), "beyond the last point");
        // a hump: the rising part stalls
        let hump = [[0.0, 1000.0], [10.0, 1500.0], [20.0, 1400.0], [30.0, 600.0]];
        let (c, s) = fit_curve(&hump).expect("fit");
        assert_eq!(c.len(), 4);
        let fan = Fan {
            id: "H".into(),
            branch: 0,
            points: hump.to_vec(),
            coefficients: c,
            q_scale: s,
        };
        assert!(fan.stalls(2.0));
        assert!(!fan.stalls(25.0));
    }

    #[test]
    fn lu_solves_and_refuses_singular_systems() {
        let mut a = vec![0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];
        let mut b = vec![5.0, 2.0, 6.0];
        solve_dense(&mut a, &mut b).expect("solve");
        // x = (1, 1, 3)
        for (x, e) in b.iter().zip([1.0, 1.0, 3.0]) {
            assert!((x - e).abs() < 1e-12);
        }
        let mut a = vec![1.0, 2.0, 2.0, 4.0];
        let mut b = vec![1.0, 2.0];
        assert!(solve_dense(&mut a, &mut b).is_none());
    }

    const NET: &str = r#"
name = "t"
methane_class = "III"
[[junctions]]
id = "S"
x_m = 0.0
y_m = 0.0
elevation_m = 0.0
surface = true
[[junctions]]
id = "A"
x_m = 0.0
y_m = 0.0
elevation_m = -100.0
[[branches]]
id = "B1"
from = "S"
to = "A"
resistance_ns2_m8 = 0.1
area_m2 = 10.0
kind = "shaft"
"#;

    #[test]
    fn errors_name_the_record_and_the_key() {
        let p = Path::new("net.toml");
        let net = MineNetwork::parse(p, NET).expect("net");
        assert_eq!(net.branches[0].length_m, 100.0);
        assert_eq!(net.limits.working_place_velocity_m_s, 0.5);
        let e = MineNetwork::parse(p, &NET.replace("to = \"A\"", "to = \"Q\"")).expect_err("bad");
        let m = e.to_string();
        assert!(
            m.contains("net.toml") && m.contains("branches[0] (id \"B1\")") && m.contains("`to`"),
            "{m}"
        );
        let e = MineNetwork::parse(p, &NET.replace("0.1", "-1.0")).expect_err("bad");
        assert!(e.to_string().contains("resistance_ns2_m8"), "{e}");
        let e = MineNetwork::parse(p, &NET.replace("kind = \"shaft\"", "kind = \"tunnel\""))
            .expect_err("bad");
        assert!(e.to_string().contains("tunnel"), "{e}");
        let extra =
            format!("{NET}\n[[junctions]]\nid = \"Z\"\nx_m = 1.0\ny_m = 0.0\nelevation_m = -5.0\n");
        let e = MineNetwork::parse(p, &extra).expect_err("unconnected");
        assert!(
            e.to_string().contains("not connected") && e.to_string().contains('Z'),
            "{e}"
        );
    }

    #[test]
    fn one_density_gives_no_natural_ventilation_and_temperatures_do() {
        let p = Path::new("n.toml");
        // a U: intake shaft S1 → A → B → upcast shaft → S2, surfaces at different heights
        let text = |t_in: &str, t_out: &str| {
            format!(
                r#"name = "u"
methane_class = "I"
[[junctions]]
id = "S1"
x_m = 0.0
y_m = 0.0
elevation_m = 20.0
surface = true
{t_in}
[[junctions]]
id = "A"
x_m = 0.0
y_m = 0.0
elevation_m = -300.0
{t_in}
[[junctions]]
id = "B"
x_m = 500.0
y_m = 0.0
elevation_m = -300.0
{t_out}
[[junctions]]
id = "S2"
x_m = 500.0
y_m = 0.0
elevation_m = 0.0
surface = true
{t_in}
[[branches]]
id = "in"
from = "S1"
to = "A"
resistance_ns2_m8 = 0.1
area_m2 = 10.0
kind = "shaft"
[[branches]]
id = "road"
from = "A"
to = "B"
resistance_ns2_m8 = 0.1
area_m2 = 10.0
kind = "airway"
[[branches]]
id = "out"
from = "B"
to = "S2"
resistance_ns2_m8 = 0.1
area_m2 = 10.0
kind = "shaft"
"#
            )
        };
        let net = MineNetwork::parse(p, &text("", "")).expect("net");
        let sum: f64 = net.natural_heads().iter().sum();
        assert!(sum.abs() < 1e-9, "{sum}");
        // cold intake, warm return: the loop's heads push air in at S1 and out at S2
        let net = MineNetwork::parse(p, &text("temperature_c = 10.0", "temperature_c = 30.0"))
            .expect("net");
        let sum: f64 = net.natural_heads().iter().sum();
        assert!(sum > 20.0 && sum < 1000.0, "NVP {sum} Pa");
    }
}
