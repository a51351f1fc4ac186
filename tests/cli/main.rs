//! The `twin` binary end to end: JSON shapes, exit codes, one-line errors. Its own test binary
//! in package `twin-cli` (`CARGO_BIN_EXE_twin` is visible only there).

mod broker;
mod failure;
mod live;
mod queries;
mod serve;
mod simulate;
mod slurm;
mod sweep;
mod telemetry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A temporary directory for one test, removed when the test ends, passed or panicked.
pub struct Tmp(tempfile::TempDir);

impl std::ops::Deref for Tmp {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for Tmp {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

/// A fresh temporary directory named after the test.
pub(crate) fn tmp_dir(name: &str) -> Tmp {
    Tmp(tempfile::Builder::new()
        .prefix(&format!("qn-twin-cli-{name}-"))
        .tempdir()
        .expect("temporary directory"))
}

/// A path as a command-line argument (the tests' paths are UTF-8).
pub(crate) fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Path of a file or directory under `tests/data/`.
pub(crate) fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel)
}

/// The bundled dataset in the source tree.
pub(crate) fn bundled() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh")
}

pub(crate) fn twin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twin"))
        .args(args)
        .env_remove("QN_TWIN_DATASET")
        .output()
        .expect("twin runs")
}

pub(crate) fn json_of(args: &[&str]) -> Value {
    let out = twin(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

/// Runs a command that must succeed; returns its stdout.
pub(crate) fn twin_ok(args: &[&str]) -> String {
    let out = twin(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A failing command prints exactly one line on stderr and exits non-zero.
pub(crate) fn one_line_error(args: &[&str]) -> String {
    let out = twin(args);
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("twin: "), "{err}");
    err
}

/// Runs `twin` with extra environment variables.
pub(crate) fn twin_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_twin"));
    c.args(args).env_remove("QN_TWIN_DATASET");
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().expect("twin runs")
}

/// Column names and row count of a Parquet file.
pub(crate) fn parquet_columns(path: &std::path::Path) -> (Vec<String>, usize) {
    use polars::prelude::SerReader;
    let file = std::fs::File::open(path).expect("parquet");
    let df = polars::prelude::ParquetReader::new(file)
        .finish()
        .expect("readable parquet");
    (
        df.get_column_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        df.height(),
    )
}
