//! `twin simulate`: run a model from a scenario file and write its outputs.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use twin_engine::dispersion::scenario::Scenario;
use twin_engine::gpu::shaders::StageLimits;
use twin_engine::gpu::{BackendChoice, GpuContext};
use twin_engine::output::run::RunSummary;
use twin_engine::output::traffic::{TrafficRunInfo, write_traffic_run};
use twin_engine::safeio::OutDir;
use twin_engine::traffic::scenario::TrafficScenario;
use twin_engine::traffic::{Control, VehicleClass};

#[derive(Debug, Subcommand)]
pub enum SimulateCommand {
    /// Pollutant dispersion (advection–diffusion in the mixed layer) from a scenario file.
    Dispersion(DispersionArgs),
    /// Road traffic (cell transmission model, signals, coal trucks, link emissions).
    Traffic(TrafficArgs),
    /// Mine ventilation: steady airflow (Hardy Cross and Newton) and its rule checks; with a
    /// scenario, methane and CO transport over time with what-ifs and alarm events.
    Mine(MineArgs),
    /// Static user equilibrium with BPR costs on a TNTP network (the routing code's static
    /// mode, for checks against published equilibria such as Sioux Falls).
    StaticAssignment(StaticArgs),
}

#[derive(Debug, Args)]
pub struct StaticArgs {
    /// TNTP network file (`*_net.tntp`).
    #[arg(long, value_name = "FILE")]
    net: PathBuf,
    /// TNTP trips file (`*_trips.tntp`).
    #[arg(long, value_name = "FILE")]
    trips: PathBuf,
    /// A TNTP flow solution to compare the link flows with (`*_flow.tntp`).
    #[arg(long, value_name = "FILE")]
    flows: Option<PathBuf>,
    /// Averaging scheme.
    #[arg(long, value_enum, default_value_t = StaticMethod::FrankWolfe)]
    method: StaticMethod,
    /// Most iterations.
    #[arg(long, default_value_t = 1000)]
    iterations: usize,
    /// Stop below this relative gap.
    #[arg(long, default_value_t = 1e-4)]
    gap: f64,
    /// Multiply every trip by this before assigning (e.g. the undersaturated demand a CTM run
    /// of the same network carried).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// A traffic run directory of the same network whose road ids are `<init>-<term>` TNTP node
    /// numbers (as `scripts/validate-sioux-falls` writes them): its vehicles per link over the
    /// whole run are compared with the assigned flows × --hours, by GEH.
    #[arg(long, value_name = "DIR")]
    compare_run: Option<PathBuf>,
    /// Hours of demand the compared run loaded.
    #[arg(long, default_value_t = 1.0)]
    hours: f64,
}

#[derive(Debug, Args)]
pub struct MineArgs {
    /// Ventilation network file (TOML), e.g. datasets/quang-ninh/mines/mong-duong.toml.
    #[arg(long, value_name = "FILE")]
    network: PathBuf,
    /// Scenario file (TOML): gas sources and what-ifs over time. Without one, the steady
    /// airflow and its checks only.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Output directory (appears whole when the run is done; refused if it holds files unless
    /// --overwrite).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace an output directory that already holds files.
    #[arg(long)]
    overwrite: bool,
    /// Also run an ensemble of N members with perturbed resistances and gas makes (needs
    /// --scenario): probability of 1.0 % and 1.5 % CH₄ per working place over time.
    #[arg(long, value_name = "N")]
    ensemble: Option<usize>,
    /// Seed of the ensemble's perturbations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where the ensemble's transport runs.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
}

fn run_mine(a: MineArgs, out: &mut impl Write) -> anyhow::Result<()> {
    use twin_engine::mine::{self, MineNetwork, MineScenario, Operating};
    let started = std::time::Instant::now();
    let mut inputs: Vec<&std::path::Path> = vec![&a.network];
    if let Some(s) = &a.scenario {
        inputs.push(s);
    }
    if let Some(n) = a.ensemble {
        anyhow::ensure!(
            a.scenario.is_some(),
            "--ensemble needs --scenario (the ensemble perturbs a scenario's run)"
        );
        anyhow::ensure!(
            (1..=twin_engine::mine::ensemble::MAX_MEMBERS).contains(&n),
            "--ensemble {n}: between 1 and {} members",
            twin_engine::mine::ensemble::MAX_MEMBERS
        );
    }
    let dir = OutDir::prepare(&a.out, a.overwrite, &inputs)?;
    let net = MineNetwork::read(&a.network)?;
    let scenario = match &a.scenario {
        Some(p) => Some(MineScenario::read(p, &net)?),
        None => None,
    };
    let steady = mine::steady(&net, &Operating::design(&net))
        .with_context(|| format!("steady airflow of {}", a.network.display()))?;
    writeln!(
        out,
        "network   {}: {} junctions, {} branches, {} fans, methane class {:?}",
        net.name,
        net.junctions.len(),
        net.branches.len(),
        net.fans.len(),
        net.methane_class
    )?;
    writeln!(
        out,
        "airflow   newton {} steps (residual {:.2e} Pa), hardy cross {} sweeps (residual {:.2e} Pa); agree to {:.1e}; Kirchhoff {:.1e}",
        steady.newton.iterations,
        steady.newton.residual_pa,
        steady.hardy_cross.iterations,
        steady.hardy_cross.residual_pa,
        steady.agreement,
        steady.newton.kirchhoff
    )?;
    for f in &steady.fans {
        writeln!(
            out,
            "fan       {}: {:.2} m³/s at {:.0} Pa{}",
            f.id,
            f.flow_m3_s,
            f.pressure_pa,
            if f.stall { " — STALL" } else { "" }
        )?;
    }
    for v in &steady.violations {
        writeln!(
            out,
            "violation {} {}: {} ({})",
            v.branch, v.check, v.detail, v.rule
        )?;
    }
    let run = match (&a.scenario, &scenario) {
        (Some(_), Some(sc)) => {
            let work = twin_engine::mine::gas::work(&net, sc, &steady.newton.flows);
            anyhow::ensure!(
                work <= twin_engine::mine::gas::MAX_WORK,
                "{}: about {work:.2e} cell-steps; at most {:.0e} (raise cell_length_m or shorten the run)",
                a.scenario
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                twin_engine::mine::gas::MAX_WORK
            );
            Some(
                twin_engine::mine::gas::run(&net, sc)
                    .with_context(|| "airflow after a what-if".to_string())?,
            )
        }
        _ => None,
    };
    let ensemble = match (a.ensemble, &scenario) {
        (Some(n), Some(sc)) => {
            use twin_engine::mine::ensemble::{EnsembleProblem, run_cpu, run_gpu};
            let cells = twin_engine::mine::gas::cell_count(&net, sc.cell_length_m);
            anyhow::ensure!(
                (n as f64) * (cells as f64) <= 2e8,
                "--ensemble {n}: {n} members × {cells} cells is more than 2e8 cell states (1.6 GB); use fewer members or longer cells"
            );
            let problem = EnsembleProblem::new(&net, sc, n, a.seed)
                .context("the airflow of an ensemble member")?;
            let gpu = gpu_for(
                a.backend,
                "mine ensemble",
                twin_engine::mine::ensemble::GPU_LIMITS,
                out,
            )?;
            let (r, adapter) = match &gpu {
                Some(ctx) => (run_gpu(ctx, &problem)?, Some(ctx.report.clone())),
                None => (run_cpu(&problem), None),
            };
            writeln!(
                out,
                "ensemble  {n} members × {} steps ({:.3} s each) on the {}: {:.3e} member-steps/s ({:.2} s)",
                problem.steps, problem.params.dt, r.backend, r.member_steps_per_s, r.transport_s
            )?;
            Some((problem, r, adapter))
        }
        _ => None,
    };
    let info = twin_engine::output::mine::MineRunInfo {
        network_file: &a.network,
        gas: match (&a.scenario, &scenario, &run) {
            (Some(p), Some(sc), Some(r)) => Some((p.as_path(), sc, r)),
            _ => None,
        },
        ensemble: ensemble
            .as_ref()
            .map(|(p, r, ad)| (p, r, a.seed, ad.clone())),
        wall_s: started.elapsed().as_secs_f64(),
    };
    let summary = twin_engine::output::mine::write_mine_run(dir.path(), &net, &steady, &info)?;
    dir.commit()?;
    if let RunSummary::Mine(s) = &summary
        && let Some(g) = &s.gas
    {
        writeln!(
            out,
            "gas       {} cells, {} steps over {} min; CH4 released {:.1} m³, exhausted {:.1}, held {:.1} (mass error {:.1e}); {} alarm events",
            g.cells,
            g.steps,
            g.duration_min,
            g.released_m3[0],
            g.exhausted_m3[0],
            g.held_m3[0],
            g.mass_error[0],
            g.alarm_events
        )?;
        for c in &g.airflow_changes {
            for f in &c.fans {
                writeln!(
                    out,
                    "what-if   minute {:.1}: fan {} {:.2} m³/s at {:.0} Pa",
                    c.minute, f.id, f.flow_m3_s, f.pressure_pa
                )?;
            }
        }
        for t in &g.time_to_level {
            writeln!(
                out,
                "reached   {} CH4 {:.1} % at minute {:.1}",
                t.place, t.level_pct, t.minutes
            )?;
        }
    }
    writeln!(out, "wrote     {}", a.out.display())?;
    Ok(())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StaticMethod {
    /// Method of successive averages (step 1/(i+1), as the dynamic equilibrium).
    Msa,
    /// Frank–Wolfe with an exact line search.
    FrankWolfe,
}

/// What every `simulate` command takes.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML), e.g. datasets/quang-ninh/scenarios/winter-ne-monsoon.toml.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// Output directory (created if missing). It appears whole when the run is done (built in a
    /// hidden sibling until then); one that already holds files is refused unless --overwrite.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace an output directory that already holds files (whole: nothing of the old one is
    /// kept).
    #[arg(long)]
    overwrite: bool,
    /// Dataset for scenarios that do not name one. Default: `QN_TWIN_DATASET`, else the bundled
    /// dataset.
    #[arg(long, value_name = "DIR")]
    dataset: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TrafficArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Override the scenario's signal control.
    #[arg(long, value_enum)]
    control: Option<ControlArg>,
    /// Close a road (its id) for the whole run, in addition to the scenario's `closed_roads`;
    /// repeatable.
    #[arg(long, value_name = "ROAD_ID")]
    close_road: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ControlArg {
    /// Fixed-time plans.
    FixedTime,
    /// Adaptive max-pressure control.
    MaxPressure,
}

impl From<ControlArg> for Control {
    fn from(c: ControlArg) -> Self {
        match c {
            ControlArg::FixedTime => Control::FixedTime,
            ControlArg::MaxPressure => Control::MaxPressure,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Backend {
    /// A hardware GPU if there is one, else the CPU twin.
    Auto,
    /// Any wgpu adapter (hardware GPU or lavapipe); fails without one.
    Gpu,
    /// The multi-threaded CPU twin.
    Cpu,
}

impl From<Backend> for BackendChoice {
    fn from(b: Backend) -> Self {
        match b {
            Backend::Auto => BackendChoice::Auto,
            Backend::Gpu => BackendChoice::Gpu,
            Backend::Cpu => BackendChoice::Cpu,
        }
    }
}

#[derive(Debug, Args)]
pub struct DispersionArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Override the scenario's grid resolution, m (e.g. 100 for a fine run).
    #[arg(long, value_name = "M")]
    resolution_m: Option<f64>,
    /// Override the scenario's duration, hours.
    #[arg(long, value_name = "H")]
    duration_h: Option<f64>,
    /// Run over this lon/lat box instead of the scenario's grid area (e.g. a city at 50 m);
    /// sources outside it still reach receptors inside through their near field.
    #[arg(long, value_name = "MINLON,MINLAT,MAXLON,MAXLAT", value_parser = parse_bbox)]
    bbox: Option<[f64; 4]>,
}

/// `MINLON,MINLAT,MAXLON,MAXLAT` as four numbers.
fn parse_bbox(s: &str) -> Result<[f64; 4], String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{s:?}: {e}; expected MINLON,MINLAT,MAXLON,MAXLAT"))?;
    match v.as_slice() {
        [a, b, c, d] if a < c && b < d => Ok([*a, *b, *c, *d]),
        [_, _, _, _] => Err(format!(
            "{s:?}: the minimum must be below the maximum (MINLON,MINLAT,MAXLON,MAXLAT)"
        )),
        _ => Err(format!(
            "{s:?}: {} numbers; expected 4: MINLON,MINLAT,MAXLON,MAXLAT",
            v.len()
        )),
    }
}

pub(crate) fn gpu_for(
    backend: Backend,
    model: &str,
    needs: StageLimits,
    out: &mut impl Write,
) -> anyhow::Result<Option<GpuContext>> {
    let (gpu, why_cpu) = GpuContext::for_model(backend.into(), model, needs)?;
    match (&gpu, why_cpu) {
        (Some(ctx), _) => writeln!(
            out,
            "backend   gpu: {} ({}, {})",
            ctx.report.name, ctx.report.backend, ctx.report.device_type
        )?,
        (None, Some(why)) => writeln!(out, "backend   cpu twin (auto: {why})")?,
        (None, None) => writeln!(out, "backend   cpu twin")?,
    }
    Ok(gpu)
}

impl RunArgs {
    /// The output directory, checked before anything is computed (not the scenario, not the
    /// dataset, empty unless --overwrite).
    fn out_dir(&self) -> anyhow::Result<OutDir> {
        let mut inputs: Vec<&std::path::Path> = vec![&self.scenario];
        if let Some(d) = &self.dataset {
            inputs.push(d);
        }
        Ok(OutDir::prepare(&self.out, self.overwrite, &inputs)?)
    }
}

fn run_traffic(a: TrafficArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let dir = a.run.out_dir()?;
    let closures = a.close_road.clone();
    let mut resolved =
        TrafficScenario::load_with(&a.run.scenario, a.run.dataset.as_deref(), |sc| {
            sc.closed_roads.extend(closures)
        })?;
    if let Some(c) = a.control {
        resolved.setup.control = c.into();
    }
    let mut problem = resolved
        .setup
        .clone()
        .compile()
        .with_context(|| format!("setting up scenario {}", a.run.scenario.display()))?;
    let gpu = gpu_for(
        a.run.backend,
        "traffic",
        twin_engine::traffic::GPU_LIMITS,
        out,
    )?;
    let net = &problem.network;
    writeln!(
        out,
        "network   {} nodes, {} directed links, {} cells; {} signal(s), {:?} control",
        net.nodes.len(),
        net.links.len(),
        problem.n_cells(),
        problem.signals.len(),
        problem.control
    )?;
    for w in &net.problems {
        writeln!(out, "topology  {w}")?;
    }
    let mut seen = std::collections::HashSet::new();
    for (f, n, d) in &resolved.placements {
        if seen.insert(f) {
            writeln!(out, "placed    {f} on node {n} ({d:.0} m away)")?;
        }
    }
    writeln!(out, "time step {} s ({})", problem.dt_s, problem.dt_reason)?;
    let n_dest = problem
        .commodities
        .iter()
        .filter(|c| c.dest.is_some())
        .count();
    if problem.routing.max_iterations > 0 && n_dest > 0 {
        let bar = crate::progress::bar(
            u64::from(problem.routing.max_iterations) + 1,
            "equilibrium iterations",
        );
        let eq =
            problem.equilibrate(gpu.as_ref(), &mut |i, _| bar.set_position(u64::from(i) + 1))?;
        bar.finish_and_clear();
        let gaps: Vec<String> = eq
            .iterations
            .iter()
            .map(|g| format!("{:.4}", g.relative_gap))
            .collect();
        writeln!(
            out,
            "routing   {} destination commodities ({:.1} % of destination demand shared), {} min slices; relative gap by iteration {} ({})",
            eq.destination_commodities,
            100.0 * eq.shared_destination_share,
            eq.slice_s / 60.0,
            gaps.join(", "),
            if eq.converged {
                format!("below {}", eq.target_gap)
            } else {
                format!(
                    "not below {} after {} iterations",
                    eq.target_gap,
                    eq.iterations.len() - 1
                )
            }
        )?;
    } else {
        writeln!(
            out,
            "routing   {n_dest} destination commodities ({:.1} % of destination demand shared) on free-flow fastest routes (no equilibrium iterations)",
            100.0 * problem.shared_destination_share
        )?;
    }
    let bar = crate::progress::bar(0, "output intervals");
    let mut progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let run = problem.run_with_progress(gpu.as_ref(), &mut progress)?;
    bar.finish_and_clear();
    let info = TrafficRunInfo::of(&resolved, &a.run.scenario);
    let summary = write_traffic_run(dir.path(), &problem, &run, &info)?;
    dir.commit()?;
    let kg = |p: &str| match &summary {
        RunSummary::Traffic(s) => s.emissions_kg.get(p).copied().unwrap_or(0.0),
        RunSummary::Dispersion(_) | RunSummary::Mine(_) => 0.0,
    };
    let c = &run.conservation;
    writeln!(
        out,
        "steps     {} in {:.2} s: {:.3e} cell-updates/s",
        run.steps, run.wall_s, run.cell_updates_per_s
    )?;
    for k in VehicleClass::ALL {
        let i = k.index();
        writeln!(
            out,
            "vehicles  {:<5} demand {:.0}, entered {:.1}, exited {:.1}, in network {:.1}, waiting {:.1}",
            k.name(),
            c.demand[i],
            c.entered[i],
            c.exited[i],
            c.in_network[i],
            c.waiting[i].max(0.0)
        )?;
    }
    writeln!(
        out,
        "conserved entered − exited − in network: relative error {:.1e}",
        c.relative_error
    )?;
    writeln!(
        out,
        "emitted   PM10 {:.2} kg, PM2.5 {:.2} kg, NOx {:.2} kg",
        kg("PM10"),
        kg("PM2.5"),
        kg("NOx")
    )?;
    writeln!(out, "outputs   {}", a.run.out.display())?;
    Ok(())
}

fn run_static(a: StaticArgs, out: &mut impl Write) -> anyhow::Result<()> {
    use twin_engine::traffic::assignment::{
        Method, StaticProblem, read_tntp_flows, read_tntp_network, read_tntp_trips,
    };
    if !(a.gap.is_finite() && a.gap >= 0.0) || a.iterations == 0 {
        anyhow::bail!("--gap must be finite and ≥ 0 and --iterations at least 1");
    }
    if !(a.scale.is_finite() && a.scale > 0.0 && a.hours.is_finite() && a.hours > 0.0) {
        anyhow::bail!("--scale and --hours must be finite and positive");
    }
    let (n_nodes, links) = read_tntp_network(&a.net)?;
    let trips = read_tntp_trips(&a.trips)?;
    if let Some(&(o, d, _)) = trips.iter().find(|t| t.0 >= n_nodes || t.1 >= n_nodes) {
        anyhow::bail!(
            "{}: trips from node {} to node {}, but the network has {n_nodes} nodes",
            a.trips.display(),
            o + 1,
            d + 1
        );
    }
    let trips = trips
        .into_iter()
        .map(|(o, d, q)| (o, d, q * a.scale))
        .collect();
    let p = StaticProblem {
        n_nodes,
        links,
        trips,
    };
    let method = match a.method {
        StaticMethod::Msa => Method::Msa,
        StaticMethod::FrankWolfe => Method::FrankWolfe,
    };
    let r = p.assign(method, a.iterations, a.gap);
    writeln!(
        out,
        "network   {n_nodes} nodes, {} links, {} OD pairs, {:.1} trips",
        p.links.len(),
        p.trips.iter().filter(|t| t.2 > 0.0).count(),
        p.trips.iter().map(|t| t.2).sum::<f64>()
    )?;
    let show: Vec<usize> = [1usize, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
        .into_iter()
        .filter(|&i| i <= r.gaps.len())
        .chain(std::iter::once(r.gaps.len()))
        .collect();
    let mut last = 0;
    for i in show {
        if i != last {
            writeln!(out, "gap       iteration {i:>5}: {:.3e}", r.gaps[i - 1])?;
            last = i;
        }
    }
    writeln!(out, "objective {:.6}", r.objective)?;
    if let Some(f) = &a.flows {
        let reference = read_tntp_flows(f)?;
        let mut sq = 0.0;
        let mut ref_sq = 0.0;
        let mut worst = (0.0f64, 0usize, 0usize);
        for &(from, to, v) in &reference {
            let Some(k) = p.links.iter().position(|l| l.from == from && l.to == to) else {
                anyhow::bail!(
                    "{}: link {} → {} is not in the network",
                    f.display(),
                    from + 1,
                    to + 1
                );
            };
            let d = r.flows[k] - v;
            sq += d * d;
            ref_sq += v * v;
            let rel = d.abs() / v.max(1.0);
            if rel > worst.0 {
                worst = (rel, from + 1, to + 1);
            }
        }
        writeln!(
            out,
            "reference {} links: RMSE {:.3e} of the reference flows' RMS; largest relative difference {:.3e} on {} → {}",
            reference.len(),
            (sq / ref_sq.max(1e-12)).sqrt(),
            worst.0,
            worst.1,
            worst.2
        )?;
    }
    if let Some(dir) = &a.compare_run {
        let rd = twin_engine::output::run::RunDir::open(dir)?;
        let interval_h = rd.traffic()?.output_interval_s / 3600.0;
        let df = rd.links()?;
        let ids = df.column("link_id")?.str()?;
        let class = df.column("class")?.str()?;
        let flow = df.column("flow_veh_h")?.f64()?;
        let mut vehicles: std::collections::HashMap<&str, f64> = Default::default();
        for i in 0..df.height() {
            if let (Some("all"), Some(id), Some(f)) = (class.get(i), ids.get(i), flow.get(i)) {
                *vehicles.entry(id).or_default() += f * interval_h;
            }
        }
        let mut geh = Vec::new();
        let (mut sum_m, mut sum_c) = (0.0, 0.0);
        for (k, l) in p.links.iter().enumerate() {
            let id = format!("{}-{}", l.from + 1, l.to + 1);
            let Some(&m) = vehicles.get(id.as_str()) else {
                continue;
            };
            let c = r.flows[k] * a.hours;
            sum_m += m;
            sum_c += c;
            geh.push(if m + c > 0.0 {
                (2.0 * (m - c).powi(2) / (m + c)).sqrt()
            } else {
                0.0
            });
        }
        if geh.is_empty() {
            anyhow::bail!(
                "{}: no link id of the run is `<init>-<term>` of the TNTP network",
                dir.display()
            );
        }
        writeln!(
            out,
            "run       {} links of {}: GEH < 5 on {:.1} %, mean GEH {:.2}, max {:.1}; vehicles {:.0} (run) vs {:.0} (assignment × {} h)",
            geh.len(),
            dir.display(),
            100.0 * geh.iter().filter(|g| **g < 5.0).count() as f64 / geh.len() as f64,
            geh.iter().sum::<f64>() / geh.len() as f64,
            geh.iter().cloned().fold(0.0, f64::max),
            sum_m,
            sum_c,
            a.hours
        )?;
    }
    Ok(())
}

pub fn run(cmd: SimulateCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        SimulateCommand::Traffic(a) => run_traffic(a, out),
        SimulateCommand::StaticAssignment(a) => run_static(a, out),
        SimulateCommand::Mine(a) => run_mine(a, out),
        SimulateCommand::Dispersion(a) => {
            let dir = a.run.out_dir()?;
            let mut scenario = Scenario::read(&a.run.scenario)?;
            if let Some(r) = a.resolution_m {
                scenario.grid.resolution_m = r;
            }
            if let Some(h) = a.duration_h {
                scenario.duration_h = h;
            }
            if let Some(b) = a.bbox {
                scenario.grid.bbox = Some(b);
                scenario.grid.extent_m = None;
            }
            let resolved =
                scenario.resolve_with_dataset(&a.run.scenario, a.run.dataset.as_deref())?;
            let gpu = gpu_for(
                a.run.backend,
                "dispersion",
                twin_engine::dispersion::GPU_LIMITS,
                out,
            )?;
            let g = &resolved.problem.grid;
            writeln!(
                out,
                "grid      {} x {} cells of {} m (EPSG:{}), {} pollutant(s), {} emitter(s), {} station(s), {} receptor(s); near field {}",
                g.nx,
                g.ny,
                g.cell_m,
                g.epsg,
                resolved.problem.pollutants.len(),
                resolved.problem.emitters.len(),
                resolved.problem.stations.len(),
                resolved.problem.receptors.len(),
                if resolved.problem.near_field.enabled {
                    format!(
                        "to {} km",
                        resolved.problem.near_field.max_travel_m / 1000.0
                    )
                } else {
                    "off".to_string()
                }
            )?;
            match resolved.outside.len() {
                0 => {}
                n @ 1..=3 => writeln!(out, "outside   {n}: {}", resolved.outside.join("; "))?,
                n => writeln!(
                    out,
                    "outside   {n} sources/stations/receptors outside the grid (listed in summary.json), e.g. {}",
                    resolved.outside[..3].join("; ")
                )?,
            }
            // progress on stderr, only when a person is watching
            let bar = crate::progress::bar(0, "output intervals");
            let mut progress = |done: usize, total: usize| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            };
            let result = resolved
                .problem
                .run_with_progress(gpu.as_ref(), &mut progress)?;
            bar.finish_and_clear();
            twin_engine::output::write_dispersion_run(dir.path(), &resolved, &result)?;
            dir.commit()?;
            writeln!(
                out,
                "steps     {} in {:.2} s: {:.3e} cell-updates/s",
                result.steps,
                result.wall_s,
                result.cell_updates as f64 / result.wall_s.max(1e-9)
            )?;
            for (p, b) in resolved.problem.pollutants.iter().zip(&result.budget) {
                writeln!(
                    out,
                    "budget    {:<5} emitted {:.4e} kg = grid {:.4e} + boundary {:.4e} + decayed {:.4e} + deposited {:.4e} + above lid {:.4e} + residual layer {:.4e} + in plumes {:.4e} + handed over outside {:.4e}  (rel. error {:.1e})",
                    p.as_str(),
                    b.emitted_kg,
                    b.in_grid_kg,
                    b.left_boundary_kg,
                    b.decayed_kg,
                    b.deposited_kg,
                    b.above_mixed_layer_kg,
                    b.residual_layer_kg,
                    b.near_field_transit_kg,
                    b.handed_over_outside_kg,
                    b.relative_error
                )?;
            }
            if result.near_evaluations > 0 {
                writeln!(
                    out,
                    "near      {:.3e} plume evaluations in {:.2} s",
                    result.near_evaluations as f64, result.near_wall_s
                )?;
            }
            let calm = resolved.problem.intervals.iter().filter(|i| i.calm).count();
            if calm > 0 {
                writeln!(
                    out,
                    "calm      {calm} output interval(s) below {} m/s, run at that speed",
                    resolved.scenario.wind.calm_m_s.unwrap_or(0.5)
                )?;
            }
            writeln!(out, "outputs   {}", a.run.out.display())?;
            Ok(())
        }
    }
}
