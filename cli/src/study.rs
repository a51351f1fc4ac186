//! `twin run`: a study file's chained models into one directory, with its manifest.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use twin_engine::batch::study::{Manifest, Study, check_manifest, run_study};

use crate::simulate::{Backend, gpu_for};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Study file (TOML; README "Batch runs and sweeps"). Not with --manifest.
    #[arg(value_name = "STUDY.toml", required_unless_present = "manifest")]
    study: Option<PathBuf>,
    /// Rerun the study a manifest.json describes, after checking every input's SHA-256.
    #[arg(long, value_name = "manifest.json", conflicts_with = "study")]
    manifest: Option<PathBuf>,
    /// Output directory: one directory per step, then manifest.json.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace an earlier study run in DIR.
    #[arg(long)]
    overwrite: bool,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Dataset for scenarios that do not name one. Default: `QN_TWIN_DATASET`, else the bundled
    /// dataset.
    #[arg(long, value_name = "DIR")]
    dataset: Option<PathBuf>,
}

pub fn run(a: RunArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let file = match (&a.study, &a.manifest) {
        (Some(f), _) => f.clone(),
        (None, Some(m)) => {
            let text =
                std::fs::read_to_string(m).map_err(|e| anyhow::anyhow!("{}: {e}", m.display()))?;
            let manifest: Manifest = serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{}: not a study manifest: {e}", m.display()))?;
            check_manifest(&manifest).map_err(|e| anyhow::anyhow!("{}: {e}", m.display()))?;
            PathBuf::from(manifest.study_file)
        }
        (None, None) => anyhow::bail!("give a study file or --manifest"),
    };
    let study = Study::read(&file)?;
    writeln!(
        out,
        "study     {} ({} step(s): {})",
        study.name,
        study.steps.len(),
        study
            .steps
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(" → ")
    )?;
    let gpu = gpu_for(a.backend, "study", twin_engine::dispersion::GPU_LIMITS, out)?;
    let command: Vec<String> = std::env::args().collect();
    let bar = crate::progress::bar(study.steps.len() as u64, "steps");
    let mut k = 0;
    let manifest = run_study(
        &study,
        &a.out,
        a.overwrite,
        a.dataset.as_deref(),
        gpu.as_ref(),
        command,
        &mut |s| {
            bar.set_position(k);
            bar.set_message(s.name.clone());
            k += 1;
        },
    )
    .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();
    for s in &manifest.steps {
        writeln!(
            out,
            "step      {:<12} {:?} in {:.2} s",
            s.name, s.model, s.wall_s
        )?;
    }
    writeln!(
        out,
        "manifest  {} ({} inputs hashed)",
        a.out.join("manifest.json").display(),
        manifest.inputs.len()
    )?;
    Ok(())
}
