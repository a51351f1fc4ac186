//! Telemetry analytics: observations and their readers, air quality indices, QA, mine-gas
//! alarms, exceedances and model evaluation, as polars lazy plans over one observation schema.
//! Readers: [`observations::read`] (one file), [`lake`] (the Hive-partitioned store; whole or
//! one day), [`read_any`] (either, for commands that take "a file or a lake"), and
//! [`stream`] (a lake four days at a time, memory bounded).

use std::path::{Path, PathBuf};

pub mod airnow;
pub mod alarms;
pub mod aqi;
pub mod daily;
pub mod evaluate;
pub mod exceedance;
pub mod hourly;
pub mod lake;
pub mod live;
pub mod monitor;
pub mod observations;
pub mod qa;
pub mod report;
pub mod stream;
pub mod synthetic;
pub mod time;

/// Errors reading observations: the file, and where in it.
#[derive(Debug, thiserror::Error)]
pub enum ObservationError {
    /// The file could not be read or decoded.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A value in one row is unusable.
    #[error("{}: row {row}: column `{column}`: {message}", path.display())]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based data row (the header is row 0).
        row: u64,
        /// The column.
        column: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads observations from a file ([`observations::read`]) or a whole lake directory
/// ([`lake::read`]: every part into memory — for a lake larger than memory use [`stream`]).
/// Lake parts that cannot be read are skipped and listed in [`lake::LakeFrame::skipped`].
pub fn read_any(path: &Path) -> Result<lake::LakeFrame, ObservationError> {
    if path.is_dir() {
        lake::read(path)
    } else {
        Ok(lake::LakeFrame {
            frame: observations::read(path)?,
            skipped: Vec::new(),
        })
    }
}
