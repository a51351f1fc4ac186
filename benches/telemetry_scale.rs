//! Telemetry at scale: QA + hourly VN_AQI over N generated readings, streamed a local day at a
//! time from the lake, reporting readings/s and the peak resident memory of the analytics
//! process (the lake is generated first, in a child process, and cached).
//!
//! ```text
//! cargo bench --bench telemetry_scale -- --readings 10M          # default
//! cargo bench --bench telemetry_scale -- --readings 10M,100M
//! python3 benches/telemetry_pandas.py LAKE                        # the same in pandas
//! ```
//! The lake lives under `$QN_TWIN_BENCH_DIR` (default: the system temp dir) as
//! `telemetry-seed1-<days>d/`; pass its path to the pandas script for the side-by-side ratio.
//! In test mode (`cargo test --benches`) it runs one generated day, to keep the code honest.

use std::path::Path;
use std::time::Instant;

use twin_engine::telemetry::hourly::Standard;
use twin_engine::telemetry::qa::QaConfig;
use twin_engine::telemetry::stream;

#[path = "lake_cache.rs"]
mod lake_cache;
use lake_cache::{cached_lake, generate_child, parse_count, peak_rss_mib};

fn run(lake_dir: &Path) -> (usize, f64) {
    let t = Instant::now();
    let totals = stream::qa_hourly_aqi(lake_dir, &QaConfig::default(), Standard::Vn, |_| {
        Ok::<(), twin_engine::telemetry::ObservationError>(())
    })
    .expect("streamed QA + hourly AQI");
    let wall = t.elapsed().as_secs_f64();
    eprintln!(
        "  {} days: {} accepted, {} rejected, {} gaps, {} station-hours of AQI",
        totals.days, totals.accepted, totals.rejected, totals.gaps, totals.aqi_rows
    );
    (totals.readings, wall)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if generate_child(&args) {
        return;
    }
    // child: --measure DIR (a fresh process, so that VmHWM is the analytics' own)
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        let (n, wall) = run(Path::new(&args[i + 1]));
        println!("{n} {wall} {}", peak_rss_mib());
        return;
    }
    let test_mode = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let targets: Vec<u64> = if test_mode {
        vec![0]
    } else {
        args.iter()
            .position(|a| a == "--readings")
            .and_then(|i| args.get(i + 1))
            .map(|s| s.split(',').filter_map(parse_count).collect())
            .unwrap_or_else(|| vec![10_000_000])
    };
    let exe = std::env::current_exe().expect("own path");
    for target in targets {
        let (dir, days) = cached_lake(target);
        let out = std::process::Command::new(&exe)
            .args(["--measure", &dir.display().to_string()])
            .output()
            .expect("measuring child");
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "measuring {}", dir.display());
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Vec<f64> = text
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        assert_eq!(v.len(), 3, "child printed {text:?}");
        println!(
            "telemetry_scale: QA + hourly VN_AQI, {:.0} readings ({days} days, {}): {:.1} s, {:.3e} readings/s, peak RSS {:.0} MiB",
            v[0],
            dir.display(),
            v[1],
            v[0] / v[1],
            v[2]
        );
        if target == 0 {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
