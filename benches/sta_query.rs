//! SensorThings API query latency on a large lake: `twin serve`'s store loaded from a generated
//! lake of N readings (the whole province, minute data; cached like `telemetry_scale`), then
//! typical requests answered by `twin_engine::sta` in process (the HTTP layer adds a loopback
//! round trip), each repeated and reported as median and p99 milliseconds.
//!
//! ```text
//! cargo bench --bench sta_query -- --readings 10M          # default
//! ```
//! In test mode (`cargo test --benches`) it runs one generated day, to keep the code honest.

use std::time::Instant;

use twin_engine::dataset::Dataset;
use twin_engine::sta::store::Store;
use twin_engine::sta::{Api, ext};

#[path = "lake_cache.rs"]
mod lake_cache;
use lake_cache::{cached_lake, generate_child, parse_count, peak_rss_mib};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if generate_child(&args) {
        return;
    }
    let test_mode = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let target = if test_mode {
        0
    } else {
        args.iter()
            .position(|a| a == "--readings")
            .and_then(|i| args.get(i + 1))
            .and_then(|s| parse_count(s))
            .unwrap_or(10_000_000)
    };
    let (dir, days) = cached_lake(target);
    let t = Instant::now();
    let mut store = Store::new(&dir);
    store.refresh().expect("the lake loads");
    let load_s = t.elapsed().as_secs_f64();
    let n = store.readings();
    let ds = Dataset::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh"),
    )
    .expect("bundled dataset");
    let api = Api::new(&ds, store);
    println!(
        "sta_query: {n} readings ({days} days, {}) loaded in {load_s:.1} s, peak RSS {:.0} MiB",
        dir.display(),
        peak_rss_mib()
    );
    let root = "http://127.0.0.1:8080/v1.1";
    let ds_id = "st-ha-long-air-01:PM2.5";
    let last_day = format!(
        "phenomenonTime gt {} and phenomenonTime le {}",
        chrono::DateTime::from_timestamp_millis(
            lake_start_ms() + (i64::from(days) - 1) * 86_400_000
        )
        .map(|d| d.to_rfc3339())
        .unwrap_or_default(),
        chrono::DateTime::from_timestamp_millis(lake_start_ms() + i64::from(days) * 86_400_000)
            .map(|d| d.to_rfc3339())
            .unwrap_or_default()
    );
    let q = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    let obs = format!("Datastreams('{ds_id}')/Observations");
    let cases: Vec<(&str, String, Query)> = vec![
        (
            "Things (all, $top=200)",
            "Things".into(),
            q(&[("$top", "200")]),
        ),
        ("one Datastream, first page of 100", obs.clone(), q(&[])),
        (
            "one Datastream, last day, $count, page of 100",
            obs.clone(),
            q(&[("$filter", &last_day), ("$count", "true")]),
        ),
        (
            "one Datastream, newest ($orderby desc, $top=1)",
            obs.clone(),
            q(&[("$orderby", "phenomenonTime desc"), ("$top", "1")]),
        ),
        (
            "one Datastream, result gt 150, $count",
            obs.clone(),
            q(&[("$filter", "result gt 150"), ("$count", "true")]),
        ),
        (
            "all Observations, last day and result gt 300, $top=100",
            "Observations".into(),
            q(&[("$filter", &format!("{last_day} and result gt 300"))]),
        ),
        (
            "a Thing with its Datastreams and their newest Observation",
            "Things('st-ha-long-air-01')".into(),
            q(&[(
                "$expand",
                "Datastreams($expand=Observations($top=1;$orderby=phenomenonTime desc))",
            )]),
        ),
    ];
    let reps = if test_mode { 3 } else { 30 };
    for (name, path, query) in &cases {
        let mut ms = Vec::with_capacity(reps);
        let mut status = 0;
        for _ in 0..reps {
            let t = Instant::now();
            let r = api.get(path, query, root);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            status = r.status;
        }
        assert_eq!(status, 200, "{name}");
        ms.sort_by(f64::total_cmp);
        println!(
            "  {name:<60} median {:8.3} ms  p99 {:8.3} ms",
            ms[ms.len() / 2],
            ms[((ms.len() - 1) as f64 * 0.99).round() as usize]
        );
    }
    for (name, path, query) in [
        ("ext: latest of every Datastream", "latest", q(&[])),
        (
            "ext: hourly aggregates, 7 days",
            "Datastreams('st-ha-long-air-01:PM2.5')/aggregate",
            q(&[("interval", "hour")]),
        ),
        (
            "ext: hourly VN_AQI of a station, 7 days",
            "Things('st-ha-long-air-01')/aqi",
            q(&[("interval", "hour")]),
        ),
    ] {
        let mut ms = Vec::new();
        for _ in 0..reps.min(10) {
            let t = Instant::now();
            let r = ext::get(&api, path, &query, root);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(r.status, 200, "{name}: {}", r.body);
        }
        ms.sort_by(f64::total_cmp);
        println!("  {name:<60} median {:8.3} ms", ms[ms.len() / 2]);
    }
    if target == 0 {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Decoded query pairs.
type Query = Vec<(String, String)>;

/// The generated lake starts at local midnight of 2026-01-01 (UTC+7).
fn lake_start_ms() -> i64 {
    1_767_225_600_000 - 7 * 3_600_000
}
