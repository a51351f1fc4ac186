//! Shared by the benches: a timing log beside criterion's (so that the roofline lines can be
//! printed at the end), and the memory bandwidth of a large copy on the CPU and the GPU.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use twin_engine::dispersion::cpu;
use twin_engine::gpu::{self, GpuContext};

thread_local! {
    static TIMINGS: RefCell<BTreeMap<String, (u64, Duration)>> = const { RefCell::new(BTreeMap::new()) };
}

/// Adds `iters` iterations taking `d` to the log under `name`.
pub fn record(name: &str, iters: u64, d: Duration) {
    TIMINGS.with(|m| {
        let mut m = m.borrow_mut();
        let e = m.entry(name.to_string()).or_default();
        e.0 += iters;
        e.1 += d;
    });
}

/// Mean seconds per iteration logged under `name`.
pub fn per_iter(name: &str) -> Option<f64> {
    TIMINGS.with(|m| {
        m.borrow()
            .get(name)
            .map(|(n, d)| d.as_secs_f64() / *n as f64)
    })
}

/// Whether criterion is measuring (`cargo bench`) rather than running each bench once
/// (`cargo test --all-targets`), when timings mean nothing.
pub fn benchmarking() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The GPU to benchmark, if wgpu finds an adapter; says which on stderr.
pub fn gpu() -> Option<GpuContext> {
    match GpuContext::acquire() {
        Ok(ctx) => {
            eprintln!(
                "GPU adapter: {} ({}, {})",
                ctx.report.name, ctx.report.backend, ctx.report.device_type
            );
            Some(ctx)
        }
        Err(e) => {
            eprintln!("no GPU adapter, GPU benchmarks skipped: {e}");
            None
        }
    }
}

const LEN: usize = 64 << 20; // f32s: 256 MiB

fn gpu_len(ctx: Option<&GpuContext>) -> usize {
    ctx.map(|ctx| LEN.min((ctx.limits.max_storage_buffer_binding_size / 4) as usize / 1024 * 1024))
        .unwrap_or(LEN)
}

/// Bytes one copy iteration moves (read + write) on `dev` ("cpu" or "gpu").
pub fn copy_bytes(dev: &str, ctx: Option<&GpuContext>) -> f64 {
    let n = if dev == "gpu" { gpu_len(ctx) } else { LEN };
    (2 * n * 4) as f64
}

/// Benchmarks a 256 MiB copy (on the GPU as large as one binding allows, up to that), logged as
/// `copy/cpu` and `copy/gpu`.
pub fn bandwidth(c: &mut Criterion, gpu: Option<&GpuContext>) {
    let len = LEN;
    let src = vec![1.0f32; len];
    let mut dst = vec![0.0f32; len];
    let mut g = c.benchmark_group("bandwidth_copy_256MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((2 * len * 4) as u64));
    g.bench_function("cpu", |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                cpu::copy(&src, &mut dst);
            }
            let d = t.elapsed();
            record("copy/cpu", iters, d);
            d
        })
    });
    if let Some(ctx) = gpu {
        let gpu_len = gpu_len(Some(ctx));
        g.throughput(Throughput::Bytes((2 * gpu_len * 4) as u64));
        let kernel = ctx.kernel(&gpu::shaders::COMMON_COPY);
        let n_vec4 = gpu_len / 4;
        let row = 65_535 * 256;
        #[repr(C)]
        #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
        struct CopyParams {
            n_vec4: u32,
            row_width: u32,
            pad: [u32; 2],
        }
        let params = ctx.uniform(
            "copy",
            &CopyParams {
                n_vec4: n_vec4 as u32,
                row_width: row as u32,
                pad: [0; 2],
            },
        );
        let a = ctx.storage_zeroed::<f32>("copy-src", gpu_len);
        let bbuf = ctx.storage_zeroed::<f32>("copy-dst", gpu_len);
        let bg = ctx.bind(&kernel, &[&params, &a, &bbuf]);
        let groups_x = gpu::groups(n_vec4.min(row), 256);
        let groups_y = n_vec4.div_ceil(row) as u32;
        g.bench_function("gpu", |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                let mut enc = ctx.encoder();
                for _ in 0..iters {
                    kernel.dispatch(&mut enc, &bg, [groups_x, groups_y, 1]);
                }
                ctx.submit_and_wait(enc).expect("gpu copy");
                let d = t.elapsed();
                record("copy/gpu", iters, d);
                d
            })
        });
    }
    g.finish();
}
