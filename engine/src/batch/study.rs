//! Studies: models chained into one run (`twin run STUDY.toml --out DIR`). Each step runs a
//! scenario into `DIR/<step>/`; a step's `inputs` set keys of its scenario to earlier steps'
//! run directories (traffic → its emissions feed a dispersion's road sources) or name them
//! for an evaluation (`sim`, `obs`). `DIR/manifest.json` records every input file with its
//! SHA-256, the versions, the backend, each step's wall time and the command line; rerunning
//! with the same inputs reproduces the CPU outputs bit for bit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use toml::Value;

use super::keys::KeyPath;
use super::sweep::Model;
use crate::gpu::GpuContext;
use crate::safeio::OutDir;
use crate::scenario::{ScenarioError, invalid, read_toml, relative_to};

/// What a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepModel {
    /// `twin simulate traffic`.
    Traffic,
    /// `twin simulate dispersion`.
    Dispersion,
    /// `twin simulate mine` (steady airflow, and gas with a scenario).
    Mine,
    /// `twin telemetry evaluate`: a dispersion step's station series against observations.
    Evaluate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudyToml {
    name: String,
    #[serde(default)]
    step: Vec<StepToml>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepToml {
    name: String,
    model: StepModel,
    scenario: Option<PathBuf>,
    network: Option<PathBuf>,
    #[serde(default)]
    inputs: BTreeMap<String, String>,
}

/// A step's input: an earlier step's run directory, or a path (relative to the study file).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The step of this name.
    Step(String),
    /// A file or directory.
    Path(PathBuf),
}

/// One checked step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Name (its output directory).
    pub name: String,
    /// Model.
    pub model: StepModel,
    /// Scenario file (traffic, dispersion; mine: optional).
    pub scenario: Option<PathBuf>,
    /// Network file (mine).
    pub network: Option<PathBuf>,
    /// Key (or `sim`/`obs`) → input.
    pub inputs: BTreeMap<String, Input>,
}

/// A checked study.
#[derive(Debug, Clone)]
pub struct Study {
    /// The study file.
    pub file: PathBuf,
    /// Name.
    pub name: String,
    /// Steps in order.
    pub steps: Vec<Step>,
}

impl Study {
    /// Reads and checks a study: step names unique and plain, each step's files given, inputs
    /// naming only earlier steps (or paths), evaluation steps with `sim` and `obs`.
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        let bad = |m: String| invalid(path, m);
        let f: StudyToml = read_toml(path)?;
        if f.step.is_empty() {
            return Err(bad("a study needs [[step]] entries (none given)".into()));
        }
        let all: Vec<String> = f.step.iter().map(|s| s.name.clone()).collect();
        let mut steps: Vec<Step> = Vec::new();
        for (i, s) in f.step.into_iter().enumerate() {
            let at = format!("step[{i}]");
            let plain = !s.name.is_empty()
                && s.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !plain {
                return Err(bad(format!(
                    "{at}.name: {:?} (letters, digits, - and _ only: it names the step's directory)",
                    s.name
                )));
            }
            if steps.iter().any(|x| x.name == s.name) || s.name == "manifest" {
                return Err(bad(format!("{at}.name: {:?} is used twice", s.name)));
            }
            let need = |what: &str, v: &Option<PathBuf>| {
                v.as_ref()
                    .map(|p| relative_to(path, p))
                    .ok_or_else(|| bad(format!("{at}.{what}: a {:?} step needs it", s.model)))
            };
            let (scenario, network) = match s.model {
                StepModel::Traffic | StepModel::Dispersion => {
                    (Some(need("scenario", &s.scenario)?), None)
                }
                StepModel::Mine => (
                    s.scenario.as_ref().map(|p| relative_to(path, p)),
                    Some(need("network", &s.network)?),
                ),
                StepModel::Evaluate => (None, None),
            };
            let mut inputs = BTreeMap::new();
            for (k, v) in &s.inputs {
                let input = if steps.iter().any(|x| &x.name == v) {
                    Input::Step(v.clone())
                } else if all.contains(v) {
                    return Err(bad(format!(
                        "{at}.inputs.{k}: step {v:?} does not run before this one"
                    )));
                } else {
                    Input::Path(relative_to(path, Path::new(v)))
                };
                match s.model {
                    StepModel::Evaluate => {
                        if k != "sim" && k != "obs" {
                            return Err(bad(format!(
                                "{at}.inputs.{k}: an evaluation takes `sim` (a dispersion step) and `obs` (observations)"
                            )));
                        }
                    }
                    StepModel::Mine => {
                        return Err(bad(format!("{at}.inputs: a mine step takes none")));
                    }
                    StepModel::Traffic | StepModel::Dispersion => {
                        KeyPath::parse(k).map_err(|e| bad(format!("{at}.inputs: {e}")))?;
                    }
                }
                inputs.insert(k.clone(), input);
            }
            if s.model == StepModel::Evaluate
                && !(inputs.contains_key("sim") && inputs.contains_key("obs"))
            {
                return Err(bad(format!(
                    "{at}.inputs: an evaluation needs `sim` and `obs`"
                )));
            }
            steps.push(Step {
                name: s.name,
                model: s.model,
                scenario,
                network,
                inputs,
            });
        }
        Ok(Self {
            file: path.to_path_buf(),
            name: f.name,
            steps,
        })
    }

    /// Every input file the study reads (the study, scenarios, networks, path inputs), in order.
    pub fn input_files(&self) -> Vec<PathBuf> {
        let mut v = vec![self.file.clone()];
        for s in &self.steps {
            v.extend(s.scenario.iter().cloned());
            v.extend(s.network.iter().cloned());
            for i in s.inputs.values() {
                if let Input::Path(p) = i {
                    v.push(p.clone());
                }
            }
        }
        v
    }
}

/// SHA-256 of a file, or of a directory's files (sorted relative paths and contents).
pub fn sha256(path: &Path) -> Result<String, String> {
    let mut h = Sha256::new();
    let mut files = Vec::new();
    if path.is_dir() {
        let mut stack = vec![path.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
                let p = e.map_err(|e| e.to_string())?.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    for f in files {
        if f != path {
            h.update(
                f.strip_prefix(path)
                    .unwrap_or(&f)
                    .to_string_lossy()
                    .as_bytes(),
            );
        }
        let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        h.update(&bytes);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// One step of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Name.
    pub name: String,
    /// Model.
    pub model: StepModel,
    /// Its directory under the study's.
    pub out: String,
    /// Inputs as resolved (key → path).
    pub inputs: BTreeMap<String, String>,
    /// Wall time, s.
    pub wall_s: f64,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Study name.
    pub study: String,
    /// The study file (also the first input).
    pub study_file: String,
    /// Every input file with its SHA-256 (a directory: over its files).
    pub inputs: Vec<(String, String)>,
    /// The seed (studies draw nothing: none).
    pub seed: Option<u64>,
    /// `twin` version.
    pub twin_version: String,
    /// `git describe --always --dirty` of the working directory, if it is a git checkout.
    pub git_describe: Option<String>,
    /// `cpu` or `gpu`.
    pub backend: String,
    /// The wgpu adapter, on the GPU.
    pub adapter: Option<crate::gpu::AdapterReport>,
    /// Steps.
    pub steps: Vec<StepRecord>,
    /// The exact command line.
    pub command: Vec<String>,
}

/// Runs every step of `study` into `out/<step>/` (each step appears whole), then writes
/// `out/manifest.json`: a study directory is complete when it has its manifest. Later steps
/// read earlier ones at their final paths, so a rerun into the same directory reproduces the
/// outputs bit for bit. `overwrite` replaces an earlier study directory (one with a
/// manifest); any other non-empty directory is refused. `progress(step)` before each step.
pub fn run_study(
    study: &Study,
    out: &Path,
    overwrite: bool,
    dataset_flag: Option<&Path>,
    gpu: Option<&GpuContext>,
    command: Vec<String>,
    progress: &mut dyn FnMut(&Step),
) -> Result<Manifest, String> {
    run_study_with(
        study,
        out,
        &BTreeMap::new(),
        overwrite,
        dataset_flag,
        gpu,
        command,
        progress,
    )
}

/// [`run_study`] with some steps' scenarios given as TOML (step name → scenario, as a sweep
/// member sets them) instead of read from their files; relative paths in them stay relative to
/// the step's file, and the files are still hashed into the manifest.
#[allow(clippy::too_many_arguments)]
pub fn run_study_with(
    study: &Study,
    out: &Path,
    overrides: &BTreeMap<String, Value>,
    overwrite: bool,
    dataset_flag: Option<&Path>,
    gpu: Option<&GpuContext>,
    command: Vec<String>,
    progress: &mut dyn FnMut(&Step),
) -> Result<Manifest, String> {
    let files = study.input_files();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    crate::safeio::refuse_inputs(out, &refs).map_err(|e| e.to_string())?;
    if out.is_dir()
        && std::fs::read_dir(out)
            .map_err(|e| format!("{}: {e}", out.display()))?
            .next()
            .is_some()
    {
        if !overwrite {
            return Err(format!(
                "{}: not empty (give --overwrite to replace an earlier study run)",
                out.display()
            ));
        }
        // a study directory: a finished one (its manifest), or one an interrupted run left
        // (only this study's step directories and hidden staging directories)
        let ours = |name: &str| {
            name == "manifest.json"
                || name.starts_with('.')
                || study.steps.iter().any(|s| s.name == name)
        };
        let entries: Vec<String> = std::fs::read_dir(out)
            .map_err(|e| format!("{}: {e}", out.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if !out.join("manifest.json").is_file() && !entries.iter().all(|n| ours(n)) {
            return Err(format!(
                "{}: not a study directory (no manifest.json, and it holds {:?}); refusing to replace it",
                out.display(),
                entries
                    .iter()
                    .find(|n| !ours(n))
                    .cloned()
                    .unwrap_or_default()
            ));
        }
        std::fs::remove_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut hashed = Vec::new();
    for f in &files {
        hashed.push((f.display().to_string(), sha256(f)?));
    }
    let mut records = Vec::new();
    for step in &study.steps {
        progress(step);
        let t0 = Instant::now();
        let resolve = |i: &Input| -> PathBuf {
            match i {
                Input::Step(s) => out.join(s),
                Input::Path(p) => p.clone(),
            }
        };
        let shown = |i: &Input| -> String {
            match i {
                Input::Step(s) => format!("step:{s}"),
                Input::Path(p) => p.display().to_string(),
            }
        };
        let fail = |e: String| format!("step {:?}: {e}", step.name);
        let dir =
            OutDir::prepare(&out.join(&step.name), false, &[]).map_err(|e| fail(e.to_string()))?;
        let target = dir.path().to_path_buf();
        match step.model {
            StepModel::Traffic | StepModel::Dispersion => {
                let file = step
                    .scenario
                    .as_ref()
                    .ok_or_else(|| fail("no scenario file".into()))?;
                let mut sc: Value = match overrides.get(&step.name) {
                    Some(v) => v.clone(),
                    None => read_toml(file).map_err(|e| fail(e.to_string()))?,
                };
                for (k, i) in &step.inputs {
                    let key = KeyPath::parse(k).map_err(fail)?;
                    key.set(&mut sc, Value::String(resolve(i).display().to_string()))
                        .map_err(|e| fail(format!("{}: {e}", file.display())))?;
                }
                let key = sc.get("dataset").and_then(Value::as_str).map(Path::new);
                let ds = crate::scenario::load_dataset(file, key, dataset_flag)
                    .map_err(|e| fail(e.to_string()))?;
                let model = if step.model == StepModel::Traffic {
                    Model::Traffic
                } else {
                    Model::Dispersion
                };
                super::run::run_scenario(model, &sc, file, &ds, gpu, None, &target)
                    .map_err(fail)?;
            }
            StepModel::Mine => run_mine(step, &target).map_err(fail)?,
            StepModel::Evaluate => {
                let sim = resolve(&step.inputs["sim"]);
                let obs = resolve(&step.inputs["obs"]);
                let st = crate::output::run::RunDir::open(&sim)
                    .and_then(|r| r.stations())
                    .map_err(|e| fail(e.to_string()))?;
                let o = crate::telemetry::read_any(&obs).map_err(|e| fail(e.to_string()))?;
                let mut df =
                    crate::telemetry::evaluate::statistics(crate::telemetry::evaluate::pairs(
                        polars::prelude::IntoLazy::lazy(o.frame),
                        polars::prelude::IntoLazy::lazy(st),
                    ))
                    .collect()
                    .map_err(|e| fail(e.to_string()))?;
                crate::output::write_parquet(&target.join("evaluation.parquet"), &mut df)
                    .map_err(|e| fail(e.to_string()))?;
            }
        }
        dir.commit().map_err(|e| fail(e.to_string()))?;
        records.push(StepRecord {
            name: step.name.clone(),
            model: step.model,
            out: step.name.clone(),
            inputs: step
                .inputs
                .iter()
                .map(|(k, i)| (k.clone(), shown(i)))
                .collect(),
            wall_s: t0.elapsed().as_secs_f64(),
        });
    }
    let git_describe = std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let manifest = Manifest {
        study: study.name.clone(),
        study_file: study.file.display().to_string(),
        inputs: hashed,
        seed: None,
        twin_version: env!("CARGO_PKG_VERSION").to_string(),
        git_describe,
        backend: if gpu.is_some() { "gpu" } else { "cpu" }.to_string(),
        adapter: gpu.map(|g| g.report.clone()),
        steps: records,
        command,
    };
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
    let path = out.join("manifest.json");
    crate::safeio::write_atomic(&path, |f| std::io::Write::write_all(f, json.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(manifest)
}

/// Checks a manifest against the files now: every input's SHA-256 must match, so a rerun
/// from it reproduces the run (the error names each file that changed).
pub fn check_manifest(m: &Manifest) -> Result<(), String> {
    let changed: Vec<String> = m
        .inputs
        .iter()
        .filter(|(p, h)| sha256(Path::new(p)).map(|now| &now != h).unwrap_or(true))
        .map(|(p, _)| p.clone())
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "inputs changed since the manifest was written: {}",
            changed.join(", ")
        ))
    }
}

fn run_mine(step: &Step, dir: &Path) -> Result<(), String> {
    use crate::mine::{MineNetwork, MineScenario, Operating, gas};
    let t0 = Instant::now();
    let file = step
        .network
        .as_ref()
        .ok_or_else(|| "no network file".to_string())?;
    let net = MineNetwork::read(file).map_err(|e| e.to_string())?;
    let steady = crate::mine::steady(&net, &Operating::design(&net)).map_err(|e| e.to_string())?;
    let sc = match &step.scenario {
        Some(p) => Some((p, MineScenario::read(p, &net).map_err(|e| e.to_string())?)),
        None => None,
    };
    let run = match &sc {
        Some((p, sc)) => {
            let work = gas::work(&net, sc, &steady.newton.flows);
            if work > gas::MAX_WORK {
                return Err(format!(
                    "{}: about {work:.2e} cell-steps; at most {:.0e}",
                    p.display(),
                    gas::MAX_WORK
                ));
            }
            Some(gas::run(&net, sc).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let info = crate::output::mine::MineRunInfo {
        network_file: file,
        gas: match (&sc, &run) {
            (Some((p, sc)), Some(r)) => Some((p.as_path(), sc, r)),
            _ => None,
        },
        ensemble: None,
        wall_s: t0.elapsed().as_secs_f64(),
    };
    crate::output::mine::write_mine_run(dir, &net, &steady, &info).map_err(|e| e.to_string())?;
    Ok(())
}
