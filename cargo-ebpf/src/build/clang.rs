//! clang: what it can do (cached while the binary is unchanged) and the
//! kernel side of C projects, `*.bpf.c` → `<stem>.bpf.o`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::artifact::Artifact;
use super::headers::kernel_includes;
use super::step::{Produces, Step, StepRunner, depfile_inputs, os};
use super::{BuildOptions, bpf_sources, rel};
use crate::error::{Error, Result};
use crate::fsutil::{mtime, write_atomic};
use crate::manifest::Manifest;
use crate::tools;

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
fn system_includes(clang: &Path, cache_dir: &Path) -> Result<Vec<PathBuf>> {
    let text = cached_for_clang(clang, cache_dir, "clang-includes", || {
        let out = duct::cmd!(clang, "-v", "-E", "-")
            .stdin_bytes(Vec::new())
            .stderr_to_stdout()
            .stdout_capture()
            .unchecked()
            .run()
            .map_err(Error::io("run", clang))?;
        Ok(search_list(&String::from_utf8_lossy(&out.stdout)))
    })?;
    Ok(text.lines().map(PathBuf::from).collect())
}

/// The `#include <...>` search list of `clang -v -E -`, a directory a line.
fn search_list(verbose: &str) -> String {
    let mut dirs = String::new();
    let mut inside = false;
    for line in verbose.lines() {
        if line.starts_with("#include <...> search starts here:") {
            inside = true;
        } else if line.starts_with("End of search list.") {
            break;
        } else if inside {
            dirs.push_str(line.trim());
            dirs.push('\n');
        }
    }
    dirs
}

/// Checks that clang can compile eBPF (version 11 or newer); returns
/// `clang N`.
pub fn check(clang: &Path, cache_dir: &Path) -> Result<String> {
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
        let major = major_version(&first);
        if major < 11 {
            return Err(tools::tool("clang").missing(format!(
                "{} is `{first}`; eBPF CO-RE needs clang 11 or newer",
                clang.display()
            )));
        }
        Ok(format!("clang {major}"))
    })
}

/// The major version in clang's first `--version` line (0 if none).
fn major_version(first_line: &str) -> u32 {
    first_line
        .split("version ")
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A directory with `clang` and `llvm-strip` pointing at the chosen clang,
/// for tools that call them by those names (bpf2go).
pub fn shim(clang: &Path, out: &Path) -> Result<PathBuf> {
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

/// The arguments that compile `src` to `out`, writing its dependencies to
/// `dep` (clang and gcc alike).
pub fn compile_one(dep: &Path, src: &Path, out: &Path) -> [OsString; 7] {
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

/// Compiles every `*.bpf.c` in `bpf_dir` into `<out>/<stem>.bpf.o`; returns
/// the objects and `clang N`.
pub fn compile_kernel_side(
    m: &Manifest,
    root: &Path,
    bpf_dir: &Path,
    opts: &BuildOptions,
    runner: &mut StepRunner,
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
    let version = check(&clang, &cache_dir)?;
    let sys = system_includes(&clang, &cache_dir)?;
    let includes = kernel_includes(m, root, bpf_dir, &sources, opts.arch, runner)?;
    let out_dir = runner.out_dir().to_path_buf();
    let mut artifacts = Vec::new();
    for src in &sources {
        let stem = src
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .trim_end_matches(".bpf.c");
        let out = out_dir.join(format!("{stem}.bpf.o"));
        let dep = out_dir.join(format!("{stem}.bpf.d"));
        let tmp = out_dir.join(format!(".{stem}.bpf.o.tmp"));
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
        let step = Step::new(format!("compiling {}", rel(src, root)), argv, out.clone())
            .produces(Produces::Temp(tmp))
            .inputs(depfile_inputs(&dep).unwrap_or_else(|| vec![src.clone()]))
            .shows(
                "Compiling",
                format!("{} ({version}, {})", rel(src, root), opts.arch),
            )
            .dir(root);
        let rebuilt = runner.step(&step)?;
        artifacts.push(Artifact::bpf_object(out, opts.arch, rebuilt)?);
    }
    Ok((artifacts, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clang_facts_are_read_from_its_output() {
        assert_eq!(major_version("Debian clang version 19.1.7 (3+b1)"), 19);
        assert_eq!(major_version("clang version 11.0.0"), 11);
        assert_eq!(major_version("gcc (Debian) 14.2.0"), 0);
        let verbose = "clang -cc1 ...\n#include \"...\" search starts here:\n#include <...> search starts here:\n /usr/lib/llvm-19/lib/clang/19/include\n /usr/include\nEnd of search list.\n /not/this\n";
        assert_eq!(
            search_list(verbose),
            "/usr/lib/llvm-19/lib/clang/19/include\n/usr/include\n"
        );
    }

    #[test]
    fn a_clang_fact_is_asked_once_per_clang_binary() {
        let dir = tempfile::tempdir().unwrap();
        let clang = dir.path().join("clang");
        std::fs::write(&clang, "").unwrap();
        let mut asked = 0;
        for _ in 0..2 {
            let v = cached_for_clang(&clang, dir.path(), "fact", || {
                asked += 1;
                Ok("clang 19".into())
            })
            .unwrap();
            assert_eq!(v, "clang 19");
        }
        assert_eq!(asked, 1, "the second call reads the cache");
        // Another clang (a changed binary) asks again.
        std::fs::File::options()
            .write(true)
            .open(&clang)
            .unwrap()
            .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(9))
            .unwrap();
        cached_for_clang(&clang, dir.path(), "fact", || {
            asked += 1;
            Ok("clang 20".into())
        })
        .unwrap();
        assert_eq!(asked, 2);
    }
}
