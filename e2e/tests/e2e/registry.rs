//! Publishing and pulling through a real registry: Debian's
//! `docker-registry` (the CNCF distribution registry) started on 127.0.0.1
//! with a temporary storage folder, with htpasswd auth and TLS from a CA made
//! here where those are tested. skopeo checks what we push, and pushes what
//! we pull.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;

/// A registry process with its storage, log and (optionally) auth and TLS.
pub struct Registry {
    pub port: u16,
    pub dir: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// The CA that signed its certificate, when it serves TLS.
    pub ca: Option<PathBuf>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) -> String {
    ok(&cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}")))
}

impl Registry {
    /// Starts a registry in `workdir()/registries/NAME`, with htpasswd
    /// users when `user` is given.
    pub fn start(name: &str, user: Option<(&str, &str)>, tls: bool) -> Registry {
        Registry::launch(name, tls, |dir| match user {
            Some((u, p)) => {
                let line = run(Command::new("htpasswd").args(["-Bbn", u, p]));
                std::fs::write(dir.join("htpasswd"), line).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    dir.join("htpasswd").display()
                )
            }
            None => String::new(),
        })
    }

    /// Starts a TLS registry whose bearer challenge sends clients to the
    /// token service at `realm`.
    pub fn start_with_token_realm(name: &str, realm: &str) -> Registry {
        Registry::launch(name, true, |dir| {
            format!(
                "auth:\n  token:\n    realm: {realm}\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                dir.join("ca.pem").display()
            )
        })
    }

    fn launch(name: &str, tls: bool, auth: impl FnOnce(&Path) -> String) -> Registry {
        let dir = workdir().join("registries").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("storage").display()
        );
        let mut ca = None;
        if tls {
            // A CA made here, and a certificate for 127.0.0.1 it signs.
            let d = |f: &str| dir.join(f).to_str().unwrap().to_string();
            run(Command::new("openssl").args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=cargo-ebpf test CA",
                "-keyout",
                &d("ca.key"),
                "-out",
                &d("ca.pem"),
            ]));
            run(Command::new("openssl").args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &d("server.key"),
                "-out",
                &d("server.csr"),
            ]));
            std::fs::write(
                dir.join("ext.cnf"),
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            run(Command::new("openssl").args([
                "x509",
                "-req",
                "-in",
                &d("server.csr"),
                "-CA",
                &d("ca.pem"),
                "-CAkey",
                &d("ca.key"),
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                &d("ext.cnf"),
                "-out",
                &d("server.pem"),
            ]));
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d("server.pem"),
                d("server.key")
            ));
            ca = Some(dir.join("ca.pem"));
        }
        config.push_str(&auth(&dir));
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut r = Registry {
            port,
            log: dir.join("registry.log"),
            dir,
            config: config_path,
            child: None,
            ca,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts (ci/setup.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Blob upload requests (POST/PATCH/PUT under `/blobs/uploads/`) in the
    /// registry's access log: what a client really uploaded.
    pub fn blob_uploads(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|l| {
                ["\"POST ", "\"PATCH ", "\"PUT "]
                    .iter()
                    .any(|m| l.contains(m))
                    && l.contains("/blobs/uploads/")
            })
            .count()
    }

    /// The file holding blob `digest` in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `cargo ebpf ARGS` with its own Docker config dir and cargo-ebpf config
/// home (so no developer's credentials or settings leak in), and `input` on
/// stdin.
pub(super) fn ebpf(dir: &Path, home: &Path, args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new(bin())
        .arg("ebpf")
        .args(args)
        .current_dir(dir)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("CARGO_EBPF_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if let Some(i) = input {
        stdin.write_all(i.as_bytes()).unwrap();
    }
    drop(stdin);
    child.wait_with_output().unwrap()
}

pub(super) fn home(name: &str) -> PathBuf {
    let h = workdir().join("homes").join(name);
    let _ = std::fs::remove_dir_all(&h);
    std::fs::create_dir_all(&h).unwrap();
    h
}

/// The C tracepoint template packaged into a store of its own (as
/// `c-tracepoint:0.1.0`).
fn packaged(store: &Path) -> (PathBuf, String) {
    let dir = c_project("tracepoint");
    let r = json(&ok(&cargo_ebpf(
        &dir,
        &[
            "package",
            "--no-build",
            "--json",
            "--store",
            store.to_str().unwrap(),
        ],
    )));
    (dir, r["digest"].as_str().unwrap().to_string())
}

fn store_blobs(store: &Path) -> Vec<String> {
    match std::fs::read_dir(store.join("blobs/sha256")) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn publish_and_pull_through_a_loopback_registry() {
    let reg = Registry::start("plain", None, false);
    let home = home("plain");
    let store_a = workdir().join("stores/push-a");
    let (dir, digest) = packaged(&store_a);
    let a = store_a.to_str().unwrap();
    let target = format!("{}/tracepoint:0.1.0", reg.host());

    // Anonymous push: every blob uploaded, JSON summary on stdout.
    let push = json(&ok(&ebpf(
        &dir,
        &home,
        &["publish", &target, "--store", a, "--json"],
        None,
    )));
    assert_eq!(push["digest"], digest.as_str());
    assert_eq!(push["blobs_uploaded"], 2, "config and layer: {push}");
    assert_eq!(push["blobs_skipped"], 0);
    assert_eq!(push["manifests_pushed"], 1);

    // Re-publishing the unchanged image uploads nothing: the summary says so
    // and the registry's access log shows no upload request.
    let uploads = reg.blob_uploads();
    assert!(uploads >= 2, "{}", reg.log_text());
    let again = json(&ok(&ebpf(
        &dir,
        &home,
        &["publish", &target, "--store", a, "--json"],
        None,
    )));
    assert_eq!(again["blobs_uploaded"], 0, "{again}");
    assert_eq!(again["manifests_pushed"], 0, "{again}");
    assert_eq!(reg.blob_uploads(), uploads, "uploads were made");
    // Under another tag: the blobs are there, only a manifest is written.
    let other = format!("{}/tracepoint:latest", reg.host());
    let third = json(&ok(&ebpf(
        &dir,
        &home,
        &["publish", &other, "--store", a, "--json"],
        None,
    )));
    assert_eq!(third["blobs_uploaded"], 0, "{third}");
    assert_eq!(third["blobs_skipped"], 2, "{third}");
    assert_eq!(reg.blob_uploads(), uploads);

    // Pull into a fresh store: the same digest, readable, and tagged with the
    // whole reference; then by digest.
    let store_b = workdir().join("stores/pull-b");
    let _ = std::fs::remove_dir_all(&store_b);
    let b = store_b.to_str().unwrap();
    let pull = json(&ok(&ebpf(
        &dir,
        &home,
        &["pull", &target, "--store", b, "--json"],
        None,
    )));
    assert_eq!(pull["digest"], digest.as_str());
    assert_eq!(pull["tag"], target.as_str());
    assert_eq!(pull["blobs_downloaded"], 2);
    let i = json(&ok(&cargo_ebpf(
        &dir,
        &["inspect", &target, "--json", "--store", b],
    )));
    assert_eq!(i["digest"], digest.as_str());
    let by_digest = format!("{}/tracepoint@{digest}", reg.host());
    let pull = json(&ok(&ebpf(
        &dir,
        &home,
        &[
            "pull",
            &by_digest,
            "--store",
            b,
            "--json",
            "--tag",
            "tp:pinned",
        ],
        None,
    )));
    assert_eq!(pull["blobs_downloaded"], 0, "all blobs were there: {pull}");
    assert_eq!(pull["digest"], digest.as_str());

    // skopeo reads what we pushed ...
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{target}"),
    ]);
    assert_eq!(digest_of(raw.as_bytes()), digest);
    let i = json(&skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{target}"),
    ]));
    assert_eq!(i["Labels"]["io.ebpf.maps"], r#"{"events":"ringbuf"}"#);
    // ... and what skopeo pushes from our layout, we pull, digest intact.
    let by_skopeo = format!("{}/by-skopeo:1", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{a}:c-tracepoint:0.1.0"),
        &format!("docker://{by_skopeo}"),
    ]);
    let pull = json(&ok(&ebpf(
        &dir,
        &home,
        &["pull", &by_skopeo, "--store", b, "--json"],
        None,
    )));
    assert_eq!(pull["digest"], digest.as_str());

    // search lists both repositories, marks them as eBPF packages and shows
    // the description; a term filters.
    let found = json(&ok(&ebpf(
        &dir,
        &home,
        &["search", &reg.host(), "--json"],
        None,
    )));
    let repos: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["repository"].as_str().unwrap())
        .collect();
    assert_eq!(repos, ["by-skopeo", "tracepoint"]);
    assert_eq!(found[1]["ebpf"], true);
    assert_eq!(found[1]["tags"], serde_json::json!(["0.1.0", "latest"]));
    assert_eq!(found[1]["programs"]["handle_exec"], "tracepoint");
    assert!(found[1]["description"].as_str().unwrap().contains("exec"));
    let human = ok(&ebpf(&dir, &home, &["search", &reg.host(), "skopeo"], None));
    assert!(
        human.contains("by-skopeo") && !human.contains("/tracepoint "),
        "{human}"
    );

    // Issue 17, finding 13: a repository whose tags are all deleted failed
    // the whole search.
    let pushed = json(&ok(&ebpf(
        &dir,
        &home,
        &[
            "publish",
            &format!("{}/untagged:1", reg.host()),
            "--store",
            a,
            "--json",
        ],
        None,
    )));
    let digest = pushed["digest"].as_str().unwrap();
    let mut conn = TcpStream::connect(("127.0.0.1", reg.port)).unwrap();
    write!(
        conn,
        "DELETE /v2/untagged/manifests/{digest} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        reg.host()
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let found = json(&ok(&ebpf(
        &dir,
        &home,
        &["search", &reg.host(), "--json"],
        None,
    )));
    let untagged = found
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["repository"] == "untagged")
        .unwrap_or_else(|| panic!("{found}"));
    assert_eq!(untagged["tags"], serde_json::json!([]), "{untagged}");

    // Bad input: one line each.
    let e = fails(
        &ebpf(
            &dir,
            &home,
            &["pull", "tracepoint:0.1.0", "--store", b],
            None,
        ),
        2,
    );
    assert!(e.contains("names no registry"), "{e}");
    let missing = format!("{}/nothing:1", reg.host());
    let e = fails(
        &ebpf(&dir, &home, &["pull", &missing, "--store", b], None),
        1,
    );
    assert!(e.contains("no such image"), "{e}");
    let e = fails(
        &ebpf(
            &dir,
            &home,
            &["pull", &target, "--platform", "linux/arm64", "--store", b],
            None,
        ),
        2,
    );
    assert!(
        e.contains("no image for linux/arm64 (it has linux/amd64)"),
        "{e}"
    );
    let down = format!("127.0.0.1:{}/x:1", free_port());
    let e = fails(
        &ebpf(
            &dir,
            &home,
            &["pull", &down, "--retries", "0", "--store", b],
            None,
        ),
        1,
    );
    assert!(
        e.contains("cannot reach the registry") && e.contains("refused"),
        "{e}"
    );
    // An image that is not an eBPF package is refused before its layers move.
    let busybox_like = format!("{}/not-ebpf:1", reg.host());
    let plain = workdir().join("stores/plain-image");
    let _ = std::fs::remove_dir_all(&plain);
    std::fs::create_dir_all(&plain).unwrap();
    std::fs::write(plain.join("hello.txt"), "hi\n").unwrap();
    run(Command::new("tar")
        .current_dir(&plain)
        .args(["-czf", "layer.tgz", "hello.txt"]));
    let layout = plain.join("layout");
    let p = layout.to_str().unwrap();
    write_plain_image(&layout, &std::fs::read(plain.join("layer.tgz")).unwrap());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{p}:plain"),
        &format!("docker://{busybox_like}"),
    ]);
    let before = store_blobs(&store_b).len();
    let e = fails(
        &ebpf(&dir, &home, &["pull", &busybox_like, "--store", b], None),
        1,
    );
    assert!(e.contains("is not an eBPF package"), "{e}");
    assert_eq!(
        store_blobs(&store_b).len(),
        before,
        "the store kept nothing"
    );
}

/// A minimal OCI layout holding one non-eBPF image (a plain config and one
/// layer), for the refusal above.
fn write_plain_image(layout: &Path, layer: &[u8]) {
    let blobs = layout.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = digest_of(bytes);
        std::fs::write(blobs.join(d.strip_prefix("sha256:").unwrap()), bytes).unwrap();
        d
    };
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let cd = put(config);
    let ld = put(layer);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": layer.len()}],
    })
    .to_string();
    let md = put(manifest.as_bytes());
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "plain"},
        }],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
}

#[test]
fn login_push_and_pull_with_htpasswd_behind_tls() {
    let reg = Registry::start("secure", Some(("alice", "s3cret-pw")), true);
    let home = home("secure");
    let ca = reg.ca.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let store_a = workdir().join("stores/secure-a");
    let (dir, digest) = packaged(&store_a);
    let a = store_a.to_str().unwrap();
    let target = format!("{}/team/tracepoint:0.1.0", reg.host());
    let config = home.join("docker/config.json");
    let all_output = |o: &Output| format!("{}{}", text(&o.stdout), text(&o.stderr));

    // Without the CA, TLS fails and says what to do.
    let e = fails(
        &ebpf(&dir, &home, &["publish", &target, "--store", a], None),
        1,
    );
    assert!(e.contains("TLS with") && e.contains("--ca-file"), "{e}");
    assert!(
        e.contains("signed by a CA this machine does not trust") && !e.contains("UnknownIssuer"),
        "in words, not the TLS stack's debug output: {e}"
    );
    // Without credentials the registry asks for them.
    let e = fails(
        &ebpf(
            &dir,
            &home,
            &["publish", &target, "--store", a, "--ca-file", ca],
            None,
        ),
        1,
    );
    assert!(
        e.contains("requires authentication") && e.contains("cargo ebpf login"),
        "{e}"
    );
    // A wrong password: one line, nothing stored, no secret shown.
    let o = ebpf(
        &dir,
        &home,
        &[
            "login",
            &reg.host(),
            "-u",
            "alice",
            "--password-stdin",
            "--ca-file",
            ca,
        ],
        Some("wrong-pw\n"),
    );
    let e = fails(&o, 1);
    assert!(e.contains("rejected the credentials of `alice`"), "{e}");
    assert!(!all_output(&o).contains("wrong-pw"));
    assert!(!config.exists());

    // The right one is stored, mode 0600, in Docker's format, through the
    // link config.json is (issue 17: it was replaced by a plain file).
    let dotfiles = home.join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    std::fs::write(dotfiles.join("docker.json"), "{}\n").unwrap();
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("../dotfiles/docker.json", &config).unwrap();
    let o = ebpf(
        &dir,
        &home,
        &[
            "login",
            &format!("https://{}/team", reg.host()),
            "-u",
            "alice",
            "--password-stdin",
            "--ca-file",
            ca,
        ],
        Some("s3cret-pw\n"),
    );
    ok(&o);
    assert!(!all_output(&o).contains("s3cret-pw"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let stored = json(&std::fs::read_to_string(&config).unwrap());
    assert!(stored["auths"][reg.host()]["auth"].is_string(), "{stored}");
    assert!(
        std::fs::symlink_metadata(&config)
            .unwrap()
            .file_type()
            .is_symlink(),
        "config.json is still the link"
    );
    let through = json(&std::fs::read_to_string(dotfiles.join("docker.json")).unwrap());
    assert!(
        through["auths"][reg.host()]["auth"].is_string(),
        "{through}"
    );

    // Push, then pull into another store; skopeo with the same credentials
    // file and CA sees the same digest.
    let push = json(&ok(&ebpf(
        &dir,
        &home,
        &["publish", &target, "--store", a, "--ca-file", ca, "--json"],
        None,
    )));
    assert_eq!(push["blobs_uploaded"], 2);
    let store_b = workdir().join("stores/secure-b");
    let _ = std::fs::remove_dir_all(&store_b);
    let b = store_b.to_str().unwrap();
    let pull = json(&ok(&ebpf(
        &dir,
        &home,
        &["pull", &target, "--store", b, "--ca-file", ca, "--json"],
        None,
    )));
    assert_eq!(pull["digest"], digest.as_str());
    let certs = reg.dir.join("certs.d");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(reg.ca.as_ref().unwrap(), certs.join("ca.crt")).unwrap();
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--authfile",
        config.to_str().unwrap(),
        "--cert-dir",
        certs.to_str().unwrap(),
        &format!("docker://{target}"),
    ]);
    assert_eq!(digest_of(raw.as_bytes()), digest);

    // The CA from the config file works as --ca-file does.
    std::fs::create_dir_all(home.join("config/cargo-ebpf")).unwrap();
    std::fs::write(
        home.join("config/cargo-ebpf/config.toml"),
        format!(
            "[registry]\ndefault = \"{}/team\"\n[registries.\"{}\"]\nca-file = \"{ca}\"\n",
            reg.host(),
            reg.host()
        ),
    )
    .unwrap();
    let pull = json(&ok(&ebpf(
        &dir,
        &home,
        &["pull", "tracepoint:0.1.0", "--store", b, "--json"],
        None,
    )));
    assert_eq!(pull["reference"], target.as_str());

    // After logout the registry asks again.
    ok(&ebpf(&dir, &home, &["logout", &reg.host()], None));
    let e = fails(
        &ebpf(&dir, &home, &["pull", &target, "--store", b], None),
        1,
    );
    assert!(e.contains("requires authentication"), "{e}");
}

/// A TCP relay to the registry that, once `after` bytes have gone up,
/// holds the connection: the moment to kill the registry mid-push.
struct Relay {
    port: u16,
    sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (sent.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (count, halt) = (s.clone(), st.clone());
                std::thread::spawn(move || pipe(client, server, Some(count), halt));
                let halt = st.clone();
                std::thread::spawn(move || pipe(s2, c2, None, halt));
            }
        });
        Relay { port, sent, stop }
    }
}

fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    count: Option<Arc<AtomicU64>>,
    stop: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 64 * 1024];
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if let Some(c) = &count {
            c.fetch_add(n as u64, Ordering::SeqCst);
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// A project whose image carries a large, incompressible extra file, so that
/// a push takes many requests.
fn big_image(store: &Path) -> (PathBuf, String) {
    // Made once: several tests push it.
    static PROJECT: OnceLock<PathBuf> = OnceLock::new();
    let dir = PROJECT
        .get_or_init(|| {
            let dir = new_project("big-push", "c", "xdp");
            let mut data = vec![0u8; 24 << 20];
            let mut x: u64 = 0x9e3779b97f4a7c15;
            for chunk in data.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            std::fs::write(dir.join("blob.bin"), &data).unwrap();
            let mut m = std::fs::read_to_string(dir.join("ebpf.toml")).unwrap();
            m.push_str("\n[[file]]\nsource = \"blob.bin\"\ninstall = \"/var/lib/big/blob.bin\"\n");
            std::fs::write(dir.join("ebpf.toml"), m).unwrap();
            ok(&cargo_ebpf(&dir, &["build"]));
            dir
        })
        .clone();
    let r = json(&ok(&cargo_ebpf(
        &dir,
        &[
            "package",
            "--no-build",
            "--json",
            "--store",
            store.to_str().unwrap(),
        ],
    )));
    (dir, r["digest"].as_str().unwrap().to_string())
}

/// The head of the HTTP request on `conn` (empty for a TLS hello: the test
/// servers speak plain HTTP only, and say so by closing).
fn request_head(conn: &mut TcpStream) -> Vec<u8> {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap_or(0) == 1 {
        if head.is_empty() && byte[0] == 0x16 {
            break;
        }
        head.push(byte[0]);
    }
    head
}

/// A token service on 127.0.0.2 that records each request's head and hands
/// out a token the registry will not accept.
struct TokenService {
    port: u16,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl TokenService {
    fn start() -> TokenService {
        let listener = TcpListener::bind("127.0.0.2:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = heads.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let head = request_head(&mut conn);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let body = r#"{"token":"not-a-token-the-registry-accepts"}"#;
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenService { port, heads }
    }

    fn realm(&self) -> String {
        format!("http://127.0.0.2:{}/token", self.port)
    }

    /// Each request's `Authorization` header (empty: none).
    fn authorizations(&self) -> Vec<String> {
        self.heads
            .lock()
            .unwrap()
            .iter()
            .map(|h| {
                h.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("authorization")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Issue 17, finding 2: credentials go only to the registry's own site and
/// only over TLS (or loopback); a token service on another host gets a
/// token request without them unless the user trusts or logged in to it.
#[test]
fn credentials_reach_only_the_token_service_the_user_trusts() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let tokens = TokenService::start();
    let mut reg = Registry::start_with_token_realm("token-realm", &tokens.realm());
    let home = home("token-realm");
    let ca = reg.ca.clone().unwrap();
    let ca = ca.to_str().unwrap();
    let image = format!("{}/team/private:0.1.0", reg.host());
    let dir = workdir().to_path_buf();
    let store = workdir().join("stores/token-realm");
    let s = store.to_str().unwrap();
    std::fs::create_dir_all(home.join("docker")).unwrap();
    let realm_auth = format!("127.0.0.2:{}", tokens.port);
    let write_auths = |registry: &str, extra: &str| {
        std::fs::write(
            home.join("docker/config.json"),
            format!(
                r#"{{"auths": {{"{registry}": {{"auth": "{}"}}{extra}}}}}"#,
                b64("alice:s3cret-pw")
            ),
        )
        .unwrap();
    };
    let pull = || {
        ebpf(
            &dir,
            &home,
            &["pull", &image, "--store", s, "--ca-file", ca],
            None,
        )
    };

    // Another host: asked for a token without the credentials, and the
    // failure says why and what to do.
    write_auths(&reg.host(), "");
    let e = fails(&pull(), 1);
    assert!(
        e.contains("token service on another host (127.0.0.2)")
            && e.contains("credentials were not sent there")
            && e.contains("token-hosts"),
        "{e}"
    );
    let seen = tokens.authorizations();
    assert!(!seen.is_empty(), "the token service was asked");
    assert!(
        seen.iter().all(String::is_empty),
        "no credentials to another host: {seen:?}"
    );

    // Trusted in the config: it gets them.
    std::fs::create_dir_all(home.join("config/cargo-ebpf")).unwrap();
    std::fs::write(
        home.join("config/cargo-ebpf/config.toml"),
        format!(
            "[registries.\"{}\"]\ntoken-hosts = [\"127.0.0.2\"]\n",
            reg.host()
        ),
    )
    .unwrap();
    let before = tokens.authorizations().len();
    let e = fails(&pull(), 1);
    assert!(e.contains("rejected the credentials of `alice`"), "{e}");
    let alice = format!("Basic {}", b64("alice:s3cret-pw"));
    assert!(
        tokens.authorizations()[before..].contains(&alice),
        "{:?}",
        tokens.authorizations()
    );
    std::fs::remove_file(home.join("config/cargo-ebpf/config.toml")).unwrap();

    // Logged in to the token service itself: it gets its own credentials,
    // never the registry's.
    write_auths(
        &reg.host(),
        &format!(r#", "{realm_auth}": {{"auth": "{}"}}"#, b64("bob:bobs-pw")),
    );
    let before = tokens.authorizations().len();
    fails(&pull(), 1);
    let seen = tokens.authorizations()[before..].to_vec();
    assert!(
        seen.contains(&format!("Basic {}", b64("bob:bobs-pw"))) && !seen.contains(&alice),
        "{seen:?}"
    );

    // A realm in clear text off this machine: nothing is sent at all.
    reg.kill();
    let mut reg = Registry::start_with_token_realm("token-realm", "http://realm.invalid/token");
    let image = format!("{}/team/private:0.1.0", reg.host());
    write_auths(&reg.host(), "");
    let ca = reg.ca.clone().unwrap();
    let e = fails(
        &ebpf(
            &dir,
            &home,
            &[
                "pull",
                &image,
                "--store",
                s,
                "--ca-file",
                ca.to_str().unwrap(),
            ],
            None,
        ),
        1,
    );
    assert!(
        e.contains("asks for the credentials at http://realm.invalid/token")
            && e.contains("not sent in clear text"),
        "{e}"
    );
    reg.kill();
}

#[test]
fn a_registry_killed_mid_push_fails_clearly_and_a_second_publish_completes() {
    let mut reg = Registry::start("crash", None, false);
    let home = home("crash");
    let store = workdir().join("stores/big");
    let (dir, digest) = big_image(&store);
    let s = store.to_str().unwrap();
    let relay = Relay::start(reg.port);
    let through_relay = format!("127.0.0.1:{}/big:1", relay.port);

    let child = Command::new(bin())
        .args([
            "ebpf",
            "publish",
            &through_relay,
            "--store",
            s,
            "--retries",
            "2",
        ])
        .current_dir(&dir)
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once 6 MiB of the 24 MiB layer have gone up, the registry dies.
    let deadline = Instant::now() + Duration::from_secs(60);
    while relay.sent.load(Ordering::SeqCst) < 6 << 20 {
        assert!(Instant::now() < deadline, "the push never got going");
        std::thread::sleep(Duration::from_millis(2));
    }
    reg.kill();
    relay.stop.store(true, Ordering::SeqCst);
    // Wake the relay's accept loop so that it stops listening.
    let _ = TcpStream::connect(("127.0.0.1", relay.port));
    let out = child.wait_with_output().unwrap();
    let e = fails(&out, 1);
    assert!(
        e.contains("cannot reach the registry") || e.contains("failed after"),
        "{e}"
    );

    // After a restart, publishing again completes, and the image is whole:
    // a pull verifies every blob, skopeo reads it.
    reg.restart();
    let target = format!("{}/big:1", reg.host());
    let push = json(&ok(&ebpf(
        &dir,
        &home,
        &["publish", &target, "--store", s, "--json"],
        None,
    )));
    assert_eq!(push["digest"], digest.as_str());
    let fresh = workdir().join("stores/big-pulled");
    let _ = std::fs::remove_dir_all(&fresh);
    let pull = json(&ok(&ebpf(
        &dir,
        &home,
        &[
            "pull",
            &target,
            "--store",
            fresh.to_str().unwrap(),
            "--json",
        ],
        None,
    )));
    assert_eq!(pull["digest"], digest.as_str());
    assert!(pull["bytes_downloaded"].as_u64().unwrap() > 24 << 20);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{target}"),
    ]);
    assert_eq!(digest_of(raw.as_bytes()), digest);
}

#[test]
fn a_blob_altered_in_the_registry_is_refused_and_the_store_stays_clean() {
    let reg = Registry::start("tamper", None, false);
    let home = home("tamper");
    let store_a = workdir().join("stores/tamper-a");
    let (dir, digest) = packaged(&store_a);
    let target = format!("{}/tracepoint:0.1.0", reg.host());
    let push = json(&ok(&ebpf(
        &dir,
        &home,
        &[
            "publish",
            &target,
            "--store",
            store_a.to_str().unwrap(),
            "--json",
        ],
        None,
    )));
    assert_eq!(push["digest"], digest.as_str());
    // Flip one byte of the user-space layer in the registry's storage.
    let layer = push["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|b| b["size"].as_u64().unwrap())
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let file = reg.blob_file(&layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&file, bytes).unwrap();

    let fresh = workdir().join("stores/tamper-b");
    let _ = std::fs::remove_dir_all(&fresh);
    let out = ebpf(
        &dir,
        &home,
        &["pull", &target, "--store", fresh.to_str().unwrap()],
        None,
    );
    let e = fails(&out, 1);
    assert!(
        e.contains("does not match its digest") && e.contains(&layer),
        "{e}"
    );
    // Nothing of it stays: no tag, no blob, no temporary file.
    assert_eq!(store_blobs(&fresh), Vec::<String>::new());
    let images = ok(&cargo_ebpf(
        &dir,
        &["images", "--json", "--store", fresh.to_str().unwrap()],
    ));
    assert_eq!(json(&images), serde_json::json!([]));
}

#[test]
fn a_multi_platform_index_pushes_and_pulls_the_right_platform() {
    let reg = Registry::start("multi", None, false);
    let home = home("multi");
    let (dir, store, index_digest) = multi_arch_image();
    let target = format!("{}/cross-xdp:0.1.0", reg.host());
    let push = json(&ok(&ebpf(
        &dir,
        &home,
        &[
            "publish",
            &target,
            "--image",
            &format!("oci:{}:cross-xdp:0.1.0", store.display()),
            "--json",
        ],
        None,
    )));
    assert_eq!(push["digest"], index_digest.as_str());
    assert_eq!(
        push["platforms"],
        serde_json::json!(["linux/amd64", "linux/arm64"])
    );
    assert_eq!(push["manifests_pushed"], 3);
    let raw = json(&skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{target}"),
    ]));
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2);

    let fresh = workdir().join("stores/multi-pulled");
    let _ = std::fs::remove_dir_all(&fresh);
    let f = fresh.to_str().unwrap();
    let host = json(&ok(&ebpf(
        &dir,
        &home,
        &["pull", &target, "--store", f, "--json"],
        None,
    )));
    assert_eq!(host["platform"], "linux/amd64");
    assert_eq!(host["index_digest"], index_digest.as_str());
    let arm = json(&ok(&ebpf(
        &dir,
        &home,
        &[
            "pull",
            &target,
            "--platform",
            "linux/arm64",
            "--tag",
            "xdp:arm64",
            "--store",
            f,
            "--json",
        ],
        None,
    )));
    assert_eq!(arm["platform"], "linux/arm64");
    assert_ne!(arm["digest"], host["digest"]);
    let i = json(&ok(&cargo_ebpf(
        &dir,
        &["inspect", "xdp:arm64", "--json", "--store", f],
    )));
    assert_eq!(i["platforms"][0]["metadata"]["arch"], "aarch64");
    let e = fails(
        &ebpf(
            &dir,
            &home,
            &["pull", &target, "--platform", "linux/riscv64", "--store", f],
            None,
        ),
        2,
    );
    assert!(
        e.contains("has no image for linux/riscv64 (it has linux/amd64, linux/arm64)"),
        "{e}"
    );
}

/// A relay that passes each answer's first `limit` bytes and then holds the
/// connection open, sending nothing: a registry that stalls mid-blob.
fn stalling_relay(upstream: u16, limit: u64) -> (u16, Arc<AtomicU64>) {
    relay(upstream, limit, None)
}

/// A relay that passes answers 4 KiB each `pace`: a registry that trickles,
/// never quiet for long enough to count as stalled.
fn trickling_relay(upstream: u16, pace: Duration) -> (u16, Arc<AtomicU64>) {
    relay(upstream, u64::MAX, Some(pace))
}

fn relay(upstream: u16, limit: u64, pace: Option<Duration>) -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let passed = Arc::new(AtomicU64::new(0));
    let total = passed.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { break };
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                pipe(client, server, None, Arc::new(AtomicBool::new(false)))
            });
            let total = total.clone();
            std::thread::spawn(move || {
                let (mut from, mut to) = (s2, c2);
                let mut buf = vec![0u8; if pace.is_some() { 4096 } else { 16 * 1024 }];
                let mut sent = 0u64;
                while sent < limit {
                    if let Some(pace) = pace {
                        std::thread::sleep(pace);
                    }
                    let n = match from.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n.min((limit - sent) as usize),
                    };
                    if to.write_all(&buf[..n]).is_err() {
                        return;
                    }
                    sent += n as u64;
                    total.fetch_add(n as u64, Ordering::SeqCst);
                }
                // Stalled: the client hears nothing more until it gives up.
                let mut probe = [0u8; 1];
                let _ = to.read(&mut probe);
            });
        }
    });
    (port, passed)
}

/// Issue 17, findings 6 and 8: a registry that stalls hung `pull` forever,
/// and Ctrl-C during a pull left a partial blob and the blobs already
/// fetched. A stall fails after `--stall-timeout`, a signal stops the pull
/// (exit 130), and either way the store is as it was.
#[test]
fn a_stalled_or_interrupted_pull_leaves_the_store_as_it_was() {
    let reg = Registry::start("stall", None, false);
    let home = home("stall");
    let store_a = workdir().join("stores/stall-a");
    let (dir, _) = big_image(&store_a);
    let target = format!("{}/big:1", reg.host());
    ok(&ebpf(
        &dir,
        &home,
        &["publish", &target, "--store", store_a.to_str().unwrap()],
        None,
    ));
    let (port, passed) = stalling_relay(reg.port, 1 << 20);
    let via = format!("127.0.0.1:{port}/big:1");
    let clean = |store: &Path| {
        let left: Vec<String> = store_blobs(store);
        assert!(left.is_empty(), "the store keeps {left:?}");
    };

    let store_b = workdir().join("stores/stall-b");
    let _ = std::fs::remove_dir_all(&store_b);
    let b = store_b.to_str().unwrap();
    let e = fails(
        &ebpf(
            &dir,
            &home,
            &[
                "pull",
                &via,
                "--store",
                b,
                "--stall-timeout",
                "2s",
                "--retries",
                "0",
            ],
            None,
        ),
        1,
    );
    assert!(e.contains("the registry sent nothing for 2 s"), "{e}");
    clean(&store_b);

    let before = passed.load(Ordering::SeqCst);
    let mut pull = Command::new(bin())
        .args(["ebpf", "pull", &via, "--store", b, "--retries", "0"])
        .env("DOCKER_CONFIG", home.join("docker"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while passed.load(Ordering::SeqCst) < before + (1 << 20) {
        assert!(
            Instant::now() < deadline,
            "the pull never started downloading"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    ok(&Command::new("kill")
        .args(["-INT", &pull.id().to_string()])
        .output()
        .unwrap());
    let status = pull.wait().unwrap();
    let mut err = String::new();
    pull.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted; nothing of this pull is kept"),
        "{err}"
    );
    clean(&store_b);

    // A registry that trickles (never quiet for the stall timeout) is held
    // to the time one command may take.
    let (port, _) = trickling_relay(reg.port, Duration::from_millis(20));
    let via = format!("127.0.0.1:{port}/big:1");
    let e = fails(
        &ebpf(
            &dir,
            &home,
            &[
                "pull",
                &via,
                "--store",
                b,
                "--timeout",
                "3s",
                "--retries",
                "0",
            ],
            None,
        ),
        1,
    );
    assert!(
        e.contains("not done after 3 s, the limit for one command (--timeout)"),
        "{e}"
    );
    clean(&store_b);
}

/// A registry of canned answers: `/v2/` says yes, each listed path gets its
/// body, anything else 404. Plays a hostile registry.
fn canned_registry(routes: Vec<(String, String, Vec<u8>)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let head = request_head(&mut conn);
            if head.is_empty() {
                continue;
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let (status, kind, body) = if path == "/v2/" {
                ("200 OK", "application/json".to_string(), b"{}".to_vec())
            } else if let Some((_, kind, body)) = routes.iter().find(|(p, _, _)| *p == path) {
                ("200 OK", kind.clone(), body.clone())
            } else {
                ("404 Not Found", "text/plain".into(), b"no".to_vec())
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(&body);
        }
    });
    port
}

/// Issue 17, finding 6: a 400 MiB manifest was read whole. A manifest, and
/// what it announces (its config, its layers), are bounded before they are
/// read: one line names the limit, nothing is stored.
#[test]
fn a_registrys_oversized_answers_are_refused_before_they_are_read() {
    const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
    let home = home("canned");
    let store = workdir().join("stores/canned");
    let _ = std::fs::remove_dir_all(&store);
    let s = store.to_str().unwrap();
    let manifest = |config_size: u64, layers: usize| {
        let desc = |kind: &str, size: u64| {
            serde_json::json!({"mediaType": kind, "size": size,
                "digest": format!("sha256:{}", "ab".repeat(32))})
        };
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI,
            "config": desc("application/vnd.oci.image.config.v1+json", config_size),
            "layers": (0..layers)
                .map(|_| desc("application/vnd.oci.image.layer.v1.tar+gzip", 100))
                .collect::<Vec<_>>(),
        }))
        .unwrap()
    };
    let mut huge = manifest(10, 1);
    huge.resize(5 << 20, b' ');
    let port = canned_registry(vec![
        ("/v2/x/manifests/huge".into(), OCI.into(), huge),
        (
            "/v2/x/manifests/config".into(),
            OCI.into(),
            manifest(5 << 20, 1),
        ),
        (
            "/v2/x/manifests/layers".into(),
            OCI.into(),
            manifest(10, 17),
        ),
    ]);
    let dir = workdir().to_path_buf();
    let pull = |tag: &str| {
        let r = format!("127.0.0.1:{port}/x:{tag}");
        fails(&ebpf(&dir, &home, &["pull", &r, "--store", s], None), 1)
    };
    let e = pull("huge");
    assert!(
        e.contains("its manifest is over the limit of 4194304 bytes"),
        "{e}"
    );
    let e = pull("config");
    assert!(
        e.contains("its config is over the limit of 4194304 bytes"),
        "{e}"
    );
    let e = pull("layers");
    assert!(
        e.contains("it has 17 layers, more than the 16 an image may have"),
        "{e}"
    );
    assert!(store_blobs(&store).is_empty());
}
