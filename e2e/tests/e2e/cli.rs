//! The command line's answers to bad input: one line, a named exit code.

use crate::support::*;

#[test]
fn bad_input_gets_one_clear_line() {
    let w = workdir();
    let line = fails(
        &cargo_ebpf(w, &["new", "Bad Name", "--lang", "c", "--type", "xdp"]),
        2,
    );
    assert!(line.contains("invalid project name `Bad Name`"), "{line}");
    let line = fails(
        &cargo_ebpf(w, &["new", "x1", "--lang", "cobol", "--type", "xdp"]),
        2,
    );
    assert!(
        line.starts_with(
            "error: invalid value 'cobol' for '--lang <LANG>'; [possible values: c, rust, go]"
        ),
        "{line}"
    );
    let line = fails(
        &cargo_ebpf(w, &["new", "x2", "--lang", "c", "--type", "xpd"]),
        2,
    );
    assert!(
        line.starts_with(
            "error: invalid value 'xpd' for '--type <TYPE>'; [possible values: xdp, tc,"
        ),
        "{line}"
    );
    // No TTY: a missing choice names the flag instead of prompting.
    let line = fails(&cargo_ebpf(w, &["new", "x3", "--lang", "c"]), 2);
    assert!(line.starts_with("error: missing --type"), "{line}");

    std::fs::create_dir_all(w.join("taken")).unwrap();
    std::fs::write(w.join("taken/file"), "x").unwrap();
    let line = fails(
        &cargo_ebpf(w, &["new", "taken", "--lang", "c", "--type", "xdp"]),
        2,
    );
    assert!(
        line.contains("exists and is not empty") && line.contains("--force"),
        "{line}"
    );
    ok(&cargo_ebpf(
        w,
        &["new", "taken", "--lang", "c", "--type", "xdp", "--force"],
    ));

    // Missing clang: names the tool and both install commands.
    let dir = c_project("xdp");
    let out = Command::new(bin())
        .args(["ebpf", "build"])
        .current_dir(&dir)
        .env("CLANG", "/nonexistent/clang")
        .output()
        .unwrap();
    let line = fails(&out, 3);
    assert!(
        line.contains("clang not found")
            && line.contains("apt-get install")
            && line.contains("dnf install"),
        "{line}"
    );

    // A broken source: clang's diagnostics, then one line with the command.
    let broken = new_project("broken", "c", "xdp");
    let src = broken.join("src/broken.bpf.c");
    let source = std::fs::read_to_string(&src)
        .unwrap()
        .replace("return XDP_PASS;", "return XDP_PASS");
    std::fs::write(&src, source).unwrap();
    let out = cargo_ebpf(&broken, &["build"]);
    let line = fails(&out, 4);
    assert!(
        line.starts_with("error: compiling src/broken.bpf.c failed"),
        "{line}"
    );
    assert!(line.contains("-target bpfel"), "{line}");
    assert!(
        text(&out.stderr).contains("expected ';'"),
        "clang's own message is shown"
    );
    assert!(
        !broken
            .join("target/ebpf")
            .join(std::env::consts::ARCH)
            .join("broken.bpf.o")
            .exists()
    );

    // Outside a project.
    let line = fails(&cargo_ebpf(Path::new("/"), &["build"]), 2);
    assert!(line.contains("no ebpf.toml"), "{line}");
}

/// Issue 17: Ctrl-C during `new` left its `.cargo-ebpf-new-*` staging
/// directory. Whenever a signal lands, there is either the whole project
/// or none of it; what a killed `new` left (a dead pid's directory) goes
/// with the next `new` in the same place, and a running one's stays.
#[test]
fn an_interrupted_new_leaves_a_whole_project_or_nothing() {
    let parent = workdir().join("new-signals");
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent).unwrap();
    let dead = {
        let mut c = cargo_ebpf_command()
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    };
    let left = parent.join(format!(".cargo-ebpf-new-{dead}-killed"));
    std::fs::create_dir_all(left.join("src")).unwrap();
    let live = parent.join(format!(".cargo-ebpf-new-{}-running", std::process::id()));
    std::fs::create_dir_all(&live).unwrap();

    for (i, sig) in ["INT", "TERM", "HUP", "INT", "KILL", "INT"]
        .iter()
        .enumerate()
    {
        let name = format!("p{i}");
        let mut child = cargo_ebpf_command()
            .args(["ebpf", "new", &name, "--lang", "c", "--type", "xdp"])
            .current_dir(&parent)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Aim inside the writing: once its staging directory exists.
        let mine = format!(".cargo-ebpf-new-{}-", child.id());
        while child.try_wait().unwrap().is_none()
            && !std::fs::read_dir(&parent)
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(&mine))
        {
            std::thread::yield_now();
        }
        let _ = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status();
        let status = child.wait().unwrap();
        let project = parent.join(&name);
        if status.success() {
            assert!(
                project.join("ebpf.toml").is_file(),
                "{name}: half a project"
            );
        } else {
            assert!(!project.exists(), "{name} ({status}): a half-made project");
        }
        if status.code() == Some(130) {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            assert!(
                err.contains("interrupted;") && err.contains("was not created"),
                "{err}"
            );
        }
    }
    ok(&cargo_ebpf(
        &parent,
        &["new", "last", "--lang", "c", "--type", "xdp"],
    ));
    let staging: Vec<String> = std::fs::read_dir(&parent)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".cargo-ebpf-new-"))
        .collect();
    assert_eq!(
        staging,
        [live.file_name().unwrap().to_string_lossy().into_owned()],
        "only the running one's staging directory stays"
    );
}

/// Issue 17: `cargo ebpf build -C DIR` with a relative DIR failed.
#[test]
fn build_and_package_take_a_relative_project_directory() {
    let dir = new_project("rel-dir", "c", "xdp");
    let parent = dir.parent().unwrap();
    let store = workdir().join("stores/rel-dir");
    ok(&cargo_ebpf(parent, &["build", "-C", "rel-dir"]));
    assert!(artifact(&dir).is_file());
    ok(&cargo_ebpf(
        parent,
        &[
            "package",
            "--no-build",
            "-C",
            "./rel-dir",
            "--store",
            store.to_str().unwrap(),
        ],
    ));
}
