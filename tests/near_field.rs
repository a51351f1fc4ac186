//! The near field (plume-in-grid): a tall buoyant stack against the Gaussian plume with the same
//! rise and σ, no step in the ground field where plumes hand over (classes C, D, E), the hybrid
//! field against the exact constant-K solution at the hand-over, the budget with the near field
//! and a moving lid, and GPU-vs-CPU parity of the stage.

use crate::gpu;
use twin_engine::dispersion::analytic::steady_point_source;
use twin_engine::dispersion::near::{self, NearReceptor};
use twin_engine::dispersion::plume::{PlumeRise, gaussian_plume, wind_at_height};
use twin_engine::dispersion::{
    CpuEngine, DispersionProblem, Emitter, GpuEngine, NearField, Stability, StackExit, StepEngine,
};
use twin_engine::grid::Grid;

/// A grid of `nx` × `ny` cells of `cell` m, a uniform wind `u` along +x, `hours` one-hour
/// intervals, and one emitter at the centre of cell (`si`, ny/2).
#[allow(clippy::too_many_arguments)]
fn plume_problem(
    nx: usize,
    ny: usize,
    cell: f64,
    u: f64,
    class: Stability,
    lid: f64,
    hours: usize,
    emitter: impl FnOnce(f64, f64) -> Emitter,
    si: usize,
) -> DispersionProblem {
    let grid = Grid {
        nx,
        ny,
        cell_m: cell,
        x0: 600_000.0,
        y0: 2_300_000.0,
        epsg: 32648,
    };
    let (sx, sy) = grid.centre(si, ny / 2);
    let k = twin_engine::dispersion::scenario::diffusivity_from_stability(class.as_str(), u)
        .expect("class");
    DispersionProblem::single_source(
        grid,
        emitter(sx, sy),
        (u, 0.0),
        k,
        class,
        lid,
        hours,
        NearField::default(),
    )
}

fn tall_stack(x: f64, y: f64) -> Emitter {
    Emitter {
        height_m: 200.0,
        exit: Some(StackExit {
            diameter_m: 6.0,
            velocity_m_s: 20.0,
            temperature_k: 420.0,
        }),
        ..Emitter::ground(x, y, vec![(0, 1000.0)])
    }
}

#[test]
fn tall_buoyant_stack_peaks_kilometres_downwind_at_the_gaussian_value() {
    // 200 m, 6 m, 20 m/s, 420 K; 5 m/s at 10 m, class C, lid 1,500 m; 100 m cells
    let (u10, lid) = (5.0, 1500.0);
    let p = plume_problem(300, 80, 100.0, u10, Stability::C, lid, 2, tall_stack, 20);
    let r = p.run(None).expect("cpu run");
    let g = &p.grid;
    let row = g.ny / 2;
    let centre: Vec<f64> = (0..g.nx)
        .map(|i| f64::from(r.mean_conc[row * g.nx + i]))
        .collect();
    let (imax, cmax) = centre
        .iter()
        .enumerate()
        .fold((0, 0.0), |a, (i, c)| if *c > a.1 { (i, *c) } else { a });
    let x_max = (imax - 20) as f64 * 100.0;
    // the same plume by the formula: rise with the stack-top wind, Briggs σ for C, carried by
    // the wind at its height
    let us = wind_at_height(u10, 200.0, Stability::C);
    let f = StackExit {
        diameter_m: 6.0,
        velocity_m_s: 20.0,
        temperature_k: 420.0,
    }
    .buoyancy_flux(288.15);
    let rise = PlumeRise::briggs(f, us, Stability::C, 288.15);
    let exact = |x: f64| {
        gaussian_plume(
            1000.0,
            u10,
            x,
            0.0,
            1.5,
            200.0 + rise.at(x),
            Stability::C,
            (0.0, 0.0),
            lid,
        )
    };
    let (x_exact, c_exact) = (1..300)
        .map(|k| (f64::from(k) * 100.0, exact(f64::from(k) * 100.0)))
        .fold((0.0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
    eprintln!(
        "rise {:.1} m; ground maximum {cmax:.2} µg/m³ at {x_max} m (Gaussian {c_exact:.2} at {x_exact} m); source cell {:.3}",
        rise.final_m, centre[20]
    );
    assert!(x_max >= 2000.0, "the maximum must lie kilometres downwind");
    assert!(centre[20] < 1e-3 * cmax, "nothing in the stack's own cell");
    assert!(
        (cmax - c_exact).abs() <= 0.05 * c_exact,
        "{cmax} vs {c_exact}"
    );
    assert!((x_max - x_exact).abs() <= 200.0, "{x_max} vs {x_exact}");
    for b in &r.budget {
        assert!(b.relative_error <= 1e-6, "{b:?}");
    }
}

#[test]
fn the_ground_field_has_no_step_at_the_hand_over() {
    // a ground-level road piece, lid 500 m, 100 m cells, 12 h to steady state; along the
    // centreline from 1 km before the fade to 1 km past the hand-over, neighbouring cells differ
    // by less than 6 %
    for class in [Stability::C, Stability::D, Stability::E] {
        let p = plume_problem(
            260,
            120,
            100.0,
            3.0,
            class,
            500.0,
            8,
            |x, y| Emitter {
                sigma_y0_m: 50.0 / 2.15,
                sigma_z0_m: 1.7,
                ..Emitter::ground(x, y, vec![(0, 10.0)])
            },
            10,
        );
        let r = p.run(None).expect("cpu run");
        let g = &p.grid;
        let row = g.ny / 2;
        let x_end = p.near_field.max_travel_m.min(
            class
                .x_where_sigma_z(
                    ((1.6f64 * 500.0).powi(2) - 1.7f64.powi(2)).sqrt(),
                    p.near_field.max_travel_m,
                )
                .unwrap_or(f64::INFINITY),
        );
        let x_fade = 0.5 * x_end;
        let at = |x: f64| f64::from(r.final_conc[row * g.nx + 10 + (x / 100.0) as usize]);
        let mut worst: f64 = 0.0;
        let mut x = x_fade - 1000.0;
        while x + 100.0 <= (x_end + 1000.0).min(24_000.0) {
            let (a, b) = (at(x), at(x + 100.0));
            worst = worst.max((a - b).abs() / a.max(b));
            x += 100.0;
        }
        eprintln!(
            "class {}: hand-over at {x_end:.0} m, largest step between neighbours {:.2} %",
            class.as_str(),
            worst * 100.0
        );
        assert!(worst < 0.06, "class {}: {worst}", class.as_str());
        assert!(r.budget[0].relative_error <= 1e-6, "{:?}", r.budget[0]);
    }
}

#[test]
fn hybrid_field_matches_the_exact_constant_k_solution_at_the_hand_over() {
    // the constant-K analytic case (u = 2 m/s, K = 50 m²/s, h = 500 m, 100 g/s, 100 m cells)
    // with the near field on: σy from K, σz from class D, hand-over at 5 km
    let (u, k, h, q) = (2.0, 50.0, 500.0, 100.0);
    let mut p = plume_problem(
        250,
        100,
        100.0,
        u,
        Stability::D,
        h,
        6,
        |x, y| Emitter::ground(x, y, vec![(0, q)]),
        30,
    );
    for i in &mut p.intervals {
        i.kdiff = k;
    }
    p.near_field.max_travel_m = 5000.0;
    p.near_field.sigma_y_from_k = true;
    let r = p.run(None).expect("cpu run");
    let g = &p.grid;
    let row = g.ny / 2;
    let mut worst: f64 = 0.0;
    for d in [5000.0, 6000.0, 8000.0, 10_000.0, 15_000.0] {
        let num = f64::from(r.final_conc[row * g.nx + 30 + (d / 100.0) as usize]);
        let exact = steady_point_source(q * 1e6, u, k, h, d, 0.0);
        let err = (num - exact).abs() / exact;
        eprintln!(
            "{d} m: hybrid {num:.2}, exact {exact:.2} ({:.1} %)",
            err * 100.0
        );
        worst = worst.max(err);
    }
    assert!(worst <= 0.05, "{worst}");
}

#[test]
fn budget_is_exact_with_the_near_field_and_a_moving_lid() {
    // the province day at 2 km with the lid cycling 300 → 900 → 400 m: plumes above a low lid,
    // a residual layer when it falls
    let path = crate::bundled().join("scenarios/winter-ne-monsoon.toml");
    let mut s = twin_engine::dispersion::scenario::Scenario::read(&path).expect("valid");
    s.grid.resolution_m = 2000.0;
    s.mixing_height = [(0.0, 300.0), (8.0, 600.0), (11.0, 900.0), (18.0, 400.0)]
        .into_iter()
        .map(
            |(hour, m)| twin_engine::dispersion::scenario::MixingHeightSample {
                hour,
                mixing_height_m: m,
            },
        )
        .collect();
    for e in &mut s.wind.series {
        e.mixing_height_m = None;
    }
    s.background.clear();
    let dataset = twin_engine::dataset::Dataset::load(&crate::bundled()).expect("dataset");
    let run = s.resolve(&path, dataset).expect("resolves");
    let r = run.problem.run(None).expect("cpu run");
    for (p, b) in run.problem.pollutants.iter().zip(&r.budget) {
        eprintln!("{}: {b:?}", p.as_str());
        assert!(b.relative_error <= 1e-6, "{}: {b:?}", p.as_str());
        assert!(b.residual_layer_kg > 0.0, "the lid fell: {b:?}");
    }
    // SO2 from stacks: some plumes are above a 300 m night lid
    assert!(r.budget[2].above_mixed_layer_kg > 0.0, "{:?}", r.budget[2]);
}

#[test]
fn gpu_and_cpu_near_field_agree() {
    let Some(ctx) = gpu() else { return };
    // 4 m/s: coherent plumes only; 1 m/s: with the meander share
    for u in [4.0, 1.0] {
        let mut p = plume_problem(200, 90, 100.0, u, Stability::D, 800.0, 1, tall_stack, 20);
        let (x0, y0) = p.grid.centre(30, 40);
        for k in 0..300 {
            p.emitters.push(Emitter {
                sigma_y0_m: 50.0 / 2.15,
                sigma_z0_m: 1.7,
                ..Emitter::ground(
                    x0 + 40.0 * f64::from(k),
                    y0 + 15.0 * f64::from(k),
                    vec![(0, 0.05)],
                )
            });
        }
        let ip = near::interval_plumes(&p.grid, &p.near_field, &p.emitters, &p.intervals[0], 1);
        assert_eq!(ip.plumes[0].fr > 0.0, u < 2.0);
        let grid_rec = near::grid_receptors(&p.grid, 1.5);
        let points: Vec<NearReceptor> = (0..50)
            .map(|k| NearReceptor {
                x: 3000.0 + 200.0 * k as f32,
                y: 4500.0,
                z: 1.5,
                tile: 0,
            })
            .collect();
        let run = |e: &mut dyn StepEngine| {
            let mut cells = vec![0.0f32; p.grid.cells()];
            let mut pts = vec![0.0f32; points.len()];
            e.near_field(&ip, &grid_rec, &points, &mut cells, &mut pts)
                .expect("near field");
            (cells, pts)
        };
        let (cc, cp) = run(&mut CpuEngine::new(&p));
        let (gc, gp) = run(&mut GpuEngine::new(&ctx, &p).expect("gpu engine"));
        for (name, a, b) in [("cells", &cc, &gc), ("points", &cp, &gp)] {
            let peak = a.iter().fold(0.0f32, |m, v| m.max(*v));
            let diff = a
                .iter()
                .zip(b.iter())
                .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
            eprintln!("{u} m/s {name}: peak {peak:.3}, max |gpu - cpu| {diff:.3e}");
            assert!(
                peak > 0.0 && diff <= 1e-5 * peak,
                "{name}: {diff} of {peak}"
            );
        }
    }
}

/// A calm hour (wind at the 0.5 m/s threshold): part of the plume meanders round the source
/// (AERMOD's random plume), so a receptor upwind of a ground source sees some of it, the
/// coherent centreline carries the rest, and the budget stays exact.
#[test]
fn a_calm_hour_spreads_part_of_the_plume_round_the_source() {
    let ground = |x: f64, y: f64| Emitter {
        sigma_z0_m: 1.7,
        ..Emitter::ground(x, y, vec![(0, 10.0)])
    };
    let calm = plume_problem(120, 120, 100.0, 0.5, Stability::F, 200.0, 2, ground, 60);
    let windy = plume_problem(120, 120, 100.0, 3.0, Stability::F, 200.0, 2, ground, 60);
    let rc = calm.run(None).expect("calm run");
    let rw = windy.run(None).expect("windy run");
    let g = &calm.grid;
    let at =
        |r: &twin_engine::dispersion::DispersionRun, i: usize, j: usize| r.mean_conc[j * g.nx + i];
    // 1 km upwind (west) and 1 km downwind of the source at (60, 60)
    let (up_calm, up_windy) = (at(&rc, 50, 60), at(&rw, 50, 60));
    let down_calm = at(&rc, 70, 60);
    eprintln!("upwind: calm {up_calm:.3}, windy {up_windy:.3e}; downwind calm {down_calm:.3}");
    assert!(up_calm > 0.0 && up_windy == 0.0, "{up_calm} {up_windy}");
    assert!(
        down_calm > up_calm,
        "the coherent part still dominates downwind"
    );
    assert!(rc.budget[0].relative_error <= 1e-6, "{:?}", rc.budget[0]);
}

/// Background: a constant, an hourly series, and the hourly means one station observed (a
/// calibrating reading ignored, an hour without readings taking the nearest hour's mean); the
/// outputs add it; a station without readings is an error naming the key.
#[test]
fn background_comes_from_a_constant_a_series_or_a_station() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("temporary directory");
    let dir = dir.path();
    let obs = dir.join("obs.csv");
    let mut f = std::fs::File::create(&obs).expect("create");
    writeln!(f, "station_id,parameter,time,value,unit,status").expect("write");
    for (t, v, status) in [
        ("2026-01-15T00:10:00+07:00", 30.0, "measuring"),
        ("2026-01-15T00:40:00+07:00", 50.0, "measuring"),
        ("2026-01-15T00:50:00+07:00", 900.0, "calibrating"),
        ("2026-01-15T02:30:00+07:00", 70.0, "measuring"),
    ] {
        writeln!(f, "bg-1,PM10,{t},{v},µg/m³,{status}").expect("write");
    }
    writeln!(f, "bg-2,PM10,2026-01-15T00:30:00+07:00,5,µg/m³,measuring").expect("write");
    drop(f);
    let base =
        std::fs::read_to_string(crate::bundled().join("scenarios/analytic-point-source.toml"))
            .expect("read")
            .replace("pollutants = [\"SO2\"]", "pollutants = [\"SO2\", \"PM10\"]")
            .replace("duration_h = 6", "duration_h = 3")
            .replace(
                "name = \"analytic-point-source\"",
                "name = \"bg\"\ndataset = \"DATASET\"",
            )
            .replace("DATASET", &crate::bundled().display().to_string());
    let case = |extra: &str| {
        let p = dir.join("bg.toml");
        std::fs::write(&p, format!("{base}\n{extra}")).expect("write");
        twin_engine::dispersion::scenario::Scenario::load(&p, None)
    };
    let r = case("[background]\nSO2 = { ug_m3 = 7 }\nPM10 = { hourly_ug_m3 = [1, 2, 3] }")
        .expect("valid");
    assert_eq!(r.background, vec![vec![7.0; 3], vec![1.0, 2.0, 3.0]]);
    let r = case("[background]\nPM10 = { station = \"bg-1\", observations = \"obs.csv\" }")
        .expect("valid");
    // hour 0: (30 + 50)/2; hour 1: none, nearest is hour 0 (ties to the earlier); hour 2: 70
    assert_eq!(r.background[1], vec![40.0, 40.0, 70.0]);
    assert_eq!(r.background[0], vec![0.0; 3]);
    let e = case("[background]\nPM10 = { station = \"nobody\", observations = \"obs.csv\" }")
        .expect_err("no readings")
        .to_string();
    assert!(
        e.contains("background.\"PM10\"") && e.contains("nobody"),
        "{e}"
    );
    let e = case("[background]\nPM10 = { ug_m3 = 3, hourly_ug_m3 = [1, 2, 3] }")
        .expect_err("two kinds")
        .to_string();
    assert!(e.contains("background.\"PM10\""), "{e}");
    // a run adds it to the station series
    let r = case("[background]\nPM10 = { ug_m3 = 12.5 }").expect("valid");
    let result = r.problem.run(None).expect("cpu run");
    let out = dir.join("run");
    twin_engine::output::write_dispersion_run(&out, &r, &result).expect("written");
    let st = twin_engine::output::run::RunDir::open(&out)
        .expect("run dir")
        .stations()
        .expect("stations");
    let pols = twin_engine::columns::strings(&st, "pollutant").expect("pollutant");
    let vals = twin_engine::columns::f64s(&st, "concentration_ug_m3").expect("values");
    let pm10: Vec<Option<f64>> = pols
        .iter()
        .zip(vals)
        .filter(|(p, _)| p.as_str() == "PM10")
        .map(|(_, v)| v)
        .collect();
    // PM10 has no source here: the background only
    assert!(
        !pm10.is_empty() && pm10.iter().all(|x| *x == Some(12.5)),
        "{pm10:?}"
    );
}

/// The near field's work is bounded before a run: a year at 6-minute intervals with every
/// plant, mine piece and QL18 road piece is refused with the limit named.
#[test]
fn near_field_work_is_bounded_before_a_run() {
    let path = crate::bundled().join("scenarios/winter-ne-monsoon.toml");
    let mut s = twin_engine::dispersion::scenario::Scenario::read(&path).expect("valid");
    s.grid.resolution_m = 4000.0;
    s.duration_h = 8784.0;
    s.output_interval_min = 6.0;
    let dataset = twin_engine::dataset::Dataset::load(&crate::bundled()).expect("dataset");
    let e = s
        .resolve(&path, dataset)
        .expect_err("too much near-field work")
        .to_string();
    assert!(
        e.contains("key `sources`") && e.contains("emitter-intervals"),
        "{e}"
    );
}
