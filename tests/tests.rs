//! Integration tests of the engine and the `twin` CLI: one test binary, one module per area.
//! Test data lives in `tests/data/` (small, committed); large inputs are generated from a seed.

mod bad_datasets;
mod cli;
mod dataset;
mod dispersion;
mod queries;
mod terrain;

use std::path::PathBuf;

/// Path of a file or directory under `tests/data/`.
pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}
