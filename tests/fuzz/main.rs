//! Fuzzing on the stable toolchain: every parser a user's file reaches, fed structure-aware
//! random inputs (generated from each format's grammar, with extreme values) and byte-level
//! mutations of the real fixtures (bit flips, inserted and deleted runs, duplicated chunks,
//! truncation, dictionary tokens, structural fields set to extremes). Not coverage-guided: a
//! plain random search with a time budget, in this test binary so that it shares the
//! workspace's dependency build.
//!
//! Invariant for every target: the reader returns a result or an error; it never panics, never
//! aborts, and the process never holds more than [`MAX_RSS_BYTES`] (peak resident memory,
//! checked after every target; `scripts/test` also runs this binary under a virtual-memory
//! limit, so a runaway allocation aborts instead of swapping).
//!
//! - Every file under `tests/fuzz/corpus/<target>/` is replayed each run (kept inputs: every
//!   input that once failed is added there with the fix, plus hand-picked seeds).
//! - `QN_TWIN_FUZZ_SECONDS=<s>` adds `s` seconds of fresh fuzzing per target (default 0);
//!   `QN_TWIN_FUZZ_SEED` fixes the random seed (printed otherwise). A panicking input is
//!   written to the corpus directory as `found-<hash>` and fails the test; the input being
//!   run is kept in `$CARGO_TARGET_TMPDIR/fuzz-current-<target>-<pid>` until it returns, so an
//!   abort leaves it behind, and the next run moves it into the corpus as `aborted-<hash>` and
//!   replays it (all targets share one process: an abort in one leaves the others' inputs too,
//!   which then replay harmlessly).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

mod grammar;
mod targets;

/// Peak resident memory the fuzz process may reach, bytes.
pub const MAX_RSS_BYTES: u64 = 4 << 30;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// One target: its name, the file extension its reader wants, seed inputs, a grammar-based
/// generator, and the reader (an `Err` is a fine outcome; only a panic is a finding).
pub struct Target {
    /// Name: the corpus directory and the report's label.
    pub name: &'static str,
    /// Extension of the file the reader is given.
    pub ext: &'static str,
    /// Real inputs to mutate (replayed every run).
    pub seeds: Vec<Vec<u8>>,
    /// A grammar-based random input.
    pub generate: fn(&mut StdRng) -> Vec<u8>,
    /// A mutation that knows the format's structure.
    pub structural: fn(&mut StdRng, &[u8]) -> Vec<u8>,
    /// The reader under test.
    pub run: Box<Reader>,
}

/// A reader under test: `Err` is a fine outcome, only a panic or an abort is a finding.
pub type Reader = dyn Fn(&Path) -> Result<(), String>;

/// Peak resident memory of this process so far (Linux), bytes.
fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Tokens that break parsers: extreme numbers, empty and odd strings, delimiters.
pub const DICT: &[&str] = &[
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e308",
    "-1e308",
    "1e-320",
    "-1",
    "0",
    "-0",
    "4294967296",
    "18446744073709551615",
    "9223372036854775807",
    "1e-9",
    "\"\"",
    "null",
    "[]",
    "{}",
    "\n",
    ",",
    "\"",
    "[",
    "]",
    "{",
    "}",
    "=",
    "ppm",
    "ppb",
    "%",
    "µg/m³",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00+07:00",
    "2026-01-15T08:00:00+07:00",
    "true",
    "false",
    "\u{0}",
    "é",
    "\u{feff}",
    "PM2.5",
    "SO2",
    "CH4",
    "measuring",
    "LineString",
    "Polygon",
    "coordinates",
];

/// Byte-level mutation of `data` (1–4 operations).
pub fn mutate(rng: &mut StdRng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = d.len();
        match rng.random_range(0..9) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                d[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                d[i] = rng.random();
            }
            2 => {
                let i = rng.random_range(0..=len);
                let n = rng.random_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                d.splice(i..i, bytes);
            }
            3 if len > 1 => {
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..=len.min(64))).min(len);
                d.drain(a..b);
            }
            4 if len > 1 => {
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..=len.min(256))).min(len);
                let chunk = d[a..b].to_vec();
                let at = rng.random_range(0..=d.len());
                d.splice(at..at, chunk);
            }
            5 if len > 0 => d.truncate(rng.random_range(0..len)),
            6 => {
                let t = DICT[rng.random_range(0..DICT.len())].as_bytes();
                let i = rng.random_range(0..=len);
                d.splice(i..i, t.iter().copied());
            }
            7 if len > 0 => {
                // replace a run of digits with a dictionary number
                let start = rng.random_range(0..len);
                if let Some(p) = d[start..].iter().position(u8::is_ascii_digit) {
                    let a = start + p;
                    let b = a + d[a..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit() || **c == b'.')
                        .count();
                    let t = DICT[rng.random_range(0..14)].as_bytes();
                    d.splice(a..b, t.iter().copied());
                }
            }
            _ => {
                // a 4-byte little- or big-endian integer somewhere set to an extreme
                if len >= 4 {
                    let i = rng.random_range(0..=len - 4);
                    let v: u32 = [0, 1, 0x7fff_ffff, 0xffff_ffff, 0x8000_0000, 65_536]
                        [rng.random_range(0..6)];
                    let b = if rng.random_bool(0.5) {
                        v.to_le_bytes()
                    } else {
                        v.to_be_bytes()
                    };
                    d[i..i + 4].copy_from_slice(&b);
                }
            }
        }
    }
    d
}

/// What a fuzz run found.
#[derive(Debug, Default)]
struct Outcome {
    replayed: usize,
    cases: usize,
    ok: usize,
    errors: usize,
    findings: Vec<(PathBuf, String)>,
}

/// Where the last panic happened (set by the fuzz panic hook; a panic inside a rayon worker
/// is reported on that worker's thread, so this is process-wide).
static LAST_PANIC: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Replaces the default panic hook (which prints every caught panic) by one that records the
/// location and message for the report.
fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            if let Ok(mut p) = LAST_PANIC.lock() {
                *p = format!("{at}: {msg}");
            }
        }));
    });
}

/// Replays the target's corpus, then fuzzes it for the configured time.
fn fuzz(t: Target) {
    let corpus_dir = repo("tests/fuzz/corpus").join(t.name);
    let tmpdir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let work = tmpdir.join(format!("fuzz-{}-{}", t.name, std::process::id()));
    std::fs::create_dir_all(&work).expect("work dir");
    let current = tmpdir.join(format!("fuzz-current-{}-{}", t.name, std::process::id()));
    quiet_panics();
    let mut out = Outcome::default();
    // an input being run when the process died (an abort no catch_unwind stops, in this
    // target or another one running beside it) joins the corpus and is replayed below: if it
    // was the cause, the replay aborts again and the run fails
    // (the file name carries the process id: only a process that is gone left it behind)
    let prefix = format!("fuzz-current-{}-", t.name);
    let left: Vec<PathBuf> = std::fs::read_dir(&tmpdir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(&prefix))
                .is_some_and(|pid| !Path::new("/proc").join(pid).exists())
        })
        .collect();
    for f in left {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        std::fs::create_dir_all(&corpus_dir).expect("corpus dir");
        let kept = corpus_dir.join(format!("aborted-{:016x}", hash(&bytes)));
        std::fs::write(&kept, &bytes).expect("keep");
        let _ = std::fs::remove_file(&f);
        eprintln!(
            "fuzz {}: a previous run died while running {}; kept for replay",
            t.name,
            kept.display()
        );
    }
    // one kept input per distinct panic site is enough
    let mut sites = std::collections::HashSet::new();
    let input = work.join(format!("input.{}", t.ext));
    let mut try_one = |bytes: &[u8], out: &mut Outcome| {
        std::fs::write(&current, bytes).expect("current");
        std::fs::write(&input, bytes).expect("input");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (t.run)(&input)));
        let _ = std::fs::remove_file(&current);
        match r {
            Ok(Ok(())) => out.ok += 1,
            Ok(Err(_)) => out.errors += 1,
            Err(_) => {
                let site = LAST_PANIC.lock().map(|p| p.clone()).unwrap_or_default();
                if sites.insert(site.clone()) {
                    std::fs::create_dir_all(&corpus_dir).expect("corpus dir");
                    let kept = corpus_dir.join(format!("found-{:016x}", hash(bytes)));
                    std::fs::write(&kept, bytes).expect("keep finding");
                    out.findings.push((kept, site));
                }
            }
        }
    };
    // replay: the corpus, then the seeds
    let mut kept: Vec<Vec<u8>> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&corpus_dir) {
        let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).expect("corpus file");
            try_one(&bytes, &mut out);
            out.replayed += 1;
            kept.push(bytes);
        }
    }
    for s in &t.seeds {
        try_one(s, &mut out);
        out.replayed += 1;
    }
    // fresh fuzzing
    let budget = std::env::var("QN_TWIN_FUZZ_SECONDS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or_default();
    let seed = std::env::var("QN_TWIN_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| hash(format!("{:?}{}", Instant::now(), t.name).as_bytes()));
    let mut rng = StdRng::seed_from_u64(seed);
    let pool: Vec<Vec<u8>> = t.seeds.iter().chain(&kept).cloned().collect();
    let started = Instant::now();
    while started.elapsed() < budget {
        let bytes = match rng.random_range(0..10) {
            0..=2 => (t.generate)(&mut rng),
            3..=4 if !pool.is_empty() => {
                let s = &pool[rng.random_range(0..pool.len())];
                (t.structural)(&mut rng, s)
            }
            _ if !pool.is_empty() => {
                let s = &pool[rng.random_range(0..pool.len())];
                mutate(&mut rng, s)
            }
            _ => (t.generate)(&mut rng),
        };
        try_one(&bytes, &mut out);
        out.cases += 1;
    }
    let _ = std::fs::remove_dir_all(&work);
    let rss = peak_rss().unwrap_or(0);
    eprintln!(
        "fuzz {:<12} seed {seed}: {} replayed, {} fresh cases in {:.0} s ({} ok, {} errors), {} finding(s), peak RSS {} MiB",
        t.name,
        out.replayed,
        out.cases,
        started.elapsed().as_secs_f64(),
        out.ok,
        out.errors,
        out.findings.len(),
        rss >> 20
    );
    for (f, why) in &out.findings {
        eprintln!("fuzz {}: {}: {why}", t.name, f.display());
    }
    assert!(
        out.findings.is_empty(),
        "{} finding(s) in {}",
        out.findings.len(),
        t.name
    );
    assert!(
        rss <= MAX_RSS_BYTES,
        "peak RSS {rss} bytes beyond {MAX_RSS_BYTES}"
    );
}

#[test]
fn scenario_toml_dispersion() {
    fuzz(targets::dispersion_scenario());
}

#[test]
fn scenario_toml_traffic() {
    fuzz(targets::traffic_scenario());
}

#[test]
fn observation_csv_long() {
    fuzz(targets::csv_long());
}

#[test]
fn observation_csv_wide() {
    fuzz(targets::csv_wide());
}

#[test]
fn geojson_layers() {
    fuzz(targets::geojson());
}

#[test]
fn geotiff_readers() {
    fuzz(targets::geotiff());
}

#[test]
fn osm_importer() {
    fuzz(targets::osm());
}

#[test]
fn lake_parquet_parts() {
    fuzz(targets::lake_part());
}

#[test]
fn mqtt_messages() {
    fuzz(targets::mqtt());
}

#[test]
fn airnow_files() {
    fuzz(targets::airnow());
}

#[test]
fn sensorthings_requests() {
    fuzz(targets::sta());
}

#[test]
fn mine_networks() {
    fuzz(targets::mine_network());
}
