//! Dispersion throughput: cell-updates per second of the `transport` stage (plus `emit`) on the
//! CPU twin and on the GPU at 512², 1024², 2048², 4096², and in the same run the memory bandwidth
//! of a large copy on each, so that every kernel's share of it (a roofline) is printed.
//!
//! Run: `cargo bench -p twin-engine --bench dispersion`. Without a wgpu adapter the GPU groups are
//! skipped with a note. On lavapipe the GPU numbers only show the path works; measure real GPUs.

use std::time::Instant;

use common::{per_iter, record};
use criterion::{Criterion, Throughput};
use twin_engine::dispersion::{
    CpuEngine, DispersionProblem, Emitter, FaceWind, GpuEngine, Interval, NearField, SourceCell,
    Stability, StepEngine, near,
};
use twin_engine::grid::Grid;
use twin_engine::model::Pollutant;

/// Bytes a step's two transport sweeps must move per cell-update with perfect stencil reuse:
/// each sweep reads and writes the 8-byte fixed-point state (2 × 16) and reads one face
/// Courant number (2 × 4); the last also reads and writes the 8-byte time integral (16).
const BYTES_PER_CELL_UPDATE: f64 = 56.0;
/// Bytes the CPU twin's fused step must move per cell-update (both sweeps in one pass, the
/// intermediate field kept in cache): the state read and written once (16), both Courant
/// numbers (8), the time integral read and written (16).
const BYTES_FUSED: f64 = 40.0;
const SIZES: [usize; 4] = [512, 1024, 2048, 4096];
/// Steps per timed iteration.
const STEPS: u64 = 4;

mod common;

fn problem(n: usize) -> DispersionProblem {
    let grid = Grid {
        nx: n,
        ny: n,
        cell_m: 250.0,
        x0: 600_000.0,
        y0: 2_200_000.0,
        epsg: 32648,
    };
    // a rotating wind so both limiter branches and every face run
    let mut uc = vec![0.0; grid.cells()];
    let mut vc = vec![0.0; grid.cells()];
    for j in 0..n {
        for i in 0..n {
            let (x, y) = (i as f64 / n as f64 - 0.5, j as f64 / n as f64 - 0.5);
            uc[j * n + i] = -6.0 * y;
            vc[j * n + i] = 6.0 * x;
        }
    }
    let wind = FaceWind::from_cells(&grid, &uc, &vc);
    // 64 stacks scattered over the grid
    let emitters = (0..64)
        .map(|k| {
            let c = (k * 7919) % grid.cells();
            let (x, y) = grid.centre(c % n, c / n);
            Emitter {
                height_m: 150.0,
                exit: Some(twin_engine::dispersion::StackExit {
                    diameter_m: 5.0,
                    velocity_m_s: 20.0,
                    temperature_k: 420.0,
                }),
                ..Emitter::ground(x, y, vec![(0, 100.0)])
            }
        })
        .collect();
    DispersionProblem {
        grid,
        pollutants: vec![Pollutant::Pm25],
        decay_per_s: vec![1e-5],
        deposition_m_s: vec![0.001],
        emitters,
        near_field: NearField::default(),
        stations: vec![],
        receptors: vec![],
        intervals: vec![Interval {
            duration_s: 3600.0,
            wind: std::sync::Arc::new(wind),
            kdiff: 30.0,
            stability: Some(Stability::D),
            mixing_height_m: 600.0,
            calm: false,
        }],
        spin_up_s: 0.0,
        cfl: 0.5,
    }
}

/// The bench's own source cells (the stage's input; a run derives them per interval).
fn bench_sources(p: &DispersionProblem) -> Vec<SourceCell> {
    (0..64)
        .map(|k| SourceCell {
            cell: ((k * 7919) % p.grid.cells()) as u32,
            pollutant: 0,
            rate: 10.0,
        })
        .collect()
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let gpu = common::gpu();

    common::bandwidth(&mut c, gpu.as_ref());

    for n in SIZES {
        let p = problem(n);
        let sources = bench_sources(&p);
        let (_, dt, tp, ep) = p.step_params(&p.intervals[0], sources.len());
        let mut g = c.benchmark_group(format!("dispersion_{n}x{n}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(STEPS * (n * n) as u64));
        let mut cpu_engine = CpuEngine::new(&p);
        cpu_engine
            .set_interval(&p.intervals[0].wind, dt, &tp, &ep, &sources)
            .expect("cpu");
        let name = format!("cpu/{n}");
        g.bench_function("cpu", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    cpu_engine.steps(STEPS).expect("steps");
                }
                let d = t.elapsed();
                record(&name, iters, d);
                d
            })
        });
        if let Some(ctx) = &gpu {
            match GpuEngine::new(ctx, &p) {
                Ok(mut e) => {
                    e.set_interval(&p.intervals[0].wind, dt, &tp, &ep, &sources)
                        .expect("gpu");
                    let name = format!("gpu/{n}");
                    g.bench_function("gpu", |b| {
                        b.iter_custom(|iters| {
                            let t = Instant::now();
                            for _ in 0..iters {
                                e.steps(STEPS).expect("steps");
                            }
                            // wait for the device
                            ctx.submit_and_wait(ctx.encoder()).expect("sync");
                            let d = t.elapsed();
                            record(&name, iters, d);
                            d
                        })
                    });
                }
                Err(e) => eprintln!("{n}x{n} skipped on the GPU: {e}"),
            }
        }
        g.finish();
    }
    near_field_group(&mut c, gpu.as_ref());
    poisson_group(&mut c, gpu.as_ref());
    members_group(&mut c, gpu.as_ref());
    c.final_summary();

    if !common::benchmarking() {
        return; // test mode: one untimed pass, nothing to report
    }
    println!(
        "\nroofline: transport moves {BYTES_PER_CELL_UPDATE} B per cell-update (ideal stencil reuse)"
    );
    for dev in ["cpu", "gpu"] {
        let Some(copy) = per_iter(&format!("copy/{dev}")) else {
            continue;
        };
        let bw = common::copy_bytes(dev, gpu.as_ref()) / copy;
        println!("  {dev}: copy bandwidth {:.2} GB/s", bw / 1e9);
        for n in SIZES {
            if let Some(t) = per_iter(&format!("{dev}/{n}")) {
                let cups = (STEPS as f64) * (n * n) as f64 / t;
                println!(
                    "    {n:>4}²: {:>8.1} M cell-updates/s  = {:>6.2} GB/s  = {:>5.1} % of copy bandwidth",
                    cups / 1e6,
                    cups * BYTES_PER_CELL_UPDATE / 1e9,
                    100.0 * cups * BYTES_PER_CELL_UPDATE / bw
                );
                if dev == "cpu" {
                    println!(
                        "           (the fused step's own {BYTES_FUSED} B: {:>5.1} % of copy bandwidth)",
                        100.0 * cups * BYTES_FUSED / bw
                    );
                }
            }
        }
    }
}

/// Sweep members: `MEMBERS` members of one grid stepped one by one (each its own engine) and
/// batched (one `GpuBatch`, each member's slot driven from its own thread, one dispatch per
/// sweep for all of them), `MEMBERS × STEPS_MEMBERS` member-steps per iteration; grids of 64²
/// (where dispatch overhead dominates) and 512². Prints member-steps per second and the
/// batched/one-by-one ratio.
const MEMBERS: usize = 8;
const MEMBER_SIZES: [usize; 2] = [64, 512];
const STEPS_MEMBERS: u64 = 16;

fn members_group(c: &mut Criterion, gpu: Option<&twin_engine::gpu::GpuContext>) {
    for n in MEMBER_SIZES {
        let p = problem(n);
        let sources = bench_sources(&p);
        let (_, dt, tp, ep) = p.step_params(&p.intervals[0], sources.len());
        let mut g = c.benchmark_group(format!("dispersion_members_{n}x{n}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(MEMBERS as u64 * STEPS_MEMBERS));
        let mut cpu: Vec<CpuEngine> = (0..MEMBERS).map(|_| CpuEngine::new(&p)).collect();
        for e in &mut cpu {
            e.set_interval(&p.intervals[0].wind, dt, &tp, &ep, &sources)
                .expect("cpu");
        }
        let name = format!("members/cpu/{n}");
        g.bench_function("cpu_one_by_one", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    for e in &mut cpu {
                        e.steps(STEPS_MEMBERS).expect("steps");
                    }
                }
                let d = t.elapsed();
                record(&name, iters, d);
                d
            })
        });
        let Some(ctx) = gpu else {
            g.finish();
            continue;
        };
        let alone: Result<Vec<GpuEngine>, _> =
            (0..MEMBERS).map(|_| GpuEngine::new(ctx, &p)).collect();
        let batch = twin_engine::dispersion::GpuBatch::new(ctx, n, n, 1, MEMBERS);
        let (mut alone, batch) = match (alone, batch) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("members {n}x{n} skipped on the GPU: {e}");
                g.finish();
                continue;
            }
        };
        let mut slots: Vec<GpuEngine> = (0..batch.capacity())
            .map(|_| batch.slot(&p, None).expect("slot"))
            .collect();
        for e in alone.iter_mut().chain(slots.iter_mut()) {
            e.set_interval(&p.intervals[0].wind, dt, &tp, &ep, &sources)
                .expect("gpu");
        }
        let name = format!("members/gpu/{n}");
        g.bench_function("gpu_one_by_one", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    for e in &mut alone {
                        e.steps(STEPS_MEMBERS).expect("steps");
                    }
                }
                ctx.submit_and_wait(ctx.encoder()).expect("sync");
                let d = t.elapsed();
                record(&name, iters, d);
                d
            })
        });
        let name = format!("members/gpu_batched/{n}");
        g.bench_function("gpu_batched", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    std::thread::scope(|s| {
                        for e in slots.iter_mut() {
                            s.spawn(move || e.steps(STEPS_MEMBERS).expect("steps"));
                        }
                    });
                }
                ctx.submit_and_wait(ctx.encoder()).expect("sync");
                let d = t.elapsed();
                record(&name, iters, d);
                d
            })
        });
        g.finish();
        if common::benchmarking() {
            let rate = |k: &str| {
                per_iter(&format!("members/{k}/{n}"))
                    .map(|t| (MEMBERS as f64) * STEPS_MEMBERS as f64 / t)
            };
            if let (Some(one), Some(bat)) = (rate("gpu"), rate("gpu_batched")) {
                println!(
                    "members {n}²: gpu one by one {one:.0} member-steps/s, batched {bat:.0} ({:.2}×); cpu {:.0}",
                    bat / one,
                    rate("cpu").unwrap_or(f64::NAN)
                );
            }
        }
    }
}

/// The near-field stage: 64 buoyant stacks plus 2,000 road pieces (50 m, ground level) over a
/// 512² grid at 250 m, class D, lid 600 m: receptor-plume evaluations per second.
fn near_field_group(c: &mut Criterion, gpu: Option<&twin_engine::gpu::GpuContext>) {
    let mut p = problem(512);
    let (x0, y0) = p.grid.centre(100, 256);
    for k in 0..2000 {
        let mut e = Emitter::ground(
            x0 + 50.0 * f64::from(k),
            y0 + 10.0 * f64::from(k % 7),
            vec![(0, 0.01)],
        );
        e.sigma_y0_m = 50.0 / 2.15;
        e.sigma_z0_m = 1.7;
        p.emitters.push(e);
    }
    let ip = near::interval_plumes(&p.grid, &p.near_field, &p.emitters, &p.intervals[0], 1);
    let receptors = near::grid_receptors(&p.grid, 1.5);
    let mut cells = vec![0.0f32; p.grid.cells()];
    let mut points: Vec<f32> = Vec::new();
    let mut cpu_engine = CpuEngine::new(&p);
    let evaluations = cpu_engine
        .near_field(&ip, &receptors, &[], &mut cells, &mut points)
        .expect("cpu near field");
    let mut g = c.benchmark_group("near_field_512x512");
    g.sample_size(10);
    g.throughput(Throughput::Elements(evaluations));
    g.bench_function("cpu", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                cpu_engine
                    .near_field(&ip, &receptors, &[], &mut cells, &mut points)
                    .expect("near");
            }
            let d = t.elapsed();
            record("near/cpu", iters, d);
            d
        })
    });
    if let Some(ctx) = gpu {
        match GpuEngine::new(ctx, &p) {
            Ok(mut e) => {
                g.bench_function("gpu", |b| {
                    b.iter_custom(|iters| {
                        let t = Instant::now();
                        for _ in 0..iters {
                            e.near_field(&ip, &receptors, &[], &mut cells, &mut points)
                                .expect("near");
                        }
                        let d = t.elapsed();
                        record("near/gpu", iters, d);
                        d
                    })
                });
            }
            Err(e) => eprintln!("near field skipped on the GPU: {e}"),
        }
    }
    g.finish();
    if common::benchmarking() {
        for dev in ["cpu", "gpu"] {
            if let Some(t) = per_iter(&format!("near/{dev}")) {
                println!(
                    "near field {dev}: {:.3e} receptor-plume evaluations/s ({evaluations} per pass, {:.3} s)",
                    evaluations as f64 / t,
                    t
                );
            }
        }
    }
}

/// Stage `poisson`: V-cycles of the mass-consistency multigrid on the province's 250 m grid
/// (713 × 454) with a converging wind; per cycle, and the fine-level cell-sweeps per second
/// (a cycle costs about 8 fine-level passes: 2 + 2 smoothing sweeps of two colours, the
/// restriction and prolongation, and a third of that again on the coarser levels).
fn poisson_group(c: &mut Criterion, gpu: Option<&twin_engine::gpu::GpuContext>) {
    use twin_engine::dispersion::projection::{divergence, poisson_rhs, v_cycle};
    let (nx, ny) = (713, 454);
    let mut p = problem(16);
    p.grid.nx = nx;
    p.grid.ny = ny;
    let mut uc = vec![0.0; nx * ny];
    let mut vc = vec![0.0; nx * ny];
    for j in 0..ny {
        for i in 0..nx {
            uc[j * nx + i] = 3.0 * (i as f64 / nx as f64 * 3.0).sin();
            vc[j * nx + i] = 1.0 + j as f64 / ny as f64;
        }
    }
    let w = FaceWind::from_cells(&p.grid, &uc, &vc);
    let rhs = poisson_rhs(&divergence(&p.grid, &w));
    let ops = v_cycle(nx, ny);
    let mut psi = vec![0i64; nx * ny];
    let mut g = c.benchmark_group("poisson_713x454");
    g.sample_size(10);
    g.throughput(Throughput::Elements((nx * ny) as u64));
    let mut cpu_engine = CpuEngine::new(&p);
    g.bench_function("cpu", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                cpu_engine.poisson(&ops, &mut psi, &rhs, 1).expect("cycle");
            }
            let d = t.elapsed();
            record("poisson/cpu", iters, d);
            d
        })
    });
    if let Some(ctx) = gpu {
        match GpuEngine::new(ctx, &p) {
            Ok(mut e) => {
                g.bench_function("gpu", |b| {
                    b.iter_custom(|iters| {
                        let t = Instant::now();
                        for _ in 0..iters {
                            // one cycle per call, with its upload and readback, as a run does
                            // every two cycles
                            e.poisson(&ops, &mut psi, &rhs, 1).expect("cycle");
                        }
                        let d = t.elapsed();
                        record("poisson/gpu", iters, d);
                        d
                    })
                });
            }
            Err(e) => eprintln!("poisson skipped on the GPU: {e}"),
        }
    }
    g.finish();
    if common::benchmarking() {
        for dev in ["cpu", "gpu"] {
            if let Some(t) = per_iter(&format!("poisson/{dev}")) {
                println!(
                    "poisson {dev}: {:.1} ms per V-cycle on 713 x 454 ({:.1} M fine cells/s)",
                    t * 1e3,
                    (nx * ny) as f64 / t / 1e6
                );
            }
        }
    }
}
