//! OpenStreetMap PBF import: motor roads (`highway` = motorway … residential, their `_link`s,
//! and unclassified) into road links the traffic model and the dataset loader read. Ways are
//! split at every node shared with another kept way (and where they leave the bounding box), so
//! links meet only at their ends. Missing tags get defaults per class (see [`class_defaults`]).
//!
//! Two passes over the file: ways first (which nodes are needed, and how often), then the
//! coordinates of only those nodes, so memory follows the road network, not the extract.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use osmpbf::{Element, ElementReader};
use serde_json::{Value, json};

use crate::geodesy::LonLatBounds;
use crate::model::RoadClass;

/// Errors from the importer, naming the file (and the way, where there is one).
#[derive(Debug, thiserror::Error)]
pub enum OsmError {
    /// The file could not be read or decoded.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
}

/// Defaults for a `highway` value: (class, lanes per direction, km/h, veh/h per lane, implied
/// oneway). `None` for values that are not motor roads.
pub fn class_defaults(highway: &str) -> Option<(RoadClass, u32, f64, f64, bool)> {
    Some(match highway {
        "motorway" => (RoadClass::Expressway, 2, 100.0, 2100.0, true),
        "motorway_link" => (RoadClass::Expressway, 1, 60.0, 1800.0, true),
        "trunk" => (RoadClass::Trunk, 2, 80.0, 1900.0, false),
        "trunk_link" => (RoadClass::Trunk, 1, 50.0, 1700.0, false),
        "primary" => (RoadClass::Primary, 1, 60.0, 1800.0, false),
        "primary_link" => (RoadClass::Primary, 1, 40.0, 1600.0, false),
        "secondary" => (RoadClass::Secondary, 1, 50.0, 1600.0, false),
        "secondary_link" => (RoadClass::Secondary, 1, 40.0, 1500.0, false),
        "tertiary" => (RoadClass::Tertiary, 1, 40.0, 1400.0, false),
        "tertiary_link" => (RoadClass::Tertiary, 1, 30.0, 1300.0, false),
        "unclassified" => (RoadClass::Tertiary, 1, 40.0, 1200.0, false),
        "residential" => (RoadClass::Residential, 1, 30.0, 1000.0, false),
        _ => return None,
    })
}

fn class_name(c: RoadClass) -> &'static str {
    match c {
        RoadClass::Expressway => "expressway",
        RoadClass::Trunk => "trunk",
        RoadClass::Primary => "primary",
        RoadClass::Secondary => "secondary",
        RoadClass::Tertiary => "tertiary",
        RoadClass::Residential => "residential",
    }
}

/// Highest free-flow speed the dataset's road layer accepts, km/h.
pub const MAX_SPEED_KMH: f64 = 200.0;
/// Most lanes per direction the dataset's road layer accepts.
pub const MAX_LANES: u32 = 12;

/// `maxspeed` in km/h: "50", "50 km/h", "30 mph"; `None` for "none", "walk", signals, zero,
/// negative or non-finite values. Values above [`MAX_SPEED_KMH`] are returned as they are (the
/// importer clamps them and says so).
pub fn parse_maxspeed(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, factor) = if let Some(n) = s.strip_suffix("mph") {
        (n.trim(), 1.609_344)
    } else if let Some(n) = s.strip_suffix("km/h") {
        (n.trim(), 1.0)
    } else if let Some(n) = s.strip_suffix("kmh") {
        (n.trim(), 1.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>()
        .ok()
        .map(|v| v * factor)
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// Oneway from tags: `Some(true)` forward only, `Some(false)` both ways, `None` reversed (-1).
fn oneway(tags: &HashMap<String, String>, implied: bool) -> Option<bool> {
    let implied = implied || tags.get("junction").is_some_and(|j| j == "roundabout");
    match tags.get("oneway").map(String::as_str) {
        Some("yes" | "true" | "1") => Some(true),
        Some("-1" | "reverse") => None,
        Some("no" | "false" | "0") => Some(false),
        _ => Some(implied),
    }
}

struct KeptWay {
    id: i64,
    refs: Vec<i64>,
    tags: HashMap<String, String>,
    class: RoadClass,
    lanes: u32,
    speed: f64,
    capacity: f64,
    oneway: bool,
}

/// What an import produced.
#[derive(Debug, Clone, PartialEq)]
pub struct OsmImport {
    /// A GeoJSON FeatureCollection of road links (the dataset road layer's schema).
    pub geojson: Value,
    /// Ways kept.
    pub ways: usize,
    /// Links written (ways split at shared nodes).
    pub links: usize,
    /// Ways skipped because `highway` is not a motor road (or absent).
    pub skipped_ways: usize,
    /// Kept tags that were unusable and replaced by defaults: (way id, tag, value).
    pub defaulted: Vec<(i64, String, String)>,
    /// Kept tags beyond what the road layer accepts, clamped: (way id, tag, value, used).
    pub clamped: Vec<(i64, String, String, String)>,
    /// Kept ways that reference nodes the file does not hold (a clipped extract): they are cut
    /// at those nodes and their complete pieces kept.
    pub clipped_ways: usize,
    /// Distinct nodes referenced by kept ways but absent from the file.
    pub missing_nodes: usize,
}

fn read_err(path: &Path, e: impl std::fmt::Display) -> OsmError {
    OsmError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Imports the motor roads of an OSM PBF file, keeping only segments inside `bbox` when given.
pub fn import_pbf(path: &Path, bbox: Option<LonLatBounds>) -> Result<OsmImport, OsmError> {
    // pass 1: ways
    let mut ways = Vec::new();
    let mut skipped = 0usize;
    let mut defaulted = Vec::new();
    let mut clamped = Vec::new();
    ElementReader::from_path(path)
        .map_err(|e| read_err(path, e))?
        .for_each(|el| {
            let Element::Way(w) = el else { return };
            let tags: HashMap<String, String> = w
                .tags()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let Some((class, lanes_dir, speed, capacity, implied)) =
                tags.get("highway").and_then(|h| class_defaults(h))
            else {
                skipped += 1;
                return;
            };
            if tags.get("area").is_some_and(|a| a == "yes") {
                skipped += 1;
                return;
            }
            let mut refs: Vec<i64> = w.refs().collect();
            let way_oneway = oneway(&tags, implied);
            if way_oneway.is_none() {
                refs.reverse();
            }
            let oneway = way_oneway != Some(false);
            let mut lanes = lanes_dir;
            if let Some(v) = tags.get("lanes") {
                match v.trim().parse::<u32>() {
                    Ok(n) if n > 0 => lanes = if oneway { n } else { (n / 2).max(1) },
                    _ => defaulted.push((w.id(), "lanes".to_string(), v.clone())),
                }
            }
            if lanes > MAX_LANES {
                clamped.push((
                    w.id(),
                    "lanes".to_string(),
                    tags.get("lanes").cloned().unwrap_or_default(),
                    format!("{MAX_LANES} per direction"),
                ));
                lanes = MAX_LANES;
            }
            let mut kmh = speed;
            if let Some(v) = tags.get("maxspeed") {
                match parse_maxspeed(v) {
                    Some(s) if s > MAX_SPEED_KMH => {
                        clamped.push((
                            w.id(),
                            "maxspeed".to_string(),
                            v.clone(),
                            format!("{MAX_SPEED_KMH} km/h"),
                        ));
                        kmh = MAX_SPEED_KMH;
                    }
                    Some(s) => kmh = s,
                    None => defaulted.push((w.id(), "maxspeed".to_string(), v.clone())),
                }
            }
            if refs.len() >= 2 {
                ways.push(KeptWay {
                    id: w.id(),
                    refs,
                    tags,
                    class,
                    lanes,
                    speed: kmh,
                    capacity,
                    oneway,
                });
            }
        })
        .map_err(|e| read_err(path, e))?;

    // node use counts: a node used twice or more (by one or several ways) splits links
    let mut uses: HashMap<i64, u32> = HashMap::new();
    for w in &ways {
        for (k, r) in w.refs.iter().enumerate() {
            let bump = if k == 0 || k + 1 == w.refs.len() {
                2
            } else {
                1
            };
            *uses.entry(*r).or_insert(0) += bump;
        }
        // a closed way (a roundabout) is also split half way round, so that no link starts
        // and ends at the same node
        if w.refs.len() >= 3 && w.refs.first() == w.refs.last() {
            *uses.entry(w.refs[w.refs.len() / 2]).or_insert(0) += 2;
        }
    }

    // pass 2: coordinates of the needed nodes
    let mut coords: HashMap<i64, (f64, f64)> = HashMap::with_capacity(uses.len());
    ElementReader::from_path(path)
        .map_err(|e| read_err(path, e))?
        .for_each(|el| {
            let (id, lon, lat) = match el {
                Element::Node(n) => (n.id(), n.lon(), n.lat()),
                Element::DenseNode(n) => (n.id(), n.lon(), n.lat()),
                _ => return,
            };
            if uses.contains_key(&id) {
                coords.insert(id, (lon, lat));
            }
        })
        .map_err(|e| read_err(path, e))?;

    let inside = |p: (f64, f64)| {
        p.0.is_finite() && p.1.is_finite() && bbox.is_none_or(|b| b.contains(p.0, p.1))
    };
    let mut features = Vec::new();
    let mut clipped_ways = 0usize;
    let mut missing: std::collections::HashSet<i64> = std::collections::HashSet::new();
    for w in &ways {
        // a node the file lacks (a clipped extract) cuts the way like the bounding box does
        let pts: Vec<(i64, Option<(f64, f64)>)> = w
            .refs
            .iter()
            .map(|r| (*r, coords.get(r).copied()))
            .collect();
        let absent: Vec<i64> = pts.iter().filter(|p| p.1.is_none()).map(|p| p.0).collect();
        if !absent.is_empty() {
            clipped_ways += 1;
            missing.extend(absent);
        }
        // pieces: runs of present, inside nodes, split at shared nodes
        let mut piece: Vec<(i64, (f64, f64))> = Vec::new();
        let mut k = 0usize;
        let mut flush = |piece: &mut Vec<(i64, (f64, f64))>, features: &mut Vec<Value>| {
            if piece.len() >= 2 {
                features.push(feature(w, k, piece));
                k += 1;
            }
            piece.clear();
        };
        for (i, &(id, c)) in pts.iter().enumerate() {
            let Some(c) = c.filter(|c| inside(*c)) else {
                flush(&mut piece, &mut features);
                continue;
            };
            piece.push((id, c));
            let shared = uses.get(&id).copied().unwrap_or(0) >= 2;
            if shared && piece.len() >= 2 && i + 1 < pts.len() {
                flush(&mut piece, &mut features);
                piece.push((id, c));
            }
        }
        flush(&mut piece, &mut features);
    }
    let links = features.len();
    Ok(OsmImport {
        geojson: json!({
            "type": "FeatureCollection",
            "name": "roads",
            "features": features,
        }),
        ways: ways.len(),
        links,
        skipped_ways: skipped,
        defaulted,
        clamped,
        clipped_ways,
        missing_nodes: missing.len(),
    })
}

fn feature(w: &KeptWay, k: usize, piece: &[(i64, (f64, f64))]) -> Value {
    let name = w
        .tags
        .get("name")
        .or_else(|| w.tags.get("ref"))
        .cloned()
        .unwrap_or_else(|| format!("{} {}", w.tags["highway"], w.id));
    let mut props: BTreeMap<&str, Value> = BTreeMap::new();
    props.insert("id", json!(format!("osm-w{}-{k}", w.id)));
    props.insert("name", json!(name));
    if let Some(r) = w.tags.get("ref") {
        props.insert("ref", json!(r));
    }
    props.insert("class", json!(class_name(w.class)));
    props.insert("lanes", json!(w.lanes));
    props.insert("oneway", json!(w.oneway));
    props.insert("free_flow_speed_kmh", json!(w.speed));
    props.insert("capacity_veh_h_lane", json!(w.capacity));
    props.insert("from_node", json!(format!("osm-n{}", piece[0].0)));
    props.insert(
        "to_node",
        json!(format!("osm-n{}", piece[piece.len() - 1].0)),
    );
    props.insert("osm_way", json!(w.id));
    props.insert("highway", json!(w.tags["highway"]));
    json!({
        "type": "Feature",
        "properties": props,
        "geometry": {
            "type": "LineString",
            "coordinates": piece.iter().map(|(_, (lon, lat))| json!([lon, lat])).collect::<Vec<_>>(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maxspeed_forms() {
        assert_eq!(parse_maxspeed("50"), Some(50.0));
        assert_eq!(parse_maxspeed("60 km/h"), Some(60.0));
        assert!((parse_maxspeed("30 mph").unwrap_or(0.0) - 48.28).abs() < 0.01);
        assert_eq!(parse_maxspeed("none"), None);
        assert_eq!(parse_maxspeed("0"), None);
        assert_eq!(parse_maxspeed("NaN"), None);
        // above the road layer's limit: returned as read, clamped by the importer
        assert!((parse_maxspeed("150 mph").unwrap_or(0.0) - 241.4).abs() < 0.1);
        assert_eq!(parse_maxspeed("VN:urban"), None);
    }

    #[test]
    fn motor_roads_only() {
        assert!(class_defaults("footway").is_none());
        assert!(class_defaults("service").is_none());
        assert_eq!(
            class_defaults("motorway").map(|d| (d.0, d.4)),
            Some((RoadClass::Expressway, true))
        );
    }
}
