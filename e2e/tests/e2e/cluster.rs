//! Cluster manifests: `cargo ebpf cluster-manifest` writes, for every
//! template whose type bpfman-operator attaches, a ClusterBpfApplication
//! (and a namespaced BpfApplication) that bpfman-operator's own CRD schemas
//! accept (`e2e/validate-crd.py`: the openAPIV3Schema with strict fields and
//! the CRD's CEL rules), and refuses the rest with one line.

use crate::support::*;

fn crd(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/bpfman-operator")
        .join(format!("bpfman.io_{kind}.yaml"))
}

/// Validates `manifest` (text) against the CRD file `kind`; returns the
/// validator's complaints.
fn validate(kind: &str, manifest: &str, name: &str) -> Result<(), String> {
    let file = workdir().join("cluster").join(format!("{name}.yaml"));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, manifest).unwrap();
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("validate-crd.py"))
        .arg(crd(kind))
        .arg(&file)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", text(&out.stdout), text(&out.stderr)))
    }
}

#[test]
fn cluster_manifests_validate_against_bpfman_operators_crds() {
    let store = workdir().join("stores/cluster");
    let s = store.to_str().unwrap();
    let mut written = 0;
    for ty in types() {
        let info = ty.parse::<ebpf_kinds::ProgramType>().unwrap().info();
        let dir = c_project(ty);
        let report = json(&ok(&cargo_ebpf(
            &dir,
            &["package", "--no-build", "--json", "--store", s],
        )));
        let tag = report["tag"].as_str().unwrap();
        let url = format!("registry.example.com/ebpf/{tag}");
        let out = cargo_ebpf(
            &dir,
            &["cluster-manifest", tag, "--image", &url, "--store", s],
        );
        let Some(crd_type) = info.bpfman_operator else {
            let line = fails(&out, 2);
            assert!(
                line.contains(&format!(
                    "is {ty}, which a ClusterBpfApplication cannot attach"
                )),
                "{ty}: {line}"
            );
            continue;
        };
        let yaml = ok(&out);
        validate("clusterbpfapplications", &yaml, &format!("c-{ty}"))
            .unwrap_or_else(|e| panic!("{ty}: the CRD refuses:\n{e}\n{yaml}"));
        let m = json(&ok(&cargo_ebpf(
            &dir,
            &[
                "cluster-manifest",
                tag,
                "--image",
                &url,
                "--json",
                "--store",
                s,
            ],
        )));
        assert_eq!(m["kind"], "ClusterBpfApplication");
        assert_eq!(m["spec"]["byteCode"]["image"]["url"], url.as_str());
        let program = &m["spec"]["programs"][0];
        assert_eq!(program["type"], crd_type, "{ty}: {m}");
        written += 1;
    }
    assert_eq!(
        written, 9,
        "xdp, tc, tracepoint, k(ret)probe, u(ret)probe, fentry, fexit"
    );

    // The package's defaults and the flags reach the links.
    let dir = c_project("xdp");
    let s2 = ["--image", "r.example/x:1", "--store", s];
    let m = json(&ok(&cargo_ebpf(
        &dir,
        &[&["cluster-manifest", "c-xdp:0.1.0", "--json"][..], &s2].concat(),
    )));
    let link = &m["spec"]["programs"][0]["xdp"]["links"][0];
    assert_eq!(
        link["interfaceSelector"]["interfaces"],
        serde_json::json!(["lo"])
    );
    let m = json(&ok(&cargo_ebpf(
        &dir,
        &[
            &[
                "cluster-manifest",
                "c-xdp:0.1.0",
                "--json",
                "--iface",
                "eth0",
            ][..],
            &[
                "--node-selector",
                "kubernetes.io/os=linux",
                "--priority",
                "100",
            ],
            &s2,
        ]
        .concat(),
    )));
    let link = &m["spec"]["programs"][0]["xdp"]["links"][0];
    assert_eq!(
        link["interfaceSelector"]["interfaces"],
        serde_json::json!(["eth0"])
    );
    assert_eq!(link["priority"], 100);
    assert_eq!(
        m["spec"]["nodeSelector"],
        serde_json::json!({"matchLabels": {"kubernetes.io/os": "linux"}})
    );

    // A namespaced BpfApplication attaches inside the selected pods.
    let yaml = ok(&cargo_ebpf(
        &dir,
        &[
            &["cluster-manifest", "c-xdp:0.1.0", "--namespace", "web"][..],
            &["--pods", "app=frontend"],
            &s2,
        ]
        .concat(),
    ));
    validate("bpfapplications", &yaml, "c-xdp-namespaced")
        .unwrap_or_else(|e| panic!("the namespaced CRD refuses:\n{e}\n{yaml}"));
    let line = fails(
        &cargo_ebpf(
            &c_project("tracepoint"),
            &[
                &[
                    "cluster-manifest",
                    "c-tracepoint:0.1.0",
                    "--namespace",
                    "web",
                ][..],
                &["--pods", "app=frontend"],
                &s2,
            ]
            .concat(),
        ),
        2,
    );
    assert!(
        line.contains("which a namespaced BpfApplication cannot attach"),
        "{line}"
    );

    // globalData: `--set` values, checked and encoded as the variable's bytes.
    let tp = c_project("tracepoint");
    let m = json(&ok(&cargo_ebpf(
        &tp,
        &[
            &["cluster-manifest", "c-tracepoint:0.1.0", "--json"][..],
            &["--set", "target_uid=1000"],
            &s2,
        ]
        .concat(),
    )));
    assert_eq!(
        m["spec"]["globalData"]["target_uid"], "6AMAAA==",
        "1000 as a little-endian __u32"
    );
    let line = fails(
        &cargo_ebpf(
            &tp,
            &[
                &[
                    "cluster-manifest",
                    "c-tracepoint:0.1.0",
                    "--set",
                    "target_uid=-1",
                ][..],
                &s2,
            ]
            .concat(),
        ),
        2,
    );
    assert!(
        line.contains("--set target_uid=-1: -1 is out of range"),
        "{line}"
    );
    // A store tag that names no registry needs --image.
    let line = fails(
        &cargo_ebpf(
            &tp,
            &["cluster-manifest", "c-tracepoint:0.1.0", "--store", s],
        ),
        2,
    );
    assert!(line.contains("names no registry: pass --image"), "{line}");
}
