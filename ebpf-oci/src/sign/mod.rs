//! Signatures in cosign's format, so the ecosystem's tools read ours and we
//! read theirs: a simple-signing payload naming the manifest digest, signed
//! with ECDSA P-256 / SHA-256, stored as a layer of the image manifest tagged
//! `sha256-<hex>.sig` (in a registry: in the image's repository; in a store,
//! a layout or an archive: in that layout, beside the image).
//!
//! Nothing here decides whether an image may run: [`policy`] does, from the
//! signatures read here. Every signature is hostile bytes until its
//! signature checks out under a key the policy trusts.

pub mod key;
pub mod keyless;
pub mod policy;
#[cfg(any(test, feature = "test-pki"))]
pub mod testing;

use std::collections::HashMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use oci_spec::image::{
    Descriptor, DescriptorBuilder, Digest, ImageManifest, ImageManifestBuilder, MediaType,
};
use serde::{Deserialize, Serialize};

use crate::layout::{Layout, StoreError, is_index};

pub use key::{PrivateKey, PublicKey};
pub use policy::{Policy, Subject, Trust};

/// The media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature of the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The `critical.type` of a cosign image signature.
const PAYLOAD_TYPE: &str = "cosign container image signature";

/// Bounds on what a signature manifest may hold.
pub mod limits {
    /// A payload is a few hundred bytes.
    pub const PAYLOAD: u64 = 64 << 10;
    /// Signatures of one digest (more are refused, not read).
    pub const SIGNATURES: usize = 64;
    /// A base64 ECDSA signature is under 100 characters.
    pub const SIGNATURE: usize = 1024;
    /// Manifests of one index that signing a registry image signs (an
    /// index of eBPF images lists a few platforms).
    pub const INDEX_ENTRIES: usize = 64;
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key {} cannot be used: {why}", path.display())]
    Key { path: PathBuf, why: String },
    #[error("trusted root {} cannot be used: {why}", path.display())]
    TrustedRoot { path: PathBuf, why: String },
    #[error("the password does not open the key {} (set {} or type the one it was made with)", path.display(), key::PASSWORD_ENV)]
    WrongPassword { path: PathBuf },
    #[error("{} exists; choose another --output prefix or remove it first", .0.display())]
    Exists(PathBuf),
    #[error("the system's random number generator failed")]
    Random,
    #[error("policy {} is invalid: {why}", path.display())]
    Policy { path: PathBuf, why: String },
    #[error("refused {image}: {why}")]
    Refused { image: String, why: String },
    #[error("the signatures of {digest} are invalid: {why}")]
    Invalid { digest: String, why: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The tag signatures of `digest` live under: `sha256-<hex>.sig`.
pub fn tag_for(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm().as_ref(), digest.digest())
}

/// The digest a signature tag holds signatures of: the inverse of
/// [`tag_for`]; `None` for any other tag.
pub fn signed_digest(tag: &str) -> Option<Digest> {
    tag.strip_prefix("sha256-")
        .and_then(|t| t.strip_suffix(".sig"))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|h| format!("sha256:{h}").parse().ok())
}

/// Whether a store tag holds signatures rather than an image.
pub fn is_signature_tag(tag: &str) -> bool {
    signed_digest(tag).is_some()
}

/// The simple-signing payload (containers/image's format, as cosign writes
/// it).
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    critical: Critical,
    optional: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Critical {
    identity: Identity,
    image: ImageClaim,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Identity {
    #[serde(rename = "docker-reference")]
    docker_reference: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct ImageClaim {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// One signature: the payload and the base64 ECDSA signature of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub payload: Vec<u8>,
    pub signature: String,
    /// The layer's other annotations (a certificate, a bundle), kept as they
    /// came so that copies lose nothing.
    pub annotations: HashMap<String, String>,
}

/// What a payload says it signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Claim {
    pub digest: String,
    pub docker_reference: String,
}

impl Signature {
    /// Signs `digest` (as the image `docker_reference`) with `key`.
    pub fn create(
        key: &PrivateKey,
        docker_reference: &str,
        digest: &Digest,
    ) -> Result<Signature, SignError> {
        let payload = Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.into(),
                },
                image: ImageClaim {
                    digest: digest.to_string(),
                },
                kind: PAYLOAD_TYPE.into(),
            },
            optional: None,
        };
        let payload = serde_json::to_vec(&payload).expect("a payload serializes");
        let signature = B64.encode(key.sign(&payload)?);
        Ok(Signature {
            payload,
            signature,
            annotations: HashMap::new(),
        })
    }

    /// What the payload claims, if it is a cosign image signature payload.
    pub fn claim(&self) -> Result<Claim, String> {
        let p: Payload = serde_json::from_slice(&self.payload)
            .map_err(|e| format!("its payload is not a simple-signing document ({e})"))?;
        if p.critical.kind != PAYLOAD_TYPE {
            return Err(format!("its payload is a `{}`", p.critical.kind));
        }
        Ok(Claim {
            digest: p.critical.image.digest,
            docker_reference: p.critical.identity.docker_reference,
        })
    }

    /// Whether this is `key`'s signature of one of `digests`: the signature
    /// over the exact payload bytes first, then what the payload claims.
    pub fn verify(&self, key: &PublicKey, digests: &[String]) -> Result<Claim, Mismatch> {
        let sig = B64
            .decode(self.signature.as_bytes())
            .map_err(|_| Mismatch::NotBase64)?;
        if !key.verifies(&self.payload, &sig) {
            return Err(Mismatch::OtherKey);
        }
        self.claim_of_one(digests)
    }

    /// Whether this is `signer`'s keyless signature of one of `digests`;
    /// returns the identity it verifies as.
    pub fn verify_keyless(
        &self,
        signer: &keyless::Signer,
        digests: &[String],
    ) -> Result<String, Mismatch> {
        let identity = keyless::verify(self, signer).map_err(Mismatch::Keyless)?;
        self.claim_of_one(digests)?;
        Ok(identity)
    }

    /// What the (verified) payload claims, if it signs one of `digests`.
    fn claim_of_one(&self, digests: &[String]) -> Result<Claim, Mismatch> {
        let claim = self.claim().map_err(Mismatch::Payload)?;
        if !digests.contains(&claim.digest) {
            return Err(Mismatch::OtherDigest(claim.digest));
        }
        Ok(claim)
    }

    /// The layer annotations of this signature.
    fn layer_annotations(&self) -> HashMap<String, String> {
        let mut a = self.annotations.clone();
        a.insert(SIGNATURE_ANNOTATION.into(), self.signature.clone());
        a
    }
}

/// Why a signature does not count for a key and an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    NotBase64,
    OtherKey,
    Payload(String),
    OtherDigest(String),
    Keyless(keyless::KeylessMismatch),
}

impl Mismatch {
    /// How much a reason tells (a refusal names the most telling one):
    /// "not this key" and "not keyless" say least.
    fn rank(&self) -> u8 {
        match self {
            Mismatch::OtherKey | Mismatch::Keyless(keyless::KeylessMismatch::NoCertificate) => 0,
            _ => 1,
        }
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::NotBase64 => write!(f, "its signature is not base64"),
            Mismatch::OtherKey => {
                write!(f, "it is not a signature of its payload by a trusted key")
            }
            Mismatch::Payload(why) => f.write_str(why),
            Mismatch::OtherDigest(d) => write!(f, "it signs another image ({d})"),
            Mismatch::Keyless(m) => m.fmt(f),
        }
    }
}

/// The config blob of a signature manifest, as cosign writes it (an empty
/// image config whose one "layer" is the payload).
fn config_of(layers: &[Descriptor]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest().to_string()).collect();
    let config = serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    serde_json::to_vec(&config).expect("a config serializes")
}

/// Reads the signatures of `digest` in `layout` (none when it has no
/// signature tag for it). Every blob is verified as read; bounds hold.
pub fn read(layout: &Layout, digest: &Digest) -> Result<Vec<Signature>, SignError> {
    let desc = match layout.resolve(&tag_for(digest)) {
        Ok(d) => d,
        Err(StoreError::UnknownTag(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let manifest: ImageManifest = layout.read_json(&desc)?;
    signatures_of(&manifest, digest, |d| Ok(layout.read_blob(d.digest())?))
}

/// The signatures a signature manifest lists, their payloads fetched by
/// `payload` (from a store, or from a registry); bounds are checked before
/// anything is fetched.
pub fn signatures_of(
    manifest: &ImageManifest,
    digest: &Digest,
    mut payload: impl FnMut(&Descriptor) -> Result<Vec<u8>, SignError>,
) -> Result<Vec<Signature>, SignError> {
    let invalid = |why: String| SignError::Invalid {
        digest: digest.to_string(),
        why,
    };
    if manifest.layers().len() > limits::SIGNATURES {
        return Err(invalid(format!(
            "there are {} of them, more than the {} read",
            manifest.layers().len(),
            limits::SIGNATURES
        )));
    }
    let mut out = Vec::new();
    for layer in manifest.layers() {
        if layer.media_type().to_string() != SIMPLE_SIGNING {
            continue; // attestations and other kinds are not signatures
        }
        if layer.size() > limits::PAYLOAD {
            return Err(invalid(format!(
                "a payload of {} bytes is larger than the {} allowed",
                layer.size(),
                limits::PAYLOAD
            )));
        }
        let mut annotations = layer.annotations().clone().unwrap_or_default();
        let Some(signature) = annotations.remove(SIGNATURE_ANNOTATION) else {
            continue;
        };
        if signature.len() > limits::SIGNATURE {
            return Err(invalid("a signature is implausibly long".into()));
        }
        out.push(Signature {
            payload: payload(layer)?,
            signature,
            annotations,
        });
    }
    Ok(out)
}

/// Adds `new` to the signatures of `digest` in `layout` (each kept once);
/// returns how many were new. The signature manifest is rewritten and
/// retagged atomically.
pub fn add(layout: &Layout, digest: &Digest, new: &[Signature]) -> Result<usize, SignError> {
    let mut all = read(layout, digest)?;
    let before = all.len();
    for s in new {
        if !all
            .iter()
            .any(|a| a.payload == s.payload && a.signature == s.signature)
        {
            all.push(s.clone());
        }
    }
    let added = all.len() - before;
    if added == 0 {
        return Ok(0);
    }
    if all.len() > limits::SIGNATURES {
        return Err(SignError::Invalid {
            digest: digest.to_string(),
            why: format!("more than {} signatures", limits::SIGNATURES),
        });
    }
    let desc = write_manifest(layout, &all)?;
    layout.tag(&tag_for(digest), &desc, true)?;
    Ok(added)
}

/// Writes a signature manifest holding `sigs` (and its blobs) into `layout`.
fn write_manifest(layout: &Layout, sigs: &[Signature]) -> Result<Descriptor, SignError> {
    let mut layers = Vec::new();
    for s in sigs {
        let d = layout.put_blob(&s.payload)?;
        layers.push(
            DescriptorBuilder::default()
                .media_type(MediaType::Other(SIMPLE_SIGNING.into()))
                .digest(d)
                .size(s.payload.len() as u64)
                .annotations(s.layer_annotations())
                .build()
                .expect("a descriptor builds"),
        );
    }
    let config = config_of(&layers);
    let config_desc = DescriptorBuilder::default()
        .media_type(MediaType::ImageConfig)
        .digest(layout.put_blob(&config)?)
        .size(config.len() as u64)
        .build()
        .expect("a descriptor builds");
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(layers)
        .build()
        .expect("a manifest builds");
    Ok(layout.put_json(MediaType::ImageManifest, &manifest)?)
}

/// The digests a signature may name for the image `desc` of `layout`: its
/// own and, for a manifest pulled out of an index, the index's (when the
/// store kept the index and it lists the manifest).
pub fn signable_digests(layout: &Layout, desc: &Descriptor) -> Vec<String> {
    let mut out = vec![desc.digest().to_string()];
    if let Some(index) = crate::layout::pulled_from_index(desc) {
        let listed = layout
            .read_blob(&index)
            .ok()
            .and_then(|b| serde_json::from_slice::<oci_spec::image::ImageIndex>(&b).ok())
            .is_some_and(|i| i.manifests().iter().any(|m| m.digest() == desc.digest()));
        if listed {
            out.push(index.to_string());
        }
    }
    out
}

/// What `sign` signs for the image `desc`: its digest and, for an index,
/// each platform manifest's (cosign's `--recursive`), so that a host that
/// pulls one platform holds a signature of what it pulled.
pub fn digests_to_sign(layout: &Layout, desc: &Descriptor) -> Result<Vec<Digest>, SignError> {
    let mut out = vec![desc.digest().clone()];
    if is_index(desc.media_type()) {
        let index: oci_spec::image::ImageIndex = layout.read_json(desc)?;
        out.extend(index.manifests().iter().map(|m| m.digest().clone()));
    }
    Ok(out)
}

/// Signs the image `desc` of `layout` (named `docker_reference` in the
/// payload) with `key`; returns the digests signed.
pub fn sign_image(
    layout: &Layout,
    desc: &Descriptor,
    docker_reference: &str,
    key: &PrivateKey,
) -> Result<Vec<Digest>, SignError> {
    let digests = digests_to_sign(layout, desc)?;
    for d in &digests {
        let sig = Signature::create(key, docker_reference, d)?;
        add(layout, d, std::slice::from_ref(&sig))?;
    }
    Ok(digests)
}

/// The signature tags (and their descriptors) for the image `desc`: what a
/// copy of the image (an archive, another layout) takes along.
pub fn tags_of(layout: &Layout, desc: &Descriptor) -> Result<Vec<(String, Descriptor)>, SignError> {
    let mut wanted: Vec<String> = signable_digests(layout, desc);
    if is_index(desc.media_type()) {
        for d in digests_to_sign(layout, desc)? {
            wanted.push(d.to_string());
        }
    }
    let mut out = Vec::new();
    for d in wanted {
        let Ok(digest) = d.parse::<Digest>() else {
            continue;
        };
        let tag = tag_for(&digest);
        if let Ok(sig) = layout.resolve(&tag)
            && !out.iter().any(|(t, _)| t == &tag)
        {
            out.push((tag, sig));
        }
    }
    Ok(out)
}

/// Copies the signatures of the image `desc` from `from` into `to`.
pub fn copy(from: &Layout, to: &Layout, desc: &Descriptor) -> Result<usize, SignError> {
    let mut copied = 0;
    for digest in tags_of(from, desc)?
        .iter()
        .filter_map(|(tag, _)| signed_digest(tag))
    {
        copied += add(to, &digest, &read(from, &digest)?)?;
    }
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u8) -> Digest {
        crate::layout::sha256_digest(&[n])
    }

    #[test]
    fn the_payload_is_cosigns() {
        let key = PrivateKey::generate().unwrap();
        let s = Signature::create(&key, "127.0.0.1:5000/team/xdp", &digest(1)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&s.payload).unwrap();
        assert_eq!(v["critical"]["type"], "cosign container image signature");
        assert_eq!(
            v["critical"]["image"]["docker-manifest-digest"],
            digest(1).to_string()
        );
        assert_eq!(
            v["critical"]["identity"]["docker-reference"],
            "127.0.0.1:5000/team/xdp"
        );
        assert!(v["optional"].is_null());
        assert_eq!(
            tag_for(&digest(1)),
            format!("sha256-{}.sig", digest(1).digest())
        );
        assert!(is_signature_tag(&tag_for(&digest(1))));
        assert_eq!(signed_digest(&tag_for(&digest(1))), Some(digest(1)));
        assert!(!is_signature_tag("sha256-abc.sig") && !is_signature_tag("xdp:1.0"));
    }

    #[test]
    fn a_signature_counts_for_its_key_and_digest_only() {
        let (a, b) = (
            PrivateKey::generate().unwrap(),
            PrivateKey::generate().unwrap(),
        );
        let s = Signature::create(&a, "x", &digest(1)).unwrap();
        let d1 = vec![digest(1).to_string()];
        assert!(s.verify(&a.public(), &d1).is_ok());
        assert_eq!(s.verify(&b.public(), &d1), Err(Mismatch::OtherKey));
        assert!(matches!(
            s.verify(&a.public(), &[digest(2).to_string()]),
            Err(Mismatch::OtherDigest(_))
        ));
        // One byte of the payload changed: the signature no longer holds.
        let mut tampered = s.clone();
        tampered.payload[10] ^= 1;
        assert_eq!(tampered.verify(&a.public(), &d1), Err(Mismatch::OtherKey));
    }

    #[test]
    fn signatures_are_stored_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::open_or_create(dir.path().join("s")).unwrap();
        let key = PrivateKey::generate().unwrap();
        let s1 = Signature::create(&key, "x", &digest(1)).unwrap();
        let s2 = Signature::create(&key, "x", &digest(1)).unwrap();
        assert_eq!(
            add(&layout, &digest(1), std::slice::from_ref(&s1)).unwrap(),
            1
        );
        assert_eq!(
            add(&layout, &digest(1), &[s1.clone(), s2.clone()]).unwrap(),
            1
        );
        assert_eq!(read(&layout, &digest(1)).unwrap(), vec![s1, s2]);
        assert!(read(&layout, &digest(2)).unwrap().is_empty());
    }

    #[test]
    fn a_manifest_with_too_many_or_too_large_signatures_is_refused_unread() {
        let layer = |size: u64| {
            DescriptorBuilder::default()
                .media_type(MediaType::Other(SIMPLE_SIGNING.into()))
                .digest(digest(9))
                .size(size)
                .annotations(HashMap::from([(
                    SIGNATURE_ANNOTATION.to_string(),
                    "MEUC".to_string(),
                )]))
                .build()
                .unwrap()
        };
        let manifest = |layers: Vec<Descriptor>| {
            ImageManifestBuilder::default()
                .schema_version(2u32)
                .config(layer(2))
                .layers(layers)
                .build()
                .unwrap()
        };
        let never = |_: &Descriptor| -> Result<Vec<u8>, SignError> { panic!("fetched") };
        let many = manifest((0..=limits::SIGNATURES).map(|_| layer(10)).collect());
        let e = signatures_of(&many, &digest(1), never).unwrap_err();
        assert!(e.to_string().contains("more than the 64"), "{e}");
        let large = manifest(vec![layer(limits::PAYLOAD + 1)]);
        let e = signatures_of(&large, &digest(1), never).unwrap_err();
        assert!(e.to_string().contains("larger than"), "{e}");
    }
}
