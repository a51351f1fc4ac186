//! A mine run's directory: `airflow.parquet` (steady), `branches.parquet` and `alarms.parquet`
//! (with a scenario), `summary.json`, and `network.png` — the network in plan, branches
//! coloured by flow (steady) or by the highest CH₄ at their outlet over the run.

use std::collections::BTreeMap;
use std::path::Path;

use super::OutputError;
use super::map::{Image, viridis};
use super::run::{
    AirflowChange, FORMAT_VERSION, MineEnsembleSummary, MineGasSummary, MineSummary, RunSummary,
    SolverSummary, write_summary,
};
use super::text::Pen;
use crate::mine::airflow::{self, Airflow, Operating};
use crate::mine::ensemble::{EnsembleProblem, EnsembleRun, SIGMA_GAS, SIGMA_RESISTANCE};
use crate::mine::gas::GasRun;
use crate::mine::{MineNetwork, MineScenario, Steady};

/// What a mine run writes besides the solution.
pub struct MineRunInfo<'a> {
    /// The network file.
    pub network_file: &'a Path,
    /// The scenario file and its run, when there was one.
    pub gas: Option<(&'a Path, &'a MineScenario, &'a GasRun)>,
    /// The ensemble, its result, seed and adapter, when one was run.
    pub ensemble: Option<(
        &'a EnsembleProblem,
        &'a EnsembleRun,
        u64,
        Option<crate::gpu::AdapterReport>,
    )>,
    /// Wall time so far, s.
    pub wall_s: f64,
}

fn solver(a: &Airflow) -> SolverSummary {
    SolverSummary {
        solver: a.solver.to_string(),
        iterations: a.iterations,
        residual_pa: a.residual_pa,
        kirchhoff: a.kirchhoff,
    }
}

/// Writes the run's tables, image and summary into `dir`; returns the summary.
pub fn write_mine_run(
    dir: &Path,
    net: &MineNetwork,
    steady: &Steady,
    info: &MineRunInfo,
) -> Result<RunSummary, OutputError> {
    let op = Operating::design(net);
    let enc = |p: &Path| {
        let p = p.to_path_buf();
        move |e: polars::prelude::PolarsError| OutputError::encode(&p, e.to_string())
    };
    let mut outputs = BTreeMap::new();
    // the network as given, so the run directory alone redraws it (the viewer does)
    let path = dir.join("network.toml");
    let text =
        std::fs::read(info.network_file).map_err(|e| OutputError::io(info.network_file, e))?;
    std::fs::write(&path, text).map_err(|e| OutputError::io(&path, e))?;
    outputs.insert(
        "network.toml".to_string(),
        "the network file as given (junction positions for drawing it)".to_string(),
    );
    let path = dir.join("airflow.parquet");
    let mut df = crate::mine::airflow_frame(net, &op, &steady.newton.flows).map_err(enc(&path))?;
    super::write_parquet(&path, &mut df)?;
    outputs.insert(
        "airflow.parquet".to_string(),
        "steady airflow per branch: branch_id, from, to, kind, resistance_ns2_m8, flow_m3_s, velocity_m_s, pressure_drop_pa".to_string(),
    );
    let meshes = airflow::meshes(net);
    let heads = net.natural_heads();
    let natural_heads_pa = net
        .fans
        .iter()
        .filter_map(|f| {
            meshes
                .meshes
                .iter()
                .find(|m| m.iter().any(|&(b, _)| b == f.branch))
        })
        .map(|m| m.iter().map(|&(b, s)| s * heads[b]).sum())
        .collect();
    let mut gas_summary = None;
    let mut peak_ch4 = None;
    if let Some((file, sc, run)) = info.gas {
        let path = dir.join("branches.parquet");
        let mut df = crate::mine::branches_frame(net, run).map_err(enc(&path))?;
        super::write_parquet(&path, &mut df)?;
        outputs.insert(
            "branches.parquet".to_string(),
            "gas over time at each branch's outlet: branch_id, time (UTC), flow_m3_s, ch4_pct, co_ppm".to_string(),
        );
        let path = dir.join("alarms.parquet");
        let alarms = crate::mine::run_alarms(net, run, sc.output_interval_s).map_err(enc(&path))?;
        let mut events = alarms.events.collect().map_err(enc(&path))?;
        super::write_parquet(&path, &mut events)?;
        outputs.insert(
            "alarms.parquet".to_string(),
            "alarm events at the working places, the schema and rules of `twin telemetry alarms` (station_id = the branch)".to_string(),
        );
        let mut peak = vec![0.0f64; net.branches.len()];
        for (b, c) in run.series.branch.iter().zip(&run.series.ch4_pct) {
            let p = &mut peak[*b as usize];
            *p = p.max(*c);
        }
        peak_ch4 = Some(peak);
        let changes = run
            .airflows
            .iter()
            .skip(1)
            .map(|(minute, a)| {
                // the operating state at that minute, for the fans' points and checks
                let op = operating_at(net, sc, *minute);
                AirflowChange {
                    minute: *minute,
                    solver: solver(a),
                    fans: airflow::fan_points(net, &op, &a.flows),
                    violations: airflow::check(net, &op, &a.flows),
                }
            })
            .collect();
        gas_summary = Some(MineGasSummary {
            scenario_file: file.display().to_string(),
            start_utc: sc.start.to_rfc3339(),
            duration_min: sc.duration_min,
            output_interval_s: sc.output_interval_s,
            cells: run.cells,
            steps: run.steps,
            airflow_changes: changes,
            released_m3: run.released,
            held_m3: run.held,
            exhausted_m3: run.exhausted,
            mass_error: run.mass_error,
            time_to_level: run.time_to_level.clone(),
            alarm_events: events.height(),
        });
    }
    let mut ensemble_summary = None;
    if let (Some((p, r, seed, adapter)), Some((_, sc, _))) = (&info.ensemble, info.gas) {
        let path = dir.join("ensemble.parquet");
        let (e10, e15) = (r.exceedance(p, 1.0), r.exceedance(p, 1.5));
        let np = p.places.len();
        let start_ms = sc.start.timestamp_millis();
        let out_ms = (sc.output_interval_s * 1000.0).round() as i64;
        let (mut place, mut t, mut a, mut b) = (vec![], vec![], vec![], vec![]);
        for o in 0..p.outputs {
            for k in 0..np {
                place.push(net.branches[p.places[k] as usize].id.clone());
                t.push(start_ms + o as i64 * out_ms);
                a.push(e10[o * np + k]);
                b.push(e15[o * np + k]);
            }
        }
        let mut df = polars::prelude::df!(
            "place" => place,
            "time_ms" => t,
            "p_exceed_1_0" => a,
            "p_exceed_1_5" => b,
        )
        .map_err(enc(&path))?;
        super::write_parquet(&path, &mut df)?;
        outputs.insert(
            "ensemble.parquet".to_string(),
            "share of ensemble members at or above 1.0 and 1.5 % CH₄ per working place and output time: place, time (UTC), p_exceed_1_0, p_exceed_1_5".to_string(),
        );
        ensemble_summary = Some(MineEnsembleSummary {
            members: p.params.n_members as usize,
            seed: *seed,
            sigma_ln_resistance: SIGMA_RESISTANCE,
            sigma_ln_gas_make: SIGMA_GAS,
            backend: r.backend.clone(),
            adapter: adapter.clone(),
            dt_s: f64::from(p.params.dt),
            steps: p.steps,
            member_steps_per_s: r.member_steps_per_s,
            transport_s: r.transport_s,
        });
    }
    let path = dir.join("network.png");
    render(net, &steady.newton.flows, peak_ch4.as_deref()).write_png(&path)?;
    outputs.insert(
        "network.png".to_string(),
        if peak_ch4.is_some() {
            "the network in plan, branches coloured by their highest outlet CH₄ over the run"
        } else {
            "the network in plan, branches coloured by steady airflow"
        }
        .to_string(),
    );
    outputs.insert("summary.json".to_string(), "this summary".to_string());
    let summary = RunSummary::Mine(Box::new(MineSummary {
        format_version: FORMAT_VERSION,
        scenario: net.name.clone(),
        network_file: info.network_file.display().to_string(),
        methane_class: net.methane_class,
        limits: net.limits,
        junctions: net.junctions.len(),
        branches: net.branches.len(),
        meshes: meshes.meshes.len(),
        solver: solver(&steady.newton),
        hardy_cross: solver(&steady.hardy_cross),
        solver_agreement: steady.agreement,
        natural_heads_pa,
        fans: steady.fans.clone(),
        violations: steady.violations.clone(),
        gas: gas_summary,
        ensemble: ensemble_summary,
        wall_s: info.wall_s,
        outputs,
    }));
    write_summary(dir, &summary)?;
    Ok(summary)
}

/// The network's operating state after the events up to `minute` (inclusive).
pub fn operating_at(net: &MineNetwork, sc: &MineScenario, minute: f64) -> Operating {
    let mut op = Operating::design(net);
    for e in sc.events.iter().filter(|e| e.time_min <= minute + 1e-12) {
        op.apply(e.kind);
    }
    op
}

/// The network in plan: branches as lines (parallel ones bowed apart), coloured by |flow| or
/// by peak CH₄ (0–2 %), junction dots, fan and working-place labels, a colour bar.
fn render(net: &MineNetwork, flows: &[f64], peak_ch4: Option<&[f64]>) -> Image {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for j in &net.junctions {
        x0 = x0.min(j.x_m);
        y0 = y0.min(j.y_m);
        x1 = x1.max(j.x_m);
        y1 = y1.max(j.y_m);
    }
    let span = (x1 - x0).max(y1 - y0).max(1.0);
    let pad = 0.08 * span;
    let (x0, y0, x1, y1) = (x0 - pad, y0 - pad, x1 + pad, y1 + pad);
    let scale = 900.0 / (x1 - x0).max(y1 - y0);
    let (mw, mh) = (
        ((x1 - x0) * scale).ceil() as usize,
        ((y1 - y0) * scale).ceil() as usize,
    );
    let (title_h, bar_w) = (40usize, 200usize);
    let mut img = Image::new(mw + bar_w, mh + title_h, [255, 255, 255, 255]);
    let to_px = |x: f64, y: f64| ((x - x0) * scale, (y1 - y) * scale + title_h as f64);
    let qmax = flows.iter().map(|q| q.abs()).fold(1e-12, f64::max);
    let colour = |b: usize| -> [u8; 3] {
        match peak_ch4 {
            Some(p) => viridis(p[b] / 2.0),
            None => viridis(flows[b].abs() / qmax),
        }
    };
    // parallel branches between the same junctions are bowed apart
    let mut seen: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    for (bi, b) in net.branches.iter().enumerate() {
        let key = (b.from.min(b.to), b.from.max(b.to));
        let k = *seen.entry(key).and_modify(|k| *k += 1).or_insert(0);
        let (ja, jb) = (&net.junctions[b.from], &net.junctions[b.to]);
        let (ax, ay) = to_px(ja.x_m, ja.y_m);
        let (bx, by) = to_px(jb.x_m, jb.y_m);
        let (dx, dy) = (bx - ax, by - ay);
        let len = dx.hypot(dy).max(1e-9);
        let bow = if k == 0 {
            0.0
        } else {
            let side = if k % 2 == 1 { 1.0 } else { -1.0 };
            side * (12.0 + 10.0 * (k / 2) as f64)
        };
        let (nx, ny) = (-dy / len, dx / len);
        let (cx, cy) = (
            (ax + bx) / 2.0 + nx * bow * 2.0,
            (ay + by) / 2.0 + ny * bow * 2.0,
        );
        let c = colour(bi);
        let w = if b.kind.is_working_place() { 5 } else { 3 };
        let steps = (len.ceil() as i64 + 1).max(2);
        for s in 0..=steps {
            let f = s as f64 / steps as f64;
            // quadratic Bézier through the bowed midpoint control
            let x = (1.0 - f).powi(2) * ax + 2.0 * (1.0 - f) * f * cx + f * f * bx;
            let y = (1.0 - f).powi(2) * ay + 2.0 * (1.0 - f) * f * cy + f * f * by;
            img.rect(
                (x - w as f64 / 2.0).round() as i64,
                (y - w as f64 / 2.0).round() as i64,
                w,
                w,
                [c[0], c[1], c[2], 255],
            );
        }
    }
    let pen = Pen::system();
    let ink = [30, 30, 30, 255];
    for j in &net.junctions {
        let (x, y) = to_px(j.x_m, j.y_m);
        let c = if j.surface {
            [200, 40, 40, 255]
        } else {
            [60, 60, 60, 255]
        };
        img.rect(x.round() as i64 - 3, y.round() as i64 - 3, 7, 7, c);
    }
    for (bi, b) in net.branches.iter().enumerate() {
        let fan = net.fans.iter().find(|f| f.branch == bi);
        if !(b.kind.is_working_place() || fan.is_some()) {
            continue;
        }
        let (ja, jb) = (&net.junctions[b.from], &net.junctions[b.to]);
        let (x, y) = to_px((ja.x_m + jb.x_m) / 2.0, (ja.y_m + jb.y_m) / 2.0);
        let label = match fan {
            Some(f) => format!("{} (fan)", f.id),
            None => b.id.clone(),
        };
        pen.draw_halo(&mut img, &label, x as i64 + 6, y as i64 - 6, 13.0, ink);
    }
    // colour bar
    let (bx, by, bw, bh) = ((mw + 30) as i64, (title_h + 60) as i64, 24i64, 300i64);
    for k in 0..bh {
        let t = 1.0 - k as f64 / (bh - 1) as f64;
        let c = viridis(t);
        img.rect(bx, by + k, bw, 1, [c[0], c[1], c[2], 255]);
    }
    let (top, unit) = match peak_ch4 {
        Some(_) => ("2.0".to_string(), "peak CH4, %"),
        None => (format!("{qmax:.1}"), "|flow|, m3/s"),
    };
    pen.draw(&mut img, unit, bx - 10, by - 30, 14.0, ink);
    pen.draw(&mut img, &top, bx + bw + 8, by - 6, 13.0, ink);
    pen.draw(&mut img, "0", bx + bw + 8, by + bh - 8, 13.0, ink);
    if peak_ch4.is_some() {
        let y1pct = by + bh / 2;
        img.rect(bx - 4, y1pct, bw + 8, 1, [200, 0, 0, 255]);
        pen.draw(&mut img, "1.0", bx + bw + 8, y1pct - 7, 13.0, ink);
    }
    let title = match peak_ch4 {
        Some(_) => format!("{}: highest outlet CH4 over the run", net.name),
        None => format!("{}: steady airflow", net.name),
    };
    pen.draw(&mut img, &title, 10, 10, 18.0, ink);
    img
}
