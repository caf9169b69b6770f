//! A keyless signature as an image carries it (its certificate, its
//! transparency-log bundle, its payload) judged against a Sigstore trusted
//! root file as the policy reads one: the root, the certificate, the bundle
//! and its log entry are all parsed from hostile bytes.
//! Input: the root's length (4 bytes, little-endian), the root (JSON), the
//! layer annotations' length, the annotations (a JSON object of strings,
//! the signature among them), the payload. Seeded with a coherent set
//! (fuzz/seeds/keyless/).
#![no_main]

use std::collections::HashMap;
use std::path::Path;

use ebpf_oci::sign::keyless::{self, Signer, TrustedRoot};
use ebpf_oci::sign::{SIGNATURE_ANNOTATION, Signature};

fn take(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = data.split_first_chunk::<4>()?;
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    Some(rest.split_at(len))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((root, rest)) = take(data) else {
        return;
    };
    let Some((annotations, payload)) = take(rest) else {
        return;
    };
    let Ok(root) = TrustedRoot::from_json(root, Path::new("fuzz")) else {
        return;
    };
    let Ok(mut annotations) = serde_json::from_slice::<HashMap<String, String>>(annotations)
    else {
        return;
    };
    let Some(signature) = annotations.remove(SIGNATURE_ANNOTATION) else {
        return;
    };
    let sig = Signature {
        payload: payload.to_vec(),
        signature,
        annotations,
    };
    let _ = keyless::certificate_claim(&sig);
    let signer = Signer {
        identity: "*".into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
        root,
    };
    let digests = sig.claim().map(|c| vec![c.digest]).unwrap_or_default();
    let _ = sig.verify_keyless(&signer, &digests);
});
