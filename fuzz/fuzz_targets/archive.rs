//! An oci-archive (a tar of an OCI layout) from anywhere: opened as
//! `inspect` opens one, its image read and unpacked. Nothing is written
//! outside the process's own directory (the unit tests check where).
#![no_main]

use ebpf_oci::store::{self, Source};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("image.tar");
    std::fs::write(&file, data).unwrap();
    let source = Source::Archive { file, tag: None };
    if let Ok(opened) = store::open(&source, &dir.path().join("store")) {
        if let Ok(image) = ebpf_oci::format::read(&opened.layout, &opened.descriptor) {
            for p in &image.platforms {
                let _ = ebpf_oci::format::contents(&opened.layout, p, true);
            }
        }
    }
});
