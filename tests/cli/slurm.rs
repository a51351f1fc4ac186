//! The Slurm example for real: a one-node cluster on loopback (munged, slurmctld and slurmd in
//! the foreground, a config written here: proctrack/linuxproc, task/none, no accounting, the
//! node named after the host), `examples/slurm/submit.sh` submits the sweep as a 3-task array
//! and a dependent merge, and the merged result equals a local run. Needs root (the daemons
//! run as root) and `scripts/setup`'s slurm-wlm and munge. Also checks the Kubernetes
//! manifest's structure (it cannot run here).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// Child daemons, killed when the test ends.
struct Daemons(Vec<Child>);

impl Drop for Daemons {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Starts munged, slurmctld and slurmd for a one-node cluster in `dir`; the config path.
fn cluster(dir: &Path) -> (PathBuf, Daemons) {
    let host = String::from_utf8(
        Command::new("hostname")
            .arg("-s")
            .output()
            .expect("hostname")
            .stdout,
    )
    .expect("utf-8")
    .trim()
    .to_string();
    for d in ["state", "spool"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    let key = dir.join("munge.key");
    let o = Command::new("mungekey")
        .args(["-c", "-k"])
        .arg(&key)
        .output()
        .expect("mungekey runs (scripts/setup installs munge)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sock = dir.join("munge.sock");
    let log = |name: &str| std::fs::File::create(dir.join(name)).expect("log");
    let mut daemons = Daemons(Vec::new());
    daemons.0.push(
        Command::new("munged")
            .args(["--force", "--foreground"])
            .arg(format!("--socket={}", sock.display()))
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--log-file={}", dir.join("munged.log").display()))
            .arg(format!("--pid-file={}", dir.join("munged.pid").display()))
            .arg(format!("--seed-file={}", dir.join("munged.seed").display()))
            .stdout(log("munged.out"))
            .stderr(log("munged.err"))
            .spawn()
            .expect("munged starts"),
    );
    wait_for("munged's socket", Duration::from_secs(20), || sock.exists());
    let d = dir.display();
    let conf = format!(
        "ClusterName=qntwin\nSlurmctldHost={host}(127.0.0.1)\nSlurmctldPort={}\nSlurmdPort={}\n\
         AuthType=auth/munge\nAuthInfo=socket={}\nCredType=cred/munge\n\
         ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n\
         JobAcctGatherType=jobacct_gather/none\nAccountingStorageType=accounting_storage/none\n\
         SchedulerType=sched/backfill\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
         MpiDefault=none\nReturnToService=2\nSlurmUser=root\nSlurmdUser=root\n\
         StateSaveLocation={d}/state\nSlurmdSpoolDir={d}/spool\n\
         SlurmctldPidFile={d}/slurmctld.pid\nSlurmdPidFile={d}/slurmd.pid\n\
         SlurmctldLogFile={d}/slurmctld.log\nSlurmdLogFile={d}/slurmd.log\n\
         NodeName={host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN\n\
         PartitionName=qntwin Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
        free_port(),
        free_port(),
        sock.display()
    );
    let conf_path = dir.join("slurm.conf");
    std::fs::write(&conf_path, conf).expect("slurm.conf");
    for (exe, args, name) in [
        ("slurmctld", &["-D", "-i"][..], "slurmctld"),
        ("slurmd", &["-D"][..], "slurmd"),
    ] {
        daemons.0.push(
            Command::new(exe)
                .args(args)
                .env("SLURM_CONF", &conf_path)
                .stdout(log(&format!("{name}.out")))
                .stderr(log(&format!("{name}.err")))
                .spawn()
                .unwrap_or_else(|e| panic!("{exe} starts ({e}; scripts/setup installs slurm-wlm)")),
        );
    }
    wait_for("an idle node", Duration::from_secs(60), || {
        Command::new("sinfo")
            .args(["-h", "-o", "%t"])
            .env("SLURM_CONF", &conf_path)
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("idle"))
    });
    (conf_path, daemons)
}

#[test]
fn the_slurm_example_runs_a_sweep_as_a_job_array_and_merges_it() {
    let t = tmp_dir("slurm");
    let (conf, _daemons) = cluster(&t.join("cluster"));
    let sweep = data("sweep/wind.toml");
    let out = t.join("out");
    let twin_exe = PathBuf::from(env!("CARGO_BIN_EXE_twin"));
    let t0 = Instant::now();
    let o = Command::new(examples().join("slurm/submit.sh"))
        .args([p(&sweep), p(&out), "3"])
        .arg(format!("--output={}/job-%A_%a.log", t.display()))
        .arg(format!("--chdir={}", t.display()))
        .env("SLURM_CONF", &conf)
        .env("TWIN", &twin_exe)
        .env_remove("QN_TWIN_DATASET")
        .stdin(Stdio::null())
        .output()
        .expect("submit.sh runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ids = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert_eq!(
        ids.split_whitespace().count(),
        2,
        "array and merge job ids: {ids}"
    );
    let job_logs = || -> Vec<String> {
        let mut v: Vec<(String, String)> = std::fs::read_dir(&*t)
            .expect("dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("job-"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap_or_default(),
                )
            })
            .collect();
        v.sort();
        v.into_iter().map(|(n, s)| format!("{n}: {s}")).collect()
    };
    wait_for("the merge job", Duration::from_secs(600), || {
        let q = Command::new("squeue")
            .args(["-h", "-o", "%i %T %r"])
            .env("SLURM_CONF", &conf)
            .output()
            .expect("squeue");
        let q = String::from_utf8_lossy(&q.stdout).into_owned();
        assert!(
            !q.contains("DependencyNeverSatisfied"),
            "a shard failed: {q}\n{:?}",
            job_logs()
        );
        q.trim().is_empty()
    });
    let wall = t0.elapsed().as_secs_f64();
    let logs = job_logs();
    assert_eq!(logs.len(), 4, "three shards and the merge: {logs:?}");
    assert!(
        out.join("members.parquet").is_file(),
        "merged (job logs: {logs:?})"
    );
    eprintln!("slurm: 3 array tasks + merge of 6 members in {wall:.1} s");
    // the same as one machine's run
    let local = t.join("local");
    let o = twin(&["sweep", p(&sweep), "--out", p(&local)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |d: &Path| {
        let df = twin_engine::safeio::read_parquet(&d.join("members.parquet")).expect("read");
        format!("{:?}", df.drop("wall_s").expect("wall_s"))
    };
    assert_eq!(read(&out), read(&local));
}

/// The Kubernetes manifest: two Jobs; the first Indexed, its completion index reaching
/// `--shard INDEX/completions` through an env var from the index annotation; the second
/// merges the same output directory.
#[test]
fn the_kubernetes_manifest_shards_by_completion_index() {
    let path = examples().join("k8s/sweep-job.yaml");
    let script = format!(
        "import json, yaml\nprint(json.dumps(list(yaml.safe_load_all(open({:?})))))",
        p(&path)
    );
    let o = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs (scripts/setup installs python3-yaml)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let docs: Value = serde_json::from_slice(&o.stdout).expect("json");
    let docs = docs.as_array().expect("documents");
    assert_eq!(docs.len(), 2);
    let job = &docs[0];
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    let n = job["spec"]["completions"].as_u64().expect("completions");
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    let env = c["env"].as_array().expect("env");
    let var = env
        .iter()
        .find(|e| {
            e["valueFrom"]["fieldRef"]["fieldPath"]
                .as_str()
                .is_some_and(|f| f.contains("batch.kubernetes.io/job-completion-index"))
        })
        .expect("an env var from the completion index")["name"]
        .as_str()
        .expect("name");
    let args: Vec<&str> = c["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let k = args.iter().position(|a| *a == "--shard").expect("--shard");
    assert_eq!(args[k + 1], format!("$({var})/{n}"));
    assert_eq!(args[0], "sweep");
    let out = args[args.iter().position(|a| *a == "--out").expect("--out") + 1];
    let merge = docs[1]["spec"]["template"]["spec"]["containers"][0]["args"][0]
        .as_str()
        .expect("merge command");
    assert!(merge.contains("--merge") && merge.contains(out), "{merge}");
}
