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
    ANNOTATION_DESCRIPTION, Descriptor, Digest, ImageIndex, ImageManifest, MediaType,
};

pub use oci_client::Reference;

use crate::auth::{AuthError, Credentials, DockerConfig};
use crate::config::{Config, ConfigError};
use crate::format::{self, FormatError, ImageConfig, LABEL_METADATA, LABEL_PROGRAMS};
use crate::layout::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, Layout, StoreError, is_index, is_manifest, sha256_digest,
};

/// The manifest types asked for, in order of preference: OCI's, then
/// Docker's schema 2 (what many builders push; asking for OCI alone makes
/// some registries convert, changing the digest).
const ACCEPT: [&str; 4] = [
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// The media type of a manifest document by its name.
fn media_type(name: &str) -> MediaType {
    MediaType::from(name)
}

/// Blobs moved at once.
const CONCURRENCY: usize = 4;
/// A download that receives nothing for this long fails (a registry that
/// stalls must not hang a pull forever).
pub const STALL: Duration = Duration::from_secs(60);
/// A pull or push not done after this long fails (a registry trickling
/// bytes inside the stall timeout must not hold it forever either).
pub const TIMEOUT: Duration = Duration::from_secs(30 * 60);
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
        "{registry} sends logins to a token service on another host ({realm_host}), so its credentials were not sent there; if you trust that host, add it to token-hosts for {registry} in the config (or log in to it)"
    )]
    CredentialsWithheld {
        registry: String,
        realm_host: String,
    },
    #[error(
        "{registry} asks for the credentials at {realm}, which is not HTTPS; they are not sent in clear text (ask its operator to serve the token service over HTTPS)"
    )]
    ClearTextRealm { registry: String, realm: String },
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
    #[error(
        "{reference}: the registry sent nothing for {secs} s; nothing of this pull is kept (retry, or check the registry)"
    )]
    Stalled { reference: String, secs: u64 },
    #[error("{reference}: interrupted; nothing of this pull is kept")]
    Interrupted { reference: String },
    #[error(
        "{reference}: its {what} is over the limit of {limit} bytes; nothing was stored (an eBPF package's are far smaller: the registry sent something else)"
    )]
    TooLarge {
        reference: String,
        what: &'static str,
        limit: u64,
    },
    #[error(
        "{reference}: not done after {secs} s, the limit for one command (--timeout); nothing of it is kept"
    )]
    TimedOut { reference: String, secs: u64 },
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

mod challenge;
mod error;
mod manifest;
mod pull;
mod push;
mod report;
mod search;
mod signatures;
mod tls;

use error::*;
pub use report::{BlobReport, PullReport, PushReport, RepositoryReport};
use tls::*;

use crate::reference::loopback_addr;
pub use crate::reference::{is_loopback, parse_reference};

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
    /// A download that receives nothing for this long fails.
    pub stall: Duration,
    /// A pull or push not done after this long fails.
    pub timeout: Duration,
}

impl Options {
    pub fn new() -> Options {
        Options {
            retries: 4,
            stall: STALL,
            timeout: TIMEOUT,
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

/// A connection to one registry.
pub struct Session {
    client: Client,
    registry: String,
    url: String,
    auth: RegistryAuth,
    /// For the requests oci-client cannot bound (see `manifest`,
    /// `challenge`).
    http: reqwest::Client,
    /// Hosts besides the registry's own that may receive its credentials.
    token_hosts: Vec<String>,
    /// Whether the token service has been judged (see `challenge`).
    guarded: bool,
    /// The token service's host, when the credentials were kept from it.
    withheld: Option<String>,
    retries: u32,
    stall: Duration,
    timeout: Duration,
    runtime: tokio::runtime::Runtime,
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
            http: http_client(&ca).map_err(|e| RegistryError::CaFile {
                path: ca_file.clone().unwrap_or_default(),
                why: root_cause(&e),
            })?,
            token_hosts: settings.token_hosts.clone(),
            guarded: false,
            withheld: None,
            retries: options.retries,
            stall: if options.stall.is_zero() {
                STALL
            } else {
                options.stall
            },
            timeout: if options.timeout.is_zero() {
                TIMEOUT
            } else {
                options.timeout
            },
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

    /// `work` on `r`, failed when not done within the session's timeout.
    async fn bounded<T>(&self, r: &Reference, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(RegistryError::TimedOut {
                    reference: r.whole(),
                    secs: self.timeout.as_secs(),
                })
            })
    }

    /// Reaches `/v2/` and authenticates: a bearer-token registry checks the
    /// credentials here, once its token service is judged fit for them.
    fn probe(&mut self) -> Result<()> {
        self.guard_credentials()?;
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
