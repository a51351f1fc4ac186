//! `twin info`: what a dataset holds.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use geo::{Euclidean, Length};
use serde_json::{Value, json};
use twin_engine::model::{FeatureHandle, FeatureKind};
use twin_engine::spatial::project;
use twin_engine::terrain::Terrain;

use crate::{DatasetArgs, Format};

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    dataset: DatasetArgs,
    /// Output format (table or json).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Terrain GeoTIFF to use instead of the dataset's (e.g. a real DEM).
    #[arg(long, value_name = "FILE")]
    terrain: Option<PathBuf>,
}

fn counts<K: serde::Serialize>(items: impl Iterator<Item = K>) -> Value {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    for k in items {
        let key = serde_json::to_value(&k)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        *m.entry(key).or_default() += 1;
    }
    json!(m)
}

pub fn run(args: &InfoArgs, out: &mut impl Write) -> anyhow::Result<()> {
    if args.format == Format::Geojson {
        anyhow::bail!("`twin info` writes table or json, not geojson");
    }
    let d = args.dataset.load()?;
    let p = &d.province;
    let terrain = match &args.terrain {
        Some(path) => Some((path.clone(), Terrain::read_geotiff(path)?)),
        None => d
            .terrain()
            .context("reading the dataset's terrain")?
            .zip(d.terrain_path())
            .map(|(t, path)| (path, t)),
    };
    let road_km: f64 = (0..p.road_links.len())
        .map(|index| {
            let g = project(
                &d.projection,
                &p.geometry(FeatureHandle {
                    kind: FeatureKind::Road,
                    index,
                }),
            );
            match g {
                geo::Geometry::LineString(l) => Euclidean.length(&l),
                _ => 0.0,
            }
        })
        .sum::<f64>()
        / 1000.0;
    let info = json!({
        "name": p.name,
        "dataset_dir": d.dir.display().to_string(),
        "districts": p.districts.len(),
        "stations": p.stations.len(),
        "mines": p.mines.len(),
        "plants": p.plants.len(),
        "ports": p.ports.len(),
        "road_links": p.road_links.len(),
        "land_areas": p.land.len(),
        "stations_by_medium": counts(p.stations.iter().map(|s| s.medium)),
        "mines_by_method": counts(p.mines.iter().map(|m| m.method)),
        "mines_by_status": counts(p.mines.iter().map(|m| m.status)),
        "plants_by_type": counts(p.plants.iter().map(|m| m.plant_type)),
        "roads_by_class": counts(p.road_links.iter().map(|r| r.class)),
        "road_length_km": (road_km * 10.0).round() / 10.0,
        "bounds": d.manifest.bounds,
        "crs": d.manifest.crs,
        "projected_crs": d.manifest.projected_crs,
        "terrain": terrain.as_ref().map(|(path, t)| {
            let (lo, hi) = t.min_max().unwrap_or((f32::NAN, f32::NAN));
            json!({
                "path": path.display().to_string(),
                "width": t.width,
                "height": t.height,
                "crs": format!("EPSG:{}", t.epsg),
                "resolution_m": (t.resolution_m() * 10.0).round() / 10.0,
                "min_m": lo,
                "max_m": hi,
                "synthetic": t.synthetic,
            })
        }),
    });
    if args.format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, &info)?;
        writeln!(out)?;
        return Ok(());
    }
    let b = &d.manifest.bounds;
    writeln!(out, "dataset        {} ({})", p.name, d.dir.display())?;
    for (label, key, by) in [
        ("districts", "districts", None),
        ("stations", "stations", Some("stations_by_medium")),
        ("mines", "mines", Some("mines_by_method")),
        ("", "mines", Some("mines_by_status")),
        ("plants", "plants", Some("plants_by_type")),
        ("ports", "ports", None),
        ("road links", "road_links", Some("roads_by_class")),
        ("land areas", "land_areas", None),
    ] {
        let detail = by
            .and_then(|k| info[k].as_object())
            .map(|m| {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
                format!("  ({})", parts.join(", "))
            })
            .unwrap_or_default();
        if label.is_empty() {
            // a second breakdown of the row above
            writeln!(out, "{:<14} {detail}", "", detail = detail.trim_start())?;
        } else {
            writeln!(out, "{label:<14} {}{detail}", info[key])?;
        }
    }
    writeln!(out, "road length    {} km", info["road_length_km"])?;
    writeln!(
        out,
        "bounds         lon {}..{}, lat {}..{}",
        b.min_lon, b.max_lon, b.min_lat, b.max_lat
    )?;
    writeln!(
        out,
        "crs            {} (stored), {} (metric)",
        d.manifest.crs, d.manifest.projected_crs
    )?;
    match &terrain {
        Some((path, t)) => {
            let (lo, hi) = t.min_max().unwrap_or((f32::NAN, f32::NAN));
            writeln!(
                out,
                "terrain        {}x{} EPSG:{} ~{:.0} m, {lo:.0}..{hi:.0} m{} ({})",
                t.width,
                t.height,
                t.epsg,
                t.resolution_m(),
                if t.synthetic { ", SYNTHETIC" } else { "" },
                path.display()
            )?;
        }
        None => writeln!(out, "terrain        none")?,
    }
    Ok(())
}
