//! The OGC SensorThings API 1.1 (OGC 18-088) read side over the dataset and the lake, free of
//! any HTTP stack: [`Api::get`] takes a resource path, the decoded query pairs and the service
//! root URL, and answers a status and a JSON body. `twin serve` (in the CLI) puts it behind
//! axum.
//!
//! Entities:
//! - **Things**: the dataset's stations and mines (`@iot.id` = the site id); each has one
//!   **Location** and is its own **FeatureOfInterest** (same id: the site's point).
//! - **Sensors** and **ObservedProperties**: one per parameter (`@iot.id` = the parameter).
//! - **Datastreams** `<site>:<parameter>`: a station's declared parameters and every series the
//!   lake holds; `unitOfMeasurement` is the parameter's canonical unit.
//! - **Observations** (from the lake, [`store::Store`]): `@iot.id` =
//!   `<site>:<parameter>:<epoch ms>`, `phenomenonTime` = `resultTime` = the reading's time (the
//!   end of its averaging period), `result` in the canonical unit, `parameters.status`.
//!
//! Query options: see [`odata`]. Collections are paged (`$top` default 100, at most
//! [`odata::MAX_TOP`]) with `@iot.nextLink`; every entity has `@iot.selfLink` and its
//! navigation links. Extensions beyond the standard (FROST has none of them) are in [`ext`].

pub mod ext;
pub mod odata;
pub mod store;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::dataset::Dataset;
use crate::telemetry::observations::canonical_unit;
use crate::telemetry::time::rfc3339_ms as rfc3339;
use odata::{Expand, Options, Source, Val, compare, eval, time_bounds};
use store::{STATUSES, Store};

/// Entity types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Things (stations, mines).
    Thing,
    /// Locations.
    Location,
    /// HistoricalLocations (none: sites do not move).
    HistoricalLocation,
    /// Sensors.
    Sensor,
    /// ObservedProperties.
    ObservedProperty,
    /// Datastreams.
    Datastream,
    /// Observations.
    Observation,
    /// FeaturesOfInterest.
    FeatureOfInterest,
}

const KINDS: [(Kind, &str, &str); 8] = [
    (Kind::Thing, "Things", "Thing"),
    (Kind::Location, "Locations", "Location"),
    (
        Kind::HistoricalLocation,
        "HistoricalLocations",
        "HistoricalLocation",
    ),
    (Kind::Sensor, "Sensors", "Sensor"),
    (
        Kind::ObservedProperty,
        "ObservedProperties",
        "ObservedProperty",
    ),
    (Kind::Datastream, "Datastreams", "Datastream"),
    (Kind::Observation, "Observations", "Observation"),
    (
        Kind::FeatureOfInterest,
        "FeaturesOfInterest",
        "FeatureOfInterest",
    ),
];

impl Kind {
    /// The entity set's name (`Things`).
    pub fn plural(self) -> &'static str {
        KINDS.iter().find(|k| k.0 == self).map_or("", |k| k.1)
    }

    fn from_plural(s: &str) -> Option<Self> {
        KINDS.iter().find(|k| k.1 == s).map(|k| k.0)
    }

    /// Navigation properties: (name, target kind, to-many).
    fn navigation(self) -> &'static [(&'static str, Kind, bool)] {
        match self {
            Kind::Thing => &[
                ("Datastreams", Kind::Datastream, true),
                ("Locations", Kind::Location, true),
                ("HistoricalLocations", Kind::HistoricalLocation, true),
            ],
            Kind::Location => &[
                ("Things", Kind::Thing, true),
                ("HistoricalLocations", Kind::HistoricalLocation, true),
            ],
            Kind::HistoricalLocation => &[],
            Kind::Sensor | Kind::ObservedProperty => &[("Datastreams", Kind::Datastream, true)],
            Kind::Datastream => &[
                ("Thing", Kind::Thing, false),
                ("Sensor", Kind::Sensor, false),
                ("ObservedProperty", Kind::ObservedProperty, false),
                ("Observations", Kind::Observation, true),
            ],
            Kind::Observation => &[
                ("Datastream", Kind::Datastream, false),
                ("FeatureOfInterest", Kind::FeatureOfInterest, false),
            ],
            Kind::FeatureOfInterest => &[("Observations", Kind::Observation, true)],
        }
    }
}

/// An API answer: HTTP status and JSON body (errors: `{"code", "type", "message"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Value,
}

impl Response {
    fn ok(body: Value) -> Self {
        Self { status: 200, body }
    }

    /// An error answer.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        let kind = match status {
            400 => "error",
            401 => "unauthorized",
            404 => "not found",
            _ => "error",
        };
        Self {
            status,
            body: json!({"code": status, "type": kind, "message": message.into()}),
        }
    }
}

/// A site (station or mine) as a Thing.
#[derive(Debug, Clone)]
struct Site {
    id: String,
    name: String,
    description: String,
    properties: Value,
    lon: f64,
    lat: f64,
}

/// A default page size.
pub const DEFAULT_TOP: usize = 100;

/// The dataset's sites and parameters, and the lake's observations.
pub struct Api {
    sites: BTreeMap<String, Site>,
    /// Declared (site, parameter) pairs (stations' parameter lists).
    declared: Vec<(String, String)>,
    /// The lake's observations.
    pub store: Store,
}

/// Percent-encodes a query value (everything but unreserved characters).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A query string from pairs.
pub fn query_string(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// One observation, read in place.
struct ObsView<'a> {
    site: &'a str,
    param: &'a str,
    t: i64,
    v: f64,
    status: u8,
}

impl ObsView<'_> {
    fn id(&self) -> String {
        format!("{}:{}:{}", self.site, self.param, self.t)
    }
}

impl Source for ObsView<'_> {
    fn get(&self, path: &[String]) -> Val {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        match p.as_slice() {
            ["id"] | ["@iot.id"] => Val::Str(self.id()),
            ["phenomenonTime"] | ["resultTime"] => Val::Time(self.t),
            ["result"] => Val::Num(self.v),
            ["parameters", "status"] => Val::Str(STATUSES[usize::from(self.status)].into()),
            ["Datastream", "id"] | ["Datastream", "@iot.id"] => {
                Val::Str(format!("{}:{}", self.site, self.param))
            }
            ["FeatureOfInterest", "id"] | ["FeatureOfInterest", "@iot.id"] => {
                Val::Str(self.site.to_string())
            }
            _ => Val::Null,
        }
    }
}

/// What a path names.
enum Target {
    /// One entity.
    One(Kind, String),
    /// A collection of catalogue entities (ids).
    Many(Kind, Vec<String>),
    /// Observations of these datastreams (`None`: all).
    Obs(Option<Vec<(String, String)>>),
}

impl Api {
    /// The API over a dataset and a store (load it with [`Store::refresh`]).
    pub fn new(ds: &Dataset, store: Store) -> Self {
        let mut sites = BTreeMap::new();
        let mut declared = Vec::new();
        for s in &ds.province.stations {
            let medium = format!("{:?}", s.medium).to_lowercase();
            sites.insert(
                s.meta.id.clone(),
                Site {
                    id: s.meta.id.clone(),
                    name: s.meta.name.clone(),
                    description: format!("{medium} monitoring station, {}", s.locality),
                    properties: json!({"kind": "station", "medium": medium, "locality": s.locality,
                        "parameters": s.parameters}),
                    lon: s.location.x(),
                    lat: s.location.y(),
                },
            );
            for p in &s.parameters {
                declared.push((s.meta.id.clone(), p.clone()));
            }
        }
        for m in &ds.province.mines {
            use geo::Centroid;
            let c = match &m.geometry {
                crate::model::MineGeometry::Point(p) => Some(*p),
                crate::model::MineGeometry::Area(a) => a.centroid(),
            };
            let Some(c) = c else { continue };
            sites.insert(
                m.meta.id.clone(),
                Site {
                    id: m.meta.id.clone(),
                    name: m.meta.name.clone(),
                    description: format!("coal mine ({}, {})", m.method.as_str(), m.status.as_str()),
                    properties: json!({"kind": "mine", "mining_method": m.method.as_str(),
                        "status": m.status.as_str(),
                        "methane_class": format!("{:?}", m.methane_class), "output_t_per_year": m.output_t_per_year}),
                    lon: c.x(),
                    lat: c.y(),
                },
            );
        }
        Self {
            sites,
            declared,
            store,
        }
    }

    /// Every datastream: declared and held, (site, parameter), sorted.
    fn datastreams(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self
            .declared
            .iter()
            .cloned()
            .chain(self.store.series.keys().cloned())
            .filter(|(s, _)| self.sites.contains_key(s))
            .collect();
        all.sort();
        all.dedup();
        all
    }

    fn parameters(&self) -> Vec<String> {
        let mut p: Vec<String> = self.datastreams().into_iter().map(|d| d.1).collect();
        p.sort();
        p.dedup();
        p
    }

    fn split_ds(id: &str) -> Option<(&str, &str)> {
        id.split_once(':')
    }

    fn exists(&self, kind: Kind, id: &str) -> bool {
        match kind {
            Kind::Thing | Kind::Location | Kind::FeatureOfInterest => self.sites.contains_key(id),
            Kind::Sensor | Kind::ObservedProperty => self.parameters().iter().any(|p| p == id),
            Kind::Datastream => Self::split_ds(id)
                .is_some_and(|(s, p)| self.datastreams().iter().any(|d| d.0 == s && d.1 == p)),
            Kind::Observation => self.observation(id).is_some(),
            Kind::HistoricalLocation => false,
        }
    }

    /// The observation `<site>:<parameter>:<ms>`: (site, parameter, index in its series).
    fn observation(&self, id: &str) -> Option<(String, String, usize)> {
        let (ds, ms) = id.rsplit_once(':')?;
        let (site, param) = Self::split_ds(ds)?;
        let t: i64 = ms.parse().ok()?;
        let s = self
            .store
            .series
            .get(&(site.to_string(), param.to_string()))?;
        let i = s.t.binary_search(&t).ok()?;
        Some((site.to_string(), param.to_string(), i))
    }

    fn all_ids(&self, kind: Kind) -> Vec<String> {
        match kind {
            Kind::Thing | Kind::Location | Kind::FeatureOfInterest => {
                self.sites.keys().cloned().collect()
            }
            Kind::Sensor | Kind::ObservedProperty => self.parameters(),
            Kind::Datastream => self
                .datastreams()
                .into_iter()
                .map(|(s, p)| format!("{s}:{p}"))
                .collect(),
            Kind::Observation | Kind::HistoricalLocation => Vec::new(),
        }
    }

    /// Follows a navigation property from one entity.
    fn navigate(&self, kind: Kind, id: &str, nav: &str) -> Option<Target> {
        let &(_, to, many) = kind.navigation().iter().find(|n| n.0 == nav)?;
        let ds_of = |f: &dyn Fn(&(String, String)) -> bool| -> Vec<String> {
            self.datastreams()
                .into_iter()
                .filter(|d| f(d))
                .map(|(s, p)| format!("{s}:{p}"))
                .collect()
        };
        Some(match (kind, to) {
            (_, Kind::HistoricalLocation) => Target::Many(to, Vec::new()),
            (Kind::Thing, Kind::Datastream) => Target::Many(to, ds_of(&|d| d.0 == id)),
            (Kind::Thing, Kind::Location) | (Kind::Location, Kind::Thing) => {
                Target::Many(to, vec![id.to_string()])
            }
            (Kind::Sensor | Kind::ObservedProperty, Kind::Datastream) => {
                Target::Many(to, ds_of(&|d| d.1 == id))
            }
            (Kind::Datastream, Kind::Thing) => Target::One(to, Self::split_ds(id)?.0.to_string()),
            (Kind::Datastream, Kind::Sensor | Kind::ObservedProperty) => {
                Target::One(to, Self::split_ds(id)?.1.to_string())
            }
            (Kind::Datastream, Kind::Observation) => {
                let (s, p) = Self::split_ds(id)?;
                Target::Obs(Some(vec![(s.to_string(), p.to_string())]))
            }
            (Kind::Observation, Kind::Datastream) => {
                let (s, p, _) = self.observation(id)?;
                Target::One(to, format!("{s}:{p}"))
            }
            (Kind::Observation, Kind::FeatureOfInterest) => {
                Target::One(to, self.observation(id)?.0)
            }
            (Kind::FeatureOfInterest, Kind::Observation) => Target::Obs(Some(
                self.datastreams()
                    .into_iter()
                    .filter(|d| d.0 == id)
                    .collect(),
            )),
            _ if many => Target::Many(to, Vec::new()),
            _ => return None,
        })
    }

    /// An entity's own properties (no links).
    fn entity(&self, kind: Kind, id: &str) -> Option<Value> {
        let point = |s: &Site| json!({"type": "Point", "coordinates": [s.lon, s.lat]});
        Some(match kind {
            Kind::Thing => {
                let s = self.sites.get(id)?;
                json!({"@iot.id": s.id, "name": s.name, "description": s.description,
                    "properties": s.properties})
            }
            Kind::Location => {
                let s = self.sites.get(id)?;
                json!({"@iot.id": s.id, "name": s.name, "description": format!("location of {}", s.name),
                    "encodingType": "application/geo+json", "location": point(s)})
            }
            Kind::FeatureOfInterest => {
                let s = self.sites.get(id)?;
                json!({"@iot.id": s.id, "name": s.name, "description": format!("the air, water or mine atmosphere sampled at {}", s.name),
                    "encodingType": "application/geo+json", "feature": point(s)})
            }
            Kind::Sensor => json!({"@iot.id": id, "name": format!("{id} analyser"),
                "description": format!("instruments reporting {id}"), "encodingType": "text/plain",
                "metadata": format!("{id} readings normalised to {}", canonical_unit(id).unwrap_or(""))}),
            Kind::ObservedProperty => json!({"@iot.id": id, "name": id,
                "definition": format!("urn:qn-twin:parameter:{id}"),
                "description": format!("{id} as the province's monitoring network reports it")}),
            Kind::Datastream => {
                let (s, p) = Self::split_ds(id)?;
                let site = self.sites.get(s)?;
                let unit = canonical_unit(p).unwrap_or("");
                let mut d = json!({"@iot.id": id, "name": format!("{p} at {}", site.name),
                    "description": format!("{p} readings of {}", site.id),
                    "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                    "unitOfMeasurement": {"name": unit, "symbol": unit, "definition": format!("urn:qn-twin:unit:{unit}")},
                    "properties": {}});
                if let Some(series) = self.store.series.get(&(s.to_string(), p.to_string()))
                    && let (Some(a), Some(b)) = (series.t.first(), series.t.last())
                {
                    d["phenomenonTime"] = json!(format!("{}/{}", rfc3339(*a), rfc3339(*b)));
                }
                d
            }
            Kind::Observation => {
                let (s, p, i) = self.observation(id)?;
                let series = self.store.series.get(&(s.clone(), p.clone()))?;
                self.obs_json(&ObsView {
                    site: &s,
                    param: &p,
                    t: series.t[i],
                    v: series.v[i],
                    status: series.status[i],
                })
            }
            Kind::HistoricalLocation => return None,
        })
    }

    fn obs_json(&self, o: &ObsView) -> Value {
        let t = rfc3339(o.t);
        json!({"@iot.id": o.id(), "phenomenonTime": t, "resultTime": t, "result": o.v,
            "parameters": {"status": STATUSES[usize::from(o.status)]}})
    }

    /// Adds the self and navigation links, the expansions and the selection.
    fn decorate(&self, kind: Kind, mut e: Value, o: &Options, root: &str) -> Result<Value, String> {
        let id = e
            .get("@iot.id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let me = format!("{root}/{}('{}')", kind.plural(), id);
        if let Some(m) = e.as_object_mut() {
            m.insert("@iot.selfLink".into(), json!(me));
            for (nav, _, _) in kind.navigation() {
                m.insert(
                    format!("{nav}@iot.navigationLink"),
                    json!(format!("{me}/{nav}")),
                );
            }
        }
        for x in &o.expand {
            self.expand(kind, &id, x, &mut e, root)?;
        }
        if let Some(sel) = &o.select {
            let keep = |k: &str| {
                sel.iter().any(|s| {
                    s == k
                        || (s == "id" && k == "@iot.id")
                        || (s == "selfLink" && k == "@iot.selfLink")
                        || o.expand
                            .iter()
                            .any(|x| k == x.nav || k.starts_with(&format!("{}@", x.nav)))
                })
            };
            if let Some(m) = e.as_object_mut() {
                m.retain(|k, _| keep(k));
            }
        }
        Ok(e)
    }

    fn expand(
        &self,
        kind: Kind,
        id: &str,
        x: &Expand,
        e: &mut Value,
        root: &str,
    ) -> Result<(), String> {
        let target = self.navigate(kind, id, &x.nav).ok_or_else(|| {
            format!(
                "$expand: {} has no navigation property `{}`",
                kind.plural(),
                x.nav
            )
        })?;
        let base = format!("{root}/{}('{}')/{}", kind.plural(), id, x.nav);
        let m = match e.as_object_mut() {
            Some(m) => m,
            None => return Ok(()),
        };
        match target {
            Target::One(k, i) => {
                if let Some(v) = self.entity(k, &i) {
                    m.insert(x.nav.clone(), self.decorate(k, v, &x.options, root)?);
                }
            }
            other => {
                let page = self.collection(other, &x.options, root, &base, &[])?;
                for (k, v) in page.as_object().into_iter().flatten() {
                    match k.as_str() {
                        "value" => m.insert(x.nav.clone(), v.clone()),
                        _ => m.insert(format!("{}{k}", x.nav), v.clone()),
                    };
                }
            }
        }
        Ok(())
    }

    /// A page of a collection (`{"@iot.count"?, "value", "@iot.nextLink"?}`); `self_url` and
    /// `query` make the next link.
    fn collection(
        &self,
        target: Target,
        o: &Options,
        root: &str,
        self_url: &str,
        query: &[(String, String)],
    ) -> Result<Value, String> {
        let top = o.top.unwrap_or(DEFAULT_TOP);
        let (items, total, more): (Vec<Value>, usize, bool) = match target {
            Target::One(..) => return Err("not a collection".into()),
            Target::Many(kind, ids) => {
                let mut ents: Vec<Value> =
                    ids.iter().filter_map(|i| self.entity(kind, i)).collect();
                if let Some(f) = &o.filter {
                    ents.retain(|e| eval(f, e) == Val::Bool(true));
                }
                sort_values(&mut ents, &o.orderby);
                let total = ents.len();
                let more = o.skip.saturating_add(top) < total;
                let page: Vec<Value> = ents.into_iter().skip(o.skip).take(top).collect();
                let mut out = Vec::with_capacity(page.len());
                for e in page {
                    out.push(self.decorate(kind, e, o, root)?);
                }
                (out, total, more)
            }
            Target::Obs(keys) => {
                let keys = keys.unwrap_or_else(|| self.store.series.keys().cloned().collect());
                let (page, total, more) = self.observations(&keys, o, top);
                let mut out = Vec::with_capacity(page.len());
                for v in page {
                    out.push(self.decorate(Kind::Observation, self.obs_json(&v), o, root)?);
                }
                (out, total, more)
            }
        };
        let mut body = Map::new();
        if o.count {
            body.insert("@iot.count".into(), json!(total));
        }
        body.insert("value".into(), Value::Array(items));
        // `$top=0` asks for a count only: a next link would not move on
        if more && top > 0 {
            let mut q: Vec<(String, String)> = query
                .iter()
                .filter(|(k, _)| k != "$skip" && k != "$top")
                .cloned()
                .collect();
            q.push(("$top".into(), top.to_string()));
            q.push(("$skip".into(), o.skip.saturating_add(top).to_string()));
            body.insert(
                "@iot.nextLink".into(),
                json!(format!("{self_url}?{}", query_string(&q))),
            );
        }
        Ok(Value::Object(body))
    }

    /// Observations of `keys` matching `o`: a page, the count (when asked; else the number
    /// seen), and whether more follow.
    fn observations<'a>(
        &'a self,
        keys: &'a [(String, String)],
        o: &Options,
        top: usize,
    ) -> (Vec<ObsView<'a>>, usize, bool) {
        let (lo, hi) = o.filter.as_ref().map_or((i64::MIN, i64::MAX), time_bounds);
        let matches = |v: &ObsView| {
            o.filter
                .as_ref()
                .is_none_or(|f| eval(f, v) == Val::Bool(true))
        };
        let by_time_only = o.orderby.is_empty()
            || (o.orderby.len() == 1
                && o.orderby[0].0.len() == 1
                && o.orderby[0].0[0] == "phenomenonTime");
        let desc = by_time_only && o.orderby.first().is_some_and(|k| k.1);
        let series: Vec<(&str, &str, &store::Series, std::ops::Range<usize>)> = keys
            .iter()
            .filter_map(|(s, p)| {
                let se = self.store.series.get(&(s.clone(), p.clone()))?;
                Some((s.as_str(), p.as_str(), se, se.range(lo, hi)))
            })
            .collect();
        let view = |k: usize, i: usize| {
            let (s, p, se, _) = &series[k];
            ObsView {
                site: s,
                param: p,
                t: se.t[i],
                v: se.v[i],
                status: se.status[i],
            }
        };
        if by_time_only && series.len() <= 1 {
            // one series in time order: walk it, counting only when asked
            let Some((_, _, _, r)) = series.first() else {
                return (Vec::new(), 0, false);
            };
            let idx: Box<dyn Iterator<Item = usize>> = if desc {
                Box::new(r.clone().rev())
            } else {
                Box::new(r.clone())
            };
            let (mut page, mut seen, mut more) = (Vec::new(), 0usize, false);
            for i in idx {
                let v = view(0, i);
                if !matches(&v) {
                    continue;
                }
                if seen >= o.skip && page.len() < top {
                    page.push(v);
                } else if seen >= o.skip.saturating_add(top) {
                    more = true;
                    if !o.count {
                        break;
                    }
                }
                seen += 1;
            }
            return (page, seen, more);
        }
        // several series or another order: collect the matches, then sort
        let mut hits: Vec<(usize, usize)> = Vec::new();
        for (k, (_, _, _, r)) in series.iter().enumerate() {
            for i in r.clone() {
                if matches(&view(k, i)) {
                    hits.push((k, i));
                }
            }
        }
        if !o.orderby.is_empty() {
            hits.sort_by(|a, b| {
                let (va, vb) = (view(a.0, a.1), view(b.0, b.1));
                for (path, d) in &o.orderby {
                    let ord =
                        compare(&va.get(path), &vb.get(path)).unwrap_or(std::cmp::Ordering::Equal);
                    let ord = if *d { ord.reverse() } else { ord };
                    if ord.is_ne() {
                        return ord;
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        let total = hits.len();
        let more = o.skip.saturating_add(top) < total;
        let page = hits
            .into_iter()
            .skip(o.skip)
            .take(top)
            .map(|(k, i)| view(k, i))
            .collect();
        (page, total, more)
    }

    /// Answers `GET {root}/{path}?{query}`: `path` is the part after the version (e.g.
    /// `Datastreams('st-1:PM2.5')/Observations`), `query` the decoded pairs, `root` the service
    /// root URL (`http://host:port/v1.1`).
    pub fn get(&self, path: &str, query: &[(String, String)], root: &str) -> Response {
        let path = path.trim_matches('/');
        if path.is_empty() {
            return Response::ok(self.index(root));
        }
        let o = match Options::parse(query) {
            Ok(o) => o,
            Err(e) => return Response::error(400, e),
        };
        let mut target: Option<Target> = None;
        for seg in path.split('/') {
            let (name, id) = match seg.find('(') {
                Some(i) if seg.ends_with(')') => {
                    let raw = &seg[i + 1..seg.len() - 1];
                    let id = raw
                        .strip_prefix('\'')
                        .and_then(|r| r.strip_suffix('\''))
                        .map_or(raw.to_string(), |r| r.replace("''", "'"));
                    (&seg[..i], Some(id))
                }
                _ => (seg, None),
            };
            target = Some(match (target, id) {
                (None, None) => match Kind::from_plural(name) {
                    Some(Kind::Observation) => Target::Obs(None),
                    Some(k) => Target::Many(k, self.all_ids(k)),
                    None => return Response::error(404, format!("no entity set `{name}`")),
                },
                (None, Some(id)) => match Kind::from_plural(name) {
                    Some(k) if self.exists(k, &id) => Target::One(k, id),
                    Some(k) => return Response::error(404, format!("no {} `{id}`", k.plural())),
                    None => return Response::error(404, format!("no entity set `{name}`")),
                },
                (Some(Target::One(k, i)), None) => match self.navigate(k, &i, name) {
                    Some(t) => t,
                    None => {
                        return Response::error(
                            404,
                            format!("{} has no navigation property `{name}`", k.plural()),
                        );
                    }
                },
                _ => return Response::error(400, format!("`{seg}` cannot follow a collection")),
            });
        }
        let self_url = format!("{root}/{path}");
        match target {
            Some(Target::One(k, id)) => match self.entity(k, &id) {
                Some(e) => match self.decorate(k, e, &o, root) {
                    Ok(v) => Response::ok(v),
                    Err(m) => Response::error(400, m),
                },
                None => Response::error(404, format!("no {} `{id}`", k.plural())),
            },
            Some(t) => match self.collection(t, &o, root, &self_url, query) {
                Ok(v) => Response::ok(v),
                Err(m) => Response::error(400, m),
            },
            None => Response::error(404, "empty path"),
        }
    }

    /// The service root document.
    fn index(&self, root: &str) -> Value {
        let value: Vec<Value> = KINDS
            .iter()
            .filter(|k| k.0 != Kind::HistoricalLocation)
            .map(|k| json!({"name": k.1, "url": format!("{root}/{}", k.1)}))
            .collect();
        json!({"value": value, "serverSettings": {"conformance": [
            "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
        ], "extensions": format!("{root}/ext (latest, aggregate, aqi: see the README)")}})
    }

    /// Whether `id` is a known site.
    pub fn has_site(&self, id: &str) -> bool {
        self.sites.contains_key(id)
    }
}

/// Sorts entities by `$orderby` keys (values that do not compare keep their order).
fn sort_values(items: &mut [Value], keys: &[odata::OrderKey]) {
    if keys.is_empty() {
        return;
    }
    items.sort_by(|a, b| {
        for (path, desc) in keys {
            let o = compare(&Source::get(a, path), &Source::get(b, path))
                .unwrap_or(std::cmp::Ordering::Equal);
            let o = if *desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
}
