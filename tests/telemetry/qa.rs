//! QA reasons and gaps, and mine-gas alarm events.

use super::*;

/// One minute-level PM2.5 series with every kind of fault at a known place.
#[test]
fn qa_rejects_each_fault_with_its_reason_and_reports_gaps() {
    use twin_engine::telemetry::qa::{QaConfig, qa};
    let mut rows: Vec<(String, &'static str, i64, f64, &'static str)> = Vec::new();
    let minute = 60_000;
    for m in 0..300i64 {
        if (100..110).contains(&m) {
            continue; // a 10-minute dropout: one gap of 11 min between readings
        }
        let mut v = 30.0 + (m % 7) as f64; // varies every minute
        let mut status = "measuring";
        if m == 50 {
            v = 400.0; // spike: > 4× neighbours and > 50 above them
        }
        if m == 60 {
            v = -5.0; // below the plausible range
        }
        if (200..240).contains(&m) {
            v = 33.3; // stuck for 40 readings (≥ 30)
        }
        if (250..255).contains(&m) {
            status = "calibrating";
        }
        rows.push(("st-1".into(), "PM2.5", T0 + m * minute, v, status));
    }
    // a second parameter without range or spike settings is only status/stuck-checked
    rows.push(("st-1".into(), "humidity", T0, 250.0, "measuring"));
    let n = rows.len();
    let r = qa(frame(&rows).lazy(), &QaConfig::default()).expect("plan");
    let accepted = r.accepted.collect().expect("accepted");
    let rejected = r.rejected.collect().expect("rejected");
    let gaps = r.gaps.collect().expect("gaps");
    assert_eq!(accepted.height() + rejected.height(), n, "nothing dropped");
    let reasons: Vec<(i64, String)> = {
        let t = rejected
            .column("time_ms")
            .expect("col")
            .i64()
            .expect("i64")
            .clone();
        let why = rejected
            .column("reason")
            .expect("col")
            .str()
            .expect("str")
            .clone();
        t.iter()
            .zip(why.iter())
            .map(|(t, w)| {
                (
                    (t.expect("t") - T0) / minute,
                    w.expect("reason").to_string(),
                )
            })
            .collect()
    };
    let count = |w: &str| reasons.iter().filter(|(_, r)| r == w).count();
    assert_eq!(count("spike"), 1);
    assert!(reasons.contains(&(50, "spike".into())));
    assert_eq!(count("range"), 1);
    assert!(reasons.contains(&(60, "range".into())));
    assert_eq!(count("stuck"), 40);
    assert_eq!(count("status calibrating"), 5);
    assert_eq!(rejected.height(), 47);
    assert_eq!(gaps.height(), 1);
    let g = gaps
        .column("gap_s")
        .expect("col")
        .f64()
        .expect("f64")
        .get(0);
    assert_eq!(g, Some(660.0));
}

/// A methane excursion: 0.6 % background, 12 minutes at or above 1.0 % with 3 of them at or
/// above 1.5 %, a second short excursion; a slow-air spell.
#[test]
fn mine_gas_alarms_find_events_with_peaks_and_rules() {
    use twin_engine::telemetry::alarms::{alarms, default_levels};
    let minute = 60_000;
    let start = T0 + 2 * HOUR; // 09:00 local, in the 06:00 shift
    let mut rows: Vec<(String, &'static str, i64, f64, &'static str)> = Vec::new();
    for m in 0..120i64 {
        let ch4 = match m {
            20..=31 => {
                if (25..=27).contains(&m) {
                    1.5 + 0.05 * (m - 25) as f64
                } else {
                    1.1
                }
            }
            70..=71 => 1.0,
            _ => 0.6,
        };
        rows.push((
            "mine-khe-cham".into(),
            "CH4",
            start + m * minute,
            ch4,
            "measuring",
        ));
        let v = if (40..45).contains(&m) { 0.2 } else { 0.8 };
        rows.push((
            "mine-khe-cham".into(),
            "air_velocity",
            start + m * minute,
            v,
            "measuring",
        ));
    }
    // a calibration reading above 1.5 % does not alarm
    rows.push((
        "mine-khe-cham".into(),
        "CH4",
        start + 200 * minute,
        2.0,
        "calibrating",
    ));
    let a = alarms(frame(&rows).lazy(), &default_levels(), 60.0).expect("plan");
    let ev = a.events.collect().expect("events");
    let name = ev.column("alarm").expect("col").str().expect("str").clone();
    let start_ms = ev
        .column("start_ms")
        .expect("col")
        .i64()
        .expect("i64")
        .clone();
    let end_ms = ev
        .column("end_ms")
        .expect("col")
        .i64()
        .expect("i64")
        .clone();
    let peak = ev.column("peak").expect("col").f64().expect("f64").clone();
    let peak_ms = ev
        .column("peak_ms")
        .expect("col")
        .i64()
        .expect("i64")
        .clone();
    let rule = ev.column("rule").expect("col").str().expect("str").clone();
    let got: Vec<(String, i64, i64, f64, i64)> = (0..ev.height())
        .map(|i| {
            (
                name.get(i).expect("name").to_string(),
                (start_ms.get(i).expect("s") - start) / minute,
                (end_ms.get(i).expect("e") - start) / minute,
                peak.get(i).expect("p"),
                (peak_ms.get(i).expect("t") - start) / minute,
            )
        })
        .collect();
    eprintln!("{got:?}");
    assert_eq!(got.len(), 4);
    assert!(got.contains(&("CH4 >= 1.0 %".into(), 20, 31, 1.6, 27)));
    assert!(got.contains(&("CH4 >= 1.5 %".into(), 25, 27, 1.6, 27)));
    assert!(got.contains(&("CH4 >= 1.0 %".into(), 70, 71, 1.0, 70)));
    assert!(got.contains(&("air velocity < 0.25 m/s".into(), 40, 44, 0.2, 40)));
    assert!(
        rule.iter()
            .flatten()
            .any(|r| r.starts_with("30 CFR 75.323(b)(2)"))
    );
    assert!(
        rule.iter()
            .flatten()
            .any(|r| r.starts_with("QCVN 01:2011/BCT"))
    );
    // time beyond each level in the shift that started at 06:00 local (23:00 UTC the day before)
    let ps = a.per_shift.collect().expect("per shift");
    let shift = ps
        .column("shift_start_ms")
        .expect("col")
        .i64()
        .expect("i64")
        .clone();
    let mins = ps
        .column("minutes_beyond")
        .expect("col")
        .f64()
        .expect("f64")
        .clone();
    let al = ps.column("alarm").expect("col").str().expect("str").clone();
    for i in 0..ps.height() {
        assert_eq!(
            shift.get(i),
            Some(T0 - HOUR),
            "one shift, starting 23:00 UTC"
        );
        let want = match al.get(i).expect("alarm") {
            "CH4 >= 1.0 %" => 14.0,
            "CH4 >= 1.5 %" => 3.0,
            "air velocity < 0.25 m/s" => 5.0,
            other => panic!("unexpected {other}"),
        };
        assert_eq!(mins.get(i), Some(want));
    }
}
