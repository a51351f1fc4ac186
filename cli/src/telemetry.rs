//! `twin telemetry`: analytics over observation files.

use std::io::Write;
use std::path::{Path, PathBuf};

use twin_engine::safeio::{OutDir, check_out_file};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use polars::prelude::IntoLazy;
use twin_engine::telemetry::hourly::Standard;
use twin_engine::telemetry::{daily, hourly};

#[derive(Debug, Subcommand)]
pub enum TelemetryCommand {
    /// Air quality index per station: VN_AQI (Decision 1459/QĐ-TCMT) or US EPA (PM), hourly
    /// (NowCast for PM) or daily (local days, UTC+7).
    Aqi(AqiArgs),
    /// Synthetic minute-level telemetry for the dataset's stations and mines (weather, plumes,
    /// mine gas, sensor faults), written as a lake; for exercising the analytics at scale.
    Generate(GenerateArgs),
    /// QA then hourly AQI over a lake, four local days at a time (memory bounded by about ten
    /// days of readings).
    Stream(StreamArgs),
    /// Markdown and HTML report with PNG plots: AQI calendar per station, series against the
    /// limits, mine-gas alarm timeline.
    Report(ReportArgs),
    /// Appends observations to a Hive-partitioned Parquet lake (first accepted reading wins;
    /// each ingest is one batch, whole or absent even if killed).
    Ingest(IngestArgs),
    /// Checks a lake (unreadable parts, leftovers of killed writers) or repairs it (quarantines
    /// unreadable parts as `.parquet.bad`, removes leftovers).
    #[command(subcommand)]
    Lake(LakeCommand),
    /// Quality assurance: accepted and rejected readings (with the reason) and gaps.
    Qa(QaArgs),
    /// Mine-gas alarms (CH4, CO, O2, air velocity): events and time beyond each level per shift.
    Alarms(AlarmArgs),
    /// Exceedances of the ambient air limits (QCVN 05:2013/BTNMT) per station, parameter and
    /// averaging period.
    Exceedances(ExceedanceArgs),
    /// Model evaluation (FB, NMSE, FAC2, MG, VG, R) of a dispersion run's station series
    /// against observations.
    Evaluate(EvaluateArgs),
    /// Proves the US AQI pipeline against an AirNow hourly file's own NowCast and AQI columns:
    /// the published NowCast in the 2012 table (must agree on every hour), and the twin's
    /// hourly AQI from the raw column (agreement reported, disagreements sorted by cause).
    CheckAirnow(CheckAirnowArgs),
}

#[derive(Debug, Args)]
pub struct CheckAirnowArgs {
    /// An AirNow hourly file (columns Site, Parameter, Date (LT), Year, Month, Day, Hour,
    /// NowCast Conc., AQI, …, Raw Conc., Conc. Unit, Duration, QC Name).
    #[arg(long, value_name = "FILE.csv")]
    input: PathBuf,
    /// The file's local time, hours east of UTC (Hanoi: 7).
    #[arg(long, default_value_t = 7, allow_hyphen_values = true, value_parser = clap::value_parser!(i32).range(-12..=14))]
    utc_offset_h: i32,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Number of local days.
    #[arg(long)]
    days: u32,
    /// First local day (YYYY-MM-DD).
    #[arg(long, default_value = "2026-01-01")]
    start: String,
    /// `all`, or a comma-separated list of station and mine ids.
    #[arg(long, default_value = "all")]
    stations: String,
    /// Seed: the same seed, days and stations give the same readings.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory: the lake (parameter=…/date=…/part-*.parquet), `_faults.csv` (every
    /// injected fault) and `_generator.json` (the settings and counts).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Dataset whose stations and mines report.
    #[command(flatten)]
    dataset: crate::DatasetArgs,
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    /// A lake directory.
    #[arg(long, value_name = "DIR")]
    input: PathBuf,
    /// Which index.
    #[arg(long, value_enum, default_value_t = StandardArg::Vn)]
    standard: StandardArg,
    /// Output directory: aqi_hourly.parquet, rejected.parquet, gaps.parquet (accepted readings
    /// are the lake less the rejected ones and are not written again).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    overwrite: OverwriteArg,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Observations: CSV (long or wide), Parquet, or a lake directory.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Output directory: report.md, report.html and the PNG plots.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Stations with series plots (the others appear in the tables and the calendar).
    #[arg(long, default_value_t = 6)]
    max_series: usize,
    #[command(flatten)]
    overwrite: OverwriteArg,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// A dispersion run directory (`twin simulate dispersion --out DIR`); its stations.parquet
    /// holds interval-end station series.
    #[arg(long, value_name = "RUN")]
    sim: PathBuf,
    /// Observations: CSV (long or wide), Parquet, or a lake directory.
    #[arg(long, value_name = "PATH")]
    obs: PathBuf,
    /// Output Parquet: station_id, pollutant, pairs, mean_obs, mean_sim, fb, nmse, fac2, mg,
    /// vg, r.
    #[arg(long, value_name = "FILE.parquet")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExceedanceArgs {
    /// Observations: CSV (long or wide), Parquet, or a lake directory.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Output Parquet: station_id, parameter, period, limit_ug_m3, edition, periods,
    /// exceedances, max_ug_m3.
    #[arg(long, value_name = "FILE.parquet")]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct AlarmArgs {
    /// Observations: CSV (long or wide), Parquet, or a lake directory.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Output directory: events.parquet, per_shift.parquet.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Interval between readings, s (time beyond a level = readings × interval).
    #[arg(long, default_value_t = 60.0)]
    interval_s: f64,
    #[command(flatten)]
    overwrite: OverwriteArg,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "mqtt"])))]
pub struct IngestArgs {
    /// Observations (CSV long or wide, or Parquet).
    #[arg(long, value_name = "PATH")]
    pub(crate) input: Option<PathBuf>,
    /// Subscribe to an MQTT broker instead (`mqtt://HOST:PORT`, or `unix:///PATH` for the
    /// broker's Unix socket on this host; MQTT 3.1.1, QoS 1, persistent session) and ingest
    /// until stopped: every reading is in the write-ahead log and fsynced before its PUBACK.
    #[arg(long, value_name = "URL")]
    pub(crate) mqtt: Option<String>,
    /// The MQTT client id (stable, so the broker keeps the session while the ingester is down).
    #[arg(long, default_value = "qn-twin-ingest")]
    pub(crate) client_id: String,
    /// Flush the write-ahead log into the lake after this many readings…
    #[arg(long, default_value_t = 50_000)]
    pub(crate) flush_readings: usize,
    /// …or this many seconds.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) flush_s: f64,
    /// Stop (after a last flush) when no message has arrived for this many seconds; default:
    /// run until SIGINT/SIGTERM.
    #[arg(long, value_name = "S")]
    pub(crate) idle_exit_s: Option<f64>,
    /// The lake directory (created if missing): parameter=…/date=…/part-<ID>.parquet.
    #[arg(long, value_name = "DIR")]
    pub(crate) lake: PathBuf,
    #[command(flatten)]
    pub(crate) dataset: crate::DatasetArgs,
}

#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Lists unreadable parts, `.tmp` leftovers and unfinished batches; changes nothing. Exits
    /// with status 1 when the lake needs a repair.
    Check(LakeArgs),
    /// Finishes unfinished batches, removes `.tmp` leftovers and renames unreadable parts to
    /// `part-….parquet.bad` (kept for recovery by hand; no reader sees them).
    Repair(LakeArgs),
}

#[derive(Debug, Args)]
pub struct LakeArgs {
    /// The lake directory.
    #[arg(value_name = "LAKE")]
    lake: PathBuf,
}

/// `--overwrite` for commands that write a directory.
#[derive(Debug, Args)]
pub struct OverwriteArg {
    /// Replace an output directory that already holds files (whole: nothing of the old one
    /// is kept). Without it such a directory is refused before anything is computed.
    #[arg(long)]
    overwrite: bool,
}

#[derive(Debug, Args)]
pub struct QaArgs {
    /// Observations: CSV (long or wide), Parquet, or a lake directory.
    #[arg(long, value_name = "PATH")]
    input: PathBuf,
    /// Output directory: accepted.parquet, rejected.parquet (with `reason`), gaps.parquet.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Expected interval between readings, s (a gap: beyond 1.5 of it, or of the series' median
    /// interval where longer).
    #[arg(long, default_value_t = 60.0)]
    interval_s: f64,
    /// Identical consecutive readings that make a stuck sensor.
    #[arg(long, default_value_t = 30)]
    stuck_run: u32,
    #[command(flatten)]
    overwrite: OverwriteArg,
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
    /// US EPA AQI with the 2012–2024 breakpoints (historical AirNow files), PM only.
    #[value(name = "us-2012")]
    Us2012,
}

impl From<StandardArg> for Standard {
    fn from(s: StandardArg) -> Self {
        match s {
            StandardArg::Vn => Standard::Vn,
            StandardArg::Us => Standard::Us,
            StandardArg::Us2012 => Standard::Us2012,
        }
    }
}

#[derive(Debug, Args)]
pub struct AqiArgs {
    /// Observations: CSV (long or wide), Parquet, or a lake directory.
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

fn write_parquet(
    path: &std::path::Path,
    df: &mut polars::prelude::DataFrame,
) -> anyhow::Result<()> {
    Ok(twin_engine::output::write_parquet(path, df)?)
}

/// How often each value of a string column occurs, in value order (for the printed summary).
fn count_values(
    df: &polars::prelude::DataFrame,
    column: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, usize>> {
    let mut counts = std::collections::BTreeMap::new();
    for v in df.column(column)?.str()?.iter().flatten() {
        *counts.entry(v.to_string()).or_default() += 1;
    }
    Ok(counts)
}

/// Reads observations (a file or a lake); lake parts that cannot be read are named on stderr
/// with a count (never dropped silently) and the rest is used.
pub(crate) fn read_input(path: &Path) -> anyhow::Result<polars::prelude::DataFrame> {
    let r = twin_engine::telemetry::read_any(path)?;
    warn_skipped(path, &r.skipped);
    Ok(r.frame)
}

/// Names unreadable lake parts on stderr.
pub(crate) fn warn_skipped(lake: &Path, skipped: &[twin_engine::telemetry::lake::BadPart]) {
    if skipped.is_empty() {
        return;
    }
    eprintln!(
        "twin: warning: {} unreadable part file(s) of {} skipped (their readings are not used; `twin telemetry lake repair {}` quarantines them):",
        skipped.len(),
        lake.display(),
        lake.display()
    );
    for b in skipped {
        eprintln!("twin: warning:   {b}");
    }
}

/// Prepares an output directory (see [`OutDir`]).
fn out_dir(out: &Path, overwrite: &OverwriteArg, inputs: &[&Path]) -> anyhow::Result<OutDir> {
    Ok(OutDir::prepare(out, overwrite.overwrite, inputs)?)
}

pub fn run(cmd: TelemetryCommand, out: &mut impl Write) -> anyhow::Result<()> {
    match cmd {
        TelemetryCommand::Generate(a) => generate(a, out),
        TelemetryCommand::Stream(a) => stream(a, out),
        TelemetryCommand::Report(a) => {
            let dir = out_dir(&a.out, &a.overwrite, &[&a.input])?;
            crate::report::run(&a.input, dir, a.max_series, out)
        }
        TelemetryCommand::Lake(c) => lake(c, out),
        TelemetryCommand::Ingest(a) => {
            let Some(input) = &a.input else {
                return crate::live::ingest_mqtt(&a, out);
            };
            twin_engine::safeio::refuse_inputs(&a.lake, &[input])?;
            let obs = read_input(input)?;
            let r = twin_engine::telemetry::lake::append(&a.lake, &obs)?;
            warn_skipped(&a.lake, &r.skipped);
            writeln!(
                out,
                "read      {} readings from {}",
                obs.height(),
                input.display()
            )?;
            writeln!(
                out,
                "appended  {} readings in {} new part file(s); {} duplicate(s) of accepted readings skipped",
                r.rows,
                r.files.len(),
                r.duplicates
            )?;
            writeln!(out, "lake      {}", a.lake.display())?;
            Ok(())
        }
        TelemetryCommand::Evaluate(a) => {
            use twin_engine::telemetry::evaluate::{pairs, statistics};
            check_out_file(&a.out, &[&a.sim, &a.obs])?;
            let sim = twin_engine::output::run::RunDir::open(&a.sim)?.stations()?;
            let obs = read_input(&a.obs)?;
            let mut df = statistics(pairs(obs.lazy(), sim.lazy()))
                .collect()
                .map_err(|e| anyhow::anyhow!("evaluating {}: {e}", a.sim.display()))?;
            write_parquet(&a.out, &mut df)?;
            writeln!(
                out,
                "evaluated {} station × pollutant series (Chang & Hanna 2004: FB, NMSE, FAC2, MG, VG, R)",
                df.height()
            )?;
            writeln!(out, "wrote     {}", a.out.display())?;
            Ok(())
        }
        TelemetryCommand::Exceedances(a) => {
            use twin_engine::telemetry::exceedance::{LimitTable, exceedances};
            check_out_file(&a.out, &[&a.input])?;
            let obs = read_input(&a.input)?;
            let fail = |e: polars::prelude::PolarsError| {
                anyhow::anyhow!("exceedances of {}: {e}", a.input.display())
            };
            let table = LimitTable::default();
            let mut df = exceedances(obs.lazy(), &table)
                .and_then(|lf| lf.collect())
                .map_err(fail)?;
            write_parquet(&a.out, &mut df)?;
            let n = df
                .column("exceedances")?
                .cast(&polars::prelude::DataType::Float64)?;
            let total: f64 = n.f64()?.iter().flatten().sum();
            writeln!(out, "limits    {}", table.edition)?;
            writeln!(
                out,
                "rows      {} (station × parameter × period), {total:.0} exceeding periods",
                df.height()
            )?;
            writeln!(out, "wrote     {}", a.out.display())?;
            Ok(())
        }
        TelemetryCommand::Alarms(a) => {
            use twin_engine::telemetry::alarms::{alarms, check_interval, default_levels};
            check_interval(a.interval_s).map_err(|e| anyhow::anyhow!("{e}"))?;
            let dir = out_dir(&a.out, &a.overwrite, &[&a.input])?;
            let obs = read_input(&a.input)?;
            let fail = |e: polars::prelude::PolarsError| {
                anyhow::anyhow!("alarms of {}: {e}", a.input.display())
            };
            let r = alarms(obs.lazy(), &default_levels(), a.interval_s).map_err(fail)?;
            let mut events = r.events.collect().map_err(fail)?;
            let mut shifts = r.per_shift.collect().map_err(fail)?;
            write_parquet(&dir.path().join("events.parquet"), &mut events)?;
            write_parquet(&dir.path().join("per_shift.parquet"), &mut shifts)?;
            dir.commit()?;
            writeln!(out, "events    {}", events.height())?;
            for (n, c) in count_values(&events, "alarm")? {
                writeln!(out, "          {n}: {c}")?;
            }
            writeln!(out, "wrote     {}", a.out.display())?;
            Ok(())
        }
        TelemetryCommand::Qa(a) => {
            let cfg = twin_engine::telemetry::qa::QaConfig {
                expected_interval_s: a.interval_s,
                stuck_run: a.stuck_run,
                ..Default::default()
            };
            cfg.check().map_err(|e| anyhow::anyhow!("{e}"))?;
            let dir = out_dir(&a.out, &a.overwrite, &[&a.input])?;
            let obs = read_input(&a.input)?;
            let rows = obs.height();
            let r = twin_engine::telemetry::qa::qa(obs.lazy(), &cfg)
                .map_err(|e| anyhow::anyhow!("QA of {}: {e}", a.input.display()))?;
            let collect = |lf: polars::prelude::LazyFrame| {
                lf.collect()
                    .map_err(|e| anyhow::anyhow!("QA of {}: {e}", a.input.display()))
            };
            let (mut acc, mut rej, mut gaps) =
                (collect(r.accepted)?, collect(r.rejected)?, collect(r.gaps)?);
            write_parquet(&dir.path().join("accepted.parquet"), &mut acc)?;
            write_parquet(&dir.path().join("rejected.parquet"), &mut rej)?;
            write_parquet(&dir.path().join("gaps.parquet"), &mut gaps)?;
            dir.commit()?;
            writeln!(out, "read      {rows} readings from {}", a.input.display())?;
            writeln!(out, "accepted  {}", acc.height())?;
            writeln!(out, "rejected  {}", rej.height())?;
            for (r, n) in count_values(&rej, "reason")? {
                writeln!(out, "          {r}: {n}")?;
            }
            writeln!(out, "gaps      {}", gaps.height())?;
            writeln!(out, "wrote     {}", a.out.display())?;
            Ok(())
        }
        TelemetryCommand::CheckAirnow(a) => check_airnow(&a, out),
        TelemetryCommand::Aqi(a) => {
            check_out_file(&a.out, &[&a.input])?;
            let obs = read_input(&a.input)?;
            let rows = obs.height();
            let standard = Standard::from(a.standard);
            let (plan, unit) = match a.scale {
                Scale::Hourly => (hourly::hourly_aqi(obs.lazy(), standard), "station-hours"),
                Scale::Daily => (daily::daily_aqi(obs.lazy(), standard), "station-days"),
            };
            let mut df = plan
                .collect()
                .map_err(|e| anyhow::anyhow!("computing the AQI of {}: {e}", a.input.display()))?;
            write_parquet(&a.out, &mut df)?;
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

fn check_airnow(a: &CheckAirnowArgs, out: &mut impl Write) -> anyhow::Result<()> {
    use polars::prelude::DataType;
    use twin_engine::telemetry::airnow;
    let rows = airnow::read_rows(&a.input, a.utc_offset_h)?;
    let obs = airnow::observations_of(&a.input, &rows)?;
    let df = hourly::hourly_aqi(obs.lazy(), Standard::Us2012)
        .collect()
        .map_err(|e| anyhow::anyhow!("computing the AQI of {}: {e}", a.input.display()))?;
    let time = df.column("time")?.cast(&DataType::Int64)?;
    let aqi = df.column("aqi")?.cast(&DataType::Int64)?;
    let twin: std::collections::HashMap<i64, i64> = time
        .i64()?
        .iter()
        .zip(aqi.i64()?.iter())
        .filter_map(|(t, v)| Some((t?, v?)))
        .collect();
    let c = airnow::compare(&rows, &twin);
    let pct = |n: usize, d: usize| 100.0 * n as f64 / d.max(1) as f64;
    writeln!(out, "file      {} ({} rows)", a.input.display(), rows.len())?;
    writeln!(
        out,
        "lookup    published NowCast in the 2012 table = published AQI on {}/{} hours ({:.2} %)",
        c.lookup_agree,
        c.published,
        pct(c.lookup_agree, c.published)
    )?;
    writeln!(
        out,
        "pipeline  twin AQI from the raw column = published AQI on {}/{} hours ({:.1} %; of all published hours {:.1} %)",
        c.pipeline_agree,
        c.both,
        pct(c.pipeline_agree, c.both),
        pct(c.pipeline_agree, c.published)
    )?;
    writeln!(
        out,
        "differ    rounding of the file (NowCast within 0.1 µg/m³) {}, missing or invalid hours in the 12-h window {}, other {}; largest difference {} AQI",
        c.precision, c.window, c.other, c.max_abs_diff
    )?;
    writeln!(
        out,
        "no AQI    {} published hours (fewer than 2 of the 3 latest hours valid in the file); duplicated hour labels {}",
        c.twin_missing, c.duplicated_hours
    )?;
    anyhow::ensure!(
        c.published > 0 && c.lookup_agree == c.published,
        "the 2012 table does not reproduce the published AQI from the published NowCast on {} hours",
        c.published - c.lookup_agree
    );
    Ok(())
}

fn lake(cmd: LakeCommand, out: &mut impl Write) -> anyhow::Result<()> {
    use twin_engine::telemetry::lake;
    let (dir, repairing) = match &cmd {
        LakeCommand::Check(a) => (&a.lake, false),
        LakeCommand::Repair(a) => (&a.lake, true),
    };
    let r = if repairing {
        lake::repair(dir)?
    } else {
        lake::check(dir)?
    };
    writeln!(out, "lake      {}", dir.display())?;
    writeln!(out, "parts     {} readable, {} readings", r.parts, r.rows)?;
    let verb = if repairing {
        "quarantined"
    } else {
        "unreadable"
    };
    writeln!(out, "{verb:<9} {}", r.bad.len())?;
    for b in &r.bad {
        writeln!(out, "          {b}")?;
    }
    let verb = if repairing { "removed" } else { "leftovers" };
    writeln!(
        out,
        "{verb:<9} {} .tmp part(s) of writers killed before committing",
        r.leftovers.len()
    )?;
    for t in &r.leftovers {
        writeln!(out, "          {}", t.display())?;
    }
    let verb = if repairing { "finished" } else { "unfinished" };
    writeln!(
        out,
        "{verb:<9} {} committed batch(es) left half renamed",
        r.journals
    )?;
    if !r.quarantined.is_empty() {
        writeln!(
            out,
            "earlier   {} part(s) quarantined before (.parquet.bad)",
            r.quarantined.len()
        )?;
    }
    if !repairing && !r.is_clean() {
        anyhow::bail!(
            "{}: needs a repair (`twin telemetry lake repair {}`)",
            dir.display(),
            dir.display()
        );
    }
    Ok(())
}

fn generate(a: GenerateArgs, out: &mut impl Write) -> anyhow::Result<()> {
    use twin_engine::telemetry::{lake, synthetic};
    let dir = a.dataset.dir()?;
    let dataset = a.dataset.load()?;
    if a.days == 0 {
        anyhow::bail!("--days: must be at least 1");
    }
    let first_day = lake::day_of(&a.start)
        .with_context(|| format!("--start: {:?} is not a date (YYYY-MM-DD)", a.start))?;
    let selection = if a.stations.trim() == "all" {
        synthetic::Selection::All
    } else {
        synthetic::Selection::Ids(
            a.stations
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    };
    let sites = synthetic::sites(&dataset.province, &selection)
        .map_err(|e| anyhow::anyhow!("--stations: {e}"))?;
    let generator = synthetic::Generator::new(&dataset.province, sites, first_day, a.seed);
    let started = std::time::Instant::now();
    let bar = crate::progress::bar(u64::from(a.days), "days");
    let report = synthetic::write_lake(
        &generator,
        &a.out,
        a.days,
        &dir.display().to_string(),
        |_| bar.inc(1),
    )?;
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    let (rows, dups) = (report.readings, report.duplicates_skipped);
    writeln!(
        out,
        "generated {rows} readings from {} sites over {} day(s) from {} (seed {}) in {wall:.1} s: {:.2e} readings/s",
        generator.sites.len(),
        a.days,
        a.start,
        a.seed,
        rows as f64 / wall.max(1e-9)
    )?;
    if dups > 0 {
        writeln!(
            out,
            "skipped   {dups} readings already in the lake (first accepted wins)"
        )?;
    }
    let listed: Vec<String> = report
        .faults
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    writeln!(
        out,
        "faults    {} (listed in {})",
        listed.join(", "),
        a.out.join("_faults.csv").display()
    )?;
    writeln!(
        out,
        "lake      {} ({} part files)",
        a.out.display(),
        report.part_files
    )?;
    Ok(())
}

fn stream(a: StreamArgs, out: &mut impl Write) -> anyhow::Result<()> {
    use twin_engine::output::ParquetSinks;
    use twin_engine::telemetry::{lake, qa::QaConfig, stream};
    let standard = Standard::from(a.standard);
    let dir = out_dir(&a.out, &a.overwrite, &[&a.input])?;
    let days = lake::days(&a.input)?;
    let bar = crate::progress::bar(days.len() as u64, "days");
    let started = std::time::Instant::now();
    let mut sinks = ParquetSinks::new(dir.path(), &["aqi_hourly", "rejected", "gaps"]);
    let totals = stream::qa_hourly_aqi(
        &a.input,
        &QaConfig::default(),
        standard,
        |d| -> anyhow::Result<()> {
            sinks.write(0, &d.aqi)?;
            sinks.write(1, &d.rejected)?;
            sinks.write(2, &d.gaps)?;
            bar.inc(1);
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    sinks.finish()?;
    dir.commit()?;
    warn_skipped(&a.input, &totals.skipped);
    let wall = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "streamed  {} readings over {} local days in {wall:.1} s: {:.2e} readings/s",
        totals.readings,
        totals.days,
        totals.readings as f64 / wall.max(1e-9)
    )?;
    writeln!(
        out,
        "qa        {} accepted, {} rejected, {} gaps",
        totals.accepted, totals.rejected, totals.gaps
    )?;
    writeln!(out, "aqi       {} station-hours", totals.aqi_rows)?;
    writeln!(out, "wrote     {}", a.out.display())?;
    Ok(())
}
