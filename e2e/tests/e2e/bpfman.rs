//! bpfman's side of an image: every template's image, published to a real
//! registry, is pulled the way bpfman v0.6.0 pulls it — oci-client's
//! `Client::pull` with exactly its two accepted layer media types — and its
//! bytecode read the way bpfman reads it: the first downloaded layer, checked
//! against the manifest's first layer digest, its tar's first entry; the
//! programs and maps from the config's labels, in bpfman's names.

use std::collections::HashMap;
use std::io::Read as _;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::manifest::{IMAGE_DOCKER_LAYER_GZIP_MEDIA_TYPE, IMAGE_LAYER_GZIP_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::Digest as _;

use crate::registry::Registry;
use crate::support::*;

/// bpfman's map type names (its `MapType` display names).
const BPFMAN_MAP_TYPES: &[&str] = &[
    "hash",
    "array",
    "prog_array",
    "perf_event_array",
    "per_cpu_hash",
    "per_cpu_array",
    "stack_trace",
    "cgroup_array",
    "lru_hash",
    "lru_per_cpu_hash",
    "lpm_trie",
    "array_of_maps",
    "hash_of_maps",
    "devmap",
    "sockmap",
    "cpumap",
    "xskmap",
    "sockhash",
    "cgroup_storage",
    "reuseport_sockarray",
    "per_cpu_cgroup_storage",
    "queue",
    "stack",
    "sk_storage",
    "devmap_hash",
    "struct_ops",
    "ringbuf",
    "inode_storage",
    "task_storage",
    "bloom_filter",
    "user_ringbuf",
    "cgrp_storage",
    "arena",
];

/// What bpfman gets from an image: the bytecode and its two labels.
struct Pulled {
    bytecode: Vec<u8>,
    programs: HashMap<String, String>,
    maps: HashMap<String, String>,
}

/// Pulls `image` exactly as bpfman v0.6.0's `get_image_labels` and
/// `get_bytecode_from_image_store` do (over plain HTTP: the registry is on
/// loopback).
fn bpfman_pull(image: &str) -> Pulled {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reference: Reference = image.parse().unwrap();
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let auth = RegistryAuth::Anonymous;
    runtime.block_on(async {
        let (manifest, _, config) = client
            .pull_manifest_and_config(&reference, &auth)
            .await
            .unwrap_or_else(|e| panic!("{image}: pull_manifest_and_config: {e}"));
        let data = client
            .pull(
                &reference,
                &auth,
                vec![
                    IMAGE_LAYER_GZIP_MEDIA_TYPE,
                    IMAGE_DOCKER_LAYER_GZIP_MEDIA_TYPE,
                ],
            )
            .await
            .unwrap_or_else(|e| panic!("{image}: bpfman's pull fails: {e}"))
            .layers
            .into_iter()
            .next()
            .expect("a layer")
            .data;
        // bpfman keeps whichever layer came first and checks it against
        // layers[0]: only an image with one layer passes every time.
        assert_eq!(manifest.layers.len(), 1, "{image}: bpfman needs one layer");
        let sha = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&data)));
        assert_eq!(
            sha, manifest.layers[0].digest,
            "{image}: \"Bpf Bytecode has been compromised\""
        );
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&data[..]));
        let mut first = archive
            .entries()
            .unwrap()
            .next()
            .expect("an entry")
            .unwrap();
        let mut bytecode = Vec::new();
        first.read_to_end(&mut bytecode).unwrap();
        let config: serde_json::Value = serde_json::from_str(&config).unwrap();
        let labels = config["config"]["Labels"].as_object().expect("Labels");
        let label = |name: &str| -> HashMap<String, String> {
            serde_json::from_str(labels[name].as_str().unwrap())
                .unwrap_or_else(|e| panic!("{image}: {name}: {e}"))
        };
        Pulled {
            bytecode,
            programs: label("io.ebpf.programs"),
            maps: label("io.ebpf.maps"),
        }
    })
}

/// The one eBPF object a built project has for this host.
fn built_object(dir: &Path) -> Vec<u8> {
    let out = dir.join("target/ebpf").join(std::env::consts::ARCH);
    let objects: Vec<PathBuf> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".bpf.o"))
        .collect();
    assert_eq!(objects.len(), 1, "{objects:?}");
    std::fs::read(&objects[0]).unwrap()
}

/// Checks what bpfman pulled of `image`: the built object `bytecode` with
/// its DWARF stripped (as `package` does), bpfman's map types.
fn check(pulled: &Pulled, image: &str, bytecode: &[u8]) {
    assert!(
        pulled.bytecode == ebpf_object::strip_debug(bytecode).unwrap(),
        "{image}: the first entry is not the built object (stripped)"
    );
    assert_eq!(pulled.bytecode[5], 1, "{image}: little-endian, as the host");
    assert!(!pulled.programs.is_empty(), "{image}");
    for t in pulled.maps.values() {
        assert!(
            BPFMAN_MAP_TYPES.contains(&t.as_str()),
            "{image}: map type {t} is not bpfman's"
        );
    }
}

#[test]
fn bpfman_pulls_every_template_image_and_reads_its_bytecode() {
    let reg = Registry::start("bpfman", None, false);
    let store = workdir().join("stores/bpfman");
    let s = store.to_str().unwrap();
    for lang in ["c", "go", "rust"] {
        for ty in types().filter(|t| lang != "rust" || *t != "lsm") {
            let dir = project(lang, ty);
            let report = json(&ok(&cargo_ebpf(
                &dir,
                &["package", "--no-build", "--json", "--store", s],
            )));
            let tag = report["tag"].as_str().unwrap();
            let image = format!("{}/{tag}", reg.host());
            ok(&cargo_ebpf(
                &dir,
                &["publish", &image, "--image", tag, "--store", s],
            ));
            let pulled = bpfman_pull(&image);
            check(&pulled, &image, &built_object(&dir));
            // bpfman loads by function name and its own type names.
            let known: Vec<&str> = ebpf_kinds::TYPES.iter().filter_map(|t| t.bpfman).collect();
            let info = ty.parse::<ebpf_kinds::ProgramType>().unwrap().info();
            for (name, t) in &pulled.programs {
                let expected = info.bpfman.unwrap_or(info.name);
                assert_eq!(t, expected, "{image}: program {name}");
                if info.bpfman.is_some() {
                    assert!(known.contains(&t.as_str()));
                }
            }
        }
    }
    // Two platforms, kernel only: oci-client picks this host's from the index.
    let (dir, multi, _) = multi_arch_image();
    let image = format!("{}/cross-xdp:0.1.0", reg.host());
    ok(&cargo_ebpf(
        &dir,
        &[
            "publish",
            &image,
            "--image",
            "cross-xdp:0.1.0",
            "--store",
            multi.to_str().unwrap(),
        ],
    ));
    let pulled = bpfman_pull(&image);
    check(&pulled, &image, &built_object(&dir));
    assert_eq!(pulled.programs.len(), 1);
}
