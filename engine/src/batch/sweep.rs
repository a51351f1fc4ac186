//! Sweep files: members over scenario keys, as a cartesian grid of `[[vary]]` values times
//! `draws` seeded Monte-Carlo draws of the `[[draw]]` keys. A member is a pure function of
//! the file, its base and its index — never of which machine or shard runs it — so shards
//! split the members without changing any of them.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Value;

use super::keys::KeyPath;
use crate::scenario::{ScenarioError, invalid, read_toml};
/// SplitMix64 (Steele, Lea and Flood 2014): its output is fixed by its definition, so a
/// member's draws never change with a library version.
pub use crate::traffic::synthetic::SplitMix64;

/// Most members one sweep may have.
pub const MAX_MEMBERS: usize = 1_000_000;

/// The models a sweep's base can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// A dispersion scenario.
    Dispersion,
    /// A traffic scenario.
    Traffic,
    /// A study (`twin run`): keys are `<step>.<key of that step's scenario>`.
    Study,
}

impl Model {
    /// Its name in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dispersion => "dispersion",
            Self::Traffic => "traffic",
            Self::Study => "study",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepToml {
    base: PathBuf,
    model: Option<Model>,
    #[serde(default)]
    seed: u64,
    #[serde(default = "one")]
    draws: usize,
    #[serde(default)]
    vary: Vec<VaryToml>,
    #[serde(default)]
    draw: Vec<DrawToml>,
    statistics: Option<super::stats::StatisticsSpec>,
}

fn one() -> usize {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VaryToml {
    key: String,
    values: Vec<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrawToml {
    key: String,
    distribution: String,
    min: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    sd: Option<f64>,
    median: Option<f64>,
    gsd: Option<f64>,
    values: Option<Vec<Value>>,
}

/// A stated distribution of a drawn key.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// Uniform on [min, max).
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// Normal.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        sd: f64,
    },
    /// Log-normal by its median and geometric standard deviation.
    LogNormal {
        /// Median.
        median: f64,
        /// Geometric standard deviation (> 1).
        gsd: f64,
    },
    /// One of the values, each equally likely.
    Choice(Vec<Value>),
}

impl Distribution {
    /// One draw from uniforms out of `rng`.
    pub fn sample(&self, rng: &mut SplitMix64) -> Value {
        match self {
            Self::Uniform { min, max } => Value::Float(min + (max - min) * rng.next_f64()),
            Self::Normal { mean, sd } => Value::Float(mean + sd * rng.normal()),
            Self::LogNormal { median, gsd } => Value::Float(median * gsd.powf(rng.normal())),
            Self::Choice(v) => v[rng.below(v.len())].clone(),
        }
    }
}

/// One varied key.
#[derive(Debug, Clone)]
pub struct Vary {
    /// The key.
    pub key: KeyPath,
    /// Its values.
    pub values: Vec<Value>,
}

/// One drawn key.
#[derive(Debug, Clone)]
pub struct Draw {
    /// The key.
    pub key: KeyPath,
    /// Its distribution.
    pub distribution: Distribution,
}

/// A checked sweep.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The sweep file.
    pub file: PathBuf,
    /// The base scenario or study file (resolved against the sweep file's directory).
    pub base_file: PathBuf,
    /// The base scenario as TOML; for a study, a table of its steps' scenarios by step name.
    pub base: Value,
    /// The base study, when the base is one.
    pub study: Option<super::study::Study>,
    /// Which model the base is.
    pub model: Model,
    /// Seed of the draws.
    pub seed: u64,
    /// Draws per grid point.
    pub draws: usize,
    /// The grid.
    pub vary: Vec<Vary>,
    /// The drawn keys.
    pub draw: Vec<Draw>,
    /// Ensemble statistics to write when the members are merged (dispersion).
    pub statistics: Option<super::stats::StatisticsSpec>,
}

/// One member: its id, index, the values it takes, and the scenario with them set.
#[derive(Debug, Clone)]
pub struct Member {
    /// `m000017`.
    pub id: String,
    /// Index from 0.
    pub index: usize,
    /// (key, value) for every varied and drawn key, in file order.
    pub values: Vec<(String, Value)>,
    /// The base with the values set.
    pub scenario: Value,
}

/// A member's id from its index.
pub fn member_id(index: usize) -> String {
    format!("m{index:06}")
}

/// Which members a shard runs: `index` of `count` (0-based, as Slurm's array task id and
/// Kubernetes' completion index count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, 0 ≤ index < count.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parses `I/N`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not I/N (e.g. 0/4)"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: I is not a whole number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: N is not a whole number"))?;
        if count == 0 || index >= count {
            return Err(format!("{s:?}: need 0 ≤ I < N"));
        }
        Ok(Self { index, count })
    }

    /// Whether member `index` is this shard's (round robin, so every shard gets a similar mix
    /// of the grid).
    pub fn owns(&self, index: usize) -> bool {
        index % self.count == self.index
    }
}

impl Sweep {
    /// Reads and checks a sweep file and its base: every key is set on the base once, so a
    /// key the base lacks or a value of the wrong kind is an error before anything runs.
    pub fn read(path: &Path) -> Result<Self, ScenarioError> {
        let bad = |m: String| invalid(path, m);
        let f: SweepToml = read_toml(path)?;
        let base_file = crate::scenario::relative_to(path, &f.base);
        let mut base: Value = read_toml(&base_file)?;
        let mut study = None;
        if f.model == Some(Model::Study) || (f.model.is_none() && base.get("step").is_some()) {
            // a study: the swept document is its steps' scenarios, each under its step's name
            let st = super::study::Study::read(&base_file)?;
            let mut table = toml::map::Map::new();
            for step in &st.steps {
                if let (
                    Some(file),
                    super::study::StepModel::Traffic | super::study::StepModel::Dispersion,
                ) = (&step.scenario, step.model)
                {
                    table.insert(step.name.clone(), read_toml(file)?);
                }
            }
            base = Value::Table(table);
            study = Some(st);
        }
        let model = match f.model {
            Some(m) => m,
            None if study.is_some() => Model::Study,
            None if base.get("demand").is_some() => Model::Traffic,
            None if base.get("pollutants").is_some() || base.get("grid").is_some() => {
                Model::Dispersion
            }
            None => {
                return Err(bad(format!(
                    "key `model`: cannot tell what {} is; say model = \"dispersion\", \"traffic\" or \"study\"",
                    base_file.display()
                )));
            }
        };
        if f.draws == 0 || f.draws > MAX_MEMBERS {
            return Err(bad(format!(
                "key `draws`: {} (1 to {MAX_MEMBERS})",
                f.draws
            )));
        }
        if f.draws > 1 && f.draw.is_empty() {
            return Err(bad(
                "key `draws`: more than one draw per grid point needs [[draw]] keys".into(),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut check = |k: &str, key: &KeyPath, v: &Value| -> Result<(), ScenarioError> {
            if !seen.insert(key.text.clone()) {
                return Err(bad(format!("{k}: key {:?} is swept twice", key.text)));
            }
            let mut b = base.clone();
            key.set(&mut b, v.clone())
                .map_err(|e| bad(format!("{k}: {e}")))
        };
        let mut vary = Vec::new();
        for (i, v) in f.vary.into_iter().enumerate() {
            let at = format!("vary[{i}]");
            let key = KeyPath::parse(&v.key).map_err(|e| bad(format!("{at}.key: {e}")))?;
            let first = v
                .values
                .first()
                .ok_or_else(|| bad(format!("{at}.values: empty")))?;
            check(&at, &key, first)?;
            let mut b = base.clone();
            for (j, x) in v.values.iter().enumerate() {
                key.set(&mut b, x.clone())
                    .map_err(|e| bad(format!("{at}.values[{j}]: {e}")))?;
            }
            vary.push(Vary {
                key,
                values: v.values,
            });
        }
        let mut draw = Vec::new();
        for (i, d) in f.draw.into_iter().enumerate() {
            let at = format!("draw[{i}]");
            let key = KeyPath::parse(&d.key).map_err(|e| bad(format!("{at}.key: {e}")))?;
            let need = |name: &str, v: Option<f64>| {
                v.filter(|x| x.is_finite()).ok_or_else(|| {
                    bad(format!(
                        "{at}.{name}: a {} distribution needs a finite `{name}`",
                        d.distribution
                    ))
                })
            };
            let distribution = match d.distribution.as_str() {
                "uniform" => {
                    let (min, max) = (need("min", d.min)?, need("max", d.max)?);
                    if min >= max {
                        return Err(bad(format!("{at}: min {min} is not below max {max}")));
                    }
                    Distribution::Uniform { min, max }
                }
                "normal" => {
                    let (mean, sd) = (need("mean", d.mean)?, need("sd", d.sd)?);
                    if sd <= 0.0 {
                        return Err(bad(format!("{at}.sd: {sd} (must be > 0)")));
                    }
                    Distribution::Normal { mean, sd }
                }
                "lognormal" => {
                    let (median, gsd) = (need("median", d.median)?, need("gsd", d.gsd)?);
                    if median <= 0.0 || gsd <= 1.0 {
                        return Err(bad(format!(
                            "{at}: median {median} must be > 0 and gsd {gsd} > 1"
                        )));
                    }
                    Distribution::LogNormal { median, gsd }
                }
                "choice" => match d.values {
                    Some(v) if !v.is_empty() => Distribution::Choice(v),
                    _ => return Err(bad(format!("{at}.values: a choice needs values"))),
                },
                other => {
                    return Err(bad(format!(
                        "{at}.distribution: {other:?} is not uniform, normal, lognormal or choice"
                    )));
                }
            };
            let example = distribution.sample(&mut SplitMix64(f.seed));
            check(&at, &key, &example)?;
            draw.push(Draw { key, distribution });
        }
        if let Some(st) = &f.statistics {
            st.check().map_err(&bad)?;
            if model != Model::Dispersion {
                return Err(bad(format!(
                    "statistics: ensemble statistics are of dispersion fields; the base is a {} {}",
                    model.as_str(),
                    if model == Model::Study {
                        "file"
                    } else {
                        "scenario"
                    }
                )));
            }
        }
        let sweep = Self {
            file: path.to_path_buf(),
            base_file,
            base,
            study,
            model,
            seed: f.seed,
            draws: f.draws,
            vary,
            draw,
            statistics: f.statistics,
        };
        let n = sweep.len_checked().ok_or_else(|| {
            bad(format!(
                "more than {MAX_MEMBERS} members (the grid's size times draws)"
            ))
        })?;
        if n == 0 {
            return Err(bad("no members".into()));
        }
        Ok(sweep)
    }

    fn len_checked(&self) -> Option<usize> {
        let mut n = self.draws;
        for v in &self.vary {
            n = n.checked_mul(v.values.len())?;
        }
        (n <= MAX_MEMBERS).then_some(n)
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.len_checked().unwrap_or(0)
    }

    /// Whether there are none (never, once read).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The swept keys, varied then drawn, in file order.
    pub fn keys(&self) -> Vec<String> {
        self.vary
            .iter()
            .map(|v| v.key.text.clone())
            .chain(self.draw.iter().map(|d| d.key.text.clone()))
            .collect()
    }

    /// Member `index`: grid point `index / draws` (the last `[[vary]]` varies fastest), draw
    /// `index % draws`, its draws from a generator seeded by the sweep's seed and the index.
    pub fn member(&self, index: usize) -> Result<Member, String> {
        let mut values = Vec::new();
        let mut g = index / self.draws;
        let mut picks = vec![0; self.vary.len()];
        for (k, v) in self.vary.iter().enumerate().rev() {
            picks[k] = g % v.values.len();
            g /= v.values.len();
        }
        for (k, v) in self.vary.iter().enumerate() {
            values.push((v.key.text.clone(), v.values[picks[k]].clone()));
        }
        let mut rng =
            SplitMix64(SplitMix64(self.seed).next_u64() ^ SplitMix64(index as u64).next_u64());
        for d in &self.draw {
            values.push((d.key.text.clone(), d.distribution.sample(&mut rng)));
        }
        let mut scenario = self.base.clone();
        let keys = self
            .vary
            .iter()
            .map(|v| &v.key)
            .chain(self.draw.iter().map(|d| &d.key));
        for (key, (_, v)) in keys.zip(&values) {
            key.set(&mut scenario, v.clone())?;
        }
        Ok(Member {
            id: member_id(index),
            index,
            values,
            scenario,
        })
    }
}
