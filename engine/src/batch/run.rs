//! Running sweep members and gathering their results.
//!
//! Layout under the sweep's output directory `DIR`:
//! - `members/member=<id>/` — one member, whole or absent (built in a hidden sibling and
//!   renamed, [`crate::safeio::OutDir`]): `scenario.toml` (the base with the member's values),
//!   the model's run directory files (`summary.json`, Parquet tables, GeoTIFFs …) and
//!   `member.json` (values, status, wall time, headline metrics). A member is finished exactly
//!   when this directory exists with its `member.json`; a rerun skips it.
//! - `members/member=<id>.failed` — why a member failed (removed when it later succeeds).
//! - `tables/<kind>/member=<id>/part-0.parquet` — every Parquet output of every member, one
//!   Hive-partitioned table per kind (hard links to the member's files where the file system
//!   allows, else copies).
//! - `members.parquet` — after [`merge`]: one row per member.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use polars::prelude::*;
use serde::{Deserialize, Serialize};
use toml::Value;

use super::sweep::{Member, Model, Sweep};
use crate::dataset::Dataset;
use crate::gpu::GpuContext;
use crate::output::run::RunSummary;
use crate::safeio::OutDir;

/// What `member.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberRecord {
    /// `m000017`.
    pub id: String,
    /// Index from 0.
    pub index: usize,
    /// Swept key → value (TOML values as JSON).
    pub values: BTreeMap<String, serde_json::Value>,
    /// `done` (a failed member has no record, only a `.failed` file).
    pub status: String,
    /// Wall time of the member, s (a wall-clock field: differs between runs).
    pub wall_s: f64,
    /// Headline metrics: `exposure_<pollutant>_<district>` (population-weighted time-mean,
    /// µg/m³; `province` too) for dispersion, `emitted_<pollutant>_kg` for traffic.
    pub metrics: BTreeMap<String, f64>,
}

/// Marks `out` as this sweep's directory: copies of the sweep file and its base in
/// `out/sweep/`. A directory that already holds a different sweep (another file or base
/// text) is refused, so a rerun or a second shard cannot mix two sweeps' members.
pub fn claim(out: &Path, sweep: &Sweep) -> Result<(), String> {
    let dir = out.join("sweep");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (src, name) in [(&sweep.file, "sweep.toml"), (&sweep.base_file, "base.toml")] {
        let text = std::fs::read(src).map_err(|e| format!("{}: {e}", src.display()))?;
        let copy = dir.join(name);
        match std::fs::read(&copy) {
            Ok(old) if old == text => {}
            Ok(_) => {
                return Err(format!(
                    "{}: holds a different sweep ({} differs from {}); give another --out",
                    out.display(),
                    copy.display(),
                    src.display()
                ));
            }
            Err(_) => crate::safeio::write_atomic(&copy, |f| std::io::Write::write_all(f, &text))
                .map_err(|e| format!("{}: {e}", copy.display()))?,
        }
    }
    Ok(())
}

/// The dataset the members run over: the base's `dataset` key (relative to the base file),
/// else `flag`, else `QN_TWIN_DATASET` or the bundled dataset. Loaded once per sweep.
pub fn load_dataset(sweep: &Sweep, flag: Option<&Path>) -> Result<Dataset, String> {
    let key = sweep
        .base
        .get("dataset")
        .and_then(Value::as_str)
        .map(Path::new);
    crate::scenario::load_dataset(&sweep.base_file, key, flag).map_err(|e| e.to_string())
}

/// The member's directory.
pub fn member_dir(out: &Path, id: &str) -> PathBuf {
    out.join("members").join(format!("member={id}"))
}

fn failed_file(out: &Path, id: &str) -> PathBuf {
    out.join("members").join(format!("member={id}.failed"))
}

/// The record of a finished member, if it is finished.
pub fn finished(out: &Path, id: &str) -> Option<MemberRecord> {
    let text = std::fs::read_to_string(member_dir(out, id).join("member.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// How a sweep's members share one GPU: dispersion members as slots of one batch stepped in
/// lock step, traffic members gathered into unions of their networks; either way a member's
/// outputs are those of its run alone.
pub enum GpuBatcher<'a> {
    /// Dispersion members on one grid shape.
    Dispersion(crate::dispersion::Batcher<'a>),
    /// Traffic members.
    Traffic(crate::traffic::batch::Batcher<'a>),
}

impl<'a> GpuBatcher<'a> {
    /// The batcher for a sweep's model on `ctx`, `capacity` members at a time (`None` for a
    /// study, whose members run their steps one at a time).
    pub fn for_model(model: Model, ctx: &'a GpuContext, capacity: usize) -> Option<Self> {
        match model {
            Model::Dispersion => Some(Self::Dispersion(crate::dispersion::Batcher::new(
                ctx, capacity,
            ))),
            Model::Traffic => Some(Self::Traffic(crate::traffic::batch::Batcher::new(
                ctx, capacity,
            ))),
            Model::Study => None,
        }
    }

    /// Registers the calling worker thread until the guard drops (traffic unions wait for
    /// every registered worker's member or its leaving).
    pub fn worker(&self) -> Option<crate::traffic::batch::Worker<'_, 'a>> {
        match self {
            Self::Traffic(b) => Some(b.worker()),
            Self::Dispersion(_) => None,
        }
    }

    /// Most members stepped together.
    pub fn capacity(&self) -> usize {
        match self {
            Self::Dispersion(b) => b.batch().map_or(0, |b| b.capacity()),
            Self::Traffic(b) => b.capacity(),
        }
    }

    /// Batched dispatch runs (dispersion: intervals; traffic: unions) and members stepped in
    /// them, once any ran.
    pub fn occupancy(&self) -> Option<(u64, u64)> {
        match self {
            Self::Dispersion(b) => b.batch().map(|b| b.occupancy()),
            Self::Traffic(b) => Some(b.occupancy()).filter(|o| o.0 > 0),
        }
    }
}

/// What became of one member.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Finished earlier: skipped.
    Skipped(MemberRecord),
    /// Run now.
    Done(MemberRecord),
    /// Failed: why (also in `members/member=<id>.failed`).
    Failed(String),
}

fn toml_to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Runs one member into `out` (skipped when already finished). Dispersion and traffic members
/// run exactly as `twin simulate` runs their scenario; relative paths in the scenario are
/// relative to the base file, as they are for the base itself. With `batch`, a dispersion
/// member runs as a slot of the shared GPU batch and a traffic member in a union with other
/// members (its outputs are those of a run alone either way).
pub fn run_member(
    sweep: &Sweep,
    member: &Member,
    dataset: &Dataset,
    gpu: Option<&GpuContext>,
    batch: Option<&GpuBatcher<'_>>,
    out: &Path,
) -> Outcome {
    if let Some(r) = finished(out, &member.id) {
        return Outcome::Skipped(r);
    }
    let t0 = Instant::now();
    match run_inner(sweep, member, dataset, gpu, batch, out, t0) {
        Ok(r) => {
            let _ = std::fs::remove_file(failed_file(out, &member.id));
            if let Err(e) = link_tables(out, &member.id) {
                return Outcome::Failed(format!("member {}: tables: {e}", member.id));
            }
            Outcome::Done(r)
        }
        Err(e) => {
            let msg = format!("member {}: {e}", member.id);
            let _ = std::fs::create_dir_all(out.join("members"));
            let _ = std::fs::write(failed_file(out, &member.id), format!("{msg}\n"));
            Outcome::Failed(msg)
        }
    }
}

fn run_inner(
    sweep: &Sweep,
    member: &Member,
    dataset: &Dataset,
    gpu: Option<&GpuContext>,
    batch: Option<&GpuBatcher<'_>>,
    out: &Path,
    t0: Instant,
) -> Result<MemberRecord, String> {
    let target = member_dir(out, &member.id);
    // a partial directory cannot exist (members appear whole); the hidden staging directory
    // an interrupted run left is removed (a member belongs to one shard, so no other process
    // is writing it)
    let stale = format!(".member={}.tmp-", member.id);
    if let Ok(entries) = std::fs::read_dir(out.join("members")) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&stale) {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = OutDir::prepare(&target, true, &[]).map_err(|e| e.to_string())?;
    let metrics = match &sweep.study {
        Some(study) => {
            // the member's scenarios replace its steps' files; the study writes into the
            // member's (empty) staging directory, its manifest included
            let overrides: BTreeMap<String, Value> = member
                .scenario
                .as_table()
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            super::study::run_study_with(
                study,
                dir.path(),
                &overrides,
                false,
                None,
                gpu,
                std::env::args().collect(),
                &mut |_| {},
            )?;
            study_metrics(study, dir.path())?
        }
        None => metrics(&run_scenario(
            sweep.model,
            &member.scenario,
            &sweep.base_file,
            dataset,
            gpu,
            batch,
            dir.path(),
        )?),
    };
    // the member's scenario (for a study, its steps' scenarios by step name)
    let text = toml::to_string_pretty(&member.scenario).map_err(|e| e.to_string())?;
    let scenario_path = dir.path().join("scenario.toml");
    std::fs::write(&scenario_path, text)
        .map_err(|e| format!("{}: {e}", scenario_path.display()))?;
    let record = MemberRecord {
        id: member.id.clone(),
        index: member.index,
        values: member
            .values
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
        status: "done".to_string(),
        wall_s: t0.elapsed().as_secs_f64(),
        metrics,
    };
    let json = serde_json::to_string_pretty(&record).map_err(|e| e.to_string())?;
    let path = dir.path().join("member.json");
    std::fs::write(&path, json).map_err(|e| format!("{}: {e}", path.display()))?;
    dir.commit().map_err(|e| e.to_string())?;
    Ok(record)
}

/// Runs a dispersion or traffic scenario (as TOML, its relative paths relative to `base`) over
/// `dataset` into `dir`, exactly as `twin simulate` runs it (through `batch` when given: a
/// dispersion run as a slot of its batch, a traffic run in a union); errors name `base`.
pub fn run_scenario(
    model: Model,
    scenario: &Value,
    base: &Path,
    dataset: &Dataset,
    gpu: Option<&GpuContext>,
    batch: Option<&GpuBatcher<'_>>,
    dir: &Path,
) -> Result<RunSummary, String> {
    Ok(match model {
        Model::Dispersion => {
            let sc: crate::dispersion::scenario::Scenario = typed(scenario, base)?;
            let resolved = sc
                .resolve(base, dataset.clone())
                .map_err(|e| e.to_string())?;
            let result = match batch {
                Some(GpuBatcher::Dispersion(b)) => b.run(&resolved.problem, &mut |_, _| {}),
                _ => resolved.problem.run_with_progress(gpu, &mut |_, _| {}),
            }
            .map_err(|e| e.to_string())?;
            crate::output::write_dispersion_run(dir, &resolved, &result)
                .map_err(|e| e.to_string())?
        }
        Model::Traffic => {
            let sc: crate::traffic::scenario::TrafficScenario = typed(scenario, base)?;
            let resolved = sc
                .resolve(base, dataset.clone())
                .map_err(|e| e.to_string())?;
            let mut problem = resolved
                .setup
                .clone()
                .compile()
                .map_err(|e| format!("{}: {e}", base.display()))?;
            let dest = problem.commodities.iter().any(|c| c.dest.is_some());
            if problem.routing.max_iterations > 0 && dest {
                problem
                    .equilibrate(gpu, &mut |_, _| {})
                    .map_err(|e| e.to_string())?;
            }
            let run = match batch {
                Some(GpuBatcher::Traffic(b)) => b.run(&problem)?,
                _ => problem
                    .run_with_progress(gpu, &mut |_, _| {})
                    .map_err(|e| e.to_string())?,
            };
            let info = crate::output::traffic::TrafficRunInfo::of(&resolved, base);
            crate::output::traffic::write_traffic_run(dir, &problem, &run, &info)
                .map_err(|e| e.to_string())?
        }
        Model::Study => {
            return Err(format!(
                "{}: a study runs through run_study, not as one scenario",
                base.display()
            ));
        }
    })
}

/// A member's scenario as the model's scenario type; errors name the base file.
fn typed<T: serde::de::DeserializeOwned>(v: &Value, base: &Path) -> Result<T, String> {
    v.clone()
        .try_into()
        .map_err(|e: toml::de::Error| format!("{}: {}", base.display(), e.message()))
}

/// A run's headline numbers.
pub fn metrics(summary: &RunSummary) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    match summary {
        RunSummary::Dispersion(s) => {
            for (district, per) in &s.exposure {
                for (pollutant, v) in per {
                    m.insert(format!("exposure_{pollutant}_{district}"), *v);
                }
            }
        }
        RunSummary::Traffic(s) => {
            for (pollutant, kg) in &s.emissions_kg {
                m.insert(format!("emitted_{pollutant}_kg"), *kg);
            }
        }
        RunSummary::Mine(_) => {}
    }
    m
}

/// A study member's headline numbers: each dispersion and traffic step's, prefixed by the
/// step's name (`dust.exposure_PM2.5_province`).
fn study_metrics(study: &super::study::Study, dir: &Path) -> Result<BTreeMap<String, f64>, String> {
    let mut m = BTreeMap::new();
    for step in &study.steps {
        if !matches!(
            step.model,
            super::study::StepModel::Traffic | super::study::StepModel::Dispersion
        ) {
            continue;
        }
        let run = crate::output::run::RunDir::open(&dir.join(&step.name))
            .map_err(|e| format!("step {:?}: {e}", step.name))?;
        for (k, v) in metrics(&run.summary) {
            m.insert(format!("{}.{k}", step.name), v);
        }
    }
    Ok(m)
}

/// Links (or copies) a finished member's Parquet files into the per-kind Hive tables: a file
/// `<kind>.parquet` of the member's run into `tables/<kind>/`, and for a study member a step's
/// file into `tables/<step>.<kind>/`.
pub fn link_tables(out: &Path, id: &str) -> std::io::Result<()> {
    let dir = member_dir(out, id);
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        if p.is_dir() {
            let step = p.file_name().and_then(|s| s.to_str()).unwrap_or_default();
            for f in std::fs::read_dir(&p)? {
                files.push((format!("{step}."), f?.path()));
            }
        } else {
            files.push((String::new(), p));
        }
    }
    for (prefix, p) in files {
        let (Some(stem), Some("parquet")) = (
            p.file_stem().and_then(|s| s.to_str()),
            p.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        let part = out
            .join("tables")
            .join(format!("{prefix}{stem}"))
            .join(format!("member={id}"));
        std::fs::create_dir_all(&part)?;
        let to = part.join("part-0.parquet");
        if to.exists() {
            continue;
        }
        if std::fs::hard_link(&p, &to).is_err() {
            let tmp = part.join(".part-0.parquet.tmp");
            std::fs::copy(&p, &tmp)?;
            std::fs::rename(&tmp, &to)?;
        }
    }
    Ok(())
}

/// What [`merge`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MergeReport {
    /// Finished members.
    pub done: usize,
    /// Failed members (their `.failed` file).
    pub failed: usize,
    /// Neither (not run yet, or running elsewhere).
    pub missing: usize,
    /// `members.parquet`, when written (every member finished or failed).
    pub written: Option<PathBuf>,
    /// The ensemble statistics written with it, when the sweep asks for them.
    pub statistics: Option<super::stats::StatisticsReport>,
}

/// Gathers every member's record into `members.parquet`: `member_id`, `member_index`, one
/// column per swept key (Float64 when every value is a number, else the TOML text), `status`
/// (`done`, `failed`), `message`, `wall_s`, and one Float64 column per headline metric. It is
/// written only when no member is missing (a shard's part of a sweep merges once all shards
/// are done), with the sweep's ensemble statistics; links any table a finished member lacks.
pub fn merge(sweep: &Sweep, out: &Path) -> Result<MergeReport, String> {
    let n = sweep.len();
    let keys = sweep.keys();
    let mut report = MergeReport::default();
    let mut rows: Vec<(usize, Option<MemberRecord>, Option<String>)> = Vec::new();
    for index in 0..n {
        let id = super::sweep::member_id(index);
        if let Some(r) = finished(out, &id) {
            link_tables(out, &id).map_err(|e| format!("member {id}: tables: {e}"))?;
            report.done += 1;
            rows.push((index, Some(r), None));
        } else if let Ok(msg) = std::fs::read_to_string(failed_file(out, &id)) {
            report.failed += 1;
            rows.push((index, None, Some(msg.trim().to_string())));
        } else {
            report.missing += 1;
        }
    }
    if report.missing > 0 {
        return Ok(report);
    }
    let mut cols: Vec<Column> = vec![
        Column::new(
            "member_id".into(),
            rows.iter()
                .map(|r| super::sweep::member_id(r.0))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "member_index".into(),
            rows.iter().map(|r| r.0 as u64).collect::<Vec<_>>(),
        ),
    ];
    // a failed member's values come from the sweep itself
    let values: Vec<Vec<(String, Value)>> = rows
        .iter()
        .map(|r| sweep.member(r.0).map(|m| m.values))
        .collect::<Result<_, _>>()?;
    for (k, key) in keys.iter().enumerate() {
        let numeric: Option<Vec<f64>> = values
            .iter()
            .map(|v| match &v[k].1 {
                Value::Float(x) => Some(*x),
                Value::Integer(i) => Some(*i as f64),
                _ => None,
            })
            .collect();
        cols.push(match numeric {
            Some(v) => Column::new(key.as_str().into(), v),
            None => Column::new(
                key.as_str().into(),
                values
                    .iter()
                    .map(|v| v[k].1.to_string())
                    .collect::<Vec<_>>(),
            ),
        });
    }
    cols.push(Column::new(
        "status".into(),
        rows.iter()
            .map(|r| if r.1.is_some() { "done" } else { "failed" })
            .collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "message".into(),
        rows.iter().map(|r| r.2.clone()).collect::<Vec<_>>(),
    ));
    cols.push(Column::new(
        "wall_s".into(),
        rows.iter()
            .map(|r| r.1.as_ref().map(|x| x.wall_s))
            .collect::<Vec<_>>(),
    ));
    let names: std::collections::BTreeSet<&String> = rows
        .iter()
        .filter_map(|r| r.1.as_ref())
        .flat_map(|r| r.metrics.keys())
        .collect();
    for name in names {
        cols.push(Column::new(
            name.as_str().into(),
            rows.iter()
                .map(|r| r.1.as_ref().and_then(|x| x.metrics.get(name).copied()))
                .collect::<Vec<_>>(),
        ));
    }
    let mut df = DataFrame::new(rows.len(), cols).map_err(|e| e.to_string())?;
    let path = out.join("members.parquet");
    crate::output::write_parquet(&path, &mut df).map_err(|e| e.to_string())?;
    report.written = Some(path);
    if let Some(spec) = &sweep.statistics {
        report.statistics = Some(super::stats::write_statistics(sweep, spec, out)?);
    }
    Ok(report)
}
