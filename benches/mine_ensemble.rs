//! Mine ensemble throughput: member-steps per second of the batched gas transport (sources and
//! upwind advection, junction mixing, samples at the outputs) on the CPU twin and the GPU, for
//! the bundled synthetic Mông Dương network (971 cells) under its fan-stop scenario, with the
//! copy bandwidth of each device in the same run for a roofline. The members' airflow solves
//! (CPU, before the transport) are not timed.
//!
//! Run: `cargo bench -p twin-engine --bench mine_ensemble`.

use std::path::Path;
use std::time::Instant;

use common::{per_iter, record};
use criterion::{Criterion, Throughput};
use twin_engine::mine::ensemble::{EnsembleProblem, run_cpu, run_gpu};
use twin_engine::mine::{MineNetwork, MineScenario};

mod common;

/// Bytes a cell update moves with ideal reuse: read and write the gas of both gases (16).
const BYTES_PER_CELL_STEP: f64 = 16.0;

fn problem(members: usize, minutes: f64) -> EnsembleProblem {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh/mines");
    let net = MineNetwork::read(&dir.join("mong-duong.toml")).expect("network");
    let mut sc = MineScenario::read(&dir.join("mong-duong-fan-stop.toml"), &net).expect("scenario");
    sc.duration_min = minutes;
    EnsembleProblem::new(&net, &sc, members, 1).expect("problem")
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let gpu = common::gpu();
    common::bandwidth(&mut c, gpu.as_ref());
    let minutes = if common::benchmarking() { 5.0 } else { 1.0 };
    let mut sizes = Vec::new();
    for members in [16usize, 256, 1024] {
        let p = problem(members, minutes);
        let work = members as u64 * p.steps;
        sizes.push((members, p.steps, p.params.n_cells));
        let mut g = c.benchmark_group(format!("mine_ensemble_{members}"));
        g.sample_size(10);
        g.throughput(Throughput::Elements(work));
        let name = format!("cpu/{members}");
        g.bench_function("cpu", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    std::hint::black_box(run_cpu(&p));
                }
                let d = t.elapsed();
                record(&name, iters, d);
                d
            })
        });
        if let Some(ctx) = &gpu {
            let name = format!("gpu/{members}");
            g.bench_function("gpu", |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        std::hint::black_box(run_gpu(ctx, &p).expect("gpu"));
                    }
                    let d = t.elapsed();
                    record(&name, iters, d);
                    d
                })
            });
        }
        g.finish();
    }
    c.final_summary();
    if !common::benchmarking() {
        return;
    }
    println!("\nroofline: a transport step moves {BYTES_PER_CELL_STEP} B per cell (ideal reuse)");
    for dev in ["cpu", "gpu"] {
        let Some(copy) = per_iter(&format!("copy/{dev}")) else {
            continue;
        };
        let bw = common::copy_bytes(dev, gpu.as_ref()) / copy;
        println!("  {dev}: copy bandwidth {:.2} GB/s", bw / 1e9);
        for (members, steps, cells) in &sizes {
            if let Some(t) = per_iter(&format!("{dev}/{members}")) {
                let ms = *members as f64 * *steps as f64 / t;
                let bytes = ms * f64::from(*cells) * BYTES_PER_CELL_STEP;
                println!(
                    "    {members:>5} members × {steps} steps × {cells} cells: {:>10.0} member-steps/s = {:>8.1} M cell-updates/s = {:>6.2} GB/s = {:>5.1} % of copy bandwidth",
                    ms,
                    ms * f64::from(*cells) / 1e6,
                    bytes / 1e9,
                    100.0 * bytes / bw
                );
            }
        }
    }
}
