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
//! - [`check_parquet`] / [`read_parquet`]: the magic bytes, the footer length, the footer's
//!   Thrift structure, the row counts, every column chunk's byte range and every page header
//!   (sizes, value counts) are checked against the file before polars decodes anything, and
//!   the decode itself runs under `catch_unwind`, so a truncated or bit-flipped file is an error
//!   naming it, not a panic and not an abort. Checked in this process, not decoded in a child
//!   one: the fuzz targets in `tests/fuzz` found the two counts that made polars abort (a page
//!   header's value count, a footer list's length) and replay them every run.

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
/// Most rows one Parquet file may hold to be read whole (about 1.2 GB decoded in the
/// six-column observation schema); a larger table is ingested in pieces.
pub const MAX_PARQUET_ROWS: usize = 50_000_000;
/// Largest uncompressed page accepted, bytes (writers use about 1 MiB).
pub const MAX_PAGE_BYTES: i64 = 512 << 20;

/// Checks a Parquet file's structure against its size before any data is decoded: both
/// `PAR1` magics, a footer that fits and whose Thrift lengths fit in it, a footer polars can
/// parse, row counts that agree (at most [`MAX_PARQUET_ROWS`]), flat columns, every column
/// chunk's byte range inside the data region with a bounded uncompressed size, and every page
/// header of every chunk (see `check_pages`).
pub fn check_parquet(path: &Path) -> Result<(), String> {
    checked_reader(path).map(|_| ())
}

/// [`check_parquet`], returning a reader on the file with the checked footer already parsed
/// (the file is opened and its footer decoded once).
fn checked_reader(path: &Path) -> Result<ParquetReader<File>, String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    // the page walk below reads through a second handle on the same open file
    let mut pf = f.try_clone().map_err(|e| e.to_string())?;
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
    // the footer's Thrift structure walked before polars decodes it: every list, map and
    // string length within the bytes that remain (a corrupt count would otherwise size an
    // allocation of many gigabytes, an abort no catch_unwind stops)
    let mut fbuf = vec![0u8; footer as usize];
    f.seek(SeekFrom::Start(data_end))
        .map_err(|e| e.to_string())?;
    f.read_exact(&mut fbuf).map_err(|e| e.to_string())?;
    thrift::walk(&fbuf).map_err(|m| format!("footer: {m} (corrupt footer)"))?;
    f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    let (reader, meta) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut r = ParquetReader::new(f);
        let meta = r.get_metadata().cloned()?;
        Ok::<_, PolarsError>((r, meta))
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
    if rows > MAX_PARQUET_ROWS {
        return Err(format!(
            "{rows} rows; at most {MAX_PARQUET_ROWS} are read from one Parquet file (split it)"
        ));
    }
    for (g, rg) in meta.row_groups.iter().enumerate() {
        for c in rg.parquet_columns() {
            // observation columns are flat: one value per row
            if c.descriptor().descriptor.max_rep_level != 0 {
                return Err(format!(
                    "row group {g}: column {:?} is nested (repeated); not an observation column",
                    c.descriptor().path_in_schema.join(".")
                ));
            }
            if usize::try_from(c.num_values()).ok() != Some(rg.num_rows()) {
                return Err(format!(
                    "row group {g}: a column chunk holds {} values for {} rows (corrupt footer)",
                    c.num_values(),
                    rg.num_rows()
                ));
            }
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
            check_pages(&mut pf, r.start, r.end, c.num_values()).map_err(|m| {
                format!(
                    "row group {g}, column {:?}: {m}",
                    c.descriptor().path_in_schema.join(".")
                )
            })?;
        }
    }
    Ok(reader)
}

/// Walks the pages of one column chunk (`start..end` of the file) and checks every page
/// header before any decoder sees it: sizes inside the chunk and below [`MAX_PAGE_BYTES`],
/// value, null and row counts within the chunk's `values`. (A page header's counts size the
/// decoder's buffers; a corrupt one would make it ask for exabytes, an abort no
/// `catch_unwind` stops.)
fn check_pages(f: &mut File, start: u64, end: u64, values: i64) -> Result<(), String> {
    let mut pos = start;
    let mut seen_values: i64 = 0;
    let mut pages = 0usize;
    while pos < end {
        // headers are small; a header with large statistics gets a larger window
        let mut window = (end - pos).min(64 << 10) as usize;
        let (h, header_len) = loop {
            let mut buf = vec![0u8; window];
            f.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
            f.read_exact(&mut buf).map_err(|e| e.to_string())?;
            let mut r = thrift::Reader::new(&buf);
            match thrift::page_header(&mut r) {
                Ok(h) => break (h, r.pos),
                Err(m)
                    if m == "truncated" && (window as u64) < (end - pos) && window < 16 << 20 =>
                {
                    window = (end - pos).min(window as u64 * 4) as usize;
                }
                Err(m) => return Err(format!("page {pages} at byte {pos}: header: {m}")),
            }
        };
        let at = |m: String| format!("page {pages} at byte {pos}: {m}");
        if !(0..=MAX_PAGE_BYTES).contains(&h.uncompressed) {
            return Err(at(format!(
                "{} uncompressed bytes (limit {MAX_PAGE_BYTES})",
                h.uncompressed
            )));
        }
        let body_end = pos
            + header_len as u64
            + u64::try_from(h.compressed).map_err(|_| at("negative page size".into()))?;
        if body_end > end {
            return Err(at(format!(
                "{} compressed bytes run past the column chunk's end",
                h.compressed
            )));
        }
        for (name, v) in &h.counts {
            if !(0..=values).contains(v) {
                return Err(at(format!(
                    "{name} is {v}, beyond the chunk's {values} values"
                )));
            }
        }
        if h.is_data {
            seen_values += h.counts.first().map(|c| c.1).unwrap_or(0);
            if seen_values > values {
                return Err(at(format!(
                    "the pages hold more than the chunk's {values} values"
                )));
            }
        }
        pos = body_end;
        pages += 1;
    }
    Ok(())
}

/// The few fields of Parquet's Thrift page headers (compact protocol) that size a decode.
mod thrift {
    /// Called for each field of a struct: (field id, type, the reader, (type, depth)); it
    /// must consume the value.
    type FieldVisitor<'v, 'a> =
        dyn FnMut(i16, u8, &mut Reader<'a>, (u8, u32)) -> Result<(), String> + 'v;

    pub struct Reader<'a> {
        buf: &'a [u8],
        pub pos: usize,
    }

    impl<'a> Reader<'a> {
        pub fn new(buf: &'a [u8]) -> Self {
            Self { buf, pos: 0 }
        }
        fn remaining(&self) -> u64 {
            (self.buf.len() - self.pos) as u64
        }
        fn byte(&mut self) -> Result<u8, String> {
            let b = *self.buf.get(self.pos).ok_or("truncated")?;
            self.pos += 1;
            Ok(b)
        }
        fn varint(&mut self) -> Result<u64, String> {
            let mut v = 0u64;
            for shift in (0..70).step_by(7) {
                let b = self.byte()?;
                if shift >= 64 {
                    return Err("varint too long".into());
                }
                v |= u64::from(b & 0x7f) << shift;
                if b & 0x80 == 0 {
                    return Ok(v);
                }
            }
            Err("varint too long".into())
        }
        fn zigzag(&mut self) -> Result<i64, String> {
            let v = self.varint()?;
            Ok((v >> 1) as i64 ^ -((v & 1) as i64))
        }
        fn skip(&mut self, n: u64) -> Result<(), String> {
            let n = usize::try_from(n).map_err(|_| "length too large")?;
            if self.buf.len() - self.pos < n {
                return Err("truncated".into());
            }
            self.pos += n;
            Ok(())
        }
        /// Skips one value of compact type `t`.
        fn skip_value(&mut self, t: u8, depth: u32) -> Result<(), String> {
            if depth > 16 {
                return Err("nested too deep".into());
            }
            match t {
                1 | 2 => Ok(()),
                3 => self.skip(1),
                4..=6 => self.varint().map(|_| ()),
                7 => self.skip(8),
                8 => {
                    let n = self.varint()?;
                    self.skip(n)
                }
                9 | 10 => {
                    let h = self.byte()?;
                    let n = match h >> 4 {
                        15 => self.varint()?,
                        n => u64::from(n),
                    };
                    if n > self.remaining() {
                        return Err(format!("a list of {n} items in {} bytes", self.remaining()));
                    }
                    for _ in 0..n {
                        self.skip_value(h & 0x0f, depth + 1)?;
                    }
                    Ok(())
                }
                11 => {
                    let n = self.varint()?;
                    if n == 0 {
                        return Ok(());
                    }
                    if n > self.remaining() {
                        return Err(format!(
                            "a map of {n} entries in {} bytes",
                            self.remaining()
                        ));
                    }
                    let kv = self.byte()?;
                    for _ in 0..n {
                        self.skip_value(kv >> 4, depth + 1)?;
                        self.skip_value(kv & 0x0f, depth + 1)?;
                    }
                    Ok(())
                }
                12 => self
                    .fields(depth + 1, &mut |_, _, r, d| r.skip_value_of(d))
                    .map(|_| ()),
                _ => Err(format!("unknown field type {t}")),
            }
        }
        fn skip_value_of(&mut self, (t, depth): (u8, u32)) -> Result<(), String> {
            self.skip_value(t, depth)
        }
        /// Reads a struct's fields, calling `on(id, type, reader, (type, depth))` for each;
        /// `on` must consume the value.
        fn fields(&mut self, depth: u32, on: &mut FieldVisitor<'_, 'a>) -> Result<(), String> {
            if depth > 16 {
                return Err("nested too deep".into());
            }
            let mut last: i16 = 0;
            loop {
                let h = self.byte()?;
                if h == 0 {
                    return Ok(());
                }
                let t = h & 0x0f;
                let id = match h >> 4 {
                    0 => i16::try_from(self.zigzag()?).map_err(|_| "bad field id")?,
                    d => last.checked_add(i16::from(d)).ok_or("bad field id")?,
                };
                last = id;
                on(id, t, self, (t, depth))?;
            }
        }
        fn int(&mut self, t: u8) -> Result<i64, String> {
            match t {
                4..=6 => self.zigzag(),
                _ => Err(format!("expected an integer, found type {t}")),
            }
        }
    }

    /// Walks one whole struct (a file footer), checking every length against the bytes left.
    pub fn walk(buf: &[u8]) -> Result<(), String> {
        let mut r = Reader::new(buf);
        r.fields(0, &mut |_, t, r, d| r.skip_value(t, d.1))
    }

    /// What a page header says about sizes.
    pub struct PageHeader {
        pub uncompressed: i64,
        pub compressed: i64,
        pub is_data: bool,
        /// (name, value): num_values first for data pages, then the others.
        pub counts: Vec<(&'static str, i64)>,
    }

    pub fn page_header(r: &mut Reader<'_>) -> Result<PageHeader, String> {
        let mut h = PageHeader {
            uncompressed: -1,
            compressed: -1,
            is_data: false,
            counts: Vec::new(),
        };
        let mut counts = Vec::new();
        let mut is_data = false;
        r.fields(0, &mut |id, t, r, d| match (id, t) {
            (2, 5) => {
                h.uncompressed = r.int(t)?;
                Ok(())
            }
            (3, 5) => {
                h.compressed = r.int(t)?;
                Ok(())
            }
            (5 | 7 | 8, 12) => {
                let names: &[(i16, &'static str)] = match id {
                    5 => &[(1, "num_values")],
                    7 => &[(1, "dictionary num_values")],
                    _ => &[(1, "num_values"), (2, "num_nulls"), (3, "num_rows")],
                };
                if id != 7 {
                    is_data = true;
                }
                r.fields(
                    d.1 + 1,
                    &mut |fid, ft, r, fd| match names.iter().find(|(n, _)| *n == fid) {
                        Some((_, name)) if ft == 5 => {
                            counts.push((*name, r.int(ft)?));
                            Ok(())
                        }
                        _ => r.skip_value(ft, fd.1),
                    },
                )
            }
            _ => r.skip_value(t, d.1),
        })?;
        if h.uncompressed < 0 || h.compressed < 0 {
            return Err("no page sizes".into());
        }
        h.counts = counts;
        h.is_data = is_data;
        Ok(h)
    }
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
    let reader = checked_reader(path)?;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.finish()))
        .map_err(|p| format!("decoder panicked: {}", panic_text(&p)))?
        .map_err(|e| e.to_string())
}
