//! What the end-to-end tests share: the binaries under test, the working
//! directory, template projects built once, running a program until it has
//! attached, and the rule that privileged tests may skip only outside CI.

pub use std::path::{Path, PathBuf};
pub use std::process::{Command, Output, Stdio};
pub use std::sync::{Mutex, OnceLock};
pub use std::time::Duration;

/// The name of every program type `cargo ebpf new` has a template for,
/// from the table that owns them.
pub fn types() -> impl Iterator<Item = &'static str> {
    ebpf_kinds::TYPES
        .iter()
        .filter(|t| t.templated)
        .map(|t| t.name)
}

/// The `cargo-ebpf` under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_e2e-cargo-ebpf"))
}

/// The `bpf-runtime` under test.
pub fn runtime_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_e2e-bpf-runtime"))
}

/// `cargo-ebpf ARGS`, with `run` handing over to the runtime under test
/// (not whatever `bpf-runtime` is beside it or on PATH).
pub fn cargo_ebpf_command() -> Command {
    let mut c = Command::new(bin());
    c.env("CARGO_EBPF_RUNTIME", runtime_bin());
    c
}

/// `cargo-ebpf ebpf ARGS` in `dir`, as `cargo ebpf ARGS` runs it.
pub fn cargo_ebpf(dir: &Path, args: &[&str]) -> Output {
    cargo_ebpf_command()
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

/// The tests' working directory, under cargo's target directory: the
/// projects are made anew on each run, while the shared Rust target beside
/// them is kept as a cache between runs.
pub fn workdir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name() != "rust-target" {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

/// A Go module proxy made from Debian's Go sources (ci/go-offline-proxy.py):
/// this machine reaches no public Go proxy.
pub fn go_env() -> Vec<(&'static str, String)> {
    static PROXY: OnceLock<PathBuf> = OnceLock::new();
    let dir = PROXY.get_or_init(|| {
        let dir = workdir().join("goproxy");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/go-offline-proxy.py");
        ok(&Command::new("python3")
            .arg(script)
            .arg(&dir)
            .output()
            .unwrap());
        dir
    });
    vec![
        ("GOPROXY", format!("file://{}", dir.display())),
        ("GOSUMDB", "off".into()),
        ("GONOSUMDB", "*".into()),
        ("GOFLAGS", "-mod=mod".into()),
    ]
}

/// Rust projects share one target directory and one build of `core` for
/// the eBPF target, so aya and its dependencies are compiled once for all.
pub fn rust_env() -> Vec<(&'static str, String)> {
    let shared = workdir().join("rust-target");
    vec![
        ("CARGO_TARGET_DIR", shared.display().to_string()),
        ("EBPF_TARGET_DIR", shared.join("ebpf").display().to_string()),
    ]
}

/// `cargo-ebpf ebpf ARGS` with the Go proxy and the shared Rust target set up.
pub fn cargo_ebpf_go(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = cargo_ebpf_command();
    cmd.arg("ebpf")
        .args(args)
        .current_dir(dir)
        .env_remove("CLANG");
    for (k, v) in go_env().into_iter().chain(rust_env()) {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Generates and builds the template of `lang` and `ty` once; returns the
/// project dir.
pub fn project(lang: &str, ty: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let name = format!("{lang}-{}", ty.replace('_', "-"));
    let dir = workdir().join(&name);
    if !built.contains(&name) {
        ok(&cargo_ebpf(
            workdir(),
            &["new", &name, "--lang", lang, "--type", ty],
        ));
        ok(&cargo_ebpf_go(&dir, &["build"]));
        built.push(name);
    }
    dir
}

/// A fresh project without CI pipelines, for one test to change or build.
pub fn new_project(name: &str, lang: &str, ty: &str) -> PathBuf {
    ok(&cargo_ebpf(
        workdir(),
        &["new", name, "--lang", lang, "--type", ty, "--ci", "none"],
    ));
    workdir().join(name)
}

pub fn c_project(ty: &str) -> PathBuf {
    project("c", ty)
}

pub fn artifact(dir: &Path) -> PathBuf {
    let name = dir.file_name().unwrap().to_str().unwrap();
    dir.join("target/ebpf")
        .join(std::env::consts::ARCH)
        .join(name)
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Runs a template's binary for `secs` seconds; `trigger` runs once the
/// binary shows it has attached (its "...; Ctrl-C to stop" line on stderr,
/// or the first line of its output: event templates print their header
/// once attached), never after a fixed sleep: on a loaded machine
/// attaching may take seconds. Returns (exit code, stdout, stderr).
pub fn run_for(
    dir: &Path,
    args: &[&str],
    secs: u32,
    trigger: impl FnOnce(),
) -> (i32, String, String) {
    use std::io::BufRead as _;
    let mut child = Command::new(artifact(dir))
        .args(args)
        .args(["--duration", &secs.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (attached_tx, attached_rx) = std::sync::mpsc::channel();
    let read = |pipe: Box<dyn std::io::Read + Send>, attached: fn(&str) -> bool| {
        let tx = attached_tx.clone();
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if attached(&line) {
                    let _ = tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()), |_| true);
    let stderr = read(Box::new(child.stderr.take().unwrap()), |l| {
        l.contains("Ctrl-C to stop")
    });
    drop(attached_tx);
    // The line comes, or the binary exits (closing both pipes) and the
    // test reads why below.
    let _ = attached_rx.recv_timeout(Duration::from_secs(120));
    trigger();
    let status = child.wait().unwrap();
    (
        status.code().unwrap_or(-1),
        stdout.join().unwrap(),
        stderr.join().unwrap(),
    )
}

/// `cargo build ARGS` of this workspace, in its target directory.
pub fn cargo_build(args: &[&str], envs: &[(&str, &str)]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    ok(&Command::new(cargo)
        .arg("build")
        .args(args)
        .arg("--manifest-path")
        .arg(manifest)
        .envs(envs.iter().copied())
        .output()
        .unwrap());
}

/// `e2e/fixtures/uprobe_target.c` built once: calls `tick` N times.
pub fn uprobe_target() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = workdir().join("uprobe-target");
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("ticker");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/uprobe_target.c");
        ok(&Command::new("cc")
            .args(["-O1", "-o"])
            .arg(&bin)
            .arg(&src)
            .output()
            .unwrap());
        bin
    })
    .clone()
}

/// Held while a test attaches programs to the kernel: XDP and tc on `lo`
/// take one program at a time, and counts must not mix.
pub fn kernel_lock() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The largest number that follows `marker` in any of `lines`.
pub fn max_after<'a>(lines: impl Iterator<Item = &'a str>, marker: &str) -> u64 {
    lines
        .filter_map(|l| {
            l.split(marker)
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

pub fn udp_to_loopback(n: usize) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..n {
        s.send_to(b"cargo-ebpf", "127.0.0.1:9").unwrap();
    }
}

/// skopeo, the independent OCI client; returns stdout.
pub fn skopeo(args: &[&str]) -> String {
    ok(&Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo runs"))
}

pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The C xdp template built for x86_64 and aarch64 (bytecode only: there is
/// no cross C compiler here) and packaged as one image index, once. Returns
/// the project, its store and the index digest.
pub fn multi_arch_image() -> (PathBuf, PathBuf, String) {
    static IMAGE: OnceLock<(PathBuf, PathBuf, String)> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let dir = new_project("cross-xdp", "c", "xdp");
            // The host's vmlinux.h stands in for an aarch64 one: XDP needs no pt_regs.
            let inc = dir.join("include/aarch64");
            std::fs::create_dir_all(&inc).unwrap();
            ok(&cargo_ebpf(
                &dir,
                &["gen", "vmlinux", "-o", "include/aarch64/vmlinux.h"],
            ));
            // A project without user space builds bytecode alone.
            std::fs::remove_file(dir.join("src/cross-xdp.c")).unwrap();
            let out = ok(&cargo_ebpf(
                &dir,
                &["build", "--arch", "aarch64", "--message-format", "json"],
            ));
            assert!(out.contains("\"arch\":\"aarch64\""), "{out}");
            assert!(dir.join("target/ebpf/aarch64/cross-xdp.bpf.o").is_file());
            let store = workdir().join("stores/multi");
            let report = json(&ok(&cargo_ebpf(
                &dir,
                &[
                    "package",
                    "--arch",
                    "x86_64",
                    "--arch",
                    "aarch64",
                    "--json",
                    "--store",
                    store.to_str().unwrap(),
                ],
            )));
            assert_eq!(
                report["media_type"],
                "application/vnd.oci.image.index.v1+json"
            );
            let digest = report["digest"].as_str().unwrap().to_string();
            (dir, store, digest)
        })
        .clone()
}
