//! Underground mine ventilation and gas: the network file → steady airflow (two solvers) and its
//! rule checks → methane and CO transport over a scenario with what-ifs → alarm events through
//! the telemetry alarm rules (one implementation with `twin telemetry alarms`).
//!
//! - [`network`]: the TOML network file → [`MineNetwork`] (Atkinson resistances, fan curves
//!   fitted by least squares, natural-ventilation heads from junction temperatures);
//! - [`airflow`]: fundamental meshes, Hardy Cross (1936) and Newton–Raphson on the loop
//!   equations, the QCVN 01:2011/BCT checks, fan operating points;
//! - [`gas`]: the scenario file → [`MineScenario`], the transient upwind transport with full
//!   mixing at junctions, events (fan stop, door open, regulator, production, outburst);
//! - [`ensemble`]: perturbed members, their airflows on the CPU, the batched transport on the
//!   GPU (`shaders/mine/`) or its CPU twin, and exceedance probabilities per working place.
//!
//! Methods: Atkinson's square law and the friction-factor resistance R = k·L·per/A³ (McPherson,
//! *Subsurface Ventilation and Environmental Engineering*, 1993, ch. 5); Hardy Cross (1936)
//! with meshes from a spanning tree (Scott & Hinsley 1951 for ventilation networks; McPherson
//! 1993, ch. 7); natural ventilation pressure as the sum of ρ·g·Δz around a loop (McPherson 1993,
//! ch. 8); methane limits 30 CFR 75.323; air velocity and air per person QCVN 01:2011/BCT.

pub mod airflow;
pub mod ensemble;
pub mod gas;
pub mod network;

use polars::prelude::*;

pub use airflow::{Airflow, AirflowError, FanPoint, Operating, Violation};
pub use gas::{GasRun, MineScenario};
pub use network::MineNetwork;

use crate::telemetry::alarms::{AlarmLevel, Alarms, alarms, default_levels};

/// The steady airflow by both solvers, their agreement, and the checks.
#[derive(Debug, Clone)]
pub struct Steady {
    /// Newton's solution (the one reported).
    pub newton: Airflow,
    /// Hardy Cross's solution.
    pub hardy_cross: Airflow,
    /// Largest |Q_newton − Q_hardy_cross| over the largest |Q|.
    pub agreement: f64,
    /// The fans' operating points.
    pub fans: Vec<FanPoint>,
    /// Rules broken.
    pub violations: Vec<Violation>,
}

/// Solves the steady airflow of `op` with both solvers and checks it.
pub fn steady(net: &MineNetwork, op: &Operating) -> Result<Steady, AirflowError> {
    let newton = airflow::newton(net, op, 1e-12, 200)?;
    let hardy_cross = airflow::hardy_cross(net, op, 1e-10, 200_000)?;
    let top = newton.flows.iter().map(|q| q.abs()).fold(1e-300, f64::max);
    let agreement = newton
        .flows
        .iter()
        .zip(&hardy_cross.flows)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
        / top;
    let fans = airflow::fan_points(net, op, &newton.flows);
    let violations = airflow::check(net, op, &newton.flows);
    Ok(Steady {
        newton,
        hardy_cross,
        agreement,
        fans,
        violations,
    })
}

/// The steady table: `branch_id`, `from`, `to`, `kind`, `resistance_ns2_m8`, `flow_m3_s`,
/// `velocity_m_s`, `pressure_drop_pa` (R·Q·|Q|).
pub fn airflow_frame(net: &MineNetwork, op: &Operating, flows: &[f64]) -> PolarsResult<DataFrame> {
    let b = &net.branches;
    df!(
        "branch_id" => b.iter().map(|x| x.id.clone()).collect::<Vec<_>>(),
        "from" => b.iter().map(|x| net.junctions[x.from].id.clone()).collect::<Vec<_>>(),
        "to" => b.iter().map(|x| net.junctions[x.to].id.clone()).collect::<Vec<_>>(),
        "kind" => b.iter().map(|x| format!("{:?}", x.kind).to_lowercase()).collect::<Vec<_>>(),
        "resistance_ns2_m8" => op.resistance.clone(),
        "flow_m3_s" => flows.to_vec(),
        "velocity_m_s" => b.iter().zip(flows).map(|(x, q)| q.abs() / x.area_m2).collect::<Vec<_>>(),
        "pressure_drop_pa" => op.resistance.iter().zip(flows).map(|(r, q)| r * q * q.abs()).collect::<Vec<_>>(),
    )
}

/// The transient table: `branch_id`, `time_ms`, `flow_m3_s`, `ch4_pct`, `co_ppm` (at each
/// branch's outlet).
pub fn branches_frame(net: &MineNetwork, run: &GasRun) -> PolarsResult<DataFrame> {
    let s = &run.series;
    df!(
        "branch_id" => s.branch.iter().map(|&b| net.branches[b as usize].id.clone()).collect::<Vec<_>>(),
        "time_ms" => s.time_ms.clone(),
        "flow_m3_s" => s.flow_m3_s.clone(),
        "ch4_pct" => s.ch4_pct.clone(),
        "co_ppm" => s.co_ppm.clone(),
    )
}

/// The working places' simulated gas as observations (`station_id` = the branch, `CH4` in %,
/// `CO_mine` in ppm, `measuring`), for the telemetry alarm rules.
pub fn working_place_observations(net: &MineNetwork, run: &GasRun) -> PolarsResult<DataFrame> {
    let s = &run.series;
    let (mut st, mut par, mut t, mut v) = (vec![], vec![], vec![], vec![]);
    for i in 0..s.branch.len() {
        let b = &net.branches[s.branch[i] as usize];
        if !b.kind.is_working_place() {
            continue;
        }
        for (p, x) in [("CH4", s.ch4_pct[i]), ("CO_mine", s.co_ppm[i])] {
            st.push(b.id.clone());
            par.push(p);
            t.push(s.time_ms[i]);
            v.push(x);
        }
    }
    let n = st.len();
    df!(
        "station_id" => st,
        "parameter" => par,
        "time_ms" => t,
        "value" => v,
        "status" => vec!["measuring"; n],
    )
}

/// The gas alarm levels (CH₄ 1.0 and 1.5 %, CO 50 ppm) of the telemetry rules.
pub fn gas_levels() -> Vec<AlarmLevel> {
    default_levels()
        .into_iter()
        .filter(|l| l.parameter == "CH4" || l.parameter == "CO_mine")
        .collect()
}

/// Alarm events at the working places — `twin telemetry alarms` on the simulated readings.
pub fn run_alarms(net: &MineNetwork, run: &GasRun, interval_s: f64) -> PolarsResult<Alarms> {
    let obs = working_place_observations(net, run)?;
    alarms(obs.lazy(), &gas_levels(), interval_s)
}
