//! File helpers for cargo-ebpf: atomic writes (nothing is ever half-written)
//! and directory listings.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `contents` to `path` atomically, creating parent directories.
pub fn write_atomic(path: &Path, contents: &[u8], executable: bool) -> Result<()> {
    let mode = if executable { 0o755 } else { 0o644 };
    ebpf_oci::fs::write_atomic(path, contents, mode, false).map_err(|e| Error::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    })
}

/// The files in `dir` that `keep` accepts, sorted.
pub fn files(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(Error::io("read directory", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| keep(p))
        .collect();
    found.sort();
    Ok(found)
}

/// Modification time, or `None` when the file does not exist.
pub fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
