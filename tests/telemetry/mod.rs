//! Telemetry: the polars hourly VN_AQI pipeline against the value-by-value reference functions
//! on seeded random series with gaps and non-measuring statuses; unit normalisation; readers'
//! errors naming file, row and column.

use std::collections::HashMap;
use std::io::Write;

use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use twin_engine::columns::{i64s, strings};
use twin_engine::telemetry::aqi::{
    AqiParameter, DayInputs, HourInputs, us_aqi, us_nowcast, vn_daily, vn_hourly,
};
use twin_engine::telemetry::daily::daily_aqi;
use twin_engine::telemetry::hourly::{Standard, hourly_aqi, vn_hourly_aqi};
use twin_engine::telemetry::observations::{self, ObservationError, to_canonical};

mod aqi;
mod lake;
mod qa;
mod readers;
mod synthetic;

const HOUR: i64 = 3_600_000;
const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// A path `name` inside a fresh temporary directory that is removed when the guard drops,
/// whether the test passed or panicked.
struct Tmp {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl std::ops::Deref for Tmp {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.path
    }
}

impl AsRef<std::path::Path> for Tmp {
    fn as_ref(&self) -> &std::path::Path {
        &self.path
    }
}

fn tmp(name: &str) -> Tmp {
    let dir = tempfile::Builder::new()
        .prefix("qn-twin-telemetry-")
        .tempdir()
        .expect("temporary directory");
    Tmp {
        path: dir.path().join(name),
        _dir: dir,
    }
}

/// Seeded readings: 3 stations × 60 hours, PM2.5, PM10, SO2, NO2, CO, O3, one or two readings
/// per hour, about 15 % of hours missing per parameter, 5 % calibrating.
fn random_readings(seed: u64) -> Vec<(String, &'static str, i64, f64, &'static str)> {
    random_readings_hours(seed, 60)
}

fn random_readings_hours(
    seed: u64,
    hours: i64,
) -> Vec<(String, &'static str, i64, f64, &'static str)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let ranges = [
        ("PM2.5", 0.0, 300.0),
        ("PM10", 0.0, 450.0),
        ("SO2", 0.0, 900.0),
        ("NO2", 0.0, 900.0),
        ("CO", 0.0, 70_000.0),
        ("O3", 0.0, 500.0),
    ];
    let mut out = Vec::new();
    for s in 0..3 {
        for (p, lo, hi) in ranges {
            let mut level: f64 = rng.random_range(lo..hi);
            for h in 0..hours {
                level = (level * rng.random_range(0.6..1.5)).clamp(lo, hi);
                if rng.random_bool(0.15) {
                    continue;
                }
                let n = if rng.random_bool(0.3) { 2 } else { 1 };
                for k in 0..n {
                    let status = if rng.random_bool(0.05) {
                        "calibrating"
                    } else {
                        "measuring"
                    };
                    // at :30 and on the next hour exactly (the end of that hour's period)
                    let t = T0 + h * HOUR + (30 + 30 * k) * 60_000;
                    out.push((
                        format!("st-{s}"),
                        p,
                        t,
                        level * rng.random_range(0.9..1.1),
                        status,
                    ));
                }
            }
        }
    }
    out
}

fn frame(readings: &[(String, &'static str, i64, f64, &'static str)]) -> DataFrame {
    DataFrame::new_infer_height(vec![
        Column::new(
            "station_id".into(),
            readings.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        ),
        Column::new(
            "parameter".into(),
            readings.iter().map(|r| r.1).collect::<Vec<_>>(),
        ),
        Column::new(
            "time_ms".into(),
            readings.iter().map(|r| r.2).collect::<Vec<_>>(),
        ),
        Column::new(
            "value".into(),
            readings.iter().map(|r| r.3).collect::<Vec<_>>(),
        ),
        Column::new("unit".into(), vec!["µg/m³"; readings.len()]),
        Column::new(
            "status".into(),
            readings.iter().map(|r| r.4).collect::<Vec<_>>(),
        ),
    ])
    .expect("frame")
}
