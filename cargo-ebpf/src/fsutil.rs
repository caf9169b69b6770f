//! Writing files so that nothing is ever half-written: a temporary file in
//! the same directory, then a rename.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Writes `contents` to `path` atomically, creating parent directories.
pub fn write_atomic(path: &Path, contents: &[u8], executable: bool) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(Error::io("create a temporary file in", dir))?;
    tmp.write_all(contents)
        .map_err(Error::io("write", tmp.path().to_path_buf()))?;
    // Temporary files are private (0600); the result is an ordinary file.
    use std::os::unix::fs::PermissionsExt;
    let mode = if executable { 0o755 } else { 0o644 };
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .map_err(Error::io("set permissions of", path))?;
    tmp.persist(path).map_err(|e| Error::Io {
        action: "write",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Modification time, or `None` when the file does not exist.
pub fn mtime(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}
