//! Reading and validating the GeoJSON layers of a dataset into typed features.
//!
//! Each layer is a GeoJSON `FeatureCollection` in EPSG:4326. Every feature is read through a
//! [`FeatureReader`], which records each problem with the file, the feature index and id, and
//! the field, and reading goes on so that one pass reports everything wrong with a dataset.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use geo::{Coord, LineString, MultiPolygon, Point, Polygon, Validation};
use serde_json::{Map, Value};

use super::problems::{DatasetProblem, Location};
use super::{DatasetError, Manifest};
use crate::geodesy::LonLatBounds;
use crate::model::{
    CapacityUnit, District, DistrictType, EMISSION_UNITS, EmissionRate, FeatureMeta, LandArea,
    Medium, MethaneClass, Mine, MineGeometry, MineStatus, MiningMethod, Plant, PlantType,
    Pollutant, Port, Province, RoadClass, RoadLink, Station,
};

/// Shared state while reading all layers: bounds, problems so far, ids seen so far.
struct Validator {
    bounds: LonLatBounds,
    problems: Vec<DatasetProblem>,
    /// id → (file, feature index) of its first definition.
    ids: HashMap<String, (PathBuf, usize)>,
}

pub(super) fn read_province(
    dir: &Path,
    manifest: &Manifest,
    projected_epsg: u32,
) -> Result<Province, DatasetError> {
    let mut v = Validator {
        bounds: manifest.bounds,
        problems: Vec::new(),
        ids: HashMap::new(),
    };
    let l = &manifest.layers;
    let mut province = Province::default();
    province.name = manifest.name.clone();
    province.bounds = Some(manifest.bounds);
    province.projected_epsg = projected_epsg;
    province.districts = read_layer(&dir.join(&l.districts), &mut v, read_district)?;
    if let Some(p) = &l.stations {
        province.stations = read_layer(&dir.join(p), &mut v, read_station)?;
    }
    if let Some(p) = &l.mines {
        province.mines = read_layer(&dir.join(p), &mut v, read_mine)?;
    }
    if let Some(p) = &l.plants {
        province.plants = read_layer(&dir.join(p), &mut v, read_plant)?;
    }
    if let Some(p) = &l.ports {
        province.ports = read_layer(&dir.join(p), &mut v, read_port)?;
    }
    if let Some(p) = &l.roads {
        province.road_links = read_layer(&dir.join(p), &mut v, read_road)?;
    }
    if let Some(p) = &l.land {
        province.land = read_layer(&dir.join(p), &mut v, read_land)?;
    }
    if !v.problems.is_empty() {
        return Err(DatasetError::Invalid {
            problems: v.problems,
        });
    }
    province.rebuild_ids();
    Ok(province)
}

/// Reads a road layer on its own (a scenario's `roads` file, an import's output), checking
/// features against `bounds`; every problem is listed.
pub(super) fn read_roads(path: &Path, bounds: LonLatBounds) -> Result<Vec<RoadLink>, DatasetError> {
    let mut v = Validator {
        bounds,
        problems: Vec::new(),
        ids: HashMap::new(),
    };
    let roads = read_layer(path, &mut v, read_road)?;
    if !v.problems.is_empty() {
        return Err(DatasetError::Invalid {
            problems: v.problems,
        });
    }
    Ok(roads)
}

/// Reads one layer. I/O errors end the load; content problems are recorded in `v` and the
/// features without problems are returned.
fn read_layer<T>(
    path: &Path,
    v: &mut Validator,
    read: fn(&mut FeatureReader<'_>) -> Option<T>,
) -> Result<Vec<T>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file_problem = |message: String| DatasetProblem {
        path: path.to_path_buf(),
        location: Location::File,
        field: None,
        message,
    };
    let root: Value = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            v.problems
                .push(file_problem(format!("not valid JSON: {e}")));
            return Ok(Vec::new());
        }
    };
    if root.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
        v.problems.push(file_problem(
            "not a GeoJSON FeatureCollection (`type` must be \"FeatureCollection\")".into(),
        ));
        return Ok(Vec::new());
    }
    let Some(features) = root.get("features").and_then(Value::as_array) else {
        v.problems
            .push(file_problem("`features` is missing or not an array".into()));
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(features.len());
    for (index, feature) in features.iter().enumerate() {
        let mut r = FeatureReader::new(path, index, feature, v);
        if let Some(item) = read(&mut r).filter(|_| r.clean()) {
            out.push(item);
        }
    }
    Ok(out)
}

/// Reads the fields of one feature, recording problems as it goes.
struct FeatureReader<'a> {
    path: &'a Path,
    index: usize,
    id: Option<String>,
    feature: &'a Value,
    props: Option<&'a Map<String, Value>>,
    v: &'a mut Validator,
    problems_at_start: usize,
}

impl<'a> FeatureReader<'a> {
    fn new(path: &'a Path, index: usize, feature: &'a Value, v: &'a mut Validator) -> Self {
        let props = feature.get("properties").and_then(Value::as_object);
        let id = props
            .and_then(|p| p.get("id"))
            .or_else(|| feature.get("id"))
            .and_then(|x| match x {
                Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        let problems_at_start = v.problems.len();
        let mut r = Self {
            path,
            index,
            id,
            feature,
            props,
            v,
            problems_at_start,
        };
        if feature.get("type").and_then(Value::as_str) != Some("Feature") {
            r.problem(
                "type",
                "a GeoJSON Feature must have `\"type\": \"Feature\"`".into(),
            );
        }
        if r.props.is_none() {
            r.problem("properties", "missing or not an object".into());
        }
        match r.id.clone() {
            None => r.problem(
                "properties.id",
                "missing (every feature needs a unique id)".into(),
            ),
            Some(id) => match r.v.ids.get(&id) {
                Some((p, i)) => {
                    let msg = format!(
                        "duplicate id {id:?}: already used by feature #{i} of {}",
                        p.display()
                    );
                    r.problem("properties.id", msg);
                }
                None => {
                    r.v.ids.insert(id, (path.to_path_buf(), index));
                }
            },
        }
        r
    }

    fn problem(&mut self, field: &str, message: String) {
        self.v.problems.push(DatasetProblem {
            path: self.path.to_path_buf(),
            location: Location::Feature {
                index: self.index,
                id: self.id.clone(),
            },
            field: Some(field.to_string()),
            message,
        });
    }

    /// Whether this feature has had no problem so far.
    fn clean(&self) -> bool {
        self.v.problems.len() == self.problems_at_start
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.props.and_then(|p| p.get(key)).filter(|v| !v.is_null())
    }

    fn meta(&mut self, known: &[&str]) -> Option<FeatureMeta> {
        let name = self.string("name")?;
        let extra: BTreeMap<String, Value> = self
            .props
            .map(|p| {
                p.iter()
                    .filter(|(k, _)| k.as_str() != "id" && k.as_str() != "name")
                    .filter(|(k, _)| !known.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Some(FeatureMeta {
            id: self.id.clone()?,
            name,
            extra,
        })
    }

    /// A required non-empty string.
    fn string(&mut self, key: &str) -> Option<String> {
        match self.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                self.problem(&format!("properties.{key}"), "is empty".into());
                None
            }
            Some(other) => {
                let msg = format!("expected a string, found {}", json_kind(other));
                self.problem(&format!("properties.{key}"), msg);
                None
            }
            None => {
                self.problem(&format!("properties.{key}"), "missing".into());
                None
            }
        }
    }

    /// An optional string: `Ok(None)` when absent, `Err(())` after recording a problem.
    fn optional_string(&mut self, key: &str) -> Result<Option<String>, ()> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.string(key).map(Some).ok_or(()),
        }
    }

    /// An optional number: `Ok(None)` when absent, `Err(())` after recording a problem.
    fn optional_number(
        &mut self,
        key: &str,
        check: (fn(f64) -> bool, &str),
    ) -> Result<Option<f64>, ()> {
        match self.get(key) {
            None => Ok(None),
            Some(_) => self.number(key, check).map(Some).ok_or(()),
        }
    }

    /// A required finite number accepted by `check`, which describes the accepted range.
    fn number(&mut self, key: &str, check: (fn(f64) -> bool, &str)) -> Option<f64> {
        let field = format!("properties.{key}");
        match self.get(key) {
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() && check.0(x) => Some(x),
                Some(x) => {
                    self.problem(&field, format!("{x} is out of range (must be {})", check.1));
                    None
                }
                None => {
                    self.problem(&field, "not a representable number".into());
                    None
                }
            },
            Some(other) => {
                let msg = format!("expected a number, found {}", json_kind(other));
                self.problem(&field, msg);
                None
            }
            None => {
                self.problem(&field, "missing".into());
                None
            }
        }
    }

    fn boolean_or(&mut self, key: &str, default: bool) -> Option<bool> {
        match self.get(key) {
            None => Some(default),
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                let msg = format!("expected true or false, found {}", json_kind(other));
                self.problem(&format!("properties.{key}"), msg);
                None
            }
        }
    }

    /// A required string that must be one of `options`.
    fn choice<T: Copy>(&mut self, key: &str, options: &[(&str, T)]) -> Option<T> {
        let s = self.string(key)?;
        choose(&s, options).or_else(|| {
            let allowed: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            let msg = format!(
                "unknown value {s:?}; expected one of {}",
                allowed.join(", ")
            );
            self.problem(&format!("properties.{key}"), msg);
            None
        })
    }

    fn string_list(&mut self, key: &str) -> Option<Vec<String>> {
        let field = format!("properties.{key}");
        match self.get(key) {
            Some(Value::Array(items)) if !items.is_empty() => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item.as_str() {
                        Some(s) if !s.trim().is_empty() => out.push(s.to_string()),
                        _ => {
                            self.problem(
                                &format!("{field}[{i}]"),
                                "expected a non-empty string".into(),
                            );
                            return None;
                        }
                    }
                }
                Some(out)
            }
            Some(Value::Array(_)) => {
                self.problem(&field, "is empty".into());
                None
            }
            Some(other) => {
                let msg = format!("expected an array of strings, found {}", json_kind(other));
                self.problem(&field, msg);
                None
            }
            None => {
                self.problem(&field, "missing".into());
                None
            }
        }
    }

    // --- geometry -----------------------------------------------------------------------

    /// The geometry object, its `type` checked against `allowed`.
    fn geometry(&mut self, allowed: &[&str]) -> Option<(&'a str, &'a Value)> {
        let Some(g) = self.feature.get("geometry").filter(|g| !g.is_null()) else {
            self.problem("geometry", "missing".into());
            return None;
        };
        let Some(t) = g.get("type").and_then(Value::as_str) else {
            self.problem("geometry.type", "missing".into());
            return None;
        };
        if !allowed.contains(&t) {
            let msg = format!(
                "{t} is not accepted in this layer; expected {}",
                allowed.join(" or ")
            );
            self.problem("geometry.type", msg);
            return None;
        }
        let Some(c) = g.get("coordinates") else {
            self.problem("geometry.coordinates", "missing".into());
            return None;
        };
        Some((t, c))
    }

    /// One position `[lon, lat]`, checked against the dataset bounds.
    fn position(&mut self, v: &Value, at: &str) -> Option<Coord<f64>> {
        let nums = v.as_array().and_then(|a| {
            (a.len() >= 2)
                .then(|| {
                    a.iter()
                        .take(2)
                        .map(Value::as_f64)
                        .collect::<Option<Vec<f64>>>()
                })
                .flatten()
        });
        let Some(n) = nums else {
            self.problem(
                "geometry.coordinates",
                format!("{at}: expected [longitude, latitude]"),
            );
            return None;
        };
        let (lon, lat) = (n[0], n[1]);
        let b = self.v.bounds;
        if !lon.is_finite() || !lat.is_finite() || !b.contains(lon, lat) {
            let msg = format!(
                "{at}: ({lon}, {lat}) is outside the dataset bounds lon {}..{}, lat {}..{}",
                b.min_lon, b.max_lon, b.min_lat, b.max_lat
            );
            self.problem("geometry.coordinates", msg);
            return None;
        }
        Some(Coord { x: lon, y: lat })
    }

    fn positions(&mut self, v: &Value, at: &str) -> Option<Vec<Coord<f64>>> {
        let Some(items) = v.as_array() else {
            self.problem(
                "geometry.coordinates",
                format!("{at}: expected an array of positions"),
            );
            return None;
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, p) in items.iter().enumerate() {
            out.push(self.position(p, &format!("{at}[{i}]"))?);
        }
        Some(out)
    }

    fn point(&mut self) -> Option<Point<f64>> {
        let (_, c) = self.geometry(&["Point"])?;
        self.position(c, "position").map(Point)
    }

    fn line_string(&mut self) -> Option<LineString<f64>> {
        let (_, c) = self.geometry(&["LineString"])?;
        let pts = self.positions(c, "line")?;
        if pts.len() < 2 {
            self.problem(
                "geometry.coordinates",
                "a LineString needs at least 2 positions".into(),
            );
            return None;
        }
        if pts.windows(2).all(|w| w[0] == w[1]) {
            self.problem("geometry.coordinates", "the line has zero length".into());
            return None;
        }
        Some(LineString::new(pts))
    }

    fn polygon(&mut self, v: &Value, at: &str) -> Option<Polygon<f64>> {
        let Some(rings) = v.as_array().filter(|r| !r.is_empty()) else {
            self.problem(
                "geometry.coordinates",
                format!("{at}: expected an array of rings"),
            );
            return None;
        };
        let mut parsed = Vec::with_capacity(rings.len());
        for (i, r) in rings.iter().enumerate() {
            let at_ring = format!("{at} ring {i}");
            let pts = self.positions(r, &at_ring)?;
            if pts.len() < 4 {
                self.problem(
                    "geometry.coordinates",
                    format!("{at_ring}: a ring needs at least 4 positions"),
                );
                return None;
            }
            if pts.first() != pts.last() {
                self.problem(
                    "geometry.coordinates",
                    format!("{at_ring}: the ring is not closed (first position differs from last)"),
                );
                return None;
            }
            parsed.push(LineString::new(pts));
        }
        let exterior = parsed.remove(0);
        Some(Polygon::new(exterior, parsed))
    }

    /// A Polygon or MultiPolygon, validated (no self-intersection, no overlapping parts).
    fn area(&mut self, allowed: &[&str]) -> Option<MultiPolygon<f64>> {
        let (t, c) = self.geometry(allowed)?;
        let mp = if t == "Polygon" {
            MultiPolygon::new(vec![self.polygon(c, "polygon")?])
        } else {
            let Some(parts) = c.as_array().filter(|p| !p.is_empty()) else {
                self.problem(
                    "geometry.coordinates",
                    "expected an array of polygons".into(),
                );
                return None;
            };
            let mut polys = Vec::with_capacity(parts.len());
            for (i, p) in parts.iter().enumerate() {
                polys.push(self.polygon(p, &format!("polygon {i}"))?);
            }
            MultiPolygon::new(polys)
        };
        if let Err(e) = mp.check_validation() {
            self.problem("geometry", format!("invalid polygon: {e}"));
            return None;
        }
        Some(mp)
    }
}

fn choose<T: Copy>(s: &str, options: &[(&str, T)]) -> Option<T> {
    options.iter().find(|(n, _)| *n == s).map(|(_, t)| *t)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const POSITIVE: (fn(f64) -> bool, &str) = (|x| x > 0.0, "> 0");
const NON_NEGATIVE: (fn(f64) -> bool, &str) = (|x| x >= 0.0, ">= 0");
const EXIT_VELOCITY: (fn(f64) -> bool, &str) = (|x| x > 0.0 && x <= 100.0, "in (0, 100] m/s");
const EXIT_TEMPERATURE: (fn(f64) -> bool, &str) =
    (|x| (200.0..=2000.0).contains(&x), "in [200, 2000] K");
const LANES: (fn(f64) -> bool, &str) = (
    |x| (1.0..=12.0).contains(&x) && x.fract() == 0.0,
    "a whole number 1..12",
);
const SPEED: (fn(f64) -> bool, &str) = (|x| x > 0.0 && x <= 200.0, "in (0, 200] km/h");

// --- one reader per layer ----------------------------------------------------------------

fn read_district(r: &mut FeatureReader<'_>) -> Option<District> {
    let meta = r.meta(&["unit_type", "population_2019"]);
    let population = r.optional_number("population_2019", NON_NEGATIVE);
    let unit_type = r.choice(
        "unit_type",
        &[
            ("city", DistrictType::City),
            ("town", DistrictType::Town),
            ("district", DistrictType::District),
        ],
    );
    let geometry = r.area(&["Polygon", "MultiPolygon"]);
    Some(District {
        meta: meta?,
        unit_type: unit_type?,
        population_2019: population.ok()?,
        geometry: geometry?,
    })
}

fn read_station(r: &mut FeatureReader<'_>) -> Option<Station> {
    let meta = r.meta(&["medium", "parameters", "locality"]);
    let medium = r.choice("medium", &[("air", Medium::Air), ("water", Medium::Water)]);
    let parameters = r.string_list("parameters");
    let locality = r.string("locality");
    let location = r.point();
    Some(Station {
        meta: meta?,
        medium: medium?,
        parameters: parameters?,
        locality: locality?,
        location: location?,
    })
}

fn read_mine(r: &mut FeatureReader<'_>) -> Option<Mine> {
    let meta = r.meta(&[
        "mining_method",
        "status",
        "methane_class",
        "output_t_per_year",
    ]);
    let method = r.choice(
        "mining_method",
        &[
            ("underground", MiningMethod::Underground),
            ("open_pit", MiningMethod::OpenPit),
            (
                "underground_and_surface",
                MiningMethod::UndergroundAndSurface,
            ),
        ],
    );
    // optional: a dataset written before mines had a status lists producing mines
    let status = if r.get("status").is_some() {
        r.choice(
            "status",
            &[
                ("operating", MineStatus::Operating),
                ("proposed", MineStatus::Proposed),
                ("mothballed", MineStatus::Mothballed),
                ("shelved", MineStatus::Shelved),
                ("closed", MineStatus::Closed),
                ("cancelled", MineStatus::Cancelled),
            ],
        )
    } else {
        Some(MineStatus::Operating)
    };
    let methane_class = r.choice(
        "methane_class",
        &[
            ("I", MethaneClass::I),
            ("II", MethaneClass::II),
            ("III", MethaneClass::III),
            ("super", MethaneClass::Super),
            ("outburst", MethaneClass::Outburst),
        ],
    );
    let output = r.number("output_t_per_year", NON_NEGATIVE);
    let geometry = match r.feature.pointer("/geometry/type").and_then(Value::as_str) {
        Some("Point") => r.point().map(MineGeometry::Point),
        _ => r
            .area(&["Point", "Polygon", "MultiPolygon"])
            .map(MineGeometry::Area),
    };
    Some(Mine {
        meta: meta?,
        method: method?,
        status: status?,
        methane_class: methane_class?,
        output_t_per_year: output?,
        geometry: geometry?,
    })
}

fn read_plant(r: &mut FeatureReader<'_>) -> Option<Plant> {
    let meta = r.meta(&[
        "plant_type",
        "capacity",
        "stack_height_m",
        "stack_diameter_m",
        "exit_velocity_m_s",
        "exit_temperature_k",
        "emissions",
    ]);
    let plant_type = r.choice(
        "plant_type",
        &[
            ("thermal_power", PlantType::ThermalPower),
            ("cement", PlantType::Cement),
            ("other", PlantType::Other),
        ],
    );
    let capacity = read_capacity(r);
    let stack_height_m = r.number("stack_height_m", POSITIVE);
    let stack_diameter_m = r.number("stack_diameter_m", POSITIVE);
    let exit_velocity_m_s = r.optional_number("exit_velocity_m_s", EXIT_VELOCITY);
    let exit_temperature_k = r.optional_number("exit_temperature_k", EXIT_TEMPERATURE);
    let emissions = read_emissions(r);
    let location = r.point();
    let (capacity, capacity_unit) = capacity?;
    Some(Plant {
        meta: meta?,
        plant_type: plant_type?,
        capacity,
        capacity_unit,
        stack_height_m: stack_height_m?,
        stack_diameter_m: stack_diameter_m?,
        exit_velocity_m_s: exit_velocity_m_s.ok()?,
        exit_temperature_k: exit_temperature_k.ok()?,
        emissions: emissions?,
        location: location?,
    })
}

fn read_capacity(r: &mut FeatureReader<'_>) -> Option<(f64, CapacityUnit)> {
    let Some(c) = r.get("capacity") else {
        r.problem(
            "properties.capacity",
            "missing (an object {\"value\": …, \"unit\": …})".into(),
        );
        return None;
    };
    let value = c
        .get("value")
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v > 0.0);
    let unit = c.get("unit").and_then(Value::as_str);
    let Some(value) = value else {
        r.problem(
            "properties.capacity.value",
            "missing or not a positive number".into(),
        );
        return None;
    };
    let units = [
        ("MW", CapacityUnit::MegaWatt),
        ("Mt/yr", CapacityUnit::MegaTonnePerYear),
        ("t/yr", CapacityUnit::TonnePerYear),
    ];
    match unit.and_then(|u| choose(u, &units)) {
        Some(u) => Some((value, u)),
        None => {
            let msg = format!(
                "unknown unit {:?}; expected one of MW, Mt/yr, t/yr",
                unit.unwrap_or("")
            );
            r.problem("properties.capacity.unit", msg);
            None
        }
    }
}

fn read_emissions(r: &mut FeatureReader<'_>) -> Option<Vec<EmissionRate>> {
    let Some(list) = r.get("emissions") else {
        return Some(Vec::new());
    };
    let Some(items) = list.as_array() else {
        r.problem(
            "properties.emissions",
            "expected an array of {pollutant, rate, unit}".into(),
        );
        return None;
    };
    let mut out: Vec<EmissionRate> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, e) in items.iter().enumerate() {
        let field = format!("properties.emissions[{i}]");
        let pollutant = e.get("pollutant").and_then(Value::as_str);
        let Some(p) = pollutant.and_then(Pollutant::parse) else {
            let names: Vec<&str> = Pollutant::ALL.iter().map(|(_, n)| *n).collect();
            let msg = format!(
                "unknown pollutant {:?}; expected one of {}",
                pollutant.unwrap_or(""),
                names.join(", ")
            );
            r.problem(&format!("{field}.pollutant"), msg);
            ok = false;
            continue;
        };
        let Some(rate) = e
            .get("rate")
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v >= 0.0)
        else {
            r.problem(
                &format!("{field}.rate"),
                "missing or not a number >= 0".into(),
            );
            ok = false;
            continue;
        };
        let unit = e.get("unit").and_then(Value::as_str).unwrap_or("");
        let Some(factor) = choose(unit, &EMISSION_UNITS) else {
            let names: Vec<&str> = EMISSION_UNITS.iter().map(|(n, _)| *n).collect();
            r.problem(
                &format!("{field}.unit"),
                format!(
                    "unknown unit {unit:?}; expected one of {}",
                    names.join(", ")
                ),
            );
            ok = false;
            continue;
        };
        if out.iter().any(|x| x.pollutant == p) {
            r.problem(
                &format!("{field}.pollutant"),
                format!("{} is listed twice", p.as_str()),
            );
            ok = false;
            continue;
        }
        out.push(EmissionRate {
            pollutant: p,
            grams_per_second: rate * factor,
        });
    }
    ok.then_some(out)
}

fn read_port(r: &mut FeatureReader<'_>) -> Option<Port> {
    let meta = r.meta(&["cargo"]);
    let cargo = r.string("cargo");
    let location = r.point();
    Some(Port {
        meta: meta?,
        cargo: cargo?,
        location: location?,
    })
}

fn read_road(r: &mut FeatureReader<'_>) -> Option<RoadLink> {
    let meta = r.meta(&[
        "ref",
        "class",
        "lanes",
        "oneway",
        "free_flow_speed_kmh",
        "capacity_veh_h_lane",
    ]);
    let road_ref = r.optional_string("ref");
    let class = r.choice(
        "class",
        &[
            ("expressway", RoadClass::Expressway),
            ("trunk", RoadClass::Trunk),
            ("primary", RoadClass::Primary),
            ("secondary", RoadClass::Secondary),
            ("tertiary", RoadClass::Tertiary),
            ("residential", RoadClass::Residential),
        ],
    );
    let lanes = r.number("lanes", LANES);
    let oneway = r.boolean_or("oneway", false);
    let speed = r.number("free_flow_speed_kmh", SPEED);
    let capacity = r.number("capacity_veh_h_lane", POSITIVE);
    let geometry = r.line_string();
    Some(RoadLink {
        meta: meta?,
        road_ref: road_ref.ok()?,
        class: class?,
        lanes: lanes? as u32,
        oneway: oneway?,
        free_flow_speed_kmh: speed?,
        capacity_veh_h_lane: capacity?,
        geometry: geometry?,
    })
}

fn read_land(r: &mut FeatureReader<'_>) -> Option<LandArea> {
    let meta = r.meta(&["country"]);
    let country = r.string("country");
    let geometry = r.area(&["Polygon", "MultiPolygon"]);
    Some(LandArea {
        meta: meta?,
        country: country?,
        geometry: geometry?,
    })
}
