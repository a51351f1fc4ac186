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

use std::path::{Path, PathBuf};
use std::time::Instant;

use twin_engine::dataset::Dataset;
use twin_engine::telemetry::hourly::Standard;
use twin_engine::telemetry::qa::QaConfig;
use twin_engine::telemetry::{lake, stream, synthetic};

fn peak_rss_mib() -> f64 {
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

fn parse_count(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.chars().last()? {
        'M' | 'm' => (&s[..s.len() - 1], 1_000_000.0),
        'k' | 'K' => (&s[..s.len() - 1], 1_000.0),
        'G' | 'g' => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    num.parse::<f64>().ok().map(|v| (v * mul) as u64)
}

fn generator() -> synthetic::Generator {
    let ds = Dataset::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh"),
    )
    .expect("bundled dataset loads");
    let sites = synthetic::sites(&ds.province, &synthetic::Selection::All).expect("all sites");
    let first = lake::day_of("2026-01-01").expect("date");
    synthetic::Generator::new(&ds.province, sites, first, 1)
}

fn generate(dir: &Path, days: u32) {
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
    // child: --generate DIR DAYS
    if let Some(i) = args.iter().position(|a| a == "--generate") {
        let dir = PathBuf::from(&args[i + 1]);
        let days: u32 = args[i + 2].parse().expect("days");
        generate(&dir, days);
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
    let base = std::env::var_os("QN_TWIN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let per_day = generator().readings_per_day();
    let exe = std::env::current_exe().expect("own path");
    for target in targets {
        let days = if target == 0 {
            1
        } else {
            target.div_ceil(per_day) as u32
        };
        let dir = base.join(format!("telemetry-seed1-{days}d"));
        if !dir.is_dir() {
            let st = std::process::Command::new(&exe)
                .args(["--generate", &dir.display().to_string(), &days.to_string()])
                .status()
                .expect("generator child");
            assert!(st.success(), "generating {}", dir.display());
        }
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
