//! Go (cilium/ebpf) projects: `go generate` runs bpf2go (bytecode and
//! bindings beside the Go files), then `go build` makes a static binary.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::artifact::Artifact;
use super::headers::{generate_vmlinux, includes_vmlinux};
use super::step::{Step, StepRunner, os};
use super::{BuildOptions, bpf_sources, clang, rel};
use crate::error::{Error, Result};
use crate::fsutil::{files, mtime, write_atomic};
use crate::manifest::Manifest;
use crate::tools;

/// The plain files of `dir` that `keep` accepts (not its subdirectories).
fn plain_files(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    files(dir, |p| p.is_file() && keep(p)).unwrap_or_default()
}

pub fn build(
    m: &Manifest,
    root: &Path,
    opts: &BuildOptions,
    runner: &mut StepRunner,
) -> Result<(Vec<Artifact>, String)> {
    let go = tools::tool("go").require()?;
    let clang = tools::clang()?;
    let cache_dir = root.join("target").join("ebpf");
    let version = clang::check(&clang, &cache_dir)?;
    let bpf_dir = root.join(m.build.bpf_dir.as_deref().unwrap_or(Path::new("bpf")));
    let sources = bpf_sources(&bpf_dir)?;
    // bpf2go reads vmlinux.h from the bpf directory, as the go:generate line says.
    let header = bpf_dir.join("vmlinux.h");
    if includes_vmlinux(&sources) && !header.is_file() {
        let shown = rel(&header, root).to_string();
        let hint = format!("run `cargo ebpf gen vmlinux --btf FILE -o {shown}`");
        generate_vmlinux(runner, &header, opts.arch, &shown, &hint)?;
    }

    // bpf2go writes `<ident>_<bpfel|bpfeb>_<arch>.o` (or `<ident>_bpfel.o`)
    // next to the Go files; the ident is whatever the go:generate line says.
    let suffixes = [
        format!(
            "_{}_{}.o",
            opts.arch.bpf_target(),
            opts.arch.bpf_target_arch()
        ),
        format!("_{}.o", opts.arch.bpf_target()),
    ];
    let generated = || {
        files(root, |p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| suffixes.iter().any(|s| n.ends_with(s.as_str())))
        })
    };
    let bpf_inputs = plain_files(&bpf_dir, |_| true);
    let bpf_newest = bpf_inputs.iter().filter_map(|p| mtime(p)).max();
    let before = generated()?;
    let go_generate_fresh = !before.is_empty()
        && before
            .iter()
            .all(|o| mtime(o).is_some_and(|t| bpf_newest.is_none_or(|n| n <= t)));
    let shim = clang::shim(&clang, runner.out_dir())?;
    let mut path = OsString::from(&shim);
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let go_env = [
        ("CGO_ENABLED", os("0")),
        ("GOARCH", os(opts.arch.goarch())),
        ("GOOS", os("linux")),
        ("PATH", path),
    ];
    if !root.join("go.sum").is_file() {
        // A new project has no go.sum yet: record the module checksums once.
        runner.status("Resolving", "Go modules (go mod tidy)");
        let argv = vec![go.clone().into(), os("mod"), os("tidy"), os("-e")];
        runner.run("go mod tidy", &argv, &go_env, root)?;
    }
    if !go_generate_fresh {
        runner.status(
            "Generating",
            format_args!("Go bindings and bytecode (bpf2go, {version})"),
        );
        let argv = vec![go.clone().into(), os("generate"), os("./...")];
        runner.run("go generate", &argv, &go_env, root)?;
    }
    let objects = generated()?;
    if objects.is_empty() {
        return Err(Error::usage(format!(
            "go generate wrote no eBPF object for {} (no *{} in {}); the go:generate line must run bpf2go with -target {}",
            opts.arch,
            suffixes[0],
            root.display(),
            opts.arch.goarch()
        )));
    }
    let mut artifacts = Vec::new();
    for generated_o in &objects {
        let stem = if objects.len() == 1 {
            m.package.name.clone()
        } else {
            let file = generated_o
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            suffixes.iter().fold(file.to_string(), |f, s| {
                f.trim_end_matches(s.as_str()).to_string()
            })
        };
        let obj = runner.out_dir().join(format!("{stem}.bpf.o"));
        let rebuilt = mtime(&obj).is_none_or(|t| mtime(generated_o).is_some_and(|g| g > t));
        if rebuilt {
            let bytes = std::fs::read(generated_o).map_err(Error::io("read", generated_o))?;
            write_atomic(&obj, &bytes, false)?;
        }
        artifacts.push(Artifact::bpf_object(obj, opts.arch, rebuilt)?);
    }

    let bin = runner.out_dir().join(&m.package.name);
    let mut inputs = plain_files(root, |p| {
        p.extension().is_some_and(|e| e == "go" || e == "o")
            || p.file_name()
                .is_some_and(|n| n == "go.mod" || n == "go.sum")
    });
    inputs.extend(bpf_inputs);
    let mut argv: Vec<OsString> = vec![go.into(), os("build"), os("-trimpath")];
    if opts.release {
        argv.extend([os("-ldflags"), os("-s -w")]);
    }
    argv.extend([os("-o"), bin.clone().into(), os(".")]);
    let step = Step::new("go build", argv, bin.clone())
        .inputs(inputs)
        .shows(
            "Compiling",
            format!("{} (Go user space, static)", m.package.name),
        )
        .env(&go_env)
        .dir(root);
    let rebuilt = runner.step(&step)?;
    artifacts.push(Artifact::user_binary(bin, opts.arch, rebuilt));
    Ok((artifacts, format!("{version}, bpf2go")))
}
