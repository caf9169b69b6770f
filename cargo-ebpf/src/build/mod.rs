//! `cargo ebpf build`: kernel bytecode and user space for C, Go and Rust
//! projects, incrementally.
//!
//! Outputs go to `target/ebpf/<arch>/`: `<stem>.bpf.o` per kernel source and
//! the user-space binary named after the package. A step is skipped when its
//! output is newer than every input (from clang's depfiles) and its command
//! line is unchanged (kept in `<output>.cmd`), so a second build with nothing
//! changed runs no compiler.

mod artifact;
mod c;
mod clang;
mod go;
mod headers;
mod rust;
mod step;

use std::path::{Path, PathBuf};
use std::time::Instant;

use ebpf_kinds::Arch;
use serde::Serialize;

pub use artifact::{Artifact, ArtifactKind, BuiltProgram, object_programs};
use step::StepRunner;

use crate::error::{Error, Result};
use crate::fsutil::files;
use crate::lang::Language;
use crate::manifest;
use crate::new::is_bpf_source;

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Any directory inside the project.
    pub dir: PathBuf,
    pub arch: Arch,
    pub release: bool,
    /// Progress lines on stderr (off for `--message-format json`).
    pub progress: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub package: String,
    pub language: Language,
    pub root: PathBuf,
    pub artifacts: Vec<Artifact>,
    /// Commands run; 0 for a build with nothing to do.
    pub commands_run: usize,
    /// How the kernel side was compiled (the toolchain chosen).
    pub toolchain: String,
}

pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    let started = Instant::now();
    let (root, m) = manifest::locate(&opts.dir)?;
    let out_dir = root.join("target").join("ebpf").join(opts.arch.name());
    std::fs::create_dir_all(&out_dir).map_err(Error::io("create directory", &out_dir))?;
    let mut runner = StepRunner::new(out_dir, opts.progress);
    let (artifacts, toolchain) = match m.package.language {
        Language::C => c::build(&m, &root, opts, &mut runner)?,
        Language::Go => go::build(&m, &root, opts, &mut runner)?,
        Language::Rust => rust::build(&m, &root, opts, &mut runner)?,
    };
    let verb = if runner.commands_run() == 0 {
        "Fresh"
    } else {
        "Finished"
    };
    runner.status(
        verb,
        format_args!(
            "{} v{} ({}, {}) in {:.2}s",
            m.package.name,
            m.package.version,
            opts.arch,
            toolchain,
            started.elapsed().as_secs_f64()
        ),
    );
    Ok(BuildReport {
        package: m.package.name.clone(),
        language: m.package.language,
        root,
        artifacts,
        commands_run: runner.commands_run(),
        toolchain,
    })
}

/// The kernel sources (`*.bpf.c`) in `dir`.
fn bpf_sources(dir: &Path) -> Result<Vec<PathBuf>> {
    files(dir, is_bpf_source)
}

/// `p` relative to the project root, for messages.
fn rel<'a>(p: &'a Path, root: &Path) -> std::path::Display<'a> {
    p.strip_prefix(root).unwrap_or(p).display()
}
