//! Helpers for the end-to-end tests: the built binary, temporary projects,
//! and the rule that privileged tests may skip only outside CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cargo-ebpf"))
}

/// `cargo-ebpf ebpf ARGS` in `dir`, as `cargo ebpf ARGS` runs it.
pub fn cargo_ebpf(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("ebpf")
        .args(args)
        .current_dir(dir)
        .env_remove("CLANG")
        .output()
        .expect("cargo-ebpf runs")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts failure with exit code `code` and one line on stderr starting
/// with `error: `; returns that line.
#[track_caller]
pub fn fails(out: &Output, code: i32) -> String {
    let err = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stderr:\n{err}\nstdout:\n{}",
        text(&out.stdout)
    );
    let last = err.lines().last().unwrap_or("").to_string();
    assert!(
        last.starts_with("error: "),
        "last stderr line is not an error: {err}"
    );
    last
}

/// Whether this process may load eBPF programs. Outside CI a test without
/// the capability skips with a reason; with CARGO_EBPF_REQUIRE_PRIVILEGED=1
/// (set by .ci/run) it fails instead.
pub fn privileged(test: &str) -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    if root && Path::new("/sys/kernel/btf/vmlinux").exists() {
        return true;
    }
    if std::env::var_os("CARGO_EBPF_REQUIRE_PRIVILEGED").is_some_and(|v| v == "1") {
        panic!(
            "{test}: needs root and kernel BTF, and CARGO_EBPF_REQUIRE_PRIVILEGED=1 makes it mandatory"
        );
    }
    eprintln!("skipping {test}: needs root (CAP_BPF) and kernel BTF");
    false
}

/// Programs loaded in the kernel whose names are in `names` (bpftool).
pub fn loaded_programs(names: &[&str]) -> Vec<String> {
    let out = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .expect("bpftool runs");
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter(|l| {
            names
                .iter()
                .any(|n| l.contains(&format!(" name {n} ")) || l.ends_with(&format!(" name {n}")))
        })
        .map(str::to_string)
        .collect()
}
