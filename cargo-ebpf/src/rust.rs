//! Rust (aya) projects: choosing a toolchain for the eBPF crate and building
//! the workspace.
//!
//! The eBPF crate (`<name>-ebpf`) needs `core` built for `bpfel-unknown-none`
//! (`-Z build-std=core`) and bpf-linker. Two toolchains can do that: rustup's
//! nightly with the `rust-src` component (the usual path on developer
//! machines and GitHub runners), or a rustc whose library sources are
//! installed (Debian's rustc-web + rust-web-src) with `RUSTC_BOOTSTRAP=1`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::build::{Artifact, BuildOptions, Progress};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::tools;

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
        "no toolchain can build core for bpfel-unknown-none: install rustup's nightly with `rustup toolchain install nightly --component rust-src`, or a rustc with its library sources",
    ))
}

pub fn build(
    m: &Manifest,
    root: &Path,
    opts: &BuildOptions,
    p: &mut Progress<'_>,
) -> Result<(Vec<Artifact>, String)> {
    let toolchain = choose_toolchain()?;
    tools::tool("bpf-linker").require()?;
    let name = &m.package.name;
    let ebpf_dir = root.join(format!("{name}-ebpf"));
    if !ebpf_dir.join("Cargo.toml").is_file() {
        return Err(Error::usage(format!(
            "no eBPF crate at {}: a Rust project has `{name}` (user space), `{name}-common` and `{name}-ebpf` crates",
            ebpf_dir.display()
        )));
    }
    p.status(
        "Toolchain",
        format_args!("eBPF crate: {}", toolchain.describe()),
    );
    let target = format!("{}-unknown-none", opts.arch.bpf_target());
    let target_dir = root.join("target");
    let mut argv: Vec<OsString> = Vec::new();
    let mut env: Vec<(&str, OsString)> = Vec::new();
    match &toolchain {
        EbpfToolchain::RustupNightly => {
            argv.extend(["cargo", "+nightly"].map(OsString::from));
        }
        EbpfToolchain::Bootstrap { rustc, cargo } => {
            argv.push(cargo.clone().into());
            env.push(("RUSTC_BOOTSTRAP", "1".into()));
            env.push(("RUSTC", rustc.clone().into()));
        }
    }
    argv.extend(
        [
            "build",
            "--release",
            "--target",
            &target,
            "-Z",
            "build-std=core",
            "--target-dir",
        ]
        .map(OsString::from),
    );
    argv.push(target_dir.clone().into());
    env.push(("CARGO_CFG_BPF_TARGET_ARCH", opts.arch.name().into()));
    p.status("Compiling", format_args!("{name}-ebpf ({target})"));
    p.run(&format!("building {name}-ebpf"), &argv, &env, &ebpf_dir)?;
    let built = target_dir
        .join(&target)
        .join("release")
        .join(format!("{name}-ebpf"));
    let obj = p.out_dir().join(format!("{name}.bpf.o"));
    std::fs::copy(&built, &obj).map_err(Error::io("copy", &built))?;

    let mut argv: Vec<OsString> = ["cargo", "build", "-p", name.as_str()]
        .map(OsString::from)
        .to_vec();
    if opts.release {
        argv.push("--release".into());
    }
    p.status("Compiling", format_args!("{name} (user space)"));
    p.run(
        &format!("building {name}"),
        &argv,
        &[("CARGO_EBPF_OBJECT", obj.clone().into())],
        root,
    )?;
    let profile = if opts.release { "release" } else { "debug" };
    let bin_src = target_dir.join(profile).join(name);
    let bin = p.out_dir().join(name);
    std::fs::copy(&bin_src, &bin).map_err(Error::io("copy", &bin_src))?;
    Ok((
        vec![
            Artifact::bpf_object(obj, opts.arch, true)?,
            Artifact::user_binary(bin, opts.arch, true),
        ],
        toolchain.describe(),
    ))
}
