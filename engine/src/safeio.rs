//! Whole-or-absent file system writes, and Parquet files checked before they are decoded.
//!
//! - [`write_atomic`]: one file, written to a temporary sibling (`.NAME.tmp-…`), flushed to disk
//!   (`fsync`), renamed over the target, and the directory flushed: a reader sees the old file
//!   or the new one, never a torn one, even after a crash or power loss.
//! - [`OutDir`]: an output directory built in a temporary sibling (`.NAME.tmp-…`) and renamed
//!   into place when complete ([`OutDir::commit`]); a directory that already holds files is
//!   refused unless the caller asked to overwrite it, and then it is replaced whole. An output
//!   that is, holds, or lies inside one of the command's inputs is refused before anything is
//!   computed.
//! - [`check_parquet`] / [`read_parquet`]: the magic bytes, the footer length and every column
//!   chunk's byte range are checked against the file size before polars decodes anything, and
//!   the decode itself runs under `catch_unwind`, so a truncated or bit-flipped file is an error
//!   naming it, not a panic. (Page sizes inside a chunk are bounded by polars' own page-size
//!   limit; the fuzz targets in `tests/fuzz` flip bytes of real parts to check the whole path.)

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use polars::prelude::*;

/// A name for a temporary sibling of `target`: hidden, unique to this process and call.
fn temp_sibling(target: &Path, kind: &str) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(
        ".{name}.{kind}-{}-{nanos}-{seq}",
        std::process::id()
    ))
}

/// The directory a path lies in (`.` for a bare file name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Flushes a directory's entries (new names, renames) to disk.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `path` whole or not at all: `write` fills a temporary sibling, which is flushed,
/// renamed over `path` and its directory flushed. On any error the temporary file is removed
/// and `path` is untouched.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = temp_sibling(path, "tmp");
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        write(&mut f)?;
        f.flush()?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(&parent_of(path))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The absolute, symlink-free form of a path that may not exist yet (its nearest existing
/// ancestor is canonicalised and the rest appended).
pub fn resolve(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(c) = cur.canonicalize() {
            let mut out = c;
            for r in rest.iter().rev() {
                out.push(r);
            }
            return out;
        }
        match (cur.parent(), cur.file_name()) {
            (Some(p), Some(n)) => {
                rest.push(n.to_os_string());
                cur = p;
            }
            _ => return abs,
        }
    }
}

/// Why an output path was refused, or could not be committed.
#[derive(Debug, thiserror::Error)]
pub enum OutPathError {
    /// The output is one of the inputs, holds one, or lies inside one.
    #[error(
        "{}: is the input {} or {}; choose another output path",
        out.display(),
        input.display(),
        if out == input { "the same path" } else if out.starts_with(input) { "lies inside it" } else { "holds it" }
    )]
    Input {
        /// The output (resolved).
        out: PathBuf,
        /// The input (resolved).
        input: PathBuf,
    },
    /// A directory output already holds files.
    #[error(
        "{}: already holds files (e.g. {}); pass --overwrite to replace it whole, or choose an empty or new directory",
        path.display(),
        example
    )]
    NotEmpty {
        /// The directory.
        path: PathBuf,
        /// One of its entries.
        example: String,
    },
    /// A file output names a directory, or a directory output names a file.
    #[error("{}: {message}", path.display())]
    Kind {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The file system refused.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutPathError + '_ {
    move |source| OutPathError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Refuses an output that is, holds or lies inside any of `inputs`.
pub fn refuse_inputs(out: &Path, inputs: &[&Path]) -> Result<(), OutPathError> {
    let o = resolve(out);
    for i in inputs {
        let i = resolve(i);
        if o == i || o.starts_with(&i) || i.starts_with(&o) {
            return Err(OutPathError::Input { out: o, input: i });
        }
    }
    Ok(())
}

/// Checks a single-file output before anything is computed: not an input, not a directory,
/// its directory exists or can be created. The file itself is written later with
/// [`write_atomic`] (or any writer built on it), replacing an earlier file whole.
pub fn check_out_file(out: &Path, inputs: &[&Path]) -> Result<(), OutPathError> {
    refuse_inputs(out, inputs)?;
    if out.is_dir() {
        return Err(OutPathError::Kind {
            path: out.to_path_buf(),
            message: "is a directory; give a file name".into(),
        });
    }
    let parent = parent_of(out);
    std::fs::create_dir_all(&parent).map_err(io_err(&parent))
}

/// An output directory built in a temporary sibling and renamed into place by
/// [`OutDir::commit`]; dropped without a commit, the temporary directory is removed and the
/// target is untouched.
#[derive(Debug)]
pub struct OutDir {
    target: PathBuf,
    staging: PathBuf,
    overwrite: bool,
    committed: bool,
}

impl OutDir {
    /// Checks `target` (not an input, not a file, empty or absent unless `overwrite`) and
    /// creates the temporary sibling to write into ([`OutDir::path`]).
    pub fn prepare(target: &Path, overwrite: bool, inputs: &[&Path]) -> Result<Self, OutPathError> {
        refuse_inputs(target, inputs)?;
        if target.exists() && !target.is_dir() {
            return Err(OutPathError::Kind {
                path: target.to_path_buf(),
                message: "is a file; an output directory was expected".into(),
            });
        }
        if target.is_dir() && !overwrite {
            let mut entries = std::fs::read_dir(target).map_err(io_err(target))?;
            if let Some(e) = entries.next() {
                let e = e.map_err(io_err(target))?;
                return Err(OutPathError::NotEmpty {
                    path: target.to_path_buf(),
                    example: e.file_name().to_string_lossy().into_owned(),
                });
            }
        }
        let parent = parent_of(target);
        std::fs::create_dir_all(&parent).map_err(io_err(&parent))?;
        let staging = temp_sibling(target, "tmp");
        std::fs::create_dir(&staging).map_err(io_err(&staging))?;
        Ok(Self {
            target: target.to_path_buf(),
            staging,
            overwrite,
            committed: false,
        })
    }

    /// Where to write (the temporary directory).
    pub fn path(&self) -> &Path {
        &self.staging
    }

    /// The final directory.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes every file written, then puts the directory in place: an empty target is
    /// replaced, a full one (with `overwrite`) is moved aside, replaced and then removed.
    pub fn commit(mut self) -> Result<(), OutPathError> {
        sync_tree(&self.staging).map_err(io_err(&self.staging))?;
        let parent = parent_of(&self.target);
        if self.target.is_dir() {
            // rename(2) replaces an empty directory; a full one is moved aside first
            let empty = std::fs::read_dir(&self.target)
                .map_err(io_err(&self.target))?
                .next()
                .is_none();
            if empty {
                std::fs::remove_dir(&self.target).map_err(io_err(&self.target))?;
            } else if self.overwrite {
                let old = temp_sibling(&self.target, "old");
                std::fs::rename(&self.target, &old).map_err(io_err(&self.target))?;
                std::fs::rename(&self.staging, &self.target).map_err(io_err(&self.target))?;
                self.committed = true;
                sync_dir(&parent).map_err(io_err(&parent))?;
                std::fs::remove_dir_all(&old).map_err(io_err(&old))?;
                return Ok(());
            } else {
                return Err(OutPathError::NotEmpty {
                    path: self.target.clone(),
                    example: "(written by another process meanwhile)".into(),
                });
            }
        }
        std::fs::rename(&self.staging, &self.target).map_err(io_err(&self.target))?;
        self.committed = true;
        sync_dir(&parent).map_err(io_err(&parent))
    }
}

impl Drop for OutDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Flushes every file under `dir` and the directories themselves.
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        if e.file_type()?.is_dir() {
            sync_tree(&p)?;
        } else {
            File::open(&p)?.sync_all()?;
        }
    }
    sync_dir(dir)
}

/// Largest uncompressed column chunk accepted (bytes): far above anything this project
/// writes, far below what would exhaust memory on a decode.
pub const MAX_CHUNK_UNCOMPRESSED: i64 = 4 << 30;

/// Checks a Parquet file's structure against its size before any data is decoded: both
/// `PAR1` magics, a footer that fits, a footer polars can parse, row counts that agree, and
/// every column chunk's byte range inside the data region with a bounded uncompressed size.
pub fn check_parquet(path: &Path) -> Result<(), String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    if len < 12 {
        return Err(format!(
            "{len} bytes: too short to be Parquet (empty or truncated)"
        ));
    }
    let mut head = [0u8; 4];
    f.read_exact(&mut head).map_err(|e| e.to_string())?;
    let mut tail = [0u8; 8];
    f.seek(SeekFrom::End(-8)).map_err(|e| e.to_string())?;
    f.read_exact(&mut tail).map_err(|e| e.to_string())?;
    if &head != b"PAR1" {
        return Err(
            "does not start with the Parquet magic PAR1 (not Parquet, or overwritten)".into(),
        );
    }
    if &tail[4..] != b"PAR1" {
        return Err(
            "does not end with the Parquet magic PAR1 (truncated: written without its footer?)"
                .into(),
        );
    }
    let footer = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer + 12 > len {
        return Err(format!(
            "footer length {footer} does not fit in a {len}-byte file (corrupt footer)"
        ));
    }
    let data_end = len - 8 - footer;
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let meta = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut r = ParquetReader::new(f);
        r.get_metadata().cloned()
    }))
    .map_err(|p| format!("footer: decoder panicked: {}", panic_text(&p)))?
    .map_err(|e| format!("footer: {e}"))?;
    let rows: usize = meta.row_groups.iter().map(|g| g.num_rows()).sum();
    if rows != meta.num_rows {
        return Err(format!(
            "footer says {} rows but its row groups hold {rows} (corrupt footer)",
            meta.num_rows
        ));
    }
    for (g, rg) in meta.row_groups.iter().enumerate() {
        for c in rg.parquet_columns() {
            let r = c.byte_range();
            let (compressed, uncompressed) = (c.compressed_size(), c.uncompressed_size());
            if r.start < 4 || r.end > data_end || r.start > r.end || compressed < 0 {
                return Err(format!(
                    "row group {g}: a column chunk claims bytes {}..{} outside the data region 4..{data_end}",
                    r.start, r.end
                ));
            }
            if !(0..=MAX_CHUNK_UNCOMPRESSED).contains(&uncompressed) {
                return Err(format!(
                    "row group {g}: a column chunk claims {uncompressed} uncompressed bytes (limit {MAX_CHUNK_UNCOMPRESSED})"
                ));
            }
        }
    }
    Ok(())
}

/// The message of a caught panic.
pub fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Reads a whole Parquet file after [`check_parquet`]; a decoder panic becomes an error.
pub fn read_parquet(path: &Path) -> Result<DataFrame, String> {
    check_parquet(path)?;
    let f = File::open(path).map_err(|e| e.to_string())?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ParquetReader::new(f).finish()
    }))
    .map_err(|p| format!("decoder panicked: {}", panic_text(&p)))?
    .map_err(|e| e.to_string())
}
