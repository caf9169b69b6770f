//! C (libbpf) projects: the kernel side with clang, a skeleton per object
//! with bpftool, and every other `*.c` beside them compiled and linked into
//! one user-space binary.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use ebpf_kinds::Arch;

use super::artifact::Artifact;
use super::clang::{compile_kernel_side, compile_one};
use super::step::{Produces, Step, StepRunner, depfile_inputs, os};
use super::{BuildOptions, rel};
use crate::error::{Error, Result};
use crate::fsutil::files;
use crate::lang;
use crate::manifest::Manifest;
use crate::new::is_bpf_source;
use crate::tools;

pub fn build(
    m: &Manifest,
    root: &Path,
    opts: &BuildOptions,
    runner: &mut StepRunner,
) -> Result<(Vec<Artifact>, String)> {
    let bpf_dir = root.join(m.build.bpf_dir.as_deref().unwrap_or(Path::new("src")));
    let (mut artifacts, version) = compile_kernel_side(m, root, &bpf_dir, opts, runner)?;

    // User space: every other *.c next to the kernel sources, one binary.
    let user = files(&bpf_dir, |p| {
        p.extension().is_some_and(|e| e == "c") && !is_bpf_source(p)
    })?;
    if user.is_empty() {
        return Ok((artifacts, version));
    }
    let cc = compiler(opts.arch)?;
    tools::tool("libbpf").require()?;
    let bpftool = tools::tool("bpftool").require()?;
    let out_dir = runner.out_dir().to_path_buf();

    // Skeletons: `<stem>.skel.h` with the object embedded.
    let mut skeletons = Vec::new();
    for a in &artifacts {
        let file = a.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let stem = file.trim_end_matches(".bpf.o");
        let skel = out_dir.join(format!("{stem}.skel.h"));
        let argv = vec![
            bpftool.clone().into(),
            os("gen"),
            os("skeleton"),
            a.path.clone().into(),
            os("name"),
            os(format!("{}_bpf", lang::ident(stem))),
        ];
        let step = Step::new(
            format!("generating the skeleton of {file}"),
            argv,
            skel.clone(),
        )
        .produces(Produces::Stdout)
        .inputs(vec![a.path.clone()])
        .shows("Generating", format!("{stem}.skel.h (bpftool)"));
        runner.step(&step)?;
        skeletons.push(skel);
    }

    let obj_dir = out_dir.join("obj");
    std::fs::create_dir_all(&obj_dir).map_err(Error::io("create directory", &obj_dir))?;
    let mut objects = Vec::new();
    let mut any_rebuilt = false;
    for src in &user {
        let stem = src.file_stem().and_then(|n| n.to_str()).unwrap_or("main");
        let obj = obj_dir.join(format!("{stem}.o"));
        let dep = obj_dir.join(format!("{stem}.d"));
        let mut argv: Vec<OsString> = vec![cc.clone().into(), os("-g"), os("-Wall")];
        argv.push(os(if opts.release { "-O2" } else { "-O1" }));
        argv.push(os(format!("-ffile-prefix-map={}=.", root.display())));
        argv.push(os(format!("-I{}", out_dir.display())));
        argv.push(os(format!("-I{}", bpf_dir.display())));
        if root.join("include").is_dir() {
            argv.push(os(format!("-I{}", root.join("include").display())));
        }
        argv.extend(compile_one(&dep, src, &obj));
        let mut inputs = depfile_inputs(&dep).unwrap_or_else(|| vec![src.clone()]);
        inputs.extend(skeletons.iter().cloned());
        let step = Step::new(format!("compiling {}", rel(src, root)), argv, obj.clone())
            .inputs(inputs)
            .shows("Compiling", format!("{} (user space)", rel(src, root)))
            .dir(root);
        any_rebuilt |= runner.step(&step)?;
        objects.push(obj);
    }

    let static_link = m.build.static_link.unwrap_or(true);
    let bin = out_dir.join(&m.package.name);
    let tmp_bin = out_dir.join(format!(".{}.tmp", m.package.name));
    let mut argv: Vec<OsString> = vec![cc.into()];
    argv.extend(objects.iter().map(|o| o.clone().into()));
    argv.extend([os("-o"), tmp_bin.clone().into()]);
    if static_link {
        argv.push(os("-static"));
    }
    if opts.release {
        argv.push(os("-s"));
    }
    argv.extend(["-lbpf", "-lelf", "-lz", "-lzstd"].map(os));
    let link = Step::new(format!("linking {}", m.package.name), argv, bin.clone())
        .produces(Produces::Temp(tmp_bin))
        .inputs(objects)
        .force(any_rebuilt)
        .shows(
            "Linking",
            format!(
                "{}{}",
                rel(&bin, root),
                if static_link { " (static)" } else { "" }
            ),
        )
        .dir(root);
    let rebuilt = runner.step(&link)?;
    artifacts.push(Artifact::user_binary(bin, opts.arch, rebuilt));
    Ok((artifacts, version))
}

/// The C compiler for user space on `arch`: `cc` on the host's own, the
/// cross gcc otherwise.
fn compiler(arch: Arch) -> Result<PathBuf> {
    if arch == Arch::host() {
        return tools::tool("cc").require();
    }
    which::which(arch.cross_cc()).map_err(|_| {
        Error::usage(format!(
            "no C cross compiler for {0} user space ({1} not found); install gcc-{0}-linux-gnu and libbpf for {0}, or build the kernel side alone with `cargo ebpf build --arch {0}` in a project without user space",
            arch,
            arch.cross_cc()
        ))
    })
}
