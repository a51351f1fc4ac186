//! QN Twin engine: the province model of Quảng Ninh, its coordinate systems, dataset loading and
//! validation, terrain, the spatial index, the simulations (dispersion, traffic) on the GPU and
//! their CPU twins, telemetry analytics, and the run directories they write.
//!
//! The engine is the project's API boundary: the `twin` CLI (package `twin-cli`) and the viewer
//! are thin glue over it. The engine opens no window, and touches the filesystem only in its
//! I/O modules ([`dataset`], [`terrain`], the scenario readers, [`output`], the telemetry
//! readers and lake). See `ARCHITECTURE.md` at the repository root for the map.

pub mod batch;
pub mod columns;
pub mod dataset;
pub mod dispersion;
pub mod geodesy;
pub mod gpu;
pub mod grid;
pub mod mine;
pub mod model;
pub mod output;
pub mod safeio;
pub mod scenario;
pub mod spatial;
pub mod sta;
pub mod telemetry;
pub mod terrain;
pub mod traffic;
