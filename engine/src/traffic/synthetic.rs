//! Generated networks for benchmarks, tests and the SUMO comparison: a square grid of two-way
//! streets with signalised interior nodes and seeded OD demand between boundary nodes.
//! Deterministic for a seed (SplitMix64), with no dependency on a random-number crate.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use geo::{Coord, LineString};

use super::emissions::EmissionModel;
use super::network::{DEFAULT_JAM_VEH_KM_LANE, RoadNetwork};
use super::scenario::auto_phases;
use super::{Control, OdDemand, SetupError, SignalPlan, TrafficSetup, VehicleClass};
use crate::geodesy::Utm;
use crate::model::{FeatureMeta, RoadClass, RoadLink};

/// SplitMix64: a small, well-mixed, seedable generator.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64) as usize % n.max(1)
    }
    /// Standard normal by Box and Muller (1958), from two uniforms.
    pub fn normal(&mut self) -> f64 {
        let u1: f64 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2: f64 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Grid parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct GridSpec {
    /// Nodes per side.
    pub n: usize,
    /// Block length, m.
    pub spacing_m: f64,
    /// Lanes per direction.
    pub lanes: u32,
    /// Free-flow speed, km/h.
    pub speed_kmh: f64,
    /// Capacity per lane, veh/h.
    pub capacity_veh_h_lane: f64,
    /// South-west corner in UTM 48N, m.
    pub origin_xy: (f64, f64),
}

impl GridSpec {
    /// A grid of `n × n` nodes with 200 m blocks of one-lane, 50 km/h streets near Hạ Long.
    pub fn city(n: usize) -> Self {
        Self {
            n,
            spacing_m: 200.0,
            lanes: 1,
            speed_kmh: 50.0,
            capacity_veh_h_lane: 1800.0,
            origin_xy: (700_000.0, 2_320_000.0),
        }
    }

    /// Directed links this grid has: 4·n·(n − 1).
    pub fn directed_links(&self) -> usize {
        4 * self.n * (self.n - 1)
    }

    /// Node id of grid position (i east, j north).
    pub fn node_id(i: usize, j: usize) -> String {
        format!("g{i}_{j}")
    }

    /// The two-way street links, with `from_node`/`to_node` ids.
    pub fn roads(&self) -> Vec<RoadLink> {
        let utm = Utm::zone_48n();
        let pos = |i: usize, j: usize| {
            let (x, y) = (
                self.origin_xy.0 + i as f64 * self.spacing_m,
                self.origin_xy.1 + j as f64 * self.spacing_m,
            );
            let (lon, lat) = utm.inverse(x, y);
            Coord { x: lon, y: lat }
        };
        let mut out = Vec::new();
        let mut push = |a: (usize, usize), b: (usize, usize)| {
            let mut extra = BTreeMap::new();
            extra.insert(
                "from_node".to_string(),
                serde_json::Value::String(Self::node_id(a.0, a.1)),
            );
            extra.insert(
                "to_node".to_string(),
                serde_json::Value::String(Self::node_id(b.0, b.1)),
            );
            out.push(RoadLink {
                meta: FeatureMeta {
                    id: format!("{}-{}", Self::node_id(a.0, a.1), Self::node_id(b.0, b.1)),
                    name: String::new(),
                    extra,
                },
                road_ref: None,
                class: RoadClass::Residential,
                lanes: self.lanes,
                oneway: false,
                free_flow_speed_kmh: self.speed_kmh,
                capacity_veh_h_lane: self.capacity_veh_h_lane,
                geometry: LineString(vec![pos(a.0, a.1), pos(b.0, b.1)]),
            });
        };
        for j in 0..self.n {
            for i in 0..self.n {
                if i + 1 < self.n {
                    push((i, j), (i + 1, j));
                }
                if j + 1 < self.n {
                    push((i, j), (i, j + 1));
                }
            }
        }
        out
    }

    /// Boundary node positions, in a fixed order.
    pub fn boundary(&self) -> Vec<(usize, usize)> {
        let n = self.n;
        let mut v = Vec::new();
        for i in 0..n {
            for j in 0..n {
                if i == 0 || j == 0 || i + 1 == n || j + 1 == n {
                    v.push((i, j));
                }
            }
        }
        v
    }
}

/// One seeded OD pair of a generated demand: (origin, destination) grid positions, class,
/// vehicles per hour.
pub type GridTrip = ((usize, usize), (usize, usize), VehicleClass, f64);

/// Seeded OD pairs between boundary nodes: `pairs` pairs, each `veh_h` vehicles per hour, one
/// in ten of them trucks.
pub fn grid_trips(spec: &GridSpec, pairs: usize, veh_h: f64, seed: u64) -> Vec<GridTrip> {
    let b = spec.boundary();
    let mut rng = SplitMix64(seed);
    let mut out = Vec::with_capacity(pairs);
    while out.len() < pairs {
        let o = b[rng.below(b.len())];
        let d = b[rng.below(b.len())];
        if o == d {
            continue;
        }
        let class = if rng.below(10) == 0 {
            VehicleClass::Truck
        } else {
            VehicleClass::Car
        };
        out.push((o, d, class, veh_h));
    }
    out
}

/// A complete set-up on a generated grid: fixed-time or max-pressure signals (60 s cycle) at
/// every interior node, the given trips as constant OD demand.
pub fn grid_setup(
    spec: &GridSpec,
    trips: &[GridTrip],
    duration_s: f64,
    control: Control,
    start: DateTime<Utc>,
) -> Result<TrafficSetup, SetupError> {
    let network = RoadNetwork::build(&spec.roads(), Utm::zone_48n(), DEFAULT_JAM_VEH_KM_LANE)?;
    let node = |p: (usize, usize)| network.node(&GridSpec::node_id(p.0, p.1));
    let mut demand = Vec::with_capacity(trips.len());
    for (index, &(o, d, class, veh_h)) in trips.iter().enumerate() {
        let missing = |p: (usize, usize)| SetupError::Demand {
            index,
            message: format!("grid node {p:?} is outside the {0}x{0} grid", spec.n),
        };
        demand.push(OdDemand {
            origin: node(o).ok_or_else(|| missing(o))?,
            dest: Some(node(d).ok_or_else(|| missing(d))?),
            class,
            period_s: duration_s,
            veh_h: vec![veh_h],
        });
    }
    let mut signals = Vec::new();
    for i in 1..spec.n.saturating_sub(1) {
        for j in 1..spec.n.saturating_sub(1) {
            let signal = |message: &str| SetupError::Signal {
                node: GridSpec::node_id(i, j),
                message: message.into(),
            };
            let n = node((i, j)).ok_or_else(|| signal("not in the network"))?;
            let phases = auto_phases(&network, n, 60.0, 4.0)
                .ok_or_else(|| signal("no green in a 60 s cycle"))?;
            signals.push(SignalPlan {
                node: n,
                offset_s: ((i + j) % 4) as f64 * 15.0,
                lost_s: 4.0,
                min_green_s: 10.0,
                phases,
                timing: super::Timing::Given,
            });
        }
    }
    Ok(TrafficSetup {
        network,
        dt_s: 2.0,
        duration_s,
        output_interval_s: 900.0_f64.min(duration_s),
        start,
        truck_pce: 2.5,
        demand,
        control,
        signals,
        emissions: EmissionModel::default(),
        truck_speed_km_h: super::DEFAULT_TRUCK_SPEED_KM_H,
        routing: super::RoutingSettings::default(),
    })
}
