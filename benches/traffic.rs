//! Traffic throughput: cell-updates per second of a full CTM step (sending/receiving, node
//! flows with signals, cell update) on the CPU twin and the GPU, on generated signalised grids
//! of about 1k, 10k and 100k directed links and on the province network; with the copy
//! bandwidth of each device in the same run for a roofline.
//!
//! Small networks are launch-bound on a GPU: the engine records `STEPS_PER_SUBMIT` (256) steps
//! of three dispatches into one command buffer, and each timed iteration here runs 240 steps.
//!
//! Sweep members: `MEMBERS` grids (the same trips at 0.6–1.3 times the demand) stepped one by one, each its own engine,
//! and as one union of their networks (`traffic::batch::Union`, one dispatch per stage for all
//! of them), on the CPU twin and the GPU; prints member-steps per second and the ratio.
//!
//! Run: `cargo bench -p twin-engine --bench traffic`.

use std::time::Instant;

use chrono::{DateTime, Utc};
use common::{per_iter, record};
use criterion::{Criterion, Throughput};
use twin_engine::gpu::GpuContext;
use twin_engine::traffic::batch::Union;
use twin_engine::traffic::engine::{CpuEngine, GpuEngine, StepEngine};
use twin_engine::traffic::scenario::TrafficScenario;
use twin_engine::traffic::synthetic::{GridSpec, grid_setup, grid_trips};
use twin_engine::traffic::{Control, TrafficProblem};

mod common;

/// Bytes a step must move per cell with perfect reuse of neighbours: read the state (8), write
/// the next state (8), write and read sending/receiving (16), read the cell's link index (4),
/// read and write the statistics (32).
const BYTES_PER_CELL_UPDATE: f64 = 68.0;
/// Steps per timed iteration.
const STEPS: u64 = 240;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-10T07:00:00+07:00")
        .expect("valid time")
        .with_timezone(&Utc)
}

/// A loaded grid: trips between boundary nodes, run for 20 minutes first so the network is
/// full when timing starts.
fn grid(n: usize) -> TrafficProblem {
    grid_scaled(n, 1.0)
}

/// The grid's trips with their demand scaled (sweep members: same destinations, other
/// volumes).
fn grid_scaled(n: usize, scale: f64) -> TrafficProblem {
    let spec = GridSpec::city(n);
    let trips = grid_trips(&spec, 8 * n, 300.0 * scale, 42);
    grid_setup(&spec, &trips, 3600.0, Control::FixedTime, start())
        .expect("grid")
        .compile()
        .expect("compile")
}

fn province() -> TrafficProblem {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh");
    TrafficScenario::load(
        &dir.join("scenarios/morning-peak-coal-trucks.toml"),
        Some(&dir),
    )
    .expect("scenario")
    .setup
    .compile()
    .expect("compile")
}

fn bench_problem(
    c: &mut Criterion,
    gpu: Option<&GpuContext>,
    label: &str,
    p: &TrafficProblem,
    sizes: &mut Vec<(String, usize, usize)>,
) {
    let cells = p.n_cells();
    sizes.push((label.to_string(), p.links.len(), cells));
    let mut g = c.benchmark_group(format!("traffic_{label}"));
    g.sample_size(10);
    g.throughput(Throughput::Elements(STEPS * cells as u64));
    let mut cpu = CpuEngine::new(p);
    cpu.steps(600).expect("warm-up");
    let name = format!("cpu/{label}");
    g.bench_function("cpu", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                cpu.steps(STEPS).expect("steps");
            }
            let d = t.elapsed();
            record(&name, iters, d);
            d
        })
    });
    if let Some(ctx) = gpu {
        match GpuEngine::new(ctx, p) {
            Ok(mut e) => {
                e.steps(600).expect("warm-up");
                e.wait().expect("sync");
                let name = format!("gpu/{label}");
                g.bench_function("gpu", |b| {
                    b.iter_custom(|iters| {
                        let t = Instant::now();
                        for _ in 0..iters {
                            e.steps(STEPS).expect("steps");
                        }
                        e.wait().expect("sync");
                        let d = t.elapsed();
                        record(&name, iters, d);
                        d
                    })
                });
            }
            Err(e) => eprintln!("{label} skipped on the GPU: {e}"),
        }
    }
    g.finish();
}

/// Members per sweep batch, grid sizes (8: 224 links, launch-bound on a GPU; 24: 2,208 links)
/// and steps per timed iteration of the members group.
const MEMBERS: usize = 8;
const MEMBER_GRIDS: [usize; 2] = [8, 24];
const STEPS_MEMBERS: u64 = 60;

/// Times `steps` on each engine in turn (one iteration: every engine `STEPS_MEMBERS` steps).
fn time_engines(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: &str,
    name: String,
    engines: &mut [Box<dyn StepEngine + '_>],
) {
    for e in engines.iter_mut() {
        e.steps(300).expect("warm-up");
        e.wait().expect("sync");
    }
    g.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                for e in engines.iter_mut() {
                    e.steps(STEPS_MEMBERS).expect("steps");
                }
            }
            for e in engines.iter_mut() {
                e.wait().expect("sync");
            }
            let d = t.elapsed();
            record(&name, iters, d);
            d
        })
    });
}

fn members_group(c: &mut Criterion, gpu: Option<&GpuContext>) {
    for n in MEMBER_GRIDS {
        let members: Vec<TrafficProblem> = (0..MEMBERS as u64)
            .map(|k| grid_scaled(n, 0.6 + 0.1 * k as f64))
            .collect();
        let refs: Vec<&TrafficProblem> = members.iter().collect();
        let union = Union::new(&refs).expect("members of one grid spec batch together");
        let mut g = c.benchmark_group(format!("traffic_members_grid{n}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(MEMBERS as u64 * STEPS_MEMBERS));
        let mut alone: Vec<Box<dyn StepEngine>> = members
            .iter()
            .map(|p| Box::new(CpuEngine::new(p)) as Box<dyn StepEngine>)
            .collect();
        time_engines(
            &mut g,
            "cpu_one_by_one",
            format!("members/cpu/{n}"),
            &mut alone,
        );
        let mut one: Vec<Box<dyn StepEngine>> =
            vec![Box::new(CpuEngine::from_arrays(union.arrays()))];
        time_engines(
            &mut g,
            "cpu_union",
            format!("members/cpu_union/{n}"),
            &mut one,
        );
        if let Some(ctx) = gpu {
            let alone: Result<Vec<Box<dyn StepEngine>>, _> = members
                .iter()
                .map(|p| GpuEngine::new(ctx, p).map(|e| Box::new(e) as Box<dyn StepEngine>))
                .collect();
            let batched = GpuEngine::from_arrays(ctx, union.arrays());
            match (alone, batched) {
                (Ok(mut alone), Ok(batched)) => {
                    time_engines(
                        &mut g,
                        "gpu_one_by_one",
                        format!("members/gpu/{n}"),
                        &mut alone,
                    );
                    let mut one: Vec<Box<dyn StepEngine>> = vec![Box::new(batched)];
                    time_engines(
                        &mut g,
                        "gpu_batched",
                        format!("members/gpu_batched/{n}"),
                        &mut one,
                    );
                }
                (Err(e), _) | (_, Err(e)) => eprintln!("members grid{n} skipped on the GPU: {e}"),
            }
        }
        g.finish();
        if common::benchmarking() {
            let rate = |k: &str| {
                per_iter(&format!("members/{k}/{n}"))
                    .map(|t| MEMBERS as f64 * STEPS_MEMBERS as f64 / t)
            };
            let links = members[0].links.len();
            if let (Some(one), Some(uni)) = (rate("cpu"), rate("cpu_union")) {
                println!(
                    "members grid{n} ({MEMBERS} × {links} links): cpu one by one {one:.0} member-steps/s, one union {uni:.0} ({:.2}×)",
                    uni / one
                );
            }
            if let (Some(one), Some(bat)) = (rate("gpu"), rate("gpu_batched")) {
                println!(
                    "members grid{n} ({MEMBERS} × {links} links): gpu one by one {one:.0} member-steps/s, batched {bat:.0} ({:.2}×)",
                    bat / one
                );
            }
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let gpu = common::gpu();
    common::bandwidth(&mut c, gpu.as_ref());
    let mut sizes = Vec::new();
    bench_problem(&mut c, gpu.as_ref(), "province", &province(), &mut sizes);
    for n in [16, 50, 158] {
        let p = grid(n);
        bench_problem(&mut c, gpu.as_ref(), &format!("grid{n}"), &p, &mut sizes);
    }
    members_group(&mut c, gpu.as_ref());
    c.final_summary();

    if !common::benchmarking() {
        return; // test mode: one untimed pass, nothing to report
    }
    println!("\nroofline: a CTM step moves {BYTES_PER_CELL_UPDATE} B per cell (ideal reuse)");
    for dev in ["cpu", "gpu"] {
        let Some(copy) = per_iter(&format!("copy/{dev}")) else {
            continue;
        };
        let bw = common::copy_bytes(dev, gpu.as_ref()) / copy;
        println!("  {dev}: copy bandwidth {:.2} GB/s", bw / 1e9);
        for (label, links, cells) in &sizes {
            if let Some(t) = per_iter(&format!("{dev}/{label}")) {
                let cups = STEPS as f64 * *cells as f64 / t;
                println!(
                    "    {label:>9} ({links:>6} links, {cells:>7} cells): {:>8.1} M cell-updates/s = {:>8.0} steps/s = {:>6.2} GB/s = {:>5.1} % of copy bandwidth",
                    cups / 1e6,
                    STEPS as f64 / t,
                    cups * BYTES_PER_CELL_UPDATE / 1e9,
                    100.0 * cups * BYTES_PER_CELL_UPDATE / bw
                );
            }
        }
    }
}
