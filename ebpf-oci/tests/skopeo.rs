//! skopeo, an independent OCI client, reads what the store writes.

use std::process::Command;

use ebpf_oci::Layout;
use oci_spec::image::{
    Descriptor, ImageConfigurationBuilder, ImageManifestBuilder, MediaType, RootFsBuilder,
};

/// Runs skopeo, asserts success, returns its stdout.
fn skopeo(args: &[&str]) -> Vec<u8> {
    let out = Command::new("skopeo").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn skopeo_inspects_and_copies_a_stored_image() {
    if Command::new("skopeo").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CARGO_EBPF_REQUIRE_PRIVILEGED").is_none(),
            "skopeo is required in CI (ci/setup.sh test)"
        );
        eprintln!("skipping: skopeo is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Layout::open_or_create(dir.path().join("store")).unwrap();
    // An uncompressed tar layer of one empty file, so diff_id == digest.
    let mut tar = vec![0u8; 512 * 3];
    tar[..5].copy_from_slice(b"x.o\0\0");
    tar[100..107].copy_from_slice(b"000644\0");
    tar[124..136].copy_from_slice(b"00000000000\0");
    tar[156] = b'0';
    tar[257..263].copy_from_slice(b"ustar\0");
    tar[263..265].copy_from_slice(b"00");
    tar[148..156].copy_from_slice(b"        ");
    let sum: u32 = tar[..512].iter().map(|b| u32::from(*b)).sum();
    tar[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let layer = store.put_blob(&tar).unwrap();
    let config = ImageConfigurationBuilder::default()
        .architecture("amd64")
        .os("linux")
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![layer.to_string()])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let config = store.put_json(MediaType::ImageConfig, &config).unwrap();
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config)
        .layers(vec![Descriptor::new(
            MediaType::ImageLayer,
            tar.len() as u64,
            layer,
        )])
        .build()
        .unwrap();
    let desc = store.put_json(MediaType::ImageManifest, &manifest).unwrap();
    store.tag("demo:0.1.0", &desc, false).unwrap();

    let src = format!("oci:{}:demo:0.1.0", store.root().display());
    let raw: serde_json::Value =
        serde_json::from_slice(&skopeo(&["inspect", "--raw", &src])).unwrap();
    assert_eq!(
        raw["layers"][0]["digest"],
        manifest.layers()[0].digest().to_string()
    );

    // A copy verifies every blob; it lands with the same manifest digest.
    let copy = dir.path().join("copy");
    let dst = format!("oci:{}:demo:0.1.0", copy.display());
    skopeo(&["copy", "--quiet", "--preserve-digests", &src, &dst]);
    let copied = Layout::open(&copy).unwrap();
    assert_eq!(
        copied.resolve("demo:0.1.0").unwrap().digest(),
        desc.digest()
    );
}
