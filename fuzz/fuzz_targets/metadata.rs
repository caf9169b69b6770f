//! The metadata document an image's config carries: parsed and checked
//! (names, paths, digests) as the store and the runtime do.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<ebpf_oci::format::Metadata>(data) {
        let _ = m.check();
    }
});
