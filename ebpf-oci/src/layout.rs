//! An OCI image layout directory (`oci-layout`, `index.json`,
//! `blobs/sha256/...`) with tags as `org.opencontainers.image.ref.name`
//! annotations, as skopeo's `oci:DIR:TAG` reads them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, Digest, ImageIndex, ImageIndexBuilder, ImageManifest,
    MediaType, OciLayoutBuilder,
};
use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not an OCI image layout: {why}", path.display())]
    InvalidLayout { path: PathBuf, why: String },
    #[error("blob {expected} in {} is corrupted (its content hashes to {actual}); remove the image and package or pull it again", path.display())]
    Corrupt {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("blob {digest} is missing from {}", path.display())]
    MissingBlob { path: PathBuf, digest: String },
    #[error(
        "blob {digest} is {actual} bytes where its descriptor says {expected}; the image is damaged or forged: do not use it"
    )]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("no image tagged `{0}` in the store")]
    UnknownTag(String),
    #[error("an image tagged `{0}` exists already; remove it first or choose another tag")]
    TagExists(String),
    #[error("invalid tag `{0}`: use letters, digits, `.`, `_`, `-`, `:` and `/`")]
    InvalidTag(String),
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Docker's image manifest (schema 2), which registries and image builders
/// still write: the same shape as OCI's.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list: the same shape as an OCI index.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Whether `mt` is an image manifest, OCI's or Docker's.
pub fn is_manifest(mt: &MediaType) -> bool {
    match mt {
        MediaType::ImageManifest => true,
        MediaType::Other(o) => o == DOCKER_MANIFEST,
        _ => false,
    }
}

/// Whether `mt` is an index of manifests, OCI's or Docker's.
pub fn is_index(mt: &MediaType) -> bool {
    match mt {
        MediaType::ImageIndex => true,
        MediaType::Other(o) => o == DOCKER_MANIFEST_LIST,
        _ => false,
    }
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> Digest {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
        .parse()
        .expect("a sha256 digest is a valid digest")
}

/// JSON with object keys sorted at every level, so a document's bytes (and
/// digest) do not depend on hash-map order.
pub fn canonical_json(value: &impl serde::Serialize) -> Vec<u8> {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: BTreeMap<String, serde_json::Value> =
                    m.into_iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sort).collect())
            }
            v => v,
        }
    }
    let v = serde_json::to_value(value).expect("documents serialize");
    serde_json::to_vec(&sort(v)).expect("a value serializes")
}

/// Writes a store file durably through a temporary file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::fs::write_atomic(path, bytes, 0o644, true).map_err(|e| StoreError::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    })
}

/// A tag: what `org.opencontainers.image.ref.name` may hold here.
fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 255
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:/@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidTag(tag.into()))
    }
}

/// An OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    /// For an oci-archive: the tar that blobs come out of, one at a time,
    /// when first read (nothing else of it is unpacked).
    archive: Option<PathBuf>,
}

impl Layout {
    /// Opens the layout at `root`, creating an empty one if the directory is
    /// missing or empty. The new layout is assembled beside `root` and renamed
    /// into place, so processes creating the same store at once all see a
    /// complete layout.
    pub fn open_or_create(root: impl Into<PathBuf>) -> Result<Layout> {
        let root = root.into();
        let empty = std::fs::read_dir(&root)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        if !empty {
            return Layout::open(root);
        }
        let parent = match root.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(io("create the store at", &root))?;
        let staging = tempfile::Builder::new()
            .prefix(".oci-layout-")
            .tempdir_in(&parent)
            .map_err(io("create the store at", &root))?;
        std::fs::create_dir_all(staging.path().join("blobs/sha256"))
            .map_err(io("create the store at", &root))?;
        let layout = OciLayoutBuilder::default()
            .image_layout_version("1.0.0")
            .build()
            .expect("a complete oci-layout");
        let text = serde_json::to_vec(&layout).expect("oci-layout serializes");
        write_atomic(&staging.path().join("oci-layout"), &text)?;
        let fresh = Layout {
            archive: None,
            root: staging.path().to_path_buf(),
        };
        fresh.write_index(&empty_index())?;
        // rename(2) replaces an empty directory; if another process got there
        // first, `root` is no longer empty and theirs is kept.
        match std::fs::rename(staging.path(), &root) {
            Ok(()) => {
                let _ = staging.keep();
                Ok(Layout {
                    root,
                    archive: None,
                })
            }
            Err(_) if root.join("oci-layout").is_file() => Layout::open(root),
            Err(e) => Err(io("create the store at", &root)(e)),
        }
    }

    /// Opens an existing layout, checking its `oci-layout` file.
    pub fn open(root: impl Into<PathBuf>) -> Result<Layout> {
        let root = root.into();
        let marker = root.join("oci-layout");
        let text = std::fs::read(&marker).map_err(|e| StoreError::InvalidLayout {
            path: root.clone(),
            why: format!("cannot read oci-layout ({e})"),
        })?;
        let v: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| StoreError::InvalidLayout {
                path: root.clone(),
                why: format!("oci-layout is not JSON ({e})"),
            })?;
        if v["imageLayoutVersion"] != "1.0.0" {
            return Err(StoreError::InvalidLayout {
                path: root,
                why: format!("unsupported imageLayoutVersion {}", v["imageLayoutVersion"]),
            });
        }
        std::fs::create_dir_all(root.join("blobs/sha256")).map_err(io("create", &root))?;
        Ok(Layout {
            root,
            archive: None,
        })
    }

    /// The layout inside the oci-archive `archive`, read through `dir` (a
    /// private temporary directory): only `oci-layout` and `index.json` are
    /// copied out now, and each blob when it is first read. Members are
    /// copied by their expected names to names this code makes; nothing an
    /// archive names becomes a path.
    pub fn from_archive(archive: &Path, dir: &Path) -> Result<Layout> {
        let layout = Layout {
            root: dir.to_path_buf(),
            archive: Some(archive.to_path_buf()),
        };
        for name in ["oci-layout", "index.json"] {
            layout.extract(name, &dir.join(name))?;
        }
        let opened = Layout::open(dir).map_err(|e| match e {
            StoreError::InvalidLayout { why, .. } => StoreError::InvalidLayout {
                path: archive.to_path_buf(),
                why,
            },
            e => e,
        })?;
        Ok(Layout {
            archive: layout.archive,
            ..opened
        })
    }

    /// Copies the archive's regular-file member `name` (`./name` too) to
    /// `to`; false when the archive has no such member.
    fn extract(&self, name: &str, to: &Path) -> Result<bool> {
        let Some(archive) = &self.archive else {
            return Ok(false);
        };
        let bad = |e: std::io::Error| StoreError::InvalidLayout {
            path: archive.clone(),
            why: format!("not an oci-archive tar ({e})"),
        };
        let file = File::open(archive).map_err(io("open", archive))?;
        let mut tar = tar::Archive::new(file);
        for entry in tar.entries_with_seek().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let path = entry.path_bytes();
            let member = String::from_utf8_lossy(&path);
            if member.trim_start_matches("./") != name || !entry.header().entry_type().is_file() {
                continue;
            }
            let mut out = Vec::with_capacity(entry.size().min(1 << 20) as usize);
            std::io::Read::read_to_end(&mut entry, &mut out).map_err(bad)?;
            write_atomic(to, &out)?;
            return Ok(true);
        }
        Ok(false)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(digest.algorithm().as_ref())
            .join(digest.digest())
    }

    /// Stores `bytes` and returns their digest. A blob already present and
    /// intact is not written again.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = sha256_digest(bytes);
        let path = self.blob_path(&digest);
        if self.read_blob(&digest).is_err() {
            write_atomic(&path, bytes)?;
        }
        Ok(digest)
    }

    /// Reads a blob, verifying that its content matches its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        if self.archive.is_some() && !path.exists() {
            let member = format!("blobs/{}/{}", digest.algorithm().as_ref(), digest.digest());
            self.extract(&member, &path)?;
        }
        let bytes = std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::MissingBlob {
                path: self.root.clone(),
                digest: digest.to_string(),
            },
            _ => StoreError::Io {
                action: "read",
                path: path.clone(),
                source: e,
            },
        })?;
        let actual = sha256_digest(&bytes);
        if actual.digest() != digest.digest() {
            return Err(StoreError::Corrupt {
                path,
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Stores a JSON document (manifest, index, config) as a blob, in
    /// canonical form, and returns its descriptor.
    pub fn put_json(
        &self,
        media_type: MediaType,
        value: &impl serde::Serialize,
    ) -> Result<Descriptor> {
        let bytes = canonical_json(value);
        let digest = self.put_blob(&bytes)?;
        Ok(Descriptor::new(media_type, bytes.len() as u64, digest))
    }

    /// Reads the blob `desc` points to, verified against its digest and its
    /// size.
    pub fn read_described(&self, desc: &Descriptor) -> Result<Vec<u8>> {
        let bytes = self.read_blob(desc.digest())?;
        if bytes.len() as u64 != desc.size() {
            return Err(StoreError::SizeMismatch {
                digest: desc.digest().to_string(),
                expected: desc.size(),
                actual: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// Reads and parses the JSON document `desc` points to, verified.
    /// A document larger than the limit is refused unread ([`crate::format::limits::DOCUMENT`]).
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, desc: &Descriptor) -> Result<T> {
        if desc.size() > crate::format::limits::DOCUMENT {
            return Err(StoreError::InvalidLayout {
                path: self.root.clone(),
                why: format!(
                    "{} {} is {} bytes, over the limit of {} for a manifest, index or config",
                    desc.media_type(),
                    desc.digest(),
                    desc.size(),
                    crate::format::limits::DOCUMENT
                ),
            });
        }
        serde_json::from_slice(&self.read_described(desc)?).map_err(|e| StoreError::InvalidLayout {
            path: self.root.clone(),
            why: format!("{} {} is invalid ({e})", desc.media_type(), desc.digest()),
        })
    }

    /// The top-level index (`index.json`).
    pub fn index(&self) -> Result<ImageIndex> {
        let path = self.root.join("index.json");
        let text = std::fs::read(&path).map_err(io("read", &path))?;
        serde_json::from_slice(&text).map_err(|e| StoreError::InvalidLayout {
            path: self.root.clone(),
            why: format!("index.json is invalid ({e})"),
        })
    }

    fn write_index(&self, index: &ImageIndex) -> Result<()> {
        let text = serde_json::to_vec_pretty(index).expect("an index serializes");
        write_atomic(&self.root.join("index.json"), &text)
    }

    /// The store's exclusive lock, held until the returned file is dropped.
    fn lock(&self) -> Result<File> {
        let lock_path = self.root.join(".lock");
        let lock = File::create(&lock_path).map_err(io("create", &lock_path))?;
        lock.lock().map_err(io("lock", &lock_path))?;
        Ok(lock)
    }

    /// Holds the store's lock while `f` reads and rewrites index.json, so two
    /// processes tagging at once do not lose each other's tags.
    fn with_index<T>(&self, f: impl FnOnce(&mut ImageIndex) -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        let mut index = self.index()?;
        let out = f(&mut index)?;
        self.write_index(&index)?;
        Ok(out)
    }

    /// Tags `desc` (a manifest or an index) as `tag`. Refuses an existing tag
    /// unless `replace`.
    pub fn tag(&self, tag: &str, desc: &Descriptor, replace: bool) -> Result<()> {
        check_tag(tag)?;
        self.with_index(|index| {
            let mut manifests = index.manifests().clone();
            if let Some(pos) = manifests.iter().position(|d| ref_name(d) == Some(tag)) {
                if !replace {
                    return Err(StoreError::TagExists(tag.into()));
                }
                manifests.remove(pos);
            }
            let mut tagged = desc.clone();
            let mut annotations = tagged.annotations().clone().unwrap_or_default();
            annotations.insert(ANNOTATION_REF_NAME.to_string(), tag.to_string());
            tagged.set_annotations(Some(annotations));
            manifests.push(tagged);
            index.set_manifests(manifests);
            Ok(())
        })
    }

    /// The descriptor tagged `tag`.
    pub fn resolve(&self, tag: &str) -> Result<Descriptor> {
        self.index()?
            .manifests()
            .iter()
            .find(|d| ref_name(d) == Some(tag))
            .cloned()
            .ok_or_else(|| StoreError::UnknownTag(tag.into()))
    }

    /// Removes a tag and returns what it pointed to. Blobs stay until `gc`.
    pub fn untag(&self, tag: &str) -> Result<Descriptor> {
        self.with_index(|index| {
            let mut manifests = index.manifests().clone();
            let pos = manifests
                .iter()
                .position(|d| ref_name(d) == Some(tag))
                .ok_or_else(|| StoreError::UnknownTag(tag.into()))?;
            let removed = manifests.remove(pos);
            index.set_manifests(manifests);
            Ok(removed)
        })
    }

    /// Every tag with its descriptor, sorted by tag.
    pub fn tags(&self) -> Result<Vec<(String, Descriptor)>> {
        let mut tags: Vec<(String, Descriptor)> = self
            .index()?
            .manifests()
            .iter()
            .filter_map(|d| ref_name(d).map(|t| (t.to_string(), d.clone())))
            .collect();
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(tags)
    }

    /// The digests reachable from `desc`: itself and, for manifests and
    /// indexes (OCI's or Docker's), their config, layers and sub-manifests.
    pub fn reachable(&self, desc: &Descriptor, into: &mut BTreeSet<String>) -> Result<()> {
        if !into.insert(desc.digest().to_string()) {
            return Ok(());
        }
        if let Some(index) = pulled_from_index(desc) {
            into.insert(index.to_string());
        }
        if is_manifest(desc.media_type()) {
            let m: ImageManifest = self.read_json(desc)?;
            into.insert(m.config().digest().to_string());
            for l in m.layers() {
                into.insert(l.digest().to_string());
            }
        } else if is_index(desc.media_type()) {
            let i: ImageIndex = self.read_json(desc)?;
            for d in i.manifests() {
                self.reachable(d, into)?;
            }
        }
        Ok(())
    }

    /// Removes the signature tags of images no tag holds any more (called
    /// with the lock held).
    fn drop_orphan_signatures(&self) -> Result<()> {
        let mut index = self.index()?;
        let mut images = BTreeSet::new();
        for d in index.manifests() {
            if !ref_name(d).is_some_and(crate::sign::is_signature_tag) {
                self.reachable(d, &mut images)?;
            }
        }
        // A tag stays unless it holds the signatures of no image here.
        let keep = |d: &&Descriptor| {
            ref_name(d)
                .and_then(crate::sign::signed_digest)
                .is_none_or(|signed| images.contains(&signed.to_string()))
        };
        let before = index.manifests().len();
        let kept: Vec<Descriptor> = index.manifests().iter().filter(keep).cloned().collect();
        if kept.len() != before {
            index.set_manifests(kept);
            self.write_index(&index)?;
        }
        Ok(())
    }

    /// Every digest some tag reaches.
    fn tagged_digests(&self) -> Result<BTreeSet<String>> {
        let mut keep = BTreeSet::new();
        for d in self.index()?.manifests() {
            self.reachable(d, &mut keep)?;
        }
        Ok(keep)
    }

    /// Removes those of `candidates` that no tag reaches: what a failed pull
    /// wrote, so that it leaves the store as it found it.
    pub fn discard(&self, candidates: &[Digest]) -> Result<usize> {
        let _lock = self.lock()?;
        let mut keep = self.tagged_digests()?;
        keep.extend(self.leased_digests());
        let mut removed = 0;
        for digest in candidates {
            if !keep.contains(&digest.to_string()) {
                let path = self.blob_path(digest);
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io("remove", &path)(e)),
                }
            }
        }
        Ok(removed)
    }

    /// Removes the blobs of the images `descs` point to that no tag (or
    /// live lease) uses: what a failed write made. Best effort.
    pub fn discard_images(&self, descs: &[Descriptor]) {
        let mut blobs = BTreeSet::new();
        for d in descs {
            let _ = self.reachable(d, &mut blobs);
        }
        let digests: Vec<Digest> = blobs.iter().filter_map(|d| d.parse().ok()).collect();
        let _ = self.discard(&digests);
    }

    /// Whether the blob `digest` is present and intact.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.read_blob(digest).is_ok()
    }

    /// A writer that streams a blob into the store, hashing as it goes; its
    /// [`BlobWriter::commit`] makes the blob visible only if the content
    /// matches `expected`. Dropped uncommitted, it leaves nothing behind.
    pub fn blob_writer(&self, expected: &Digest) -> Result<BlobWriter> {
        let path = self.blob_path(expected);
        let dir = path.parent().expect("blob paths have a parent");
        std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
        // `.tmp-PID-`: `gc` leaves the files of live writers alone.
        let file = tempfile::Builder::new()
            .prefix(&format!(".tmp-{}-", std::process::id()))
            .tempfile_in(dir)
            .map_err(io("create a temporary file in", dir))?;
        Ok(BlobWriter {
            file,
            hasher: Sha256::new(),
            path,
            expected: expected.clone(),
            written: 0,
        })
    }

    /// A lease on the blobs an operation (a pull) is fetching: until it is
    /// dropped, `gc` (and so `rmi`) keeps every blob it names, though no
    /// tag reaches them yet. A lease of a process that died is ignored.
    pub fn lease(&self) -> Result<Lease> {
        let dir = self.root.join(".leases");
        std::fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
        let file = tempfile::Builder::new()
            .prefix(&format!("{}-", std::process::id()))
            .tempfile_in(&dir)
            .map_err(io("create a temporary file in", &dir))?;
        Ok(Lease {
            file: std::sync::Mutex::new(file),
        })
    }

    /// Removes what killed pulls left: the blobs their leases named that no
    /// tag or live lease reaches, their temporary files and their leases.
    /// A pull starts with this, so what a SIGKILLed pull fetched does not
    /// wait for `rmi`. Returns how many files went.
    pub fn reclaim_dead_pulls(&self) -> Result<usize> {
        let mut held = Vec::new();
        let mut leases = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.root.join(".leases")) {
            for entry in entries.flatten() {
                if writer_alive(&entry.file_name().to_string_lossy()) {
                    continue;
                }
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                held.extend(text.lines().filter_map(|l| l.parse::<Digest>().ok()));
                leases.push(entry.path());
            }
        }
        let mut removed = 0;
        let dir = self.root.join("blobs/sha256");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.strip_prefix(".tmp-").is_some_and(|n| !writer_alive(n))
                    && std::fs::remove_file(entry.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed += self.discard(&held)?;
        for lease in leases {
            let _ = std::fs::remove_file(lease);
        }
        Ok(removed)
    }

    /// The digests the leases of live processes hold; stale leases go.
    fn leased_digests(&self) -> BTreeSet<String> {
        let mut held = BTreeSet::new();
        let Ok(entries) = std::fs::read_dir(self.root.join(".leases")) else {
            return held;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if writer_alive(&name) {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                held.extend(text.lines().map(str::to_string));
            } else {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        held
    }

    /// Removes blobs no tag or live lease reaches, and the temporary files
    /// of writers that died. Returns how many files were removed.
    pub fn gc(&self) -> Result<usize> {
        let _lock = self.lock()?;
        self.drop_orphan_signatures()?;
        let mut keep = self.tagged_digests()?;
        keep.extend(self.leased_digests());
        let dir = self.root.join("blobs/sha256");
        let mut removed = 0;
        for entry in std::fs::read_dir(&dir).map_err(io("read", &dir))? {
            let entry = entry.map_err(io("read", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let in_flight = name.strip_prefix(".tmp-").is_some_and(writer_alive);
            if !in_flight && !keep.contains(&format!("sha256:{name}")) {
                std::fs::remove_file(entry.path()).map_err(io("remove", &entry.path()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Whether the process whose pid starts `name` (`PID-...`) still runs.
fn writer_alive(name: &str) -> bool {
    crate::fs::owner_pid(name, "").is_some_and(crate::fs::process_alive)
}

/// See [`Layout::lease`].
pub struct Lease {
    file: std::sync::Mutex<tempfile::NamedTempFile>,
}

impl Lease {
    /// Holds `digest` too.
    pub fn hold(&self, digest: &Digest) -> Result<()> {
        use std::io::Write;
        let mut f = self.file.lock().expect("not poisoned");
        let path = f.path().to_path_buf();
        writeln!(f, "{digest}")
            .and_then(|_| f.flush())
            .map_err(io("write", &path))
    }
}

/// A blob being written into the store; see [`Layout::blob_writer`].
pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    path: PathBuf,
    expected: Digest,
    written: u64,
}

impl BlobWriter {
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .map_err(io("write", self.file.path()))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies the content against the expected digest and, if it matches,
    /// renames it into place (durably). On a mismatch nothing is kept.
    pub fn commit(self) -> Result<u64> {
        let actual = format!("sha256:{}", hex::encode(self.hasher.finalize()));
        if actual != self.expected.to_string() {
            return Err(StoreError::Corrupt {
                path: self.path,
                expected: self.expected.to_string(),
                actual,
            });
        }
        self.file
            .as_file()
            .sync_all()
            .map_err(io("write", &self.path))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.file.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(io("set permissions of", &self.path))?;
        self.file.persist(&self.path).map_err(|e| StoreError::Io {
            action: "write",
            path: self.path.clone(),
            source: e.error,
        })?;
        Ok(self.written)
    }
}

fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::new())
        .build()
        .expect("a complete index")
}

/// The annotation a store tag carries when its manifest was pulled out of an
/// index: the index's digest (the index itself is kept as a blob, so that a
/// signature of the index still vouches for the manifest).
pub const ANNOTATION_FROM_INDEX: &str = "io.cargo-ebpf.pulled-from-index";

/// The index the manifest `desc` was pulled out of, if the store kept it.
pub fn pulled_from_index(desc: &Descriptor) -> Option<Digest> {
    desc.annotations()
        .as_ref()?
        .get(ANNOTATION_FROM_INDEX)?
        .parse()
        .ok()
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a: &HashMap<String, String>| a.get(ANNOTATION_REF_NAME))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use oci_spec::image::{DescriptorBuilder, ImageManifestBuilder};

    use super::*;

    fn store() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::open_or_create(dir.path().join("store")).unwrap();
        (dir, layout)
    }

    fn image(layout: &Layout, content: &[u8]) -> Descriptor {
        let layer = layout.put_blob(content).unwrap();
        let config = layout.put_blob(b"{}").unwrap();
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(Descriptor::new(MediaType::ImageConfig, 2, config))
            .layers(vec![
                DescriptorBuilder::default()
                    .media_type(MediaType::ImageLayerGzip)
                    .size(content.len() as u64)
                    .digest(layer)
                    .build()
                    .unwrap(),
            ])
            .build()
            .unwrap();
        layout
            .put_json(MediaType::ImageManifest, &manifest)
            .unwrap()
    }

    /// Issue 17, finding 6: a document is bounded before it is read.
    #[test]
    fn a_document_over_the_limit_is_refused_unread() {
        let (_d, layout) = store();
        let big = vec![b' '; (crate::format::limits::DOCUMENT + 1) as usize];
        let digest = layout.put_blob(&big).unwrap();
        let desc = Descriptor::new(MediaType::ImageManifest, big.len() as u64, digest);
        let e = layout.read_json::<serde_json::Value>(&desc).unwrap_err();
        assert!(e.to_string().contains("over the limit of 4194304"), "{e}");
    }

    #[test]
    fn a_new_store_is_a_valid_layout() {
        let (_d, layout) = store();
        let marker: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.root().join("oci-layout")).unwrap())
                .unwrap();
        assert_eq!(marker["imageLayoutVersion"], "1.0.0");
        assert!(layout.index().unwrap().manifests().is_empty());
        assert_eq!(layout.index().unwrap().schema_version(), 2);
        Layout::open(layout.root()).unwrap();
    }

    #[test]
    fn stores_created_at_once_are_all_complete() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let opened: Vec<_> = (0..8)
            .map(|_| {
                let root = root.clone();
                std::thread::spawn(move || Layout::open_or_create(root))
            })
            .collect();
        for t in opened {
            let layout = t.join().unwrap().unwrap();
            assert!(layout.index().unwrap().manifests().is_empty());
        }
        // No staging directory is left beside the store.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn blobs_are_content_addressed_and_verified_on_read() {
        let (_d, layout) = store();
        let digest = layout.put_blob(b"bytecode").unwrap();
        assert_eq!(
            digest.to_string(),
            format!("sha256:{}", hex::encode(Sha256::digest(b"bytecode")))
        );
        assert_eq!(layout.read_blob(&digest).unwrap(), b"bytecode");
        // One flipped byte is caught, with both digests in the message.
        let path = layout.blob_path(&digest);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let err = layout.read_blob(&digest).unwrap_err().to_string();
        assert!(
            err.contains("is corrupted") && err.contains(&digest.to_string()),
            "{err}"
        );
        // Putting the blob again repairs it.
        layout.put_blob(b"bytecode").unwrap();
        assert_eq!(layout.read_blob(&digest).unwrap(), b"bytecode");
    }

    #[test]
    fn tags_resolve_refuse_duplicates_and_untag() {
        let (_d, layout) = store();
        let one = image(&layout, b"one");
        let two = image(&layout, b"two");
        layout.tag("xdpcount:0.1.0", &one, false).unwrap();
        assert_eq!(
            layout.resolve("xdpcount:0.1.0").unwrap().digest(),
            one.digest()
        );
        let err = layout
            .tag("xdpcount:0.1.0", &two, false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "an image tagged `xdpcount:0.1.0` exists already; remove it first or choose another tag"
        );
        layout.tag("xdpcount:0.1.0", &two, true).unwrap();
        assert_eq!(
            layout.resolve("xdpcount:0.1.0").unwrap().digest(),
            two.digest()
        );
        layout.tag("latest", &two, false).unwrap();
        let tags: Vec<String> = layout.tags().unwrap().into_iter().map(|t| t.0).collect();
        assert_eq!(tags, ["latest", "xdpcount:0.1.0"]);
        layout.untag("latest").unwrap();
        assert!(matches!(
            layout.resolve("latest"),
            Err(StoreError::UnknownTag(_))
        ));
        assert!(matches!(
            layout.tag("bad tag", &one, false),
            Err(StoreError::InvalidTag(_))
        ));
    }

    #[test]
    fn gc_keeps_what_tags_reach_and_nothing_half_written_remains() {
        let (_d, layout) = store();
        let kept = image(&layout, b"kept");
        let dropped = image(&layout, b"dropped");
        layout.tag("kept:1", &kept, false).unwrap();
        layout.tag("dropped:1", &dropped, false).unwrap();
        layout.untag("dropped:1").unwrap();
        // The dropped manifest and its layer go; the shared config stays.
        assert_eq!(layout.gc().unwrap(), 2);
        let mut reach = BTreeSet::new();
        layout.reachable(&kept, &mut reach).unwrap();
        for d in &reach {
            let digest: Digest = d.parse().unwrap();
            layout.read_blob(&digest).unwrap();
        }
        let stray: Vec<_> = std::fs::read_dir(layout.root().join("blobs/sha256"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .collect();
        assert!(stray.is_empty());
    }

    #[test]
    fn not_a_layout_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "x").unwrap();
        let err = Layout::open_or_create(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("is not an OCI image layout: cannot read oci-layout"),
            "{err}"
        );
    }

    /// Issue 17, finding 8: a pull killed by SIGKILL left its blobs and its
    /// partial file until an `rmi`; the next pull takes them away, and
    /// nothing a tag or a live pull holds.
    #[test]
    fn the_next_pull_reclaims_what_a_killed_pull_left() {
        let (_d, layout) = store();
        let tagged = image(&layout, b"a tagged layer");
        layout.tag("t:1", &tagged, false).unwrap();
        let tagged_layer = sha256_digest(b"a tagged layer");
        let fetched = layout.put_blob(b"what the killed pull fetched").unwrap();
        let other = layout.put_blob(b"what a live pull holds").unwrap();
        let live = layout.lease().unwrap();
        live.hold(&other).unwrap();
        let dir = layout.root().join("blobs/sha256");
        std::fs::write(dir.join(".tmp-999999999-dead"), b"partial").unwrap();
        std::fs::write(
            layout.root().join(".leases/999999999-x"),
            format!("{fetched}\n{tagged_layer}\n{other}\nnot a digest\n"),
        )
        .unwrap();
        assert_eq!(layout.reclaim_dead_pulls().unwrap(), 2);
        assert!(!layout.has_blob(&fetched));
        assert!(!dir.join(".tmp-999999999-dead").exists());
        assert!(!layout.root().join(".leases/999999999-x").exists());
        assert!(layout.has_blob(&tagged_layer), "a tag reaches it");
        assert!(layout.has_blob(&other), "a live pull holds it");
        drop(live);
    }

    /// Issue 17, finding 9: `rmi` during a pull deleted the pull's blobs
    /// (its gc took every untagged file for garbage).
    #[test]
    fn gc_keeps_what_a_live_pull_holds_and_cleans_after_a_dead_one() {
        let (_d, layout) = store();
        let fetched = layout.put_blob(b"a layer a pull fetched").unwrap();
        let loose = layout.put_blob(b"garbage").unwrap();
        let lease = layout.lease().unwrap();
        lease.hold(&fetched).unwrap();
        let writer = layout.blob_writer(&sha256_digest(b"in flight")).unwrap();
        let dir = layout.root().join("blobs/sha256");
        // What a pull killed by SIGKILL left: its temp file and its lease.
        std::fs::write(dir.join(".tmp-999999999-dead"), b"partial").unwrap();
        std::fs::write(
            layout.root().join(".leases/999999999-x"),
            format!("{loose}\n"),
        )
        .unwrap();

        assert_eq!(
            layout.gc().unwrap(),
            2,
            "the loose blob and the dead pull's temp file"
        );
        assert!(layout.has_blob(&fetched), "held by a live lease");
        assert!(
            !layout.has_blob(&loose),
            "a dead pull's lease holds nothing"
        );
        assert!(!dir.join(".tmp-999999999-dead").exists());
        assert!(!layout.root().join(".leases/999999999-x").exists());
        let live_tmp = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
            .count();
        assert_eq!(live_tmp, 1, "the live writer's file stays");
        drop(writer);
        drop(lease);
        assert_eq!(
            layout.gc().unwrap(),
            1,
            "released: the fetched blob goes too"
        );
        assert!(
            std::fs::read_dir(layout.root().join(".leases"))
                .unwrap()
                .next()
                .is_none()
        );
    }
}
