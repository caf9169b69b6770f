//! A signature manifest and a payload as a registry or a store hands them
//! over: bounded, read, claimed and verified as `pull` and the policy do.
//! Input: the manifest's length (4 bytes, little-endian), the manifest, the
//! payload every layer is given.
#![no_main]

use std::sync::OnceLock;

use ebpf_oci::sign::{self, PrivateKey, PublicKey};

fn key() -> &'static PublicKey {
    static KEY: OnceLock<PublicKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate().expect("a key").public())
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<4>() else {
        return;
    };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (manifest, payload) = rest.split_at(len);
    let Ok(manifest) = serde_json::from_slice::<oci_spec::image::ImageManifest>(manifest) else {
        return;
    };
    let digest = ebpf_oci::layout::sha256_digest(payload);
    let Ok(sigs) = sign::signatures_of(&manifest, &digest, |_| Ok(payload.to_vec())) else {
        return;
    };
    for s in sigs {
        let _ = s.claim();
        let _ = s.verify(key(), &[digest.to_string()]);
    }
});
