//! `twin telemetry`: analytics over observation files.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use polars::prelude::{IntoLazy, ParquetWriter};
use twin_engine::telemetry::{hourly, observations};

#[derive(Debug, Subcommand)]
pub enum TelemetryCommand {
    /// Hourly VN_AQI (Decision 1459/QĐ-TCMT: NowCast for PM) per station from observations.
    Aqi(AqiArgs),
}

#[derive(Debug, Args)]
pub struct AqiArgs {
    /// Observations in the long layout (CSV or Parquet): station_id, parameter, time, value,
    /// unit, status.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Output Parquet: station_id, time (UTC, hour-ending), aqi, dominant, band, si_<parameter>.
    #[arg(long, value_name = "FILE.parquet")]
    out: PathBuf,
}

pub fn run(cmd: TelemetryCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        TelemetryCommand::Aqi(a) => {
            let obs = observations::read(&a.input)?;
            let rows = obs.height();
            let mut df = hourly::vn_hourly_aqi(obs.lazy())
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
                "aqi       {} station-hours, {with_aqi} with an AQI (the others lack PM)",
                df.height()
            )?;
            writeln!(out, "wrote     {}", a.out.display())?;
            Ok(())
        }
    }
}
