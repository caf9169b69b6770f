//! Signing keys: ECDSA P-256 with SHA-256, the keys `cosign generate-key-pair`
//! makes. Public keys are PEM `PUBLIC KEY` (SubjectPublicKeyInfo); private
//! keys are cosign's `ENCRYPTED SIGSTORE PRIVATE KEY` (PKCS#8 sealed with
//! scrypt and NaCl secretbox under a password) or a plain PKCS#8
//! `PRIVATE KEY`. Both tools read each other's keys.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::aead::{Aead, KeyInit};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use super::SignError;

/// The DER prefix of an ECDSA P-256 SubjectPublicKeyInfo: SEQUENCE {
/// SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (0 unused bits) },
/// followed by the 65-byte uncompressed point.
const SPKI_P256_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// The PEM label cosign (v2) writes its private keys under.
pub const ENCRYPTED_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
/// The label older cosign releases wrote.
const ENCRYPTED_LABEL_OLD: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// The environment variable cosign reads a key's password from.
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";
/// The work factor cosign seals keys with (scrypt N = 2^16, r = 8, p = 1).
const SCRYPT_LOG_N: u8 = 16;
/// The largest scrypt cost accepted when opening a key (a hostile key file
/// must not make opening it take minutes or gigabytes).
const SCRYPT_MAX_LOG_N: u8 = 20;

/// A public key that signatures are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The uncompressed point (65 bytes).
    point: Vec<u8>,
}

impl PublicKey {
    /// Reads a PEM `PUBLIC KEY` file.
    pub fn load(path: &Path) -> Result<PublicKey, SignError> {
        let text = read_key_file(path)?;
        PublicKey::from_pem(&text).map_err(|why| SignError::Key {
            path: path.into(),
            why,
        })
    }

    pub fn from_pem(text: &str) -> Result<PublicKey, String> {
        let (label, der) = pem_decode(text)?;
        if label != "PUBLIC KEY" {
            return Err(format!("it holds a {label}, not a PUBLIC KEY"));
        }
        PublicKey::from_spki(&der)
    }

    pub fn from_spki(der: &[u8]) -> Result<PublicKey, String> {
        match der.strip_prefix(&SPKI_P256_PREFIX[..]) {
            Some(point) if point.len() == 65 && point[0] == 4 => Ok(PublicKey {
                point: point.to_vec(),
            }),
            _ => Err("it is not an ECDSA P-256 public key (the kind cosign makes)".into()),
        }
    }

    /// SubjectPublicKeyInfo DER.
    pub fn spki(&self) -> Vec<u8> {
        [&SPKI_P256_PREFIX[..], &self.point].concat()
    }

    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki())
    }

    /// A short, stable name for the key: `sha256:` and the first 16 hex
    /// digits of the SHA-256 of its SubjectPublicKeyInfo.
    pub fn id(&self) -> String {
        let hex = crate::layout::sha256_digest(&self.spki())
            .digest()
            .to_string();
        format!("sha256:{}", &hex[..16])
    }

    /// Whether `sig` (ASN.1 DER) is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &self.point)
            .verify(message, sig)
            .is_ok()
    }
}

/// A private key, ready to sign.
pub struct PrivateKey {
    pair: EcdsaKeyPair,
    /// PKCS#8 DER, kept to seal it again (keygen).
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({})", self.public().id())
    }
}

impl PrivateKey {
    /// A new random key.
    pub fn generate() -> Result<PrivateKey, SignError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| SignError::Random)?;
        PrivateKey::from_pkcs8(doc.as_ref()).map_err(|_| SignError::Random)
    }

    /// A key from PKCS#8 DER (ECDSA P-256).
    pub fn from_pkcs8(der: &[u8]) -> Result<PrivateKey, String> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            der,
            &SystemRandom::new(),
        )
        .map_err(|e| format!("it is not an ECDSA P-256 private key ({e})"))?;
        Ok(PrivateKey {
            pair,
            pkcs8: der.to_vec(),
        })
    }

    /// Reads a private key file: cosign's encrypted format (opened with
    /// `password`) or a plain PKCS#8 PEM.
    pub fn load(
        path: &Path,
        password: &dyn Fn() -> Result<String, SignError>,
    ) -> Result<PrivateKey, SignError> {
        let text = read_key_file(path)?;
        let bad = |why: String| SignError::Key {
            path: path.into(),
            why,
        };
        let (label, der) = pem_decode(&text).map_err(bad)?;
        match label.as_str() {
            "PRIVATE KEY" => PrivateKey::from_pkcs8(&der).map_err(bad),
            ENCRYPTED_LABEL | ENCRYPTED_LABEL_OLD => {
                let sealed: Sealed = serde_json::from_slice(&der)
                    .map_err(|e| bad(format!("its sealed contents are invalid ({e})")))?;
                let pkcs8 = sealed
                    .open(password()?.as_bytes())
                    .map_err(|why| match why {
                        Open::WrongPassword => SignError::WrongPassword { path: path.into() },
                        Open::Invalid(why) => bad(why),
                    })?;
                PrivateKey::from_pkcs8(&pkcs8).map_err(bad)
            }
            other => Err(bad(format!(
                "it holds a {other}; expected a cosign private key or a PKCS#8 PRIVATE KEY"
            ))),
        }
    }

    pub fn public(&self) -> PublicKey {
        PublicKey {
            point: self.pair.public_key().as_ref().to_vec(),
        }
    }

    /// The ASN.1 DER ECDSA signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        self.pair
            .sign(&SystemRandom::new(), message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| SignError::Random)
    }

    /// The key sealed as cosign seals it, as PEM.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<String, SignError> {
        let sealed = Sealed::seal(&self.pkcs8, password)?;
        let json = serde_json::to_vec(&sealed).expect("a sealed key serializes");
        Ok(pem_encode(ENCRYPTED_LABEL, &json))
    }
}

/// Writes a new key pair as `PREFIX.key` (sealed with `password`, mode
/// 0600) and `PREFIX.pub`; refuses to replace existing files.
pub fn generate_pair(
    prefix: &Path,
    password: &[u8],
) -> Result<(PathBuf, PathBuf, PublicKey), SignError> {
    let with = |ext: &str| {
        let mut name = prefix.as_os_str().to_owned();
        name.push(ext);
        PathBuf::from(name)
    };
    let (key_path, pub_path) = (with(".key"), with(".pub"));
    for p in [&key_path, &pub_path] {
        if p.exists() {
            return Err(SignError::Exists(p.clone()));
        }
    }
    let key = PrivateKey::generate()?;
    let public = key.public();
    let write = |path: &Path, text: &str, mode| {
        crate::fs::write_atomic(path, text.as_bytes(), mode, true).map_err(|e| SignError::Io {
            action: e.action,
            path: e.path,
            source: e.source,
        })
    };
    write(&key_path, &key.to_encrypted_pem(password)?, 0o600)?;
    write(&pub_path, &public.to_pem(), 0o644)?;
    Ok((key_path, pub_path, public))
}

fn read_key_file(path: &Path) -> Result<String, SignError> {
    // A key file is a few hundred bytes; anything large is not one.
    let bytes = crate::fs::read_bounded(path, 64 << 10).map_err(|e| SignError::Io {
        action: "read",
        path: path.into(),
        source: e,
    })?;
    String::from_utf8(bytes).map_err(|_| SignError::Key {
        path: path.into(),
        why: "it is not a PEM text file".into(),
    })
}

/// cosign's sealed private key (go-securesystemslib's `encrypted` format).
#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    kdf: Kdf,
    cipher: Cipher,
    #[serde(with = "b64")]
    ciphertext: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Kdf {
    name: String,
    params: ScryptParams,
    #[serde(with = "b64")]
    salt: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Cipher {
    name: String,
    #[serde(with = "b64")]
    nonce: Vec<u8>,
}

enum Open {
    WrongPassword,
    Invalid(String),
}

impl Sealed {
    fn derive(password: &[u8], salt: &[u8], params: &ScryptParams) -> Result<[u8; 32], String> {
        let log_n = params.n.checked_ilog2().filter(|l| 1u64 << l == params.n);
        let log_n = match log_n {
            Some(l) if (1..=u32::from(SCRYPT_MAX_LOG_N)).contains(&l) => l as u8,
            _ => return Err(format!("its scrypt cost N={} is not accepted", params.n)),
        };
        if params.r == 0 || params.r > 32 || params.p == 0 || params.p > 16 {
            return Err(format!(
                "its scrypt parameters r={} p={} are not accepted",
                params.r, params.p
            ));
        }
        let p = scrypt::Params::new(log_n, params.r, params.p, 32).map_err(|e| e.to_string())?;
        let mut key = [0u8; 32];
        scrypt::scrypt(password, salt, &p, &mut key).map_err(|e| e.to_string())?;
        Ok(key)
    }

    fn open(&self, password: &[u8]) -> Result<Vec<u8>, Open> {
        if self.kdf.name != "scrypt" || self.cipher.name != "nacl/secretbox" {
            return Err(Open::Invalid(format!(
                "it is sealed with {} and {}, not scrypt and nacl/secretbox",
                self.kdf.name, self.cipher.name
            )));
        }
        if self.cipher.nonce.len() != 24 {
            return Err(Open::Invalid("its nonce is not 24 bytes".into()));
        }
        let key =
            Sealed::derive(password, &self.kdf.salt, &self.kdf.params).map_err(Open::Invalid)?;
        let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
        let nonce = crypto_secretbox::Nonce::from_slice(&self.cipher.nonce);
        cipher
            .decrypt(nonce, self.ciphertext.as_slice())
            .map_err(|_| Open::WrongPassword)
    }

    fn seal(pkcs8: &[u8], password: &[u8]) -> Result<Sealed, SignError> {
        let rng = SystemRandom::new();
        let (mut salt, mut nonce) = (vec![0u8; 32], vec![0u8; 24]);
        rng.fill(&mut salt).map_err(|_| SignError::Random)?;
        rng.fill(&mut nonce).map_err(|_| SignError::Random)?;
        let params = ScryptParams {
            n: 1 << SCRYPT_LOG_N,
            r: 8,
            p: 1,
        };
        let key = Sealed::derive(password, &salt, &params).expect("cosign's own parameters");
        let cipher = crypto_secretbox::XSalsa20Poly1305::new(&key.into());
        let ciphertext = cipher
            .encrypt(crypto_secretbox::Nonce::from_slice(&nonce), pkcs8)
            .map_err(|_| SignError::Random)?;
        Ok(Sealed {
            kdf: Kdf {
                name: "scrypt".into(),
                params,
                salt,
            },
            cipher: Cipher {
                name: "nacl/secretbox".into(),
                nonce,
            },
            ciphertext,
        })
    }
}

/// Go's `[]byte` in JSON: standard base64.
mod b64 {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// The first PEM block of `text`: its label and contents.
pub fn pem_decode(text: &str) -> Result<(String, Vec<u8>), String> {
    let mut lines = text.lines().map(str::trim);
    let label = lines
        .by_ref()
        .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .ok_or("it is not PEM (no BEGIN line)")?
        .to_string();
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    for line in lines.by_ref() {
        if line == end {
            return B64
                .decode(body.as_bytes())
                .map(|der| (label, der))
                .map_err(|e| format!("its PEM body is not base64 ({e})"));
        }
        if line.contains(':') {
            continue; // RFC 1421 headers
        }
        body.push_str(line);
    }
    Err(format!("its PEM block has no END line for {label}"))
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_with_its_password_only() {
        let key = PrivateKey::generate().unwrap();
        let pem = key.to_encrypted_pem(b"s3cret").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
        let (_, der) = pem_decode(&pem).unwrap();
        let sealed: Sealed = serde_json::from_slice(&der).unwrap();
        let opened = sealed.open(b"s3cret").ok().unwrap();
        let again = PrivateKey::from_pkcs8(&opened).unwrap();
        assert_eq!(again.public(), key.public());
        assert!(matches!(sealed.open(b"wrong"), Err(Open::WrongPassword)));
    }

    #[test]
    fn a_hostile_scrypt_cost_is_refused_before_any_work() {
        let params = ScryptParams {
            n: 1 << 30,
            r: 8,
            p: 1,
        };
        let e = Sealed::derive(b"", b"salt", &params).unwrap_err();
        assert!(e.contains("N=1073741824"), "{e}");
        let odd = ScryptParams {
            n: 1000,
            r: 8,
            p: 1,
        };
        assert!(Sealed::derive(b"", b"salt", &odd).is_err());
    }

    #[test]
    fn signatures_verify_under_their_key_only() {
        let (a, b) = (
            PrivateKey::generate().unwrap(),
            PrivateKey::generate().unwrap(),
        );
        let sig = a.sign(b"payload").unwrap();
        assert!(a.public().verifies(b"payload", &sig));
        assert!(!a.public().verifies(b"payload!", &sig));
        assert!(!b.public().verifies(b"payload", &sig));
        let pem = a.public().to_pem();
        assert_eq!(PublicKey::from_pem(&pem).unwrap(), a.public());
        assert!(a.public().id().starts_with("sha256:") && a.public().id().len() == 23);
    }

    #[test]
    fn other_key_kinds_are_named_not_misread() {
        // An RSA SubjectPublicKeyInfo header.
        let rsa = pem_encode("PUBLIC KEY", &[0x30, 0x82, 0x01, 0x22, 0x30, 0x0d]);
        assert!(PublicKey::from_pem(&rsa).unwrap_err().contains("P-256"));
        let cert = pem_encode("CERTIFICATE", &[0x30]);
        assert!(
            PublicKey::from_pem(&cert)
                .unwrap_err()
                .contains("CERTIFICATE")
        );
        assert!(
            PublicKey::from_pem("hello")
                .unwrap_err()
                .contains("not PEM")
        );
    }
}
