//! Traffic: LWR shock wave and queue length on a single corridor, fixed-time signal throughput,
//! max-pressure against fixed time, vehicle conservation, GPU-vs-CPU parity, members batched
//! in one union, topology problems and scenario errors.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use geo::{Coord, LineString};
use twin_engine::geodesy::Utm;
use twin_engine::model::{FeatureMeta, RoadClass, RoadLink};
use twin_engine::traffic::batch::{Union, batchable, run_batch};
use twin_engine::traffic::emissions::EmissionModel;
use twin_engine::traffic::engine::{LinkMeasures, TrafficRun};
use twin_engine::traffic::network::{RoadNetwork, Severity};
use twin_engine::traffic::synthetic::{GridSpec, grid_setup, grid_trips};
use twin_engine::traffic::{
    Control, OdDemand, Phase, SignalPlan, Timing, TrafficProblem, TrafficSetup, VehicleClass,
};

use crate::gpu;

const X0: f64 = 700_000.0;
const Y0: f64 = 2_320_000.0;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-10T06:00:00+07:00")
        .expect("test input is valid")
        .with_timezone(&Utc)
}

/// A test road link between named nodes, at local metres (x east, y north) from a fixed origin
/// in UTM 48N. Defaults: one lane, 50 km/h, 1,800 veh/h per lane, one way.
struct Road {
    id: &'static str,
    from: &'static str,
    to: &'static str,
    pts: Vec<(f64, f64)>,
    lanes: u32,
    kmh: f64,
    oneway: bool,
    class: RoadClass,
}

impl Road {
    fn new(id: &'static str, from: &'static str, to: &'static str, pts: &[(f64, f64)]) -> Self {
        Self {
            id,
            from,
            to,
            pts: pts.to_vec(),
            lanes: 1,
            kmh: 50.0,
            oneway: true,
            class: RoadClass::Primary,
        }
    }

    fn class(mut self, class: RoadClass) -> Self {
        self.class = class;
        self
    }

    fn lanes(mut self, lanes: u32) -> Self {
        self.lanes = lanes;
        self
    }

    fn kmh(mut self, kmh: f64) -> Self {
        self.kmh = kmh;
        self
    }

    fn two_way(mut self) -> Self {
        self.oneway = false;
        self
    }

    fn link(self) -> RoadLink {
        let utm = Utm::zone_48n();
        let mut extra = BTreeMap::new();
        extra.insert("from_node".into(), serde_json::json!(self.from));
        extra.insert("to_node".into(), serde_json::json!(self.to));
        RoadLink {
            meta: FeatureMeta {
                id: self.id.into(),
                name: self.id.into(),
                extra,
            },
            road_ref: None,
            class: self.class,
            lanes: self.lanes,
            oneway: self.oneway,
            free_flow_speed_kmh: self.kmh,
            capacity_veh_h_lane: 1800.0,
            geometry: LineString(
                self.pts
                    .iter()
                    .map(|&(x, y)| {
                        let (lon, lat) = utm.inverse(X0 + x, Y0 + y);
                        Coord { x: lon, y: lat }
                    })
                    .collect(),
            ),
        }
    }
}

fn setup(roads: &[RoadLink], duration_s: f64, interval_s: f64) -> TrafficSetup {
    TrafficSetup {
        network: RoadNetwork::build(roads, Utm::zone_48n(), 150.0).expect("network"),
        dt_s: 2.0,
        duration_s,
        output_interval_s: interval_s,
        start: start(),
        truck_pce: 2.5,
        demand: Vec::new(),
        control: Control::FixedTime,
        signals: Vec::new(),
        emissions: EmissionModel::default(),
        truck_speed_km_h: twin_engine::traffic::DEFAULT_TRUCK_SPEED_KM_H,
        routing: twin_engine::traffic::RoutingSettings::default(),
    }
}

fn od(s: &TrafficSetup, from: &str, to: &str, class: VehicleClass, veh_h: f64) -> OdDemand {
    OdDemand {
        origin: s.network.node(from).expect("test input is valid"),
        dest: Some(s.network.node(to).expect("test input is valid")),
        class,
        period_s: s.duration_s,
        veh_h: vec![veh_h],
    }
}

fn link_index(p: &TrafficProblem, id: &str) -> usize {
    p.network
        .links
        .iter()
        .position(|l| l.id == id)
        .expect("test input is valid")
}

/// Corridor: 6 km of two lanes (72 km/h, 1,800 veh/h/lane, 150 veh/km/lane), then a 2 km
/// one-lane bottleneck; 2,700 veh/h arrive. LWR: upstream k_u = 37.5 veh/km; the bottleneck
/// passes 1,800 veh/h, so behind it k_c = k_j − q_b/w = 300 − 1800/14.4 = 175 veh/km and the
/// queue tail moves upstream at (1800 − 2700)/(175 − 37.5) = −6.545 km/h from t₀ = 300 s, when
/// the first vehicles reach the bottleneck.
#[test]
fn bottleneck_shock_wave_moves_at_the_lwr_speed() {
    let roads = [
        Road::new("a", "o", "b", &[(0.0, 0.0), (6000.0, 0.0)])
            .lanes(2)
            .kmh(72.0)
            .link(),
        Road::new("b", "b", "e", &[(6000.0, 0.0), (8000.0, 0.0)])
            .kmh(72.0)
            .link(),
    ];
    let mut s = setup(&roads, 1800.0, 1800.0);
    s.demand.push(od(&s, "o", "e", VehicleClass::Car, 2700.0));
    let p = s.compile().expect("test input is valid");
    assert_eq!(p.dt_s, 2.0);
    let a = &p.links[link_index(&p, "a")];
    assert_eq!(a.n_cells, 150, "40 m cells");

    let (w, kj): (f64, f64) = (14.4, 300.0);
    let (qu, qb): (f64, f64) = (2700.0, 1800.0);
    let (ku, kc) = (qu / 72.0, kj - qb / w);
    let shock_kmh = (qb - qu) / (kc - ku);
    assert!((shock_kmh + 6.545).abs() < 1e-3);

    for t in [900.0, 1200.0, 1500.0, 1800.0] {
        let mut s = setup(&roads, t, t);
        s.demand.push(od(&s, "o", "e", VehicleClass::Car, 2700.0));
        let p = s.compile().expect("test input is valid");
        let run = p.run(None).expect("test input is valid");
        let a = &p.links[link_index(&p, "a")];
        let cell_km = f64::from(a.cell_len) / 1000.0;
        // queue = cells from the downstream end whose density is above the midpoint
        let mid = 0.5 * (ku + kc);
        let mut queue_cells = 0;
        for c in (a.first_cell..a.first_cell + a.n_cells).rev() {
            let k = f64::from(run.final_state[c as usize][0]) / cell_km;
            if k > mid {
                queue_cells += 1;
            } else {
                break;
            }
        }
        let measured_m = f64::from(queue_cells) * f64::from(a.cell_len);
        let analytic_m = -shock_kmh / 3.6 * (t - 300.0);
        eprintln!("t = {t} s: queue {measured_m} m, LWR {analytic_m:.1} m");
        assert!(
            (measured_m - analytic_m).abs() <= f64::from(a.cell_len),
            "t = {t}: queue {measured_m} m vs LWR {analytic_m:.1} m (one cell = {} m)",
            a.cell_len
        );
        // inside the queue the density is the congested-branch value
        let inside = a.first_cell + a.n_cells - 1 - (queue_cells / 2);
        let k = f64::from(run.final_state[inside as usize][0]) / cell_km;
        assert!((k - kc).abs() / kc < 0.02, "queue density {k} vs {kc}");
        assert!(run.conservation.relative_error < 1e-5);
    }
}

/// A saturated approach to a fixed-time signal passes saturation flow × green / cycle.
#[test]
fn fixed_time_signal_throughput_is_saturation_flow_times_green_ratio() {
    let roads = [
        Road::new("in", "o", "s", &[(0.0, 0.0), (1500.0, 0.0)])
            .kmh(54.0)
            .link(),
        Road::new("out", "s", "e", &[(1500.0, 0.0), (2500.0, 0.0)])
            .kmh(54.0)
            .link(),
        Road::new("side", "x", "s", &[(1500.0, 900.0), (1500.0, 0.0)])
            .kmh(54.0)
            .link(),
    ];
    let cycle = 80.0;
    for (green, lost) in [(30.0, 0.0), (36.0, 4.0)] {
        let mut s = setup(&roads, 3200.0, 800.0);
        s.demand.push(od(&s, "o", "e", VehicleClass::Car, 1500.0));
        let node = s.network.node("s").expect("test input is valid");
        let inc = s.network.incoming[node].clone();
        let (main, side): (Vec<usize>, Vec<usize>) = inc
            .into_iter()
            .partition(|&l| s.network.links[l].id == "in");
        s.signals.push(SignalPlan {
            node,
            offset_s: 0.0,
            lost_s: lost,
            min_green_s: 10.0,
            phases: vec![
                Phase {
                    green_s: green,
                    approaches: main,
                    movements: Vec::new(),
                },
                Phase {
                    green_s: cycle - green - 2.0 * lost,
                    approaches: side,
                    movements: Vec::new(),
                },
            ],
            timing: Timing::Given,
        });
        let p = s.compile().expect("test input is valid");
        let run = p.run(None).expect("test input is valid");
        let out = link_index(&p, "out");
        let expected = 1800.0 * green / cycle;
        for iv in &run.intervals[1..] {
            let m = LinkMeasures::edie(
                iv.vehicle_m[out][0],
                iv.vehicle_s[out][0],
                p.network.links[out].length_m,
                iv.seconds,
                p.network.links[out].free_flow_m_s,
            );
            eprintln!("green {green} s: {:.1} veh/h vs {expected}", m.flow_veh_h);
            assert!(
                (m.flow_veh_h - expected).abs() / expected < 0.02,
                "throughput {} vs {expected}",
                m.flow_veh_h
            );
        }
    }
}

/// Unbalanced demand at one intersection: max-pressure gives the busy approach more green,
/// serving more vehicles with less time spent in the network than an even fixed split — and so
/// does a Webster plan, the fair fixed-time baseline. Measured (vehicle-hours in the hour, plus
/// an hour per vehicle still waiting): even split 985 exited, 237 waiting, 115.4 h; max-pressure
/// 1,286 exited, 61.5 h; Webster 1,292 exited, 56.9 h — under steady demand the Webster plan is
/// the better of the two.
#[test]
fn max_pressure_and_webster_beat_an_even_fixed_split_on_unbalanced_demand() {
    let roads = [
        Road::new("w", "west", "c", &[(0.0, 0.0), (1000.0, 0.0)]).link(),
        Road::new("e", "c", "east", &[(1000.0, 0.0), (2000.0, 0.0)]).link(),
        Road::new("s", "south", "c", &[(1000.0, -1000.0), (1000.0, 0.0)]).link(),
        Road::new("n", "c", "north", &[(1000.0, 0.0), (1000.0, 1000.0)]).link(),
    ];
    let mut totals = Vec::new();
    for (control, timing) in [
        (Control::FixedTime, Timing::Given),
        (Control::MaxPressure, Timing::Given),
        (Control::FixedTime, Timing::Webster { cycle_s: None }),
    ] {
        let mut s = setup(&roads, 3600.0, 3600.0);
        s.control = control;
        s.demand
            .push(od(&s, "west", "east", VehicleClass::Car, 1100.0));
        s.demand
            .push(od(&s, "south", "north", VehicleClass::Car, 250.0));
        let node = s.network.node("c").expect("test input is valid");
        let plan = twin_engine::traffic::scenario::auto_phases(&s.network, node, 60.0, 4.0);
        s.signals.push(SignalPlan {
            node,
            offset_s: 0.0,
            lost_s: 4.0,
            min_green_s: 8.0,
            phases: plan.expect("test input is valid"),
            timing,
        });
        let p = s.compile().expect("test input is valid");
        let run = p.run(None).expect("test input is valid");
        let vs: f64 = run.intervals[0].vehicle_s.iter().map(|v| v[0] + v[1]).sum();
        let c = run.conservation;
        eprintln!(
            "{control:?} {timing:?}: exited {:.0}, waiting {:.0}, vehicle-hours {:.1}",
            c.exited[0],
            c.waiting[0],
            vs / 3600.0
        );
        assert!(c.relative_error < 1e-5);
        totals.push((c.exited[0], vs + c.waiting[0] * 3600.0));
    }
    assert!(totals[1].0 > totals[0].0 * 1.1, "max-pressure serves more");
    assert!(
        totals[1].1 < totals[0].1,
        "and keeps fewer vehicles waiting"
    );
    // the fair baseline: a Webster plan (y = 0.61 and 0.14, C₀ = 68 s) serves the demand too
    assert!(
        totals[2].0 > totals[0].0 * 1.1,
        "Webster serves more than the even split"
    );
    assert!(totals[2].1 < totals[0].1);
}

fn grid_problem(n: usize, control: Control, seed: u64, duration_s: f64) -> TrafficProblem {
    let spec = GridSpec::city(n);
    let trips = grid_trips(&spec, 4 * n, 250.0, seed);
    grid_setup(&spec, &trips, duration_s, control, start())
        .expect("test input is valid")
        .compile()
        .expect("test input is valid")
}

#[test]
fn vehicles_are_conserved_on_a_signalised_grid() {
    let p = grid_problem(8, Control::FixedTime, 7, 3600.0);
    let run = p.run(None).expect("test input is valid");
    let c = run.conservation;
    eprintln!("{c:?}");
    assert!(
        c.entered[0] > 1000.0 && c.entered[1] > 50.0,
        "traffic entered"
    );
    assert!(c.exited[0] > 0.0 && c.exited[1] > 0.0, "traffic left");
    assert!(c.relative_error < 1e-5, "entered − exited − in network");
    // nothing is created: what entered never exceeds the demand offered
    for k in 0..2 {
        assert!(c.entered[k] <= c.demand[k] * (1.0 + 1e-5));
        assert!(
            (c.entered[k] + c.waiting[k] - c.demand[k]).abs() <= 1e-4 * c.demand[k] + 1e-3,
            "demand = entered + waiting"
        );
    }
}

fn max_rel_diff(a: &TrafficRun, b: &TrafficRun, p: &TrafficProblem) -> f64 {
    let mut worst = 0.0f64;
    for (c, (x, y)) in a.final_state.iter().zip(&b.final_state).enumerate() {
        let jam = f64::from(p.links[p.cell_link[c] as usize].jam_cell);
        for k in 0..2 {
            worst = worst.max(f64::from((x[k] - y[k]).abs()) / jam);
        }
    }
    worst
}

/// GPU and CPU twin agree. With fixed-time signals the dynamics are continuous in the state:
/// every cell agrees to 1e-4 of its jam occupancy, the conservation counters and the
/// vehicle-km to 1e-4 relative (lavapipe: bit-identical; H200: 5.8e-7 of jam). Max-pressure
/// decisions are discontinuous: a near-tie between two phases can go either way under the
/// different f32 rounding of two devices (FMA contraction), after which the signal timings
/// differ. There the agreement is checked on network totals — vehicles entered, exited and
/// vehicle-km within 1 % — and exactly on adapters that round like the CPU (lavapipe).
#[test]
fn gpu_and_cpu_traffic_agree() {
    let Some(ctx) = gpu() else { return };
    for control in [Control::FixedTime, Control::MaxPressure] {
        let p = grid_problem(7, control, 11, 1800.0);
        let cpu = p.run(None).expect("test input is valid");
        let gpu = p.run(Some(&ctx)).expect("test input is valid");
        let d = max_rel_diff(&cpu, &gpu, &p);
        eprintln!(
            "{control:?}: max |Δn| / jam = {d:.2e} ({:?})",
            gpu.adapter.as_ref().map(|a| &a.name)
        );
        let exact = control == Control::FixedTime || ctx.report.name.contains("llvmpipe");
        let tol = if exact { 1e-4 } else { 1e-2 };
        if exact {
            assert!(
                d < 1e-4,
                "{control:?}: state differs by {d:e} of jam occupancy"
            );
        }
        for k in 0..2 {
            let (a, b) = (cpu.conservation.entered[k], gpu.conservation.entered[k]);
            assert!((a - b).abs() <= tol * a.max(1.0), "entered {a} vs {b}");
            let (a, b) = (cpu.conservation.exited[k], gpu.conservation.exited[k]);
            assert!((a - b).abs() <= tol * a.max(1.0), "exited {a} vs {b}");
        }
        assert!(gpu.conservation.relative_error < 1e-5);
        let tot = |r: &TrafficRun| -> f64 {
            r.intervals
                .iter()
                .flat_map(|iv| iv.vehicle_m.iter())
                .map(|v| v[0] + v[1])
                .sum()
        };
        assert!((tot(&cpu) - tot(&gpu)).abs() <= tol * tot(&cpu));
    }
}

/// Every number a run reports, bit for bit.
fn assert_same_run(a: &TrafficRun, b: &TrafficRun, what: &str) {
    assert_eq!(a.final_state.len(), b.final_state.len(), "{what}: cells");
    let first_diff =
        a.final_state.iter().zip(&b.final_state).position(|(x, y)| {
            x[0].to_bits() != y[0].to_bits() || x[1].to_bits() != y[1].to_bits()
        });
    if let Some(c) = first_diff {
        panic!(
            "{what}: final state differs first at cell {c}: {:?} vs {:?}",
            a.final_state[c], b.final_state[c]
        );
    }
    assert_eq!(a.intervals, b.intervals, "{what}: interval statistics");
    assert_eq!(a.conservation, b.conservation, "{what}: conservation");
    assert_eq!(a.steps, b.steps, "{what}: steps");
}

/// Members of different networks, demand and control stepped as one union of their networks give
/// each member exactly its run alone: every cell, interval statistic and counter bit for bit,
/// on the CPU twin and on the GPU (lavapipe in CI); on the GPU one dispatch per stage steps
/// them all. A member with another duration cannot join the union, and says why.
#[test]
fn members_batched_in_one_union_equal_their_runs_alone() {
    // one trip list (so the same commodities), three demand levels, two block lengths (so two
    // networks: other cells per link), both controls
    let member = |spacing_m: f64, control: Control, veh_h: f64| {
        let spec = GridSpec {
            spacing_m,
            ..GridSpec::city(6)
        };
        let trips: Vec<_> = grid_trips(&spec, 24, 1.0, 3)
            .into_iter()
            .map(|(o, d, class, _)| (o, d, class, veh_h))
            .collect();
        grid_setup(&spec, &trips, 1200.0, control, start())
            .expect("test input is valid")
            .compile()
            .expect("test input is valid")
    };
    let members = [
        member(200.0, Control::FixedTime, 250.0),
        member(260.0, Control::MaxPressure, 320.0),
        member(200.0, Control::FixedTime, 180.0),
    ];
    assert_ne!(members[0].n_cells(), members[1].n_cells(), "two networks");
    let refs: Vec<&TrafficProblem> = members.iter().collect();
    for p in &refs[1..] {
        assert!(
            batchable(refs[0], p),
            "grids of one city spec batch together"
        );
    }
    let union = Union::new(&refs).expect("batchable members");
    let offsets = union.offsets();
    assert_eq!(offsets[0].cell, 0);
    assert_eq!(offsets[1].cell, members[0].n_cells());
    assert_eq!(
        offsets[2].node,
        members[0].nodes.len() + members[1].nodes.len()
    );
    let batched = run_batch(None, &refs, &mut |_, _| {}).expect("cpu batch");
    assert_eq!(batched.len(), 3);
    for (i, (p, b)) in members.iter().zip(&batched).enumerate() {
        let alone = p.run(None).expect("cpu run");
        assert!(
            alone.conservation.entered[0] > 100.0,
            "member {i} carries traffic"
        );
        assert_same_run(&alone, b, &format!("CPU member {i}"));
    }
    // a different duration: another step count
    let mut longer = members[0].clone();
    longer.steps += 30;
    assert!(!batchable(refs[0], &longer));
    let e = Union::new(&[refs[0], &longer]).expect_err("not batchable");
    assert!(e.contains("member 1") && e.contains("step count"), "{e}");
    let Some(ctx) = gpu() else { return };
    let batched = run_batch(Some(&ctx), &refs, &mut |_, _| {}).expect("gpu batch");
    for (i, (p, b)) in members.iter().zip(&batched).enumerate() {
        let alone = p.run(Some(&ctx)).expect("gpu run");
        assert_same_run(&alone, b, &format!("GPU member {i}"));
    }
}

#[test]
fn topology_problems_are_reported() {
    // a zero-length link and a node id used at two places are errors, all listed
    let roads = [
        Road::new("ok", "a", "b", &[(0.0, 0.0), (500.0, 0.0)])
            .two_way()
            .link(),
        Road::new("zero", "b", "c", &[(500.0, 0.0), (500.1, 0.0)])
            .two_way()
            .link(),
        Road::new("far", "a", "d", &[(900.0, 900.0), (1500.0, 900.0)])
            .two_way()
            .link(),
    ];
    let e = RoadNetwork::build(&roads, Utm::zone_48n(), 150.0).expect_err("the input is invalid");
    let text: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
    eprintln!("{}", text.join("\n"));
    assert!(e.to_string().starts_with("2 topology errors"));
    assert!(
        text.iter()
            .any(|t| t.contains("\"zero\"") && t.contains("zero length"))
    );
    assert!(
        text.iter()
            .any(|t| t.contains("\"far\"") && t.contains("node \"a\""))
    );

    // a dangling end 10 m from another road's node is a warning; the network still builds
    let roads = [
        Road::new("main", "a", "b", &[(0.0, 0.0), (1000.0, 0.0)])
            .two_way()
            .link(),
        Road::new("spur", "c", "d", &[(500.0, 800.0), (1010.0, 0.0)])
            .two_way()
            .link(),
    ];
    let net = RoadNetwork::build(&roads, Utm::zone_48n(), 150.0).expect("test input is valid");
    let warn: Vec<String> = net.problems.iter().map(ToString::to_string).collect();
    eprintln!("{}", warn.join("\n"));
    assert!(net.problems.iter().all(|p| p.severity == Severity::Warning));
    assert!(
        warn.iter()
            .any(|w| w.contains("dangling end") && w.contains("\"b\""))
    );
    assert!(warn.iter().any(|w| w.contains("2 disconnected parts")));
}

#[test]
fn unroutable_demand_is_an_error_naming_the_entry() {
    let roads = [
        Road::new("a", "p", "q", &[(0.0, 0.0), (500.0, 0.0)]).link(),
        Road::new("b", "r", "s", &[(0.0, 900.0), (500.0, 900.0)]).link(),
    ];
    let mut s = setup(&roads, 600.0, 600.0);
    s.demand.push(od(&s, "p", "q", VehicleClass::Car, 100.0));
    s.demand.push(od(&s, "p", "s", VehicleClass::Car, 100.0));
    let e = s.compile().expect_err("the input is invalid").to_string();
    assert!(
        e.starts_with("demand #1: no route from \"p\" to \"s\""),
        "{e}"
    );
}

/// A link shorter than one free-flow step is one full cell: it neither throttles the flow nor
/// forces a tiny time step.
#[test]
fn a_very_short_link_does_not_throttle_the_flow() {
    let roads = [
        Road::new("a", "o", "m", &[(0.0, 0.0), (2000.0, 0.0)])
            .kmh(54.0)
            .link(),
        Road::new("tiny", "m", "n", &[(2000.0, 0.0), (2003.0, 0.0)])
            .kmh(54.0)
            .link(),
        Road::new("b", "n", "e", &[(2003.0, 0.0), (4000.0, 0.0)])
            .kmh(54.0)
            .link(),
    ];
    let mut s = setup(&roads, 3600.0, 1200.0);
    s.demand.push(od(&s, "o", "e", VehicleClass::Car, 1500.0));
    let p = s.compile().expect("test input is valid");
    assert_eq!(p.dt_s, 2.0);
    assert!(p.dt_reason.contains("1 link(s) shorter"), "{}", p.dt_reason);
    let run = p.run(None).expect("test input is valid");
    let b = link_index(&p, "b");
    for iv in &run.intervals[1..] {
        let m = LinkMeasures::edie(
            iv.vehicle_m[b][0],
            iv.vehicle_s[b][0],
            p.network.links[b].length_m,
            iv.seconds,
            p.network.links[b].free_flow_m_s,
        );
        assert!(
            (m.flow_veh_h - 1500.0).abs() < 15.0,
            "flow {}",
            m.flow_veh_h
        );
    }
    assert!(run.conservation.waiting[0] < 5.0);
}

/// Golden hash of the CPU twin on a seeded 6×6 signalised grid (fixed time, 30 min): the final
/// cell state and every interval's vehicle-metres. Re-mint only when the numerics change on
/// purpose, and say why in the commit.
const GOLDEN_TRAFFIC_HASH: u64 = 0xbb3d_90d8_c652_2dd3;

#[test]
fn traffic_cpu_twin_is_deterministic_golden_hash() {
    let hash = || {
        let run = grid_problem(6, Control::FixedTime, 11, 1800.0)
            .run(None)
            .expect("runs");
        let mut v: Vec<f32> = run.final_state.iter().flatten().copied().collect();
        for iv in &run.intervals {
            v.extend(iv.vehicle_m.iter().flatten().map(|m| *m as f32));
        }
        twin_engine::dispersion::field_hash(&v)
    };
    let h = hash();
    assert_eq!(h, hash(), "two runs differ");
    assert_eq!(h, GOLDEN_TRAFFIC_HASH, "golden hash changed: {h:#018x}");
}

/// The node model in the full CTM (Tampère et al. 2011, capacity-proportional priorities):
/// A (3 lanes, 5,400 veh/h) sends half to X (1 lane, 1,800) and half to Y (3 lanes, 5,400);
/// B (2 lanes, 3,600) sends everything to Y; both are over-demanded, so both queue and offer
/// their capacity. X is the most restrictive link (1,800 / 2,700 against Y's 5,400 / 6,300): A
/// is held by X at 3,600 (1,800 each way), and Y's remaining 3,600 takes B whole — Y full at
/// 5,400. The former model computed Y's share from A's whole demand and never gave back what
/// X's hold left unused: B 3,086, Y 4,886 (what this test measured with it).
#[test]
fn a_diverge_and_merge_pass_what_the_node_model_says() {
    let roads = [
        Road::new("A", "a", "m", &[(0.0, 0.0), (2000.0, 0.0)])
            .lanes(3)
            .kmh(72.0)
            .link(),
        Road::new("B", "b", "m", &[(2000.0, -2000.0), (2000.0, 0.0)])
            .lanes(2)
            .kmh(72.0)
            .link(),
        Road::new("X", "m", "x", &[(2000.0, 0.0), (2000.0, 2000.0)])
            .kmh(72.0)
            .link(),
        Road::new("Y", "m", "y", &[(2000.0, 0.0), (4000.0, 0.0)])
            .lanes(3)
            .kmh(72.0)
            .link(),
    ];
    let mut s = setup(&roads, 3600.0, 1800.0);
    s.demand.push(od(&s, "a", "x", VehicleClass::Car, 3000.0));
    s.demand.push(od(&s, "a", "y", VehicleClass::Car, 3000.0));
    s.demand.push(od(&s, "b", "y", VehicleClass::Car, 4000.0));
    let p = s.compile().expect("test input is valid");
    // hourly flow on a link in the second half hour: vehicle-metres / (length × seconds)
    let flow = |run: &TrafficRun, id: &str| -> f64 {
        let k = link_index(&p, id);
        let iv = &run.intervals[1];
        let len = p.network.links[k].length_m;
        (iv.vehicle_m[k][0] + iv.vehicle_m[k][1]) / len / iv.seconds * 3600.0
    };
    let cpu = p.run(None).expect("test input is valid");
    let (x, y, b) = (flow(&cpu, "X"), flow(&cpu, "Y"), flow(&cpu, "B"));
    eprintln!("cpu: X {x:.0}, Y {y:.0}, B {b:.0} veh/h");
    assert!((x - 1800.0).abs() < 0.02 * 1800.0, "X {x}");
    assert!((y - 5400.0).abs() < 0.02 * 5400.0, "Y {y}");
    assert!((b - 3600.0).abs() < 0.02 * 3600.0, "B {b}");
    // an hour of standing multi-lane queues: the f32 cell state rounds the same
    // n + in − out the same way every step (measured 1.1e-5 here; 1e-7 on the signalised grid)
    assert!(
        cpu.conservation.relative_error < 1e-4,
        "{:?}",
        cpu.conservation
    );
    let Some(ctx) = gpu() else { return };
    let g = p.run(Some(&ctx)).expect("test input is valid");
    for id in ["A", "B", "X", "Y"] {
        let (c, d) = (flow(&cpu, id), flow(&g, id));
        assert!((c - d).abs() <= 1e-3 * c.max(1.0), "{id}: cpu {c} gpu {d}");
    }
}

/// A Webster (1958) plan from the assigned flows, and the delay it gives in the CTM against
/// Webster's uniform delay d = C(1 − λ)²/(2(1 − λx)). Main road 600 veh/h and side road 300
/// veh/h (one lane each, 1,800 veh/h), 4 s lost per phase: y = 1/3 and 1/6, Y = 0.5, L = 8 s,
/// C₀ = (1.5·8 + 5)/(1 − 0.5) = 34 s, greens 17.3 s and 8.7 s (18 s and 8 s in 2 s steps).
/// Steady arrivals, so the uniform term is the whole delay; the CTM's queue is horizontal,
/// which for a triangular fundamental diagram gives the same total delay as a point queue
/// (Newell 1993). Measured: 5.64 s against 5.65 s (main), 12.01 s against 11.93 s (side).
#[test]
fn webster_plan_and_its_uniform_delay() {
    use twin_engine::traffic::webster;
    let roads = [
        Road::new("a", "o", "m", &[(0.0, 0.0), (2000.0, 0.0)])
            .kmh(72.0)
            .link(),
        Road::new("b", "m", "e", &[(2000.0, 0.0), (3000.0, 0.0)])
            .kmh(72.0)
            .link(),
        Road::new("c", "p", "m", &[(2000.0, -2000.0), (2000.0, 0.0)])
            .kmh(72.0)
            .link(),
        Road::new("d", "m", "f", &[(2000.0, 0.0), (2000.0, 1000.0)])
            .kmh(72.0)
            .link(),
    ];
    let mut s = setup(&roads, 3600.0, 1800.0);
    s.demand.push(od(&s, "o", "e", VehicleClass::Car, 600.0));
    s.demand.push(od(&s, "p", "f", VehicleClass::Car, 300.0));
    let node = s.network.node("m").expect("test input is valid");
    let (a, c) = (s.network.incoming[node][0], s.network.incoming[node][1]);
    let (a, c) = if s.network.links[a].id.starts_with('a') {
        (a, c)
    } else {
        (c, a)
    };
    s.signals.push(SignalPlan {
        node,
        offset_s: 0.0,
        lost_s: 4.0,
        min_green_s: 10.0,
        phases: vec![
            Phase {
                green_s: 0.0,
                approaches: vec![a],
                movements: Vec::new(),
            },
            Phase {
                green_s: 0.0,
                approaches: vec![c],
                movements: Vec::new(),
            },
        ],
        timing: Timing::Webster { cycle_s: None },
    });
    let p = s.compile().expect("test input is valid");
    let (_, plan) = &p.webster_plans[0];
    assert!((plan.cycle_s - 34.0).abs() < 1e-9, "{plan:?}");
    assert!(
        (plan.greens_s[0] - 26.0 * 2.0 / 3.0).abs() < 1e-9,
        "{plan:?}"
    );
    let run = p.run(None).expect("test input is valid");
    // the cycle as stepped: greens rounded to 2 s steps
    let (g_main, g_side, cycle) = (18.0, 8.0, 34.0);
    let iv = &run.intervals[1];
    for (id, q, g) in [("a", 600.0, g_main), ("c", 300.0, g_side)] {
        let k = link_index(&p, id);
        let n_mean = (iv.vehicle_s[k][0] + iv.vehicle_s[k][1]) / iv.seconds;
        let free = q / 3600.0 * p.network.links[k].length_m / p.network.links[k].free_flow_m_s;
        let delay = (n_mean - free) / (q / 3600.0);
        let expected = webster::uniform_delay_s(cycle, g, q, 1800.0).expect("undersaturated");
        eprintln!("{id}: delay {delay:.2} s, Webster uniform {expected:.2} s");
        assert!(
            (delay - expected).abs() <= 0.03 * expected,
            "{id}: {delay} s vs {expected} s"
        );
    }
}

/// Vehicles carry their destination: o₁ → d₁ in the first half hour only, o₂ → d₂ in the
/// second, both through the shared link m → n. Turning fractions per class at n (the former
/// model: the mean of both ODs) would send half of the first half hour's traffic to d₂; with
/// destinations nothing reaches d₂ before o₂'s vehicles do.
#[test]
fn destinations_keep_their_routes_through_a_shared_link() {
    let roads = [
        Road::new("o1m", "o1", "m", &[(0.0, 1000.0), (1000.0, 0.0)])
            .kmh(72.0)
            .link(),
        Road::new("o2m", "o2", "m", &[(0.0, -1000.0), (1000.0, 0.0)])
            .kmh(72.0)
            .link(),
        Road::new("mn", "m", "n", &[(1000.0, 0.0), (3000.0, 0.0)])
            .kmh(72.0)
            .link(),
        Road::new("nd1", "n", "d1", &[(3000.0, 0.0), (4000.0, 1000.0)])
            .kmh(72.0)
            .link(),
        Road::new("nd2", "n", "d2", &[(3000.0, 0.0), (4000.0, -1000.0)])
            .kmh(72.0)
            .link(),
    ];
    let mut s = setup(&roads, 3600.0, 1800.0);
    let mut a = od(&s, "o1", "d1", VehicleClass::Car, 0.0);
    a.period_s = 1800.0;
    a.veh_h = vec![1200.0, 0.0];
    let mut b = od(&s, "o2", "d2", VehicleClass::Car, 0.0);
    b.period_s = 1800.0;
    b.veh_h = vec![0.0, 1200.0];
    s.demand.extend([a, b]);
    let p = s.compile().expect("test input is valid");
    assert_eq!(p.n_comm(), 2, "{:?}", p.commodities);
    let run = p.run(None).expect("runs");
    let vm = |i: usize, id: &str| {
        let k = link_index(&p, id);
        run.intervals[i].vehicle_m[k][0]
    };
    // first half hour: d₁ only; second: d₂ gets o₂'s traffic (and d₁ the tail of o₁'s)
    assert!(vm(0, "nd1") > 1e5, "{}", vm(0, "nd1"));
    assert_eq!(vm(0, "nd2"), 0.0);
    assert!(vm(1, "nd2") > 1e5, "{}", vm(1, "nd2"));
    if let Some(ctx) = gpu() {
        let g = p.run(Some(&ctx)).expect("runs");
        assert_eq!(g.intervals[0].vehicle_m[link_index(&p, "nd2")][0], 0.0);
    }
}

/// Two parallel routes from s to d behind a common link: route 1 (100 s at free flow) ends in
/// a one-lane bottleneck (1,800 veh/h), route 2 takes 150 s on two lanes; 2,700 veh/h for
/// 45 minutes. Free-flow routing sends everyone to route 1 and a queue builds behind its
/// bottleneck; the equilibrium moves traffic to route 2 until the travel times of the used
/// routes equalise — the relative gap falls (MSA's gap is not monotone), and in the slices of
/// the peak the two routes' experienced times are within 10 % of each other on average and
/// 25 % in every slice (5-minute slices; measured 2–20 %).
#[test]
fn two_parallel_routes_equalise_at_equilibrium() {
    let roads = [
        Road::new("C", "o", "s", &[(0.0, 0.0), (1000.0, 0.0)])
            .lanes(3)
            .kmh(72.0)
            .link(),
        Road::new("P1", "s", "p", &[(1000.0, 0.0), (2000.0, 0.0)])
            .lanes(2)
            .kmh(72.0)
            .link(),
        Road::new("B1", "p", "d", &[(2000.0, 0.0), (3000.0, 0.0)])
            .kmh(72.0)
            .link(),
        Road::new("Q1", "s", "q", &[(1000.0, 0.0), (2000.0, 1118.0)])
            .lanes(2)
            .kmh(72.0)
            .link(),
        Road::new("Q2", "q", "d", &[(2000.0, 1118.0), (3000.0, 0.0)])
            .lanes(2)
            .kmh(72.0)
            .link(),
    ];
    let mut s = setup(&roads, 5400.0, 900.0);
    let mut d = od(&s, "o", "d", VehicleClass::Car, 0.0);
    d.period_s = 2700.0;
    d.veh_h = vec![2700.0];
    s.demand.push(d);
    s.routing.slice_s = 300.0;
    s.routing.max_iterations = 30;
    s.routing.target_gap = 0.005;
    let mut p = s.compile().expect("test input is valid");
    let eq = p.equilibrate(None, &mut |_, _| {}).expect("runs");
    let gaps: Vec<f64> = eq.iterations.iter().map(|g| g.relative_gap).collect();
    eprintln!("relative gap per iteration: {gaps:.4?}");
    assert!(
        gaps[0] > 0.1,
        "free-flow routing is far from equilibrium: {gaps:?}"
    );
    let last = *gaps.last().expect("iterations");
    // experienced route times per slice in the final loading
    let every = u64::from(p.params.steps_per_slice);
    let mut e = twin_engine::traffic::engine::CpuEngine::new(&p);
    let run = p
        .drive_every(&mut e, None, every, &mut |_, _| {})
        .expect("runs");
    let [t, _] = p.loaded_times(None).expect("runs");
    let (p1, b1, q1, q2) = (
        link_index(&p, "P1"),
        link_index(&p, "B1"),
        link_index(&p, "Q1"),
        link_index(&p, "Q2"),
    );
    let mut mean_diff = 0.0;
    for (s, ts) in t.iter().enumerate().take(9).skip(1) {
        let r1 = ts[p1] + ts[b1];
        let r2 = ts[q1] + ts[q2];
        let used2 = run.intervals[s].vehicle_m[q1][0] > 0.0;
        eprintln!("slice {s}: route 1 {r1:.0} s, route 2 {r2:.0} s");
        assert!(used2, "route 2 is used in slice {s}");
        assert!((r1 - r2).abs() <= 0.25 * r2, "slice {s}: {r1} vs {r2}");
        mean_diff += (r1 - r2).abs() / r2 / 8.0;
    }
    // without the equilibrium (iteration 0) route 1 takes 400 s against route 2's 150 s
    assert!(mean_diff < 0.1, "mean relative difference {mean_diff}");
    assert!(last < 0.04, "{gaps:?}");
}

/// Vickrey's (1969) bottleneck: 3,600 veh/h depart for 20 minutes towards a one-lane
/// bottleneck (1,800 veh/h) at the end of a two-lane approach; a vehicle departing at t waits
/// (λ − s)/s · t = t in the queue. The CTM's exit times (the sink's exact counter) against the
/// arrival curve give each vehicle's delay over free flow: within a cell's worth of Vickrey's.
#[test]
fn vickrey_bottleneck_queueing_delay() {
    let roads = [
        Road::new("A", "o", "a", &[(0.0, 0.0), (4000.0, 0.0)])
            .lanes(2)
            .kmh(72.0)
            .link(),
        Road::new("B", "a", "d", &[(4000.0, 0.0), (5000.0, 0.0)])
            .kmh(72.0)
            .link(),
    ];
    let mut s = setup(&roads, 3600.0, 3600.0);
    let mut d = od(&s, "o", "d", VehicleClass::Car, 0.0);
    d.period_s = 1200.0;
    d.veh_h = vec![3600.0];
    s.demand.push(d);
    let p = s.compile().expect("test input is valid");
    let dest = p.network.node("d").expect("node");
    let free = 5000.0 / 20.0;
    let mut e = twin_engine::traffic::engine::CpuEngine::new(&p);
    use twin_engine::traffic::engine::StepEngine;
    let mut exits = vec![0.0f64];
    for _ in 0..p.steps {
        e.steps(1).expect("steps");
        let c = e.counters().expect("counters")[2 * dest + 1];
        exits.push(twin_engine::traffic::cpu::counted(c[0], c[1]));
    }
    let cell_s = p.dt_s; // a cell is v_f·Δt long: one step at free flow
    let mut worst = 0.0f64;
    for n in [50.0, 200.0, 400.0, 600.0, 800.0, 1100.0] {
        // departure of vehicle n (λ = 1 veh/s), its exit time by interpolation
        let t_dep = n / 1.0;
        let k = exits
            .iter()
            .position(|&x| x >= n)
            .expect("vehicle n leaves");
        let (x0, x1) = (exits[k - 1], exits[k]);
        let t_exit = ((k - 1) as f64 + (n - x0) / (x1 - x0)) * p.dt_s;
        let delay = t_exit - t_dep - free;
        let vickrey = t_dep; // (λ − s)/s · t with λ = 2s
        eprintln!("vehicle {n}: delay {delay:.1} s, Vickrey {vickrey:.1} s");
        worst = worst.max((delay - vickrey).abs());
    }
    assert!(worst <= cell_s, "worst {worst} s");
}

/// Trucks keep their own free-flow speed (70 km/h by default) on a 90 km/h road, cars theirs.
#[test]
fn trucks_drive_at_their_own_free_flow_speed() {
    let roads = [Road::new("A", "o", "d", &[(0.0, 0.0), (6000.0, 0.0)])
        .lanes(2)
        .kmh(90.0)
        .link()];
    let mut s = setup(&roads, 1800.0, 1800.0);
    s.demand.push(od(&s, "o", "d", VehicleClass::Car, 600.0));
    s.demand.push(od(&s, "o", "d", VehicleClass::Truck, 200.0));
    let p = s.compile().expect("test input is valid");
    let run = p.run(None).expect("runs");
    let iv = &run.intervals[0];
    let k = link_index(&p, "A");
    let v = |c: usize| iv.vehicle_m[k][c] / iv.vehicle_s[k][c] * 3.6;
    eprintln!("car {:.2} km/h, truck {:.2} km/h", v(0), v(1));
    assert!((v(0) - 90.0).abs() < 0.5, "{}", v(0));
    assert!((v(1) - 70.0).abs() < 0.5, "{}", v(1));
    if let Some(ctx) = gpu() {
        let g = p.run(Some(&ctx)).expect("runs");
        let gv = g.intervals[0].vehicle_m[k][1] / g.intervals[0].vehicle_s[k][1] * 3.6;
        assert!((gv - v(1)).abs() < 1e-3, "{gv}");
    }
}

/// Major/minor priority in the CTM: a two-lane trunk road (3,000 veh/h) and a one-lane
/// secondary road (1,000 veh/h) merge, unsignalised, into a two-lane trunk (3,600 veh/h). The
/// trunk keeps its whole flow and the secondary road takes the 600 veh/h left (it queues);
/// with capacity-proportional priorities alone it would have passed whole and held the trunk
/// to 2,600.
#[test]
fn the_major_road_keeps_its_flow_at_an_unsignalised_merge() {
    let roads = [
        Road::new("T1", "a", "m", &[(0.0, 0.0), (2000.0, 0.0)])
            .lanes(2)
            .kmh(72.0)
            .class(RoadClass::Trunk)
            .link(),
        Road::new("S", "b", "m", &[(2000.0, -2000.0), (2000.0, 0.0)])
            .kmh(72.0)
            .class(RoadClass::Secondary)
            .link(),
        Road::new("T2", "m", "e", &[(2000.0, 0.0), (4000.0, 0.0)])
            .lanes(2)
            .kmh(72.0)
            .class(RoadClass::Trunk)
            .link(),
    ];
    let mut s = setup(&roads, 3600.0, 1800.0);
    s.demand.push(od(&s, "a", "e", VehicleClass::Car, 3000.0));
    s.demand.push(od(&s, "b", "e", VehicleClass::Car, 1000.0));
    let p = s.compile().expect("test input is valid");
    let flow = |run: &TrafficRun, id: &str| -> f64 {
        let k = link_index(&p, id);
        let iv = &run.intervals[1];
        iv.vehicle_m[k][0] / p.network.links[k].length_m / iv.seconds * 3600.0
    };
    let cpu = p.run(None).expect("runs");
    let (t2, s_) = (flow(&cpu, "T2"), flow(&cpu, "S"));
    eprintln!("T2 {t2:.0}, S {s_:.0} veh/h");
    assert!((t2 - 3600.0).abs() < 0.02 * 3600.0, "T2 {t2}");
    assert!((s_ - 600.0).abs() < 0.03 * 600.0, "S {s_}");
    let Some(ctx) = gpu() else { return };
    let g = p.run(Some(&ctx)).expect("runs");
    for id in ["T1", "S", "T2"] {
        let (c, d) = (flow(&cpu, id), flow(&g, id));
        assert!((c - d).abs() <= 1e-3 * c.max(1.0), "{id}: cpu {c} gpu {d}");
    }
}

/// A protected left turn: one approach A (west → m) with two movements, through to E and left
/// to N, each with its own phase (30 s and 10 s green, 4 s lost after each: a 48 s cycle, 2 s
/// steps). Only left-turners: the left movement passes saturation flow × its green share,
/// 1,800 × 10/48 = 375 veh/h (nothing crosses in the through phase); only through traffic:
/// 1,800 × 30/48 = 1,125; both undersaturated together (600 + 200 veh/h): both served whole,
/// the waiting left-turners in the approach's last cell (its turn pocket) not holding the
/// through traffic back.
#[test]
fn a_protected_left_turn_phase_serves_only_its_movement() {
    let roads = [
        Road::new("A", "w", "m", &[(0.0, 0.0), (2000.0, 0.0)])
            .kmh(72.0)
            .link(),
        Road::new("E", "m", "e", &[(2000.0, 0.0), (3000.0, 0.0)])
            .kmh(72.0)
            .link(),
        Road::new("N", "m", "n", &[(2000.0, 0.0), (2000.0, 1000.0)])
            .kmh(72.0)
            .link(),
    ];
    let run_with = |through: f64, left: f64| {
        let mut s = setup(&roads, 3600.0, 1800.0);
        s.demand.push(od(&s, "w", "e", VehicleClass::Car, through));
        s.demand.push(od(&s, "w", "n", VehicleClass::Car, left));
        let node = s.network.node("m").expect("node");
        let a = s.network.incoming[node][0];
        let link = |id: &str| {
            s.network.outgoing[node]
                .iter()
                .copied()
                .find(|&l| s.network.links[l].road_id == id)
                .expect("link")
        };
        let (e, n) = (link("E"), link("N"));
        s.signals.push(SignalPlan {
            node,
            offset_s: 0.0,
            lost_s: 4.0,
            min_green_s: 10.0,
            phases: vec![
                Phase {
                    green_s: 30.0,
                    approaches: Vec::new(),
                    movements: vec![(a, e)],
                },
                Phase {
                    green_s: 10.0,
                    approaches: Vec::new(),
                    movements: vec![(a, n)],
                },
            ],
            timing: Timing::Given,
        });
        let p = s.compile().expect("test input is valid");
        let cpu = p.run(None).expect("runs");
        let flow = |run: &TrafficRun, id: &str| {
            let k = link_index(&p, id);
            let iv = &run.intervals[1];
            iv.vehicle_m[k][0] / p.network.links[k].length_m / iv.seconds * 3600.0
        };
        let out = (flow(&cpu, "E"), flow(&cpu, "N"));
        if let Some(ctx) = gpu() {
            let g = p.run(Some(&ctx)).expect("runs");
            let go = (flow(&g, "E"), flow(&g, "N"));
            assert!(
                (go.0 - out.0).abs() <= 1e-3 * out.0.max(1.0)
                    && (go.1 - out.1).abs() <= 1e-3 * out.1.max(1.0),
                "gpu {go:?} cpu {out:?}"
            );
        }
        out
    };
    let (e, n) = run_with(0.0, 500.0);
    eprintln!("left only: E {e:.1}, N {n:.1}");
    assert!(e == 0.0 && (n - 375.0).abs() < 0.01 * 375.0, "{n}");
    let (e, n) = run_with(1500.0, 0.0);
    eprintln!("through only: E {e:.1}, N {n:.1}");
    assert!(n == 0.0 && (e - 1125.0).abs() < 0.01 * 1125.0, "{e}");
    let (e, n) = run_with(600.0, 200.0);
    eprintln!("both: E {e:.1}, N {n:.1}");
    assert!(
        (e - 600.0).abs() < 0.02 * 600.0 && (n - 200.0).abs() < 0.02 * 200.0,
        "{e} {n}"
    );
}

/// Vehicles that cannot enter idle at their origin: 1,000 trucks/h (2,500 PCE/h) offered to a
/// 1,800 PCE/h link for an hour queue at 280 trucks/h, 140 truck-hours in all. The interval
/// statistics (trapezoid of the queue at each interval's ends) match the step-by-step integral,
/// and the idle NOx charged for them is those truck-hours at McCormick et al.'s 84.96 g/h.
#[test]
fn trucks_waiting_at_an_origin_idle() {
    use twin_engine::traffic::engine::StepEngine;
    let roads = [Road::new("A", "o", "d", &[(0.0, 0.0), (3000.0, 0.0)]).link()];
    let mut s = setup(&roads, 3600.0, 900.0);
    s.demand.push(od(&s, "o", "d", VehicleClass::Truck, 1000.0));
    let p = s.compile().expect("test input is valid");
    let run = p.run(None).expect("runs");
    let o = p.network.node("o").expect("node");
    let queued_h: f64 = run
        .intervals
        .iter()
        .map(|iv| iv.queued_s[o][1])
        .sum::<f64>()
        / 3600.0;
    let kk = p.n_comm();
    let mut e = twin_engine::traffic::engine::CpuEngine::new(&p);
    let (mut exact_s, mut before) = (0.0f64, 0.0f64);
    for _ in 0..p.steps {
        e.steps(1).expect("steps");
        let q = e.queues().expect("queues");
        let now: f64 = q[o * kk..(o + 1) * kk].iter().map(|&x| f64::from(x)).sum();
        exact_s += 0.5 * (before + now) * p.dt_s;
        before = now;
    }
    let exact_h = exact_s / 3600.0;
    eprintln!("queued {queued_h:.2} truck-h (step by step {exact_h:.2}, theory 140)");
    assert!((queued_h - exact_h).abs() <= 0.01 * exact_h);
    assert!((queued_h - 140.0).abs() <= 7.0);
    // nothing is queued at the destination
    let d = p.network.node("d").expect("node");
    assert!(run.intervals.iter().all(|iv| iv.queued_s[d] == [0.0, 0.0]));
    let (rates, idle) = p
        .emissions
        .rates_g_s([0.0; 2], [0.0; 2], [0.0, queued_h], 3600.0, 0.0);
    assert!((idle[2] - queued_h * 84.96).abs() < 1e-6);
    assert!((rates[2] * 3600.0 - idle[2]).abs() < 1e-6);
}
