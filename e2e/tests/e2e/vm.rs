//! A second kernel under qemu, for what this machine's kernel cannot attach
//! (kprobes, fentry/fexit trampolines, the BPF LSM): Debian's packaged 6.1
//! kernel boots under software emulation with an initramfs holding busybox,
//! the static `bpf-runtime`, the binaries of generated projects and packaged
//! images as archives. `e2e/vm/init.sh` runs the scenarios in the guest
//! and prints `VM-PASS`/`VM-FAIL` lines on the serial console.
//!
//! The kernel is a parameter: `CARGO_EBPF_VM_KERNEL=PATH` boots any x86_64
//! kernel image (an openEuler `vmlinuz` taken from its RPM, a self-built
//! bzImage: it needs BTF, bpffs, tracefs and a serial console built in);
//! else `CARGO_EBPF_VM_KERNEL_PACKAGE` names a Debian kernel package
//! (default: the newest `linux-image-6.1.0-*-cloud-amd64` apt knows), fetched
//! with `apt-get download`. Without qemu the test skips, unless
//! `CARGO_EBPF_REQUIRE_VM=1` (as `.ci/run` sets) makes it mandatory.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

/// Where kernels are kept between runs (the work dir is emptied each run).
fn kernels_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("vm-kernels")
}

fn vm_available(test: &str) -> bool {
    if which("qemu-system-x86_64") && which("busybox") && which("cpio") {
        return true;
    }
    if std::env::var_os("CARGO_EBPF_REQUIRE_VM").is_some_and(|v| v == "1") {
        panic!("{test}: qemu-system-x86_64, busybox and cpio are required (bash ci/setup.sh vm)");
    }
    eprintln!(
        "skipping {test}: qemu-system-x86_64, busybox or cpio is missing (bash ci/setup.sh vm)"
    );
    false
}

fn which(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The kernel image to boot, and a name for it.
fn kernel_image() -> PathBuf {
    if let Some(k) = std::env::var_os("CARGO_EBPF_VM_KERNEL").filter(|k| !k.is_empty()) {
        return PathBuf::from(k);
    }
    let package = std::env::var("CARGO_EBPF_VM_KERNEL_PACKAGE")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| {
            let out = ok(&Command::new("apt-cache")
                .args([
                    "search",
                    "--names-only",
                    r"^linux-image-6\.1\.0-[0-9]+-cloud-amd64$",
                ])
                .output()
                .expect("apt-cache runs"));
            let mut names: Vec<(u32, String)> = out
                .lines()
                .filter_map(|l| {
                    let name = l.split_whitespace().next()?;
                    let n = name.strip_prefix("linux-image-6.1.0-")?.split('-').next()?;
                    Some((n.parse().ok()?, name.to_string()))
                })
                .collect();
            names.sort();
            names
                .pop()
                .expect("apt knows a linux-image-6.1.0-*-cloud-amd64 package")
                .1
        });
    let dir = kernels_dir().join(&package);
    let find = |dir: &Path| -> Option<PathBuf> {
        std::fs::read_dir(dir.join("x/boot"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
            })
    };
    if let Some(k) = find(&dir) {
        return k;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    ok(&Command::new("apt-get")
        .args(["download", &package])
        .current_dir(&dir)
        .output()
        .expect("apt-get runs"));
    let deb = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("apt-get download wrote a .deb");
    ok(&Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(dir.join("x"))
        .output()
        .unwrap());
    find(&dir).expect("the package holds boot/vmlinuz-*")
}

/// The static release `bpf-runtime`, as shipped to hosts.
fn static_runtime() -> PathBuf {
    let target = bin().parent().unwrap().parent().unwrap().to_path_buf();
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    cargo_build(
        &["--release", "-p", "bpf-runtime", "--target", &triple],
        &[("RUSTFLAGS", "-C target-feature=+crt-static")],
    );
    target.join(triple).join("release/bpf-runtime")
}

/// Copies `src` to `root/dest`, with the shared libraries it needs (a
/// static binary needs none).
fn install(root: &Path, src: &Path, dest: &str) {
    let to = root.join(dest.trim_start_matches('/'));
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(src, &to).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    let out = Command::new("ldd").arg(src).output().unwrap();
    for lib in text(&out.stdout).lines().filter_map(|l| {
        let path = l.split("=>").last()?.split_whitespace().next()?;
        path.starts_with('/').then(|| PathBuf::from(path))
    }) {
        let to = root.join(lib.strip_prefix("/").unwrap());
        if !to.exists() {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&lib, &to).unwrap();
        }
    }
}

/// Boots `kernel` with `initrd`; returns the serial console's output.
fn boot(kernel: &Path, initrd: &Path, limit: Duration) -> String {
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "1"])
        .args(["-nographic", "-no-reboot", "-kernel"])
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", "console=ttyS0 panic=-1 quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64 starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut all);
        String::from_utf8_lossy(&all).into_owned()
    });
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let _ = child.wait();
    reader.join().unwrap()
}

#[test]
fn guest_kernel_runs_kprobe_fentry_fexit_and_lsm_for_real() {
    if !vm_available("guest_kernel_runs_kprobe_fentry_fexit_and_lsm_for_real") {
        return;
    }
    let started = Instant::now();
    let kernel = kernel_image();
    let root = workdir().join("vm/root");
    let _ = std::fs::remove_dir_all(&root);
    for d in ["bin", "t", "pkgs", "lib64", "mods"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    install(&root, Path::new("/bin/busybox"), "/bin/busybox");
    install(&root, &static_runtime(), "/bin/bpf-runtime");
    // The clsact qdisc and the bpf classifier, modules in Debian's kernels:
    // tc filters on a kernel without tcx need both (init.sh loads them).
    for module in tc_modules(&kernel) {
        let name = module.file_name().unwrap().to_str().unwrap().to_string();
        install(&root, &module, &format!("/mods/{name}"));
    }
    let init = Path::new(env!("CARGO_MANIFEST_DIR")).join("vm/init.sh");
    install(&root, &init, "/init");
    std::fs::set_permissions(
        root.join("init"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    // The templates: kprobe, kretprobe, fentry and fexit in the three
    // languages; lsm in C and Go (aya has no LSM attach for Rust here).
    let mut expected = Vec::new();
    for lang in ["c", "go", "rust"] {
        for ty in ["kprobe", "kretprobe", "fentry", "fexit", "lsm"] {
            if lang == "rust" && ty == "lsm" {
                continue;
            }
            let dir = project(lang, ty);
            let name = format!("{lang}-{ty}");
            install(&root, &artifact(&dir), &format!("/t/{name}"));
            expected.push(name);
        }
    }
    // Kernel-only packages for the runtime, as archives.
    for ty in ["kprobe", "fentry", "lsm", "tc"] {
        let dir = c_project(ty);
        let archive = root.join(format!("pkgs/c-{ty}.tar"));
        let store = workdir().join("vm/store");
        ok(&cargo_ebpf(
            &dir,
            &[
                "package",
                "--no-build",
                "--force",
                "--archive",
                archive.to_str().unwrap(),
                "--store",
                store.to_str().unwrap(),
            ],
        ));
    }
    for s in [
        "kprobe",
        "fentry",
        "lsm",
        "tc",
        "features",
        "leaves_nothing",
    ] {
        expected.push(format!("runtime-{s}"));
    }
    // The corpus tools with kprobe and fentry hooks, as the corpus test
    // packaged them.
    std::fs::create_dir_all(root.join("corpus")).unwrap();
    let guest_tools = crate::corpus::guest_tools();
    for (tool, _) in &guest_tools {
        crate::corpus::corpus_archive(tool, &root.join(format!("corpus/{tool}.tar")));
    }

    let initrd = workdir().join("vm/initrd.gz");
    ok(&Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd '{}' && find . | cpio -o -H newc --quiet | gzip -1 > '{}'",
            root.display(),
            initrd.display()
        ))
        .output()
        .unwrap());
    let prepared = started.elapsed();
    let console = boot(&kernel, &initrd, Duration::from_secs(900));
    let booted = started.elapsed() - prepared;
    std::fs::write(workdir().join("vm/console.log"), &console).unwrap();

    let kernel_line = console
        .lines()
        .find(|l| l.starts_with("VM-KERNEL"))
        .unwrap_or("VM-KERNEL ?");
    eprintln!(
        "{kernel_line}: prepared in {:.0}s, guest ran {:.0}s",
        prepared.as_secs_f64(),
        booted.as_secs_f64()
    );
    let mut failures = Vec::new();
    for name in &expected {
        let passed = console
            .lines()
            .any(|l| l.starts_with(&format!("VM-PASS {name} ")));
        if !passed {
            failures.push(format!("--- {name}:\n{}", scenario_output(&console, name)));
        }
    }
    // Each corpus tool runs in the guest, or is refused there as the
    // corpus table says.
    for (tool, refused) in &guest_tools {
        let name = format!("corpus-{tool}");
        let section = scenario_output(&console, &name);
        let passed = console
            .lines()
            .any(|l| l.starts_with(&format!("VM-PASS {name} ")));
        match refused {
            None if !passed => failures.push(format!("--- {name} (expected to run):\n{section}")),
            Some(why) if passed || !section.contains(why) => failures.push(format!(
                "--- {name} (expected to be refused with \"{why}\"):\n{section}"
            )),
            _ => {}
        }
    }
    for l in console.lines().filter(|l| l.starts_with("VM-PASS")) {
        eprintln!("{l}");
    }
    assert!(
        console.contains("VM-DONE"),
        "the guest did not finish; its console:\n{console}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What the guest printed for scenario `name`.
fn scenario_output(console: &str, name: &str) -> String {
    let begin = format!("VM-BEGIN {name}");
    console
        .lines()
        .skip_while(|l| *l != begin)
        .take_while(|l| {
            !["VM-PASS", "VM-FAIL", "VM-LIMIT"]
                .iter()
                .any(|m| l.starts_with(m))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `sch_ingress.ko` and `cls_bpf.ko` of the kernel package `kernel` (its
/// `vmlinuz`) came from, where it has them as modules.
fn tc_modules(kernel: &Path) -> Vec<PathBuf> {
    let Some(root) = kernel.parent().and_then(Path::parent) else {
        return Vec::new();
    };
    let Ok(versions) = std::fs::read_dir(root.join("lib/modules")) else {
        return Vec::new();
    };
    versions
        .flatten()
        .flat_map(|v| {
            ["sch_ingress.ko", "cls_bpf.ko"].map(|m| v.path().join("kernel/net/sched").join(m))
        })
        .filter(|m| m.is_file())
        .collect()
}
