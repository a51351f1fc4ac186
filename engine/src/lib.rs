//! QN Twin engine: the province model of Quảng Ninh, its coordinate systems, dataset loading and
//! validation, terrain, and the spatial index.
//!
//! The engine is the project's API boundary: the `twin` CLI and the viewer are thin glue over
//! it. The engine opens no window, and touches the filesystem only in its I/O modules
//! ([`dataset`], [`terrain`]). See `ARCHITECTURE.md` at the repository root for the map.

pub mod dataset;
pub mod dispersion;
pub mod geodesy;
pub mod gpu;
pub mod model;
pub mod output;
pub mod spatial;
pub mod telemetry;
pub mod terrain;
pub mod traffic;

/// Directory of the dataset bundled with the source tree (`datasets/quang-ninh`), as known at
/// compile time. The CLI uses it when `--dataset` is not given.
pub fn bundled_dataset_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh")
}
