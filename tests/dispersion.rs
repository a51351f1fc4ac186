//! Dispersion: the exact steady solution, mass conservation, GPU-vs-CPU parity on lavapipe or a
//! real GPU, determinism (golden hash), scenario errors, and the CLI outputs.

use crate::gpu;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use twin_engine::dispersion::analytic::steady_point_source;
use twin_engine::dispersion::scenario::Scenario;
use twin_engine::dispersion::{
    CpuEngine, DispersionProblem, Emitter, FaceWind, GpuEngine, Interval, NearField, SourceCell,
    Stability, StepEngine, field_hash, from_fixed,
};
use twin_engine::grid::Grid;
use twin_engine::model::Pollutant;

fn scenario_path(name: &str) -> std::path::PathBuf {
    crate::bundled().join("scenarios").join(name)
}

/// The analytic case: 25 km × 10 km at 100 m, u = 2 m/s along +x, K = 50 m²/s, h = 500 m,
/// Q = 100 g/s in cell (30, 50), 6 h (steady well past 15 km downwind).
fn analytic_problem() -> (DispersionProblem, (usize, usize), f64, f64, f64, f64) {
    let grid = Grid {
        nx: 250,
        ny: 100,
        cell_m: 100.0,
        x0: 700_000.0,
        y0: 2_315_000.0,
        epsg: 32648,
    };
    let (u, k, h, q) = (2.0, 50.0, 500.0, 100.0);
    let src = (30usize, 50usize);
    let (sx, sy) = grid.centre(src.0, src.1);
    let problem = DispersionProblem::single_source(
        grid,
        Emitter::ground(sx, sy, vec![(0, q)]),
        (u, 0.0),
        k,
        Stability::D,
        h,
        6,
        NearField {
            enabled: false,
            ..NearField::default()
        },
    );
    (problem, src, u, k, h, q)
}

#[test]
fn steady_point_source_matches_the_exact_solution() {
    let (problem, (si, sj), u, k, h, q) = analytic_problem();
    let r = problem.run(None).expect("cpu run");
    let g = &problem.grid;
    let c = &r.final_conc;
    // centreline, from 10 cells downwind to 15 km (the outflow boundary is 22 km downwind)
    let mut worst: f64 = 0.0;
    for i in si + 10..si + 150 {
        let x = (i - si) as f64 * g.cell_m;
        let exact = steady_point_source(q * 1e6, u, k, h, x, 0.0);
        let num = f64::from(c[sj * g.nx + i]);
        let err = (num - exact).abs() / exact;
        worst = worst.max(err);
        assert!(
            err <= 0.05,
            "centreline {x} m downwind: model {num:.3} vs exact {exact:.3} µg/m³ ({:.1} %)",
            err * 100.0
        );
    }
    eprintln!(
        "worst centreline error from 10 cells downwind: {:.2} %",
        worst * 100.0
    );
    // cross-wind integral ∫C dy = Q/(u h) downwind
    let expected = q * 1e6 / (u * h);
    for i in [si + 20, si + 60, si + 120, si + 180] {
        let integral: f64 = (0..g.ny)
            .map(|j| f64::from(c[j * g.nx + i]) * g.cell_m)
            .sum();
        let err = (integral - expected).abs() / expected;
        assert!(
            err <= 0.02,
            "cross-wind integral at cell {i}: {integral:.1} vs {expected:.1} ({:.2} %)",
            err * 100.0
        );
    }
    // and upwind of the source the plume is negligible, as exp(u x / K) = e^-20 at 500 m says
    let up = f64::from(c[sj * g.nx + si - 5]);
    let down = f64::from(c[sj * g.nx + si + 5]);
    assert!(up < 1e-4 * down, "upwind {up} vs downwind {down}");
    assert!(r.budget[0].relative_error < 1e-5, "{:?}", r.budget[0]);
}

#[test]
fn the_analytic_scenario_file_expresses_the_test_case() {
    let path = scenario_path("analytic-point-source.toml");
    let run = Scenario::load(&path, Some(&crate::bundled())).expect("valid scenario");
    let p = &run.problem;
    assert_eq!((p.grid.nx, p.grid.ny, p.grid.cell_m), (250, 100, 100.0));
    assert_eq!(p.emitters.len(), 1);
    assert!(!p.near_field.enabled, "the analytic case is the grid alone");
    assert_eq!(run.kdiff, vec![50.0; 6]);
    let (u, v) = p.intervals[0].wind.max_speeds();
    assert!((u - 2.0).abs() < 1e-6 && v < 1e-6);
    // Q = 100 g/s at the centre of cell (30, 50)
    let e = &p.emitters[0];
    assert_eq!(e.rates, vec![(0, 100.0)]);
    let (cx, cy) = p.grid.centre(30, 50);
    assert!(
        (e.x_m - cx).abs() < 1.0 && (e.y_m - cy).abs() < 1.0,
        "{e:?}"
    );
}

/// The province scenario with some of its keys changed (coarser grids keep tests quick).
fn province_run(
    change: impl FnOnce(&mut Scenario),
) -> twin_engine::dispersion::scenario::ResolvedDispersion {
    let path = scenario_path("winter-ne-monsoon.toml");
    let mut s = Scenario::read(&path).expect("valid");
    change(&mut s);
    let dataset = twin_engine::dataset::Dataset::load(&crate::bundled()).expect("dataset");
    s.resolve(&path, dataset).expect("resolves")
}

#[test]
fn province_scenario_conserves_mass_to_1e_5() {
    // the same physics on a coarse grid and a short run, to keep the test quick
    let run = province_run(|s| {
        s.grid.resolution_m = 1000.0;
        s.duration_h = 6.0;
    });
    assert!(run.problem.emitters.len() > 20);
    let r = run.problem.run(None).expect("cpu run");
    for (p, b) in run.problem.pollutants.iter().zip(&r.budget) {
        assert!(b.emitted_kg > 0.0);
        assert!(b.relative_error <= 1e-5, "{}: {b:?}", p.as_str());
        assert!(
            b.in_grid_kg > 0.0 && b.left_boundary_kg >= 0.0 && b.deposited_kg > 0.0,
            "{b:?}"
        );
    }
    // SO2 decays, PM does not
    assert!(r.budget[2].decayed_kg > 0.0 && r.budget[0].decayed_kg == 0.0);
    assert!(
        r.final_conc.iter().all(|c| *c >= 0.0),
        "negative concentration"
    );
}

#[test]
fn budget_holds_over_long_output_intervals() {
    // one 24 h interval (about 330 steps at 1 km): the time integral that carries decay and
    // deposition is summed on the device for the whole interval before the host folds it in
    let run = province_run(|s| {
        s.grid.resolution_m = 1000.0;
        s.output_interval_min = 1440.0;
    });
    let r = run.problem.run(None).expect("cpu run");
    assert!(r.steps > 300, "{}", r.steps);
    for (p, b) in run.problem.pollutants.iter().zip(&r.budget) {
        assert!(b.relative_error <= 1e-6, "{}: {b:?}", p.as_str());
    }
}

fn random_problem(seed: u64) -> (DispersionProblem, Vec<f32>, Vec<SourceCell>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let grid = Grid {
        nx: 97,
        ny: 61,
        cell_m: 250.0,
        x0: 700_000.0,
        y0: 2_300_000.0,
        epsg: 32648,
    };
    let np = 3;
    let wind = FaceWind {
        u: (0..(grid.nx + 1) * grid.ny)
            .map(|_| rng.random_range(-6.0..6.0))
            .collect(),
        v: (0..grid.nx * (grid.ny + 1))
            .map(|_| rng.random_range(-6.0..6.0))
            .collect(),
        divergent: false,
    };
    let sources: Vec<SourceCell> = (0..40)
        .map(|_| SourceCell {
            cell: rng.random_range(0..grid.cells() as u32),
            pollutant: rng.random_range(0..np as u32),
            rate: rng.random_range(0.0..5.0),
        })
        .collect();
    let initial: Vec<f32> = (0..grid.cells() * np)
        .map(|_| {
            if rng.random::<f64>() < 0.2 {
                rng.random_range(0.0..200.0)
            } else {
                0.0
            }
        })
        .collect();
    let problem = DispersionProblem {
        grid,
        pollutants: vec![Pollutant::Pm25, Pollutant::So2, Pollutant::Nox],
        decay_per_s: vec![0.0, 1e-5, 3e-5],
        deposition_m_s: vec![0.002, 0.005, 0.0],
        emitters: vec![],
        near_field: NearField::default(),
        stations: vec![],
        receptors: vec![],
        intervals: vec![Interval {
            duration_s: 600.0,
            wind: std::sync::Arc::new(wind),
            kdiff: 40.0,
            stability: Some(Stability::D),
            mixing_height_m: 700.0,
            calm: false,
        }],
        spin_up_s: 0.0,
        cfl: 0.5,
    };
    (problem, initial, sources)
}

/// The engine's final fixed-point state after one interval.
fn run_engine_raw<E: StepEngine>(
    mut e: E,
    problem: &DispersionProblem,
    sources: &[SourceCell],
) -> Vec<i64> {
    let (n, dt, tp, ep) = problem.step_params(&problem.intervals[0], sources.len());
    e.set_interval(&problem.intervals[0].wind, dt, &tp, &ep, sources)
        .expect("set");
    e.steps(n).expect("steps");
    e.finish().expect("finish").state
}

fn run_engine<E: StepEngine>(
    e: E,
    problem: &DispersionProblem,
    sources: &[SourceCell],
) -> Vec<f32> {
    run_engine_raw(e, problem, sources)
        .into_iter()
        .map(|x| from_fixed(x) as f32)
        .collect()
}

/// The transport state is fixed point and every stage integer arithmetic, so the GPU and the
/// CPU twin end bit for bit the same on random winds, sources and removal.
#[test]
fn gpu_and_cpu_transport_states_are_bit_identical() {
    let Some(ctx) = gpu() else { return };
    eprintln!("adapter: {:?}", ctx.report);
    for seed in [1, 2, 3] {
        let (problem, initial, sources) = random_problem(seed);
        let cpu = run_engine_raw(
            CpuEngine::new(&problem).with_initial(&initial),
            &problem,
            &sources,
        );
        let gpu = run_engine_raw(
            GpuEngine::with_initial(&ctx, &problem, Some(&initial)).expect("gpu engine"),
            &problem,
            &sources,
        );
        let differ = cpu.iter().zip(&gpu).filter(|(a, b)| a != b).count();
        eprintln!("seed {seed}: {differ} of {} cells differ", cpu.len());
        assert!(cpu.iter().any(|x| *x > 0));
        assert_eq!(differ, 0, "seed {seed}");
    }
}

/// Members of one grid batched into one dispatch (`GpuBatch`): three random problems with
/// different winds (so different step counts: the batch runs the largest, the others sitting
/// out the rounds they skip), initial fields, sources and removal, each slot driven from its
/// own thread, end bit for bit as each one alone on the CPU twin; and all three were stepped by
/// one run of the batch.
#[test]
fn batched_gpu_members_are_bit_identical_to_cpu_runs_one_by_one() {
    let Some(ctx) = gpu() else { return };
    // winds scaled down member by member, so the step counts differ
    let members: Vec<_> = [(11u64, 1.0), (12, 0.6), (13, 0.3)]
        .iter()
        .map(|&(seed, f)| {
            let (mut p, init, src) = random_problem(seed);
            let w = &p.intervals[0].wind;
            let scaled = FaceWind {
                u: w.u.iter().map(|x| x * f).collect(),
                v: w.v.iter().map(|x| x * f).collect(),
                divergent: false,
            };
            p.intervals[0].wind = std::sync::Arc::new(scaled);
            (p, init, src)
        })
        .collect();
    let steps: Vec<u64> = members
        .iter()
        .map(|(p, _, _)| p.substeps(&p.intervals[0]).0)
        .collect();
    eprintln!("steps per member: {steps:?}");
    assert!(steps.iter().any(|n| *n != steps[0]), "{steps:?}");
    let (first, _, _) = &members[0];
    let batch = twin_engine::dispersion::GpuBatch::new(
        &ctx,
        first.grid.nx,
        first.grid.ny,
        first.pollutants.len(),
        3,
    )
    .expect("batch");
    assert_eq!(batch.capacity(), 3);
    // every slot taken before any steps: the barrier then steps all three together
    let engines: Vec<_> = members
        .iter()
        .map(|(p, init, _)| batch.slot(p, Some(init)).expect("slot"))
        .collect();
    let batched: Vec<Vec<i64>> = std::thread::scope(|s| {
        let handles: Vec<_> = engines
            .into_iter()
            .zip(&members)
            .map(|(e, (p, _, src))| s.spawn(move || run_engine_raw(e, p, src)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("member"))
            .collect()
    });
    assert_eq!(batch.occupancy(), (1, 3));
    for (k, ((p, init, src), got)) in members.iter().zip(&batched).enumerate() {
        let cpu = run_engine_raw(CpuEngine::new(p).with_initial(init), p, src);
        let differ = cpu.iter().zip(got).filter(|(a, b)| a != b).count();
        eprintln!("member {k}: {differ} of {} cells differ", cpu.len());
        assert!(cpu.iter().any(|x| *x > 0));
        assert_eq!(differ, 0, "member {k}");
    }
}

/// Whole runs through the driver: five analytic-case members (wind 1 to 5 m/s, so every
/// interval's step count differs) on four threads sharing a batch of three slots (members wait
/// for a free slot, join as others leave), against each member alone on the CPU twin: the
/// grid's final and time-mean fields and the budget bit for bit the same.
#[test]
fn sweep_members_run_in_a_shared_batch_as_they_run_alone() {
    let Some(ctx) = gpu() else { return };
    let (base, _, _, _, _, _) = analytic_problem();
    let members: Vec<DispersionProblem> = (1..=5)
        .map(|k| {
            let mut p = base.clone();
            let w = std::sync::Arc::new(FaceWind::uniform(&p.grid, f64::from(k), 0.3));
            for iv in &mut p.intervals {
                iv.wind = w.clone();
            }
            p.intervals.truncate(2);
            p
        })
        .collect();
    let batch = twin_engine::dispersion::GpuBatch::new(&ctx, 250, 100, 1, 3).expect("batch");
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(vec![None; members.len()]);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                loop {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = members.get(k) else { break };
                    let r = p.run_in(&batch, &mut |_, _| {}).expect("batched run");
                    results.lock().expect("lock")[k] = Some(r);
                }
            });
        }
    });
    let (runs, stepped) = batch.occupancy();
    eprintln!("{runs} batch runs stepped {stepped} member-intervals");
    assert_eq!(stepped, 10);
    for (k, (p, g)) in members
        .iter()
        .zip(results.into_inner().expect("results"))
        .enumerate()
    {
        let g = g.expect("run");
        let c = p.run(None).expect("cpu run");
        assert_eq!(g.steps, c.steps, "member {k}");
        let same = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(c.grid_final.iter().any(|x| *x > 0.0));
        assert!(same(&g.grid_final, &c.grid_final), "member {k}: final");
        assert!(same(&g.grid_mean, &c.grid_mean), "member {k}: mean");
        assert_eq!(
            g.budget[0].left_boundary_kg.to_bits(),
            c.budget[0].left_boundary_kg.to_bits(),
            "member {k}: outflow"
        );
    }
}

/// The whole province day (every source, the near field, 24 hourly winds) at 1 km on the GPU
/// and on the CPU twin: the grid's state (final and time-mean) bit for bit the same; the
/// ground-level fields and station series, which add the near-field plumes (a float stage
/// evaluated afresh each interval, not carried state), within 1e-4 of each one's peak.
#[test]
fn gpu_and_cpu_agree_on_the_province_day() {
    let Some(ctx) = gpu() else { return };
    let run = province_run(|s| {
        s.grid.resolution_m = 1000.0;
    });
    let g = run.problem.run(Some(&ctx)).expect("gpu run");
    let c = run.problem.run(None).expect("cpu run");
    assert_eq!(g.steps, c.steps);
    for b in &g.budget {
        assert!(b.relative_error <= 1e-6, "{b:?}");
    }
    assert!(g.grid_final.iter().any(|x| *x > 0.0));
    assert!(
        g.grid_final
            .iter()
            .zip(&c.grid_final)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "grid final state differs"
    );
    assert!(
        g.grid_mean
            .iter()
            .zip(&c.grid_mean)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "grid time-mean differs"
    );
    let plane = run.problem.grid.cells();
    let np = run.problem.pollutants.len();
    let ns = run.problem.stations.len();
    for (p, pol) in run.problem.pollutants.iter().enumerate() {
        let planes = |v: &[f32]| v[p * plane..(p + 1) * plane].to_vec();
        let series = |v: &[f32]| -> Vec<f32> { (0..v.len() / np).map(|k| v[k * np + p]).collect() };
        for (what, a, b) in [
            ("time-mean", planes(&c.mean_conc), planes(&g.mean_conc)),
            ("final", planes(&c.final_conc), planes(&g.final_conc)),
            ("grid final", planes(&c.grid_final), planes(&g.grid_final)),
            ("stations", series(&c.samples), series(&g.samples)),
        ] {
            let peak = a.iter().fold(0.0f32, |m, x| m.max(*x));
            let diff = a
                .iter()
                .zip(&b)
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            eprintln!(
                "{} {what}: peak {peak:.3}, max |gpu - cpu| {diff:.3e} ({:.2e} of peak)",
                pol.as_str(),
                diff / peak
            );
            assert!(
                peak > 0.0 && diff <= 1e-4 * peak,
                "{} {what}: {diff} of {peak}",
                pol.as_str()
            );
        }
    }
    assert!(ns > 0);
}

/// Golden hash of the CPU twin's final field for `random_problem(7)` run through the public
/// API. Re-mint only when the numerics change on purpose, and say why in the commit.
const GOLDEN_CPU_HASH: u64 = 0xfa52_6aba_a0d8_dd19;

#[test]
fn cpu_twin_is_deterministic_golden_hash() {
    let (problem, initial, sources) = random_problem(7);
    let a = run_engine(
        CpuEngine::new(&problem).with_initial(&initial),
        &problem,
        &sources,
    );
    let b = run_engine(
        CpuEngine::new(&problem).with_initial(&initial),
        &problem,
        &sources,
    );
    assert_eq!(field_hash(&a), field_hash(&b), "two runs differ");
    let h = field_hash(&a);
    assert_eq!(h, GOLDEN_CPU_HASH, "golden hash changed: {h:#018x}");
}

#[test]
fn scenario_errors_name_the_key() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir = dir.path();
    let base = std::fs::read_to_string(scenario_path("analytic-point-source.toml")).expect("read");
    let cases = [
        (
            base.replace("duration_h = 6", "duration_h = 6\nwind_speed = 3"),
            "wind_speed",
        ),
        (
            base.replace("unit = \"g/s\"", "unit = \"lb/h\""),
            "sources.point[0].emissions[0].unit",
        ),
        (
            base.replace("pollutants = [\"SO2\"]", "pollutants = [\"SO3\"]"),
            "pollutants[0]",
        ),
        (
            base.replace("diffusivity_m2_s = 50", "stability = \"G\""),
            "wind.stability",
        ),
        (
            base.replace("mode = \"uniform\"", "mode = \"breezy\""),
            "wind.mode",
        ),
        (
            base.replace("lon = 106.953066", "lon = 106.953066\nstack_height_m = -5"),
            "sources.point[0].stack_height_m",
        ),
        (
            base.replace(
                "lon = 106.953066",
                "lon = 106.953066\nexit_velocity_m_s = 20",
            ),
            "sources.point[0]",
        ),
        (
            base.replace("enabled = false", "enabled = true"),
            "wind.stability",
        ),
    ];
    for (i, (text, key)) in cases.iter().enumerate() {
        let p = dir.join(format!("case{i}.toml"));
        std::fs::write(&p, text).expect("write");
        let e = Scenario::load(&p, Some(&crate::bundled())).expect_err("invalid");
        let msg = format!("{e:#}");
        assert!(
            msg.contains(key) && msg.contains(&format!("case{i}.toml")),
            "case {i}: {msg}"
        );
        assert!(!msg.contains('\n'), "case {i}: {msg}");
    }
}

#[test]
fn station_winds_are_interpolated_onto_the_grid() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir = dir.path();
    std::fs::create_dir_all(dir).expect("tmp");
    let base = std::fs::read_to_string(scenario_path("analytic-point-source.toml")).expect("read");
    // two observations at the west and east ends of the grid, one from the west, one from the south
    let text = base.replace(
        "mode = \"uniform\"\nspeed_m_s = 2.0\nfrom_deg = 270               # from the west: blowing towards +x\ndiffusivity_m2_s = 50",
        "mode = \"stations\"\ndiffusivity_m2_s = 50\n[[wind.stations]]\nlon = 106.91\nlat = 20.97\nspeed_m_s = 4.0\nfrom_deg = 270\n[[wind.stations]]\nlon = 107.14\nlat = 20.97\nspeed_m_s = 2.0\nfrom_deg = 180",
    );
    assert_ne!(text, base, "the wind block was not replaced");
    let p = dir.join("stations.toml");
    std::fs::write(&p, text).expect("write");
    let run = Scenario::load(&p, Some(&crate::bundled())).expect("valid");
    let g = &run.problem.grid;
    let w = &run.problem.intervals[0].wind;
    let face_u = |i: usize, j: usize| f64::from(w.u[j * (g.nx + 1) + i]);
    let face_v = |i: usize, j: usize| f64::from(w.v[j * g.nx + i]);
    // west end: mostly the westerly 4 m/s; east end: mostly the southerly 2 m/s
    assert!(
        face_u(1, 50) > 3.0 && face_v(1, 50).abs() < 1.0,
        "{} {}",
        face_u(1, 50),
        face_v(1, 50)
    );
    assert!(
        face_v(g.nx - 2, 50) > 1.2 && face_u(g.nx - 1, 50) < 1.5,
        "{} {}",
        face_u(g.nx - 1, 50),
        face_v(g.nx - 2, 50)
    );
    // in between, a blend
    let (um, vm) = (face_u(g.nx / 2, 50), face_v(g.nx / 2, 50));
    assert!(um > 0.5 && um < 3.5 && vm > 0.2 && vm < 1.8, "{um} {vm}");
}

/// A model's declared limits against the device: `--backend gpu` fails naming the limit the
/// adapter cannot meet; the real models' limits fit lavapipe.
#[test]
fn gpu_limits_are_checked_before_a_model_runs() {
    use twin_engine::gpu::shaders::StageLimits;
    use twin_engine::gpu::{BackendChoice, GpuContext, GpuError};
    let Some(ctx) = gpu() else { return };
    ctx.meets("dispersion", twin_engine::dispersion::GPU_LIMITS)
        .expect("lavapipe meets the dispersion stages' limits");
    ctx.meets("traffic", twin_engine::traffic::GPU_LIMITS)
        .expect("lavapipe meets the traffic stages' limits");
    let impossible = StageLimits {
        max_storage_buffers_per_shader_stage: u32::MAX,
        max_uniform_buffers_per_shader_stage: 1,
    };
    match ctx.meets("test", impossible) {
        Err(GpuError::Limit { limit, need, .. }) => {
            assert_eq!(limit, "max_storage_buffers_per_shader_stage");
            assert_eq!(need, u32::MAX);
        }
        other => panic!("expected a Limit error, got {other:?}"),
    }
    let e = GpuContext::for_model(BackendChoice::Gpu, "test", impossible)
        .expect_err("gpu backend refuses");
    assert!(
        e.to_string()
            .contains("max_storage_buffers_per_shader_stage"),
        "{e}"
    );
    // auto never fails: it runs the CPU twin and says why
    let (ctx, why) =
        GpuContext::for_model(BackendChoice::Auto, "test", impossible).expect("auto falls back");
    assert!(ctx.is_none() && why.is_some());
}

/// More source cells than one row of 65,535 workgroups of 64 covers (4,194,240): the emit
/// dispatch folds into a second dimension, and every source is applied once.
#[test]
fn gpu_emit_covers_more_source_cells_than_one_dispatch_dimension() {
    let Some(ctx) = gpu() else { return };
    let grid = Grid {
        nx: 2100,
        ny: 2000,
        cell_m: 100.0,
        x0: 0.0,
        y0: 0.0,
        epsg: 32648,
    };
    let cells = grid.cells();
    assert!(cells > 65_535 * 64);
    let wind = std::sync::Arc::new(FaceWind::uniform(&grid, 0.0, 0.0));
    let sources: Vec<SourceCell> = (0..cells as u32)
        .map(|c| SourceCell {
            cell: c,
            pollutant: 0,
            rate: 1.0 + f64::from(c % 7),
        })
        .collect();
    let problem = DispersionProblem {
        emitters: vec![],
        grid,
        pollutants: vec![Pollutant::So2],
        decay_per_s: vec![0.0],
        deposition_m_s: vec![0.0],
        near_field: NearField::default(),
        stations: vec![],
        receptors: vec![],
        intervals: vec![Interval {
            duration_s: 60.0,
            wind,
            kdiff: 1.0,
            stability: Some(Stability::D),
            mixing_height_m: 500.0,
            calm: false,
        }],
        spin_up_s: 0.0,
        cfl: 0.5,
    };
    let one_step = |mut e: Box<dyn FnMut() -> Vec<f32>>| e();
    let (_, dt, tp, ep) = problem.step_params(&problem.intervals[0], sources.len());
    let gpu_field = one_step(Box::new(|| {
        let mut e = GpuEngine::new(&ctx, &problem).expect("gpu engine");
        e.set_interval(&problem.intervals[0].wind, dt, &tp, &ep, &sources)
            .expect("set");
        e.steps(1).expect("step");
        e.finish()
            .expect("finish")
            .state
            .iter()
            .map(|x| from_fixed(*x) as f32)
            .collect()
    }));
    let mut e = CpuEngine::new(&problem);
    e.set_interval(&problem.intervals[0].wind, dt, &tp, &ep, &sources)
        .expect("set");
    e.steps(1).expect("step");
    let cpu_field: Vec<f32> = e
        .finish()
        .expect("finish")
        .state
        .iter()
        .map(|x| from_fixed(*x) as f32)
        .collect();
    let peak = cpu_field.iter().fold(0.0f32, |a, b| a.max(*b));
    let diff = cpu_field
        .iter()
        .zip(&gpu_field)
        .fold(0.0f32, |a, (x, y)| a.max((x - y).abs()));
    // the last source cell lies beyond the first dispatch dimension
    assert!(gpu_field[cells - 1] > 0.0, "last cell not emitted");
    assert!(diff <= 1e-6 * peak, "max |gpu - cpu| {diff} of peak {peak}");
}

/// A year of hourly wind entries at 100 m over the province would need one grid-sized wind
/// field per entry (about 128 GB): refused with the limit before any field is built; the
/// intervals an entry covers share its field.
#[test]
fn series_wind_fields_are_shared_per_entry_and_bounded_before_they_are_built() {
    use twin_engine::dispersion::scenario::WindSample;
    let path = scenario_path("winter-ne-monsoon.toml");
    let dataset = twin_engine::dataset::Dataset::load(&crate::bundled()).expect("dataset");
    let mut s = Scenario::read(&path).expect("valid");
    s.grid.resolution_m = 100.0;
    s.duration_h = 8784.0;
    s.wind.series = (0..8784)
        .map(|h| WindSample {
            hour: f64::from(h),
            speed_m_s: 3.0,
            from_deg: 45.0,
            stability: None,
            mixing_height_m: None,
        })
        .collect();
    let e = s
        .resolve(&path, dataset.clone())
        .expect_err("too many wind fields")
        .to_string();
    assert!(
        e.contains("key `wind.series`: 8784 wind fields of") && e.contains("GB"),
        "{e}"
    );
    // the bundled day: 24 hourly intervals over its series entries, one field per entry
    let s = Scenario::read(&path).expect("valid");
    let entries = s.wind.series.len();
    let r = s.resolve(&path, dataset).expect("resolves");
    let distinct: std::collections::HashSet<*const FaceWind> = r
        .problem
        .intervals
        .iter()
        .map(|i| std::sync::Arc::as_ptr(&i.wind))
        .collect();
    assert!(r.problem.intervals.len() > entries);
    assert!(
        distinct.len() <= entries,
        "{} fields for {entries} entries",
        distinct.len()
    );
}

/// Station winds that converge (a sea breeze meeting a land wind) are made divergence-free
/// before the run (Sherman 1978): a uniform field stays uniform away from the inflow edges,
/// where the raw inverse-distance field piles mass up. Not to rounding: each directional sweep
/// alone sees a divergent wind, and the splitting leaves a second-order error (0.3 % after
/// 30 min of this strong convergence, against 71 % with the raw winds).
#[test]
fn mass_consistent_station_winds_keep_a_uniform_field_uniform() {
    use twin_engine::dispersion::projection::make_mass_consistent;
    let grid = Grid {
        nx: 80,
        ny: 60,
        cell_m: 250.0,
        x0: 700_000.0,
        y0: 2_300_000.0,
        epsg: 32648,
    };
    let mut uc = vec![0.0; grid.cells()];
    let mut vc = vec![0.0; grid.cells()];
    for j in 0..grid.ny {
        for i in 0..grid.nx {
            let t = i as f64 / grid.nx as f64;
            uc[j * grid.nx + i] = 3.0 - 6.0 * t; // converging on the middle
            vc[j * grid.nx + i] = 1.0;
        }
    }
    let raw = FaceWind::from_cells(&grid, &uc, &vc);
    let (fixed, m) = make_mass_consistent(&grid, &raw);
    eprintln!("{m:?}");
    assert!(m.after_m_s < 1e-5 && m.before_m_s > 0.07, "{m:?}");
    let run = |w: FaceWind| {
        let problem = DispersionProblem {
            emitters: vec![],
            grid: grid.clone(),
            pollutants: vec![Pollutant::Pm10],
            decay_per_s: vec![0.0],
            deposition_m_s: vec![0.0],
            near_field: NearField::default(),
            stations: vec![],
            receptors: vec![],
            intervals: vec![Interval {
                duration_s: 1800.0,
                wind: std::sync::Arc::new(w),
                kdiff: 10.0,
                stability: Some(Stability::D),
                mixing_height_m: 500.0,
                calm: false,
            }],
            spin_up_s: 0.0,
            cfl: 0.5,
        };
        run_engine(
            CpuEngine::new(&problem).with_initial(&vec![100.0; grid.cells()]),
            &problem,
            &[],
        )
    };
    let worst = |c: &[f32]| {
        let mut w: f32 = 0.0;
        for j in 25..35 {
            for i in 30..50 {
                w = w.max((c[j * grid.nx + i] - 100.0).abs() / 100.0);
            }
        }
        w
    };
    let (before, after) = (worst(&run(raw)), worst(&run(fixed)));
    eprintln!(
        "largest departure from uniform in the middle: raw {before:.3e}, adjusted {after:.3e}"
    );
    assert!(before > 0.05, "the raw field must pile mass up: {before}");
    assert!(after < 1e-2 && after < before / 100.0, "{after}");
}

/// A square grid of `n` cells of `cell` m with the source at cell (`s`, `s`), the wind `u` at
/// `angle`° from +x, constant K, lid 500 m, Q = 100 g/s, the grid alone; the final field.
#[allow(clippy::too_many_arguments)]
fn oblique_run(
    n: usize,
    cell: f64,
    s: usize,
    u: f64,
    angle: f64,
    k: f64,
    hours: usize,
) -> (Grid, Vec<f64>) {
    let grid = Grid {
        nx: n,
        ny: n,
        cell_m: cell,
        x0: 600_000.0,
        y0: 2_300_000.0,
        epsg: 32648,
    };
    let t = angle.to_radians();
    let (sx, sy) = grid.centre(s, s);
    let p = DispersionProblem::single_source(
        grid.clone(),
        Emitter::ground(sx, sy, vec![(0, 100.0)]),
        (u * t.cos(), u * t.sin()),
        k,
        Stability::D,
        500.0,
        hours,
        NearField {
            enabled: false,
            ..NearField::default()
        },
    );
    let r = p.run(None).expect("cpu run");
    assert!(r.budget[0].relative_error < 1e-6, "{:?}", r.budget[0]);
    (grid, r.grid_final.iter().map(|v| f64::from(*v)).collect())
}

/// The exact constant-K case with the wind at 30° and 45° to the grid (100 m cells, u = 2 m/s,
/// K = 50 m²/s): the centreline within 10 % of the exact solution from 10 cells downwind to
/// 12 km. Before the split sweeps and superbee: 14.3 % and 16.6 % worst.
#[test]
fn rotated_point_source_matches_the_exact_solution() {
    for angle in [30.0f64, 45.0] {
        let (g, c) = oblique_run(260, 100.0, 20, 2.0, angle, 50.0, 8);
        let t = angle.to_radians();
        let mut worst: f64 = 0.0;
        let mut x = 1000.0;
        while x <= 12_000.0 {
            let (fx, fy) = (20.0 + x * t.cos() / 100.0, 20.0 + x * t.sin() / 100.0);
            let num = twin_engine::dispersion::bilinear(&g, &c, fx, fy);
            let exact = steady_point_source(100.0 * 1e6, 2.0, 50.0, 500.0, x, 0.0);
            worst = worst.max((num - exact).abs() / exact);
            x += 100.0;
        }
        eprintln!("{angle}°: worst centreline error {:.1} %", worst * 100.0);
        assert!(worst <= 0.10, "{angle}°: {worst}");
    }
}

/// 250 m cells, K = 10 m²/s, u = 4 m/s at 45°: the plume's crosswind second moment at 40, 60
/// and 80 km within 15 % of √(2Kx/u + Δ²/12) and the crosswind integral within 2 % of Q/(u h).
/// Before the split sweeps and superbee: 3.2× the physical width.
#[test]
fn an_oblique_plume_keeps_its_physical_width() {
    let (g, c) = oblique_run(300, 250.0, 10, 4.0, 45.0, 10.0, 10);
    let r = 0.5f64.sqrt();
    for x in [40_000.0f64, 60_000.0, 80_000.0] {
        let (cx, cy) = (10.0 + x * r / 250.0, 10.0 + x * r / 250.0);
        let (mut m0, mut m2) = (0.0, 0.0);
        let mut y = -6000.0;
        while y <= 6000.0 {
            let v =
                twin_engine::dispersion::bilinear(&g, &c, cx - y * r / 250.0, cy + y * r / 250.0);
            m0 += v * 25.0;
            m2 += v * y * y * 25.0;
            y += 25.0;
        }
        let sigma = (m2 / m0).sqrt();
        let phys = (2.0 * 10.0 * x / 4.0 + 250.0f64.powi(2) / 12.0).sqrt();
        let integral = m0 * 1e-6 * 4.0 * 500.0 / 100.0;
        eprintln!("{x} m: σ {sigma:.0} m vs {phys:.0} m; integral ratio {integral:.4}");
        assert!(
            (sigma / phys - 1.0).abs() <= 0.15,
            "{x} m: {sigma} vs {phys}"
        );
        assert!((integral - 1.0).abs() <= 0.02, "{x} m: {integral}");
    }
}

/// An emission no real source has (10⁹ kg/s into one 100 m cell) would carry the fixed-point
/// state past its range: the run stops with the interval, pollutant and cell instead of
/// writing wrapped numbers. (A slower pile-up is caught from each interval's mean.)
#[test]
fn an_emission_beyond_the_fixed_point_range_is_refused_by_name() {
    let grid = Grid {
        nx: 20,
        ny: 20,
        cell_m: 100.0,
        x0: 0.0,
        y0: 0.0,
        epsg: 32648,
    };
    let (sx, sy) = grid.centre(10, 10);
    let p = DispersionProblem::single_source(
        grid,
        Emitter::ground(sx, sy, vec![(0, 1e12)]),
        (0.5, 0.0),
        1.0,
        Stability::D,
        100.0,
        2,
        NearField {
            enabled: false,
            ..NearField::default()
        },
    );
    let e = p.run(None).expect_err("out of range").to_string();
    assert!(
        e.contains("output interval 1: the SO2 emission into cell (10, 10) adds")
            && e.contains("fixed-point"),
        "{e}"
    );
}

/// Stage `poisson` on the GPU and on the CPU twin: a run whose wind is flagged divergent (as the
/// stations mode flags its interpolated field) is made mass-consistent on its own backend, with
/// the same multigrid cycles, the same corrected wind and so the same state bit for bit; the
/// divergence falls from metres per second to f32 rounding.
#[test]
fn stage_poisson_gives_the_same_mass_consistent_wind_on_gpu_and_cpu() {
    let grid = Grid {
        nx: 90,
        ny: 70,
        cell_m: 250.0,
        x0: 0.0,
        y0: 0.0,
        epsg: 32648,
    };
    // a sea breeze meeting a land wind, with a cross flow
    let mut uc = vec![0.0; grid.cells()];
    let mut vc = vec![0.0; grid.cells()];
    for j in 0..grid.ny {
        for i in 0..grid.nx {
            uc[j * grid.nx + i] = if i < 40 { 3.0 } else { -2.0 };
            vc[j * grid.nx + i] = 1.0 + j as f64 / 35.0;
        }
    }
    let mut wind = FaceWind::from_cells(&grid, &uc, &vc);
    wind.divergent = true;
    let (sx, sy) = grid.centre(20, 20);
    let mut p = DispersionProblem::single_source(
        grid,
        Emitter::ground(sx, sy, vec![(0, 50.0)]),
        (0.0, 0.0),
        20.0,
        Stability::D,
        600.0,
        2,
        NearField::default(),
    );
    let wind = std::sync::Arc::new(wind);
    for iv in &mut p.intervals {
        iv.wind = wind.clone();
    }
    let c = p.run(None).expect("cpu run");
    assert_eq!(c.wind_projections.len(), 1, "one field, projected once");
    let m = c.wind_projections[0];
    eprintln!("cpu: {m:?}");
    assert!(m.before_m_s > 2.0 && m.after_m_s < 1e-5, "{m:?}");
    assert!(c.budget[0].relative_error < 1e-6, "{:?}", c.budget[0]);
    let Some(ctx) = gpu() else { return };
    let g = p.run(Some(&ctx)).expect("gpu run");
    assert_eq!(g.wind_projections, c.wind_projections);
    assert!(
        g.grid_final
            .iter()
            .zip(&c.grid_final)
            .all(|(a, b)| a.to_bits() == b.to_bits()),
        "grid state differs"
    );
}

/// `[sources] scale` multiplies a dataset plant's emissions (how sweeps vary dataset sources);
/// an id that is not an emitting plant or mine is an error naming the key.
#[test]
fn sources_scale_multiplies_a_dataset_plant() {
    let path = crate::bundled().join("scenarios/winter-ne-monsoon.toml");
    let rate = |scale: Option<f64>| {
        let mut sc = Scenario::read(&path).expect("scenario");
        if let Some(f) = scale {
            sc.sources.scale.insert("mong-duong-tpp".into(), f);
        }
        let r = sc
            .resolve_with_dataset(&path, Some(&crate::bundled()))
            .expect("resolves");
        let k = r
            .source_list
            .iter()
            .position(|s| s.0 == "mong-duong-tpp")
            .expect("the plant emits");
        r.problem
            .emitters
            .iter()
            .filter(|e| e.source == k)
            .flat_map(|e| e.rates.iter().map(|x| x.1))
            .sum::<f64>()
    };
    let (one, two) = (rate(None), rate(Some(2.0)));
    assert!(one > 0.0);
    assert!((two - 2.0 * one).abs() <= 1e-9 * one, "{one} → {two}");
    let mut sc = Scenario::read(&path).expect("scenario");
    sc.sources.scale.insert("plant-nowhere".into(), 1.5);
    let e = sc
        .resolve_with_dataset(&path, Some(&crate::bundled()))
        .expect_err("unknown id")
        .to_string();
    assert!(e.contains("sources.scale.plant-nowhere"), "{e}");
}
