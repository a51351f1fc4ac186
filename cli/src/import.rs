//! `twin import`: bring external data into the project's formats.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use twin_engine::geodesy::LonLatBounds;
use twin_engine::traffic::osm::import_pbf;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// OpenStreetMap PBF → road-link GeoJSON (motor roads, split at shared nodes), usable as a
    /// traffic scenario's `roads` file.
    Osm(OsmArgs),
}

#[derive(Debug, Args)]
pub struct OsmArgs {
    /// The .osm.pbf extract.
    #[arg(value_name = "FILE.osm.pbf")]
    file: PathBuf,
    /// Keep only segments inside MINLON,MINLAT,MAXLON,MAXLAT.
    #[arg(long, value_parser = crate::query::parse_bbox, allow_hyphen_values = true)]
    bbox: Option<LonLatBounds>,
    /// Output GeoJSON file.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

pub fn run(cmd: ImportCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        ImportCommand::Osm(a) => {
            twin_engine::safeio::check_out_file(&a.out, &[&a.file])?;
            let imp = import_pbf(&a.file, a.bbox)?;
            let text = serde_json::to_string(&imp.geojson)? + "\n";
            twin_engine::safeio::write_atomic(&a.out, |f| {
                std::io::Write::write_all(f, text.as_bytes())
            })
            .with_context(|| format!("{}: cannot write", a.out.display()))?;
            writeln!(
                out,
                "ways      {} motor-road ways kept, {} other ways skipped",
                imp.ways, imp.skipped_ways
            )?;
            writeln!(out, "links     {} (ways split at shared nodes)", imp.links)?;
            for (way, tag, value, used) in &imp.clamped {
                writeln!(
                    out,
                    "clamped   way {way}: {tag}={value:?} is beyond the road layer's range, {used} used"
                )?;
            }
            if imp.clipped_ways > 0 {
                writeln!(
                    out,
                    "clipped   {} way(s) reference {} node(s) the file does not hold (a clipped extract): cut there, their complete pieces kept",
                    imp.clipped_ways, imp.missing_nodes
                )?;
            }
            for (way, tag, value) in &imp.defaulted {
                writeln!(
                    out,
                    "default   way {way}: {tag}={value:?} not understood, class default used"
                )?;
            }
            writeln!(out, "wrote     {}", a.out.display())?;
            Ok(())
        }
    }
}
