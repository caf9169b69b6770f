//! Signed packages, both ways with the real cosign (issue 18): cosign
//! verifies what cargo-ebpf signs (and signs with cargo-ebpf's keys);
//! bpf-runtime runs what cosign signs, and refuses a signature by another
//! key, a signature of another digest, a tampered payload, and an unsigned
//! image under a policy that requires one — before anything loads.

use super::registry::{Registry, home};
use super::runtime::{
    bpfman_style_execsnoop, nothing_left, runs_execsnoop_and_sees_execs, runtime,
};
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

    // An image only the registry has is signed there, nothing pulled, and
    // cosign verifies that signature too.
    let remote_only = format!("{}/team/copied:1", reg.host());
    skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{target}"),
        &format!("docker://{remote_only}"),
    ]);
    let empty = workdir().join("stores/signing-empty");
    let _ = std::fs::remove_dir_all(&empty);
    let signed = ok(&ebpf(
        &home,
        &[
            "sign",
            &remote_only,
            "--key",
            key.to_str().unwrap(),
            "--store",
            empty.to_str().unwrap(),
        ],
        PASSWORD,
    ));
    assert_eq!(signed.trim(), digest, "{signed}");
    assert!(!empty.join("index.json").exists(), "sign pulled the image");
    ok(&cosign(
        &home,
        &[
            "verify",
            "--key",
            public.to_str().unwrap(),
            "--insecure-ignore-tlog=true",
            "--allow-http-registry",
            &remote_only,
        ],
    ));
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
    // registry and trusts no signer yet.
    let e = fails(&run(&signed, &fresh("cosigned-none"), None), 5);
    assert!(
        e.contains("trusts no signer") && e.contains("/etc/bpf-runtime/policy.toml"),
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
    runs_execsnoop_and_sees_execs(
        &signed,
        &["--store", &store, "--policy", good.to_str().unwrap()],
    );
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

const WORKFLOW: &str =
    "https://github.com/acme/probes/.github/workflows/publish.yml@refs/heads/main";
const GITHUB: &str = "https://token.actions.githubusercontent.com";

/// Signs `repository@digest` in the registry keylessly under `sigstore` as
/// `identity` vouched for by `issuer` — the signature manifest cosign would
/// push from a workflow, made offline and copied up by skopeo.
fn keyless_sign(
    sigstore: &ebpf_oci::sign::testing::TestSigstore,
    repository: &str,
    digest: &str,
    identity: &str,
    issuer: &str,
    fault: ebpf_oci::sign::testing::Fault,
) {
    let d: oci_spec::image::Digest = digest.parse().unwrap();
    let dir = workdir()
        .join("keyless-signatures")
        .join(repository.replace(['/', ':'], "_"));
    let _ = std::fs::remove_dir_all(&dir);
    let layout = ebpf_oci::Layout::open_or_create(&dir).unwrap();
    let sig = sigstore.sign(&d, repository, identity, issuer, fault);
    ebpf_oci::sign::add(&layout, &d, &[sig]).unwrap();
    let tag = ebpf_oci::sign::tag_for(&d);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:{tag}", dir.display()),
        &format!("docker://{repository}:{tag}"),
    ]);
}

/// A policy in `dir` requiring, for `scope`, a keyless signature by
/// `identity` from `issuer` under the trusted root `root`.
fn keyless_policy(
    dir: &Path,
    name: &str,
    scope: &str,
    identity: &str,
    issuer: &str,
    root: &Path,
) -> PathBuf {
    let text = format!(
        "[[scope]]\nname = {scope:?}\nrequire = \"signature\"\n\n[[scope.keyless]]\nidentity = {identity:?}\nissuer = {issuer:?}\ntrusted-root = {:?}\n",
        root.display().to_string()
    );
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Keyless signatures (a workflow's identity, as `cosign sign` makes them
/// in GitHub Actions) under a test Sigstore: the real cosign verifies them
/// offline with the same roots; cargo-ebpf's inspect accepts exactly the
/// policy's identity and issuer, and says who signed.
#[test]
fn keyless_signatures_verify_offline_for_their_identity_and_cosign_agrees() {
    use ebpf_oci::sign::testing::{Fault, TestSigstore};
    let reg = Registry::start("keyless", None, false);
    let home = home("keyless");
    let sigstore = TestSigstore::new();
    let root = home.join("trusted_root.json");
    std::fs::write(&root, sigstore.trusted_root_json()).unwrap();
    std::fs::write(home.join("fulcio.pem"), sigstore.ca_pem()).unwrap();
    std::fs::write(home.join("rekor.pub"), sigstore.rekor_public_pem()).unwrap();
    let image = format!("{}/acme/execsnoop:1", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &bpfman_style_execsnoop("keyless-layout"),
        &format!("docker://{image}"),
    ]);
    let digest = manifest_digest(&image);
    let repository = format!("{}/acme/execsnoop", reg.host());
    keyless_sign(
        &sigstore,
        &repository,
        &digest,
        WORKFLOW,
        GITHUB,
        Fault::None,
    );

    // The real cosign, offline, with this Sigstore's CA and log key.
    let verify = |identity: &str| {
        Command::new("cosign")
            .args([
                "verify",
                "--offline",
                "--insecure-ignore-sct",
                "--allow-http-registry",
                "--ca-roots",
                "fulcio.pem",
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                GITHUB,
                &image,
            ])
            .env("SIGSTORE_REKOR_PUBLIC_KEY", home.join("rekor.pub"))
            .env("HOME", &home)
            .env("DOCKER_CONFIG", home.join("docker"))
            .env("SIGSTORE_NO_CACHE", "1")
            .env("TUF_ROOT", home.join("tuf"))
            .current_dir(&home)
            .output()
            .unwrap()
    };
    let out = ok(&verify(WORKFLOW));
    assert!(out.contains(&digest), "{out}");
    let fork = "https://github.com/evil/probes/.github/workflows/publish.yml@refs/heads/main";
    let refused = verify(fork);
    assert!(!refused.status.success(), "{}", text(&refused.stdout));

    // cargo-ebpf pulls it with its signature and judges it as the policy says.
    let store = workdir().join("stores/keyless");
    let _ = std::fs::remove_dir_all(&store);
    let s = store.to_str().unwrap();
    ok(&ebpf(&home, &["pull", &image, "--store", s], PASSWORD));
    let scope = format!("{}/acme", reg.host());
    let inspect = |policy: &Path, json_out: bool| {
        let p = policy.to_str().unwrap();
        let mut args = vec!["inspect", image.as_str(), "--store", s, "--policy", p];
        if json_out {
            args.push("--json");
        }
        ebpf(&home, &args, PASSWORD)
    };
    let trusted = keyless_policy(&home, "keyless.toml", &scope, WORKFLOW, GITHUB, &root);
    let i = json(&ok(&inspect(&trusted, true)));
    assert_eq!(i["trust"]["accepted"], true, "{i}");
    assert_eq!(i["trust"]["signed_by"][0], WORKFLOW, "{i}");
    assert_eq!(i["signatures"][0]["certificate"]["issuer"], GITHUB, "{i}");
    let human = ok(&inspect(&trusted, false));
    assert!(
        human.contains(&format!("accepted: signed by {WORKFLOW}")),
        "{human}"
    );
    assert!(
        human.contains(&format!("keyless {WORKFLOW} (issuer {GITHUB})")),
        "{human}"
    );
    // Any workflow of the repository, on main: a glob.
    let any = keyless_policy(
        &home,
        "any-workflow.toml",
        &scope,
        "https://github.com/acme/probes/.github/workflows/*@refs/heads/main",
        GITHUB,
        &root,
    );
    assert_eq!(json(&ok(&inspect(&any, true)))["trust"]["accepted"], true);
    // Another identity, another issuer, another Sigstore: refused, and why.
    for (policy, why) in [
        (
            keyless_policy(&home, "fork.toml", &scope, fork, GITHUB, &root),
            format!("its certificate is for {WORKFLOW}"),
        ),
        (
            keyless_policy(
                &home,
                "google.toml",
                &scope,
                WORKFLOW,
                "https://accounts.google.com",
                &root,
            ),
            format!("its identity was vouched for by {GITHUB}"),
        ),
        (
            {
                let other = home.join("other_root.json");
                std::fs::write(&other, TestSigstore::new().trusted_root_json()).unwrap();
                keyless_policy(&home, "other.toml", &scope, WORKFLOW, GITHUB, &other)
            },
            "from a log the trusted root does not list".to_string(),
        ),
    ] {
        let i = json(&ok(&inspect(&policy, true)));
        assert_eq!(i["trust"]["accepted"], false, "{i}");
        let problem = i["signatures"][0]["problem"].as_str().unwrap();
        assert!(problem.contains(&why), "{problem}");
    }
}

/// The runtime runs a keylessly signed image for the policy's identity, and
/// refuses — before loading anything — another identity's, another
/// issuer's, and one without a transparency-log entry.
#[test]
fn runtime_runs_keyless_signed_images_for_their_identity_only() {
    if !privileged("runtime_runs_keyless_signed_images_for_their_identity_only") {
        return;
    }
    use ebpf_oci::sign::testing::{Fault, TestSigstore};
    let reg = Registry::start("keyless-run", None, false);
    let home = home("keyless-run");
    let sigstore = TestSigstore::new();
    let root = home.join("trusted_root.json");
    std::fs::write(&root, sigstore.trusted_root_json()).unwrap();
    let source = bpfman_style_execsnoop("keyless-run-layout");
    let mut images = Vec::new();
    for (repo, identity, fault) in [
        ("acme/good", WORKFLOW, Fault::None),
        (
            "acme/forked",
            "https://github.com/evil/probes/.github/workflows/publish.yml@refs/heads/main",
            Fault::None,
        ),
        ("acme/unlogged", WORKFLOW, Fault::NoBundle),
    ] {
        let image = format!("{}/{repo}:1", reg.host());
        skopeo(&[
            "copy",
            "--dest-tls-verify=false",
            &source,
            &format!("docker://{image}"),
        ]);
        let digest = manifest_digest(&image);
        keyless_sign(
            &sigstore,
            &format!("{}/{repo}", reg.host()),
            &digest,
            identity,
            GITHUB,
            fault,
        );
        images.push(image);
    }
    let scope = format!("{}/acme", reg.host());
    let policy = keyless_policy(&home, "keyless.toml", &scope, WORKFLOW, GITHUB, &root);
    let other_issuer = keyless_policy(
        &home,
        "gitlab.toml",
        &scope,
        WORKFLOW,
        "https://gitlab.com",
        &root,
    );
    let run = |image: &str, policy: &Path, store: &str| {
        let d = workdir().join("stores").join(store);
        let _ = std::fs::remove_dir_all(&d);
        runtime(
            &[
                "run",
                image,
                "--store",
                d.to_str().unwrap(),
                "--json",
                "--duration",
                "1s",
                "--policy",
                policy.to_str().unwrap(),
            ],
            &[],
        )
    };
    let _guard = kernel_lock();
    for (image, policy, store, why) in [
        (
            &images[1],
            &policy,
            "keyless-forked",
            "its certificate is for https://github.com/evil/probes",
        ),
        (
            &images[2],
            &policy,
            "keyless-unlogged",
            "it has no transparency-log entry",
        ),
        (
            &images[0],
            &other_issuer,
            "keyless-issuer",
            "its identity was vouched for by https://token.actions.githubusercontent.com",
        ),
    ] {
        let e = fails(&run(image, policy, store), 5);
        assert!(
            e.starts_with(&format!("error: refused {image}"))
                || e.contains(&format!("refused {image}")),
            "{e}"
        );
        assert!(
            e.contains(why) && e.contains(&format!("keyless {WORKFLOW}")),
            "{e}"
        );
        assert_eq!(e.trim().lines().count(), 1, "{e}");
    }
    nothing_left(&["handle_exec"]);

    let store = workdir().join("stores/keyless-good");
    let _ = std::fs::remove_dir_all(&store);
    runs_execsnoop_and_sees_execs(
        &images[0],
        &[
            "--store",
            store.to_str().unwrap(),
            "--policy",
            policy.to_str().unwrap(),
        ],
    );
}

/// The generated GitHub workflow signs keylessly as
/// `https://github.com/$GITHUB_WORKFLOW_REF`, and the policy snippet it
/// documents trusts exactly its tag runs: not a branch run, not another
/// repository's, not another issuer's.
#[test]
fn the_generated_workflow_signs_as_the_identity_its_policy_snippet_trusts() {
    use ebpf_oci::sign::keyless::{KeylessMismatch, Signer, verify};
    use ebpf_oci::sign::testing::{Fault, TestSigstore};
    let dir = c_project("tracepoint");
    let wf = std::fs::read_to_string(dir.join(".github/workflows/ebpf.yml")).unwrap();
    for needed in [
        "id-token: write",
        "cosign-release: v2.6.5",
        "cosign sign --yes --recursive \"$REGISTRY/c-tracepoint@$digest\"",
        "https://github.com/$GITHUB_WORKFLOW_REF",
    ] {
        assert!(wf.contains(needed), "{needed} not in\n{wf}");
    }
    let field = |k: &str| {
        wf.lines()
            .find_map(|l| {
                l.trim_start_matches('#')
                    .trim()
                    .strip_prefix(&format!("{k} = "))
            })
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| panic!("no {k} in the workflow's policy snippet"))
    };
    let sigstore = TestSigstore::new();
    let signer = Signer {
        identity: field("identity").replace("OWNER/REPO", "acme/probes"),
        issuer: field("issuer"),
        root: sigstore.trusted_root(),
    };
    assert_eq!(signer.issuer, GITHUB);
    let d = ebpf_oci::layout::sha256_digest(b"a manifest");
    let run = |identity: &str, issuer: &str| {
        verify(
            &sigstore.sign(
                &d,
                "ghcr.io/acme/c-tracepoint:1.2.0",
                identity,
                issuer,
                Fault::None,
            ),
            &signer,
        )
    };
    // What GITHUB_WORKFLOW_REF is in a tag run of this workflow.
    let tag_run = "https://github.com/acme/probes/.github/workflows/ebpf.yml@refs/tags/v1.2.0";
    run(tag_run, GITHUB).unwrap();
    for identity in [
        "https://github.com/acme/probes/.github/workflows/ebpf.yml@refs/heads/main",
        "https://github.com/evil/probes/.github/workflows/ebpf.yml@refs/tags/v1.2.0",
        "https://github.com/acme/probes/.github/workflows/other.yml@refs/tags/v1.2.0",
    ] {
        assert!(
            matches!(run(identity, GITHUB), Err(KeylessMismatch::Identity(_))),
            "{identity}"
        );
    }
    assert!(matches!(
        run(tag_run, "https://gitlab.com"),
        Err(KeylessMismatch::Issuer(_))
    ));
    // Gitee Go has no OIDC identity to give: its pipeline signs with a key.
    let gitee = std::fs::read_to_string(dir.join(".workflow/ebpf.yml")).unwrap();
    assert!(gitee.contains("--sign --key"), "{gitee}");
}
