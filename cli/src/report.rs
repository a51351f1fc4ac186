//! `twin telemetry report`: Markdown/HTML report with plots.

use std::io::Write;
use std::path::Path;

use twin_engine::safeio::OutDir;
use twin_engine::telemetry::report;

pub fn run(
    input: &Path,
    dir: OutDir,
    max_series: usize,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let obs = crate::telemetry::read_input(input)?;
    let s = report::write_report(obs, dir.path(), max_series, &input.display().to_string())?;
    let (staging, target) = (dir.path().to_path_buf(), dir.target().to_path_buf());
    dir.commit()?;
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
        let f = f
            .strip_prefix(&staging)
            .map(|r| target.join(r))
            .unwrap_or(f.clone());
        writeln!(out, "wrote     {}", f.display())?;
    }
    Ok(())
}
