//! Shared by the telemetry benches (included with `#[path]`): the generated lake they measure
//! (seed 1, the whole bundled province from 2026-01-01), cached under `$QN_TWIN_BENCH_DIR`, and
//! the peak resident memory of the measuring process.

use std::path::{Path, PathBuf};
use std::time::Instant;

use twin_engine::dataset::Dataset;
use twin_engine::telemetry::{lake, synthetic};

pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

pub fn parse_count(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.chars().last()? {
        'M' | 'm' => (&s[..s.len() - 1], 1_000_000.0),
        'k' | 'K' => (&s[..s.len() - 1], 1_000.0),
        'G' | 'g' => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    num.parse::<f64>().ok().map(|v| (v * mul) as u64)
}

pub fn generator() -> synthetic::Generator {
    let ds = Dataset::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh"),
    )
    .expect("bundled dataset loads");
    let sites = synthetic::sites(&ds.province, &synthetic::Selection::All).expect("all sites");
    let first = lake::day_of("2026-01-01").expect("date");
    synthetic::Generator::new(&ds.province, sites, first, 1)
}

pub fn generate(dir: &Path, days: u32) {
    let g = generator();
    let tmp = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&tmp);
    let t = Instant::now();
    let rows = synthetic::write_lake(&g, &tmp, days, "bundled", |_| {})
        .expect("generated lake")
        .readings;
    std::fs::rename(&tmp, dir).expect("rename the finished lake");
    eprintln!(
        "generated {rows} readings ({days} days) in {:.1} s into {}",
        t.elapsed().as_secs_f64(),
        dir.display()
    );
}

/// The child mode `--generate DIR DAYS` of a bench binary ([`cached_lake`] runs it, so the
/// generator's memory is not the measuring process's): true when it ran.
pub fn generate_child(args: &[String]) -> bool {
    let Some(i) = args.iter().position(|a| a == "--generate") else {
        return false;
    };
    let dir = PathBuf::from(&args[i + 1]);
    let days: u32 = args[i + 2].parse().expect("days");
    generate(&dir, days);
    true
}

/// The cached lake of at least `target` readings (0: one day), generated first by a child
/// process of this bench when missing; its directory and days.
pub fn cached_lake(target: u64) -> (PathBuf, u32) {
    let base = std::env::var_os("QN_TWIN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let per_day = generator().readings_per_day();
    let days = if target == 0 {
        1
    } else {
        target.div_ceil(per_day) as u32
    };
    let dir = base.join(format!("telemetry-seed1-{days}d"));
    if !dir.is_dir() {
        let exe = std::env::current_exe().expect("own path");
        let st = std::process::Command::new(&exe)
            .args(["--generate", &dir.display().to_string(), &days.to_string()])
            .status()
            .expect("generator child");
        assert!(st.success(), "generating {}", dir.display());
    }
    (dir, days)
}
