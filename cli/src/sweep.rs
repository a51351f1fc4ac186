//! `twin sweep`: run a sweep file's members (in parallel, resumable, one shard of a job
//! array), then gather `members.parquet`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use clap::Args;
use twin_engine::batch::{GpuBatcher, Outcome, Shard, Sweep, merge, run_member};

use crate::simulate::{Backend, gpu_for};

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Sweep file (TOML; README "Batch runs and sweeps").
    #[arg(value_name = "SWEEP.toml")]
    sweep: PathBuf,
    /// Output directory: members appear in it whole; rerunning skips finished members.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Members run at once (each model run also uses every core for its own work).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Run only shard I of N (I from 0, as `$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT` or
    /// a Kubernetes completion index): members I, I+N, I+2N, …
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Run nothing: gather the finished members into members.parquet (after every shard;
    /// exits 1 while a member is not finished).
    #[arg(long)]
    merge: bool,
    /// Where to compute (members run on the CPU twin unless told).
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// On a GPU, members stepped together in one dispatch: dispersion members of the first
    /// member's grid shape (others run alone), traffic members as one union of their networks
    /// (members whose time step, step count or output interval differ in unions of their own).
    /// 1 runs members one at a time. Ignored on the CPU and for studies.
    #[arg(long, default_value_t = 8, value_name = "N")]
    batch: usize,
    /// Dataset for a base scenario that does not name one. Default: `QN_TWIN_DATASET`, else
    /// the bundled dataset.
    #[arg(long, value_name = "DIR")]
    dataset: Option<PathBuf>,
}

pub fn run(a: SweepArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let sweep = Sweep::read(&a.sweep)?;
    let n = sweep.len();
    twin_engine::safeio::refuse_inputs(&a.out, &[&a.sweep, &sweep.base_file])?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("{}", a.out.display()))?;
    // the sweep a directory holds: a rerun (or another shard) must be the same sweep
    twin_engine::batch::run::claim(&a.out, &sweep).map_err(anyhow::Error::msg)?;
    writeln!(
        out,
        "sweep     {} {} ({} model, base {}): {} grid key(s) × {} draw(s), seed {}",
        n,
        if n == 1 { "member" } else { "members" },
        sweep.model.as_str(),
        sweep.base_file.display(),
        sweep.vary.len(),
        sweep.draws,
        sweep.seed
    )?;
    if a.merge {
        return report_merge(&sweep, &a.out, out);
    }
    let shard = a.shard.unwrap_or(Shard::ALL);
    let owned: Vec<usize> = (0..n).filter(|&i| shard.owns(i)).collect();
    let dataset = twin_engine::batch::run::load_dataset(&sweep, a.dataset.as_deref())
        .map_err(anyhow::Error::msg)?;
    let limits = match sweep.model {
        twin_engine::batch::Model::Dispersion => twin_engine::dispersion::GPU_LIMITS,
        // a study may hold both models: traffic's limits are the stricter
        twin_engine::batch::Model::Traffic | twin_engine::batch::Model::Study => {
            twin_engine::traffic::GPU_LIMITS
        }
    };
    let gpu = gpu_for(a.backend, sweep.model.as_str(), limits, out)?;
    // on a GPU, members share one batch: one thread per slot, each driving its member
    // (dispersion members step in lock step; traffic members are gathered into one union)
    let slots = a.batch.clamp(1, 256).min(owned.len().max(1));
    let batcher = match &gpu {
        Some(ctx) if slots > 1 => GpuBatcher::for_model(sweep.model, ctx, slots),
        _ => None,
    };
    let jobs = match (&gpu, &batcher) {
        (Some(_), Some(_)) => slots,
        (Some(_), None) => 1,
        (None, _) => a.jobs.clamp(1, 64),
    };
    writeln!(
        out,
        "shard     {}/{}: {} member(s), {} at a time{}",
        shard.index,
        shard.count,
        owned.len(),
        jobs,
        if batcher.is_some() {
            " (one GPU batch)"
        } else {
            ""
        }
    )?;
    let bar = crate::progress::bar(owned.len() as u64, "members");
    let next = AtomicUsize::new(0);
    let tally = Mutex::new((0usize, 0usize, Vec::<String>::new()));
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                let _worker = batcher.as_ref().and_then(|b| b.worker());
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = owned.get(k) else { break };
                    let outcome = match sweep.member(index) {
                        Ok(m) => {
                            run_member(&sweep, &m, &dataset, gpu.as_ref(), batcher.as_ref(), &a.out)
                        }
                        Err(e) => Outcome::Failed(e),
                    };
                    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                    match outcome {
                        Outcome::Skipped(_) => t.0 += 1,
                        Outcome::Done(_) => t.1 += 1,
                        Outcome::Failed(e) => t.2.push(e),
                    }
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let (skipped, done, failed) = tally.into_inner().unwrap_or_else(|p| p.into_inner());
    let wall = t0.elapsed().as_secs_f64();
    writeln!(
        out,
        "members   {done} run, {skipped} finished before, {} failed in {wall:.1} s ({:.3} members/s)",
        failed.len(),
        done as f64 / wall.max(1e-9)
    )?;
    if let Some(b) = &batcher
        && let Some((runs, stepped)) = b.occupancy()
    {
        let what = match b {
            GpuBatcher::Dispersion(_) => "batched interval(s)",
            GpuBatcher::Traffic(_) => "union(s) of networks",
        };
        writeln!(
            out,
            "batch     {} slot(s): {runs} {what}, {:.2} members per dispatch",
            b.capacity(),
            stepped as f64 / runs.max(1) as f64
        )?;
    }
    for f in &failed {
        writeln!(out, "failed    {f}")?;
    }
    if shard.count == 1 {
        report_merge(&sweep, &a.out, out)?;
    } else {
        writeln!(
            out,
            "merge     when every shard is done: twin sweep {} --out {} --merge",
            a.sweep.display(),
            a.out.display()
        )?;
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "{} of {} member(s) failed (see above; rerun to retry them)",
            failed.len(),
            owned.len()
        );
    }
    Ok(())
}

fn report_merge(sweep: &Sweep, dir: &std::path::Path, out: &mut impl Write) -> anyhow::Result<()> {
    let r = merge(sweep, dir).map_err(anyhow::Error::msg)?;
    match &r.written {
        Some(p) => {
            writeln!(
                out,
                "merged    {} done, {} failed → {}",
                r.done,
                r.failed,
                p.display()
            )?;
            if let Some(s) = &r.statistics {
                writeln!(
                    out,
                    "ensemble  {} member(s) → {} ({}; {} tile(s) of {} rows)",
                    s.members,
                    dir.join(&s.file).display(),
                    s.bands.join(", "),
                    s.tiles,
                    s.tile_rows
                )?;
            }
        }
        None => anyhow::bail!(
            "{}: not merged: {} member(s) not finished ({} done, {} failed); run the missing shards first",
            dir.display(),
            r.missing,
            r.done,
            r.failed
        ),
    }
    Ok(())
}
