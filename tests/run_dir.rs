//! Run directories round-trip through the engine's one reader: what `write_*_run` writes,
//! `RunDir::open` gives back (typed summary, rasters as ndarray arrays on their grid, tables);
//! an old, foreign or missing directory gets an error that says which.

use chrono::{DateTime, Utc};
use twin_engine::dispersion::scenario::Scenario;
use twin_engine::output::run::{Field, RunDir, RunError, RunSummary};
use twin_engine::output::traffic::{TrafficRunInfo, write_traffic_run};
use twin_engine::traffic::Control;
use twin_engine::traffic::synthetic::{GridSpec, grid_setup, grid_trips};

/// Two summaries equal field by field; floats to 1e-15 relative (serde_json's parser, without
/// its `float_roundtrip` feature, may land one unit in the last place away).
fn assert_same(written: &RunSummary, read: &RunSummary) {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
        use serde_json::Value::*;
        match (a, b) {
            (Number(x), Number(y)) => {
                let (x, y) = (
                    x.as_f64().unwrap_or(f64::NAN),
                    y.as_f64().unwrap_or(f64::NAN),
                );
                assert!(
                    x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs()),
                    "{at}: {x} ≠ {y}"
                );
            }
            (Array(x), Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}: lengths");
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    walk(p, q, &format!("{at}[{i}]"));
                }
            }
            (Object(x), Object(y)) => {
                assert_eq!(
                    x.keys().collect::<Vec<_>>(),
                    y.keys().collect::<Vec<_>>(),
                    "{at}: keys"
                );
                for (k, p) in x {
                    walk(p, &y[k], &format!("{at}.{k}"));
                }
            }
            _ => assert_eq!(a, b, "{at}"),
        }
    }
    let v = |s: &RunSummary| serde_json::to_value(s).expect("serialises");
    walk(&v(written), &v(read), "summary");
}

fn not_a_run(e: RunError) -> String {
    match e {
        RunError::NotARun { message, .. } => message,
        other => panic!("expected NotARun, got {other}"),
    }
}

#[test]
fn a_dispersion_run_reads_back_as_written() {
    let path = crate::bundled().join("scenarios/analytic-point-source.toml");
    let mut s = Scenario::read(&path).expect("scenario");
    s.duration_h = 2.0;
    let run = s
        .resolve_with_dataset(&path, Some(&crate::bundled()))
        .expect("resolves");
    let result = run.problem.run(None).expect("runs on the CPU twin");
    let dir = tempfile::tempdir().expect("temp dir");
    let written =
        twin_engine::output::write_dispersion_run(dir.path(), &run, &result).expect("written");
    let rd = RunDir::open(dir.path()).expect("opens");
    assert_same(&written, &rd.summary);
    let RunSummary::Dispersion(s) = &rd.summary else {
        panic!("a dispersion summary")
    };
    assert_eq!(s.format_version, twin_engine::output::run::FORMAT_VERSION);
    assert_eq!(s.grid, run.problem.grid);
    // the time-mean field: band, row from north, column; equal to the result's south-first rows
    let g = &run.problem.grid;
    let f = rd.concentration(Field::Mean).expect("raster");
    assert_eq!(f.values.dim(), (1, g.ny, g.nx));
    for j in 0..g.ny {
        for i in 0..g.nx {
            assert_eq!(
                f.values[[0, g.ny - 1 - j, i]],
                result.mean_conc[j * g.nx + i],
                "cell ({i}, {j})"
            );
        }
    }
    let fin = rd.concentration(Field::Final).expect("final raster");
    assert_eq!(fin.values.dim(), f.values.dim());
    // the wrong kind of reader says what the run is
    let e = rd.links().expect_err("not a traffic run");
    assert!(not_a_run(e).contains("a dispersion run"));
}

#[test]
fn a_traffic_run_reads_back_with_utc_interval_end_times() {
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-03-10T06:00:00+07:00")
        .expect("time")
        .with_timezone(&Utc);
    let spec = GridSpec::city(4);
    let trips = grid_trips(&spec, 8, 200.0, 7);
    let problem = grid_setup(&spec, &trips, 1800.0, Control::FixedTime, start)
        .expect("set-up")
        .compile()
        .expect("compiles");
    let run = problem.run(None).expect("runs");
    let dir = tempfile::tempdir().expect("temp dir");
    let info = TrafficRunInfo {
        name: "grid".into(),
        ..Default::default()
    };
    let written = write_traffic_run(dir.path(), &problem, &run, &info).expect("written");
    let rd = RunDir::open(dir.path()).expect("opens");
    assert_same(&written, &rd.summary);
    let t = rd.traffic().expect("traffic summary");
    for (a, b) in t.vehicles.entered.iter().zip(run.conservation.entered) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }
    let links = rd.links().expect("links.parquet");
    use polars::prelude::{DataType, TimeUnit, TimeZone};
    assert_eq!(
        links.column("time").expect("time").dtype(),
        &DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
    );
    // rows are labelled by the interval's end: the first is start + one interval
    let times = twin_engine::columns::times_ms(&links, "time").expect("times");
    let first = times.iter().flatten().min().copied().expect("a time");
    let step_ms = (t.output_interval_s * 1000.0).round() as i64;
    assert_eq!(first, start.timestamp_millis() + step_ms);
    let per_road = rd.mean_emissions_by_road().expect("emissions");
    assert!(!per_road.is_empty());
    assert!(rd.concentration(Field::Mean).is_err());
}

#[test]
fn old_foreign_and_missing_directories_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    // not a directory at all
    let e = RunDir::open(&p.join("nothing-here")).expect_err("missing");
    assert!(not_a_run(e).contains("not a directory"));
    // a directory without a summary
    let e = RunDir::open(p).expect_err("empty");
    assert!(not_a_run(e).contains("no summary.json"));
    let write = |text: &str| std::fs::write(p.join("summary.json"), text).expect("write");
    // a summary from before typed run directories
    write(r#"{"scenario": "winter", "grid": {"nx": 2}}"#);
    assert!(not_a_run(RunDir::open(p).expect_err("old")).contains("older twin"));
    // another tool's JSON
    write(r#"{"type": "FeatureCollection"}"#);
    assert!(
        not_a_run(RunDir::open(p).expect_err("foreign")).contains("not a summary written by twin")
    );
    write(r#"{"kind": "hydrology", "format_version": 1}"#);
    assert!(not_a_run(RunDir::open(p).expect_err("kind")).contains("hydrology"));
    // a newer format
    write(r#"{"kind": "traffic", "format_version": 99}"#);
    assert!(not_a_run(RunDir::open(p).expect_err("newer")).contains("format_version 99"));
    write("not json");
    assert!(not_a_run(RunDir::open(p).expect_err("text")).contains("not JSON"));
}
