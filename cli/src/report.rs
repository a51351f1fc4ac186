//! `twin telemetry report`: Markdown/HTML report with plots.

use std::io::Write;
use std::path::Path;

use twin_engine::telemetry::report;

pub fn run(
    input: &Path,
    out_dir: &Path,
    max_series: usize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let obs = twin_engine::telemetry::read_any(input)?;
    let s = report::write_report(obs, out_dir, max_series, &input.display().to_string())?;
    writeln!(
        out,
        "readings  {} in, {} accepted, {} rejected by QA",
        s.readings.0, s.readings.1, s.readings.2
    )?;
    writeln!(
        out,
        "daily AQI {} station-days; {} alarm events",
        s.station_days, s.alarm_events
    )?;
    if let Some(why) = &s.plots_skipped {
        writeln!(out, "plots     left out: {why}")?;
    }
    for f in &s.files {
        writeln!(out, "wrote     {}", f.display())?;
    }
    Ok(())
}
