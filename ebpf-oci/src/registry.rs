//! Moving images between the local store and OCI registries (the OCI
//! distribution protocol, through oci-client): push, pull, search and a
//! credential check for `login`.
//!
//! - Manifests and indexes travel as the exact bytes the store holds, so a
//!   digest is the same on both sides.
//! - Every blob pulled is hashed while it streams into the store and kept only
//!   if it matches; a failed pull removes what it wrote.
//! - Pushes skip blobs the registry has; a tag that already points to the
//!   image uploads nothing.
//! - Connection failures, timeouts, 429 and 5xx answers are retried with
//!   exponential backoff; then the error is one line saying what to do.
//! - HTTPS with the system roots, plus a private CA when given. Plain HTTP
//!   only when asked (`--insecure` or the config) or for a loopback registry
//!   that does not speak TLS.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::{OCI_IMAGE_INDEX_MEDIA_TYPE, OCI_IMAGE_MEDIA_TYPE};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};
use oci_spec::image::{
    ANNOTATION_DESCRIPTION, Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest,
    MediaType,
};

pub use oci_client::Reference;

use crate::auth::{AuthError, Credentials, DockerConfig};
use crate::config::{Config, ConfigError};
use crate::format::{self, FormatError, LABEL_PROGRAMS};
use crate::layout::{Layout, StoreError, sha256_digest};

/// Blobs moved at once.
const CONCURRENCY: usize = 4;
/// Blobs up to this size go up in one request; larger ones in pieces of
/// this size (each one PATCH request).
const CHUNK: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid image reference `{reference}`: {why}")]
    InvalidReference { reference: String, why: String },
    #[error(
        "`{reference}` names no registry; write REGISTRY/REPOSITORY:TAG (for example 127.0.0.1:5000/{reference}) or set a default registry in the config ([registry] default = \"HOST/NAMESPACE\")"
    )]
    NoRegistry { reference: String },
    #[error(
        "cannot reach the registry at {url}: {why}; check the address and that the registry is running"
    )]
    Unreachable { url: String, why: String },
    #[error(
        "TLS with {registry} failed: {why}; for a private CA pass --ca-file CA.pem (or set ca-file for it in the config), for a plain-HTTP registry --insecure"
    )]
    Tls { registry: String, why: String },
    #[error("{registry} requires authentication; run `cargo ebpf login {registry}`")]
    AuthRequired { registry: String },
    #[error(
        "{registry} rejected the credentials of `{username}` (401 Unauthorized); check them and run `cargo ebpf login {registry}` again"
    )]
    BadCredentials { registry: String, username: String },
    #[error(
        "{registry} denied access to {repository} (403 Forbidden); check that the account may {action} it"
    )]
    Denied {
        registry: String,
        repository: String,
        action: &'static str,
    },
    #[error("{reference}: no such image in the registry ({why})")]
    NotFound { reference: String, why: String },
    #[error("{registry} failed after {attempts} attempt(s): {why}")]
    Server {
        registry: String,
        attempts: u32,
        why: String,
    },
    #[error(
        "{reference}: {what} {expected} from the registry does not match its digest (its content hashes to {actual}); nothing was stored"
    )]
    DigestMismatch {
        reference: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{reference} is not an eBPF package ({why})")]
    NotEbpf { reference: String, why: String },
    #[error(
        "{reference} has no image for {wanted} (it has {available}); choose one with --platform"
    )]
    NoPlatform {
        reference: String,
        wanted: String,
        available: String,
    },
    #[error("cannot use the CA file {}: {why}", path.display())]
    CaFile { path: PathBuf, why: String },
    #[error("{registry}: {why}")]
    Protocol { registry: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// A registry's `host[:port]` split into host and port (`[v6]:port` too).
fn host_port(registry: &str) -> (&str, Option<&str>) {
    match registry.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, port)) => (host, port.strip_prefix(':')),
            None => (rest, None),
        },
        None => match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        },
    }
}

/// The address of a loopback registry, found without the system resolver
/// (a static binary has no NSS): `localhost` is 127.0.0.1.
fn loopback_addr(registry: &str) -> Option<std::net::SocketAddr> {
    let (host, port) = host_port(registry);
    let ip = if host == "localhost" {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse().ok()?
    };
    let port = port.map_or(Some(80), |p| p.parse().ok())?;
    ip.is_loopback()
        .then_some(std::net::SocketAddr::new(ip, port))
}

/// Whether `host` (a registry's host[:port]) is this machine.
pub fn is_loopback(registry: &str) -> bool {
    loopback_addr(registry).is_some()
}

/// Whether the first path component of a reference names a registry, by
/// Docker's rule: it has a `.` or a `:`, or is `localhost`.
fn names_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

/// Parses a full reference (`registry/repo[:tag][@digest]`); a short one
/// (`repo:tag`) gets the configured default registry, and without one is
/// refused rather than silently sent to Docker Hub.
pub fn parse_reference(spec: &str, config: &Config) -> Result<Reference> {
    let first = spec.split('/').next().unwrap_or(spec);
    let full = if spec.contains('/') && names_registry(first) {
        spec.to_string()
    } else {
        match &config.registry.default {
            Some(default) => format!("{}/{spec}", default.trim_end_matches('/')),
            None => {
                return Err(RegistryError::NoRegistry {
                    reference: spec.into(),
                });
            }
        }
    };
    let invalid = |why: &str| RegistryError::InvalidReference {
        reference: spec.into(),
        why: why.into(),
    };
    const DIGEST: &str = "a digest is sha256: followed by 64 hexadecimal digits";
    let (rest, digest) = match full.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (full.as_str(), None),
    };
    if let Some(d) = digest {
        let hex = d.strip_prefix("sha256:").ok_or_else(|| invalid(DIGEST))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(DIGEST));
        }
    }
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (rest, None),
    };
    let (registry, repository) = name
        .split_once('/')
        .ok_or_else(|| invalid("no repository after the registry"))?;
    if !host_ok(registry) {
        return Err(invalid("the registry is not HOST or HOST:PORT"));
    }
    if repository.len() > 255 || !repository.split('/').all(component_ok) {
        return Err(invalid(
            "a repository is lowercase letters and digits, separated by `.`, `_`, `-` and `/`",
        ));
    }
    if tag.is_some_and(|t| !tag_ok(t)) {
        return Err(invalid(
            "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
        ));
    }
    let (registry, repository) = (registry.to_string(), repository.to_string());
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => {
            Reference::with_tag_and_digest(registry, repository, t.into(), d.into())
        }
        (None, Some(d)) => Reference::with_digest(registry, repository, d.into()),
        (Some(t), None) => Reference::with_tag(registry, repository, t.into()),
        (None, None) => Reference::with_tag(registry, repository, "latest".into()),
    })
}

// The reference grammar of the distribution spec, checked by hand: the
// regular expression oci-spec parses with takes ~100 ms to compile, longer
// than a whole push of a small image.

/// HOST, HOST:PORT or [IPv6]:PORT.
fn host_ok(h: &str) -> bool {
    let (host, port) = match h.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, port)) => (ip, port.strip_prefix(':')),
            None => return false,
        },
        None => match h.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (h, None),
        },
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b))
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A repository path component: lowercase letters and digits, joined by
/// `.`, `_`, `__` or dashes.
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&x| alnum(x) || b"._-".contains(&x))
        && !c.contains("..")
        && !c.contains("___")
}

fn tag_ok(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || b"_.-".contains(&x))
}

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A PEM file with extra CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// Speak plain HTTP.
    pub insecure: bool,
    /// Retries after a transient failure (0: none).
    pub retries: u32,
    /// Credentials to use instead of the stored ones (`login` checks these).
    pub credentials: Option<Credentials>,
}

impl Options {
    pub fn new() -> Options {
        Options {
            retries: 4,
            ..Options::default()
        }
    }
}

/// What a transfer reports as it goes; the default does nothing.
pub trait Progress: Send + Sync {
    /// A blob of `size` bytes starts moving.
    fn start(&self, _digest: &str, _size: u64) {}
    /// `bytes` more of it moved.
    fn advance(&self, _digest: &str, _bytes: u64) {}
    /// It is done; `moved` is false when it was already there.
    fn finish(&self, _digest: &str, _moved: bool) {}
}

/// Reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// One blob of a transfer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BlobReport {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// Uploaded or downloaded (false: the other side had it).
    pub transferred: bool,
}

impl BlobReport {
    /// The blob `d` describes, not (yet) transferred.
    fn of(d: &Descriptor) -> BlobReport {
        BlobReport {
            digest: d.digest().to_string(),
            size: d.size(),
            media_type: d.media_type().to_string(),
            transferred: false,
        }
    }
}

/// What `push` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    pub reference: String,
    pub digest: String,
    pub media_type: String,
    pub platforms: Vec<String>,
    pub blobs: Vec<BlobReport>,
    /// Manifests and indexes written (0 when the tag was up to date).
    pub manifests_pushed: usize,
    pub blobs_uploaded: usize,
    pub blobs_skipped: usize,
    pub bytes_uploaded: u64,
}

/// What `pull` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PullReport {
    pub reference: String,
    /// The tag in the local store.
    pub tag: String,
    /// The digest of the stored manifest.
    pub digest: String,
    /// The digest of the index it was chosen from, for multi-platform images.
    pub index_digest: Option<String>,
    pub platform: String,
    pub blobs: Vec<BlobReport>,
    pub blobs_downloaded: usize,
    pub blobs_present: usize,
    pub bytes_downloaded: u64,
}

/// A repository found by `search`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RepositoryReport {
    pub repository: String,
    pub reference: String,
    pub tags: Vec<String>,
    /// Whether its newest tag is an eBPF package.
    pub ebpf: bool,
    pub description: Option<String>,
    /// Program name → type, from bpfman's label.
    pub programs: BTreeMap<String, String>,
}

/// A connection to one registry.
pub struct Session {
    client: Client,
    registry: String,
    url: String,
    auth: RegistryAuth,
    retries: u32,
    runtime: tokio::runtime::Runtime,
}

/// Where Linux distributions keep the system's CA bundle, as Go's
/// crypto/x509 looks for it (Debian, openEuler/Fedora, SUSE, Alpine).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The PEM certificates in `data`, one per entry (reqwest reads one
/// certificate per PEM value).
fn pem_certificates(data: &[u8]) -> Vec<Certificate> {
    const END: &str = "-----END CERTIFICATE-----";
    let text = String::from_utf8_lossy(data);
    let mut certs = Vec::new();
    let mut rest = text.as_ref();
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find(END) else {
            break;
        };
        let block = &rest[start..start + end + END.len()];
        certs.push(Certificate {
            encoding: CertificateEncoding::Pem,
            data: format!("{block}\n").into_bytes(),
        });
        rest = &rest[start + end + END.len()..];
    }
    certs
}

/// The system's roots, read once from its CA bundle file (`SSL_CERT_FILE`
/// first). Reading one file, not the hundreds of `/etc/ssl/certs`, is what
/// keeps a short command short. Empty when there is no bundle: then the
/// platform's own verifier is used.
fn system_roots() -> &'static [Certificate] {
    static ROOTS: std::sync::OnceLock<Vec<Certificate>> = std::sync::OnceLock::new();
    ROOTS.get_or_init(|| {
        let env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
        env.into_iter()
            .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
            .find_map(|p| std::fs::read(p).ok())
            .map(|data| pem_certificates(&data))
            .unwrap_or_default()
    })
}

fn build_client(
    protocol: ClientProtocol,
    extra: &[Certificate],
) -> Result<Client, OciDistributionError> {
    let roots = system_roots();
    let (tls_certs_only, extra_root_certificates) = if roots.is_empty() {
        (Vec::new(), extra.to_vec())
    } else {
        (roots.iter().chain(extra).cloned().collect(), Vec::new())
    };
    Client::try_from(ClientConfig {
        protocol,
        tls_certs_only,
        extra_root_certificates,
        platform_resolver: None,
        connect_timeout: Some(Duration::from_secs(10)),
        read_timeout: Some(Duration::from_secs(60)),
        user_agent: concat!("cargo-ebpf/", env!("CARGO_PKG_VERSION")),
        // Blobs of one chunk or less go up in one request; larger ones are
        // streamed in chunks by `push_blob_stream`, which this does not touch.
        use_monolithic_push: true,
        ..ClientConfig::default()
    })
}

/// A reference to some repository of `registry`, for registry-wide calls.
fn probe_ref(registry: &str) -> Reference {
    Reference::with_tag(registry.into(), "library/probe".into(), "latest".into())
}

/// The innermost cause of an error, which is what a user can act on
/// ("Connection refused", "invalid peer certificate: UnknownIssuer").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Whether a registry answers on `registry` over plain HTTP: `/v2/` gives
/// 200, or 401 asking for credentials (a TLS server answers 400). A bare
/// HTTP/1.0 request: no client to build for one question.
fn speaks_plain_http(registry: &str) -> bool {
    use std::io::{Read, Write};
    let timeout = Duration::from_secs(5);
    let Some(addr) = loopback_addr(registry) else {
        return false;
    };
    let Ok(mut conn) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(timeout));
    let request = format!("GET /v2/ HTTP/1.0\r\nHost: {registry}\r\n\r\n");
    if conn.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut got = 0;
    while got < head.len() {
        match conn.read(&mut head[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let line = String::from_utf8_lossy(&head[..got]);
    line.starts_with("HTTP/1.")
        && (line[8..].trim_start().starts_with("200") || line[8..].trim_start().starts_with("401"))
}

fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        let s = err.to_string().to_ascii_lowercase();
        if s.contains("certificate") || s.contains("tls") || s.contains("handshake") {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Errors that a retry may cure.
trait Transient {
    fn transient(&self) -> bool;
}

impl Transient for OciDistributionError {
    fn transient(&self) -> bool {
        transient(self)
    }
}

/// A blob download fails in the network (maybe transient) or in the store
/// (not).
enum Fetch {
    Oci(OciDistributionError),
    Store(StoreError),
}

impl Transient for Fetch {
    fn transient(&self) -> bool {
        matches!(self, Fetch::Oci(e) if transient(e))
    }
}

impl From<OciDistributionError> for Fetch {
    fn from(e: OciDistributionError) -> Fetch {
        Fetch::Oci(e)
    }
}

impl From<StoreError> for Fetch {
    fn from(e: StoreError) -> Fetch {
        Fetch::Store(e)
    }
}

/// A stream error that is really a digest mismatch found by oci-client.
fn stream_error(e: std::io::Error) -> OciDistributionError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<DigestError>())
    {
        Some(DigestError::VerificationError { expected, actual }) => {
            OciDistributionError::DigestError(DigestError::VerificationError {
                expected: expected.clone(),
                actual: actual.clone(),
            })
        }
        _ => OciDistributionError::IoError(e),
    }
}

fn transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(e) => match e.status() {
            Some(status) => status.is_server_error() || status.as_u16() == 429,
            None => true,
        },
        OciDistributionError::IoError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Toomanyrequests)),
        _ => false,
    }
}

impl Session {
    /// Connects to `registry` (host[:port]) with `options`, the config's
    /// settings for it and the stored credentials.
    pub fn connect(registry: &str, config: &Config, options: &Options) -> Result<Session> {
        // rustls needs one process-wide crypto provider; a second install
        // attempt is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let settings = config.settings(registry);
        let ca_file = options.ca_file.clone().or(settings.ca_file);
        let ca = match &ca_file {
            Some(path) => {
                let data = std::fs::read(path).map_err(|e| RegistryError::CaFile {
                    path: path.clone(),
                    why: e.to_string(),
                })?;
                let certs = pem_certificates(&data);
                if certs.is_empty() {
                    return Err(RegistryError::CaFile {
                        path: path.clone(),
                        why: "it holds no PEM certificate".into(),
                    });
                }
                certs
            }
            None => Vec::new(),
        };
        let auth = match &options.credentials {
            Some(c) => RegistryAuth::Basic(c.username.clone(), c.secret.clone()),
            None => match DockerConfig::load()?.get(registry)? {
                Some((c, _)) => RegistryAuth::Basic(c.username, c.secret),
                None => RegistryAuth::Anonymous,
            },
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RegistryError::Protocol {
                registry: registry.into(),
                why: format!("cannot start the I/O runtime: {e}"),
            })?;
        let make = |protocol| {
            build_client(protocol, &ca).map_err(|e| RegistryError::CaFile {
                path: ca_file.clone().unwrap_or_default(),
                why: root_cause(&e),
            })
        };
        let insecure = options.insecure || settings.insecure;
        let mut session = Session {
            client: make(if insecure {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            })?,
            registry: registry.into(),
            url: format!(
                "{}://{registry}/v2/",
                if insecure { "http" } else { "https" }
            ),
            auth,
            retries: options.retries,
            runtime,
        };
        match session.probe() {
            Ok(()) => Ok(session),
            // A loopback registry without TLS, as `docker-registry` starts by
            // default: plain HTTP is allowed there, as Docker allows it, if
            // a registry really answers on it.
            Err(e @ (RegistryError::Tls { .. } | RegistryError::Unreachable { .. }))
                if !insecure && ca_file.is_none() && is_loopback(registry) =>
            {
                let url = format!("http://{registry}/v2/");
                if !speaks_plain_http(registry) {
                    return Err(e);
                }
                session.client = make(ClientProtocol::Http)?;
                session.url = url;
                session.probe()?;
                Ok(session)
            }
            Err(e) => Err(e),
        }
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Reaches `/v2/` and authenticates: a bearer-token registry checks the
    /// credentials here.
    fn probe(&self) -> Result<()> {
        let r = probe_ref(&self.registry);
        self.runtime
            .block_on(self.client.auth(&r, &self.auth, RegistryOperation::Pull))
            .map(|_| ())
            .map_err(|e| self.classify(e, &r, "pull"))
    }

    /// Checks that the credentials are accepted (for `login`). A registry
    /// with HTTP basic auth answers `/v2/` itself; one with bearer tokens was
    /// checked when connecting.
    pub fn check_credentials(&self) -> Result<()> {
        let r = probe_ref(&self.registry);
        match self
            .runtime
            .block_on(self.client.catalog(&r, &self.auth, Some(1), None))
        {
            Ok(_) => Ok(()),
            Err(e) => match self.classify(e, &r, "pull") {
                e @ (RegistryError::BadCredentials { .. } | RegistryError::AuthRequired { .. }) => {
                    Err(e)
                }
                // A registry without a catalog, or one that keeps it to
                // admins, still accepted the credentials.
                RegistryError::Denied { .. } | RegistryError::NotFound { .. } => Ok(()),
                RegistryError::Protocol { .. } => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Turns a client error into one line a user can act on.
    fn classify(
        &self,
        e: OciDistributionError,
        r: &Reference,
        action: &'static str,
    ) -> RegistryError {
        let registry = self.registry.clone();
        let unauthorized = || match &self.auth {
            RegistryAuth::Basic(user, _) => RegistryError::BadCredentials {
                registry: registry.clone(),
                username: user.clone(),
            },
            _ => RegistryError::AuthRequired {
                registry: registry.clone(),
            },
        };
        let not_found = |why: String| RegistryError::NotFound {
            reference: r.whole(),
            why,
        };
        match e {
            // A HEAD request has no body to explain itself: its status is
            // all there is.
            OciDistributionError::RequestError(err) if err.status().is_some() => {
                let code = err.status().expect("checked").as_u16();
                self.classify(
                    OciDistributionError::ServerError {
                        code,
                        url: String::new(),
                        message: String::new(),
                    },
                    r,
                    action,
                )
            }
            OciDistributionError::RequestError(err) => {
                let why = root_cause(&err);
                if is_tls(&err as &(dyn std::error::Error + 'static)) {
                    RegistryError::Tls { registry, why }
                } else {
                    RegistryError::Unreachable {
                        url: self.url.clone(),
                        why,
                    }
                }
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => unauthorized(),
            OciDistributionError::ServerError { code: 401, .. } => unauthorized(),
            OciDistributionError::ServerError { code: 403, .. } => RegistryError::Denied {
                registry,
                repository: r.repository().into(),
                action,
            },
            OciDistributionError::ServerError {
                code: 404, message, ..
            } => not_found(if message.trim().is_empty() {
                "404 Not Found".into()
            } else {
                message.trim().into()
            }),
            OciDistributionError::ImageManifestNotFoundError(why) => not_found(why),
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let message = envelope
                    .errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized))
                {
                    unauthorized()
                } else if codes.iter().any(|c| matches!(c, OciErrorCode::Denied)) {
                    RegistryError::Denied {
                        registry,
                        repository: r.repository().into(),
                        action,
                    }
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    not_found(message)
                } else {
                    RegistryError::Protocol {
                        registry,
                        why: message,
                    }
                }
            }
            OciDistributionError::DigestError(d) => RegistryError::Protocol {
                registry,
                why: d.to_string(),
            },
            OciDistributionError::ServerError { code, message, .. } => RegistryError::Server {
                registry,
                attempts: self.retries + 1,
                why: format!("HTTP {code} {}", message.trim())
                    .trim_end()
                    .to_string(),
            },
            other => RegistryError::Protocol {
                registry,
                why: root_cause(&other),
            },
        }
    }

    /// Runs `f` until it succeeds, fails for good, or the retries run out.
    async fn retry<T, E, F, Fut>(&self, mut f: F) -> Result<T, E>
    where
        E: Transient,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut delay = Duration::from_millis(250);
        let mut attempt = 0;
        loop {
            match f().await {
                Err(e) if attempt < self.retries && e.transient() => {
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
    }

    /// Pushes the image `desc` of `layout` to `target`: every blob the
    /// registry lacks, each platform's manifest by digest, then the image
    /// under the target's tag.
    pub fn push(
        &self,
        layout: &Layout,
        desc: &Descriptor,
        target: &Reference,
        progress: Arc<dyn Progress>,
    ) -> Result<PushReport> {
        // Everything is read (and verified) from the store first.
        let top = layout.read_blob(desc.digest())?;
        let mut documents = Vec::new(); // (descriptor, bytes) of platform manifests
        let mut platforms = Vec::new();
        match desc.media_type() {
            MediaType::ImageIndex => {
                let index: ImageIndex = layout.read_json(desc)?;
                for m in index.manifests() {
                    if let Some(p) = m.platform() {
                        platforms.push(format!("{}/{}", p.os(), p.architecture()));
                    }
                    documents.push((m.clone(), layout.read_blob(m.digest())?));
                }
            }
            MediaType::ImageManifest => {
                let config: ImageConfiguration = {
                    let m: ImageManifest = layout.read_json(desc)?;
                    layout.read_json(m.config())?
                };
                platforms.push(format!("{}/{}", config.os(), config.architecture()));
            }
            other => {
                return Err(RegistryError::Protocol {
                    registry: self.registry.clone(),
                    why: format!("cannot push a {other}: not an image manifest or index"),
                });
            }
        }
        let mut blobs: Vec<Descriptor> = Vec::new();
        let mut seen = BTreeSet::new();
        let manifests: Vec<&[u8]> = if documents.is_empty() {
            vec![top.as_slice()]
        } else {
            documents.iter().map(|(_, b)| b.as_slice()).collect()
        };
        for bytes in manifests {
            let m: ImageManifest =
                serde_json::from_slice(bytes).map_err(|e| StoreError::InvalidLayout {
                    path: layout.root().into(),
                    why: format!("a manifest is invalid ({e})"),
                })?;
            for d in std::iter::once(m.config()).chain(m.layers()) {
                if seen.insert(d.digest().to_string()) {
                    blobs.push(d.clone());
                }
            }
        }
        let media = |d: &Descriptor| d.media_type().to_string();
        let mut report = PushReport {
            reference: target.whole(),
            digest: desc.digest().to_string(),
            media_type: media(desc),
            platforms,
            blobs: Vec::new(),
            manifests_pushed: 0,
            blobs_uploaded: 0,
            blobs_skipped: 0,
            bytes_uploaded: 0,
        };

        self.runtime.block_on(async {
            let auth_push = self
                .retry(|| {
                    self.client
                        .auth(target, &self.auth, RegistryOperation::Push)
                })
                .await;
            auth_push.map_err(|e| self.classify(e, target, "push to"))?;

            // Up to date already: nothing to move.
            let current = self
                .retry(|| self.client.fetch_manifest_digest(target, &self.auth))
                .await;
            if current.as_deref().ok() == Some(desc.digest().as_ref()) {
                report.blobs = blobs
                    .iter()
                    .map(|d| BlobReport {
                        digest: d.digest().to_string(),
                        size: d.size(),
                        media_type: media(d),
                        transferred: false,
                    })
                    .collect();
                report.blobs_skipped = report.blobs.len();
                return Ok(());
            }

            let results: Vec<BlobReport> = stream::iter(blobs.iter())
                .map(|d| self.push_blob(layout, d, target, progress.clone()))
                .buffer_unordered(CONCURRENCY)
                .try_collect()
                .await?;
            for d in &blobs {
                let r = results
                    .iter()
                    .find(|r| r.digest == d.digest().as_ref())
                    .expect("every blob has a result");
                report.blobs.push(r.clone());
            }
            for (m, bytes) in &documents {
                let by_digest = target.clone_with_digest(m.digest().to_string());
                self.push_manifest(&by_digest, bytes, m.media_type())
                    .await?;
                report.manifests_pushed += 1;
            }
            self.push_manifest(target, &top, desc.media_type()).await?;
            report.manifests_pushed += 1;
            Ok::<(), RegistryError>(())
        })?;
        report.blobs_uploaded = report.blobs.iter().filter(|b| b.transferred).count();
        report.blobs_skipped = report.blobs.len() - report.blobs_uploaded;
        report.bytes_uploaded = report
            .blobs
            .iter()
            .filter(|b| b.transferred)
            .map(|b| b.size)
            .sum();
        Ok(report)
    }

    async fn push_manifest(
        &self,
        r: &Reference,
        bytes: &[u8],
        media_type: &MediaType,
    ) -> Result<()> {
        let content_type = http::HeaderValue::from_str(media_type.as_ref())
            .expect("a media type is a valid header value");
        let body = bytes::Bytes::copy_from_slice(bytes);
        self.retry(|| {
            self.client
                .push_manifest_raw(r, body.clone(), content_type.clone())
        })
        .await
        .map(|_| ())
        .map_err(|e| self.classify(e, r, "push to"))
    }

    async fn push_blob(
        &self,
        layout: &Layout,
        d: &Descriptor,
        target: &Reference,
        progress: Arc<dyn Progress>,
    ) -> Result<BlobReport> {
        let mut report = BlobReport::of(d);
        let digest = report.digest.clone();
        let exists = self
            .retry(|| self.client.blob_exists(target, &digest))
            .await
            .map_err(|e| self.classify(e, target, "push to"))?;
        if exists {
            progress.finish(&digest, false);
            return Ok(report);
        }
        let data = bytes::Bytes::from(layout.read_blob(d.digest())?);
        progress.start(&digest, data.len() as u64);
        if data.len() <= CHUNK {
            // One request with the whole blob (POST, then PUT with the
            // body) instead of POST, PATCH, PUT.
            self.retry(|| self.client.push_blob(target, data.clone(), &digest))
                .await
                .map_err(|e| self.classify(e, target, "push to"))?;
            progress.advance(&digest, data.len() as u64);
        } else {
            self.retry(|| {
                let chunks: Vec<Result<bytes::Bytes, OciDistributionError>> = (0..data.len())
                    .step_by(CHUNK)
                    .map(|at| Ok(data.slice(at..(at + CHUNK).min(data.len()))))
                    .collect();
                let p = progress.clone();
                let id = digest.clone();
                let counted = stream::iter(chunks).inspect(move |c| {
                    if let Ok(c) = c {
                        p.advance(&id, c.len() as u64);
                    }
                });
                self.client
                    .push_blob_stream(target, counted, &digest, Some(data.len() as u64))
            })
            .await
            .map_err(|e| self.classify(e, target, "push to"))?;
        }
        progress.finish(&digest, true);
        report.transferred = true;
        Ok(report)
    }

    /// Pulls `source` into `layout` and tags it `tag` (default: the whole
    /// reference). From an index, the manifest for `platform` (`os/arch`,
    /// default this host's) is pulled.
    pub fn pull(
        &self,
        source: &Reference,
        platform: Option<&str>,
        layout: &Layout,
        tag: Option<&str>,
        progress: Arc<dyn Progress>,
    ) -> Result<PullReport> {
        let written = std::sync::Mutex::new(Vec::<Digest>::new());
        let result = self
            .runtime
            .block_on(self.pull_inner(source, platform, layout, tag, progress, &written));
        if result.is_err() {
            // Leave the store as it was: drop what this pull wrote that no
            // tag uses.
            let written = written.into_inner().unwrap_or_default();
            let _ = layout.discard(&written);
        }
        result
    }

    async fn pull_inner(
        &self,
        source: &Reference,
        platform: Option<&str>,
        layout: &Layout,
        tag: Option<&str>,
        progress: Arc<dyn Progress>,
        written: &std::sync::Mutex<Vec<Digest>>,
    ) -> Result<PullReport> {
        let reference = source.whole();
        let accept = [OCI_IMAGE_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE];
        let fetch = |r: &Reference| {
            let r = r.clone();
            async move {
                self.retry(|| self.client.pull_manifest_raw(&r, &self.auth, &accept))
                    .await
                    .map_err(|e| self.classify(e, &r, "pull from"))
            }
        };
        let (mut bytes, mut digest) = fetch(source).await?;
        check_digest(&reference, "manifest", &digest, &bytes)?;
        let mut index_digest = None;
        let kind = media_type_of(&bytes);
        let wanted = match platform {
            Some(p) => p.to_string(),
            None => host_platform(),
        };
        let mut chosen_platform = wanted.clone();
        if kind.as_deref() == Some(OCI_IMAGE_INDEX_MEDIA_TYPE) {
            let index: ImageIndex = parse(&reference, &bytes)?;
            let entry = index
                .manifests()
                .iter()
                .find(|m| {
                    m.platform()
                        .as_ref()
                        .is_some_and(|p| format!("{}/{}", p.os(), p.architecture()) == wanted)
                })
                .ok_or_else(|| RegistryError::NoPlatform {
                    reference: reference.clone(),
                    wanted: wanted.clone(),
                    available: index
                        .manifests()
                        .iter()
                        .filter_map(|m| m.platform().as_ref())
                        .map(|p| format!("{}/{}", p.os(), p.architecture()))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            index_digest = Some(digest);
            let by_digest = source.clone_with_digest(entry.digest().to_string());
            (bytes, digest) = fetch(&by_digest).await?;
            check_digest(&reference, "manifest", &digest, &bytes)?;
        } else if kind.as_deref() != Some(OCI_IMAGE_MEDIA_TYPE) {
            return Err(RegistryError::NotEbpf {
                reference,
                why: format!(
                    "its manifest is {}, not an OCI image manifest",
                    kind.unwrap_or_else(|| "of no known type".into())
                ),
            });
        }
        let manifest: ImageManifest = parse(&reference, &bytes)?;

        // The config first: it says whether this is an eBPF package at all,
        // before any layer is fetched.
        let config_report = self
            .pull_blob(source, manifest.config(), layout, progress.clone(), written)
            .await?;
        let config: ImageConfiguration = layout.read_json(manifest.config())?;
        let labels = config
            .config()
            .as_ref()
            .and_then(|c| c.labels().as_ref())
            .cloned()
            .unwrap_or_default();
        if !labels.contains_key(LABEL_PROGRAMS) {
            return Err(RegistryError::NotEbpf {
                reference,
                why: format!("its config has no {LABEL_PROGRAMS} label"),
            });
        }
        if index_digest.is_none() {
            // A single-platform image: it must be the platform asked for.
            chosen_platform = format!("{}/{}", config.os(), config.architecture());
            if platform.is_some_and(|p| p != chosen_platform) {
                return Err(RegistryError::NoPlatform {
                    reference,
                    wanted,
                    available: chosen_platform,
                });
            }
        }
        let mut blobs = vec![config_report];
        let layers: Vec<BlobReport> = stream::iter(manifest.layers().iter())
            .map(|d| self.pull_blob(source, d, layout, progress.clone(), written))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        for d in manifest.layers() {
            blobs.push(
                layers
                    .iter()
                    .find(|r| r.digest == d.digest().as_ref())
                    .expect("every layer has a result")
                    .clone(),
            );
        }
        let stored = layout.put_blob(&bytes)?;
        written.lock().expect("not poisoned").push(stored.clone());
        let desc = Descriptor::new(MediaType::ImageManifest, bytes.len() as u64, stored);
        // The image must read back as one of ours before it is tagged.
        format::read(layout, &desc)?;
        let tag = tag.map(str::to_string).unwrap_or_else(|| reference.clone());
        layout.tag(&tag, &desc, true)?;
        let downloaded: Vec<&BlobReport> = blobs.iter().filter(|b| b.transferred).collect();
        Ok(PullReport {
            reference,
            tag,
            digest,
            index_digest,
            platform: chosen_platform,
            blobs_downloaded: downloaded.len(),
            bytes_downloaded: downloaded.iter().map(|b| b.size).sum(),
            blobs_present: blobs.len() - downloaded.len(),
            blobs,
        })
    }

    async fn pull_blob(
        &self,
        source: &Reference,
        d: &Descriptor,
        layout: &Layout,
        progress: Arc<dyn Progress>,
        written: &std::sync::Mutex<Vec<Digest>>,
    ) -> Result<BlobReport> {
        let mut report = BlobReport::of(d);
        let digest = report.digest.clone();
        if layout.has_blob(d.digest()) {
            progress.finish(&digest, false);
            return Ok(report);
        }
        progress.start(&digest, d.size());
        let (id, progress_ref) = (digest.as_str(), &progress);
        let outcome = self
            .retry(|| async move {
                let mut writer = layout.blob_writer(d.digest())?;
                let mut s = self.client.pull_blob_stream(source, id).await?;
                while let Some(chunk) = s.next().await {
                    let chunk = chunk.map_err(stream_error)?;
                    writer.write(&chunk)?;
                    progress_ref.advance(id, chunk.len() as u64);
                    if writer.written() > d.size() {
                        break; // more than announced: the commit will refuse it
                    }
                }
                Ok::<_, Fetch>(writer)
            })
            .await;
        let mismatch = |expected: String, actual: String| RegistryError::DigestMismatch {
            reference: source.whole(),
            what: "blob",
            expected,
            actual,
        };
        let writer = match outcome {
            Ok(w) => w,
            Err(Fetch::Store(e)) => return Err(e.into()),
            Err(Fetch::Oci(OciDistributionError::DigestError(
                DigestError::VerificationError { expected, actual },
            ))) => return Err(mismatch(expected, actual)),
            Err(Fetch::Oci(e)) => return Err(self.classify(e, source, "pull from")),
        };
        writer.commit().map_err(|e| match e {
            StoreError::Corrupt {
                expected, actual, ..
            } => mismatch(expected, actual),
            e => e.into(),
        })?;
        written
            .lock()
            .expect("not poisoned")
            .push(d.digest().clone());
        progress.finish(&digest, true);
        report.transferred = true;
        Ok(report)
    }

    /// The repositories of the registry whose name or description contains
    /// `term`, with their tags, whether they are eBPF packages, and what
    /// their newest tag describes.
    pub fn search(&self, term: Option<&str>) -> Result<Vec<RepositoryReport>> {
        let probe = probe_ref(&self.registry);
        self.runtime.block_on(async {
            let mut repositories = Vec::new();
            let mut last: Option<String> = None;
            loop {
                let page = self
                    .retry(|| {
                        self.client
                            .catalog(&probe, &self.auth, Some(100), last.as_deref())
                    })
                    .await
                    .map_err(|e| match self.classify(e, &probe, "list") {
                        RegistryError::NotFound { .. } => RegistryError::Protocol {
                            registry: self.registry.clone(),
                            why: "this registry does not offer a catalog (/v2/_catalog), so it cannot be searched; pull by name instead".into(),
                        },
                        e => e,
                    })?;
                let n = page.repositories.len();
                last = page.repositories.last().cloned();
                repositories.extend(page.repositories);
                if n < 100 {
                    break;
                }
            }
            let term = term.map(str::to_ascii_lowercase);
            let found: Vec<Option<RepositoryReport>> = stream::iter(repositories)
                .map(|repo| self.describe(repo, term.as_deref()))
                .buffered(8)
                .try_collect()
                .await?;
            Ok(found.into_iter().flatten().collect())
        })
    }

    async fn describe(
        &self,
        repository: String,
        term: Option<&str>,
    ) -> Result<Option<RepositoryReport>> {
        let r = Reference::with_tag(self.registry.clone(), repository.clone(), "latest".into());
        let mut tags = self
            .retry(|| self.client.list_tags(&r, &self.auth, None, None))
            .await
            .map_err(|e| self.classify(e, &r, "list"))?
            .tags;
        tags.sort_by(|a, b| version_order(a, b));
        let mut report = RepositoryReport {
            reference: format!("{}/{repository}", self.registry),
            repository,
            tags,
            ebpf: false,
            description: None,
            programs: BTreeMap::new(),
        };
        let newest = report
            .tags
            .iter()
            .find(|t| *t == "latest")
            .or(report.tags.last())
            .cloned();
        if let Some(tag) = newest {
            let r = Reference::with_tag(self.registry.clone(), report.repository.clone(), tag);
            // A repository that is not an image (or not readable) is listed
            // without details rather than failing the search.
            let _ = self.describe_image(&r, &mut report).await;
        }
        let matches = term.is_none_or(|t| {
            report.repository.to_ascii_lowercase().contains(t)
                || report
                    .description
                    .as_deref()
                    .is_some_and(|d| d.to_ascii_lowercase().contains(t))
        });
        Ok(matches.then_some(report))
    }

    async fn describe_image(
        &self,
        r: &Reference,
        report: &mut RepositoryReport,
    ) -> Result<(), OciDistributionError> {
        let accept = [OCI_IMAGE_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE];
        let (mut bytes, _) = self
            .client
            .pull_manifest_raw(r, &self.auth, &accept)
            .await?;
        if media_type_of(&bytes).as_deref() == Some(OCI_IMAGE_INDEX_MEDIA_TYPE) {
            let index: ImageIndex = serde_json::from_slice(&bytes)?;
            report.description = annotation(index.annotations(), ANNOTATION_DESCRIPTION);
            let Some(first) = index.manifests().first() else {
                return Ok(());
            };
            let by_digest = r.clone_with_digest(first.digest().to_string());
            (bytes, _) = self
                .client
                .pull_manifest_raw(&by_digest, &self.auth, &accept)
                .await?;
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes)?;
        if report.description.is_none() {
            report.description = annotation(manifest.annotations(), ANNOTATION_DESCRIPTION);
        }
        let mut config = Vec::new();
        self.client
            .pull_blob(r, manifest.config().digest().as_ref(), &mut config)
            .await?;
        let config: ImageConfiguration = serde_json::from_slice(&config)?;
        if let Some(programs) = config
            .config()
            .as_ref()
            .and_then(|c| c.labels().as_ref())
            .and_then(|l| l.get(LABEL_PROGRAMS))
        {
            report.ebpf = true;
            report.programs = serde_json::from_str(programs).unwrap_or_default();
        }
        Ok(())
    }
}

fn annotation(
    annotations: &Option<std::collections::HashMap<String, String>>,
    key: &str,
) -> Option<String> {
    annotations.as_ref().and_then(|a| a.get(key)).cloned()
}

/// Orders tags so that versions compare by their numbers (0.10.0 after
/// 0.9.0); other tags by name.
fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    // A pre-release (`1.0.0-rc1`) comes before its release.
    let key = |t: &str| {
        let (release, pre) = match t.trim_start_matches('v').split_once('-') {
            Some((r, p)) => (r.to_string(), Some(p.to_string())),
            None => (t.trim_start_matches('v').to_string(), None),
        };
        let parts: Vec<Result<u64, String>> = release
            .split(['.', '+'])
            .map(|p| p.parse::<u64>().map_err(|_| p.to_string()))
            .collect();
        (parts, pre.is_none(), pre)
    };
    key(a).cmp(&key(b))
}

fn media_type_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(bytes).ok()?.media_type
}

fn parse<T: serde::de::DeserializeOwned>(reference: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::NotEbpf {
        reference: reference.into(),
        why: format!("its manifest is invalid ({e})"),
    })
}

fn check_digest(reference: &str, what: &'static str, expected: &str, bytes: &[u8]) -> Result<()> {
    let actual = sha256_digest(bytes).to_string();
    if actual != expected {
        return Err(RegistryError::DigestMismatch {
            reference: reference.into(),
            what,
            expected: expected.into(),
            actual,
        });
    }
    Ok(())
}

/// This host's platform as OCI names it (`linux/amd64`).
pub fn host_platform() -> String {
    let arch = format::oci_arch(std::env::consts::ARCH).unwrap_or(std::env::consts::ARCH);
    format!("linux/{arch}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_need_a_registry_or_a_default() {
        let none = Config::default();
        let r = parse_reference("127.0.0.1:5000/xdp:0.1.0", &none).unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "xdp");
        assert_eq!(r.tag(), Some("0.1.0"));
        let r = parse_reference("localhost/team/xdp@sha256:0123456789012345678901234567890123456789012345678901234567890123", &none).unwrap();
        assert_eq!(r.registry(), "localhost");
        assert!(r.digest().is_some());
        let e = parse_reference("xdp:0.1.0", &none).unwrap_err().to_string();
        assert!(e.contains("names no registry"), "{e}");

        let mut with_default = Config::default();
        with_default.registry.default = Some("ghcr.io/acme/".into());
        let r = parse_reference("xdp:0.1.0", &with_default).unwrap();
        assert_eq!(r.whole(), "ghcr.io/acme/xdp:0.1.0");
        for bad in [
            "127.0.0.1:5000/Bad:tag",
            "127.0.0.1:5000/x:-tag",
            "127.0.0.1:5000/x@sha256:abc",
            "127.0.0.1:5000/a..b",
            "127.0.0.1:x/a",
            "127.0.0.1:5000/",
        ] {
            let e = parse_reference(bad, &none).unwrap_err().to_string();
            assert!(e.contains("invalid image reference"), "{bad}: {e}");
        }
        let r = parse_reference("127.0.0.1:5000/team/my_app.v2:1.0", &none).unwrap();
        assert_eq!(r.repository(), "team/my_app.v2");
        assert_eq!(
            parse_reference("[::1]:5000/a", &none).unwrap().tag(),
            Some("latest")
        );
    }

    #[test]
    fn loopback_registries_are_recognised() {
        for r in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!is_loopback(r), "{r}");
        }
        assert_eq!(
            loopback_addr("localhost:5000"),
            Some("127.0.0.1:5000".parse().unwrap())
        );
        assert_eq!(
            loopback_addr("[::1]:5000"),
            Some("[::1]:5000".parse().unwrap())
        );
        assert_eq!(
            loopback_addr("127.0.0.1"),
            Some("127.0.0.1:80".parse().unwrap())
        );
    }

    #[test]
    fn a_pem_bundle_is_split_into_certificates() {
        let one = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----";
        let bundle = format!("# comment\n{one}\n\n{one}\ntrailing");
        let certs = pem_certificates(bundle.as_bytes());
        assert_eq!(certs.len(), 2);
        assert_eq!(String::from_utf8_lossy(&certs[1].data), format!("{one}\n"));
        assert!(pem_certificates(b"no certificate here").is_empty());
    }

    #[test]
    fn versions_sort_by_number() {
        let mut tags = vec!["0.10.0", "0.9.1", "0.9.0", "latest", "1.0.0-rc1"];
        tags.sort_by(|a, b| version_order(a, b));
        assert_eq!(tags, ["0.9.0", "0.9.1", "0.10.0", "1.0.0-rc1", "latest"]);
        let mut tags = vec!["1.0.0", "1.0.0-rc1"];
        tags.sort_by(|a, b| version_order(a, b));
        assert_eq!(tags, ["1.0.0-rc1", "1.0.0"]);
    }
}
