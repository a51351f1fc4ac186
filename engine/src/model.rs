//! The province model: typed features of Quảng Ninh (or any dataset in the same shape).
//!
//! Every feature has a stable string id (unique across the whole dataset), a name (Vietnamese,
//! with diacritics), a WGS84 geometry (longitude, latitude in degrees) and typed properties.
//! Properties a dataset carries beyond the typed ones (precision notes, sources) are kept in
//! [`FeatureMeta::extra`], untouched. Features are addressed by [`FeatureHandle`]: a kind plus
//! an index into that kind's vector in [`Province`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use geo::{Geometry, LineString, MultiPolygon, Point};
use serde::Serialize;

use crate::geodesy::LonLatBounds;

/// The kinds of feature the index and the CLI know. `Land` areas are a base layer: they are
/// kept in the model but not in the spatial index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// A district-level administrative unit.
    District,
    /// An automatic monitoring station (air or water).
    Station,
    /// A coal mine.
    Mine,
    /// A power plant, cement plant or other emitting plant.
    Plant,
    /// A port.
    Port,
    /// A road link between two nodes.
    Road,
}

impl FeatureKind {
    /// Every indexed kind, in display order.
    pub const ALL: [FeatureKind; 6] = [
        FeatureKind::District,
        FeatureKind::Station,
        FeatureKind::Mine,
        FeatureKind::Plant,
        FeatureKind::Port,
        FeatureKind::Road,
    ];

    /// The lowercase name used on the command line and in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::District => "district",
            FeatureKind::Station => "station",
            FeatureKind::Mine => "mine",
            FeatureKind::Plant => "plant",
            FeatureKind::Port => "port",
            FeatureKind::Road => "road",
        }
    }

    /// Parses a kind name as written by [`FeatureKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for FeatureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Addresses one feature of a [`Province`]: its kind and its index in that kind's vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureHandle {
    /// The feature's kind.
    pub kind: FeatureKind,
    /// Index into the province's vector for that kind.
    pub index: usize,
}

/// What every feature carries besides its typed properties.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureMeta {
    /// Stable id, unique across the dataset.
    pub id: String,
    /// Display name (Vietnamese with diacritics).
    pub name: String,
    /// Properties not interpreted by the engine (precision notes, sources), kept as read.
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Type of district-level unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DistrictType {
    /// Provincial city (thành phố).
    City,
    /// Town (thị xã).
    Town,
    /// Rural district (huyện).
    District,
}

/// A district-level administrative unit.
#[derive(Debug, Clone, PartialEq)]
pub struct District {
    /// Id, name and extra properties.
    pub meta: FeatureMeta,
    /// City, town or district.
    pub unit_type: DistrictType,
    /// Population at the 2019 census (1 April 2019), if known.
    pub population_2019: Option<f64>,
    /// Boundary (may be several parts: islands).
    pub geometry: MultiPolygon<f64>,
}

/// What a station monitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    /// Ambient air.
    Air,
    /// Surface or coastal water.
    Water,
}

/// An automatic environmental monitoring station.
#[derive(Debug, Clone, PartialEq)]
pub struct Station {
    /// Id, name and extra properties.
    pub meta: FeatureMeta,
    /// Air or water.
    pub medium: Medium,
    /// Parameters measured, as the station reports them (e.g. `PM2.5`, `SO2`, `pH`).
    pub parameters: Vec<String>,
    /// The locality (city or district) the station belongs to.
    pub locality: String,
    /// Location.
    pub location: Point<f64>,
}

/// How a mine is worked (Global Energy Monitor's "Underground", "Surface", "Underground &
/// Surface").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MiningMethod {
    /// Underground (hầm lò).
    Underground,
    /// Open pit (lộ thiên).
    OpenPit,
    /// Both: underground workings and surface pits (counts as both everywhere).
    UndergroundAndSurface,
}

impl MiningMethod {
    /// Has underground workings (gas monitoring, ventilation).
    pub fn underground(self) -> bool {
        matches!(self, Self::Underground | Self::UndergroundAndSurface)
    }

    /// Has surface workings (fugitive dust from pits, haul roads, dumps).
    pub fn surface(self) -> bool {
        matches!(self, Self::OpenPit | Self::UndergroundAndSurface)
    }

    /// The dataset's spelling (`underground`, `open_pit`, `underground_and_surface`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Underground => "underground",
            Self::OpenPit => "open_pit",
            Self::UndergroundAndSurface => "underground_and_surface",
        }
    }
}

/// A mine's status (Global Energy Monitor's terms). Only operating mines produce: emit dust,
/// send trucks, carry sensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MineStatus {
    /// Producing.
    Operating,
    /// Planned, not built.
    Proposed,
    /// Stopped, may reopen.
    Mothballed,
    /// Shelved project.
    Shelved,
    /// Closed for good.
    Closed,
    /// Cancelled project.
    Cancelled,
}

impl MineStatus {
    /// The dataset's spelling (`operating`, `proposed`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operating => "operating",
            Self::Proposed => "proposed",
            Self::Mothballed => "mothballed",
            Self::Shelved => "shelved",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Methane class of an underground mine by relative methane emission (QCVN 01:2011/BCT):
/// I < 5, II 5–10, III 10–15, super-class ≥ 15 m³ per tonne per day, plus outburst hazard.
/// (Also the `methane_class` key of a mine ventilation network file.)
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
pub enum MethaneClass {
    /// Class I.
    I,
    /// Class II.
    II,
    /// Class III.
    III,
    /// Super class.
    #[serde(rename = "super")]
    Super,
    /// Outburst hazard.
    #[serde(rename = "outburst")]
    Outburst,
}

/// A mine's geometry: a portal point, or an area (pit outline, lease).
#[derive(Debug, Clone, PartialEq)]
pub enum MineGeometry {
    /// A point (portal, pit centre).
    Point(Point<f64>),
    /// An area outline.
    Area(MultiPolygon<f64>),
}

/// A coal mine.
#[derive(Debug, Clone, PartialEq)]
pub struct Mine {
    /// Id, name and extra properties.
    pub meta: FeatureMeta,
    /// Underground, open pit or both.
    pub method: MiningMethod,
    /// Operating, proposed, mothballed, …
    pub status: MineStatus,
    /// Methane class.
    pub methane_class: MethaneClass,
    /// Output, tonnes of coal per year.
    pub output_t_per_year: f64,
    /// Point or area.
    pub geometry: MineGeometry,
}

impl Mine {
    /// Producing now (emits dust, sends trucks, carries sensors).
    pub fn operating(&self) -> bool {
        self.status == MineStatus::Operating
    }
}

/// Kind of plant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlantType {
    /// Coal-fired thermal power plant.
    ThermalPower,
    /// Cement plant.
    Cement,
    /// Any other emitting plant.
    Other,
}

/// Unit of a plant's nameplate capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CapacityUnit {
    /// Electrical megawatts.
    #[serde(rename = "MW")]
    MegaWatt,
    /// Million tonnes of product per year.
    #[serde(rename = "Mt/yr")]
    MegaTonnePerYear,
    /// Tonnes of product per year.
    #[serde(rename = "t/yr")]
    TonnePerYear,
}

/// A pollutant the engine tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Pollutant {
    /// Particulate matter below 2.5 µm.
    #[serde(rename = "PM2.5")]
    Pm25,
    /// Particulate matter below 10 µm.
    #[serde(rename = "PM10")]
    Pm10,
    /// Total suspended particulates.
    #[serde(rename = "TSP")]
    Tsp,
    /// Sulphur dioxide.
    #[serde(rename = "SO2")]
    So2,
    /// Nitrogen oxides (as NO₂).
    #[serde(rename = "NOx")]
    Nox,
    /// Nitrogen dioxide.
    #[serde(rename = "NO2")]
    No2,
    /// Carbon monoxide.
    #[serde(rename = "CO")]
    Co,
}

impl Pollutant {
    /// Every pollutant, with the name used in files.
    pub const ALL: [(Pollutant, &'static str); 7] = [
        (Pollutant::Pm25, "PM2.5"),
        (Pollutant::Pm10, "PM10"),
        (Pollutant::Tsp, "TSP"),
        (Pollutant::So2, "SO2"),
        (Pollutant::Nox, "NOx"),
        (Pollutant::No2, "NO2"),
        (Pollutant::Co, "CO"),
    ];

    /// Parses the name used in files (`PM2.5`, `SO2`, …).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(p, _)| *p)
    }

    /// The name used in files.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }
}

/// Units accepted for an emission rate, with their factor to grams per second.
pub const EMISSION_UNITS: [(&str, f64); 4] = [
    ("g/s", 1.0),
    ("kg/h", 1000.0 / 3600.0),
    ("t/yr", 1.0e6 / (365.0 * 86400.0)),
    ("kg/day", 1000.0 / 86400.0),
];

/// An emission rate of one pollutant, normalised to grams per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EmissionRate {
    /// The pollutant.
    pub pollutant: Pollutant,
    /// Rate in g/s.
    pub grams_per_second: f64,
}

/// A plant with a stack.
#[derive(Debug, Clone, PartialEq)]
pub struct Plant {
    /// Id, name and extra properties.
    pub meta: FeatureMeta,
    /// Thermal power, cement or other.
    pub plant_type: PlantType,
    /// Nameplate capacity.
    pub capacity: f64,
    /// Unit of `capacity`.
    pub capacity_unit: CapacityUnit,
    /// Stack height above ground, metres.
    pub stack_height_m: f64,
    /// Stack inner diameter at the top, metres.
    pub stack_diameter_m: f64,
    /// Flue-gas exit velocity, m/s (optional: without it and the temperature, no plume rise).
    pub exit_velocity_m_s: Option<f64>,
    /// Flue-gas exit temperature, K.
    pub exit_temperature_k: Option<f64>,
    /// Emission rates per pollutant.
    pub emissions: Vec<EmissionRate>,
    /// Stack location.
    pub location: Point<f64>,
}

/// A port.
#[derive(Debug, Clone, PartialEq)]
pub struct Port {
    /// Id, name and extra properties.
    pub meta: FeatureMeta,
    /// Main cargo (`coal`, `container`, `passenger`, …).
    pub cargo: String,
    /// Location.
    pub location: Point<f64>,
}

/// Functional class of a road link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoadClass {
    /// Expressway (cao tốc).
    Expressway,
    /// National road (quốc lộ).
    Trunk,
    /// Primary road.
    Primary,
    /// Secondary road (provincial).
    Secondary,
    /// Tertiary road.
    Tertiary,
    /// Residential / urban street.
    Residential,
}

/// A road link: a polyline between two nodes of the network.
#[derive(Debug, Clone, PartialEq)]
pub struct RoadLink {
    /// Id, name and extra properties.
    pub meta: FeatureMeta,
    /// Route reference (`QL18`, `CT06`), if any.
    pub road_ref: Option<String>,
    /// Functional class.
    pub class: RoadClass,
    /// Lanes per direction.
    pub lanes: u32,
    /// Whether traffic runs only from the first to the last vertex.
    pub oneway: bool,
    /// Free-flow speed, km/h.
    pub free_flow_speed_kmh: f64,
    /// Capacity per lane, vehicles per hour.
    pub capacity_veh_h_lane: f64,
    /// Geometry from the start node to the end node.
    pub geometry: LineString<f64>,
}

/// A land area (from the coastline), with the country it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct LandArea {
    /// Id, name and extra properties.
    pub meta: FeatureMeta,
    /// Country code or name as given by the dataset.
    pub country: String,
    /// Land polygons.
    pub geometry: MultiPolygon<f64>,
}

/// A whole province dataset, loaded and validated.
#[derive(Debug, Clone, Default)]
pub struct Province {
    /// Dataset name.
    pub name: String,
    /// Declared bounds; every coordinate lies inside.
    pub bounds: Option<LonLatBounds>,
    /// EPSG code of the projected metric CRS used for distances and grids.
    pub projected_epsg: u32,
    /// District-level units.
    pub districts: Vec<District>,
    /// Monitoring stations.
    pub stations: Vec<Station>,
    /// Coal mines.
    pub mines: Vec<Mine>,
    /// Plants.
    pub plants: Vec<Plant>,
    /// Ports.
    pub ports: Vec<Port>,
    /// Road links.
    pub road_links: Vec<RoadLink>,
    /// Land polygons (base layer, not indexed).
    pub land: Vec<LandArea>,
    ids: HashMap<String, FeatureHandle>,
}

impl Province {
    /// Rebuilds the id → handle map; called by the loader after every layer is read.
    pub(crate) fn rebuild_ids(&mut self) {
        let mut ids = HashMap::new();
        for kind in FeatureKind::ALL {
            for index in 0..self.count(kind) {
                let h = FeatureHandle { kind, index };
                ids.insert(self.meta(h).id.clone(), h);
            }
        }
        self.ids = ids;
    }

    /// Number of features of a kind.
    pub fn count(&self, kind: FeatureKind) -> usize {
        match kind {
            FeatureKind::District => self.districts.len(),
            FeatureKind::Station => self.stations.len(),
            FeatureKind::Mine => self.mines.len(),
            FeatureKind::Plant => self.plants.len(),
            FeatureKind::Port => self.ports.len(),
            FeatureKind::Road => self.road_links.len(),
        }
    }

    /// Every indexed feature's handle, kind by kind in [`FeatureKind::ALL`] order.
    pub fn handles(&self) -> impl Iterator<Item = FeatureHandle> + '_ {
        FeatureKind::ALL.into_iter().flat_map(move |kind| {
            (0..self.count(kind)).map(move |index| FeatureHandle { kind, index })
        })
    }

    /// The handle of the feature with this id, if any.
    pub fn find(&self, id: &str) -> Option<FeatureHandle> {
        self.ids.get(id).copied()
    }

    /// Id, name and extra properties of a feature. Panics on a handle from another province.
    pub fn meta(&self, h: FeatureHandle) -> &FeatureMeta {
        match h.kind {
            FeatureKind::District => &self.districts[h.index].meta,
            FeatureKind::Station => &self.stations[h.index].meta,
            FeatureKind::Mine => &self.mines[h.index].meta,
            FeatureKind::Plant => &self.plants[h.index].meta,
            FeatureKind::Port => &self.ports[h.index].meta,
            FeatureKind::Road => &self.road_links[h.index].meta,
        }
    }

    /// A feature's WGS84 geometry as a `geo::Geometry`.
    pub fn geometry(&self, h: FeatureHandle) -> Geometry<f64> {
        match h.kind {
            FeatureKind::District => self.districts[h.index].geometry.clone().into(),
            FeatureKind::Station => self.stations[h.index].location.into(),
            FeatureKind::Mine => match &self.mines[h.index].geometry {
                MineGeometry::Point(p) => (*p).into(),
                MineGeometry::Area(a) => a.clone().into(),
            },
            FeatureKind::Plant => self.plants[h.index].location.into(),
            FeatureKind::Port => self.ports[h.index].location.into(),
            FeatureKind::Road => self.road_links[h.index].geometry.clone().into(),
        }
    }
}
