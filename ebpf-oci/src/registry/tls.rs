//! TLS: the system's CA bundles, a private CA, the client, and whether a
//! loopback registry speaks plain HTTP instead.

use super::*;

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
pub(super) fn pem_certificates(data: &[u8]) -> Vec<Certificate> {
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
pub(super) fn system_roots() -> &'static [Certificate] {
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

pub(super) fn build_client(
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
pub(super) fn probe_ref(registry: &str) -> Reference {
    Reference::with_tag(registry.into(), "library/probe".into(), "latest".into())
}

/// Whether a registry answers on `registry` over plain HTTP: `/v2/` gives
/// 200, or 401 asking for credentials (a TLS server answers 400). A bare
/// HTTP/1.0 request: no client to build for one question.
pub(super) fn speaks_plain_http(registry: &str) -> bool {
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

pub(super) fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
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

/// A plain HTTP client with the same trust as [`build_client`], for the
/// requests oci-client cannot bound: reading `/v2/`'s challenge (see
/// `challenge`; never redirected) and manifests (see `manifest`; up to five
/// redirects, which carry no credentials to another host).
pub(super) fn http_client(extra: &[Certificate]) -> Result<reqwest::Client, reqwest::Error> {
    let convert = |certs: &mut dyn Iterator<Item = &Certificate>| {
        certs
            .map(|c| reqwest::Certificate::from_pem(&c.data))
            .collect::<Result<Vec<_>, _>>()
    };
    let roots = system_roots();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            // `/v2/`'s challenge is the registry's own, never a redirect's.
            if attempt.previous().len() >= 5 || attempt.previous()[0].path() == "/v2/" {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("cargo-ebpf/", env!("CARGO_PKG_VERSION")));
    builder = if roots.is_empty() {
        builder.tls_certs_merge(convert(&mut extra.iter())?)
    } else {
        builder.tls_certs_only(convert(&mut roots.iter().chain(extra))?)
    };
    builder.build()
}
