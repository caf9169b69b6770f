//! A test Sigstore, offline: a CA that plays Fulcio (it issues short-lived
//! code-signing certificates carrying an OIDC identity and issuer, as
//! Fulcio does) and a key that plays Rekor (it signs entry timestamps over
//! `hashedrekord` entries, as Rekor does). Keyless signatures made here
//! have exactly cosign's layout; verification cannot tell them from
//! Sigstore's except by the trusted root. For tests only (feature
//! `test-pki`).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use oci_spec::image::Digest;
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use sha2::{Digest as _, Sha256};

use super::keyless::{
    BUNDLE_ANNOTATION, BundlePayload, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, TrustedRoot,
};
use super::{PrivateKey, Signature};

/// What to get wrong in a signature, to test that verification refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// No log entry (as `cosign sign --tlog-upload=false` makes).
    NoBundle,
    /// The entry's time changed after the log signed it.
    TamperedSet,
    /// The log recorded the hash of another payload.
    OtherPayloadLogged,
    /// Logged after the certificate had expired.
    LoggedAfterExpiry,
    /// A certificate for TLS servers, not for code signing.
    NotCodeSigning,
    /// The payload changed after it was signed.
    TamperedPayload,
    /// The certificate comes from a CA this Sigstore's root does not list.
    ForeignCa,
}

pub struct TestSigstore {
    ca_key: KeyPair,
    ca: rcgen::Certificate,
    rekor: PrivateKey,
}

impl Default for TestSigstore {
    fn default() -> Self {
        TestSigstore::new()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs() as i64
}

fn at(t: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t).expect("a time in range")
}

fn new_ca(name: &str) -> (KeyPair, rcgen::Certificate) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("a key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name
        .push(DnType::OrganizationName, "cargo-ebpf tests");
    p.distinguished_name.push(DnType::CommonName, name);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = at(now() - 365 * 86400);
    p.not_after = at(now() + 10 * 365 * 86400);
    let cert = p.self_signed(&key).expect("a CA certificate");
    (key, cert)
}

/// A DER UTF8String.
fn der_utf8(s: &str) -> Vec<u8> {
    let len = s.len();
    let mut out = vec![0x0c];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        out.extend([0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend(s.as_bytes());
    out
}

impl TestSigstore {
    pub fn new() -> TestSigstore {
        let (ca_key, ca) = new_ca("test fulcio");
        TestSigstore {
            ca_key,
            ca,
            rekor: PrivateKey::generate().expect("a key"),
        }
    }

    /// The CA certificate (PEM): what `cosign verify --ca-roots` takes.
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The log's public key (PEM): what cosign takes as
    /// `SIGSTORE_REKOR_PUBLIC_KEY`.
    pub fn rekor_public_pem(&self) -> String {
        self.rekor.public().to_pem()
    }

    /// This Sigstore as a trusted root file.
    pub fn trusted_root_json(&self) -> String {
        let spki = self.rekor.public().spki();
        serde_json::to_string_pretty(&serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [{
                "baseUrl": "https://rekor.test",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": B64.encode(&spki),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"}
                },
                "logId": {"keyId": B64.encode(Sha256::digest(&spki))}
            }],
            "certificateAuthorities": [{
                "subject": {"organization": "cargo-ebpf tests", "commonName": "test fulcio"},
                "uri": "https://fulcio.test",
                "certChain": {"certificates": [{"rawBytes": B64.encode(self.ca.der())}]},
                "validFor": {"start": "2020-01-01T00:00:00Z"}
            }],
            "ctlogs": [],
            "timestampAuthorities": []
        }))
        .expect("a root serializes")
    }

    pub fn trusted_root(&self) -> TrustedRoot {
        TrustedRoot::from_json(self.trusted_root_json().as_bytes(), Path::new("test-root"))
            .expect("the test root reads")
    }

    /// A keyless signature of `digest` by `identity` (an e-mail or a URI)
    /// as vouched for by `issuer`, made an hour ago with a certificate that
    /// lived ten minutes (as Fulcio's do), logged while it was valid.
    pub fn sign(
        &self,
        digest: &Digest,
        docker_reference: &str,
        identity: &str,
        issuer: &str,
        fault: Fault,
    ) -> Signature {
        let issued = now() - 3600;
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("a key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        let name = if identity.contains("://") {
            SanType::URI(identity.try_into().expect("an ASCII identity"))
        } else {
            SanType::Rfc822Name(identity.try_into().expect("an ASCII identity"))
        };
        p.subject_alt_names = vec![name];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![if fault == Fault::NotCodeSigning {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::CodeSigning
        }];
        p.custom_extensions = vec![
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
                issuer.as_bytes().to_vec(),
            ),
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 8], der_utf8(issuer)),
        ];
        p.not_before = at(issued);
        p.not_after = at(issued + 600);
        let cert = if fault == Fault::ForeignCa {
            let (key, ca) = new_ca("another fulcio");
            p.signed_by(&leaf_key, &ca, &key)
        } else {
            p.signed_by(&leaf_key, &self.ca, &self.ca_key)
        }
        .expect("a leaf certificate");
        let signer = PrivateKey::from_pkcs8(&leaf_key.serialize_der()).expect("a P-256 key");
        let mut sig = Signature::create(&signer, docker_reference, digest).expect("signs");
        let raw_sig = B64.decode(&sig.signature).expect("base64");
        let cert_pem = cert.pem();
        sig.annotations
            .insert(CERTIFICATE_ANNOTATION.into(), cert_pem.clone());
        sig.annotations
            .insert(CHAIN_ANNOTATION.into(), self.ca_pem());
        if fault == Fault::NoBundle {
            return sig;
        }
        let logged = if fault == Fault::OtherPayloadLogged {
            b"another payload".to_vec()
        } else {
            sig.payload.clone()
        };
        let body = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(&logged))}},
                "signature": {
                    "content": B64.encode(&raw_sig),
                    "publicKey": {"content": B64.encode(cert_pem.as_bytes())}
                }
            }
        });
        let integrated = if fault == Fault::LoggedAfterExpiry {
            issued + 900
        } else {
            issued + 30
        };
        let mut entry = BundlePayload {
            body: B64.encode(serde_json::to_vec(&body).expect("serializes")),
            integrated_time: integrated,
            log_id: hex::encode(Sha256::digest(self.rekor.public().spki())),
            log_index: 4242,
        };
        let set = self.rekor.sign(&entry.canonical()).expect("signs");
        if fault == Fault::TamperedSet {
            entry.integrated_time += 1;
        }
        let bundle =
            serde_json::json!({"SignedEntryTimestamp": B64.encode(set), "Payload": entry.json()});
        sig.annotations
            .insert(BUNDLE_ANNOTATION.into(), bundle.to_string());
        if fault == Fault::TamperedPayload {
            let text = String::from_utf8(sig.payload.clone()).expect("JSON");
            sig.payload = text
                .replace(docker_reference, "evil.example/x:1")
                .into_bytes();
        }
        sig
    }
}
