//! What every model's scenario file shares: its error type (the file and the key that is wrong),
//! TOML reading with serde (unknown keys rejected by each model's structs), the start time, and
//! where the scenario's dataset comes from. Each model has its own scenario structs in
//! `<model>::scenario`; the shape is the same for all: scenario (TOML) → resolved (against a
//! dataset) → problem (what the engine runs) → run → summary (`output::run`).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::dataset::{Dataset, DatasetError};
use crate::traffic::network::TopologyErrors;

/// Errors in a scenario: the file, and the key that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The scenario file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key is unknown, missing, of the wrong type, or has a bad value or unit.
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The scenario file.
        path: PathBuf,
        /// What is wrong, starting with the key.
        message: String,
    },
    /// The scenario's dataset (or a layer file it names) could not be loaded.
    #[error("{}: dataset: {source}", path.display())]
    Dataset {
        /// The scenario file.
        path: PathBuf,
        /// Why the dataset did not load.
        source: DatasetError,
    },
    /// The road network the scenario runs on has topology errors.
    #[error("{}: {source}", path.display())]
    Network {
        /// The scenario file.
        path: PathBuf,
        /// Every problem found.
        source: TopologyErrors,
    },
}

/// An [`ScenarioError::Invalid`] for `path`.
pub(crate) fn invalid(path: &Path, message: String) -> ScenarioError {
    ScenarioError::Invalid {
        path: path.to_path_buf(),
        message,
    }
}

/// Reads a TOML file into `T`; errors name the file and the key, on one line.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| {
        let msg = e.to_string();
        let lines: Vec<&str> = msg
            .lines()
            .map(str::trim)
            .filter(|l| {
                !l.is_empty()
                    && !l.starts_with('|')
                    && !l.chars().next().is_some_and(|c| c.is_ascii_digit())
            })
            .collect();
        invalid(path, lines.join(" "))
    })
}

/// The `start` key: an RFC 3339 time with an offset, as UTC.
pub(crate) fn parse_start(path: &Path, start: &str) -> Result<DateTime<Utc>, ScenarioError> {
    DateTime::parse_from_rfc3339(start)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            invalid(
                path,
                format!("key `start`: {start:?} is not an RFC 3339 time with offset: {e}"),
            )
        })
}

/// A path a scenario names (`dataset`, `roads`, emissions files), relative to the scenario file.
pub(crate) fn relative_to(scenario: &Path, value: &Path) -> PathBuf {
    scenario.parent().unwrap_or(Path::new(".")).join(value)
}

/// Loads a scenario's dataset: its own `dataset` key (relative to the scenario file) if it has
/// one, else [`crate::dataset::resolve_dir`] of `flag` (the command's `--dataset`).
pub(crate) fn load_dataset(
    scenario: &Path,
    key: Option<&Path>,
    flag: Option<&Path>,
) -> Result<Dataset, ScenarioError> {
    let with_path = |source| ScenarioError::Dataset {
        path: scenario.to_path_buf(),
        source,
    };
    let key = key.map(|k| relative_to(scenario, k));
    let dir = crate::dataset::resolve_dir(flag, key.as_deref()).map_err(with_path)?;
    Dataset::load(&dir).map_err(with_path)
}

/// Checks that the value of `key` is a finite number in `[lo, hi]` (`unit` for the message):
/// every number a scenario gives passes through here or a check like it before anything is
/// sized from it.
pub(crate) fn check_range(key: &str, v: f64, lo: f64, hi: f64, unit: &str) -> Result<f64, String> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(v)
    } else {
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        Err(format!(
            "key `{key}`: {v}{unit} must be a finite number in [{lo}, {hi}]{unit}"
        ))
    }
}

/// Checks a longitude/latitude pair (degrees) given under `key`.
pub(crate) fn check_lon_lat(key: &str, lon: f64, lat: f64) -> Result<(), String> {
    check_range(&format!("{key}.lon"), lon, -180.0, 180.0, "°")?;
    check_range(&format!("{key}.lat"), lat, -85.0, 85.0, "°")?;
    Ok(())
}
