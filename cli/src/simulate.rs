//! `twin simulate`: run a model from a scenario file and write its outputs.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use geo::Geometry;
use twin_engine::dispersion::scenario::Scenario;
use twin_engine::gpu::shaders::StageLimits;
use twin_engine::gpu::{BackendChoice, GpuContext};
use twin_engine::output::run::RunSummary;
use twin_engine::output::traffic::{TrafficRunInfo, write_traffic_run};
use twin_engine::safeio::OutDir;
use twin_engine::spatial::project;
use twin_engine::traffic::scenario::TrafficScenario;
use twin_engine::traffic::{Control, VehicleClass};

#[derive(Debug, Subcommand)]
pub enum SimulateCommand {
    /// Pollutant dispersion (advection–diffusion in the mixed layer) from a scenario file.
    Dispersion(DispersionArgs),
    /// Road traffic (cell transmission model, signals, coal trucks, link emissions).
    Traffic(TrafficArgs),
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
enum Backend {
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

fn gpu_for(
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
    let mut resolved = TrafficScenario::load(&a.run.scenario, a.run.dataset.as_deref())?;
    if let Some(c) = a.control {
        resolved.setup.control = c.into();
    }
    let problem = resolved
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
    let bar = crate::progress::bar(0, "output intervals");
    let mut progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let run = problem.run_with_progress(gpu.as_ref(), &mut progress)?;
    bar.finish_and_clear();
    let land = resolved
        .dataset
        .province
        .land
        .iter()
        .map(|l| {
            project(
                &resolved.dataset.projection,
                &Geometry::MultiPolygon(l.geometry.clone()),
            )
        })
        .collect();
    let info = TrafficRunInfo {
        name: resolved.scenario.name.clone(),
        scenario: Some(a.run.scenario.clone()),
        land,
        placements: resolved.placements.clone(),
    };
    let summary = write_traffic_run(dir.path(), &problem, &run, &info)?;
    dir.commit()?;
    let kg = |p: &str| match &summary {
        RunSummary::Traffic(s) => s.emissions_kg.get(p).copied().unwrap_or(0.0),
        RunSummary::Dispersion(_) => 0.0,
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

pub fn run(cmd: SimulateCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        SimulateCommand::Traffic(a) => run_traffic(a, out),
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
