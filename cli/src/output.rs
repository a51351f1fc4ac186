//! Formatting query answers as a table, JSON or GeoJSON.

use std::io::Write;

use serde_json::{Value, json};
use twin_engine::model::Province;
use twin_engine::spatial::{Hit, Snap};

use crate::Format;

fn round_m(d: f64) -> f64 {
    (d * 10.0).round() / 10.0
}

fn hit_json(p: &Province, h: &Hit) -> Value {
    let m = p.meta(h.handle);
    json!({
        "id": m.id,
        "name": m.name,
        "kind": h.handle.kind.as_str(),
        "distance_m": h.distance_m.map(round_m),
    })
}

/// Writes a list of hits.
pub fn hits(
    p: &Province,
    hits: &[Hit],
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let v: Vec<Value> = hits.iter().map(|h| hit_json(p, h)).collect();
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        Format::Geojson => {
            let features: Vec<Value> = hits
                .iter()
                .map(|h| {
                    let geometry = geojson_geometry(&p.geometry(h.handle));
                    json!({"type": "Feature", "properties": hit_json(p, h), "geometry": geometry})
                })
                .collect();
            let fc = json!({"type": "FeatureCollection", "features": features});
            serde_json::to_writer(&mut *out, &fc)?;
            writeln!(out)?;
        }
        Format::Table => {
            let rows: Vec<[String; 4]> = hits
                .iter()
                .map(|h| {
                    let m = p.meta(h.handle);
                    [
                        m.id.clone(),
                        m.name.clone(),
                        h.handle.kind.to_string(),
                        h.distance_m.map(|d| format!("{d:.1}")).unwrap_or_default(),
                    ]
                })
                .collect();
            let header = ["id", "name", "kind", "distance_m"];
            let width = |i: usize| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            };
            let w = [width(0), width(1), width(2), width(3)];
            let line = |r: [&str; 4]| {
                let pad = |s: &str, n: usize| {
                    format!("{s}{}", " ".repeat(n.saturating_sub(s.chars().count())))
                };
                format!(
                    "{}  {}  {}  {:>w3$}",
                    pad(r[0], w[0]),
                    pad(r[1], w[1]),
                    pad(r[2], w[2]),
                    r[3],
                    w3 = w[3]
                )
            };
            writeln!(out, "{}", line(header).trim_end())?;
            for r in &rows {
                writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3]]).trim_end())?;
            }
            writeln!(
                out,
                "({} result{})",
                rows.len(),
                if rows.len() == 1 { "" } else { "s" }
            )?;
        }
    }
    Ok(())
}

/// Writes a snap answer.
pub fn snap(p: &Province, s: &Snap, format: Format, out: &mut impl Write) -> anyhow::Result<()> {
    let link = &p.road_links[s.link.index];
    let v = json!({
        "link_id": link.meta.id,
        "name": link.meta.name,
        "ref": link.road_ref,
        "offset_m": round_m(s.offset_m),
        "link_length_m": round_m(s.link_length_m),
        "distance_m": round_m(s.distance_m),
        "lon": (s.lon * 1e7).round() / 1e7,
        "lat": (s.lat * 1e7).round() / 1e7,
    });
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &v)?;
            writeln!(out)?;
        }
        Format::Geojson => {
            let fc = json!({"type": "FeatureCollection", "features": [{
                "type": "Feature", "properties": v,
                "geometry": {"type": "Point", "coordinates": [v["lon"], v["lat"]]}
            }]});
            serde_json::to_writer(&mut *out, &fc)?;
            writeln!(out)?;
        }
        Format::Table => {
            writeln!(out, "link      {} ({})", link.meta.id, link.meta.name)?;
            writeln!(
                out,
                "offset    {:.1} m of {:.1} m",
                s.offset_m, s.link_length_m
            )?;
            writeln!(out, "distance  {:.1} m", s.distance_m)?;
            writeln!(out, "snapped   {:.6}, {:.6}", s.lon, s.lat)?;
        }
    }
    Ok(())
}

/// GeoJSON geometry object of a WGS84 geometry.
fn geojson_geometry(g: &geo::Geometry<f64>) -> Value {
    use geo::Geometry as G;
    let pos = |c: &geo::Coord<f64>| json!([c.x, c.y]);
    let line = |l: &geo::LineString<f64>| Value::Array(l.coords().map(pos).collect());
    let poly = |p: &geo::Polygon<f64>| {
        let mut rings = vec![line(p.exterior())];
        rings.extend(p.interiors().iter().map(line));
        Value::Array(rings)
    };
    match g {
        G::Point(p) => json!({"type": "Point", "coordinates": pos(&p.0)}),
        G::LineString(l) => json!({"type": "LineString", "coordinates": line(l)}),
        G::Polygon(p) => json!({"type": "Polygon", "coordinates": poly(p)}),
        G::MultiPolygon(mp) => {
            json!({"type": "MultiPolygon", "coordinates": mp.iter().map(poly).collect::<Vec<_>>()})
        }
        G::MultiPoint(mp) => {
            json!({"type": "MultiPoint", "coordinates": mp.iter().map(|p| pos(&p.0)).collect::<Vec<_>>()})
        }
        G::MultiLineString(ml) => {
            json!({"type": "MultiLineString", "coordinates": ml.iter().map(line).collect::<Vec<_>>()})
        }
        G::GeometryCollection(gc) => {
            json!({"type": "GeometryCollection", "geometries": gc.iter().map(geojson_geometry).collect::<Vec<_>>()})
        }
        G::Line(l) => geojson_geometry(&G::LineString(geo::LineString::from(*l))),
        G::Rect(r) => geojson_geometry(&G::Polygon(r.to_polygon())),
        G::Triangle(t) => geojson_geometry(&G::Polygon(t.to_polygon())),
    }
}
