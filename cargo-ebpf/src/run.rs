//! `cargo ebpf run`: package the project into the local store, then hand the
//! image to `bpf-runtime run` — the same runtime hosts use, so what works
//! here works there.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::package::{self, PackageOptions};

/// The environment variable naming the `bpf-runtime` binary to use.
pub const RUNTIME_ENV: &str = "CARGO_EBPF_RUNTIME";

pub struct RunOptions {
    /// Any directory inside the project (unused when `reference` is given).
    pub dir: PathBuf,
    /// Run this image instead of packaging the project.
    pub reference: Option<String>,
    /// Build before packaging.
    pub build: bool,
    pub store: PathBuf,
    /// Arguments for `bpf-runtime run` after the reference.
    pub args: Vec<String>,
}

/// The `bpf-runtime` binary: `$CARGO_EBPF_RUNTIME`, else the one beside
/// this `cargo-ebpf`, else the first on PATH.
pub fn runtime_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(RUNTIME_ENV).filter(|v| !v.is_empty()) {
        return which::which(&p).map_err(|_| {
            Error::Usage(format!(
                "{RUNTIME_ENV}={} is not an executable",
                Path::new(&p).display()
            ))
        });
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("bpf-runtime")))
        .filter(|p| p.is_file());
    beside
        .or_else(|| which::which("bpf-runtime").ok())
        .ok_or(Error::MissingRuntime)
}

/// The command `run` hands over to (for `--dry-run` style checks and tests).
pub fn runtime_command(runtime: &Path, reference: &str, store: &Path, args: &[String]) -> Command {
    let mut c = Command::new(runtime);
    c.arg("run")
        .arg(reference)
        .arg("--store")
        .arg(store)
        .args(args);
    c
}

/// Packages (unless given a reference) and replaces this process with
/// `bpf-runtime run`, so signals and the exit code are the runtime's own.
pub fn run(opts: &RunOptions) -> Result<std::convert::Infallible> {
    let runtime = runtime_binary()?;
    let reference = match &opts.reference {
        Some(r) => r.clone(),
        None => {
            let report = package::package(&PackageOptions {
                dir: opts.dir.clone(),
                arches: Vec::new(),
                tag: None,
                force: true,
                archive: None,
                store: opts.store.clone(),
                build: opts.build,
                object: None,
                keep_debug: false,
                progress: true,
                sign: None,
            })?;
            eprintln!(
                "{:>12} {} with {}",
                "Running",
                report.tag,
                runtime.display()
            );
            report.tag
        }
    };
    let err = runtime_command(&runtime, &reference, &opts.store, &opts.args).exec();
    Err(Error::io("start", runtime)(err))
}
