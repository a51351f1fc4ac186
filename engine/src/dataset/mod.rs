//! Loading a province dataset from disk: `dataset.toml` plus GeoJSON layers and a terrain raster.
//!
//! This is the only place the province model touches the filesystem. Loading validates every
//! feature and collects every problem (missing field, unknown kind, coordinate outside the
//! declared bounds, invalid polygon, duplicate id) with the file, the feature index and id, and
//! the field; nothing is silently dropped. A dataset with any problem does not load.

pub mod bundled;
mod layers;
mod problems;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::geodesy::{EPSG_WGS84, LonLatBounds, Utm};
use crate::model::Province;
use crate::terrain::{Terrain, TerrainError};

pub use problems::{DatasetProblem, Location};

/// Reads a road-link GeoJSON file on its own, with the same rules as the dataset's road layer
/// (every problem listed, features checked against `bounds`).
pub fn read_road_layer(
    path: &Path,
    bounds: crate::geodesy::LonLatBounds,
) -> Result<Vec<crate::model::RoadLink>, DatasetError> {
    layers::read_roads(path, bounds)
}

/// The environment variable naming a dataset directory for every command and the viewer.
pub const DATASET_ENV: &str = "QN_TWIN_DATASET";

/// The one rule for which dataset a command uses, first match wins:
/// 1. `scenario_value`: a scenario's own `dataset` key (already made relative to its file);
/// 2. `flag`: the command's `--dataset DIR`;
/// 3. the `QN_TWIN_DATASET` environment variable (ignored when empty);
/// 4. the bundled Quảng Ninh dataset, unpacked from the binary ([`bundled::dir`]).
pub fn resolve_dir(
    flag: Option<&Path>,
    scenario_value: Option<&Path>,
) -> Result<PathBuf, DatasetError> {
    if let Some(d) = scenario_value.or(flag) {
        return Ok(d.to_path_buf());
    }
    match std::env::var_os(DATASET_ENV) {
        Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
        _ => bundled::dir(),
    }
}

/// Name of the manifest file in a dataset directory.
pub const MANIFEST_FILE: &str = "dataset.toml";

/// Errors from loading a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file of the dataset could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The manifest is malformed or names something unsupported.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// One or more features are invalid; every problem found is listed.
    #[error("{}", problems::summary(.problems))]
    Invalid {
        /// Every problem, in file and feature order.
        problems: Vec<DatasetProblem>,
    },
    /// The terrain raster could not be read.
    #[error(transparent)]
    Terrain(#[from] TerrainError),
}

/// The manifest, `dataset.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Dataset name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// CRS of the GeoJSON layers; only `EPSG:4326` (longitude, latitude) is accepted.
    pub crs: String,
    /// Projected metric CRS for distances and grids, a WGS84 UTM zone (e.g. `EPSG:32648`).
    pub projected_crs: String,
    /// Every coordinate of every layer must lie inside these bounds.
    pub bounds: LonLatBounds,
    /// Layer files, relative to the dataset directory.
    pub layers: LayerFiles,
}

/// Layer files named by the manifest. Every layer is optional except districts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerFiles {
    /// District polygons.
    pub districts: PathBuf,
    /// Monitoring stations.
    pub stations: Option<PathBuf>,
    /// Coal mines.
    pub mines: Option<PathBuf>,
    /// Plants.
    pub plants: Option<PathBuf>,
    /// Ports.
    pub ports: Option<PathBuf>,
    /// Road links.
    pub roads: Option<PathBuf>,
    /// Land polygons (coastline).
    pub land: Option<PathBuf>,
    /// Terrain raster (GeoTIFF, EPSG:4326 or a WGS84 UTM zone).
    pub terrain: Option<PathBuf>,
}

/// A loaded dataset: where it came from, its manifest and the validated province.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The dataset directory.
    pub dir: PathBuf,
    /// The manifest as read.
    pub manifest: Manifest,
    /// The validated province.
    pub province: Province,
    /// The projection named by `projected_crs`.
    pub projection: Utm,
}

impl Dataset {
    /// Loads and validates the dataset in `dir`.
    pub fn load(dir: &Path) -> Result<Self, DatasetError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| DatasetError::Io {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| DatasetError::Manifest {
            path: manifest_path.clone(),
            message: one_line(&e.to_string()),
        })?;
        let bad = |message: String| DatasetError::Manifest {
            path: manifest_path.clone(),
            message,
        };
        if parse_epsg(&manifest.crs) != Some(EPSG_WGS84) {
            return Err(bad(format!(
                "key `crs`: {:?} is not supported; layers must be in EPSG:4326",
                manifest.crs
            )));
        }
        let projection = parse_epsg(&manifest.projected_crs)
            .and_then(Utm::from_epsg)
            .ok_or_else(|| {
                bad(format!(
                    "key `projected_crs`: {:?} is not a WGS84 UTM zone (EPSG:326NN or EPSG:327NN)",
                    manifest.projected_crs
                ))
            })?;
        if !manifest.bounds.is_valid() {
            return Err(bad(format!(
                "key `bounds`: {:?} is not an ordered lon/lat box",
                manifest.bounds
            )));
        }
        let province = layers::read_province(dir, &manifest, projection.epsg())?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            province,
            projection,
        })
    }

    /// Path of the terrain raster named by the manifest, if any.
    pub fn terrain_path(&self) -> Option<PathBuf> {
        self.manifest
            .layers
            .terrain
            .as_ref()
            .map(|p| self.dir.join(p))
    }

    /// Reads the terrain raster named by the manifest, if any.
    pub fn terrain(&self) -> Result<Option<Terrain>, DatasetError> {
        match self.terrain_path() {
            Some(p) => Ok(Some(Terrain::read_geotiff(&p)?)),
            None => Ok(None),
        }
    }
}

/// Parses `EPSG:NNNN` (case-insensitive) into its code.
pub fn parse_epsg(s: &str) -> Option<u32> {
    let (auth, code) = s.trim().split_once(':')?;
    if !auth.eq_ignore_ascii_case("EPSG") {
        return None;
    }
    code.trim().parse().ok()
}

/// Collapses a multi-line message (as TOML errors are) into one line.
fn one_line(s: &str) -> String {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.chars().all(|c| c == '|' || c == '^' || c == ' '))
        // drop the quoted source line ("5 | colour = ...")
        .filter(|l| {
            let digits = l.chars().take_while(char::is_ascii_digit).count();
            !(digits > 0 && l[digits..].trim_start().starts_with('|'))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epsg_codes_parse() {
        assert_eq!(parse_epsg("EPSG:32648"), Some(32648));
        assert_eq!(parse_epsg("epsg:4326"), Some(4326));
        assert_eq!(parse_epsg("WGS84"), None);
        assert_eq!(parse_epsg("ESRI:102100"), None);
    }
}
