//! Signed packages, both ways with the real cosign (issue 18): cosign
//! verifies what cargo-ebpf signs (and signs with cargo-ebpf's keys);
//! bpf-runtime runs what cosign signs, and refuses a signature by another
//! key, a signature of another digest, a tampered payload, and an unsigned
//! image under a policy that requires one — before anything loads.

use super::registry::{Registry, home};
use super::runtime::{bpfman_style_execsnoop, nothing_left, runtime, start};
use super::support::*;

pub(super) const PASSWORD: &str = "correct horse";

/// `cosign ARGS` with the key password, no prompts, and its own home (no
/// developer's Docker credentials).
fn cosign(home: &Path, args: &[&str]) -> Output {
    Command::new("cosign")
        .args(args)
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("COSIGN_YES", "true")
        .env("HOME", home)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("SIGSTORE_NO_CACHE", "1")
        .current_dir(home)
        .output()
        .expect("cosign runs (installed by ci/setup.sh)")
}

/// `cargo ebpf ARGS` with the key password and its own config home.
pub(super) fn ebpf(home: &Path, args: &[&str], password: &str) -> Output {
    cargo_ebpf_command()
        .arg("ebpf")
        .args(args)
        .env("COSIGN_PASSWORD", password)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("DOCKER_CONFIG", home.join("docker"))
        .current_dir(home)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A policy file in `dir` requiring a signature by `keys` for `scope`.
pub(super) fn policy(dir: &Path, name: &str, scope: &str, keys: &[&Path]) -> PathBuf {
    let keys: Vec<String> = keys
        .iter()
        .map(|k| format!("{:?}", k.display().to_string()))
        .collect();
    let text = format!(
        "[[scope]]\nname = {scope:?}\nrequire = \"signature\"\nkeys = [{}]\n",
        keys.join(", ")
    );
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn cosign_verifies_what_cargo_ebpf_signs_and_signs_with_its_keys() {
    let reg = Registry::start("signing", None, false);
    let home = home("signing");
    let h = home.to_str().unwrap();
    let dir = c_project("tracepoint");
    let store = workdir().join("stores/signing");
    let _ = std::fs::remove_dir_all(&store);
    let s = store.to_str().unwrap();

    // A key pair in cosign's format; its id on stdout.
    let id = ok(&ebpf(
        &home,
        &["keygen", "--output", &format!("{h}/ours")],
        PASSWORD,
    ));
    let id = id.trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 23, "{id}");
    let key = home.join("ours.key");
    let public = home.join("ours.pub");
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Never over an existing key.
    fails(
        &ebpf(
            &home,
            &["keygen", "--output", &format!("{h}/ours")],
            PASSWORD,
        ),
        2,
    );

    // Packaged and signed, into the store and an archive.
    let archive = home.join("signed.tar");
    let dir_arg = dir.to_str().unwrap();
    let packaged = json(&ok(&ebpf(
        &home,
        &[
            "package",
            "-C",
            dir_arg,
            "--no-build",
            "--force",
            "--json",
            "--store",
            s,
            "--archive",
            archive.to_str().unwrap(),
            "--sign",
            "--key",
            key.to_str().unwrap(),
        ],
        PASSWORD,
    )));
    let tag = packaged["tag"].as_str().unwrap().to_string();
    let digest = packaged["digest"].as_str().unwrap().to_string();
    let trusted = policy(&home, "policy.toml", "local", &[&public]);
    let p = trusted.to_str().unwrap();
    for image in [tag.as_str(), archive.to_str().unwrap()] {
        let i = json(&ok(&ebpf(
            &home,
            &["inspect", image, "--store", s, "--json", "--policy", p],
            PASSWORD,
        )));
        assert_eq!(i["trust"]["accepted"], true, "{image}: {i}");
        assert_eq!(i["trust"]["signed_by"][0], id.as_str(), "{i}");
        assert_eq!(i["signatures"][0]["digest"], digest.as_str(), "{i}");
    }
    let human = ok(&ebpf(
        &home,
        &["inspect", &tag, "--store", s, "--policy", p],
        PASSWORD,
    ));
    assert!(
        human.contains(&format!("accepted: signed by {id}")),
        "{human}"
    );
    // `images` lists the image, not its signature tag.
    let images = json(&ok(&ebpf(
        &home,
        &["images", "--json", "--store", s],
        PASSWORD,
    )));
    assert!(
        images
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["tag"].as_str().unwrap().ends_with(".sig")),
        "{images}"
    );
    // A wrong password is one line, exit 2, and nothing signed.
    let e = fails(
        &ebpf(
            &home,
            &["sign", &tag, "--store", s, "--key", key.to_str().unwrap()],
            "wrong",
        ),
        2,
    );
    assert!(e.contains("password does not open the key"), "{e}");

    // Published with its signature; cosign verifies it with our public key.
    let target = format!("{}/team/tracepoint:0.1.0", reg.host());
    let out = ok(&ebpf(
        &home,
        &["publish", &target, "--image", &tag, "--store", s],
        PASSWORD,
    ));
    assert!(out.contains(&digest), "{out}");
    let verified = cosign(
        &home,
        &[
            "verify",
            "--key",
            public.to_str().unwrap(),
            "--insecure-ignore-tlog=true",
            "--allow-http-registry",
            &target,
        ],
    );
    let stdout = ok(&verified);
    let claims = json(
        stdout
            .lines()
            .find(|l| l.starts_with('['))
            .unwrap_or(&stdout),
    );
    assert_eq!(
        claims[0]["critical"]["image"]["docker-manifest-digest"],
        digest.as_str(),
        "{claims}"
    );
    // cosign refuses it under a key that did not sign it.
    ok(&cosign(
        &home,
        &["generate-key-pair", "--output-key-prefix", "theirs"],
    ));
    let other = cosign(
        &home,
        &[
            "verify",
            "--key",
            "theirs.pub",
            "--insecure-ignore-tlog=true",
            "--allow-http-registry",
            &target,
        ],
    );
    assert!(!other.status.success(), "{}", text(&other.stderr));

    // cosign signs with our sealed key; a pull brings both signatures.
    ok(&cosign(
        &home,
        &[
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--tlog-upload=false",
            "--allow-http-registry",
            &format!("{}/team/tracepoint@{digest}", reg.host()),
        ],
    ));
    let fresh = workdir().join("stores/signing-pulled");
    let _ = std::fs::remove_dir_all(&fresh);
    let f = fresh.to_str().unwrap();
    ok(&ebpf(&home, &["pull", &target, "--store", f], PASSWORD));
    let remote = policy(
        &home,
        "remote.toml",
        &format!("{}/team", reg.host()),
        &[&public],
    );
    let i = json(&ok(&ebpf(
        &home,
        &[
            "inspect",
            &target,
            "--store",
            f,
            "--json",
            "--policy",
            remote.to_str().unwrap(),
        ],
        PASSWORD,
    )));
    assert_eq!(i["trust"]["signatures"], 2, "{i}");
    assert!(
        i["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["verified_by"] == id.as_str()),
        "{i}"
    );
    // Removing the image takes its signatures with it.
    ok(&ebpf(&home, &["rmi", &target, "--store", f], PASSWORD));
    let index = std::fs::read_to_string(fresh.join("index.json")).unwrap();
    assert!(!index.contains(".sig"), "{index}");
}

/// The digest of a registry manifest, as skopeo reads it.
fn manifest_digest(reference: &str) -> String {
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    digest_of(raw.as_bytes())
}

#[test]
fn runtime_runs_what_cosign_signs_and_refuses_the_rest() {
    if !privileged("runtime_runs_what_cosign_signs_and_refuses_the_rest") {
        return;
    }
    let reg = Registry::start("cosigned", None, false);
    let home = home("cosigned");
    let source = bpfman_style_execsnoop("cosigned-layout");
    let signed = format!("{}/foreign/execsnoop:1", reg.host());
    let unsigned = format!("{}/foreign/unsigned:1", reg.host());
    let other_digest = format!("{}/foreign/docker:1", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &source,
        &format!("docker://{signed}"),
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &source,
        &format!("docker://{unsigned}"),
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &source,
        &format!("docker://{other_digest}"),
    ]);
    let digest = manifest_digest(&signed);

    // The real cosign signs it (a key pair of its own, no transparency log).
    ok(&cosign(
        &home,
        &["generate-key-pair", "--output-key-prefix", "cosign"],
    ));
    ok(&cosign(
        &home,
        &["generate-key-pair", "--output-key-prefix", "stranger"],
    ));
    ok(&cosign(
        &home,
        &[
            "sign",
            "--key",
            "cosign.key",
            "--tlog-upload=false",
            "--allow-http-registry",
            &format!("{}/foreign/execsnoop@{digest}", reg.host()),
        ],
    ));
    let scope = format!("{}/foreign", reg.host());
    let good = policy(&home, "good.toml", &scope, &[&home.join("cosign.pub")]);
    let strange = policy(&home, "strange.toml", &scope, &[&home.join("stranger.pub")]);
    let run = |image: &str, store: &str, policy: Option<&Path>| -> Output {
        let mut args = vec!["run", image, "--store", store, "--json", "--duration", "1s"];
        let p;
        if let Some(policy) = policy {
            p = policy.display().to_string();
            args.extend(["--policy", p.as_str()]);
        }
        runtime(&args, &[])
    };
    let fresh = |name: &str| {
        let d = workdir().join("stores").join(name);
        let _ = std::fs::remove_dir_all(&d);
        d.to_str().unwrap().to_string()
    };
    let _guard = kernel_lock();

    // No policy written: root's built-in one wants a signature from a
    // registry and trusts no key yet.
    let e = fails(&run(&signed, &fresh("cosigned-none"), None), 5);
    assert!(
        e.contains("trusts no key") && e.contains("/etc/bpf-runtime/policy.toml"),
        "{e}"
    );
    // Signed, but by a key the policy does not trust.
    let e = fails(&run(&signed, &fresh("cosigned-strange"), Some(&strange)), 5);
    assert!(e.contains("refused") && e.contains("none counts"), "{e}");
    // The same bytes in a repository where nobody signed them.
    let e = fails(&run(&unsigned, &fresh("cosigned-unsigned"), Some(&good)), 5);
    assert!(e.contains("it has none"), "{e}");
    // A signature of another digest, copied beside this image.
    let other = manifest_digest(&other_digest);
    let sig_tag = |d: &str| format!("sha256-{}.sig", d.trim_start_matches("sha256:"));
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!(
            "docker://{}/foreign/execsnoop:{}",
            reg.host(),
            sig_tag(&digest)
        ),
        &format!("docker://{}/foreign/docker:{}", reg.host(), sig_tag(&other)),
    ]);
    let e = fails(
        &run(&other_digest, &fresh("cosigned-other"), Some(&good)),
        5,
    );
    assert!(e.contains("signs another image"), "{e}");
    nothing_left(&["handle_exec"]);

    // Signed by the trusted key: it runs, and sees what happens.
    let store = fresh("cosigned-good");
    let child = start(&[
        "run",
        &signed,
        "--store",
        &store,
        "--json",
        "--duration",
        "3s",
        "--policy",
        good.to_str().unwrap(),
    ]);
    for _ in 0..3 {
        Command::new("/bin/true").status().unwrap();
    }
    let (status, stdout, stderr) = child.finish();
    assert!(status.success(), "{stderr}");
    assert!(
        stdout
            .lines()
            .map(json)
            .filter(|l| l["event"]["filename"] == "/bin/true")
            .count()
            >= 3,
        "{stdout}"
    );
    nothing_left(&["handle_exec"]);
    // `list` shows who signed what it loaded.
    let loaded = ok(&runtime(
        &[
            "load",
            &signed,
            "--store",
            &store,
            "--pull",
            "never",
            "--name",
            "cosigned",
            "--policy",
            good.to_str().unwrap(),
        ],
        &[],
    ));
    assert_eq!(loaded.trim(), "cosigned");
    let listed = ok(&runtime(&["list"], &[]));
    let unloaded = runtime(&["unload", "cosigned"], &[]);
    assert!(
        listed
            .lines()
            .any(|l| l.contains("cosigned") && l.contains("signed by sha256:")),
        "{listed}"
    );
    ok(&unloaded);

    // The store remembers nothing that bypasses the policy: one byte of
    // the stored payload changed (its blob, manifest and tag rewritten to
    // match) and the next run refuses it.
    tamper_payload(Path::new(&store), &digest);
    let e = fails(
        &runtime(
            &[
                "run",
                &signed,
                "--store",
                &store,
                "--pull",
                "never",
                "--duration",
                "1s",
                "--policy",
                good.to_str().unwrap(),
            ],
            &[],
        ),
        5,
    );
    assert!(
        e.contains("not a signature of its payload by a trusted key"),
        "{e}"
    );
    // And --insecure-skip-verify runs it anyway, saying so.
    let out = runtime(
        &[
            "run",
            &signed,
            "--store",
            &store,
            "--pull",
            "never",
            "--duration",
            "1s",
            "--insecure-skip-verify",
        ],
        &[],
    );
    assert!(
        out.status.success() && text(&out.stderr).contains("without its signatures checked"),
        "{}",
        text(&out.stderr)
    );
    nothing_left(&["handle_exec"]);
}

/// Rewrites the stored signature of `digest` in the OCI layout `store`:
/// its payload's docker-reference changed, the signature kept, and the
/// blob, manifest and index made consistent again (as someone with write
/// access to the store could).
fn tamper_payload(store: &Path, digest: &str) {
    let blob = |d: &str| {
        store
            .join("blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    let tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    let index_path = store.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag.as_str())
        .expect("the pull stored the signature");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(entry["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    let layer = &mut manifest["layers"][0];
    let payload = std::fs::read(blob(layer["digest"].as_str().unwrap())).unwrap();
    let changed = String::from_utf8(payload)
        .unwrap()
        .replace("foreign/execsnoop", "foreign/execsnooq");
    let payload_digest = digest_of(changed.as_bytes());
    std::fs::write(blob(&payload_digest), &changed).unwrap();
    layer["digest"] = payload_digest.into();
    layer["size"] = changed.len().into();
    let bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = digest_of(&bytes);
    std::fs::write(blob(&manifest_digest), &bytes).unwrap();
    entry["digest"] = manifest_digest.into();
    entry["size"] = bytes.len().into();
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
}
