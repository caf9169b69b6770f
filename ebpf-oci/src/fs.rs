//! Writing files so that nothing is ever half-written: a temporary file in
//! the same directory, then a rename; things named by the pid of the process
//! they belong to; signals caught where work must clean up before it ends.
//! Shared by the store, cargo-ebpf and bpf-runtime.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The pid in a name this project gives a file or directory that belongs
/// to one process while it runs: `PREFIX{pid}-...`. Such a thing whose
/// process is gone was left by a killed process and may be removed.
pub fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    name.strip_prefix(prefix)?.split('-').next()?.parse().ok()
}

/// Whether process `pid` still runs.
pub fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// While it lives, SIGINT, SIGTERM and SIGHUP set a flag instead of ending
/// the process, so that work can stop where it cleans up after itself.
pub struct SignalGuard {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ids: Vec<signal_hook::SigId>,
}

impl SignalGuard {
    pub fn catch() -> SignalGuard {
        let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ids = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
            .into_iter()
            .filter_map(|sig| signal_hook::flag::register(sig, flag.clone()).ok())
            .collect();
        SignalGuard { flag, ids }
    }

    /// Whether one of the signals arrived.
    pub fn stopped(&self) -> bool {
        self.flag.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The flag itself, for work on other threads.
    pub fn flag(&self) -> &std::sync::atomic::AtomicBool {
        &self.flag
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// What failed while writing a file, and where.
#[derive(Debug)]
pub struct WriteError {
    pub action: &'static str,
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Writes `contents` to `path` atomically with permissions `mode`, creating
/// parent directories. `durable` also flushes the data to disk before the
/// rename, for files whose loss after a crash matters (the store).
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    mode: u32,
    durable: bool,
) -> Result<(), WriteError> {
    let fail = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| WriteError {
            action,
            path,
            source,
        }
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(fail("create directory", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(fail("create a temporary file in", dir))?;
    tmp.write_all(contents).map_err(fail("write", tmp.path()))?;
    if durable {
        tmp.as_file().sync_all().map_err(fail("write", path))?;
    }
    // Temporary files are private (0600); the result is an ordinary file.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .map_err(fail("set permissions of", path))?;
    tmp.persist(path).map_err(|e| WriteError {
        action: "write",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    Ok(())
}

/// Reads a file of at most `limit` bytes; a larger one is an error, read no
/// further than the limit.
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}
