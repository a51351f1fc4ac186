//! `twin`: the QN Twin command line. Thin glue over `twin-engine`: parse arguments, load the
//! dataset, call the engine, format the answer. Errors print as one line on stderr.

mod import;
mod info;
mod live;
mod output;
mod progress;
mod query;
mod report;
mod serve;
mod simulate;
mod study;
mod sweep;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use twin_engine::dataset::{Dataset, DatasetError};

/// QN Twin: digital twin of Quảng Ninh province and its coal sector.
#[derive(Debug, Parser)]
#[command(name = "twin", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Counts by kind, bounds, CRS and terrain of a dataset.
    Info(info::InfoArgs),
    /// Validates a dataset and lists every problem found (file, feature, field).
    Validate(DatasetArgs),
    /// Spatial queries: nearest, within, snap, corridor.
    #[command(subcommand)]
    Query(query::QueryCommand),
    /// Run a simulation from a scenario file.
    #[command(subcommand)]
    Simulate(simulate::SimulateCommand),
    /// Run a study: models chained step by step (traffic → dispersion → evaluation, mines)
    /// into one directory with a manifest of every input's SHA-256.
    Run(study::RunArgs),
    /// Sweep a scenario over its keys (grids and seeded draws): members in parallel,
    /// resumable, sharded for a job array; members.parquet and per-kind Hive tables.
    Sweep(sweep::SweepArgs),
    /// Import external data (OpenStreetMap roads).
    #[command(subcommand)]
    Import(import::ImportCommand),
    /// Telemetry: generate, ingest, QA, air-quality indices, alarms, evaluation, reports.
    #[command(subcommand)]
    Telemetry(telemetry::TelemetryCommand),
    /// OGC SensorThings API 1.1 over the dataset and a lake (with extensions: latest,
    /// aggregates, AQI), bearer-token writes through the broker, and a live SSE feed.
    Serve(serve::ServeArgs),
}

/// Which dataset to use.
#[derive(Debug, Clone, Args)]
struct DatasetArgs {
    /// Dataset directory (holding dataset.toml). Default: `QN_TWIN_DATASET`, else the bundled
    /// Quảng Ninh dataset (unpacked from the binary on first use).
    #[arg(long, global = true, value_name = "DIR")]
    dataset: Option<PathBuf>,
}

impl DatasetArgs {
    fn dir(&self) -> anyhow::Result<PathBuf> {
        Ok(twin_engine::dataset::resolve_dir(
            self.dataset.as_deref(),
            None,
        )?)
    }

    fn load(&self) -> anyhow::Result<Dataset> {
        let dir = self.dir()?;
        Dataset::load(&dir).with_context(|| format!("loading dataset {}", dir.display()))
    }
}

/// Output format of query and info commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Aligned text columns.
    Table,
    /// JSON.
    Json,
    /// GeoJSON FeatureCollection (queries only).
    Geojson,
}

/// Mesa's Vulkan device-select layer (an implicit layer every Mesa install enables) probes
/// Wayland for the display's GPU when an instance enables the Wayland surface extension, and on
/// a headless machine libwayland then prints "error: XDG_RUNTIME_DIR is invalid or not set"
/// though nothing failed. `twin` computes without a window and chooses its adapter itself, so
/// it turns that layer off for its own process, unless the user set `NODEVICE_SELECT`.
#[allow(unsafe_code)]
fn quiet_vulkan_device_select() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: the first thing `main` does, before any thread exists, so nothing reads the
        // environment while it changes (the only unsafe code in the workspace).
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

fn main() -> ExitCode {
    quiet_vulkan_device_select();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.use_stderr() {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // one line: clap's first line, without its "error: " prefix
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "twin: {} (see `twin --help`)",
                first.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("twin: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Info(args) => info::run(&args, &mut out)?,
        Command::Validate(args) => return validate(&args),
        Command::Query(q) => query::run(q, &mut out)?,
        Command::Simulate(s) => simulate::run(s, &mut out)?,
        Command::Sweep(a) => sweep::run(a, &mut out)?,
        Command::Run(a) => study::run(a, &mut out)?,
        Command::Import(i) => import::run(i, &mut out)?,
        Command::Telemetry(t) => telemetry::run(t, &mut out)?,
        Command::Serve(a) => serve::run(&a, &mut out)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn validate(args: &DatasetArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir()?;
    match Dataset::load(&dir) {
        Ok(d) => {
            let n: usize = twin_engine::model::FeatureKind::ALL
                .iter()
                .map(|k| d.province.count(*k))
                .sum();
            println!(
                "{}: valid ({n} features, {} land areas)",
                dir.display(),
                d.province.land.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(DatasetError::Invalid { problems }) => {
            for p in &problems {
                eprintln!("{p}");
            }
            eprintln!("twin: {}: {} problem(s)", dir.display(), problems.len());
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("loading dataset {}", dir.display()))),
    }
}
