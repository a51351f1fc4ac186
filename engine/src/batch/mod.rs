//! Batch runs: sweeps of a scenario over its keys (grids and seeded Monte-Carlo draws), run
//! member by member into one output directory, resumable and split into shards for a
//! cluster's job array.
//!
//! `keys.rs`: dotted key paths into a scenario's TOML (get, set only what exists).
//! `sweep.rs`: the sweep file, members (ids, values, resolved scenarios), shards.
//! `run.rs`: one member's run (exactly as `twin simulate` runs the scenario), its record,
//! the per-kind Hive-partitioned tables, and `members.parquet`. `stats.rs`: ensemble
//! statistics of dispersion members (mean, percentiles, exceedance probability) as GeoTIFF
//! bands, exact, tile by tile within a memory budget. `study.rs`: studies chaining models
//! (`twin run`), step inputs from earlier steps, `manifest.json` with SHA-256 of every input.

pub mod keys;
pub mod run;
pub mod stats;
pub mod study;
pub mod sweep;

pub use run::{GpuBatcher, MemberRecord, MergeReport, Outcome, merge, run_member};
pub use sweep::{Member, Model, Shard, Sweep};
