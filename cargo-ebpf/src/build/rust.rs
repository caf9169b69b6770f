//! Rust (aya) projects: choosing a toolchain for the eBPF crate and building
//! the workspace.
//!
//! A Rust project is a workspace of `<name>` (user space), `<name>-common`
//! and `<name>-ebpf`. The user crate's build script builds the eBPF crate,
//! which needs `core` for `bpfel-unknown-none` (`-Z build-std=core`) and
//! bpf-linker. Two toolchains can do that: rustup's nightly with the
//! `rust-src` component (the usual path on developer machines and GitHub
//! runners), or a rustc whose library sources are installed (Debian's
//! rustc-web + rust-web-src) driven with `RUSTC_BOOTSTRAP=1`. cargo-ebpf
//! chooses, says which, and tells the build script through `EBPF_CARGO` and
//! `EBPF_RUSTC`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use cargo_metadata::Message;

use super::BuildOptions;
use super::artifact::Artifact;
use super::step::StepRunner;
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::tools;
use ebpf_kinds::Arch;

/// The toolchain that builds the eBPF crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EbpfToolchain {
    /// `cargo +nightly`, with rust-src installed by rustup.
    RustupNightly,
    /// A rustc with library sources, driven with `RUSTC_BOOTSTRAP=1`.
    Bootstrap { rustc: PathBuf, cargo: PathBuf },
}

impl EbpfToolchain {
    pub fn describe(&self) -> String {
        match self {
            EbpfToolchain::RustupNightly => "rustup nightly with rust-src".into(),
            EbpfToolchain::Bootstrap { rustc, .. } => {
                format!(
                    "{} with its library sources (RUSTC_BOOTSTRAP=1)",
                    rustc.display()
                )
            }
        }
    }

    /// What the project's build script reads to use this toolchain.
    fn env(&self) -> Vec<(&'static str, OsString)> {
        match self {
            EbpfToolchain::RustupNightly => Vec::new(),
            EbpfToolchain::Bootstrap { rustc, cargo } => vec![
                ("EBPF_CARGO", cargo.clone().into()),
                ("EBPF_RUSTC", rustc.clone().into()),
            ],
        }
    }
}

fn rustup_nightly_has_rust_src() -> bool {
    let Ok(rustup) = which::which("rustup") else {
        return false;
    };
    duct::cmd!(
        rustup,
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed"
    )
    .stdout_capture()
    .stderr_null()
    .unchecked()
    .read()
    .is_ok_and(|out| out.lines().any(|l| l.starts_with("rust-src")))
}

/// Chooses the toolchain: rustup nightly with rust-src when present, else a
/// system rustc with library sources.
pub fn choose_toolchain() -> Result<EbpfToolchain> {
    if rustup_nightly_has_rust_src() {
        return Ok(EbpfToolchain::RustupNightly);
    }
    let src = tools::tool("rust-src");
    if let Some(found) = src.locate() {
        // <prefix>/lib/rustlib/src/rust/library/core/Cargo.toml -> <prefix>/bin/rustc
        let prefix = found
            .ancestors()
            .nth(7)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let rustc = prefix.join("bin/rustc");
        let cargo = prefix.join("bin/cargo");
        if rustc.is_file() && cargo.is_file() {
            return Ok(EbpfToolchain::Bootstrap { rustc, cargo });
        }
    }
    Err(src.missing(
        "no toolchain can build core for bpfel-unknown-none: run `rustup toolchain install nightly --component rust-src`, or install a rustc with its library sources",
    ))
}

pub fn build(
    m: &Manifest,
    root: &Path,
    opts: &BuildOptions,
    p: &mut StepRunner,
) -> Result<(Vec<Artifact>, String)> {
    if opts.arch != Arch::host() {
        return Err(Error::usage(format!(
            "cross-building Rust projects for {} is not supported yet: build on a {} host",
            opts.arch, opts.arch
        )));
    }
    let toolchain = choose_toolchain()?;
    tools::tool("bpf-linker").require()?;
    let name = &m.package.name;
    if !root.join(format!("{name}-ebpf/Cargo.toml")).is_file() {
        return Err(Error::usage(format!(
            "no eBPF crate at {}: a Rust project has `{name}` (user space), `{name}-common` and `{name}-ebpf` crates",
            root.join(format!("{name}-ebpf")).display()
        )));
    }
    p.status(
        "Toolchain",
        format_args!("eBPF crate: {}", toolchain.describe()),
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut argv: Vec<OsString> = vec![
        cargo,
        "build".into(),
        "-p".into(),
        name.into(),
        "--message-format=json-render-diagnostics".into(),
    ];
    if opts.release {
        argv.push("--release".into());
    }
    p.status("Compiling", format_args!("{name} and {name}-ebpf (cargo)"));
    let messages =
        p.run_capturing_stdout(&format!("building {name}"), &argv, &toolchain.env(), root)?;

    let mut out_dir = None;
    let mut binary = None;
    let mut fresh = true;
    for msg in Message::parse_stream(messages.as_slice()) {
        match msg.map_err(Error::io("read cargo's output for", root))? {
            Message::BuildScriptExecuted(s) if package_is(&s.package_id.repr, name) => {
                out_dir = Some(s.out_dir.into_std_path_buf());
            }
            Message::CompilerArtifact(a) if a.target.name == *name => {
                fresh &= a.fresh;
                if let Some(exe) = a.executable {
                    binary = Some(exe.into_std_path_buf());
                }
            }
            Message::CompilerArtifact(a) => fresh &= a.fresh,
            _ => {}
        }
    }
    let (Some(out_dir), Some(binary)) = (out_dir, binary) else {
        return Err(Error::usage(format!(
            "cargo built no `{name}` binary with a build script; the user crate must be named `{name}` and build `{name}-ebpf` from build.rs"
        )));
    };
    let built_obj = out_dir.join(format!("{name}.bpf.o"));
    let obj = p.out_dir().join(format!("{name}.bpf.o"));
    let bin = p.out_dir().join(name);
    for (from, to) in [(&built_obj, &obj), (&binary, &bin)] {
        let bytes = std::fs::read(from).map_err(Error::io("read", from))?;
        if std::fs::read(to).ok().as_deref() != Some(bytes.as_slice()) {
            crate::fsutil::write_atomic(to, &bytes, to == &bin)?;
        }
    }
    Ok((
        vec![
            Artifact::bpf_object(obj, opts.arch, !fresh)?,
            Artifact::user_binary(bin, opts.arch, !fresh),
        ],
        toolchain.describe(),
    ))
}

/// Whether a cargo package id names the package `name` (both the
/// `path+file://...#name@version` and the older `name version (...)` forms).
fn package_is(id: &str, name: &str) -> bool {
    id.split_whitespace().next() == Some(name)
        || id.rsplit_once('#').is_some_and(|(path, rest)| {
            rest.split('@').next() == Some(name)
                || (!rest.contains('@') && path.ends_with(&format!("/{name}")))
        })
}
