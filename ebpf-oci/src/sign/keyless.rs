//! Keyless signatures, verified offline: a signature by a short-lived key
//! whose certificate a Sigstore CA (Fulcio) issued to an OIDC identity, with
//! the transparency log's (Rekor's) promise that it saw the signature while
//! the certificate was valid. This is what `cosign sign` makes without
//! `--key` (in a GitHub workflow: the workflow's identity), stored as cosign
//! stores it: the layer annotations `dev.sigstore.cosign/certificate` (the
//! PEM certificate) and `dev.sigstore.cosign/bundle` (the log entry and its
//! signed entry timestamp).
//!
//! Nothing is fetched: the CAs and log keys come from a Sigstore trusted
//! root file (`trusted_root.json`, the format `cosign trusted-root create`
//! writes and Sigstore's TUF repository serves) that the policy names. A
//! signature counts for a [`Signer`] when, in this order:
//! 1. the payload's signature verifies under the certificate's key;
//! 2. the log entry is signed by a log of the trusted root (its signed
//!    entry timestamp), was integrated while that log key was valid, and
//!    records exactly this signature, this certificate and this payload's
//!    hash (a `hashedrekord`);
//! 3. the certificate chains to a CA of the trusted root, for code signing,
//!    at the time the log integrated the entry (certificates live minutes);
//! 4. its identity (a subject alternative name) and its OIDC issuer (the
//!    Fulcio extension) are the ones the policy names.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::key::{PublicKey, pem_decode};
use super::{SignError, Signature};

/// The annotation holding the signing certificate (PEM).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// The annotation holding the certificate chain (PEM). Informational: the
/// chain is built from the trusted root, never from what the image says.
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// The annotation holding the transparency-log bundle (JSON).
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";

/// Fulcio's OIDC issuer extension (a DER UTF8String), and its first,
/// deprecated form (the raw bytes of the issuer).
const ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
const ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER contents.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// Bounds on keyless material (a certificate is ~1 KiB, a bundle ~3 KiB, a
/// trusted root ~10 KiB).
pub mod limits {
    pub const CERTIFICATE: usize = 16 << 10;
    pub const BUNDLE: usize = 64 << 10;
    pub const TRUSTED_ROOT: u64 = 4 << 20;
}

/// A keyless signer the policy trusts: who (identity) and vouched for by
/// whom (issuer), under which trusted root.
#[derive(Debug, Clone)]
pub struct Signer {
    /// A subject alternative name: an e-mail, or a URI such as a GitHub
    /// workflow's `https://github.com/OWNER/REPO/.github/workflows/F.yml@refs/heads/main`.
    /// `*` matches any run of characters.
    pub identity: String,
    /// The OIDC issuer, exactly (`https://token.actions.githubusercontent.com`).
    pub issuer: String,
    pub root: TrustedRoot,
}

impl Signer {
    /// Whether `identity` is the one this signer names.
    pub fn matches(&self, identity: &str) -> bool {
        glob(&self.identity, identity)
    }

    /// How `inspect` and refusals name this signer.
    pub fn name(&self) -> String {
        format!("{} (issuer {})", self.identity, self.issuer)
    }
}

/// The CAs and transparency logs signatures are checked against.
#[derive(Debug, Clone)]
pub struct TrustedRoot {
    pub source: PathBuf,
    /// Each CA: its certificates (DER), leaf-most first, and when it was
    /// valid.
    cas: Vec<Authority>,
    logs: Vec<Log>,
}

#[derive(Debug, Clone)]
struct Authority {
    chain: Vec<Vec<u8>>,
    valid: Window,
}

#[derive(Debug, Clone)]
struct Log {
    /// The hex SHA-256 of its key's SubjectPublicKeyInfo: a bundle's `logID`.
    id: String,
    key: PublicKey,
    valid: Window,
}

/// A time window in Unix seconds; an open end is `None`.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Option<i64>,
    end: Option<i64>,
}

impl Window {
    fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t <= e)
    }
}

// The trusted root's JSON (sigstore protobuf-specs, `TrustedRoot`); fields
// not needed here (CT logs, timestamp authorities) are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RootFile {
    media_type: String,
    #[serde(default)]
    tlogs: Vec<TlogFile>,
    #[serde(default)]
    certificate_authorities: Vec<CaFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlogFile {
    public_key: KeyFile,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyFile {
    raw_bytes: String,
    valid_for: Option<WindowFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaFile {
    cert_chain: ChainFile,
    valid_for: Option<WindowFile>,
}

#[derive(Deserialize)]
struct ChainFile {
    certificates: Vec<RawFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawFile {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct WindowFile {
    start: Option<String>,
    end: Option<String>,
}

impl TrustedRoot {
    /// Reads a Sigstore trusted root file.
    pub fn load(path: &Path) -> Result<TrustedRoot, SignError> {
        let bytes =
            crate::fs::read_bounded(path, limits::TRUSTED_ROOT).map_err(|e| SignError::Io {
                action: "read the trusted root",
                path: path.into(),
                source: e,
            })?;
        TrustedRoot::from_json(&bytes, path).map_err(|why| SignError::TrustedRoot {
            path: path.into(),
            why,
        })
    }

    /// Parses a trusted root's JSON; `source` is where it came from.
    pub fn from_json(bytes: &[u8], source: &Path) -> Result<TrustedRoot, String> {
        let file: RootFile = serde_json::from_slice(bytes)
            .map_err(|e| format!("it is not a Sigstore trusted root ({e})"))?;
        if !file
            .media_type
            .starts_with("application/vnd.dev.sigstore.trustedroot")
        {
            return Err(format!(
                "its mediaType is `{}`, not a Sigstore trusted root",
                file.media_type
            ));
        }
        let window = |w: &Option<WindowFile>| -> Result<Window, String> {
            let time = |t: &Option<String>| {
                t.as_deref()
                    .map(|t| {
                        humantime::parse_rfc3339_weak(t.trim_end_matches('Z'))
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map(|d| d.as_secs() as i64)
                            .ok_or_else(|| format!("`{t}` is not an RFC 3339 time"))
                    })
                    .transpose()
            };
            match w {
                Some(w) => Ok(Window {
                    start: time(&w.start)?,
                    end: time(&w.end)?,
                }),
                None => Ok(Window {
                    start: None,
                    end: None,
                }),
            }
        };
        let b64 = |s: &str, what: &str| {
            B64.decode(s.as_bytes())
                .map_err(|_| format!("a {what} is not base64"))
        };
        let mut logs = Vec::new();
        for t in &file.tlogs {
            let spki = b64(&t.public_key.raw_bytes, "log key")?;
            // Logs with keys of other kinds (ed25519) cannot have signed a
            // bundle this verifier accepts; they are skipped, not fatal.
            let Ok(key) = PublicKey::from_spki(&spki) else {
                continue;
            };
            logs.push(Log {
                id: hex::encode(Sha256::digest(&spki)),
                key,
                valid: window(&t.public_key.valid_for)?,
            });
        }
        let mut cas = Vec::new();
        for ca in &file.certificate_authorities {
            let chain = ca
                .cert_chain
                .certificates
                .iter()
                .map(|c| b64(&c.raw_bytes, "certificate"))
                .collect::<Result<Vec<_>, _>>()?;
            if chain.is_empty() {
                return Err("a certificate authority lists no certificate".into());
            }
            for der in &chain {
                x509_parser::parse_x509_certificate(der)
                    .map_err(|e| format!("a CA certificate does not parse ({e})"))?;
            }
            cas.push(Authority {
                chain,
                valid: window(&ca.valid_for)?,
            });
        }
        if cas.is_empty() || logs.is_empty() {
            return Err(
                "it lists no certificate authority or no ECDSA P-256 transparency log".into(),
            );
        }
        Ok(TrustedRoot {
            source: source.into(),
            cas,
            logs,
        })
    }
}

/// What a keyless signature's certificate says, whether or not it counts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateClaim {
    /// Its subject alternative names (e-mails, URIs, DNS names).
    pub identities: Vec<String>,
    pub issuer: Option<String>,
}

/// Why a keyless signature does not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeylessMismatch {
    /// It has no certificate: a key signature.
    NoCertificate,
    Certificate(String),
    /// The payload's signature does not verify under the certificate's key.
    BadSignature,
    NoLogEntry,
    LogEntry(String),
    /// The certificate does not chain to a trusted CA at the log's time.
    Untrusted(String),
    Identity(Vec<String>),
    Issuer(Option<String>),
}

impl std::fmt::Display for KeylessMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeylessMismatch::NoCertificate => write!(f, "it carries no certificate"),
            KeylessMismatch::Certificate(why) => write!(f, "its certificate {why}"),
            KeylessMismatch::BadSignature => {
                write!(
                    f,
                    "its signature does not verify under its certificate's key"
                )
            }
            KeylessMismatch::NoLogEntry => write!(f, "it has no transparency-log entry"),
            KeylessMismatch::LogEntry(why) => write!(f, "its transparency-log entry {why}"),
            KeylessMismatch::Untrusted(why) => {
                write!(f, "its certificate is not from a trusted CA ({why})")
            }
            KeylessMismatch::Identity(found) => {
                // A hostile certificate may name thousands: the first few.
                let shown: Vec<&str> = found.iter().take(3).map(String::as_str).collect();
                let more = match found.len().saturating_sub(3) {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                };
                if found.is_empty() {
                    write!(f, "its certificate names no identity")
                } else {
                    write!(f, "its certificate is for {}{more}", shown.join(", "))
                }
            }
            KeylessMismatch::Issuer(found) => write!(
                f,
                "its identity was vouched for by {}",
                found.as_deref().unwrap_or("no named issuer")
            ),
        }
    }
}

/// The bundle annotation: a Rekor log entry and its signed entry timestamp.
#[derive(Deserialize)]
struct Bundle {
    #[serde(rename = "SignedEntryTimestamp")]
    set: String,
    #[serde(rename = "Payload")]
    payload: BundlePayload,
}

#[derive(Deserialize, serde::Serialize)]
pub(crate) struct BundlePayload {
    pub(crate) body: String,
    #[serde(rename = "integratedTime")]
    pub(crate) integrated_time: i64,
    #[serde(rename = "logID")]
    pub(crate) log_id: String,
    #[serde(rename = "logIndex")]
    pub(crate) log_index: i64,
}

impl BundlePayload {
    /// What the log signed: the entry's canonical JSON (RFC 8785: these four
    /// keys sorted, no spaces; the values are a base64 string, a hex string
    /// and integers, which serde_json writes canonically).
    pub(crate) fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an entry serializes")
    }

    #[cfg(any(test, feature = "test-pki"))]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("an entry serializes")
    }
}

// A `hashedrekord` v0.0.1 entry, the kind `cosign sign` logs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    kind: String,
    api_version: String,
    spec: EntrySpec,
}

#[derive(Deserialize)]
struct EntrySpec {
    data: EntryData,
    signature: EntrySignature,
}

#[derive(Deserialize)]
struct EntryData {
    hash: EntryHash,
}

#[derive(Deserialize)]
struct EntryHash {
    algorithm: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntrySignature {
    content: String,
    public_key: EntryKey,
}

#[derive(Deserialize)]
struct EntryKey {
    content: String,
}

/// The certificate of a keyless signature, parsed.
struct Leaf {
    der: Vec<u8>,
    key: PublicKey,
    claim: CertificateClaim,
}

fn leaf_of(sig: &Signature) -> Result<Leaf, KeylessMismatch> {
    let pem = sig
        .annotations
        .get(CERTIFICATE_ANNOTATION)
        .ok_or(KeylessMismatch::NoCertificate)?;
    let bad = |why: String| KeylessMismatch::Certificate(why);
    if pem.len() > limits::CERTIFICATE {
        return Err(bad("is implausibly long".into()));
    }
    let (label, der) = pem_decode(pem).map_err(|e| bad(format!("is not PEM: {e}")))?;
    if label != "CERTIFICATE" {
        return Err(bad(format!("is a {label}")));
    }
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| bad(format!("does not parse ({e})")))?;
    let key = PublicKey::from_spki(cert.public_key().raw).map_err(|e| bad(format!("holds {e}")))?;
    let mut identities = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            use x509_parser::extensions::GeneralName::*;
            match name {
                RFC822Name(s) | URI(s) | DNSName(s) => identities.push(s.to_string()),
                _ => {}
            }
        }
    }
    let mut issuer = None;
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if oid == ISSUER_V2 {
            issuer = der_utf8(ext.value).or(issuer);
        } else if oid == ISSUER_V1 && issuer.is_none() {
            issuer = std::str::from_utf8(ext.value).ok().map(String::from);
        }
    }
    Ok(Leaf {
        der,
        key,
        claim: CertificateClaim { identities, issuer },
    })
}

/// The text of a DER UTF8String.
fn der_utf8(der: &[u8]) -> Option<String> {
    let (&tag, rest) = der.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let (len, rest) = match len {
        n if n < 0x80 => (n as usize, rest),
        0x81 => (*rest.first()? as usize, &rest[1..]),
        0x82 => (
            u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize,
            &rest[2..],
        ),
        _ => return None,
    };
    (tag == 0x0c && rest.len() == len)
        .then(|| std::str::from_utf8(rest).ok().map(String::from))
        .flatten()
}

/// What the certificate of `sig` claims (for `inspect`), if it has one.
pub fn certificate_claim(sig: &Signature) -> Option<CertificateClaim> {
    leaf_of(sig).ok().map(|l| l.claim)
}

/// Whether `text` matches `pattern`, where `*` matches any run of
/// characters.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Checks `sig` against `signer` (see the module's steps) and returns the
/// identity of its certificate that matched; the payload's claim is the
/// caller's to check.
pub fn verify(sig: &Signature, signer: &Signer) -> Result<String, KeylessMismatch> {
    let leaf = leaf_of(sig)?;
    let raw_sig = B64
        .decode(sig.signature.as_bytes())
        .map_err(|_| KeylessMismatch::BadSignature)?;
    if !leaf.key.verifies(&sig.payload, &raw_sig) {
        return Err(KeylessMismatch::BadSignature);
    }
    let time = check_log_entry(sig, &leaf, &raw_sig, &signer.root)?;
    check_chain(&leaf.der, time, &signer.root)?;
    let Some(identity) = leaf
        .claim
        .identities
        .iter()
        .find(|i| signer.matches(i))
        .cloned()
    else {
        return Err(KeylessMismatch::Identity(leaf.claim.identities));
    };
    if leaf.claim.issuer.as_deref() != Some(signer.issuer.as_str()) {
        return Err(KeylessMismatch::Issuer(leaf.claim.issuer));
    }
    Ok(identity)
}

/// Verifies the bundle of `sig`; returns the time the log integrated it.
fn check_log_entry(
    sig: &Signature,
    leaf: &Leaf,
    raw_sig: &[u8],
    root: &TrustedRoot,
) -> Result<i64, KeylessMismatch> {
    let bad = |why: &str| KeylessMismatch::LogEntry(why.into());
    let text = sig
        .annotations
        .get(BUNDLE_ANNOTATION)
        .ok_or(KeylessMismatch::NoLogEntry)?;
    if text.len() > limits::BUNDLE {
        return Err(bad("is implausibly long"));
    }
    let bundle: Bundle =
        serde_json::from_str(text).map_err(|_| bad("is not a transparency-log bundle"))?;
    let entry = &bundle.payload;
    let log = root
        .logs
        .iter()
        .find(|l| l.id == entry.log_id)
        .ok_or_else(|| bad("is from a log the trusted root does not list"))?;
    let set = B64
        .decode(bundle.set.as_bytes())
        .map_err(|_| bad("has a timestamp that is not base64"))?;
    if !log.key.verifies(&entry.canonical(), &set) {
        return Err(bad("is not signed by its log"));
    }
    if !log.valid.contains(entry.integrated_time) {
        return Err(bad("was made when its log's key was not valid"));
    }
    let body = B64
        .decode(entry.body.as_bytes())
        .map_err(|_| bad("has a body that is not base64"))?;
    let body: Entry =
        serde_json::from_slice(&body).map_err(|_| bad("is not a hashedrekord entry"))?;
    if body.kind != "hashedrekord" || body.api_version != "0.0.1" {
        return Err(bad("is not a hashedrekord 0.0.1 entry"));
    }
    let hash = &body.spec.data.hash;
    if hash.algorithm != "sha256" || hash.value != hex::encode(Sha256::digest(&sig.payload)) {
        return Err(bad("records another payload"));
    }
    if B64
        .decode(body.spec.signature.content.as_bytes())
        .ok()
        .as_deref()
        != Some(raw_sig)
    {
        return Err(bad("records another signature"));
    }
    let logged_cert = B64
        .decode(body.spec.signature.public_key.content.as_bytes())
        .ok()
        .and_then(|pem| String::from_utf8(pem).ok())
        .and_then(|pem| pem_decode(&pem).ok())
        .map(|(_, der)| der);
    if logged_cert.as_deref() != Some(&leaf.der[..]) {
        return Err(bad("records another certificate"));
    }
    Ok(entry.integrated_time)
}

/// Whether `leaf` chains to a CA of `root` for code signing at `time`.
fn check_chain(leaf: &[u8], time: i64, root: &TrustedRoot) -> Result<(), KeylessMismatch> {
    let leaf = CertificateDer::from(leaf);
    let ee = webpki::EndEntityCert::try_from(&leaf)
        .map_err(|e| KeylessMismatch::Certificate(format!("is malformed: {e}")))?;
    let at = UnixTime::since_unix_epoch(Duration::from_secs(time.max(0) as u64));
    let mut why = String::from("the trusted root lists no CA valid at its signing time");
    for ca in root.cas.iter().filter(|ca| ca.valid.contains(time)) {
        let (anchor, intermediates) = ca.chain.split_last().expect("a CA has a certificate");
        let anchor = match webpki::anchor_from_trusted_cert(&CertificateDer::from(&anchor[..])) {
            Ok(a) => a.to_owned(),
            Err(e) => {
                why = format!("its CA's root certificate is unusable: {e}");
                continue;
            }
        };
        let anchors: [TrustAnchor<'_>; 1] = [anchor];
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(&c[..]))
            .collect();
        match ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            at,
            webpki::KeyUsage::required(CODE_SIGNING),
            None,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(e) => why = describe(&e),
        }
    }
    Err(KeylessMismatch::Untrusted(why))
}

fn describe(e: &webpki::Error) -> String {
    use webpki::Error::*;
    match e {
        UnknownIssuer => "it is issued by a CA the trusted root does not list".into(),
        CertExpired { .. } | CertNotValidYet { .. } => {
            "it was not valid when the log recorded the signature".into()
        }
        RequiredEkuNotFoundContext(_) => "it is not for code signing".into(),
        InvalidSignatureForPublicKey => "its issuer's signature does not verify".into(),
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::testing::{Fault, TestSigstore};

    const ID: &str = "https://github.com/acme/probes/.github/workflows/publish.yml@refs/heads/main";
    const ISSUER: &str = "https://token.actions.githubusercontent.com";

    fn signer(s: &TestSigstore, identity: &str, issuer: &str) -> Signer {
        Signer {
            identity: identity.into(),
            issuer: issuer.into(),
            root: s.trusted_root(),
        }
    }

    fn digest() -> oci_spec::image::Digest {
        crate::layout::sha256_digest(b"an image manifest")
    }

    #[test]
    fn a_keyless_signature_verifies_offline_for_its_identity_and_issuer_only() {
        let s = TestSigstore::new();
        let sig = s.sign(&digest(), "r.io/acme/probe:1", ID, ISSUER, Fault::None);
        assert_eq!(verify(&sig, &signer(&s, ID, ISSUER)), Ok(ID.to_string()));
        verify(
            &sig,
            &signer(
                &s,
                "https://github.com/acme/probes/.github/workflows/*@refs/heads/main",
                ISSUER,
            ),
        )
        .unwrap();
        assert_eq!(
            verify(&sig, &signer(&s, "https://github.com/evil/x/*", ISSUER)),
            Err(KeylessMismatch::Identity(vec![ID.into()]))
        );
        assert_eq!(
            verify(&sig, &signer(&s, ID, "https://accounts.google.com")),
            Err(KeylessMismatch::Issuer(Some(ISSUER.into())))
        );
        assert_eq!(
            certificate_claim(&sig),
            Some(CertificateClaim {
                identities: vec![ID.into()],
                issuer: Some(ISSUER.into())
            })
        );
    }

    #[test]
    fn forged_or_incomplete_keyless_signatures_are_refused_with_their_reason() {
        let s = TestSigstore::new();
        let other = TestSigstore::new();
        let d = digest();
        let err = |f: Fault| verify(&s.sign(&d, "r/p:1", ID, ISSUER, f), &signer(&s, ID, ISSUER));
        assert_eq!(err(Fault::NoBundle), Err(KeylessMismatch::NoLogEntry));
        assert!(
            matches!(err(Fault::TamperedSet), Err(KeylessMismatch::LogEntry(w)) if w.contains("not signed by its log"))
        );
        assert!(
            matches!(err(Fault::OtherPayloadLogged), Err(KeylessMismatch::LogEntry(w)) if w.contains("another payload"))
        );
        assert!(
            matches!(err(Fault::LoggedAfterExpiry), Err(KeylessMismatch::Untrusted(w)) if w.contains("not valid when"))
        );
        assert!(
            matches!(err(Fault::NotCodeSigning), Err(KeylessMismatch::Untrusted(w)) if w.contains("code signing"))
        );
        assert_eq!(
            err(Fault::TamperedPayload),
            Err(KeylessMismatch::BadSignature)
        );
        // Signed under another Sigstore: its CA and log are not trusted here.
        let foreign = other.sign(&d, "r/p:1", ID, ISSUER, Fault::None);
        assert!(matches!(
            verify(&foreign, &signer(&s, ID, ISSUER)),
            Err(KeylessMismatch::LogEntry(w)) if w.contains("does not list")
        ));
        // Its certificate from another CA, its log entry from ours.
        assert!(
            matches!(err(Fault::ForeignCa), Err(KeylessMismatch::Untrusted(w)) if w.contains("does not list"))
        );
        // A key signature is not a keyless one.
        let key = crate::sign::PrivateKey::generate().unwrap();
        let plain = Signature::create(&key, "r/p:1", &d).unwrap();
        assert_eq!(
            verify(&plain, &signer(&s, ID, ISSUER)),
            Err(KeylessMismatch::NoCertificate)
        );
    }

    #[test]
    fn oversized_or_garbled_keyless_material_is_refused_unparsed() {
        let s = TestSigstore::new();
        let good = s.sign(&digest(), "r/p:1", ID, ISSUER, Fault::None);
        let with = |k: &str, v: String| {
            let mut sig = good.clone();
            sig.annotations.insert(k.into(), v);
            verify(&sig, &signer(&s, ID, ISSUER))
        };
        let huge = "A".repeat(limits::BUNDLE + 1);
        assert_eq!(
            with(CERTIFICATE_ANNOTATION, huge.clone()),
            Err(KeylessMismatch::Certificate("is implausibly long".into()))
        );
        assert_eq!(
            with(BUNDLE_ANNOTATION, huge),
            Err(KeylessMismatch::LogEntry("is implausibly long".into()))
        );
        assert!(matches!(
            with(CERTIFICATE_ANNOTATION, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()),
            Err(KeylessMismatch::Certificate(w)) if w.starts_with("does not parse")
        ));
        assert!(matches!(
            with(BUNDLE_ANNOTATION, "{\"SignedEntryTimestamp\":1}".into()),
            Err(KeylessMismatch::LogEntry(w)) if w.contains("not a transparency-log bundle")
        ));
        // A certificate naming thousands of identities: the line names three.
        let many: Vec<String> = (0..5000).map(|i| format!("x{i}@evil.example")).collect();
        let line = KeylessMismatch::Identity(many).to_string();
        assert!(line.ends_with("x2@evil.example and 4997 more"), "{line}");
    }

    #[test]
    fn globs_match_runs_of_characters() {
        assert!(glob("a*c", "abbbc"));
        assert!(glob("*", ""));
        assert!(glob("a*", "a"));
        assert!(!glob("a*c", "ab"));
        assert!(!glob("abc", "abcd"));
        assert!(glob(
            "https://x/*@refs/tags/v*",
            "https://x/ci.yml@refs/tags/v1.2"
        ));
        assert!(!glob("a*b*a", "ab"));
    }

    #[test]
    fn a_trusted_root_is_read_strictly() {
        let s = TestSigstore::new();
        let p = Path::new("root.json");
        assert!(TrustedRoot::from_json(s.trusted_root_json().as_bytes(), p).is_ok());
        let e = TrustedRoot::from_json(b"{\"mediaType\":\"x\"}", p).unwrap_err();
        assert!(e.contains("not a Sigstore trusted root"), "{e}");
        let e = TrustedRoot::from_json(
            b"{\"mediaType\":\"application/vnd.dev.sigstore.trustedroot+json;version=0.1\"}",
            p,
        )
        .unwrap_err();
        assert!(e.contains("no certificate authority"), "{e}");
    }

    /// Writes the seed of the `keyless` fuzz target (a coherent trusted
    /// root and keyless signature) to `$KEYLESS_FUZZ_SEED`:
    /// `KEYLESS_FUZZ_SEED=fuzz/seeds/keyless/signed cargo test -p ebpf-oci --lib keyless_fuzz_seed -- --ignored`.
    #[test]
    #[ignore]
    fn keyless_fuzz_seed() {
        let out = std::env::var("KEYLESS_FUZZ_SEED").expect("KEYLESS_FUZZ_SEED names the file");
        let s = TestSigstore::new();
        let sig = s.sign(&digest(), "ghcr.io/acme/probe:1", ID, ISSUER, Fault::None);
        let root = s.trusted_root_json().into_bytes();
        let mut annotations = sig.annotations.clone();
        annotations.insert(
            crate::sign::SIGNATURE_ANNOTATION.into(),
            sig.signature.clone(),
        );
        let annotations = serde_json::to_vec(&annotations).unwrap();
        let mut seed = Vec::new();
        for part in [&root, &annotations] {
            seed.extend((part.len() as u32).to_le_bytes());
            seed.extend(part);
        }
        seed.extend(&sig.payload);
        std::fs::write(out, seed).unwrap();
    }
}
