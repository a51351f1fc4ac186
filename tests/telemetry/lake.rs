//! The lake under crashes, corruption and concurrent writers: unreadable parts are skipped and
//! named, `lake check|repair` find and quarantine them, part names never collide, committed
//! batches are finished after a crash, and bad readings are refused before they reach it.

use super::*;
use twin_engine::telemetry::lake::{self, BadPart};

/// Readings of one station over `hours` hours of PM2.5 and SO2 from `T0` (two local days:
/// T0 is 07:00 local).
fn batch(station: &str, hours: i64) -> DataFrame {
    let mut rows = Vec::new();
    for h in 0..hours {
        rows.push((
            station.to_string(),
            "PM2.5",
            T0 + h * HOUR,
            10.0,
            "measuring",
        ));
        rows.push((station.to_string(), "SO2", T0 + h * HOUR, 5.0, "measuring"));
    }
    frame(&rows)
}

fn part_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in walk(dir) {
        let n = e
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        if n.starts_with("part-") {
            out.push(e);
        }
    }
    out.sort();
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_garbage_part_is_skipped_by_name_and_quarantined_by_repair() {
    let dir = tmp("lake");
    lake::append(&dir, &batch("st-1", 30)).expect("append");
    let partition = dir.join("parameter=PM2.5/date=2026-01-01");
    let garbage = partition.join("part-999999.parquet");
    std::fs::write(&garbage, b"not parquet at all").expect("write");
    // the next append to that partition still works, and says what it could not read
    let r = lake::append(&dir, &batch("st-2", 30)).expect("append beside a bad part");
    assert_eq!(r.rows, 60);
    assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
    assert_eq!(r.skipped[0].path, garbage);
    // readers skip it and name it
    let read = lake::read(&dir).expect("read");
    assert_eq!(read.frame.height(), 120);
    assert_eq!(read.skipped.len(), 1);
    assert!(
        read.skipped[0].reason.contains("PAR1"),
        "{}",
        read.skipped[0]
    );
    let day = lake::read_day(&dir, lake::day_of("2026-01-01").expect("date")).expect("day");
    assert_eq!(day.skipped.len(), 1);
    // check lists it and changes nothing; repair quarantines it out of the glob
    let c = lake::check(&dir).expect("check");
    assert!(!c.is_clean());
    assert_eq!(
        c.bad.iter().map(|b| &b.path).collect::<Vec<_>>(),
        vec![&garbage]
    );
    assert!(garbage.exists());
    let fixed = lake::repair(&dir).expect("repair");
    assert_eq!(fixed.bad.len(), 1);
    assert!(!garbage.exists());
    assert!(partition.join("part-999999.parquet.bad").exists());
    let c = lake::check(&dir).expect("check");
    assert!(c.is_clean(), "{c:?}");
    assert_eq!((c.parts, c.rows, c.quarantined.len()), (8, 120, 1));
    let read = lake::read(&dir).expect("read");
    assert_eq!((read.frame.height(), read.skipped.len()), (120, 0));
}

#[test]
fn truncated_and_bit_flipped_parts_are_errors_naming_the_file_never_panics() {
    let dir = tmp("lake");
    let r = lake::append(&dir, &batch("st-1", 30)).expect("append");
    let part = r.files[0].clone();
    let good = std::fs::read(&part).expect("read");
    let mut rng = StdRng::seed_from_u64(13);
    let mut outcomes = (0usize, 0usize);
    for case in 0..300 {
        let mut bytes = good.clone();
        if case < 40 {
            // truncated anywhere
            bytes.truncate(rng.random_range(0..good.len()));
        } else {
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..bytes.len());
                bytes[i] ^= 1 << rng.random_range(0..8);
            }
        }
        std::fs::write(&part, &bytes).expect("write");
        let read = lake::read(&dir).expect("the lake still reads");
        match read.skipped.as_slice() {
            [] => outcomes.0 += 1,
            [BadPart { path, .. }] => {
                assert_eq!(path, &part);
                outcomes.1 += 1;
            }
            more => panic!("{more:?}"),
        }
    }
    // most corruptions are caught; a flip inside a value's bytes is not detectable
    assert!(outcomes.1 > 150, "{outcomes:?}");
}

#[test]
fn part_names_cannot_collide_after_a_delete_or_between_writers() {
    let dir = tmp("lake");
    for k in 0..3 {
        lake::append(&dir, &batch(&format!("st-{k}"), 10)).expect("append");
    }
    let parts = part_files(&dir.join("parameter=SO2/date=2026-01-01"));
    assert_eq!(parts.len(), 3);
    // a middle part deleted by hand: later appends still work
    std::fs::remove_file(&parts[1]).expect("delete");
    lake::append(&dir, &batch("st-9", 10)).expect("append after a delete");
    // eight writers at once into the same partitions: all serialise, none fails
    let handles: Vec<_> = (0..8)
        .map(|k| {
            let dir = dir.to_path_buf();
            std::thread::spawn(move || lake::append(&dir, &batch(&format!("w-{k}"), 20)))
        })
        .collect();
    for h in handles {
        let r = h.join().expect("thread").expect("concurrent append");
        assert_eq!(r.rows, 40);
    }
    let read = lake::read(&dir).expect("read");
    // three batches of 20, less the 10 readings of the deleted part, one of 20, eight of 40
    assert_eq!(read.frame.height(), 3 * 20 - 10 + 20 + 8 * 40);
    let names: std::collections::HashSet<_> = part_files(&dir).into_iter().collect();
    assert_eq!(names.len(), part_files(&dir).len());
}

#[test]
fn leftovers_are_invisible_and_a_committed_batch_is_finished_after_a_crash() {
    let dir = tmp("lake");
    lake::append(&dir, &batch("st-1", 30)).expect("append");
    // a writer killed before its commit leaves .tmp parts: never read, removed by repair
    let partition = dir.join("parameter=PM2.5/date=2026-01-01");
    let leftover = partition.join("part-00000000000000000001-00000001-00000.parquet.tmp");
    std::fs::write(&leftover, b"half a part").expect("write");
    let read = lake::read(&dir).expect("read");
    assert_eq!((read.frame.height(), read.skipped.len()), (60, 0));
    let c = lake::check(&dir).expect("check");
    assert_eq!(c.leftovers, vec![leftover.clone()]);
    lake::repair(&dir).expect("repair");
    assert!(!leftover.exists());

    // a writer killed after its commit but before its renames: the journal finishes it
    let r = lake::append(&dir, &batch("st-2", 30)).expect("append");
    let mut renames = Vec::new();
    for f in &r.files {
        let mut t = f.clone().into_os_string();
        t.push(".tmp");
        std::fs::rename(f, &t).expect("undo rename");
        let rel = |p: &std::path::Path| p.strip_prefix(&*dir).expect("inside").to_path_buf();
        renames.push((rel(std::path::Path::new(&t)), rel(f)));
    }
    let jdir = dir.join(lake::JOURNAL_DIR);
    std::fs::create_dir_all(&jdir).expect("journal dir");
    std::fs::write(
        jdir.join("crashed.json"),
        serde_json::to_string(&serde_json::json!({ "renames": renames })).expect("json"),
    )
    .expect("journal");
    assert_eq!(lake::check(&dir).expect("check").journals, 1);
    let read = lake::read(&dir).expect("read finishes the batch");
    assert_eq!(read.frame.height(), 120, "the committed batch whole");
    assert!(r.files.iter().all(|f| f.exists()));
    assert!(lake::check(&dir).expect("check").is_clean());
}

#[test]
fn a_reading_without_a_station_or_out_of_range_after_conversion_is_refused_by_row() {
    let csv = tmp("obs.csv");
    std::fs::write(
        &csv,
        "station_id,parameter,time,value,unit,status\n\
         st-1,SO2,2026-01-15T08:00:00+07:00,100,ppb,measuring\n\
         ,SO2,2026-01-15T09:00:00+07:00,100,ppb,measuring\n",
    )
    .expect("write");
    let e = observations::read(&csv)
        .expect_err("missing station")
        .to_string();
    assert!(
        e.ends_with("row 2: column `station_id`: missing `station_id`: every reading needs one"),
        "{e}"
    );
    std::fs::write(
        &csv,
        "station_id,parameter,time,value,unit,status\n\
         st-1,SO2,2026-01-15T08:00:00+07:00,100,ppb,measuring\n\
         st-1,SO2,2026-01-15T09:00:00+07:00,1e306,ppm,measuring\n",
    )
    .expect("write");
    let e = observations::read(&csv).expect_err("overflow").to_string();
    assert!(
        e.contains("row 2: column `value`: 1e306 ppm is not a finite number in µg/m³"),
        "{e}"
    );
    // the wide layout names the parameter's column
    std::fs::write(
        &csv,
        "station_id,time,SO2 [ppm]\nst-1,2026-01-15T08:00:00+07:00,1\nst-1,2026-01-15T09:00:00+07:00,1e306\n",
    )
    .expect("write");
    let e = observations::read(&csv).expect_err("overflow").to_string();
    assert!(e.contains("row 2: column `SO2 [ppm]`"), "{e}");
}

#[test]
fn an_append_refuses_a_reading_without_its_key_instead_of_counting_a_duplicate() {
    let dir = tmp("lake");
    let mut df = batch("st-1", 3);
    let ids: Vec<Option<&str>> = vec![
        Some("st-1"),
        None,
        Some("st-1"),
        Some("st-1"),
        Some("st-1"),
        Some("st-1"),
    ];
    df.replace("station_id", Column::new("station_id".into(), ids))
        .expect("replace");
    let e = lake::append(&dir, &df).expect_err("a reading without a station");
    assert!(
        e.to_string()
            .ends_with("row 2: column `station_id`: missing `station_id`: every reading needs one"),
        "{e}"
    );
    assert!(lake::read(&dir).is_err(), "nothing was written");
}
