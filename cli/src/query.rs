//! `twin query`: nearest, within, snap and corridor queries over the spatial index.

use std::io::Write;

use clap::{Args, Subcommand};
use twin_engine::geodesy::LonLatBounds;
use twin_engine::model::FeatureKind;
use twin_engine::spatial::SpatialIndex;

use crate::output;
use crate::{DatasetArgs, Format};

#[derive(Debug, Subcommand)]
pub enum QueryCommand {
    /// The k features nearest to a point, nearest first.
    Nearest(NearestArgs),
    /// Features in a bbox, a radius around a point, or a district.
    Within(WithinArgs),
    /// Snap a point onto the nearest road link (link id, offset along it, distance).
    Snap(SnapArgs),
    /// Features within a corridor around a road (a link id or a route ref such as QL18).
    Corridor(CorridorArgs),
}

#[derive(Debug, Args)]
pub struct Common {
    #[command(flatten)]
    dataset: DatasetArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// A WGS84 query point.
#[derive(Debug, Args)]
pub struct PointArgs {
    /// Longitude, degrees east (WGS84).
    #[arg(long, allow_hyphen_values = true)]
    lon: f64,
    /// Latitude, degrees north (WGS84).
    #[arg(long, allow_hyphen_values = true)]
    lat: f64,
}

impl PointArgs {
    fn checked(&self) -> anyhow::Result<(f64, f64)> {
        check_point(self.lon, self.lat)?;
        Ok((self.lon, self.lat))
    }
}

#[derive(Debug, Args)]
pub struct NearestArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    at: PointArgs,
    /// How many features.
    #[arg(short = 'k', long = "k", default_value_t = 5)]
    k: usize,
    /// Only features of this kind: station, mine, plant, port, road, district.
    #[arg(long, value_parser = parse_kind)]
    kind: Option<FeatureKind>,
}

#[derive(Debug, Args)]
pub struct WithinArgs {
    #[command(flatten)]
    common: Common,
    /// MINLON,MINLAT,MAXLON,MAXLAT in degrees.
    #[arg(long, value_parser = parse_bbox, allow_hyphen_values = true,
          conflicts_with_all = ["radius_m", "district"],
          required_unless_present_any = ["radius_m", "district"])]
    bbox: Option<LonLatBounds>,
    /// Radius in metres around --lon/--lat.
    #[arg(long, requires_all = ["lon", "lat"], conflicts_with = "district")]
    radius_m: Option<f64>,
    /// Longitude of the radius centre.
    #[arg(long, allow_hyphen_values = true, requires = "radius_m")]
    lon: Option<f64>,
    /// Latitude of the radius centre.
    #[arg(long, allow_hyphen_values = true, requires = "radius_m")]
    lat: Option<f64>,
    /// District id (e.g. cam-pha).
    #[arg(long)]
    district: Option<String>,
    /// Only features of this kind.
    #[arg(long, value_parser = parse_kind)]
    kind: Option<FeatureKind>,
}

#[derive(Debug, Args)]
pub struct SnapArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    at: PointArgs,
}

#[derive(Debug, Args)]
pub struct CorridorArgs {
    #[command(flatten)]
    common: Common,
    /// Road link id, or route reference (QL18, CT06, …) for all its links.
    #[arg(long)]
    road: String,
    /// Total corridor width in metres (half on each side).
    #[arg(long, default_value_t = 1000.0)]
    width_m: f64,
    /// Only features of this kind.
    #[arg(long, value_parser = parse_kind)]
    kind: Option<FeatureKind>,
}

fn parse_kind(s: &str) -> Result<FeatureKind, String> {
    FeatureKind::parse(s).ok_or_else(|| {
        let names: Vec<&str> = FeatureKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown kind {s:?}; expected one of {}", names.join(", "))
    })
}

pub(crate) fn parse_bbox(s: &str) -> Result<LonLatBounds, String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{s:?} is not MINLON,MINLAT,MAXLON,MAXLAT (four numbers)"))?;
    let [min_lon, min_lat, max_lon, max_lat] = v[..] else {
        return Err(format!(
            "{s:?} has {} numbers; expected MINLON,MINLAT,MAXLON,MAXLAT",
            v.len()
        ));
    };
    let b = LonLatBounds {
        min_lon,
        min_lat,
        max_lon,
        max_lat,
    };
    if !b.is_valid() {
        return Err(format!(
            "{s:?}: need MINLON < MAXLON and MINLAT < MAXLAT within ±180/±90"
        ));
    }
    Ok(b)
}

fn check_point(lon: f64, lat: f64) -> anyhow::Result<()> {
    if !(lon.is_finite()
        && lat.is_finite()
        && (-180.0..=180.0).contains(&lon)
        && (-90.0..=90.0).contains(&lat))
    {
        anyhow::bail!(
            "--lon {lon} --lat {lat} is not a WGS84 position (lon -180..180, lat -90..90)"
        );
    }
    Ok(())
}

pub fn run(cmd: QueryCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        QueryCommand::Nearest(a) => {
            let (lon, lat) = a.at.checked()?;
            let d = a.common.dataset.load()?;
            let index = SpatialIndex::build(&d.province, d.projection.clone());
            let hits = index.nearest(lon, lat, a.k, a.kind);
            output::hits(&d.province, &hits, a.common.format, out)
        }
        QueryCommand::Within(a) => {
            let d = a.common.dataset.load()?;
            let index = SpatialIndex::build(&d.province, d.projection.clone());
            let hits = if let Some(b) = a.bbox {
                index.within_bbox(&b, a.kind)
            } else if let (Some(r), Some(lon), Some(lat)) = (a.radius_m, a.lon, a.lat) {
                check_point(lon, lat)?;
                if !(r.is_finite() && r >= 0.0) {
                    anyhow::bail!("--radius-m {r} must be a distance >= 0");
                }
                index.within_radius(lon, lat, r, a.kind)
            } else if let Some(id) = &a.district {
                index.within_district(&d.province, id, a.kind)?
            } else {
                anyhow::bail!("give one of --bbox, --radius-m with --lon/--lat, or --district");
            };
            output::hits(&d.province, &hits, a.common.format, out)
        }
        QueryCommand::Snap(a) => {
            let (lon, lat) = a.at.checked()?;
            let d = a.common.dataset.load()?;
            let index = SpatialIndex::build(&d.province, d.projection.clone());
            let snap = index
                .snap(lon, lat)
                .ok_or_else(|| anyhow::anyhow!("the dataset has no road links to snap to"))?;
            output::snap(&d.province, &snap, a.common.format, out)
        }
        QueryCommand::Corridor(a) => {
            if !(a.width_m.is_finite() && a.width_m > 0.0) {
                anyhow::bail!("--width-m {} must be a width > 0", a.width_m);
            }
            let d = a.common.dataset.load()?;
            let index = SpatialIndex::build(&d.province, d.projection.clone());
            let hits = index.road_corridor(&d.province, &a.road, a.width_m, a.kind)?;
            output::hits(&d.province, &hits, a.common.format, out)
        }
    }
}
