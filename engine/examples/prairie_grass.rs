//! Validation of the near field against the Prairie Grass experiment (O'Neill, Nebraska, 1956;
//! Barad 1958): 10-minute SO₂ releases at 0.46 m (1.5 m for runs 65–68), samplers at 1.5 m on
//! arcs at 50, 100, 200, 400 and 800 m. The even-numbered runs (the half the project may read)
//! come from `../shared/data/validation/prairie-grass/`, never from a committed copy.
//!
//! Each run with meteorology is a dispersion run of the engine (near field on, one 10-minute
//! interval): a point source at its release height, receptors at 1.5 m on each arc every 0.5°
//! within ±60° of the wind. The Pasquill–Gifford class comes from the Monin–Obukhov length L by
//! Golder's (1972) relation for the site's roughness (z₀ = 0.006 m, the value quoted for the
//! Prairie Grass site): the class whose line 1/L = a + b·log₁₀ z₀ lies nearest (coefficients as
//! tabulated by Seinfeld & Pandis 2006). The model takes the 10 m wind: the measured 2 m speed is
//! raised to 10 m by the power law of that class. Stable runs have no measured mixing height:
//! h = 0.4·√(u*·L/f) (Zilitinkevich 1972), f the Coriolis parameter at 42.5° N.
//!
//! Printed: per stability group and overall, FB, NMSE and FAC2 (Chang & Hanna 2004) of the arc
//! maxima (C/Q) and of the crosswind integrals (CY/Q), and how many runs were left out for
//! want of meteorology.
//!
//! Run: `cargo run --release --example prairie_grass [-- PATH/prairie-grass-even-runs.csv]`.

use std::collections::BTreeMap;

use twin_engine::dispersion::plume::Stability;
use twin_engine::dispersion::scenario::diffusivity_from_stability;
use twin_engine::dispersion::{DispersionProblem, Emitter, NearField, ReceptorPoint};
use twin_engine::grid::Grid;

const Z0_M: f64 = 0.006;

/// Golder (1972): the class whose 1/L line at z₀ is nearest to 1/L.
fn golder_class(l: f64) -> Stability {
    let lines = [
        (Stability::A, -0.096, 0.029),
        (Stability::B, -0.037, 0.029),
        (Stability::C, -0.002, 0.018),
        (Stability::D, 0.0, 0.0),
        (Stability::E, 0.004, -0.018),
        (Stability::F, 0.035, -0.036),
    ];
    let inv = 1.0 / l;
    lines
        .iter()
        .map(|(c, a, b)| (*c, (inv - (a + b * Z0_M.log10())).abs()))
        .fold(
            (Stability::D, f64::INFINITY),
            |m, x| if x.1 < m.1 { x } else { m },
        )
        .0
}

#[derive(Debug, Clone)]
struct Arc1 {
    run: u32,
    arc_m: f64,
    release_m: f64,
    q_g_s: f64,
    cmax_over_q: f64,
    cy_over_q: f64,
    met: Option<(f64, f64, f64, f64)>, // L, u*, zi, U2
}

fn read(path: &str) -> Result<Vec<Arc1>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty file")?.split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("{path}: no column {name}"))
    };
    let (c_run, c_arc, c_h, c_q, c_cq, c_cy, c_l, c_us, c_zi, c_u) = (
        col("run")?,
        col("arc_m")?,
        col("release_height_m")?,
        col("Q_gps")?,
        col("CMAX_over_Q_sm3")?,
        col("CY_over_Q_sm2")?,
        col("L_m")?,
        col("ustar_ms")?,
        col("zi_m")?,
        col("U_ms")?,
    );
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let num = |c: usize| -> Result<f64, String> {
            f.get(c)
                .ok_or_else(|| format!("{path}: row {}: too few fields", n + 2))?
                .trim()
                .parse::<f64>()
                .map_err(|e| format!("{path}: row {}, column {}: {e}", n + 2, header[c]))
        };
        let opt = |c: usize| f.get(c).and_then(|s| s.trim().parse::<f64>().ok());
        let met = match (opt(c_l), opt(c_us), opt(c_zi), opt(c_u)) {
            (Some(l), Some(us), Some(zi), Some(u)) => Some((l, us, zi, u)),
            _ => None,
        };
        out.push(Arc1 {
            run: num(c_run)? as u32,
            arc_m: num(c_arc)?,
            release_m: num(c_h)?,
            q_g_s: num(c_q)?,
            cmax_over_q: num(c_cq)?,
            cy_over_q: num(c_cy)?,
            met,
        });
    }
    Ok(out)
}

/// (arc maximum, crosswind integral) per g/s on each arc of one run.
fn model_run(arcs: &[&Arc1]) -> Result<Vec<(f64, f64)>, String> {
    let a0 = arcs[0];
    let (l, ustar, zi, u2) = a0.met.ok_or("no meteorology")?;
    let class = golder_class(l);
    let u10 = u2 * 5f64.powf(class.wind_exponent());
    let lid = if zi > 0.0 {
        zi
    } else {
        let f = 2.0 * 7.292e-5 * 42.5f64.to_radians().sin();
        (0.4 * (ustar * l.abs() / f).sqrt()).clamp(20.0, 5000.0)
    };
    let grid = Grid {
        nx: 40,
        ny: 40,
        cell_m: 50.0,
        x0: -1000.0,
        y0: -1000.0,
        epsg: 32614,
    };
    let mut receptors = Vec::new();
    for a in arcs {
        for k in -120..=120 {
            let t = (f64::from(k) * 0.5).to_radians();
            receptors.push(ReceptorPoint {
                name: format!("{} m {k}", a.arc_m),
                x_m: a.arc_m * t.cos(),
                y_m: a.arc_m * t.sin(),
                z_m: 1.5,
            });
        }
    }
    let mut problem = DispersionProblem::single_source(
        grid,
        Emitter {
            height_m: a0.release_m,
            ..Emitter::ground(0.0, 0.0, vec![(0, 1.0)])
        },
        (u10, 0.0),
        diffusivity_from_stability(class.as_str(), u10).unwrap_or(1.0),
        class,
        lid,
        1,
        NearField::default(),
    );
    // one 10-minute release
    problem.intervals[0].duration_s = 600.0;
    problem.receptors = receptors;
    let r = problem.run(None).map_err(|e| e.to_string())?;
    // per arc: the maximum, and the integral along the arc (µg/m³ → g/m³, 0.5° spacing)
    Ok(arcs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let v = &r.receptor_samples[i * 241..(i + 1) * 241];
            let max = v.iter().fold(0.0f64, |m, x| m.max(f64::from(*x))) * 1e-6;
            let step = 0.5f64.to_radians() * a.arc_m;
            let cy = v.iter().map(|x| f64::from(*x)).sum::<f64>() * step * 1e-6;
            (max, cy)
        })
        .collect())
}

/// FB, NMSE, FAC2 (Chang & Hanna 2004) of paired (observed, predicted).
fn stats(pairs: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = pairs.len() as f64;
    let mo = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let mp = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let fb = 2.0 * (mo - mp) / (mo + mp);
    let nmse = pairs.iter().map(|p| (p.0 - p.1).powi(2)).sum::<f64>() / n / (mo * mp);
    let fac2 = pairs
        .iter()
        .filter(|p| p.1 >= 0.5 * p.0 && p.1 <= 2.0 * p.0)
        .count() as f64
        / n;
    (fb, nmse, fac2)
}

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        "../shared/data/validation/prairie-grass/prairie-grass-even-runs.csv".into()
    });
    let arcs = match read(&path) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("prairie_grass: {e}");
            std::process::exit(2);
        }
    };
    let mut runs: BTreeMap<u32, Vec<&Arc1>> = BTreeMap::new();
    for a in &arcs {
        runs.entry(a.run).or_default().push(a);
    }
    let without: Vec<u32> = runs
        .iter()
        .filter(|(_, v)| v[0].met.is_none())
        .map(|(r, _)| *r)
        .collect();
    // (group, observed, predicted) for C/Q and CY/Q
    let mut cq: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    let mut cyq: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    println!("run  L(m)    class  u10(m/s)  arc(m)  C/Q obs   C/Q model  CY/Q obs  CY/Q model");
    for (run, v) in &runs {
        let Some((l, _, _, u2)) = v[0].met else {
            continue;
        };
        let class = golder_class(l);
        let group = match class {
            Stability::A | Stability::B | Stability::C => "unstable (A-C)",
            Stability::D => "neutral (D)",
            Stability::E | Stability::F => "stable (E-F)",
        };
        let model = match model_run(v) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("run {run}: {e}");
                continue;
            }
        };
        for (a, (cmax, cy)) in v.iter().zip(model) {
            println!(
                "{run:>3}  {l:>6.1}  {}      {:>6.2}   {:>5.0}   {:.3e}  {:.3e}  {:.3e}  {:.3e}",
                class.as_str(),
                u2 * 5f64.powf(class.wind_exponent()),
                a.arc_m,
                a.cmax_over_q,
                cmax,
                a.cy_over_q,
                cy
            );
            let _ = a.q_g_s;
            for key in [group, "all"] {
                cq.entry(key).or_default().push((a.cmax_over_q, cmax));
                cyq.entry(key).or_default().push((a.cy_over_q, cy));
            }
        }
    }
    println!(
        "\n{} runs read, {} with meteorology; {} left out without it: {:?}",
        runs.len(),
        runs.len() - without.len(),
        without.len(),
        without
    );
    println!("\ngroup             n    C/Q: FB     NMSE   FAC2   CY/Q: FB     NMSE   FAC2");
    for (g, p) in &cq {
        let (fb, nmse, fac2) = stats(p);
        let (fb2, nmse2, fac22) = stats(&cyq[g]);
        println!(
            "{g:<16} {:>3}   {fb:>7.3} {nmse:>7.3} {fac2:>6.3}   {fb2:>7.3} {nmse2:>7.3} {fac22:>6.3}",
            p.len()
        );
    }
}
