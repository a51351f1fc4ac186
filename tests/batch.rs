//! Sweeps: key paths and checks against the base, member expansion (grid order, ids, seeded
//! draws and their stated distributions), shards, and members run through the engine,
//! skipped when finished and gathered into members.parquet.

use std::path::{Path, PathBuf};

use twin_engine::batch::{Outcome, Shard, Sweep, merge, run_member};

fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("qn-twin-batch-{name}-"))
        .tempdir()
        .expect("temporary directory")
}

/// A sweep file in `dir` over the small dispersion base of `tests/data/sweep/`.
fn sweep_file(dir: &Path, body: &str) -> PathBuf {
    let base = crate::data("sweep/base.toml");
    let p = dir.join("sweep.toml");
    std::fs::write(
        &p,
        format!("base = {:?}\n{body}", base.display().to_string()),
    )
    .expect("write sweep");
    p
}

#[test]
fn a_sweep_checks_its_keys_against_the_base() {
    let t = tmp("keys");
    for (body, want) in [
        (
            "[[vary]]\nkey = \"wind.sped_m_s\"\nvalues = [1.0]\n",
            "wind.sped_m_s",
        ),
        (
            "[[vary]]\nkey = \"sources.point[2].name\"\nvalues = [\"x\"]\n",
            "[2]",
        ),
        ("[[vary]]\nkey = \"name\"\nvalues = [1.0]\n", "string"),
        ("[[vary]]\nkey = \"wind.speed_m_s\"\nvalues = []\n", "empty"),
        (
            "draws = 3\n[[vary]]\nkey = \"wind.speed_m_s\"\nvalues = [1.0]\n",
            "[[draw]]",
        ),
        (
            "[[draw]]\nkey = \"wind.diffusivity_m2_s\"\ndistribution = \"uniform\"\nmin = 80.0\nmax = 20.0\n",
            "min 80",
        ),
        (
            "[[draw]]\nkey = \"wind.diffusivity_m2_s\"\ndistribution = \"gamma\"\n",
            "gamma",
        ),
        (
            "[[draw]]\nkey = \"wind.diffusivity_m2_s\"\ndistribution = \"lognormal\"\nmedian = 50.0\ngsd = 0.5\n",
            "gsd",
        ),
        (
            "[[vary]]\nkey = \"wind.speed_m_s\"\nvalues = [1.0]\n[[vary]]\nkey = \"wind.speed_m_s\"\nvalues = [2.0]\n",
            "twice",
        ),
        ("colour = 3\n", "colour"),
    ] {
        let p = sweep_file(t.path(), body);
        let e = Sweep::read(&p).expect_err(body).to_string();
        assert!(e.contains(want), "{body:?}: {e}");
        assert!(e.contains("sweep.toml"), "names the file: {e}");
    }
}

#[test]
fn members_follow_the_grid_and_draw_the_stated_distributions() {
    let t = tmp("members");
    let p = sweep_file(
        t.path(),
        "seed = 7\ndraws = 2\n\
         [[vary]]\nkey = \"wind.speed_m_s\"\nvalues = [2.0, 4.0, 6.0]\n\
         [[vary]]\nkey = \"sources.point[0].emissions[0].rate\"\nvalues = [50, 100]\n\
         [[draw]]\nkey = \"wind.diffusivity_m2_s\"\ndistribution = \"uniform\"\nmin = 20.0\nmax = 80.0\n",
    );
    let s = Sweep::read(&p).expect("sweep");
    assert_eq!(s.len(), 12);
    let m = s.member(7).expect("member");
    assert_eq!(m.id, "m000007");
    // index 7 = grid point 3 (speed 4.0, rate 100), draw 1; the last key varies fastest
    assert_eq!(m.values[0].1.as_float(), Some(4.0));
    assert_eq!(m.values[1].1.as_integer(), Some(100));
    let k = m.values[2].1.as_float().expect("drawn");
    assert!((20.0..80.0).contains(&k));
    assert_eq!(
        m.scenario["wind"]["diffusivity_m2_s"].as_float(),
        Some(k),
        "set in the scenario"
    );
    // a member is a function of its index alone
    assert_eq!(
        s.member(7).expect("again").scenario,
        m.scenario,
        "deterministic"
    );
    assert_ne!(
        s.member(6).expect("m6").values[2].1,
        m.values[2].1,
        "draws differ"
    );
    // shards partition the members
    let mut seen = vec![0; s.len()];
    for i in 0..3 {
        let sh = Shard::parse(&format!("{i}/3")).expect("shard");
        for (j, c) in seen.iter_mut().enumerate() {
            *c += usize::from(sh.owns(j));
        }
    }
    assert!(seen.iter().all(|&c| c == 1), "{seen:?}");
    for bad in ["3/3", "1", "a/2", "0/0"] {
        assert!(Shard::parse(bad).is_err(), "{bad}");
    }
}

/// 4,000 draws of each distribution: the sample mean, median and spread within a few
/// standard errors of the stated values.
#[test]
fn drawn_values_have_the_stated_moments() {
    let t = tmp("moments");
    let n = 4000;
    let p = sweep_file(
        t.path(),
        &format!(
            "seed = 3\ndraws = {n}\n\
             [[draw]]\nkey = \"wind.speed_m_s\"\ndistribution = \"normal\"\nmean = 5.0\nsd = 1.5\n\
             [[draw]]\nkey = \"wind.diffusivity_m2_s\"\ndistribution = \"lognormal\"\nmedian = 50.0\ngsd = 2.0\n\
             [[draw]]\nkey = \"mixing_height_m\"\ndistribution = \"uniform\"\nmin = 200.0\nmax = 1000.0\n\
             [[draw]]\nkey = \"wind.from_deg\"\ndistribution = \"choice\"\nvalues = [0, 90, 180, 270]\n"
        ),
    );
    let s = Sweep::read(&p).expect("sweep");
    let mut cols = vec![Vec::new(); 4];
    for i in 0..n {
        let m = s.member(i).expect("member");
        for (k, c) in cols.iter_mut().enumerate() {
            let v = &m.values[k].1;
            c.push(
                v.as_float()
                    .or(v.as_integer().map(|x| x as f64))
                    .expect("number"),
            );
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let sd = |v: &[f64]| {
        let m = mean(v);
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
    };
    let se = 1.5 / (n as f64).sqrt();
    assert!(
        (mean(&cols[0]) - 5.0).abs() < 4.0 * se,
        "normal mean {}",
        mean(&cols[0])
    );
    assert!(
        (sd(&cols[0]) - 1.5).abs() < 0.1,
        "normal sd {}",
        sd(&cols[0])
    );
    let logs: Vec<f64> = cols[1].iter().map(|x| x.ln()).collect();
    assert!((mean(&logs) - 50f64.ln()).abs() < 4.0 * 2f64.ln() / (n as f64).sqrt());
    assert!((sd(&logs) - 2f64.ln()).abs() < 0.05, "log sd {}", sd(&logs));
    assert!((mean(&cols[2]) - 600.0).abs() < 4.0 * 800.0 / 12f64.sqrt() / (n as f64).sqrt());
    assert!(cols[2].iter().all(|x| (200.0..1000.0).contains(x)));
    for want in [0.0, 90.0, 180.0, 270.0] {
        let share = cols[3].iter().filter(|&&x| x == want).count() as f64 / n as f64;
        assert!((share - 0.25).abs() < 0.03, "choice {want}: {share}");
    }
}

#[test]
fn members_run_skip_when_finished_and_merge_into_members_parquet() {
    let t = tmp("run");
    let p = sweep_file(
        t.path(),
        "[[vary]]\nkey = \"wind.speed_m_s\"\nvalues = [2.0, 5.0]\n",
    );
    let s = Sweep::read(&p).expect("sweep");
    let out = t.path().join("out");
    let ds = twin_engine::batch::run::load_dataset(&s, None).expect("dataset");
    for i in 0..s.len() {
        let m = s.member(i).expect("member");
        match run_member(&s, &m, &ds, None, None, &out) {
            Outcome::Done(r) => assert!(!r.metrics.is_empty(), "{r:?}"),
            other => panic!("{other:?}"),
        }
        // the resolved scenario beside the run, and the run directory opens
        let dir = twin_engine::batch::run::member_dir(&out, &m.id);
        assert!(dir.join("scenario.toml").is_file());
        twin_engine::output::run::RunDir::open(&dir).expect("a run directory");
        assert!(
            out.join(format!("tables/stations/member={}/part-0.parquet", m.id))
                .is_file()
        );
    }
    let again = run_member(&s, &s.member(1).expect("m1"), &ds, None, None, &out);
    assert!(matches!(again, Outcome::Skipped(_)), "{again:?}");
    let r = merge(&s, &out).expect("merge");
    assert_eq!((r.done, r.failed, r.missing), (2, 0, 0));
    let df = twin_engine::safeio::read_parquet(&out.join("members.parquet")).expect("read");
    assert_eq!(df.height(), 2);
    let speed = twin_engine::columns::f64s(&df, "wind.speed_m_s").expect("swept column");
    assert_eq!(speed, vec![Some(2.0), Some(5.0)]);
    // a faster wind dilutes the plume: lower exposure where the plume lies
    let col = df
        .get_column_names()
        .into_iter()
        .find(|c| c.starts_with("exposure_SO2_"))
        .expect("an exposure column")
        .to_string();
    let e = twin_engine::columns::f64s(&df, &col).expect("exposure");
    assert!(e[0].is_some() && e[1].is_some(), "{col}: {e:?}");

    // a failing member is recorded, not fatal, and retried on the next run
    let p = sweep_file(
        t.path(),
        "[[vary]]\nkey = \"mixing_height_m\"\nvalues = [500.0, -5.0]\n",
    );
    let s = Sweep::read(&p).expect("sweep");
    let out = t.path().join("out2");
    let bad = run_member(&s, &s.member(1).expect("m1"), &ds, None, None, &out);
    let Outcome::Failed(msg) = bad else {
        panic!("{bad:?}")
    };
    assert!(
        msg.contains("m000001") && msg.contains("mixing_height_m"),
        "{msg}"
    );
    assert!(
        twin_engine::batch::run::finished(&out, "m000001").is_none(),
        "a failed member is not finished"
    );
    let r = merge(&s, &out).expect("merge");
    assert_eq!((r.done, r.failed, r.missing), (0, 1, 1), "not written");
    assert!(r.written.is_none());
}

/// Ensemble statistics: the GeoTIFF's bands equal the mean, type-7 percentiles and the share
/// above the limit computed from every member's whole field at once; one row per tile gives
/// the same file as one tile; a member whose averaged period differs from the limit's is an
/// error naming it.
#[test]
fn ensemble_statistics_are_exact_tile_by_tile() {
    use twin_engine::batch::stats::{percentile, write_statistics_within};
    use twin_engine::output::geotiff::read_bands;
    use twin_engine::output::run::{Field, RunDir};
    let t = tmp("stats");
    let p = sweep_file(
        t.path(),
        "seed = 5\ndraws = 5\n\
         [[draw]]\nkey = \"wind.diffusivity_m2_s\"\ndistribution = \"lognormal\"\nmedian = 50.0\ngsd = 1.6\n\
         [statistics]\npollutant = \"SO2\"\npercentiles = [10, 50, 95]\nlimit_ug_m3 = 50.0\naveraging_h = 2\n",
    );
    let s = Sweep::read(&p).expect("sweep");
    let out = t.path().join("out");
    let ds = twin_engine::batch::run::load_dataset(&s, None).expect("dataset");
    for i in 0..s.len() {
        let m = s.member(i).expect("member");
        assert!(matches!(
            run_member(&s, &m, &ds, None, None, &out),
            Outcome::Done(_)
        ));
    }
    let r = merge(&s, &out).expect("merge");
    let st = r.statistics.expect("statistics written");
    assert_eq!((st.members, st.tiles), (5, 1));
    let got = read_bands(&out.join("statistics.tif")).expect("read");
    assert_eq!(got.values.dim().0, 1 + 3 + 1);
    // every member whole, in memory
    let fields: Vec<_> = (0..5)
        .map(|i| {
            let dir = twin_engine::batch::run::member_dir(&out, &format!("m{i:06}"));
            RunDir::open(&dir)
                .expect("run")
                .concentration(Field::Mean)
                .expect("field")
                .values
        })
        .collect();
    let (_, ny, nx) = fields[0].dim();
    let mut above = 0;
    for y in 0..ny {
        for x in 0..nx {
            let mut v: Vec<f32> = fields.iter().map(|f| f[[0, y, x]]).collect();
            v.sort_by(f32::total_cmp);
            let mean = v.iter().map(|&a| f64::from(a)).sum::<f64>() / 5.0;
            assert!((f64::from(got.values[[0, y, x]]) - mean).abs() <= 1e-5 * mean.abs().max(1e-6));
            for (j, q) in [10.0, 50.0, 95.0].iter().enumerate() {
                assert_eq!(got.values[[1 + j, y, x]], percentile(&v, *q));
            }
            let share = v.iter().filter(|&&a| a > 50.0).count() as f32 / 5.0;
            assert_eq!(got.values[[4, y, x]], share);
            above += usize::from(share > 0.0);
        }
    }
    assert!(above > 0, "some cell exceeds the limit in some member");
    // one row per tile: the same file
    let whole = std::fs::read(out.join("statistics.tif")).expect("read");
    let spec = s.statistics.clone().expect("spec");
    let tiled = write_statistics_within(&s, &spec, &out, 1).expect("tiled");
    assert_eq!(tiled.tile_rows, 1);
    assert_eq!(tiled.tiles, ny);
    assert_eq!(
        std::fs::read(out.join("statistics.tif")).expect("read"),
        whole
    );
    // a limit averaged over another period than the members' means
    let mut other = spec.clone();
    other.averaging_h = Some(24.0);
    let e = twin_engine::batch::stats::write_statistics(&s, &other, &out).expect_err("24 h");
    assert!(e.contains("m000000") && e.contains("24"), "{e}");
}

/// A study chains traffic → road dust → evaluation against observations, and a mine: each step
/// in its directory, the dust fed by the traffic step's emissions, a manifest with every
/// input's SHA-256; rerun into the same directory it reproduces every output bit for bit
/// (timings aside); a changed input fails the manifest check, naming the file.
#[test]
fn a_study_chains_models_and_reruns_bit_for_bit() {
    use twin_engine::batch::study::{Study, check_manifest, run_study};
    let t = tmp("study");
    // a copy of the study files, so one can be changed
    let src = crate::data("study");
    let dir = t.path().join("study");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for f in ["study.toml", "traffic.toml", "dust.toml", "obs.csv"] {
        let text = std::fs::read_to_string(src.join(f)).expect("read");
        // the copies sit elsewhere: point them at the bundled dataset and network
        let text = text.replace(
            "../../../datasets",
            &crate::bundled().join("..").display().to_string(),
        );
        std::fs::write(dir.join(f), text).expect("write");
    }
    let study = Study::read(&dir.join("study.toml")).expect("study");
    assert_eq!(study.steps.len(), 4);
    let out = t.path().join("out");
    let mut seen = Vec::new();
    let m = run_study(
        &study,
        &out,
        false,
        None,
        None,
        vec!["test".into()],
        &mut |s| seen.push(s.name.clone()),
    )
    .expect("runs");
    assert_eq!(seen, ["traffic", "dust", "check", "mine"]);
    assert_eq!(
        m.inputs.len(),
        1 + 1 + 1 + 1 + 1,
        "study, 2 scenarios, obs, network"
    );
    assert!(m.inputs.iter().all(|(_, h)| h.len() == 64));
    // the dust saw the traffic
    let dust = twin_engine::output::run::RunDir::open(&out.join("dust")).expect("dust run");
    let s = dust.dispersion().expect("dispersion");
    assert!(
        s.sources.iter().any(|x| x.starts_with("traffic")),
        "{:?}",
        s.sources
    );
    let eval = twin_engine::safeio::read_parquet(&out.join("check/evaluation.parquet"))
        .expect("evaluation");
    assert!(eval.height() >= 1, "{eval}");
    assert!(out.join("mine/airflow.parquet").is_file());
    assert!(out.join("manifest.json").is_file());
    check_manifest(&m).expect("inputs unchanged");

    let snapshot = |d: &std::path::Path| -> Vec<(String, Vec<u8>)> {
        let mut v = Vec::new();
        let mut stack = vec![d.to_path_buf()];
        while let Some(x) = stack.pop() {
            for e in std::fs::read_dir(&x).expect("dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let rel = p.strip_prefix(d).expect("under").display().to_string();
                if rel == "manifest.json" {
                    continue;
                }
                let mut bytes = std::fs::read(&p).expect("read");
                if rel.ends_with(".json") {
                    let mut j: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
                    if let Some(o) = j.as_object_mut() {
                        o.retain(|k, _| !(k.contains("wall") || k.ends_with("per_s")));
                    }
                    bytes = serde_json::to_vec(&j).expect("json");
                }
                v.push((rel, bytes));
            }
        }
        v.sort();
        v
    };
    let first = snapshot(&out);
    let refused = run_study(&study, &out, false, None, None, vec![], &mut |_| {});
    assert!(refused.expect_err("not empty").contains("--overwrite"));
    run_study(&study, &out, true, None, None, vec![], &mut |_| {}).expect("rerun");
    let second = snapshot(&out);
    assert_eq!(first.len(), second.len());
    for ((a, x), (b, y)) in first.iter().zip(&second) {
        assert_eq!(a, b);
        assert!(x == y, "{a} differs between two runs of the study");
    }
    // an interrupted run (steps, no manifest) is replaced by --overwrite; another directory
    // is not
    std::fs::remove_file(out.join("manifest.json")).expect("rm");
    run_study(&study, &out, true, None, None, vec![], &mut |_| {}).expect("over a partial run");
    let other = t.path().join("other");
    std::fs::create_dir_all(other.join("precious")).expect("mkdir");
    let e = run_study(&study, &other, true, None, None, vec![], &mut |_| {}).expect_err("other");
    assert!(
        e.contains("not a study directory") && e.contains("precious"),
        "{e}"
    );
    assert!(other.join("precious").is_dir(), "left alone");
    // a changed input is caught by the manifest
    std::fs::write(
        dir.join("obs.csv"),
        "station_id,time,parameter,value,unit,status\n",
    )
    .expect("write");
    let e = check_manifest(&m).expect_err("changed");
    assert!(e.contains("obs.csv"), "{e}");
}

#[test]
fn study_errors_name_the_step_and_key() {
    use twin_engine::batch::study::Study;
    let t = tmp("study-bad");
    for (body, want) in [
        ("name = \"x\"\n", "[[step]]"),
        (
            "name = \"x\"\n[[step]]\nname = \"a b\"\nmodel = \"traffic\"\nscenario = \"t.toml\"\n",
            "step[0].name",
        ),
        (
            "name = \"x\"\n[[step]]\nname = \"a\"\nmodel = \"dispersion\"\n",
            "step[0].scenario",
        ),
        (
            "name = \"x\"\n[[step]]\nname = \"a\"\nmodel = \"dispersion\"\nscenario = \"d.toml\"\ninputs = { \"sources.traffic[0].emissions\" = \"b\" }\n[[step]]\nname = \"b\"\nmodel = \"traffic\"\nscenario = \"t.toml\"\n",
            "does not run before",
        ),
        (
            "name = \"x\"\n[[step]]\nname = \"e\"\nmodel = \"evaluate\"\ninputs = { sim = \"x\" }\n",
            "`sim` and `obs`",
        ),
        (
            "name = \"x\"\n[[step]]\nname = \"a\"\nmodel = \"weather\"\n",
            "weather",
        ),
    ] {
        let p = t.path().join("s.toml");
        std::fs::write(&p, body).expect("write");
        let e = Study::read(&p).expect_err(body).to_string();
        assert!(e.contains(want) && e.contains("s.toml"), "{body:?}: {e}");
    }
}
