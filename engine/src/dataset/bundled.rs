//! The bundled Quảng Ninh dataset, embedded in the library at build time (`engine/build.rs`), so
//! an installed or copied `twin` finds its data without the source tree. On first use it is
//! unpacked to `<cache>/qn-twin/dataset-quang-ninh-<content hash>/` — `QN_TWIN_CACHE_DIR`, else
//! `$XDG_CACHE_HOME`, else `$HOME/.cache`, else the system temporary directory — written into
//! a temporary sibling and renamed into place, so a reader never sees half a copy and two
//! processes unpacking at once both end with the same whole directory. A changed dataset gets a
//! new hash and a new directory; the unpacked copy is read-only data, never edited in place.

use std::path::{Path, PathBuf};

use super::DatasetError;

include!(concat!(env!("OUT_DIR"), "/bundled_dataset.rs"));

/// The root under which bundled data is unpacked.
fn cache_root() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = var("QN_TWIN_CACHE_DIR") {
        return d;
    }
    let base = var("XDG_CACHE_HOME")
        .or_else(|| var("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("qn-twin")
}

/// Directory of the bundled dataset, unpacked from the binary on first use.
pub fn dir() -> Result<PathBuf, DatasetError> {
    unpack_into(&cache_root())
}

/// Unpacks the bundled dataset under `root` (once per content hash); returns its directory.
fn unpack_into(root: &Path) -> Result<PathBuf, DatasetError> {
    let dest = root.join(format!("dataset-quang-ninh-{HASH}"));
    if dest.join(super::MANIFEST_FILE).is_file() {
        return Ok(dest);
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DatasetError::Io { path, source }
    };
    std::fs::create_dir_all(root).map_err(io(root))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let tmp = root.join(format!(".unpack-{}-{nanos}.tmp", std::process::id()));
    let written = (|| {
        for (rel, bytes) in FILES {
            let path = tmp.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            std::fs::write(&path, bytes).map_err(io(&path))?;
        }
        Ok::<(), DatasetError>(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    match std::fs::rename(&tmp, &dest) {
        Ok(()) => Ok(dest),
        // another process renamed its copy into place first: use that one
        Err(_) if dest.join(super::MANIFEST_FILE).is_file() => {
            let _ = std::fs::remove_dir_all(&tmp);
            Ok(dest)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            Err(io(&dest)(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_files_equal_the_source_tree() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/quang-ninh");
        assert!(FILES.iter().any(|(p, _)| *p == "dataset.toml"));
        assert!(FILES.iter().any(|(p, _)| p.starts_with("scenarios/")));
        for (rel, bytes) in FILES {
            let on_disk = std::fs::read(src.join(rel)).expect("source file");
            assert_eq!(on_disk.as_slice(), *bytes, "{rel}");
        }
    }

    #[test]
    fn unpacks_once_into_a_directory_that_loads() {
        let root = tempfile::tempdir().expect("temporary directory");
        let a = unpack_into(root.path()).expect("unpacked");
        let b = unpack_into(root.path()).expect("found again");
        assert_eq!(a, b);
        assert!(a.ends_with(format!("dataset-quang-ninh-{HASH}")));
        let d = super::super::Dataset::load(&a).expect("the unpacked copy is a valid dataset");
        assert_eq!(d.province.stations.len(), 105);
        // nothing half-written is left beside it
        let entries: Vec<_> = std::fs::read_dir(root.path()).expect("list").collect();
        assert_eq!(entries.len(), 1);
    }
}
