//! Traffic scenarios: a TOML file (serde, unknown keys rejected) → a [`TrafficSetup`] over a
//! dataset's road network (or a road GeoJSON file named by `roads`, e.g. from
//! `twin import osm`). Nodes are named by node id or by any dataset feature id (a mine, a port,
//! a plant…), which is placed on the nearest network node. A commented example:
//! `datasets/quang-ninh/scenarios/morning-peak-coal-trucks.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use geo::Centroid;
use serde::Deserialize;

use super::emissions::{ClassFactors, EmissionModel, SpeedCurve};
use super::network::{DEFAULT_JAM_VEH_KM_LANE, RoadNetwork};
use super::webster::MAX_CYCLE_S;
use super::{Control, OdDemand, Phase, SignalPlan, Timing, TrafficSetup, VehicleClass};
use crate::dataset::{Dataset, read_road_layer};
use crate::scenario::{
    ScenarioError, check_range, invalid, load_dataset, parse_start, read_toml, relative_to,
};

/// A traffic scenario as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficScenario {
    /// Short name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Dataset directory, relative to the scenario file; default: the bundled dataset.
    pub dataset: Option<PathBuf>,
    /// Road-link GeoJSON, relative to the scenario file; default: the dataset's road layer.
    pub roads: Option<PathBuf>,
    /// Start time, RFC 3339 with offset.
    pub start: String,
    /// Simulated duration, hours.
    pub duration_h: f64,
    /// Time step, s (default 2; links shorter than v_f·Δt become one full cell).
    #[serde(default = "default_dt")]
    pub dt_s: f64,
    /// Output interval, minutes (default 15).
    #[serde(default = "default_interval")]
    pub output_interval_min: f64,
    /// Passenger-car equivalents of a truck (default 2.5).
    #[serde(default = "default_pce")]
    pub truck_pce: f64,
    /// Jam density per lane, vehicles per km (default 150).
    #[serde(default = "default_jam")]
    pub jam_density_veh_km_lane: f64,
    /// Default length of a demand period, minutes (default 60).
    #[serde(default = "default_period")]
    pub demand_period_min: f64,
    /// OD demand.
    #[serde(default)]
    pub demand: Vec<DemandSpec>,
    /// Signals.
    #[serde(default)]
    pub signals: SignalsSpec,
    /// Emission factors.
    #[serde(default)]
    pub emissions: EmissionsSpec,
    /// Trucks' highest free-flow speed, km/h (default 70: Circular 31/2019/TT-BGTVT for
    /// trucks over 3.5 t outside built-up areas on undivided roads).
    #[serde(default = "default_truck_speed")]
    pub truck_speed_km_h: f64,
    /// Route choice.
    #[serde(default)]
    pub routing: RoutingSpec,
    /// Road ids closed for the whole run (both directions): every route avoids them; demand
    /// that then has no route is an error naming the entry.
    #[serde(default)]
    pub closed_roads: Vec<String>,
}

fn default_truck_speed() -> f64 {
    super::DEFAULT_TRUCK_SPEED_KM_H
}

/// Route choice: destination routing by dynamic user equilibrium.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSpec {
    /// Routing slice, minutes: turning fractions are constant within one (default 15).
    #[serde(default = "default_slice")]
    pub slice_min: f64,
    /// Most equilibrium iterations, each a network loading (default 10; 0: free-flow
    /// fastest routes).
    #[serde(default = "default_iterations")]
    pub equilibrium_iterations: u32,
    /// Stop below this relative gap (default 0.01).
    #[serde(default = "default_gap")]
    pub target_gap: f64,
}

impl Default for RoutingSpec {
    fn default() -> Self {
        Self {
            slice_min: default_slice(),
            equilibrium_iterations: default_iterations(),
            target_gap: default_gap(),
        }
    }
}

fn default_slice() -> f64 {
    15.0
}
fn default_iterations() -> u32 {
    10
}
fn default_gap() -> f64 {
    0.01
}

fn default_dt() -> f64 {
    2.0
}
fn default_interval() -> f64 {
    15.0
}
fn default_pce() -> f64 {
    2.5
}
fn default_jam() -> f64 {
    DEFAULT_JAM_VEH_KM_LANE
}
fn default_period() -> f64 {
    60.0
}

/// Rates: one number for the whole run, or one per period.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Rates {
    /// Constant.
    Constant(f64),
    /// Per period.
    Profile(Vec<f64>),
}

/// One OD demand entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandSpec {
    /// Origin: node id or dataset feature id.
    pub from: String,
    /// Destination: node id or dataset feature id; absent: vehicles follow default turning.
    pub to: Option<String>,
    /// `car` or `truck` (default `car`).
    #[serde(default = "default_class")]
    pub class: String,
    /// Vehicles per hour: a number or one per period.
    pub veh_h: Rates,
    /// Period length, minutes (default `demand_period_min`).
    pub period_min: Option<f64>,
    /// Both directions: also from `to` to `from` with the same rates.
    #[serde(default)]
    pub both_ways: bool,
}

fn default_class() -> String {
    "car".into()
}

/// Signals.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalsSpec {
    /// `fixed_time` (default) or `max_pressure`.
    pub control: Option<String>,
    /// Lost time per phase change (amber + all-red), s (default 4).
    pub lost_s: Option<f64>,
    /// Minimum green / max-pressure decision interval, s (default 10).
    pub min_green_s: Option<f64>,
    /// Signalised nodes.
    #[serde(default)]
    pub node: Vec<SignalSpec>,
}

/// One signalised node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalSpec {
    /// Node id or dataset feature id.
    pub node: String,
    /// Cycle, s, for automatic phases (default: Webster's optimum from the assigned flows).
    pub cycle_s: Option<f64>,
    /// Offset, s.
    #[serde(default)]
    pub offset_s: f64,
    /// Phases; absent: two phases grouping the approaches by axis, greens by Webster (1958)
    /// from the free-flow assignment's flows (`cycle_s` fixes the cycle, else Webster's optimum).
    pub phases: Option<Vec<PhaseSpec>>,
}

/// One phase.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseSpec {
    /// Green, s.
    pub green_s: f64,
    /// Road link ids whose direction entering the node is served (all its movements).
    #[serde(default)]
    pub approaches: Vec<String>,
    /// Single movements served, `[from road, to road]` (e.g. a protected left turn).
    #[serde(default)]
    pub movements: Vec<[String; 2]>,
}

/// Emission settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmissionsSpec {
    /// Silt loading where no override applies, g/m² (default: AP-42's baseline by each link's daily traffic).
    pub silt_loading_g_m2: Option<f64>,
    /// Silt loading by road id or route ref, g/m².
    #[serde(default)]
    pub silt_loading_by_road: BTreeMap<String, f64>,
    /// Factors for general traffic.
    pub car: Option<FactorsSpec>,
    /// Factors for trucks.
    pub truck: Option<FactorsSpec>,
}

/// Factors of one class (absent keys keep the defaults).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorsSpec {
    /// PM10, g/veh-km.
    pub pm10_g_km: Option<f64>,
    /// PM2.5, g/veh-km.
    pub pm25_g_km: Option<f64>,
    /// NOx, g/veh-km, at every speed (replaces the class's speed curve).
    pub nox_g_km: Option<f64>,
    /// NOx against speed in the EMEP/EEA unified Tier 3 form (replaces `nox_g_km`), e.g. a row
    /// of the Guidebook's annex for the segment, Euro standard, slope and load at hand.
    pub nox_speed_curve: Option<SpeedCurve>,
    /// NOx while idling, g per vehicle-hour.
    pub idle_nox_g_h: Option<f64>,
    /// Exhaust PM while idling, g per vehicle-hour.
    pub idle_pm_g_h: Option<f64>,
    /// Mean weight, t.
    pub weight_t: Option<f64>,
}

/// A resolved scenario: the setup, the dataset and where things were placed.
#[derive(Debug)]
pub struct ResolvedTraffic {
    /// The scenario as read.
    pub scenario: TrafficScenario,
    /// The dataset.
    pub dataset: Dataset,
    /// The run set-up.
    pub setup: TrafficSetup,
    /// How each feature id named by the scenario was placed: (id, node id, distance m).
    pub placements: Vec<(String, String, f64)>,
}

impl TrafficScenario {
    /// Reads a scenario file.
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        read_toml(path)
    }

    /// Reads a scenario and resolves it against its dataset: its `dataset` key relative to
    /// `path`, else [`crate::dataset::resolve_dir`] of `dataset_flag`.
    pub fn load(
        path: &Path,
        dataset_flag: Option<&Path>,
    ) -> Result<ResolvedTraffic, ScenarioError> {
        Self::load_with(path, dataset_flag, |_| {})
    }

    /// Like [`TrafficScenario::load`], with `edit` applied to the scenario as read (command-line
    /// overrides such as closures).
    pub fn load_with(
        path: &Path,
        dataset_flag: Option<&Path>,
        edit: impl FnOnce(&mut TrafficScenario),
    ) -> Result<ResolvedTraffic, ScenarioError> {
        let mut sc = Self::read(path)?;
        edit(&mut sc);
        let dataset = load_dataset(path, sc.dataset.as_deref(), dataset_flag)?;
        sc.resolve(path, dataset)
    }

    /// Builds the network and the set-up.
    pub fn resolve(self, path: &Path, dataset: Dataset) -> Result<ResolvedTraffic, ScenarioError> {
        let bad = |m: String| invalid(path, m);
        let start = parse_start(path, &self.start)?;
        let range = |key: &str, v: f64, lo: f64, hi: f64, unit: &str| {
            check_range(key, v, lo, hi, unit).map_err(|m| invalid(path, m))
        };
        range("duration_h", self.duration_h, 1.0 / 60.0, 24.0 * 366.0, "h")?;
        range("dt_s", self.dt_s, 0.1, 60.0, "s")?;
        range(
            "output_interval_min",
            self.output_interval_min,
            1.0,
            (self.duration_h * 60.0).max(1.0),
            "min",
        )?;
        range("truck_pce", self.truck_pce, 1.0, 6.0, "")?;
        range(
            "jam_density_veh_km_lane",
            self.jam_density_veh_km_lane,
            20.0,
            300.0,
            "veh/km/lane",
        )?;
        range(
            "demand_period_min",
            self.demand_period_min,
            1.0,
            10_080.0,
            "min",
        )?;

        let roads = match &self.roads {
            Some(r) => {
                let file = relative_to(path, r);
                let bounds = dataset.province.bounds.unwrap_or(dataset.manifest.bounds);
                read_road_layer(&file, bounds).map_err(|source| ScenarioError::Dataset {
                    path: path.to_path_buf(),
                    source,
                })?
            }
            None => dataset.province.road_links.clone(),
        };
        for id in &self.closed_roads {
            if !roads.iter().any(|r| r.meta.id == *id) {
                return Err(bad(format!(
                    "key `closed_roads`: {id:?} is not a road id of the network"
                )));
            }
        }
        let roads: Vec<_> = roads
            .into_iter()
            .filter(|r| !self.closed_roads.contains(&r.meta.id))
            .collect();
        let network = RoadNetwork::build(
            &roads,
            dataset.projection.clone(),
            self.jam_density_veh_km_lane,
        )
        .map_err(|source| ScenarioError::Network {
            path: path.to_path_buf(),
            source,
        })?;
        for (key, (_, f)) in [
            ("car", &self.emissions.car),
            ("truck", &self.emissions.truck),
        ]
        .iter()
        .map(|(k, f)| (*k, ((), f)))
        {
            if let Some(f) = f {
                for (name, v, hi, unit) in [
                    ("pm10_g_km", f.pm10_g_km, 10_000.0, "g/km"),
                    ("pm25_g_km", f.pm25_g_km, 10_000.0, "g/km"),
                    ("nox_g_km", f.nox_g_km, 10_000.0, "g/km"),
                    ("idle_nox_g_h", f.idle_nox_g_h, 100_000.0, "g/h"),
                    ("idle_pm_g_h", f.idle_pm_g_h, 100_000.0, "g/h"),
                    ("weight_t", f.weight_t, 100.0, "t"),
                ] {
                    if let Some(v) = v {
                        range(&format!("emissions.{key}.{name}"), v, 0.0, hi, unit)?;
                    }
                }
                if f.nox_g_km.is_some() && f.nox_speed_curve.is_some() {
                    return Err(invalid(
                        path,
                        format!(
                            "keys `emissions.{key}.nox_g_km` and `emissions.{key}.nox_speed_curve` \
                             both set; give one (a constant or a speed curve)"
                        ),
                    ));
                }
                if let Some(c) = &f.nox_speed_curve {
                    c.check().map_err(|e| {
                        invalid(path, format!("key `emissions.{key}.nox_speed_curve`: {e}"))
                    })?;
                }
            }
        }

        let mut placements = Vec::new();
        let mut place = |key: String, id: &str| -> Result<usize, ScenarioError> {
            if let Some(n) = network.node(id) {
                return Ok(n);
            }
            let Some(h) = dataset.province.find(id) else {
                return Err(invalid(
                    path,
                    format!("key `{key}`: {id:?} is neither a road node nor a dataset feature"),
                ));
            };
            let g = dataset.province.geometry(h);
            let Some(c) = g.centroid() else {
                return Err(invalid(
                    path,
                    format!("key `{key}`: {id:?} has no geometry"),
                ));
            };
            let xy = dataset.projection.forward(c.x(), c.y());
            let (n, d) = network
                .nearest_node(xy)
                .ok_or_else(|| invalid(path, format!("key `{key}`: the network has no nodes")))?;
            placements.push((id.to_string(), network.nodes[n].id.clone(), d));
            Ok(n)
        };

        let mut demand = Vec::new();
        for (k, d) in self.demand.iter().enumerate() {
            let key = format!("demand[{k}]");
            let class = match d.class.as_str() {
                "car" => VehicleClass::Car,
                "truck" => VehicleClass::Truck,
                other => {
                    return Err(bad(format!(
                        "key `{key}.class`: {other:?} is not `car` or `truck`"
                    )));
                }
            };
            let veh_h = match &d.veh_h {
                Rates::Constant(v) => vec![*v],
                Rates::Profile(v) => v.clone(),
            };
            if veh_h.is_empty() || veh_h.len() > 10_000 {
                return Err(bad(format!(
                    "key `{key}.veh_h`: give 1 to 10000 rates (got {})",
                    veh_h.len()
                )));
            }
            for (i, v) in veh_h.iter().enumerate() {
                range(&format!("{key}.veh_h[{i}]"), *v, 0.0, 20_000.0, "veh/h")?;
            }
            let period_s = match (&d.veh_h, d.period_min) {
                (_, Some(p)) => {
                    range(&format!("{key}.period_min"), p, 1.0, 10_080.0, "min")? * 60.0
                }
                (Rates::Constant(_), None) => self.duration_h * 3600.0,
                (Rates::Profile(_), None) => self.demand_period_min * 60.0,
            };
            // only operating mines produce coal to haul
            if class == VehicleClass::Truck {
                for (end, id) in [("from", Some(&d.from)), ("to", d.to.as_ref())] {
                    let Some(id) = id else { continue };
                    if let Some(m) = dataset
                        .province
                        .mines
                        .iter()
                        .find(|m| &m.meta.id == id && !m.operating())
                    {
                        return Err(bad(format!(
                            "key `{key}.{end}`: mine {id:?} is {}, not operating: it sends no trucks",
                            m.status.as_str()
                        )));
                    }
                }
            }
            let origin = place(format!("{key}.from"), &d.from)?;
            let dest = match &d.to {
                Some(t) => Some(place(format!("{key}.to"), t)?),
                None => None,
            };
            if d.both_ways && dest.is_none() {
                return Err(bad(format!("key `{key}.both_ways`: needs `to`")));
            }
            demand.push(OdDemand {
                origin,
                dest,
                class,
                period_s,
                veh_h: veh_h.clone(),
            });
            if let (true, Some(dest)) = (d.both_ways, dest) {
                demand.push(OdDemand {
                    origin: dest,
                    dest: Some(origin),
                    class,
                    period_s,
                    veh_h,
                });
            }
        }

        let control = match self.signals.control.as_deref() {
            None | Some("fixed_time") => Control::FixedTime,
            Some("max_pressure") => Control::MaxPressure,
            Some(other) => {
                return Err(bad(format!(
                    "key `signals.control`: {other:?} is not `fixed_time` or `max_pressure`"
                )));
            }
        };
        let lost_s = self.signals.lost_s.unwrap_or(4.0);
        let min_green_s = self.signals.min_green_s.unwrap_or(10.0);
        range("signals.lost_s", lost_s, 0.0, 60.0, "s")?;
        range("signals.min_green_s", min_green_s, 1.0, 300.0, "s")?;
        let mut signals = Vec::new();
        for (k, s) in self.signals.node.iter().enumerate() {
            let key = format!("signals.node[{k}]");
            let node = place(format!("{key}.node"), &s.node)?;
            let mut timing = Timing::Given;
            let phases = match &s.phases {
                Some(list) => {
                    let mut out = Vec::new();
                    for (p, ph) in list.iter().enumerate() {
                        range(
                            &format!("{key}.phases[{p}].green_s"),
                            ph.green_s,
                            1.0,
                            600.0,
                            "s",
                        )?;
                        let mut approaches = Vec::new();
                        for a in &ph.approaches {
                            let l = network.incoming[node].iter().copied().find(|&l| {
                                network.links[l].road_id == *a || network.links[l].id == *a
                            });
                            match l {
                                Some(l) => approaches.push(l),
                                None => {
                                    return Err(bad(format!(
                                        "key `{key}.phases[{p}].approaches`: road {a:?} does not \
                                         enter node {:?}",
                                        network.nodes[node].id
                                    )));
                                }
                            }
                        }
                        let mut movements = Vec::new();
                        for (m, [from, to]) in ph.movements.iter().enumerate() {
                            let mkey = format!("{key}.phases[{p}].movements[{m}]");
                            let l_in = network.incoming[node].iter().copied().find(|&l| {
                                network.links[l].road_id == *from || network.links[l].id == *from
                            });
                            let l_out = network.outgoing[node].iter().copied().find(|&l| {
                                network.links[l].road_id == *to || network.links[l].id == *to
                            });
                            match (l_in, l_out) {
                                (Some(a), Some(b)) => movements.push((a, b)),
                                (None, _) => {
                                    return Err(bad(format!(
                                        "key `{mkey}`: road {from:?} does not enter node {:?}",
                                        network.nodes[node].id
                                    )));
                                }
                                (_, None) => {
                                    return Err(bad(format!(
                                        "key `{mkey}`: road {to:?} does not leave node {:?}",
                                        network.nodes[node].id
                                    )));
                                }
                            }
                        }
                        if approaches.is_empty() && movements.is_empty() {
                            return Err(bad(format!(
                                "key `{key}.phases[{p}]`: give `approaches` or `movements`"
                            )));
                        }
                        out.push(Phase {
                            green_s: ph.green_s,
                            approaches,
                            movements,
                        });
                    }
                    out
                }
                None => {
                    // phases by approach axis; their greens come from Webster at compile,
                    // with the cycle given or Webster's optimum
                    let cycle = match s.cycle_s {
                        Some(c) => Some(range(&format!("{key}.cycle_s"), c, 10.0, 600.0, "s")?),
                        None => None,
                    };
                    let phases = auto_phases(&network, node, cycle.unwrap_or(MAX_CYCLE_S), lost_s)
                        .ok_or_else(|| {
                            bad(format!(
                                "key `{key}.cycle_s`: {} s leaves no green after the lost times",
                                cycle.unwrap_or(MAX_CYCLE_S)
                            ))
                        })?;
                    timing = Timing::Webster { cycle_s: cycle };
                    phases
                }
            };
            range(&format!("{key}.offset_s"), s.offset_s, 0.0, 3600.0, "s")?;
            signals.push(SignalPlan {
                node,
                offset_s: s.offset_s,
                lost_s,
                min_green_s,
                phases,
                timing,
            });
        }

        let mut em = EmissionModel::default();
        if let Some(s) = self.emissions.silt_loading_g_m2 {
            range("emissions.silt_loading_g_m2", s, 0.0, 1000.0, "g/m²")?;
            em.silt_loading_g_m2 = Some(s);
        }
        for (road, &v) in &self.emissions.silt_loading_by_road {
            range(
                &format!("emissions.silt_loading_by_road.{road}"),
                v,
                0.0,
                1000.0,
                "g/m²",
            )?;
            // a closed road keeps its override (nothing drives on it)
            if !self.closed_roads.contains(road)
                && !network
                    .links
                    .iter()
                    .any(|l| l.road_id == *road || l.road_ref.as_deref() == Some(road))
            {
                return Err(bad(format!(
                    "key `emissions.silt_loading_by_road.{road}`: no road link with that id or ref"
                )));
            }
            em.silt_overrides.push((road.clone(), v));
        }
        let apply = |base: &mut ClassFactors, f: &Option<FactorsSpec>| {
            if let Some(f) = f {
                base.pm10_g_km = f.pm10_g_km.unwrap_or(base.pm10_g_km);
                base.pm25_g_km = f.pm25_g_km.unwrap_or(base.pm25_g_km);
                if let Some(v) = f.nox_g_km {
                    base.nox_g_km = v;
                    base.nox_curve = None;
                }
                if let Some(c) = f.nox_speed_curve {
                    base.nox_curve = Some(c);
                }
                base.idle_nox_g_h = f.idle_nox_g_h.unwrap_or(base.idle_nox_g_h);
                base.idle_pm_g_h = f.idle_pm_g_h.unwrap_or(base.idle_pm_g_h);
                base.weight_t = f.weight_t.unwrap_or(base.weight_t);
            }
        };
        apply(&mut em.car, &self.emissions.car);
        apply(&mut em.truck, &self.emissions.truck);

        range(
            "truck_speed_km_h",
            self.truck_speed_km_h,
            5.0,
            130.0,
            "km/h",
        )?;
        range(
            "routing.slice_min",
            self.routing.slice_min,
            1.0,
            (self.duration_h * 60.0).max(1.0),
            "min",
        )?;
        range("routing.target_gap", self.routing.target_gap, 0.0, 1.0, "")?;
        if self.routing.equilibrium_iterations > 200 {
            return Err(bad(format!(
                "key `routing.equilibrium_iterations`: {} is above the most allowed, 200 (each is a whole network loading)",
                self.routing.equilibrium_iterations
            )));
        }
        let setup = TrafficSetup {
            truck_speed_km_h: self.truck_speed_km_h,
            routing: super::RoutingSettings {
                slice_s: self.routing.slice_min * 60.0,
                max_iterations: self.routing.equilibrium_iterations,
                target_gap: self.routing.target_gap,
            },
            network,
            dt_s: self.dt_s,
            duration_s: self.duration_h * 3600.0,
            output_interval_s: self.output_interval_min * 60.0,
            start,
            truck_pce: self.truck_pce,
            demand,
            control,
            signals,
            emissions: em,
        };
        Ok(ResolvedTraffic {
            scenario: self,
            dataset,
            setup,
            placements,
        })
    }
}

/// Two phases at a node: the approaches whose final heading lies within 45° of the first
/// approach's axis, and the others; equal greens filling the cycle after the lost times.
/// `None` when the cycle leaves no green.
pub fn auto_phases(
    net: &RoadNetwork,
    node: usize,
    cycle_s: f64,
    lost_s: f64,
) -> Option<Vec<Phase>> {
    let ins = &net.incoming[node];
    let axis = |l: usize| {
        let xy = &net.links[l].xy;
        let (a, b) = (xy[xy.len() - 2], xy[xy.len() - 1]);
        (b.1 - a.1)
            .atan2(b.0 - a.0)
            .rem_euclid(std::f64::consts::PI)
    };
    let mut groups: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    if let Some(&first) = ins.first() {
        let a0 = axis(first);
        for &l in ins {
            let d = (axis(l) - a0).abs();
            let d = d.min(std::f64::consts::PI - d);
            groups[usize::from(d > std::f64::consts::FRAC_PI_4)].push(l);
        }
    }
    let groups: Vec<Vec<usize>> = groups.into_iter().filter(|g| !g.is_empty()).collect();
    let n = groups.len().max(1) as f64;
    let green = (cycle_s - n * lost_s) / n;
    if green <= 0.0 {
        return None;
    }
    Some(
        groups
            .into_iter()
            .map(|approaches| Phase {
                green_s: green,
                approaches,
                movements: Vec::new(),
            })
            .collect(),
    )
}
