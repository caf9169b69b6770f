//! Images: multi-architecture indexes, what skopeo and bpfman's rules
//! read of them, reproducible digests, and `package`'s answers to bad
//! input.

use crate::support::*;

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
    assert_eq!(
        ok(&list),
        "c-tracepoint.bpf.o\nbin/c-tracepoint\n",
        "one layer: the bytecode first, then the user space"
    );
    let first = Command::new("tar")
        .arg("-xzOf")
        .arg(&layer0)
        .arg("c-tracepoint.bpf.o")
        .output()
        .unwrap();
    let built = std::fs::read(
        dir.join("target/ebpf")
            .join(std::env::consts::ARCH)
            .join("c-tracepoint.bpf.o"),
    )
    .unwrap();
    assert!(
        first.stdout == ebpf_object::strip_debug(&built).unwrap(),
        "layer 0 does not hold the built object (its DWARF stripped)"
    );
    assert!(
        first.stdout.len() < built.len(),
        "the DWARF was not stripped: {} of {} bytes",
        first.stdout.len(),
        built.len()
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
        &serde_json::json!([{
            "path": "/etc/repro/limits.toml",
            "executable": false,
            "digest": digest_of(b"max = 3\n"),
        }])
    );
    let layers = i["platforms"][0]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{i}");
    assert_eq!(layers[0]["role"], "package");
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
        // libbpf knows it; bpf-runtime cannot run it (`tcx/ingress`, which
        // aya did not know, packages now: libbpf loads it).
        (
            good.replace("SEC(\"xdp\")", "SEC(\"iter/task\")"),
            "a libbpf program type cargo-ebpf does not package: an iterator runs when its file is read",
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
    let meta = i["platforms"][0]["config"].as_str().unwrap();
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
    // Manifest, config and the layer.
    assert!(
        text(&rmi.stderr).contains("(3 blobs freed)"),
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

/// Issue 17, finding 7: `[[file]] source` reaches only the project's own
/// files; a path or a link out of it, or an install path that is not a
/// clean absolute path, is refused before anything is written.
#[test]
fn package_refuses_files_outside_the_project() {
    let dir = new_project("pkg-files", "c", "xdp");
    let store = workdir().join("stores/files");
    let s = store.to_str().unwrap();
    let manifest = std::fs::read_to_string(dir.join("ebpf.toml")).unwrap();
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::write(dir.join("conf/ok.toml"), "x = 1\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("conf/link")).unwrap();
    let with_file = |source: &str, install: &str| {
        std::fs::write(
            dir.join("ebpf.toml"),
            format!("{manifest}\n[[file]]\nsource = \"{source}\"\ninstall = \"{install}\"\n"),
        )
        .unwrap();
        cargo_ebpf(&dir, &["package", "--store", s])
    };
    for source in [
        "/etc/passwd",
        "../../../../../../etc/passwd",
        "../no-such-file",
        "conf/../../x",
        "conf/link",
    ] {
        let line = fails(&with_file(source, "/etc/x.toml"), 2);
        assert!(
            line.contains(&format!(
                "file `{source}` listed in ebpf.toml is outside the project"
            )),
            "{source}: {line}"
        );
    }
    for install in ["etc/x.toml", "/etc/../shadow", "/etc/a b"] {
        let line = fails(&with_file("conf/ok.toml", install), 2);
        assert!(line.contains("install path"), "{install}: {line}");
    }
    // A `[[program]]` that names no program, and versions no tag can hold.
    std::fs::write(
        dir.join("ebpf.toml"),
        format!("{manifest}\n[[program]]\nname = \"count_pakets\"\ntype = \"xdp\"\n"),
    )
    .unwrap();
    let line = fails(&cargo_ebpf(&dir, &["package", "--store", s]), 2);
    assert!(
        line.contains("describes program `count_pakets`, which")
            && line.contains("does not define"),
        "{line}"
    );
    for version in ["", "../../x"] {
        let bad = manifest.replace("version = \"0.1.0\"", &format!("version = \"{version}\""));
        std::fs::write(dir.join("ebpf.toml"), bad).unwrap();
        let line = fails(&cargo_ebpf(&dir, &["package", "--store", s]), 2);
        assert!(
            line.contains("must be usable in a tag"),
            "{version:?}: {line}"
        );
    }
    assert!(
        !store.join("index.json").exists()
            || !std::fs::read_to_string(store.join("index.json"))
                .unwrap()
                .contains("pkg-files")
    );
    ok(&with_file("conf/ok.toml", "/etc/pkg-files/ok.toml"));

    // Issue 17: a failed `package --archive` still created the tag and left
    // its blobs. The archive is written before the tag now, and a failure
    // removes what the package added.
    let blobs = || {
        std::fs::read_dir(store.join("blobs/sha256"))
            .unwrap()
            .count()
    };
    let before = blobs();
    std::fs::write(dir.join("conf/ok.toml"), "x = 2\n").unwrap(); // new blobs
    let line = fails(
        &cargo_ebpf(
            &dir,
            &[
                "package",
                "--tag",
                "pkg-files:2",
                "--archive",
                "/proc/no-such-dir/x.tar",
                "--store",
                s,
            ],
        ),
        1,
    );
    assert!(line.contains("/proc/no-such-dir"), "{line}");
    let images = ok(&cargo_ebpf(&dir, &["images", "--store", s]));
    assert!(!images.contains("pkg-files:2"), "{images}");
    assert_eq!(blobs(), before, "the failed package's blobs are gone");
}

/// Issue 17, finding 15: terminal escapes in what a package says are shown,
/// not obeyed, by `inspect` in both tools (and in error lines).
#[test]
fn escapes_in_package_text_are_shown_not_obeyed() {
    let dir = new_project("pkg-escape", "c", "xdp");
    // A description that would set the window title and clear the screen.
    let m: String = std::fs::read_to_string(dir.join("ebpf.toml"))
        .unwrap()
        .lines()
        .map(|l| match l.starts_with("description = ") {
            true => r#"description = "\u001b]0;owned\u0007\u001b[2Jred""#.to_string() + "\n",
            false => format!("{l}\n"),
        })
        .collect();
    std::fs::write(dir.join("ebpf.toml"), m).unwrap();
    let store = workdir().join("stores/escape");
    let s = store.to_str().unwrap();
    ok(&cargo_ebpf(&dir, &["package", "--store", s]));
    let shown = ok(&cargo_ebpf(
        &dir,
        &["inspect", "pkg-escape:0.1.0", "--store", s],
    ));
    assert!(
        !shown.contains('\x1b') && !shown.contains('\x07'),
        "{shown:?}"
    );
    assert!(shown.contains("\\x1b]0;owned\\x07\\x1b[2Jred"), "{shown}");
    let images = ok(&cargo_ebpf(&dir, &["images", "--store", s]));
    assert!(!images.contains('\x1b'), "{images:?}");
    let runtime = Command::new(runtime_bin())
        .args(["inspect", "pkg-escape:0.1.0", "--store", s])
        .output()
        .unwrap();
    let shown = ok(&runtime);
    assert!(
        !shown.contains('\x1b') && shown.contains("\\x1b[2Jred"),
        "{shown:?}"
    );
}

/// Issue 17, finding 10: one damaged image broke `images` for the whole
/// store (naming a digest, not a tag), and a directory that is not a store
/// listed as empty.
#[test]
fn one_bad_image_does_not_hide_the_others() {
    let store = workdir().join("stores/images-bad");
    let _ = std::fs::remove_dir_all(&store);
    let s = store.to_str().unwrap();
    let xdp = c_project("xdp");
    let tp = c_project("tracepoint");
    for dir in [&xdp, &tp] {
        ok(&cargo_ebpf(dir, &["package", "--no-build", "--store", s]));
    }
    let i = json(&ok(&cargo_ebpf(
        &xdp,
        &["inspect", "c-xdp:0.1.0", "--json", "--store", s],
    )));
    let config = i["platforms"][0]["config"].as_str().unwrap();
    let path = store
        .join("blobs/sha256")
        .join(config.trim_start_matches("sha256:"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[5] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let out = cargo_ebpf(&xdp, &["images", "--store", s]);
    let table = ok(&out);
    assert!(
        table.contains("c-tracepoint:0.1.0") && table.contains("linux/amd64"),
        "{table}"
    );
    assert!(
        table.contains("c-xdp:0.1.0") && table.contains("(unreadable)"),
        "{table}"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: c-xdp:0.1.0: blob") && err.contains("is corrupted"),
        "{err}"
    );
    let rows = json(&ok(&cargo_ebpf(&xdp, &["images", "--json", "--store", s])));
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    // A directory that is not a store is said to be one, not listed empty.
    let not_a_store = workdir().join("not-a-store");
    std::fs::create_dir_all(&not_a_store).unwrap();
    std::fs::write(not_a_store.join("notes.txt"), "x").unwrap();
    let line = fails(
        &cargo_ebpf(&xdp, &["images", "--store", not_a_store.to_str().unwrap()]),
        1,
    );
    assert!(line.contains("is not an OCI image layout"), "{line}");
    // A store that does not exist yet is empty.
    let none = workdir().join("no-store-yet");
    assert_eq!(
        ok(&cargo_ebpf(
            &xdp,
            &["images", "--json", "--store", none.to_str().unwrap()]
        ))
        .trim(),
        "[]"
    );
}
