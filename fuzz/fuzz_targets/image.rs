//! An image as a registry or a store hands it over: a manifest (or index),
//! a config and a layer, each hostile. The input is two little-endian u32
//! lengths (manifest, config), the manifest, the config, then the layer;
//! all three are stored as blobs, and the image is read and its contents
//! unpacked as the runtime does (the manifest names blobs by digest, so a
//! seed from a real image reaches its config and layer).
#![no_main]

use ebpf_oci::layout::Layout;
use oci_spec::image::{Descriptor, MediaType};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // A store of its own each time: what one input leaves cannot change
    // how the next reads, and the disk does not fill.
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::open_or_create(dir.path().join("store")).unwrap();
    let pieces = split(data);
    let stored: Vec<_> = pieces.iter().map(|p| layout.put_blob(p).unwrap()).collect();
    for kind in [MediaType::ImageManifest, MediaType::ImageIndex] {
        let desc = Descriptor::new(kind, pieces[0].len() as u64, stored[0].clone());
        if let Ok(image) = ebpf_oci::format::read(&layout, &desc) {
            for p in &image.platforms {
                let _ = ebpf_oci::format::contents(&layout, p, true);
            }
        }
    }
});

/// The input's parts: manifest, config and layer.
fn split(data: &[u8]) -> Vec<&[u8]> {
    let len = |at: usize| {
        data.get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    let rest = data.get(8..).unwrap_or_default();
    let m = len(0).min(rest.len());
    let c = len(4).min(rest.len() - m);
    vec![&rest[..m], &rest[m..m + c], &rest[m + c..]]
}
