//! Integration tests of the engine: one test binary, one module per area. The `twin` binary's
//! own tests are in `tests/cli/` (package `twin-cli`).
//! Test data lives in `tests/data/` (small, committed); large inputs are generated from a seed.

mod bad_datasets;
mod batch;
mod dataset;
mod dispersion;
mod mine;
mod near_field;
mod queries;
mod run_dir;
mod sta;
mod telemetry;
mod terrain;
mod traffic;

use std::path::PathBuf;

/// Path of a file or directory under `tests/data/`.
pub fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

/// The bundled dataset in the source tree (the binary embeds the same files; a unit test of
/// `dataset::bundled` checks they are equal).
pub fn bundled() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh")
}

/// A real wgpu adapter (lavapipe in CI). Set QN_TWIN_SKIP_GPU=1 to skip GPU tests explicitly on
/// a machine without Vulkan; `scripts/setup` installs lavapipe, so CI never skips.
pub fn gpu() -> Option<twin_engine::gpu::GpuContext> {
    if std::env::var_os("QN_TWIN_SKIP_GPU").is_some() {
        eprintln!("QN_TWIN_SKIP_GPU set: GPU test skipped");
        return None;
    }
    Some(
        twin_engine::gpu::GpuContext::acquire()
            .expect("a wgpu adapter (install mesa-vulkan-drivers, or set QN_TWIN_SKIP_GPU=1)"),
    )
}
