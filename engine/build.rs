//! Embeds the bundled dataset (`datasets/quang-ninh`, about 1.2 MB) in the library, so that a
//! `twin` binary copied elsewhere or installed with `cargo install` still has its data. Writes
//! `$OUT_DIR/bundled_dataset.rs`: every file as `(relative path, include_bytes!)` and a content
//! hash (FNV-1a 64 over paths and bytes) that names the unpacked copy.

use std::path::{Path, PathBuf};

fn files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        if p.is_dir() {
            files(&p, base, out)?;
        } else if p.is_file() {
            out.push(
                p.strip_prefix(base)
                    .map_err(std::io::Error::other)?
                    .to_path_buf(),
            );
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?);
    let root = manifest.join("../datasets/quang-ninh");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut list = Vec::new();
    files(&root, &root, &mut list)?;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut fnv = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut code = String::from(
        "/// Every file of the bundled dataset: (path relative to it, bytes).\npub(crate) const FILES: &[(&str, &[u8])] = &[\n",
    );
    for rel in &list {
        let rel_str = rel
            .to_str()
            .ok_or_else(|| std::io::Error::other(format!("{}: not UTF-8", rel.display())))?
            .replace('\\', "/");
        let abs = root.join(rel).canonicalize()?;
        fnv(rel_str.as_bytes());
        fnv(&std::fs::read(&abs)?);
        code.push_str(&format!(
            "    ({rel_str:?}, include_bytes!({:?})),\n",
            abs.display().to_string()
        ));
    }
    code.push_str("];\n");
    code.push_str(&format!(
        "/// Content hash of the bundled dataset (FNV-1a 64 of paths and bytes).\npub(crate) const HASH: &str = \"{hash:016x}\";\n"
    ));
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?);
    std::fs::write(out.join("bundled_dataset.rs"), code)
}
