//! `twin telemetry`: analytics over observation files.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use polars::prelude::{IntoLazy, ParquetWriter};
use twin_engine::telemetry::hourly::Standard;
use twin_engine::telemetry::{daily, hourly, observations};

#[derive(Debug, Subcommand)]
pub enum TelemetryCommand {
    /// Air quality index per station: VN_AQI (Decision 1459/QĐ-TCMT) or US EPA (PM), hourly
    /// (NowCast for PM) or daily (local days, UTC+7).
    Aqi(AqiArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scale {
    /// One row per station and hour-ending hour (UTC).
    Hourly,
    /// One row per station and local day.
    Daily,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StandardArg {
    /// VN_AQI, Decision 1459/QĐ-TCMT.
    Vn,
    /// US EPA AQI, PM2.5 (May 2024 breakpoints) and PM10 only.
    Us,
}

#[derive(Debug, Args)]
pub struct AqiArgs {
    /// Observations in the long layout (CSV or Parquet): station_id, parameter, time, value,
    /// unit, status.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Hourly or daily.
    #[arg(long, value_enum, default_value_t = Scale::Hourly)]
    scale: Scale,
    /// Which index.
    #[arg(long, value_enum, default_value_t = StandardArg::Vn)]
    standard: StandardArg,
    /// Output Parquet: station_id, time (UTC; hour-ending, or the local day's start), aqi,
    /// dominant, band, si_<parameter>.
    #[arg(long, value_name = "FILE.parquet")]
    out: PathBuf,
}

pub fn run(cmd: TelemetryCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        TelemetryCommand::Aqi(a) => {
            let obs = observations::read(&a.input)?;
            let rows = obs.height();
            let standard = match a.standard {
                StandardArg::Vn => Standard::Vn,
                StandardArg::Us => Standard::Us,
            };
            let (plan, unit) = match a.scale {
                Scale::Hourly => (hourly::hourly_aqi(obs.lazy(), standard), "station-hours"),
                Scale::Daily => (daily::daily_aqi(obs.lazy(), standard), "station-days"),
            };
            let mut df = plan
                .collect()
                .map_err(|e| anyhow::anyhow!("computing the AQI of {}: {e}", a.input.display()))?;
            let file = std::fs::File::create(&a.out)
                .with_context(|| format!("{}: cannot write", a.out.display()))?;
            ParquetWriter::new(file)
                .finish(&mut df)
                .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", a.out.display()))?;
            let with_aqi = df.column("aqi")?.len() - df.column("aqi")?.null_count();
            writeln!(out, "read      {rows} readings from {}", a.input.display())?;
            writeln!(
                out,
                "aqi       {} {unit}, {with_aqi} with an AQI (the others lack PM)",
                df.height()
            )?;
            writeln!(out, "wrote     {}", a.out.display())?;
            Ok(())
        }
    }
}
