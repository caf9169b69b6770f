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
