//! End-to-end tests: the real `cargo-ebpf` binary, real compilers, and (as
//! root) the real kernel. Template projects are generated and built once,
//! into one directory shared by all tests of this binary.

mod docs;
mod registry;
mod runtime;
mod util;
mod vm;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use util::*;

const TYPES: [&str; 14] = [
    "xdp",
    "tc",
    "tracepoint",
    "raw_tracepoint",
    "kprobe",
    "kretprobe",
    "uprobe",
    "uretprobe",
    "fentry",
    "fexit",
    "cgroup_skb",
    "socket_filter",
    "perf_event",
    "lsm",
];

/// The tests' working directory, under cargo's target directory: the
/// projects are made anew on each run, while the shared Rust target beside
/// them is kept as a cache between runs.
fn workdir() -> &'static Path {
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
fn go_env() -> Vec<(&'static str, String)> {
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
fn rust_env() -> Vec<(&'static str, String)> {
    let shared = workdir().join("rust-target");
    vec![
        ("CARGO_TARGET_DIR", shared.display().to_string()),
        ("EBPF_TARGET_DIR", shared.join("ebpf").display().to_string()),
    ]
}

/// `cargo-ebpf ebpf ARGS` with the Go proxy and the shared Rust target set up.
fn cargo_ebpf_go(dir: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(bin());
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
fn project(lang: &str, ty: &str) -> PathBuf {
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
fn new_project(name: &str, lang: &str, ty: &str) -> PathBuf {
    ok(&cargo_ebpf(
        workdir(),
        &["new", name, "--lang", lang, "--type", ty, "--ci", "none"],
    ));
    workdir().join(name)
}

fn c_project(ty: &str) -> PathBuf {
    project("c", ty)
}

fn artifact(dir: &Path) -> PathBuf {
    let name = dir.file_name().unwrap().to_str().unwrap();
    dir.join("target/ebpf")
        .join(std::env::consts::ARCH)
        .join(name)
}

#[test]
fn list_has_a_line_per_language_and_type() {
    let out = ok(&cargo_ebpf(workdir(), &["new", "--list"]));
    for lang in ["c", "go", "rust"] {
        for ty in TYPES.iter().filter(|t| lang != "rust" || **t != "lsm") {
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
    assert_eq!(out.lines().count(), 3 * 14, "{out}");
}

fn templates_build_and_rebuild_with_no_compiler(lang: &str) {
    for ty in TYPES
        .iter()
        .copied()
        .filter(|t| lang != "rust" || *t != "lsm")
    {
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
    assert_eq!(roles, ["bytecode", "metadata", "userspace"], "{ty}: {i}");
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

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
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
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/libbpf-style");
    for f in std::fs::read_dir(&fixtures).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join("src").join(f.file_name().unwrap())).unwrap();
    }
    ok(&cargo_ebpf(&dir, &["init", "--lang", "c"]));
    let manifest = std::fs::read_to_string(dir.join("ebpf.toml")).unwrap();
    for (name, ty) in [
        ("handle_exec", "tracepoint"),
        ("do_unlinkat", "fentry"),
        ("kprobe_unlinkat", "kprobe"),
        ("kretprobe_unlinkat", "kretprobe"),
        ("uprobe_add", "uprobe"),
        ("usdt_auto_attach", "usdt"),
        ("profile", "perf_event"),
        ("tc_ingress", "tc"),
        ("socket_handler", "socket_filter"),
    ] {
        assert!(
            manifest.contains(&format!("name = \"{name}\"\ntype = \"{ty}\"")),
            "{name}/{ty} missing in:\n{manifest}"
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

/// The C xdp template built for x86_64 and aarch64 (bytecode only: there is
/// no cross C compiler here) and packaged as one image index, once. Returns
/// the project, its store and the index digest.
fn multi_arch_image() -> (PathBuf, PathBuf, String) {
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

#[test]
fn cross_arch_bytecode_for_aarch64() {
    // Both platforms in one image: an OCI index that skopeo resolves per arch.
    let (dir, store, _) = multi_arch_image();
    let s = store.to_str().unwrap();
    let reference = format!("oci:{s}:cross-xdp:0.1.0");
    let raw = json(&skopeo(&["inspect", "--raw", &reference]));
    let arches: Vec<&str> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    for arch in ["amd64", "arm64"] {
        let i = json(&skopeo(&["inspect", "--override-arch", arch, &reference]));
        assert_eq!(i["Architecture"], arch);
        assert_eq!(
            i["Labels"]["io.ebpf.programs"],
            r#"{"count_packets":"xdp"}"#
        );
    }
    let human = ok(&cargo_ebpf(
        &dir,
        &["inspect", "cross-xdp:0.1.0", "--store", s],
    ));
    assert!(human.contains("image index, 2 platform(s)"), "{human}");
    assert!(human.contains("linux/arm64 (aarch64"), "{human}");
}

/// skopeo, the independent OCI client; returns stdout.
fn skopeo(args: &[&str]) -> String {
    ok(&Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo runs"))
}

fn digest_of(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[test]
fn images_are_standard_and_read_as_bpfman_reads_them() {
    let dir = c_project("tracepoint");
    let store = workdir().join("stores/standard");
    let s = store.to_str().unwrap();
    let archive = workdir().join("c-tracepoint.tar");
    let report = json(&ok(&cargo_ebpf(
        &dir,
        &[
            "package",
            "--no-build",
            "--json",
            "--store",
            s,
            "--archive",
            archive.to_str().unwrap(),
        ],
    )));
    let digest = report["digest"].as_str().unwrap();
    let tag = "c-tracepoint:0.1.0";

    // skopeo reads the layout and the archive, and copies the image unchanged.
    let i = json(&skopeo(&["inspect", &format!("oci:{s}:{tag}")]));
    assert_eq!(i["Digest"], digest);
    let a = json(&skopeo(&[
        "inspect",
        &format!("oci-archive:{}", archive.display()),
    ]));
    assert_eq!(a["Digest"], digest);
    let copy = workdir().join("stores/skopeo-copy");
    skopeo(&[
        "copy",
        "-q",
        &format!("oci:{s}:{tag}"),
        &format!("oci:{}:{tag}", copy.display()),
    ]);
    let raw = skopeo(&["inspect", "--raw", &format!("oci:{}:{tag}", copy.display())]);
    assert_eq!(digest_of(raw.as_bytes()), digest);
    let again = json(&ok(&cargo_ebpf(
        &dir,
        &[
            "inspect",
            "--json",
            &format!("oci:{}:{tag}", copy.display()),
        ],
    )));
    assert_eq!(again["digest"], digest);

    // As bpfman reads it: the labels of the config, and the first entry of
    // the first layer, read here with plain JSON and the system's tar.
    let blob = |d: &str| {
        store
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let index = json(&std::fs::read_to_string(store.join("index.json")).unwrap());
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap();
    let manifest = json(&std::fs::read_to_string(blob(entry["digest"].as_str().unwrap())).unwrap());
    let config = json(
        &std::fs::read_to_string(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
    );
    let labels = &config["config"]["Labels"];
    let programs = json(labels["io.ebpf.programs"].as_str().unwrap());
    let maps = json(labels["io.ebpf.maps"].as_str().unwrap());
    assert_eq!(programs, serde_json::json!({"handle_exec": "tracepoint"}));
    assert_eq!(maps, serde_json::json!({"events": "ringbuf"}));
    let known: Vec<&str> = ebpf_kinds::TYPES.iter().filter_map(|t| t.bpfman).collect();
    for v in programs.as_object().unwrap().values() {
        assert!(known.contains(&v.as_str().unwrap()), "{v}");
    }
    let layer0 = &manifest["layers"][0];
    assert_eq!(
        layer0["mediaType"],
        "application/vnd.oci.image.layer.v1.tar+gzip"
    );
    let layer0 = blob(layer0["digest"].as_str().unwrap());
    let list = Command::new("tar")
        .arg("-tzf")
        .arg(&layer0)
        .output()
        .unwrap();
    assert_eq!(ok(&list), "c-tracepoint.bpf.o\n");
    let first = Command::new("tar")
        .arg("-xzOf")
        .arg(&layer0)
        .output()
        .unwrap();
    let built = std::fs::read(
        dir.join("target/ebpf")
            .join(std::env::consts::ARCH)
            .join("c-tracepoint.bpf.o"),
    )
    .unwrap();
    assert!(
        first.stdout == built,
        "layer 0 does not hold the built object"
    );

    // What a user needs to run it.
    let human = ok(&cargo_ebpf(&dir, &["inspect", tag, "--store", s]));
    for want in [
        "handle_exec          tracepoint",
        "record struct event { pid: __u32, uid: __u32, comm: char[16], filename: char[256] }",
        "target_uid           __u32          default 4294967295  report only execs by this user id",
        "kernel       Linux 5.8+",
        "user space   bin/c-tracepoint (static)",
    ] {
        assert!(human.contains(want), "missing `{want}` in:\n{human}");
    }
    let images = ok(&cargo_ebpf(&dir, &["images", "--store", s]));
    assert!(
        images.contains(tag) && images.contains("linux/amd64"),
        "{images}"
    );
}

#[test]
fn the_same_sources_package_to_the_same_digest() {
    let a = new_project("repro-a", "c", "xdp");
    let git = |dir: &Path, args: &[&str]| {
        ok(&Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
            .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
            .unwrap())
    };
    // An extra file, installed on hosts from the image's files layer.
    std::fs::create_dir_all(a.join("conf")).unwrap();
    std::fs::write(a.join("conf/limits.toml"), "max = 3\n").unwrap();
    let mut m = std::fs::read_to_string(a.join("ebpf.toml")).unwrap();
    m.push_str("\n[[file]]\nsource = \"conf/limits.toml\"\ninstall = \"/etc/repro/limits.toml\"\n");
    std::fs::write(a.join("ebpf.toml"), m).unwrap();
    git(&a, &["init", "-q"]);
    git(&a, &["add", "-A"]);
    git(&a, &["commit", "-qm", "start"]);
    // A copy made later, at another path, with every file touched anew.
    std::thread::sleep(Duration::from_millis(1100));
    let b = workdir().join("repro-b");
    ok(&Command::new("cp")
        .arg("-a")
        .arg(&a)
        .arg(&b)
        .output()
        .unwrap());
    ok(&Command::new("find")
        .arg(&b)
        .args(["-exec", "touch", "{}", "+"])
        .output()
        .unwrap());
    let digests: Vec<String> = [&a, &b]
        .iter()
        .map(|dir| {
            let store = dir.join("store");
            let r = json(&ok(&cargo_ebpf(
                dir,
                &[
                    "package",
                    "--json",
                    "--tag",
                    "repro:1",
                    "--store",
                    store.to_str().unwrap(),
                ],
            )));
            r["digest"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
    let store = a.join("store");
    let i = json(&ok(&cargo_ebpf(
        &a,
        &[
            "inspect",
            "repro:1",
            "--json",
            "--store",
            store.to_str().unwrap(),
        ],
    )));
    assert_eq!(i["platforms"][0]["created"], "2026-01-02T03:04:05Z");
    let files = &i["platforms"][0]["metadata"]["files"];
    assert_eq!(
        files,
        &serde_json::json!([{"path": "/etc/repro/limits.toml", "executable": false}])
    );
    let last = i["platforms"][0]["layers"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "files");
    let head = git(&a, &["rev-parse", "HEAD"]);
    assert_eq!(i["platforms"][0]["metadata"]["revision"], head.trim());
}

#[test]
fn package_bad_input_gets_one_clear_line() {
    let dir = new_project("pkg-bad", "c", "xdp");
    let store = workdir().join("stores/bad");
    let s = store.to_str().unwrap();
    let obj = dir
        .join("target/ebpf")
        .join(std::env::consts::ARCH)
        .join("pkg-bad.bpf.o");

    let line = fails(
        &cargo_ebpf(&dir, &["package", "--no-build", "--store", s]),
        2,
    );
    assert!(
        line.contains("no eBPF object for x86_64") && line.contains("run `cargo ebpf build"),
        "{line}"
    );

    std::fs::create_dir_all(obj.parent().unwrap()).unwrap();
    std::fs::copy("/bin/true", &obj).unwrap();
    let line = fails(
        &cargo_ebpf(&dir, &["package", "--no-build", "--store", s]),
        1,
    );
    assert!(
        line.contains("not an eBPF object: it is built for x86_64"),
        "{line}"
    );

    // Kernel sources with one flaw each (the user space goes: it needs a
    // working object).
    std::fs::remove_file(dir.join("src/pkg-bad.c")).unwrap();
    let src = dir.join("src/pkg-bad.bpf.c");
    let good = std::fs::read_to_string(&src).unwrap();
    for (flawed, want) in [
        (
            good.replace("SEC(\"license\")", "SEC(\"licence\")"),
            "no license: add a `license` section",
        ),
        (good.replace("SEC(\"xdp\")", ""), "no programs"),
        (
            good.replace("SEC(\"xdp\")", "SEC(\"xdp_custom\")"),
            "which names no program type cargo-ebpf knows",
        ),
        (
            good.replace("SEC(\"xdp\")", "SEC(\"tcx/ingress\")"),
            "is not one aya (the loader of bpf-runtime and bpfman) knows; name it `classifier`",
        ),
    ] {
        assert_ne!(flawed, good, "{want}");
        std::fs::write(&src, &flawed).unwrap();
        let line = fails(&cargo_ebpf(&dir, &["package", "--store", s]), 1);
        assert!(line.contains(want), "want `{want}`: {line}");
    }
    std::fs::write(&src, &good).unwrap();
    // Nothing was written by the failures.
    assert!(
        !store.exists()
            || ok(&cargo_ebpf(&dir, &["images", "--store", s]))
                .lines()
                .count()
                == 1
    );

    ok(&cargo_ebpf(&dir, &["package", "--store", s]));
    let line = fails(&cargo_ebpf(&dir, &["package", "--store", s]), 2);
    assert_eq!(
        line,
        "error: an image tagged `pkg-bad:0.1.0` exists already; remove it first or choose another tag"
    );
    ok(&cargo_ebpf(&dir, &["package", "--store", s, "--force"]));
    let line = fails(&cargo_ebpf(&dir, &["inspect", "nope:1", "--store", s]), 2);
    assert_eq!(line, "error: no image tagged `nope:1` in the store");

    // A flipped byte in the bytecode layer of a copy of the store.
    let broken = workdir().join("stores/broken");
    ok(&Command::new("cp")
        .arg("-a")
        .arg(&store)
        .arg(&broken)
        .output()
        .unwrap());
    let i = json(&ok(&cargo_ebpf(
        &dir,
        &["inspect", "pkg-bad:0.1.0", "--json", "--store", s],
    )));
    let layer0 = i["platforms"][0]["layers"][0]["digest"].as_str().unwrap();
    let meta = i["platforms"][0]["layers"][1]["digest"].as_str().unwrap();
    for d in [meta, layer0] {
        let path = broken
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
    }
    let b = broken.to_str().unwrap();
    let line = fails(
        &cargo_ebpf(&dir, &["inspect", "pkg-bad:0.1.0", "--store", b]),
        1,
    );
    assert!(
        line.contains(&format!("blob {meta} in")) && line.contains("is corrupted"),
        "{line}"
    );
    // Copying it into a good store stops at the bad blob and tags nothing.
    let line = fails(
        &cargo_ebpf(
            &dir,
            &[
                "tag",
                &format!("oci:{b}:pkg-bad:0.1.0"),
                "x:1",
                "--store",
                s,
            ],
        ),
        1,
    );
    assert!(line.contains("is corrupted"), "{line}");
    fails(&cargo_ebpf(&dir, &["inspect", "x:1", "--store", s]), 2);

    // A store that cannot be created: its parent is a file.
    let file = workdir().join("stores/a-file");
    std::fs::write(&file, "").unwrap();
    let line = fails(
        &cargo_ebpf(
            &dir,
            &["package", "--store", file.join("store").to_str().unwrap()],
        ),
        2,
    );
    assert!(
        line.contains("choose a writable store with --store DIR or CARGO_EBPF_STORE"),
        "{line}"
    );

    // tag and rmi: blobs stay while a tag uses them.
    ok(&cargo_ebpf(
        &dir,
        &["tag", "pkg-bad:0.1.0", "other:2", "--store", s],
    ));
    ok(&cargo_ebpf(&dir, &["rmi", "pkg-bad:0.1.0", "--store", s]));
    ok(&cargo_ebpf(&dir, &["inspect", "other:2", "--store", s]));
    let rmi = cargo_ebpf(&dir, &["rmi", "other:2", "--store", s]);
    ok(&rmi);
    // Manifest, config, bytecode and metadata (this project has no user space).
    assert!(
        text(&rmi.stderr).contains("(4 blobs freed)"),
        "{}",
        text(&rmi.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(store.join("blobs/sha256"))
        .unwrap()
        .collect();
    assert!(
        left.is_empty(),
        "blobs left after removing every tag: {left:?}"
    );
    let images = ok(&cargo_ebpf(&dir, &["images", "--json", "--store", s]));
    assert_eq!(json(&images), serde_json::json!([]));
}

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

/// Runs a template's binary for `secs` seconds; `trigger` runs once the
/// binary shows it has attached (its "...; Ctrl-C to stop" line on stderr,
/// or the first line of its output: event templates print their header
/// once attached), never after a fixed sleep: on a loaded machine
/// attaching may take seconds. Returns (exit code, stdout, stderr).
fn run_for(dir: &Path, args: &[&str], secs: u32, trigger: impl FnOnce()) -> (i32, String, String) {
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

/// Held while a test attaches programs to the kernel: XDP and tc on `lo`
/// take one program at a time, and counts must not mix.
/// `cargo build ARGS` of this workspace, in its target directory.
fn cargo_build(args: &[&str], envs: &[(&str, &str)]) {
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

/// `tests/fixtures/uprobe_target.c` built once: calls `tick` N times.
fn uprobe_target() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = workdir().join("uprobe-target");
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("ticker");
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/uprobe_target.c");
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

fn kernel_lock() -> std::sync::MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The largest number that follows `marker` in any of `lines`.
fn max_after<'a>(lines: impl Iterator<Item = &'a str>, marker: &str) -> u64 {
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

fn udp_to_loopback(n: usize) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..n {
        s.send_to(b"cargo-ebpf", "127.0.0.1:9").unwrap();
    }
}

#[test]
fn c_templates_run_in_the_kernel_and_leave_nothing() {
    if privileged("c_templates_run_in_the_kernel_and_leave_nothing") {
        templates_run_in_the_kernel_and_leave_nothing("c");
    }
}

#[test]
fn rust_templates_run_in_the_kernel_and_leave_nothing() {
    if privileged("rust_templates_run_in_the_kernel_and_leave_nothing") {
        templates_run_in_the_kernel_and_leave_nothing("rust");
    }
}

#[test]
fn go_templates_run_in_the_kernel_and_leave_nothing() {
    if privileged("go_templates_run_in_the_kernel_and_leave_nothing") {
        templates_run_in_the_kernel_and_leave_nothing("go");
    }
}

/// Templates of one language attached to the real kernel: each observes
/// what it is for. The generated programs of every language print the same
/// lines, so one set of checks serves them all. Runs one program at a time:
/// only one test per language binary does this.
fn templates_run_in_the_kernel_and_leave_nothing(lang: &str) {
    let _guard = kernel_lock();
    let c_project = |ty: &str| project(lang, ty);
    // Packets counted per protocol, at XDP, tc (both directions) and a socket filter.
    for (ty, extra) in [
        ("xdp", vec![]),
        ("tc", vec!["--direction", "egress"]),
        ("tc", vec![]),
        ("socket_filter", vec![]),
    ] {
        let dir = c_project(ty);
        let mut args = vec!["--iface", "lo"];
        args.extend(extra);
        let (code, out, err) = run_for(&dir, &args, 2, || udp_to_loopback(25));
        assert_eq!(code, 0, "{ty}: {err}");
        let udp = max_after(out.lines().filter(|l| l.contains(" UDP ")), "packets");
        assert!(udp >= 25, "{ty}: expected >= 25 UDP packets:\n{out}\n{err}");
    }

    // An exec seen through the ring buffer, with its file name.
    let dir = c_project("tracepoint");
    let (code, out, err) = run_for(&dir, &[], 2, || {
        Command::new("/bin/true").status().unwrap();
    });
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.ends_with("/bin/true") || l.ends_with("/usr/bin/true")),
        "{out}"
    );

    // Syscalls of one process only (--pid sets a .rodata constant).
    let dir = c_project("raw_tracepoint");
    let mut sleeper = Command::new("sleep").arg("5").spawn().unwrap();
    let pid = sleeper.id().to_string();
    let (code, out, err) = run_for(&dir, &["--pid", &pid], 2, || {});
    sleeper.kill().ok();
    sleeper.wait().ok();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("system calls; top"), "{out}");
    let (_, all, _) = run_for(&dir, &[], 2, || {});
    let total = |s: &str| {
        s.lines()
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    };
    assert!(
        total(&all) > total(&out),
        "filtered {} >= unfiltered {}",
        total(&out),
        total(&all)
    );

    // A function in a user binary, counted per process and returned values seen.
    let target = uprobe_target();
    let tgt = target.to_str().unwrap();
    // Probes `tick` in the test binary while it calls it `ticks` times.
    let probe_ticker = |ty: &str, ticks: &str| {
        let (code, out, err) = run_for(
            &c_project(ty),
            &["--binary", tgt, "--symbol", "tick"],
            3,
            || {
                let status = Command::new(&target)
                    .arg(ticks)
                    .stdout(Stdio::null())
                    .status();
                assert!(status.unwrap().success());
            },
        );
        assert_eq!(code, 0, "{ty}: {err}");
        out
    };
    let out = probe_ticker("uprobe", "10");
    let calls = out
        .lines()
        .filter(|l| l.contains("ticker"))
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    assert_eq!(calls, 10, "{out}");
    let out = probe_ticker("uretprobe", "4");
    let rets: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("ticker"))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(rets, ["0", "2", "4", "6"], "{out}");

    // cgroup traffic: this test's own UDP packets leave through its cgroup.
    let cg = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let v2 = cg
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .to_string();
    let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|r| {
            Path::new(r).join("cgroup.procs").exists()
                && std::fs::read_to_string(Path::new(r).join("cgroup.controllers")).is_ok()
        })
        .expect("a cgroup v2 mount");
    let cgroup = format!("{root}{}", v2.trim_end_matches('/'));
    let dir = c_project("cgroup_skb");
    let (code, out, err) = run_for(&dir, &["--cgroup", &cgroup], 2, || udp_to_loopback(20));
    assert_eq!(code, 0, "{err}");
    let egress = max_after(out.lines(), "egress packets");
    assert!(egress >= 20, "cgroup {cgroup}:\n{out}\n{err}");

    // The profiler samples a busy process.
    let dir = c_project("perf_event");
    let mut busy = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let (code, out, err) = run_for(&dir, &["--frequency", "199"], 2, || {});
    busy.kill().ok();
    busy.wait().ok();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains(" sh ") && l.contains("user")),
        "{out}"
    );

    // This kernel has no kprobes and refuses trampolines: one clear line
    // each (the qemu test, tests/vm.rs, runs them on a kernel that has both).
    let refused = "the kernel refuses this program type";
    for (ty, args, why) in [
        (
            "kprobe",
            vec!["--symbol", "do_unlinkat"],
            "kprobes need CONFIG_KPROBES",
        ),
        (
            "kretprobe",
            vec!["--symbol", "do_unlinkat"],
            "kprobes need CONFIG_KPROBES",
        ),
        ("fentry", vec![], refused),
        ("fexit", vec![], refused),
        ("lsm", vec![], refused),
    ] {
        if lang == "rust" && ty == "lsm" {
            continue; // no Rust lsm template (see templates/rust/unsupported.toml)
        }
        let dir = c_project(ty);
        let (code, out, err) = run_for(&dir, &args, 1, || {});
        if code == 0 {
            eprintln!("{ty} attached on this kernel: {out}");
            continue;
        }
        assert_eq!(code, 1, "{ty}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{ty}: one line expected:\n{err}");
        assert!(
            lines[0].starts_with("error: failed to ") && lines[0].contains(why),
            "{ty}: {err}"
        );
    }

    // Nothing of ours stays loaded.
    let names = [
        "count_packets",
        "handle_exec",
        "count_syscalls",
        "count_calls",
        "count_returns",
        "on_return",
        "on_unlink",
        "on_unlink_exit",
        "count_ingress",
        "count_egress",
        "on_sample",
        "restrict_mkdir",
    ];
    // The kernel frees programs shortly after their last descriptor closes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut left = loaded_programs(&names);
    while !left.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left = loaded_programs(&names);
    }
    assert!(left.is_empty(), "programs left loaded: {left:?}");
    let qdisc = Command::new("tc")
        .args(["qdisc", "show", "dev", "lo"])
        .output()
        .unwrap();
    assert!(!text(&qdisc.stdout).contains("clsact"), "clsact left on lo");
}
