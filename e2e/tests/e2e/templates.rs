//! Templates: `cargo ebpf new` for every language and type, built,
//! rebuilt with nothing to do, packaged and inspected; `init` over existing
//! libbpf-style sources; the generated build files without cargo-ebpf;
//! `gen vmlinux`.

use crate::support::*;

#[test]
fn list_has_a_line_per_language_and_type() {
    let out = ok(&cargo_ebpf(workdir(), &["new", "--list"]));
    for lang in ["c", "go", "rust"] {
        for ty in types().filter(|t| lang != "rust" || *t != "lsm") {
            let line = out
                .lines()
                .find(|l| l.split_whitespace().take(2).collect::<Vec<_>>() == [lang, ty])
                .unwrap_or_else(|| panic!("no `{lang} {ty}` line in:\n{out}"));
            assert!(!line.contains("unavailable"), "{line}");
        }
    }
    let lsm = out.lines().find(|l| l.starts_with("rust  lsm")).unwrap();
    assert!(
        lsm.contains("unavailable: ") && lsm.contains("CO-RE"),
        "{lsm}"
    );
    assert_eq!(out.lines().count(), 3 * types().count(), "{out}");
}

fn templates_build_and_rebuild_with_no_compiler(lang: &str) {
    for ty in types().filter(|t| lang != "rust" || *t != "lsm") {
        let dir = project(lang, ty);
        assert!(artifact(&dir).is_file(), "{ty}: no user-space binary");
        if lang == "go" {
            // Generated Go is as gofmt writes it.
            let unformatted = ok(&Command::new("gofmt")
                .arg("-l")
                .arg(".")
                .current_dir(&dir)
                .output()
                .unwrap());
            assert_eq!(unformatted.trim(), "", "{ty}: not gofmt-formatted");
        }
        let out = ok(&cargo_ebpf_go(&dir, &["build", "--message-format", "json"]));
        let lines: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON lines"))
            .collect();
        let last = lines.last().unwrap();
        assert_eq!(last["reason"], "build-finished");
        // C and Go: nothing runs. Rust: cargo runs and finds everything fresh.
        let allowed = if lang == "rust" { 1 } else { 0 };
        assert!(
            last["commands_run"].as_u64() <= Some(allowed),
            "{ty}: a no-op build ran commands: {out}"
        );
        for art in lines.iter().filter(|l| l["reason"] == "artifact") {
            assert_eq!(art["rebuilt"], false, "{ty}: {art}");
        }
        let obj = lines
            .iter()
            .find(|l| l["kind"] == "bpf-object")
            .expect("a bpf object");
        let programs = obj["programs"].as_array().unwrap();
        assert!(!programs.is_empty(), "{ty}: no programs in {obj}");
        for p in programs {
            assert_eq!(p["type"], ty, "{ty}: {p}");
        }
        template_packages(&dir, ty);
    }
}

/// Packages a built template into the shared test store and checks what
/// `inspect` says of it.
fn template_packages(dir: &Path, ty: &str) {
    let store = workdir().join("stores/templates");
    let store = store.to_str().unwrap();
    let report = json(&ok(&cargo_ebpf(
        dir,
        &["package", "--no-build", "--json", "--store", store],
    )));
    let tag = report["tag"].as_str().unwrap();
    let i = json(&ok(&cargo_ebpf(
        dir,
        &["inspect", tag, "--json", "--store", store],
    )));
    let md = &i["platforms"][0]["metadata"];
    let roles: Vec<&str> = i["platforms"][0]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["package"], "{ty}: {i}");
    for p in md["object"]["programs"].as_array().unwrap() {
        assert_eq!(p["type"], ty, "{ty}: {p}");
    }
    let info = ty.parse::<ebpf_kinds::ProgramType>().unwrap().info();
    for spec in info
        .args
        .iter()
        .filter(|a| a.required && a.default.is_none())
    {
        let name = spec.arg.name();
        let has_default = md["object"]["programs"][0]["attach"][name].is_null();
        assert!(!has_default, "{ty}: no default for {name}: {md}");
    }
    if info.output == ebpf_kinds::Output::Events {
        let maps = md["object"]["maps"].as_array().unwrap();
        let events = maps.iter().find(|m| m["display"] == "events");
        let record = &events.unwrap_or_else(|| panic!("{ty}: no event map: {md}"))["record"];
        assert_eq!(record["kind"], "struct", "{ty}: no record type: {md}");
        assert!(record["fields"].as_array().unwrap().len() >= 2, "{record}");
    }
}

#[test]
fn every_c_template_builds_and_rebuilds_with_no_compiler() {
    templates_build_and_rebuild_with_no_compiler("c");
}

#[test]
fn every_go_template_builds_and_rebuilds_with_no_compiler() {
    templates_build_and_rebuild_with_no_compiler("go");
}

#[test]
fn every_rust_template_builds_and_rebuilds_with_no_compiler() {
    templates_build_and_rebuild_with_no_compiler("rust");
}

#[test]
fn touching_a_source_rebuilds_only_what_depends_on_it() {
    let dir = c_project("raw_tracepoint");
    let user = dir.join("src/c-raw-tracepoint.c");
    let text = std::fs::read_to_string(&user).unwrap();
    std::fs::write(&user, format!("{text}\n/* touched */\n")).unwrap();
    let out = ok(&cargo_ebpf(&dir, &["build", "--message-format", "json"]));
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let obj = lines.iter().find(|l| l["kind"] == "bpf-object").unwrap();
    let bin = lines.iter().find(|l| l["kind"] == "user-binary").unwrap();
    assert_eq!(obj["rebuilt"], false, "{out}");
    assert_eq!(bin["rebuilt"], true, "{out}");
    assert_eq!(
        lines.last().unwrap()["commands_run"],
        2,
        "compile + link: {out}"
    );
}

#[test]
fn make_builds_the_c_template_without_cargo_ebpf() {
    let dir = new_project("make-xdp", "c", "xdp");
    let out = Command::new("make").current_dir(&dir).output().unwrap();
    ok(&out);
    assert!(artifact(&dir).is_file());
    assert!(
        !dir.join(".github").exists(),
        "--ci none still wrote a workflow"
    );
}

#[test]
fn go_generate_and_go_build_work_without_cargo_ebpf() {
    let dir = new_project("plain-go", "go", "xdp");
    // bpf2go calls `clang` and `llvm-strip`: put the installed ones first on PATH.
    let bin_dir = workdir().join("plain-go-bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    for (name, candidates) in [
        ("clang", ["clang-19", "clang-22"]),
        ("llvm-strip", ["llvm-strip-19", "llvm-strip-22"]),
    ] {
        let target = candidates
            .iter()
            .map(|c| Path::new("/usr/bin").join(c))
            .find(|p| p.exists())
            .expect("clang-19 or clang-22 installed by ci/setup.sh");
        let _ = std::os::unix::fs::symlink(target, bin_dir.join(name));
    }
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
    for args in [
        &["mod", "tidy", "-e"][..],
        &["generate", "./..."],
        &["build", "-o", "plain-go", "."],
    ] {
        let out = Command::new("go")
            .args(args)
            .current_dir(&dir)
            .env("PATH", &path)
            .envs(go_env())
            .output()
            .unwrap();
        ok(&out);
    }
    assert!(dir.join("plain-go").is_file());
}

#[test]
fn init_builds_existing_libbpf_style_sources_unchanged() {
    let dir = workdir().join("existing");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/libbpf-style");
    for f in std::fs::read_dir(&fixtures).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join("src").join(f.file_name().unwrap())).unwrap();
    }
    ok(&cargo_ebpf(&dir, &["init", "--lang", "c"]));
    let manifest = std::fs::read_to_string(dir.join("ebpf.toml")).unwrap();
    // Three sources: each program names the object that defines it.
    for (name, object, ty) in [
        ("handle_exec", "ringbuf", "tracepoint"),
        ("do_unlinkat", "tracing", "fentry"),
        ("kprobe_unlinkat", "tracing", "kprobe"),
        ("kretprobe_unlinkat", "tracing", "kretprobe"),
        ("uprobe_add", "tracing", "uprobe"),
        ("usdt_auto_attach", "tracing", "usdt"),
        ("profile", "tracing", "perf_event"),
        ("tc_ingress", "net", "tc"),
        ("socket_handler", "net", "socket_filter"),
    ] {
        assert!(
            manifest.contains(&format!(
                "name = \"{name}\"\nobject = \"{object}\"\ntype = \"{ty}\""
            )),
            "{name}/{object}/{ty} missing in:\n{manifest}"
        );
    }
    let out = ok(&cargo_ebpf(&dir, &["build", "--message-format", "json"]));
    let objects: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["kind"] == "bpf-object")
        .collect();
    assert_eq!(objects.len(), 3, "{out}");
    // A second init refuses to overwrite the manifest.
    let line = fails(&cargo_ebpf(&dir, &["init", "--lang", "c"]), 2);
    assert!(line.contains("ebpf.toml exists already"), "{line}");
}

#[test]
fn gen_vmlinux_rust_bindings() {
    let out = cargo_ebpf(
        workdir(),
        &[
            "gen",
            "vmlinux",
            "--rust",
            "task_struct,ethhdr",
            "-o",
            "vmlinux.rs",
        ],
    );
    ok(&out);
    let rs = std::fs::read_to_string(workdir().join("vmlinux.rs")).unwrap();
    assert!(rs.contains("pub struct task_struct"), "no task_struct");
    assert!(rs.contains("pub struct ethhdr"), "no ethhdr");
    let line = fails(
        &cargo_ebpf(workdir(), &["gen", "vmlinux", "--rust", "no_such_type_x"]),
        2,
    );
    assert!(line.contains("no type `no_such_type_x`"), "{line}");
}
