//! `cargo ebpf build`: kernel bytecode and user space for C, Go and Rust
//! projects, incrementally.
//!
//! Outputs go to `target/ebpf/<arch>/`: `<stem>.bpf.o` per kernel source and
//! the user-space binary named after the package. A step is skipped when its
//! output is newer than every input (from clang's depfiles) and its command
//! line is unchanged (kept in `<output>.cmd`), so a second build with nothing
//! changed runs no compiler.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ebpf_kinds::classify_section;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fsutil::{files, mtime, write_atomic};
use crate::lang::{self, Language};
use crate::manifest::{self, Manifest};
use crate::new::is_bpf_source;
use crate::tools;
use crate::vmlinux;
use ebpf_kinds::Arch;

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
pub struct ProgramInfo {
    pub name: String,
    pub section: String,
    #[serde(rename = "type")]
    pub ty: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    BpfObject,
    UserBinary,
}

#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub kind: ArtifactKind,
    pub path: PathBuf,
    pub arch: Arch,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<ProgramInfo>,
    /// Whether this build produced it (false: it was up to date).
    pub rebuilt: bool,
}

impl Artifact {
    /// An eBPF object, with the programs read from its ELF.
    pub fn bpf_object(path: PathBuf, arch: Arch, rebuilt: bool) -> Result<Artifact> {
        Ok(Artifact {
            kind: ArtifactKind::BpfObject,
            programs: object_programs(&path)?,
            path,
            arch,
            rebuilt,
        })
    }

    pub fn user_binary(path: PathBuf, arch: Arch, rebuilt: bool) -> Artifact {
        Artifact {
            kind: ArtifactKind::UserBinary,
            path,
            arch,
            programs: Vec::new(),
            rebuilt,
        }
    }
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

/// Runs tools, prints progress, and keeps the freshness records.
struct Ctx {
    progress: bool,
    commands_run: usize,
    out_dir: PathBuf,
}

impl Ctx {
    fn status(&self, verb: &str, what: impl std::fmt::Display) {
        if self.progress {
            eprintln!("{verb:>12} {what}");
        }
    }

    /// Runs `argv` in `dir`. Its stderr passes through, so compiler errors
    /// are shown as the compiler printed them; its stdout is returned when
    /// `capture`, else passed through (to stderr in JSON mode, keeping stdout
    /// for JSON messages).
    fn exec(
        &mut self,
        what: &str,
        argv: &[OsString],
        env: &[(&str, OsString)],
        dir: &Path,
        capture: bool,
    ) -> Result<Vec<u8>> {
        self.commands_run += 1;
        let mut cmd = duct::cmd(&argv[0], &argv[1..]).dir(dir).unchecked();
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        if capture {
            cmd = cmd.stdout_capture();
        } else if !self.progress {
            cmd = cmd.stdout_to_stderr();
        }
        let out = cmd.run().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::usage(format!(
                    "failed to run {}: not found",
                    Path::new(&argv[0]).display()
                ))
            } else {
                Error::io("run", PathBuf::from(&argv[0]))(e)
            }
        })?;
        if !out.status.success() {
            return Err(Error::ToolFailed {
                what: what.to_string(),
                command: shell_line(argv),
                status: out.status.to_string(),
            });
        }
        Ok(out.stdout)
    }

    fn run(
        &mut self,
        what: &str,
        argv: &[OsString],
        env: &[(&str, OsString)],
        dir: &Path,
    ) -> Result<()> {
        self.exec(what, argv, env, dir, false).map(drop)
    }

    /// Runs `argv` with its stdout written atomically to `out`.
    fn run_to_file(&mut self, what: &str, argv: &[OsString], out: &Path) -> Result<()> {
        let stdout = self.exec(what, argv, &[], Path::new("."), true)?;
        write_atomic(out, &stdout, false)
    }
}

fn shell_line(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s.is_empty() || s.contains([' ', '"', '\'', '$']) {
                format!("'{}'", s.replace('\'', "'\\''"))
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn os(v: impl Into<OsString>) -> OsString {
    v.into()
}

/// Compile `src` to `out`, writing its dependencies to `dep`.
fn compile_one(dep: &Path, src: &Path, out: &Path) -> [OsString; 7] {
    [
        os("-MD"),
        os("-MF"),
        dep.into(),
        os("-c"),
        src.into(),
        os("-o"),
        out.into(),
    ]
}

/// The freshness record of an output: its command line.
fn cmd_file(out: &Path) -> PathBuf {
    let mut p = out.as_os_str().to_owned();
    p.push(".cmd");
    PathBuf::from(p)
}

/// Whether `out` is up to date with `inputs` and was made by `argv`.
fn fresh(out: &Path, argv: &[OsString], inputs: &[PathBuf]) -> bool {
    let Some(built) = mtime(out) else {
        return false;
    };
    match std::fs::read_to_string(cmd_file(out)) {
        Ok(line) if line == shell_line(argv) => {}
        _ => return false,
    }
    inputs.iter().all(|i| mtime(i).is_some_and(|t| t <= built))
}

fn record(out: &Path, argv: &[OsString]) -> Result<()> {
    write_atomic(&cmd_file(out), shell_line(argv).as_bytes(), false)
}

/// The prerequisites listed in a Makefile-style depfile written by clang/gcc.
fn depfile_inputs(dep: &Path) -> Option<Vec<PathBuf>> {
    let text = std::fs::read_to_string(dep).ok()?;
    let joined = text.replace("\\\n", " ");
    let (_, deps) = joined.split_once(": ")?;
    Some(deps.split_whitespace().map(PathBuf::from).collect())
}

/// A fact about `clang` kept in `cache_dir/name`, valid while the clang
/// binary is unchanged (same path and modification time): asking clang costs
/// a process, and a no-op build must run none.
fn cached_for_clang(
    clang: &Path,
    cache_dir: &Path,
    name: &str,
    compute: impl FnOnce() -> Result<String>,
) -> Result<String> {
    let resolved = std::fs::canonicalize(clang).unwrap_or_else(|_| clang.to_path_buf());
    let stamp = format!("{}\n{:?}\n", clang.display(), mtime(&resolved));
    let cache = cache_dir.join(name);
    if let Ok(text) = std::fs::read_to_string(&cache)
        && let Some(value) = text.strip_prefix(&stamp)
    {
        return Ok(value.to_string());
    }
    let value = compute()?;
    write_atomic(&cache, format!("{stamp}{value}").as_bytes(), false)?;
    Ok(value)
}

/// clang's system include directories, added with -idirafter so that
/// `<linux/types.h>` and friends resolve under `-target bpf` (as
/// libbpf-bootstrap does).
fn clang_system_includes(clang: &Path, cache_dir: &Path) -> Result<Vec<PathBuf>> {
    let text = cached_for_clang(clang, cache_dir, "clang-includes", || {
        let out = duct::cmd!(clang, "-v", "-E", "-")
            .stdin_bytes(Vec::new())
            .stderr_to_stdout()
            .stdout_capture()
            .unchecked()
            .run()
            .map_err(Error::io("run", clang))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut dirs = String::new();
        let mut inside = false;
        for line in text.lines() {
            if line.starts_with("#include <...> search starts here:") {
                inside = true;
            } else if line.starts_with("End of search list.") {
                break;
            } else if inside {
                dirs.push_str(line.trim());
                dirs.push('\n');
            }
        }
        Ok(dirs)
    })?;
    Ok(text.lines().map(PathBuf::from).collect())
}

/// Checks that clang can compile eBPF (version 11 or newer); returns
/// `clang N`.
fn check_clang(clang: &Path, cache_dir: &Path) -> Result<String> {
    cached_for_clang(clang, cache_dir, "clang-version", || {
        let out = duct::cmd!(clang, "--version")
            .stdout_capture()
            .unchecked()
            .run()
            .map_err(Error::io("run", clang))?;
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let major: u32 = first
            .split("version ")
            .nth(1)
            .and_then(|v| v.split('.').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if major < 11 {
            return Err(tools::tool("clang").missing(format!(
                "{} is `{first}`; eBPF CO-RE needs clang 11 or newer",
                clang.display()
            )));
        }
        Ok(format!("clang {major}"))
    })
}

/// Lists the programs in an eBPF object, from its ELF sections and symbols.
pub fn object_programs(path: &Path) -> Result<Vec<ProgramInfo>> {
    let data = std::fs::read(path).map_err(Error::io("read", path))?;
    let symbols = ebpf_object::program_symbols(&data).map_err(|e| Error::Object {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(symbols
        .into_iter()
        .map(|(name, section)| ProgramInfo {
            ty: classify_section(&section).map(|s| s.ty.name().to_string()),
            name,
            section,
        })
        .collect())
}

pub fn build(opts: &BuildOptions) -> Result<BuildReport> {
    let started = Instant::now();
    let (root, m) = manifest::locate(&opts.dir)?;
    let out_dir = root.join("target").join("ebpf").join(opts.arch.name());
    std::fs::create_dir_all(&out_dir).map_err(Error::io("create directory", &out_dir))?;
    let mut ctx = Ctx {
        progress: opts.progress,
        commands_run: 0,
        out_dir: out_dir.clone(),
    };
    let (artifacts, toolchain) = match m.package.language {
        Language::C => build_c(&m, &root, opts, &mut ctx)?,
        Language::Go => build_go(&m, &root, opts, &mut ctx)?,
        Language::Rust => crate::rust::build(&m, &root, opts, &mut ctx.progress_handle())?,
    };
    let verb = if ctx.commands_run == 0 {
        "Fresh"
    } else {
        "Finished"
    };
    ctx.status(
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
        commands_run: ctx.commands_run,
        toolchain,
    })
}

/// A handle the Rust builder uses to report progress and count commands.
pub struct Progress<'a> {
    ctx: &'a mut Ctx,
}

impl Progress<'_> {
    pub fn status(&self, verb: &str, what: impl std::fmt::Display) {
        self.ctx.status(verb, what)
    }
    pub fn out_dir(&self) -> &Path {
        &self.ctx.out_dir
    }
    /// Runs `argv` and returns its stdout; its stderr passes through.
    pub fn run_capturing_stdout(
        &mut self,
        what: &str,
        argv: &[OsString],
        env: &[(&str, OsString)],
        dir: &Path,
    ) -> Result<Vec<u8>> {
        self.ctx.exec(what, argv, env, dir, true)
    }
}

impl Ctx {
    fn progress_handle(&mut self) -> Progress<'_> {
        Progress { ctx: self }
    }
}

fn bpf_sources(dir: &Path) -> Result<Vec<PathBuf>> {
    files(dir, is_bpf_source)
}

fn includes_vmlinux(sources: &[PathBuf]) -> bool {
    sources.iter().any(|s| {
        std::fs::read_to_string(s)
            .is_ok_and(|t| t.contains("\"vmlinux.h\"") || t.contains("<vmlinux.h>"))
    })
}

/// The include directories of the kernel side, with a vmlinux.h found in the
/// project or generated into `target/ebpf/<arch>/include` from the running
/// kernel's BTF.
fn kernel_includes(
    m: &Manifest,
    root: &Path,
    bpf_dir: &Path,
    sources: &[PathBuf],
    arch: Arch,
    ctx: &mut Ctx,
) -> Result<Vec<PathBuf>> {
    let mut dirs = vec![bpf_dir.to_path_buf()];
    let inc = root.join("include");
    if inc.join(arch.name()).is_dir() {
        dirs.push(inc.join(arch.name()));
    }
    if inc.is_dir() {
        dirs.push(inc);
    }
    dirs.extend(m.build.include.iter().map(|d| root.join(d)));
    if includes_vmlinux(sources) && !dirs.iter().any(|d| d.join("vmlinux.h").is_file()) {
        let gen_dir = ctx.out_dir.join("include");
        let header = gen_dir.join("vmlinux.h");
        if !header.is_file() {
            let hint = format!(
                "run `cargo ebpf gen vmlinux --btf FILE --arch {arch} -o include/{arch}/vmlinux.h` with a BTF of a {arch} kernel"
            );
            generate_vmlinux(ctx, &header, arch, "vmlinux.h".into(), &hint)?;
        }
        dirs.push(gen_dir);
    }
    Ok(dirs)
}

/// Writes `header` (shown as `shown`) from the running kernel's BTF, which
/// only serves the host's architecture; `hint` says what to do otherwise.
fn generate_vmlinux(
    ctx: &mut Ctx,
    header: &Path,
    arch: Arch,
    shown: String,
    hint: &str,
) -> Result<()> {
    if arch != Arch::host() {
        return Err(Error::usage(format!(
            "no vmlinux.h for {arch}: the running kernel's BTF is {}; {hint}",
            Arch::host()
        )));
    }
    let btf = vmlinux::btf_source(None)?;
    ctx.status("Generating", format_args!("{shown} from {}", btf.display()));
    ctx.commands_run += 1;
    vmlinux::write_header(&btf, header)
}

fn rel<'a>(p: &'a Path, root: &Path) -> std::path::Display<'a> {
    p.strip_prefix(root).unwrap_or(p).display()
}

/// Compiles every `*.bpf.c` of the project into `<out>/<stem>.bpf.o`.
fn compile_bpf(
    m: &Manifest,
    root: &Path,
    bpf_dir: &Path,
    opts: &BuildOptions,
    ctx: &mut Ctx,
) -> Result<(Vec<Artifact>, String)> {
    let sources = bpf_sources(bpf_dir)?;
    if sources.is_empty() {
        return Err(Error::usage(format!(
            "no *.bpf.c sources in {}; set [build] bpf_dir in ebpf.toml if they are elsewhere",
            bpf_dir.display()
        )));
    }
    let clang = tools::clang()?;
    let cache_dir = root.join("target").join("ebpf");
    let version = check_clang(&clang, &cache_dir)?;
    let sys = clang_system_includes(&clang, &cache_dir)?;
    let includes = kernel_includes(m, root, bpf_dir, &sources, opts.arch, ctx)?;
    let mut artifacts = Vec::new();
    for src in &sources {
        let stem = src
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .trim_end_matches(".bpf.c");
        let out = ctx.out_dir.join(format!("{stem}.bpf.o"));
        let dep = ctx.out_dir.join(format!("{stem}.bpf.d"));
        let tmp = ctx.out_dir.join(format!(".{stem}.bpf.o.tmp"));
        let mut argv: Vec<OsString> = vec![
            clang.clone().into(),
            os("-g"),
            os("-O2"),
            os("-Wall"),
            os("-target"),
            os(opts.arch.bpf_target()),
            os(format!("-D__TARGET_ARCH_{}", opts.arch.bpf_target_arch())),
            os("-fno-stack-protector"),
            // No absolute paths in the output: the same sources give the same
            // bytes in any directory (reproducible images).
            os(format!("-ffile-prefix-map={}=.", root.display())),
        ];
        for d in &includes {
            argv.push(os(format!("-I{}", d.display())));
        }
        for d in &sys {
            argv.push(os("-idirafter"));
            argv.push(d.clone().into());
        }
        argv.extend(m.build.cflags.iter().map(OsString::from));
        argv.extend(compile_one(&dep, src, &tmp));
        let inputs = depfile_inputs(&dep).unwrap_or_else(|| vec![src.clone()]);
        let rebuilt = !fresh(&out, &argv, &inputs);
        if rebuilt {
            ctx.status(
                "Compiling",
                format_args!("{} ({version}, {})", rel(src, root), opts.arch),
            );
            ctx.run(&format!("compiling {}", rel(src, root)), &argv, &[], root)?;
            std::fs::rename(&tmp, &out).map_err(Error::io("write", &out))?;
            record(&out, &argv)?;
        }
        artifacts.push(Artifact::bpf_object(out, opts.arch, rebuilt)?);
    }
    Ok((artifacts, version))
}

fn build_c(
    m: &Manifest,
    root: &Path,
    opts: &BuildOptions,
    ctx: &mut Ctx,
) -> Result<(Vec<Artifact>, String)> {
    let bpf_dir = root.join(m.build.bpf_dir.as_deref().unwrap_or(Path::new("src")));
    let (mut artifacts, version) = compile_bpf(m, root, &bpf_dir, opts, ctx)?;

    // User space: every other *.c next to the kernel sources, one binary.
    let user = files(&bpf_dir, |p| {
        p.extension().is_some_and(|e| e == "c") && !is_bpf_source(p)
    })?;
    if user.is_empty() {
        return Ok((artifacts, version));
    }
    let cc: PathBuf = if opts.arch == Arch::host() {
        tools::tool("cc").require()?
    } else {
        which::which(opts.arch.cross_cc()).map_err(|_| {
            Error::usage(format!(
                "no C cross compiler for {0} user space ({1} not found); install gcc-{0}-linux-gnu and libbpf for {0}, or build the kernel side alone with `cargo ebpf build --arch {0}` in a project without user space",
                opts.arch,
                opts.arch.cross_cc()
            ))
        })?
    };
    tools::tool("libbpf").require()?;
    let bpftool = tools::tool("bpftool").require()?;

    // Skeletons: `<stem>.skel.h` with the object embedded.
    let mut skel_inputs = Vec::new();
    for a in &artifacts {
        let file = a.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let stem = file.trim_end_matches(".bpf.o");
        let skel = ctx.out_dir.join(format!("{stem}.skel.h"));
        let argv = vec![
            bpftool.clone().into(),
            os("gen"),
            os("skeleton"),
            a.path.clone().into(),
            os("name"),
            os(format!("{}_bpf", lang::ident(stem))),
        ];
        if !fresh(&skel, &argv, std::slice::from_ref(&a.path)) {
            ctx.status("Generating", format_args!("{stem}.skel.h (bpftool)"));
            ctx.run_to_file(&format!("generating the skeleton of {file}"), &argv, &skel)?;
            record(&skel, &argv)?;
        }
        skel_inputs.push(skel);
    }

    let static_link = m.build.static_link.unwrap_or(true);
    let obj_dir = ctx.out_dir.join("obj");
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
        argv.push(os(format!("-I{}", ctx.out_dir.display())));
        argv.push(os(format!("-I{}", bpf_dir.display())));
        if root.join("include").is_dir() {
            argv.push(os(format!("-I{}", root.join("include").display())));
        }
        argv.extend(compile_one(&dep, src, &obj));
        let mut inputs = depfile_inputs(&dep).unwrap_or_else(|| vec![src.clone()]);
        inputs.extend(skel_inputs.iter().cloned());
        if !fresh(&obj, &argv, &inputs) {
            ctx.status("Compiling", format_args!("{} (user space)", rel(src, root)));
            ctx.run(&format!("compiling {}", rel(src, root)), &argv, &[], root)?;
            record(&obj, &argv)?;
            any_rebuilt = true;
        }
        objects.push(obj);
    }
    let bin = ctx.out_dir.join(&m.package.name);
    let tmp_bin = ctx.out_dir.join(format!(".{}.tmp", m.package.name));
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
    let rebuilt = any_rebuilt || !fresh(&bin, &argv, &objects);
    if rebuilt {
        ctx.status(
            "Linking",
            format_args!(
                "{}{}",
                rel(&bin, root),
                if static_link { " (static)" } else { "" }
            ),
        );
        ctx.run(&format!("linking {}", m.package.name), &argv, &[], root)?;
        std::fs::rename(&tmp_bin, &bin).map_err(Error::io("write", &bin))?;
        record(&bin, &argv)?;
    }
    artifacts.push(Artifact::user_binary(bin, opts.arch, rebuilt));
    Ok((artifacts, version))
}

/// A directory with `clang` and `llvm-strip` pointing at the chosen clang,
/// for tools that call them by those names (bpf2go).
fn clang_shim(clang: &Path, out: &Path) -> Result<PathBuf> {
    let dir = out.join("bin");
    std::fs::create_dir_all(&dir).map_err(Error::io("create directory", &dir))?;
    let suffix = clang
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("clang"))
        .unwrap_or("");
    let strip = which::which(format!("llvm-strip{suffix}"))
        .or_else(|_| which::which("llvm-strip"))
        .map_err(|_| {
            tools::tool("clang").missing(format!("llvm-strip{suffix} is needed by bpf2go"))
        })?;
    for (name, target) in [("clang", clang.to_path_buf()), ("llvm-strip", strip)] {
        let link = dir.join(name);
        if std::fs::read_link(&link).ok().as_deref() != Some(target.as_path()) {
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&target, &link).map_err(Error::io("create", &link))?;
        }
    }
    Ok(dir)
}

fn newest(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && keep(p))
        .filter_map(|p| mtime(&p))
        .max()
}

fn build_go(
    m: &Manifest,
    root: &Path,
    opts: &BuildOptions,
    ctx: &mut Ctx,
) -> Result<(Vec<Artifact>, String)> {
    let go = tools::tool("go").require()?;
    let clang = tools::clang()?;
    let cache_dir = root.join("target").join("ebpf");
    let version = check_clang(&clang, &cache_dir)?;
    let bpf_dir = root.join(m.build.bpf_dir.as_deref().unwrap_or(Path::new("bpf")));
    let sources = bpf_sources(&bpf_dir)?;
    // bpf2go reads vmlinux.h from the bpf directory, as the go:generate line says.
    let header = bpf_dir.join("vmlinux.h");
    if includes_vmlinux(&sources) && !header.is_file() {
        let shown = rel(&header, root).to_string();
        let hint = format!("run `cargo ebpf gen vmlinux --btf FILE -o {shown}`");
        generate_vmlinux(ctx, &header, opts.arch, shown, &hint)?;
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
    let bpf_newest = newest(&bpf_dir, &|_| true);
    let before = generated()?;
    let go_generate_fresh = !before.is_empty()
        && before
            .iter()
            .all(|o| mtime(o).is_some_and(|t| bpf_newest.is_none_or(|n| n <= t)));
    let shim = clang_shim(&clang, &ctx.out_dir)?;
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
        ctx.status("Resolving", "Go modules (go mod tidy)");
        let argv = vec![go.clone().into(), os("mod"), os("tidy"), os("-e")];
        ctx.run("go mod tidy", &argv, &go_env, root)?;
    }
    if !go_generate_fresh {
        ctx.status(
            "Generating",
            format_args!("Go bindings and bytecode (bpf2go, {version})"),
        );
        let argv = vec![go.clone().into(), os("generate"), os("./...")];
        ctx.run("go generate", &argv, &go_env, root)?;
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
        let obj = ctx.out_dir.join(format!("{stem}.bpf.o"));
        let rebuilt = mtime(&obj).is_none_or(|t| mtime(generated_o).is_some_and(|g| g > t));
        if rebuilt {
            let bytes = std::fs::read(generated_o).map_err(Error::io("read", generated_o))?;
            write_atomic(&obj, &bytes, false)?;
        }
        artifacts.push(Artifact::bpf_object(obj, opts.arch, rebuilt)?);
    }

    let bin = ctx.out_dir.join(&m.package.name);
    let go_newest = [
        newest(root, &|p: &Path| {
            p.extension().is_some_and(|e| e == "go" || e == "o")
                || p.file_name()
                    .is_some_and(|n| n == "go.mod" || n == "go.sum")
        }),
        bpf_newest,
    ]
    .into_iter()
    .flatten()
    .max();
    let mut argv: Vec<OsString> = vec![go.into(), os("build"), os("-trimpath")];
    if opts.release {
        argv.extend([os("-ldflags"), os("-s -w")]);
    }
    argv.extend([os("-o"), bin.clone().into(), os(".")]);
    let bin_fresh =
        fresh(&bin, &argv, &[]) && mtime(&bin).is_some_and(|t| go_newest.is_none_or(|n| n <= t));
    if !bin_fresh {
        ctx.status(
            "Compiling",
            format_args!("{} (Go user space, static)", m.package.name),
        );
        ctx.run("go build", &argv, &go_env, root)?;
        record(&bin, &argv)?;
    }
    artifacts.push(Artifact::user_binary(bin, opts.arch, !bin_fresh));
    Ok((artifacts, format!("{version}, bpf2go")))
}
