//! `twin sweep`: three shards into one shared directory give, file for file, what one machine
//! gives (timings aside); a rerun skips finished members; the per-kind tables read as one
//! Hive-partitioned table in DuckDB.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

/// Every file under `dir`, relative path → bytes; JSON files with their wall-clock fields
/// (`wall_s`, `*_per_s`, `*wall*`) removed, `members.parquet` without its `wall_s` column.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| !(k.contains("wall") || k.ends_with("per_s")));
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(dir).expect("under dir").to_path_buf();
            let bytes = std::fs::read(&path).expect("read");
            let bytes = if rel.extension().is_some_and(|x| x == "json") {
                let mut v: Value = serde_json::from_slice(&bytes).expect("json");
                strip(&mut v);
                serde_json::to_vec(&v).expect("json")
            } else if rel == Path::new("members.parquet") {
                let df = twin_engine::safeio::read_parquet(&path).expect("parquet");
                let df = df.drop("wall_s").expect("wall_s");
                format!("{df:?}").into_bytes()
            } else {
                bytes
            };
            out.insert(rel, bytes);
        }
    }
    out
}

#[test]
fn shards_union_equals_one_machine_and_reruns_skip() {
    let t = tmp_dir("sweep");
    let sweep = data("sweep/wind.toml");
    let one = t.join("one");
    let o = twin(&["sweep", p(&sweep), "--out", p(&one), "--jobs", "2"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("6 members"), "{stdout}");
    assert!(stdout.contains("merged    6 done"), "{stdout}");

    let shared = t.join("shared");
    for i in 0..3 {
        let shard = format!("{i}/3");
        let o = twin(&["sweep", p(&sweep), "--out", p(&shared), "--shard", &shard]);
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{s}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(s.contains("2 run"), "shard {shard}: {s}");
        assert!(s.contains("--merge"), "{s}");
        if i == 0 {
            // merging before every shard is done fails, naming what is missing
            let o = twin(&["sweep", p(&sweep), "--out", p(&shared), "--merge"]);
            assert_eq!(o.status.code(), Some(1));
            let e = String::from_utf8_lossy(&o.stderr);
            assert!(e.contains("4 member(s) not finished"), "{e}");
        }
    }
    assert!(
        !shared.join("members.parquet").exists(),
        "shards do not merge"
    );
    let o = twin(&["sweep", p(&sweep), "--out", p(&shared), "--merge"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (contents(&one), contents(&shared));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (k, v) in &a {
        assert!(
            v == &b[k],
            "{} differs between one machine and three shards",
            k.display()
        );
    }
    assert!(a.len() > 6 * 4, "{} files", a.len());

    // a rerun skips every finished member
    let o = twin(&["sweep", p(&sweep), "--out", p(&one)]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("0 run, 6 finished before"), "{s}");

    // another sweep into the same directory is refused
    let other = t.join("other.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&sweep)
            .expect("read")
            .replace("seed = 7", "seed = 8")
            .replace("base.toml", p(&data("sweep/base.toml"))),
    )
    .expect("write");
    let o = twin(&["sweep", p(&other), "--out", p(&one)]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("different sweep"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // DuckDB reads a kind's table across members as one Hive-partitioned table
    let py = std::env::var("QN_TWIN_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = format!(
        "import duckdb\n\
         t = duckdb.sql(\"select count(distinct member) as m, count(*) as n from read_parquet('{}/tables/receptors/*/*.parquet', hive_partitioning = true)\").fetchall()\n\
         k = duckdb.sql(\"select count(*) from '{}/members.parquet' where status = 'done'\").fetchall()\n\
         print(t[0][0], t[0][1], k[0][0])\n",
        one.display(),
        one.display()
    );
    let o = std::process::Command::new(&py)
        .args(["-c", &script])
        .output()
        .expect("python runs (set QN_TWIN_PYTHON to the venv scripts/setup makes)");
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let nums: Vec<u64> = s
        .split_whitespace()
        .map(|x| x.parse().expect("number"))
        .collect();
    assert_eq!(nums[0], 6, "six members in the receptors table: {s}");
    assert!(nums[1] > 0);
    assert_eq!(nums[2], 6, "{s}");
}

#[test]
fn sweep_errors_name_the_file_and_key() {
    let t = tmp_dir("sweep-bad");
    let f = t.join("s.toml");
    std::fs::write(
        &f,
        format!(
            "base = {:?}\n[[vary]]\nkey = \"wind.speeed_m_s\"\nvalues = [1.0]\n",
            p(&data("sweep/base.toml"))
        ),
    )
    .expect("write");
    let o = twin(&["sweep", p(&f), "--out", p(&t.join("o"))]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("s.toml") && e.contains("wind.speeed_m_s"), "{e}");
    let o = twin(&["sweep", p(&f), "--out", p(&t.join("o")), "--shard", "3/3"]);
    assert_eq!(o.status.code(), Some(2), "a usage error");
}

/// `twin run`: the study's steps in order, its manifest, and a rerun from the manifest.
#[test]
fn twin_run_chains_a_study_and_reruns_from_its_manifest() {
    let t = tmp_dir("study");
    let study = data("study/study.toml");
    let out = t.join("out");
    let o = twin(&["run", p(&study), "--out", p(&out)]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(s.contains("traffic → dust → check → mine"), "{s}");
    assert!(s.contains("5 inputs hashed"), "{s}");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["backend"], "cpu");
    assert!(manifest["command"][1] == "run", "{}", manifest["command"]);
    assert_eq!(
        manifest["steps"][1]["inputs"]["sources.traffic[0].emissions"],
        "step:traffic"
    );
    let m = out.join("manifest.json");
    let again = t.join("again");
    let o = twin(&["run", "--manifest", p(&m), "--out", p(&again)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = twin(&["run", p(&study), "--out", p(&out)]);
    assert_eq!(o.status.code(), Some(1), "not empty without --overwrite");
}

/// On the GPU (lavapipe in CI) the wind sweep's six members run batched three at a time: every
/// field and table equals the CPU twin's sweep byte for byte (the base has no near field, so
/// every output comes from the fixed-point grid), and the batch stepped more than one member
/// per dispatch.
#[test]
fn gpu_batched_sweep_equals_the_cpu_sweep() {
    if std::env::var_os("QN_TWIN_SKIP_GPU").is_some() {
        return;
    }
    let t = tmp_dir("sweep-gpu");
    let sweep = data("sweep/wind.toml");
    let (cpu, gpu) = (t.join("cpu"), t.join("gpu"));
    let o = twin(&["sweep", p(&sweep), "--out", p(&cpu)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = twin(&[
        "sweep",
        p(&sweep),
        "--out",
        p(&gpu),
        "--backend",
        "gpu",
        "--batch",
        "3",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("3 at a time (one GPU batch)"), "{stdout}");
    let per_dispatch: f64 = stdout
        .lines()
        .find_map(|l| {
            let l = l.strip_prefix("batch     ")?;
            let (_, rest) = l.split_once("interval(s), ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no batch line: {stdout}"));
    assert!(per_dispatch > 1.0, "{stdout}");
    // fields and tables: every GeoTIFF and Parquet file but the wall times
    let outputs = |d: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        contents(d)
            .into_iter()
            .filter(|(k, _)| k.extension().is_some_and(|x| x == "tif" || x == "parquet"))
            .collect()
    };
    let (a, b) = (outputs(&cpu), outputs(&gpu));
    assert!(a.len() > 6 * 2, "{} files", a.len());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(
            v == &b[k],
            "{} differs between CPU and batched GPU",
            k.display()
        );
    }
}

/// On the GPU (lavapipe in CI) a traffic sweep's four members run as one union of their
/// networks: every table equals the one-by-one GPU sweep's byte for byte, and the union
/// stepped all four members per dispatch.
#[test]
fn gpu_traffic_members_in_one_union_equal_the_members_alone() {
    if std::env::var_os("QN_TWIN_SKIP_GPU").is_some() {
        return;
    }
    let t = tmp_dir("sweep-traffic-gpu");
    let sweep = data("sweep/traffic.toml");
    let (alone, batched) = (t.join("alone"), t.join("batched"));
    let run = |dir: &Path, batch: &str| {
        let o = twin(&[
            "sweep",
            p(&sweep),
            "--out",
            p(dir),
            "--backend",
            "gpu",
            "--batch",
            batch,
        ]);
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            o.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        stdout
    };
    let one = run(&alone, "1");
    assert!(one.contains("4 member(s), 1 at a time\n"), "{one}");
    let stdout = run(&batched, "4");
    assert!(stdout.contains("4 at a time (one GPU batch)"), "{stdout}");
    assert!(
        stdout.contains("1 union(s) of networks, 4.00 members per dispatch"),
        "{stdout}"
    );
    // every member's tables (members.parquet holds the wall times)
    let tables = |d: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        contents(d)
            .into_iter()
            .filter(|(k, _)| {
                k.extension().is_some_and(|x| x == "parquet")
                    && k.file_name().is_some_and(|f| f != "members.parquet")
            })
            .collect()
    };
    let (a, b) = (tables(&alone), tables(&batched));
    assert!(a.len() >= 4 * 2, "{} tables", a.len());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(
            v == &b[k],
            "{} differs between alone and batched",
            k.display()
        );
    }
}

/// A sweep whose base is a study: each member runs the whole chain (traffic → dust → check →
/// mine) with its value set in the dust step's scenario; member 0 (the study's own wind) gives
/// the dust field `twin run` gives; step tables and step-prefixed metrics; a key into a step the
/// study lacks is an error naming it.
#[test]
fn a_sweep_over_a_study_runs_the_chain_per_member() {
    let t = tmp_dir("sweep-study");
    let sweep = data("sweep/study.toml");
    let out = t.join("out");
    let o = twin(&["sweep", p(&sweep), "--out", p(&out)]);
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{s}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(s.contains("2 members (study model"), "{s}");
    let m1 = out.join("members/member=m000001");
    for d in ["traffic", "dust", "check", "mine"] {
        assert!(m1.join(d).is_dir(), "{d}");
    }
    assert!(m1.join("manifest.json").is_file());
    let sc = std::fs::read_to_string(m1.join("scenario.toml")).expect("scenario");
    assert!(sc.contains("speed_m_s = 4.0"), "{sc}");
    for table in ["dust.receptors", "check.evaluation", "traffic.links"] {
        assert!(
            out.join(format!("tables/{table}/member=m000000/part-0.parquet"))
                .is_file(),
            "{table}"
        );
    }
    let df = twin_engine::safeio::read_parquet(&out.join("members.parquet")).expect("members");
    let col = df
        .get_column_names()
        .into_iter()
        .find(|c| c.starts_with("dust.exposure_"))
        .map(|c| c.to_string())
        .unwrap_or_else(|| panic!("no dust metric: {:?}", df.get_column_names()));
    let v = df.column(&col).expect("metric").f64().expect("f64").clone();
    let (a, b) = (v.get(0).expect("m0"), v.get(1).expect("m1"));
    assert!(a > 0.0 && b > 0.0 && a != b, "{col}: {a} {b}");

    // member 0 is the study as written: its dust field is twin run's
    let run = t.join("run");
    let o = twin(&["run", p(&data("study/study.toml")), "--out", p(&run)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let field = |d: &Path| std::fs::read(d.join("dust/concentration.tif")).expect("tif");
    assert!(field(&run) == field(&out.join("members/member=m000000")));

    let bad = t.join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "base = {:?}\n[[vary]]\nkey = \"dusty.wind.speed_m_s\"\nvalues = [1.0]\n",
            p(&data("study/study.toml"))
        ),
    )
    .expect("write");
    let o = twin(&["sweep", p(&bad), "--out", p(&t.join("o"))]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("bad.toml") && e.contains("dusty"), "{e}");
}
