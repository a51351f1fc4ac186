//! Mine ventilation and gas: closed forms for series, parallel and fan-on-a-resistance networks,
//! the Wheatstone network whose diagonal reverses, both solvers; gas transport against
//! q/(Q + q), the pulse travel time and mass conservation; the bundled network's what-ifs.

use std::path::Path;

use twin_engine::mine::airflow::{self, Operating, hardy_cross, kirchhoff, newton};
use twin_engine::mine::gas::{self, MineScenario, Scratch, Topology, Transport};
use twin_engine::mine::{MineNetwork, steady};

/// A network from (id, from, to, R, kind) branches; junctions named in them, `S` at the
/// surface; a fan (points) on the branch named `fan` if given.
fn net(branches: &[(&str, &str, &str, f64, &str)], fan: Option<&[[f64; 2]]>) -> MineNetwork {
    let mut ids: Vec<&str> = Vec::new();
    for b in branches {
        for j in [b.1, b.2] {
            if !ids.contains(&j) {
                ids.push(j);
            }
        }
    }
    let mut t = String::from("name = \"t\"\nmethane_class = \"I\"\n");
    for (k, j) in ids.iter().enumerate() {
        t += &format!(
            "[[junctions]]\nid = \"{j}\"\nx_m = {}.0\ny_m = {}.0\nelevation_m = -100.0\n{}",
            10 * k,
            (k % 3) * 7,
            if *j == "S" { "surface = true\n" } else { "" }
        );
    }
    for (id, f, to, r, kind) in branches {
        t += &format!(
            "[[branches]]\nid = \"{id}\"\nfrom = \"{f}\"\nto = \"{to}\"\nresistance_ns2_m8 = {r:e}\narea_m2 = 10.0\nlength_m = 100.0\nkind = \"{kind}\"\n"
        );
    }
    if let Some(pts) = fan {
        let pts: Vec<String> = pts
            .iter()
            .map(|p| format!("[{:e}, {:e}]", p[0], p[1]))
            .collect();
        t += &format!(
            "[[fans]]\nid = \"F\"\nbranch = \"fan\"\ncurve = [{}]\n",
            pts.join(", ")
        );
    }
    MineNetwork::parse(Path::new("test.toml"), &t).expect("network")
}

const FAN: [[f64; 2]; 3] = [[0.0, 3000.0], [20.0, 2200.0], [35.0, 550.0]];

/// Q where the quadratic through FAN meets R·Q²: (R − c)Q² − bQ − a = 0.
fn fan_on(r: f64) -> f64 {
    let n = net(&[("fan", "S", "A", 1e-6, "airway")], Some(&FAN));
    let f = &n.fans[0];
    let (a, b, c) = (
        f.pressure(0.0),
        f.slope(0.0),
        (f.pressure(1.0) - f.pressure(0.0) - f.slope(0.0)),
    );
    let (qa, qb, qc) = (r - c, -b, -a);
    (-qb + (qb * qb - 4.0 * qa * qc).sqrt()) / (2.0 * qa)
}

fn both(n: &MineNetwork, op: &Operating) -> [Vec<f64>; 2] {
    let a = newton(n, op, 1e-12, 200).expect("newton");
    let b = hardy_cross(n, op, 1e-12, 500_000).expect("hardy cross");
    assert!(a.kirchhoff < 1e-9 && b.kirchhoff < 1e-9);
    [a.flows, b.flows]
}

#[test]
fn a_fan_on_one_resistance_runs_where_its_curve_meets_r_q_squared() {
    for r in [1.0, 3.0, 8.0] {
        let n = net(
            &[
                ("fan", "S", "A", 1e-6, "airway"),
                ("r", "A", "S", r, "airway"),
            ],
            Some(&FAN),
        );
        let want = fan_on(r + 1e-6);
        for q in both(&n, &Operating::design(&n)) {
            assert!(
                (q[0] - want).abs() < 1e-8 * want,
                "R {r}: {} vs {want}",
                q[0]
            );
            assert!((q[1] - want).abs() < 1e-8 * want);
        }
    }
}

#[test]
fn series_resistances_add_and_parallel_ones_split_by_root_r() {
    // series: R1 + R2 + R3 on the fan
    let n = net(
        &[
            ("fan", "S", "A", 1e-6, "airway"),
            ("r1", "A", "B", 1.0, "airway"),
            ("r2", "B", "C", 2.0, "airway"),
            ("r3", "C", "S", 0.5, "airway"),
        ],
        Some(&FAN),
    );
    let want = fan_on(3.5 + 1e-6);
    for q in both(&n, &Operating::design(&n)) {
        for x in &q {
            assert!((x - want).abs() < 1e-8 * want, "{x} vs {want}");
        }
    }
    // parallel: 1/√Req = 1/√R1 + 1/√R2; the split Q1/Q2 = √(R2/R1)
    let (r1, r2) = (2.0f64, 0.5f64);
    let n = net(
        &[
            ("fan", "S", "A", 1e-6, "airway"),
            ("p1", "A", "B", r1, "airway"),
            ("p2", "A", "B", r2, "airway"),
            ("out", "B", "S", 0.3, "airway"),
        ],
        Some(&FAN),
    );
    let req = 1.0 / (1.0 / r1.sqrt() + 1.0 / r2.sqrt()).powi(2);
    let want = fan_on(req + 0.3 + 1e-6);
    for q in both(&n, &Operating::design(&n)) {
        assert!((q[0] - want).abs() < 1e-8 * want, "{} vs {want}", q[0]);
        assert!((q[1] / q[2] - (r2 / r1).sqrt()).abs() < 1e-9);
        assert!((q[1] + q[2] - want).abs() < 1e-8 * want);
    }
}

#[test]
fn the_wheatstone_diagonal_reverses_when_one_resistance_changes() {
    // A → B (r1), A → C (r2), B → D (r3), C → D (r4), diagonal B → C (r5)
    let build = |r4: f64| {
        net(
            &[
                ("fan", "S", "A", 1e-6, "airway"),
                ("r1", "A", "B", 0.1, "airway"),
                ("r2", "A", "C", 0.4, "airway"),
                ("r3", "B", "D", 0.4, "airway"),
                ("r4", "C", "D", r4, "airway"),
                ("diag", "B", "C", 1.0, "airway"),
                ("out", "D", "S", 0.2, "airway"),
            ],
            Some(&FAN),
        )
    };
    // balanced when r1/r2 = r3/r4, i.e. r4 = 1.6
    let diag = |r4: f64| {
        let n = build(r4);
        let [a, b] = both(&n, &Operating::design(&n));
        assert!(
            (a[5] - b[5]).abs() < 1e-7 * a[0],
            "solvers agree on the diagonal"
        );
        a[5]
    };
    let (low, mid, high) = (diag(0.1), diag(1.6), diag(4.0));
    assert!(low > 0.1, "B → C with r4 small: {low}");
    assert!(mid.abs() < 1e-9, "balanced bridge: {mid}");
    assert!(high < -0.1, "C → B with r4 large: {high}");
    // the reversal is flagged as recirculation
    let n = build(4.0);
    let op = Operating::design(&n);
    let flows = newton(&n, &op, 1e-12, 200).expect("newton").flows;
    assert!(
        airflow::check(&n, &op, &flows)
            .iter()
            .any(|v| v.branch == "diag" && v.check == "recirculation")
    );
}

#[test]
fn both_solvers_agree_on_the_bundled_network() {
    let n = MineNetwork::read(&crate::bundled().join("mines/mong-duong.toml")).expect("network");
    let s = steady(&n, &Operating::design(&n)).expect("steady");
    assert!(s.agreement < 1e-6, "agreement {:e}", s.agreement);
    assert!(s.newton.kirchhoff < 1e-9 && s.hardy_cross.kirchhoff < 1e-9);
    assert!(!s.fans[0].stall, "{:?}", s.fans);
    // the first law at every junction, checked independently of the solver's bookkeeping
    assert!(kirchhoff(&n, &s.hardy_cross.flows) < 1e-9);
}

/// One branch S → A → S with a fixed flow (fan on the first), a source at the second.
fn tube(q_target: f64) -> (MineNetwork, Vec<f64>) {
    let n = net(
        &[
            ("fan", "S", "A", 1.0, "airway"),
            ("tube", "A", "S", 1.0, "face"),
        ],
        Some(&[[0.0, 2.0 * q_target * q_target], [2.0 * q_target, 0.0]]),
    );
    let flows = newton(&n, &Operating::design(&n), 1e-13, 200)
        .expect("newton")
        .flows;
    (n, flows)
}

#[test]
fn a_constant_source_settles_at_q_over_q_plus_q() {
    let (n, flows) = tube(5.0);
    let q_air = flows[1];
    let text = "start = \"2026-03-10T06:00:00+07:00\"\nduration_min = 120.0\n[[gas_sources]]\nbranch = \"tube\"\ngas = \"CH4\"\nrate_m3_min = 3.0\n";
    let sc = MineScenario::parse(Path::new("s.toml"), text, &n).expect("scenario");
    let run = gas::run(&n, &sc).expect("run");
    let q = 3.0 / 60.0;
    let want = 100.0 * q / (q_air + q);
    let last = run.series.ch4_pct.len() - 1;
    // the last row is the tube's outlet at the end (rows are per branch, tube second)
    assert!(
        (run.series.ch4_pct[last] - want).abs() < 1e-9 * want,
        "{} vs {want}",
        run.series.ch4_pct[last]
    );
    assert!(run.mass_error[0] < 1e-9, "{:?}", run.mass_error);
}

#[test]
fn a_pulse_arrives_after_length_times_area_over_q_and_no_gas_is_lost() {
    let (n, flows) = tube(2.0);
    let q_air = flows[1];
    let topo = Topology::of(&n);
    let mut tr = Transport::new(&n, 5.0);
    let mut scratch = Scratch::default();
    let dt = 0.5 * tr.max_dt(&flows);
    tr.inject(1, q_air, 0, 1.0);
    // mean arrival time at the outlet: Σ t·dm / Σ dm (upwind keeps the first moment exact)
    let (mut t, mut m1, mut m0) = (0.0, 0.0, 0.0);
    let mut before = 0.0;
    while tr.exhausted[0] < 1.0 - 1e-12 && t < 10_000.0 {
        tr.step(&n, &topo, &flows, dt, &mut scratch);
        t += dt;
        let dm = tr.exhausted[0] - before;
        before = tr.exhausted[0];
        // gas leaving during the step: count it at the step's end
        m1 += t * dm;
        m0 += dm;
        let held = tr.held()[0];
        assert!((held + tr.exhausted[0] - 1.0).abs() < 1e-12);
    }
    let travel = 10.0 * 100.0 / q_air; // area 10 m², length 100 m
    let mean = m1 / m0;
    // the injected cell's own half-volume and the step's end-of-step counting shift the first
    // moment by at most one cell's travel time and one step
    let cell = travel / 20.0;
    assert!(
        (mean - travel).abs() <= cell + dt,
        "mean arrival {mean} s vs L·A/Q {travel} s"
    );
}

#[test]
fn fan_stop_on_the_bundled_network_raises_methane_at_the_faces() {
    let dir = crate::bundled().join("mines");
    let n = MineNetwork::read(&dir.join("mong-duong.toml")).expect("network");
    let sc = MineScenario::read(&dir.join("mong-duong-fan-stop.toml"), &n).expect("scenario");
    let run = gas::run(&n, &sc).expect("run");
    assert!(run.mass_error[0] < 1e-9, "{:?}", run.mass_error);
    // after the stop the natural ventilation still moves air, in the design direction
    // minute 0 (design), the stop, the restart
    assert_eq!(run.airflows.len(), 3);
    let after = &run.airflows[1].1;
    let before = &run.airflows[0].1;
    let face = n.branch("a-face").expect("face");
    assert!(after.flows[face] > 0.0 && after.flows[face] < 0.5 * before.flows[face]);
    // both faces exceed 1.0 % after the stop, and not before it
    let stop_min = sc.events[0].time_min;
    for place in ["a-face", "b-face"] {
        let t = run
            .time_to_level
            .iter()
            .find(|t| t.place == place && t.level_pct == 1.0)
            .unwrap_or_else(|| panic!("{place} never reached 1.0 %: {:?}", run.time_to_level));
        assert!(
            t.minutes > stop_min,
            "{place} at {} before the stop",
            t.minutes
        );
    }
    // the alarm rules of `twin telemetry alarms` see the same
    let alarms = twin_engine::mine::run_alarms(&n, &run, sc.output_interval_s)
        .expect("alarms")
        .events
        .collect()
        .expect("events");
    assert!(alarms.height() >= 2, "{alarms}");
}

fn bundled_case() -> (MineNetwork, MineScenario) {
    let dir = crate::bundled().join("mines");
    let n = MineNetwork::read(&dir.join("mong-duong.toml")).expect("network");
    let sc = MineScenario::read(&dir.join("mong-duong-fan-stop.toml"), &n).expect("scenario");
    (n, sc)
}

#[test]
fn the_ensembles_unperturbed_member_follows_the_deterministic_run() {
    use twin_engine::mine::ensemble::{EnsembleProblem, run_cpu};
    let (n, sc) = bundled_case();
    let p = EnsembleProblem::new(&n, &sc, 3, 7).expect("problem");
    let r = run_cpu(&p);
    let det = gas::run(&n, &sc).expect("run");
    // member 0 at the faces against the f64 run (other step, f32): within 2 % of the value
    let np = p.places.len();
    let nb = n.branches.len();
    for (k, &b) in p.places.iter().enumerate() {
        for o in [30usize, 60, 120, 200] {
            let ens = f64::from(r.samples[(o * 3) * np + k]);
            let d = det.series.ch4_pct[o * nb + b as usize];
            assert!(
                (ens - d).abs() <= 0.02 * d.max(0.05),
                "{} at output {o}: ensemble member 0 {ens} vs {d}",
                n.branches[b as usize].id
            );
        }
    }
    // the same seed gives the same members; another seed other ones
    let again = run_cpu(&EnsembleProblem::new(&n, &sc, 3, 7).expect("problem"));
    assert_eq!(r.samples, again.samples);
    let other = run_cpu(&EnsembleProblem::new(&n, &sc, 3, 8).expect("problem"));
    assert_ne!(r.samples, other.samples);
    let e = r.exceedance(&p, 1.0);
    assert!(e.iter().all(|x| (0.0..=1.0).contains(x)));
}

#[test]
fn gpu_and_cpu_ensembles_agree() {
    use twin_engine::mine::ensemble::{EnsembleProblem, run_cpu, run_gpu};
    let Some(ctx) = crate::gpu() else { return };
    let (n, mut sc) = bundled_case();
    sc.duration_min = 120.0;
    let p = EnsembleProblem::new(&n, &sc, 40, 3).expect("problem");
    let cpu = run_cpu(&p);
    let gpu = run_gpu(&ctx, &p).expect("gpu");
    let worst = cpu
        .samples
        .iter()
        .zip(&gpu.samples)
        .map(|(a, b)| (a - b).abs() / a.abs().max(0.01))
        .fold(0.0f32, f32::max);
    eprintln!(
        "mine ensemble GPU vs CPU twin: max relative difference {worst:.2e} ({})",
        ctx.report.name
    );
    assert!(worst < 1e-4, "{worst}");
    assert_eq!(cpu.exceedance(&p, 1.0).len(), gpu.exceedance(&p, 1.0).len());
}

/// The bundled network says which dataset mine it lies beneath, and that mine is an operating
/// mine with underground workings; an empty `mine` key is an error naming it.
#[test]
fn the_bundled_network_lies_beneath_an_underground_dataset_mine() {
    let dir = crate::bundled().join("mines");
    let n = MineNetwork::read(&dir.join("mong-duong.toml")).expect("network");
    let id = n.mine.as_deref().expect("a `mine` key");
    let ds = twin_engine::dataset::Dataset::load(&crate::bundled()).expect("dataset");
    let m = ds
        .province
        .mines
        .iter()
        .find(|m| m.meta.id == id)
        .unwrap_or_else(|| panic!("{id} is not a dataset mine"));
    assert!(m.method.underground() && m.operating());
    let text = std::fs::read_to_string(dir.join("mong-duong.toml")).expect("read");
    let bad = text.replace("mine = \"mine-mong-duong\"", "mine = \" \"");
    assert_ne!(bad, text);
    let e = MineNetwork::parse(std::path::Path::new("x.toml"), &bad).expect_err("empty mine");
    assert!(e.to_string().contains("`mine`"), "{e}");
}
