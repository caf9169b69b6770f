//! Where the local store is, and how a user names an image: a tag in the
//! store, an OCI layout directory, or an `oci-archive` tar file.

use std::path::{Path, PathBuf};

use oci_spec::image::{ANNOTATION_REF_NAME, Descriptor};

use crate::layout::{Layout, StoreError};

/// Environment variable that overrides the store's location.
pub const STORE_ENV: &str = "CARGO_EBPF_STORE";
/// The store used by root (and so by `bpf-runtime` on hosts).
pub const SYSTEM_STORE: &str = "/var/lib/cargo-ebpf/store";

/// Whether the process runs with effective uid 0.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The store's default location: `$CARGO_EBPF_STORE`; else the system
/// store for root; else `$XDG_DATA_HOME/cargo-ebpf/store` (by default
/// `~/.local/share/cargo-ebpf/store`).
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os(STORE_ENV).filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if is_root() {
        return PathBuf::from(SYSTEM_STORE);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("cargo-ebpf/store")
}

/// How a user named an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A tag in the local store (`xdpcount:0.1.0`).
    Tag(String),
    /// An OCI image layout directory, with a tag when it holds several images
    /// (`oci:DIR[:TAG]`, or a directory path).
    Layout { dir: PathBuf, tag: Option<String> },
    /// An `oci-archive` tar (`oci-archive:FILE[:TAG]`, or a file path).
    Archive { file: PathBuf, tag: Option<String> },
}

impl Source {
    /// Parses `spec`: `oci:` and `oci-archive:` prefixes as skopeo writes
    /// them, an existing directory or file, else a tag in the store.
    pub fn parse(spec: &str) -> Source {
        let split = |rest: &str| match rest.split_once(':') {
            Some((p, t)) if !t.is_empty() => (PathBuf::from(p), Some(t.to_string())),
            _ => (PathBuf::from(rest.trim_end_matches(':')), None),
        };
        if let Some(rest) = spec.strip_prefix("oci:") {
            let (dir, tag) = split(rest);
            return Source::Layout { dir, tag };
        }
        if let Some(rest) = spec.strip_prefix("oci-archive:") {
            let (file, tag) = split(rest);
            return Source::Archive { file, tag };
        }
        let path = Path::new(spec);
        if path.is_dir() {
            Source::Layout {
                dir: path.into(),
                tag: None,
            }
        } else if path.is_file() {
            Source::Archive {
                file: path.into(),
                tag: None,
            }
        } else {
            Source::Tag(spec.to_string())
        }
    }
}

/// An image found from a [`Source`]: the layout holding it and its
/// descriptor. An archive is unpacked into a temporary directory that lives
/// as long as this value.
#[derive(Debug)]
pub struct Opened {
    pub layout: Layout,
    pub descriptor: Descriptor,
    /// The tag it was found by, if any.
    pub tag: Option<String>,
    _unpacked: Option<tempfile::TempDir>,
}

/// Finds the image `source` names; `store` is the local store's path.
pub fn open(source: &Source, store: &Path) -> Result<Opened, StoreError> {
    match source {
        Source::Tag(tag) => {
            let layout = Layout::open(store).map_err(|e| match e {
                StoreError::InvalidLayout { .. } if !store.join("oci-layout").exists() => {
                    StoreError::UnknownTag(tag.clone())
                }
                e => e,
            })?;
            let descriptor = layout.resolve(tag)?;
            Ok(Opened {
                layout,
                descriptor,
                tag: Some(tag.clone()),
                _unpacked: None,
            })
        }
        Source::Layout { dir, tag } => pick(Layout::open(dir)?, tag.as_deref(), None),
        Source::Archive { file, tag } => {
            // Only what is read is copied out (inspect reads a few KiB of
            // an archive of any size), into a directory named by this
            // process, so one a killed process left is recognized.
            remove_stale_archive_dirs();
            let tmp = tempfile::Builder::new()
                .prefix(&format!("{ARCHIVE_DIR}{}-", std::process::id()))
                .tempdir()
                .map_err(|e| StoreError::Io {
                    action: "create a temporary directory for",
                    path: file.clone(),
                    source: e,
                })?;
            if !file.is_file() {
                return Err(StoreError::Io {
                    action: "open",
                    path: file.clone(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                });
            }
            let layout = Layout::from_archive(file, tmp.path())?;
            pick(layout, tag.as_deref(), Some(tmp))
        }
    }
}

/// The prefix of the directories archives are read through.
const ARCHIVE_DIR: &str = "cargo-ebpf-archive-";

/// Removes the archive directories of processes that died (killed while
/// reading an archive).
fn remove_stale_archive_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let dead = crate::fs::owner_pid(&name, ARCHIVE_DIR)
            .is_some_and(|pid| !crate::fs::process_alive(pid));
        if dead && entry.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The image tagged `tag` in a layout, or its only image.
fn pick(
    layout: Layout,
    tag: Option<&str>,
    unpacked: Option<tempfile::TempDir>,
) -> Result<Opened, StoreError> {
    if let Some(tag) = tag {
        let descriptor = layout.resolve(tag)?;
        return Ok(Opened {
            layout,
            descriptor,
            tag: Some(tag.into()),
            _unpacked: unpacked,
        });
    }
    // Signature tags ride along with the image; they are not images.
    let index = layout.index()?;
    let images: Vec<Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| {
            !d.annotations()
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_REF_NAME))
                .is_some_and(|t| crate::sign::is_signature_tag(t))
        })
        .cloned()
        .collect();
    match images.as_slice() {
        [only] => {
            let tag = only
                .annotations()
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_REF_NAME))
                .cloned();
            Ok(Opened {
                descriptor: only.clone(),
                layout,
                tag,
                _unpacked: unpacked,
            })
        }
        [] => Err(StoreError::InvalidLayout {
            path: layout.root().into(),
            why: "it holds no image".into(),
        }),
        _ => {
            let tags: Vec<String> = layout
                .tags()?
                .into_iter()
                .map(|(t, _)| t)
                .filter(|t| !crate::sign::is_signature_tag(t))
                .collect();
            Err(StoreError::InvalidLayout {
                path: layout.root().into(),
                why: format!(
                    "it holds several images; name one as DIR:TAG (tags: {})",
                    tags.join(", ")
                ),
            })
        }
    }
}

/// Writes the image `desc` of `layout` as an `oci-archive` tar at `out`,
/// tagged `tag`: a whole OCI layout holding just that image. Written to a
/// temporary file renamed into place.
pub fn write_archive(
    layout: &Layout,
    desc: &Descriptor,
    tag: &str,
    out: &Path,
) -> Result<u64, StoreError> {
    let io = |action: &'static str| {
        move |e: std::io::Error| StoreError::Io {
            action,
            path: out.to_path_buf(),
            source: e,
        }
    };
    let mut digests = std::collections::BTreeSet::new();
    layout.reachable(desc, &mut digests)?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(io("create a temporary file next to"))?;
    let mut tar = tar::Builder::new(tmp.as_file());
    tar.mode(tar::HeaderMode::Deterministic);
    let mut add = |path: &str, bytes: &[u8]| -> Result<(), StoreError> {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, bytes).map_err(io("write"))
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut tagged = desc.clone();
    let mut a = tagged.annotations().clone().unwrap_or_default();
    a.insert(ANNOTATION_REF_NAME.into(), tag.into());
    tagged.set_annotations(Some(a));
    // The image's signatures go along, under their own tags.
    let mut entries = vec![serde_json::to_value(&tagged).expect("a descriptor serializes")];
    for (_, sig) in crate::sign::tags_of(layout, desc).map_err(|e| match e {
        crate::sign::SignError::Store(s) => s,
        other => StoreError::InvalidLayout {
            path: layout.root().into(),
            why: other.to_string(),
        },
    })? {
        layout.reachable(&sig, &mut digests)?;
        entries.push(serde_json::to_value(&sig).expect("a descriptor serializes"));
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    });
    add("index.json", &crate::layout::canonical_json(&index))?;
    for d in &digests {
        let digest: oci_spec::image::Digest = d.parse().map_err(|_| StoreError::InvalidLayout {
            path: layout.root().into(),
            why: format!("invalid digest {d}"),
        })?;
        let bytes = layout.read_blob(&digest)?;
        add(
            &format!("blobs/{}/{}", digest.algorithm().as_ref(), digest.digest()),
            &bytes,
        )?;
    }
    tar.finish().map_err(io("write"))?;
    drop(tar);
    tmp.as_file().sync_all().map_err(io("sync"))?;
    let size = tmp.as_file().metadata().map_err(io("stat"))?.len();
    tmp.persist(out).map_err(|e| StoreError::Io {
        action: "write",
        path: out.into(),
        source: e.error,
    })?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_like_skopeo_references() {
        assert_eq!(
            Source::parse("oci:/tmp/x:app:1.0"),
            Source::Layout {
                dir: "/tmp/x".into(),
                tag: Some("app:1.0".into())
            }
        );
        assert_eq!(
            Source::parse("oci:/tmp/x"),
            Source::Layout {
                dir: "/tmp/x".into(),
                tag: None
            }
        );
        assert_eq!(
            Source::parse("oci-archive:a.tar:app:1.0"),
            Source::Archive {
                file: "a.tar".into(),
                tag: Some("app:1.0".into())
            }
        );
        assert_eq!(
            Source::parse("no-such-thing:1.0"),
            Source::Tag("no-such-thing:1.0".into())
        );
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Source::parse(dir.path().to_str().unwrap()),
            Source::Layout {
                dir: dir.path().into(),
                tag: None
            }
        );
    }

    #[test]
    fn the_store_env_var_wins() {
        // Only this test touches the variable.
        unsafe { std::env::set_var(STORE_ENV, "/somewhere/store") };
        assert_eq!(default_path(), PathBuf::from("/somewhere/store"));
        unsafe { std::env::remove_var(STORE_ENV) };
        let p = default_path();
        assert!(p.ends_with("cargo-ebpf/store"), "{}", p.display());
    }

    /// Issue 17, finding 12: every archive was unpacked whole to read a few
    /// KiB (and an interrupted unpack stayed behind).
    #[test]
    fn an_archive_is_read_blob_by_blob() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::open_or_create(dir.path().join("s")).unwrap();
        let big = layout.put_blob(&vec![7u8; 4 << 20]).unwrap();
        let config = layout
            .put_json(
                oci_spec::image::MediaType::ImageConfig,
                &serde_json::json!({}),
            )
            .unwrap();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": big.to_string(), "size": 4 << 20}]
        });
        let desc = layout
            .put_json(oci_spec::image::MediaType::ImageManifest, &manifest)
            .unwrap();
        let archive = dir.path().join("a.tar");
        write_archive(&layout, &desc, "a:1", &archive).unwrap();

        let opened = open(
            &Source::parse(&format!("oci-archive:{}", archive.display())),
            dir.path(),
        )
        .unwrap();
        let blobs = opened.layout.root().join("blobs/sha256");
        let copied = || std::fs::read_dir(&blobs).unwrap().count();
        assert_eq!(copied(), 0, "nothing but oci-layout and index.json yet");
        let m: serde_json::Value = opened.layout.read_json(&opened.descriptor).unwrap();
        assert_eq!(m["layers"][0]["size"], 4 << 20);
        assert_eq!(copied(), 1, "the manifest alone");
        assert_eq!(opened.layout.read_blob(&big).unwrap().len(), 4 << 20);
        assert_eq!(copied(), 2);
        let name = opened
            .layout
            .root()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(&format!("{ARCHIVE_DIR}{}-", std::process::id())),
            "{name}"
        );
        let root = opened.layout.root().to_path_buf();
        drop(opened);
        assert!(!root.exists(), "removed when done");
    }

    /// A hostile archive: a member that climbs out (`../`), and a link
    /// where a blob should be. Neither is written anywhere; the blob is
    /// missing, said in one line.
    #[test]
    fn a_hostile_archive_writes_nothing_outside() {
        let dir = tempfile::tempdir().unwrap();
        let digest = crate::layout::sha256_digest(b"secret");
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest.to_string(), "size": 6,
            "annotations": {"org.opencontainers.image.ref.name": "x:1"}}]});
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |name: &str, body: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, body).unwrap();
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        add("index.json", index.to_string().as_bytes());
        add("../escaped.txt", b"outside");
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        tar.append_link(
            &mut link,
            format!("blobs/sha256/{}", digest.digest()),
            "/etc/passwd",
        )
        .unwrap();
        let archive = dir.path().join("evil.tar");
        std::fs::write(&archive, tar.into_inner().unwrap()).unwrap();

        let opened = open(
            &Source::parse(&format!("oci-archive:{}", archive.display())),
            dir.path(),
        )
        .unwrap();
        let root = opened.layout.root().to_path_buf();
        let err = opened
            .layout
            .read_json::<serde_json::Value>(&opened.descriptor)
            .unwrap_err();
        assert!(matches!(err, StoreError::MissingBlob { .. }), "{err}");
        assert!(!root.parent().unwrap().join("escaped.txt").exists());
        assert!(!root.join("escaped.txt").exists());
        let blobs: Vec<_> = std::fs::read_dir(root.join("blobs/sha256"))
            .unwrap()
            .collect();
        assert!(
            blobs.is_empty(),
            "no link and no file where the blob would be"
        );
    }
}
