//! Reproducible layers: the same files always give the same bytes, so the
//! same sources and toolchain give the same manifest digest.
//!
//! Entries keep the order given (bpfman reads the first entry of the first
//! layer as the bytecode, so that order matters), with owners, times and
//! user names zeroed and modes normalized; gzip carries no name or time.

use std::io::Write;

use flate2::{Compression, GzBuilder};

/// A file to put in a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerFile {
    /// Path inside the layer, relative (`xdpcount.bpf.o`, `usr/bin/x`).
    pub path: String,
    pub contents: Vec<u8>,
    pub executable: bool,
}

/// A built layer: the uncompressed tar (whose digest is the config's
/// `diff_id`) and its gzip compression (the blob).
#[derive(Debug, Clone)]
pub struct Layer {
    pub tar: Vec<u8>,
    pub gzip: Vec<u8>,
}

/// Why a layer cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("invalid path `{0}` for a layer entry: it must be relative, without `..`")]
    InvalidPath(String),
    #[error("failed to build a layer: {0}")]
    Io(#[from] std::io::Error),
}

fn check_path(path: &str) -> Result<(), LayerError> {
    let bad = path.is_empty()
        || path.starts_with('/')
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        Err(LayerError::InvalidPath(path.into()))
    } else {
        Ok(())
    }
}

/// Builds a layer of `files`, in that order.
pub fn build(files: &[LayerFile]) -> Result<Layer, LayerError> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for f in files {
        check_path(&f.path)?;
        let mut header = tar::Header::new_ustar();
        header.set_size(f.contents.len() as u64);
        header.set_mode(if f.executable { 0o755 } else { 0o644 });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &f.path, f.contents.as_slice())?;
    }
    let tar = tar.into_inner()?;
    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::new(6));
    gz.write_all(&tar)?;
    let gzip = gz.finish()?;
    Ok(Layer { tar, gzip })
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn files() -> Vec<LayerFile> {
        vec![
            LayerFile {
                path: "xdpcount.bpf.o".into(),
                contents: b"\x7fELF bytecode".to_vec(),
                executable: false,
            },
            LayerFile {
                path: "usr/bin/xdpcount".into(),
                contents: b"binary".to_vec(),
                executable: true,
            },
        ]
    }

    #[test]
    fn same_files_same_bytes() {
        let a = build(&files()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = build(&files()).unwrap();
        assert_eq!(a.gzip, b.gzip);
        assert_eq!(a.tar, b.tar);
    }

    #[test]
    fn first_entry_is_the_bytecode_at_the_root_with_zeroed_metadata() {
        let layer = build(&files()).unwrap();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer.gzip.as_slice()));
        let mut entries = archive.entries().unwrap();
        let mut first = entries.next().unwrap().unwrap();
        assert_eq!(first.path().unwrap().to_str(), Some("xdpcount.bpf.o"));
        assert_eq!(first.header().mtime().unwrap(), 0);
        assert_eq!(first.header().uid().unwrap(), 0);
        assert_eq!(first.header().mode().unwrap(), 0o644);
        let mut body = Vec::new();
        first.read_to_end(&mut body).unwrap();
        assert_eq!(body, b"\x7fELF bytecode");
        let second = entries.next().unwrap().unwrap();
        assert_eq!(second.header().mode().unwrap(), 0o755);
    }

    #[test]
    fn paths_must_stay_inside_the_layer() {
        for bad in ["/etc/passwd", "../x", "a//b", "", "a/./b"] {
            let f = LayerFile {
                path: bad.into(),
                contents: Vec::new(),
                executable: false,
            };
            assert!(
                matches!(build(&[f]), Err(LayerError::InvalidPath(_))),
                "{bad}"
            );
        }
    }
}
