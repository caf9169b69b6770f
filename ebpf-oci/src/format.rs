//! The image format (specified in docs/image-spec.md): one owner for every
//! media type, label, annotation and entry of a cargo-ebpf image, for
//! writing (`package`) and reading (`inspect`, `bpf-runtime`).
//!
//! Format 2. An image for one platform is an OCI image manifest with one
//! tar+gzip layer, which is all bpfman v0.6.0 accepts:
//! - the layer's first entry is the bytecode at the root (bpfman reads
//!   exactly that), then the user-space program as `bin/NAME` and extra files
//!   under `files/` at their install paths;
//! - the config carries bpfman's labels and the metadata document as the
//!   label [`LABEL_METADATA`], so a reader learns everything from the small
//!   config, and everything is reachable from the manifest digest (what a
//!   signature covers). The metadata names every entry and its sha256, so a
//!   layer cannot carry other contents than the ones described.
//!
//! Several platforms make an OCI image index of such manifests. Images made
//! by other tools (bpfman's builds, Docker schema 2 ones) are read too: their
//! metadata is derived from the ELF of the first entry ([`Origin::Derived`]).
//! Format 1 images (cargo-ebpf 0.1, a metadata layer) are refused with a
//! line asking to package them again.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use ebpf_kinds::Arch;
use ebpf_object::ObjectInfo;
use oci_spec::image::{
    ANNOTATION_CREATED, ANNOTATION_DESCRIPTION, ANNOTATION_LICENSES, ANNOTATION_REVISION,
    ANNOTATION_SOURCE, ANNOTATION_TITLE, ANNOTATION_VERSION, ConfigBuilder, Descriptor,
    DescriptorBuilder, ImageConfigurationBuilder, ImageIndex, ImageIndexBuilder, ImageManifest,
    ImageManifestBuilder, MediaType, Os, Platform, PlatformBuilder, RootFsBuilder,
};
use serde::{Deserialize, Serialize};

use crate::layer::{self, LayerFile};
use crate::layout::{Layout, StoreError, canonical_json, is_index, is_manifest, sha256_digest};

/// The config label holding the metadata document (JSON, as a string).
pub const LABEL_METADATA: &str = "io.cargo-ebpf.metadata";
/// bpfman's label: function name → program type, a JSON object as a string.
pub const LABEL_PROGRAMS: &str = "io.ebpf.programs";
/// bpfman's label: map name → map type, a JSON object as a string.
pub const LABEL_MAPS: &str = "io.ebpf.maps";
/// The media type of format 1's metadata layer (recognized to refuse it).
pub const FORMAT1_METADATA_MEDIA_TYPE: &str = "application/vnd.cargo-ebpf.metadata.v1+json";
/// Docker's gzip layer, which bpfman also accepts.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Where the user-space program sits in the layer.
pub const USERSPACE_DIR: &str = "bin";
/// Where extra files sit in the layer, at their install paths below it.
pub const FILES_DIR: &str = "files";
/// The metadata schema this code writes and reads.
pub const SCHEMA: u32 = 2;

/// Limits on what an image may make a reader hold (docs/security.md).
pub mod limits {
    /// The most bytes a layer may unpack to.
    pub const LAYER_UNPACKED: u64 = 1 << 30;
    /// The most entries a layer may hold.
    pub const LAYER_ENTRIES: usize = 4096;
    /// The most a layer may expand on unpacking (unpacked / compressed),
    /// beyond its first MiB.
    pub const EXPANSION: u64 = 200;
    /// The most bytes a manifest, index or config may have (the CNCF
    /// registry's own limit for manifests).
    pub const DOCUMENT: u64 = 4 << 20;
    /// The most layers an image may have.
    pub const LAYERS: usize = 16;
    /// The most bytes a layer may have as stored (compressed).
    pub const LAYER_STORED: u64 = 1 << 30;
    /// The most bytes of a path or name taken from an image.
    pub const NAME: usize = 255;
    pub const PATH: usize = 4096;
}

/// Why an image cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sign(#[from] crate::sign::SignError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    #[error("unsupported architecture `{0}` (known: {known})", known = Arch::known())]
    UnknownArch(String),
    #[error("two platforms of one image are both {0}")]
    DuplicatePlatform(String),
    #[error("{digest} is not an eBPF image: {why}")]
    NotAnImage { digest: String, why: String },
    #[error(
        "image {digest} has metadata schema {found}; this build reads schema {SCHEMA}: upgrade cargo-ebpf"
    )]
    Schema { digest: String, found: u32 },
    #[error(
        "image {digest} is in cargo-ebpf's format 1, which bpfman cannot load; package it again with this cargo-ebpf"
    )]
    Format1 { digest: String },
    #[error("image {digest} is refused: {why}")]
    Refused { digest: String, why: String },
}

type Result<T, E = FormatError> = std::result::Result<T, E>;

/// The OCI architecture name (GOARCH) of a `uname -m` name.
pub fn oci_arch(uname: &str) -> Option<&'static str> {
    Arch::from_uname(uname).map(Arch::oci)
}

/// The `uname -m` name of an OCI architecture name.
pub fn uname_arch(oci: &str) -> Option<&'static str> {
    Arch::from_oci(oci).map(Arch::name)
}

/// Where an image's metadata came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Written by `cargo ebpf package`.
    #[default]
    Package,
    /// Derived from the bytecode's ELF: an image of another tool, or a bare
    /// object.
    Derived,
}

impl Origin {
    fn is_package(&self) -> bool {
        *self == Origin::Package
    }
}

/// The metadata document: everything a user or the runtime needs to know
/// about the package on one platform, without reading the ELF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub schema: u32,
    #[serde(default, skip_serializing_if = "Origin::is_package")]
    pub origin: Origin,
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    /// SPDX expression of the package.
    pub license: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// `uname -m` name of the target (`x86_64`).
    pub arch: String,
    /// The bytecode's file name: the layer's first entry.
    pub bytecode: String,
    /// The sha256 of the bytecode (`sha256:HEX`).
    pub bytecode_digest: String,
    /// What the bytecode holds and needs.
    pub object: ObjectInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userspace: Option<Userspace>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<InstalledFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Userspace {
    /// Path in the layer (`bin/NAME`).
    pub path: String,
    /// Whether it needs no dynamic loader (runs on any distribution).
    #[serde(rename = "static")]
    pub static_binary: bool,
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledFile {
    /// Absolute install path on the host; in the layer under `files/`.
    pub path: String,
    pub executable: bool,
    pub digest: String,
}

impl InstalledFile {
    /// The file's entry in the layer.
    pub fn entry(&self) -> String {
        format!("{FILES_DIR}{}", self.path)
    }
}

/// Whether `name` is a safe single path component: letters, digits, `.`,
/// `_`, `-`, `+`, not starting with `.` or `-`, at most [`limits::NAME`].
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= limits::NAME
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
}

/// Whether `path` is an absolute install path made of safe names.
pub fn is_safe_install_path(path: &str) -> bool {
    path.len() <= limits::PATH
        && path
            .strip_prefix('/')
            .is_some_and(|rest| rest.split('/').all(is_safe_name))
}

fn is_sha256(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

impl Metadata {
    /// Checks every name and digest an image may use to reach the
    /// filesystem or the terminal; the reason for the first that fails.
    pub fn check(&self) -> std::result::Result<(), String> {
        if !is_safe_name(&self.name) {
            return Err(format!(
                "its package name {:?} is not a safe name",
                self.name
            ));
        }
        if !self.version.is_empty() && !is_safe_name(&self.version) {
            return Err(format!("its version {:?} is not a safe name", self.version));
        }
        if !is_safe_name(&self.bytecode) || !self.bytecode.ends_with(".o") {
            return Err(format!(
                "its bytecode name {:?} is not a safe file name ending in .o",
                self.bytecode
            ));
        }
        if !is_sha256(&self.bytecode_digest) {
            return Err("its bytecode digest is not a sha256 digest".into());
        }
        if Arch::from_uname(&self.arch).is_none() {
            return Err(format!("its architecture {:?} is unknown", self.arch));
        }
        if let Some(u) = &self.userspace {
            let name = u.path.strip_prefix(&format!("{USERSPACE_DIR}/"));
            if !name.is_some_and(is_safe_name) || !is_sha256(&u.digest) {
                return Err(format!(
                    "its user-space path {:?} is not `{USERSPACE_DIR}/NAME` with a safe name and digest",
                    u.path
                ));
            }
        }
        let symbol = |s: &str| {
            !s.is_empty() && s.len() <= limits::NAME && s.bytes().all(|b| b.is_ascii_graphic())
        };
        for p in &self.object.programs {
            if !symbol(&p.name) || !symbol(&p.section) {
                return Err(format!(
                    "its program {:?} (section {:?}) is not a plain symbol",
                    p.name, p.section
                ));
            }
        }
        if let Some(m) = self
            .object
            .maps
            .iter()
            .map(|m| &m.name)
            .find(|n| !symbol(n))
        {
            return Err(format!("its map {m:?} is not a plain symbol"));
        }
        if let Some(v) = self
            .object
            .variables
            .iter()
            .map(|v| &v.name)
            .find(|n| !symbol(n))
        {
            return Err(format!("its variable {v:?} is not a plain symbol"));
        }
        for f in &self.files {
            if !is_safe_install_path(&f.path) || !is_sha256(&f.digest) {
                return Err(format!(
                    "its file {:?} is not an absolute path of safe names with a digest",
                    f.path
                ));
            }
        }
        Ok(())
    }

    /// Metadata for `bytecode` read from its ELF alone: what `package` would
    /// record for it with no `ebpf.toml`. `file` is its file name (made safe
    /// when it is not), `name` and `version` what the image's annotations or
    /// a file name say.
    pub fn derive(
        bytecode: &[u8],
        file: &str,
        name: Option<&str>,
        version: Option<&str>,
        arch: &str,
    ) -> std::result::Result<Metadata, ebpf_object::ObjectError> {
        let object = ebpf_object::analyze(bytecode, &ebpf_object::Hints::default())?;
        let file = if is_safe_name(file) && file.ends_with(".o") {
            file.to_string()
        } else {
            "bytecode.o".to_string()
        };
        let stem = file.trim_end_matches(".o").trim_end_matches(".bpf");
        let name = name
            .filter(|n| is_safe_name(n))
            .unwrap_or(if is_safe_name(stem) { stem } else { "bytecode" });
        Ok(Metadata {
            schema: SCHEMA,
            origin: Origin::Derived,
            name: name.to_string(),
            version: version
                .filter(|v| is_safe_name(v))
                .unwrap_or("")
                .to_string(),
            description: String::new(),
            authors: Vec::new(),
            license: object.license.clone(),
            source: None,
            revision: None,
            arch: arch.to_string(),
            bytecode: file,
            bytecode_digest: sha256_digest(bytecode).to_string(),
            object,
            userspace: None,
            files: Vec::new(),
        })
    }
}

/// The files of one platform's image.
#[derive(Debug, Clone)]
pub struct PlatformInput {
    /// The digests in it are filled in by [`write`].
    pub metadata: Metadata,
    pub bytecode: Vec<u8>,
    pub userspace: Option<Vec<u8>>,
    /// Contents of `metadata.files`, in the same order.
    pub files: Vec<Vec<u8>>,
}

/// Annotations common to all platforms (`org.opencontainers.image.*`).
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    pub title: String,
    pub description: String,
    pub version: String,
    pub revision: Option<String>,
    pub source: Option<String>,
    pub licenses: String,
    /// RFC 3339 time.
    pub created: String,
}

impl Annotations {
    fn map(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        m.insert(ANNOTATION_TITLE.into(), self.title.clone());
        if !self.description.is_empty() {
            m.insert(ANNOTATION_DESCRIPTION.into(), self.description.clone());
        }
        m.insert(ANNOTATION_VERSION.into(), self.version.clone());
        if let Some(r) = &self.revision {
            m.insert(ANNOTATION_REVISION.into(), r.clone());
        }
        if let Some(s) = &self.source {
            m.insert(ANNOTATION_SOURCE.into(), s.clone());
        }
        m.insert(ANNOTATION_LICENSES.into(), self.licenses.clone());
        m.insert(ANNOTATION_CREATED.into(), self.created.clone());
        m
    }
}

fn platform(arch: &str) -> Result<Platform> {
    let oci = oci_arch(arch).ok_or_else(|| FormatError::UnknownArch(arch.into()))?;
    Ok(PlatformBuilder::default()
        .architecture(oci)
        .os(Os::Linux)
        .build()
        .expect("a complete platform"))
}

/// bpfman's two labels for an object, in bpfman's names.
pub fn bpfman_labels(object: &ObjectInfo) -> HashMap<String, String> {
    let programs: BTreeMap<&str, &str> = object
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.ty.info().bpfman.unwrap_or(p.ty.name())))
        .collect();
    let maps: BTreeMap<&str, &str> = object
        .maps
        .iter()
        .map(|m| {
            let ty = ebpf_object::maps::by_name(&m.ty).map_or(m.ty.as_str(), |t| t.bpfman());
            (m.name.as_str(), ty)
        })
        .collect();
    let mut labels = HashMap::new();
    labels.insert(
        LABEL_PROGRAMS.into(),
        serde_json::to_string(&programs).expect("serializes"),
    );
    labels.insert(
        LABEL_MAPS.into(),
        serde_json::to_string(&maps).expect("serializes"),
    );
    labels
}

/// Writes one platform's blobs and manifest; returns the manifest's
/// descriptor (with its platform set, as an index lists it).
fn write_platform(layout: &Layout, input: &PlatformInput, ann: &Annotations) -> Result<Descriptor> {
    let platform = platform(&input.metadata.arch)?;
    let mut md = input.metadata.clone();
    md.schema = SCHEMA;
    md.bytecode_digest = sha256_digest(&input.bytecode).to_string();
    let mut entries = vec![LayerFile {
        path: md.bytecode.clone(),
        contents: input.bytecode.clone(),
        executable: false,
    }];
    if let (Some(us), Some(bin)) = (&mut md.userspace, &input.userspace) {
        us.digest = sha256_digest(bin).to_string();
        entries.push(LayerFile {
            path: us.path.clone(),
            contents: bin.clone(),
            executable: true,
        });
    }
    for (f, contents) in md.files.iter_mut().zip(&input.files) {
        f.digest = sha256_digest(contents).to_string();
        entries.push(LayerFile {
            path: f.entry(),
            contents: contents.clone(),
            executable: f.executable,
        });
    }
    md.check().map_err(|why| FormatError::Refused {
        digest: "(being written)".into(),
        why,
    })?;
    let layer = layer::build(&entries)?;
    let mut annotations = HashMap::new();
    annotations.insert(ANNOTATION_TITLE.to_string(), md.bytecode.clone());
    let layer_desc = DescriptorBuilder::default()
        .media_type(MediaType::ImageLayerGzip)
        .size(layer.gzip.len() as u64)
        .digest(layout.put_blob(&layer.gzip)?)
        .annotations(annotations)
        .build()
        .expect("a complete descriptor");

    let mut labels = bpfman_labels(&md.object);
    labels.insert(
        LABEL_METADATA.into(),
        String::from_utf8(canonical_json(&md)).expect("JSON is UTF-8"),
    );
    let config = ImageConfigurationBuilder::default()
        .created(ann.created.clone())
        .architecture(platform.architecture().clone())
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .labels(labels)
                .build()
                .expect("a complete config"),
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(vec![sha256_digest(&layer.tar).to_string()])
                .build()
                .expect("a complete rootfs"),
        )
        .build()
        .expect("a complete image configuration");
    let config_desc = layout.put_json(MediaType::ImageConfig, &config)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(vec![layer_desc])
        .annotations(ann.map())
        .build()
        .expect("a complete manifest");
    let mut desc = layout.put_json(MediaType::ImageManifest, &manifest)?;
    desc.set_platform(Some(platform));
    Ok(desc)
}

/// Writes an image for every platform in `inputs` and returns the descriptor
/// to tag: the manifest for one platform, an index for several. On failure
/// the blobs of the platforms already written are removed again (unless a
/// tag uses them).
pub fn write(layout: &Layout, inputs: &[PlatformInput], ann: &Annotations) -> Result<Descriptor> {
    let mut manifests = Vec::new();
    let written = write_all(layout, inputs, ann, &mut manifests);
    if written.is_err() {
        layout.discard_images(&manifests);
    }
    written
}

fn write_all(
    layout: &Layout,
    inputs: &[PlatformInput],
    ann: &Annotations,
    manifests: &mut Vec<Descriptor>,
) -> Result<Descriptor> {
    for input in inputs {
        if inputs
            .iter()
            .filter(|i| i.metadata.arch == input.metadata.arch)
            .count()
            > 1
        {
            return Err(FormatError::DuplicatePlatform(input.metadata.arch.clone()));
        }
        manifests.push(write_platform(layout, input, ann)?);
    }
    if let [one] = manifests.as_slice() {
        let mut one = one.clone();
        one.set_platform(None);
        return Ok(one);
    }
    let index = ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(manifests.clone())
        .annotations(ann.map())
        .build()
        .expect("a complete index");
    Ok(layout.put_json(MediaType::ImageIndex, &index)?)
}

/// What the config says, read leniently (OCI's and Docker's configs alike).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageConfig {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub config: Option<ConfigSection>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConfigSection {
    #[serde(rename = "Labels", default)]
    pub labels: Option<BTreeMap<String, String>>,
}

impl ImageConfig {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.config
            .as_ref()?
            .labels
            .as_ref()?
            .get(name)
            .map(String::as_str)
    }
}

/// One platform of an image, read back and verified.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfig,
    pub metadata: Metadata,
    /// For an image of another tool: the bytecode its metadata was derived
    /// from (read and verified once, not again by [`contents`]).
    derived_bytecode: Option<Vec<u8>>,
}

impl PlatformImage {
    /// The layer that holds the bytecode (and everything else).
    pub fn layer(&self) -> &Descriptor {
        &self.manifest.layers()[0]
    }

    /// Total size of the config and layers.
    pub fn size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }
}

/// An image read back: its top descriptor and each platform.
#[derive(Debug, Clone)]
pub struct Image {
    pub descriptor: Descriptor,
    pub platforms: Vec<PlatformImage>,
}

impl Image {
    /// The platform for `arch` (`uname -m` name).
    pub fn platform(&self, arch: &str) -> Option<&PlatformImage> {
        self.platforms.iter().find(|p| p.metadata.arch == arch)
    }
}

/// Reads the image `desc` points to, verifying every blob it reads.
pub fn read(layout: &Layout, desc: &Descriptor) -> Result<Image> {
    let platforms = if is_index(desc.media_type()) {
        let index: ImageIndex = layout.read_json(desc)?;
        index
            .manifests()
            .iter()
            .map(|d| read_platform(layout, d))
            .collect::<Result<Vec<_>>>()?
    } else if is_manifest(desc.media_type()) {
        vec![read_platform(layout, desc)?]
    } else {
        return Err(FormatError::NotAnImage {
            digest: desc.digest().to_string(),
            why: format!(
                "media type {} is neither a manifest nor an index",
                desc.media_type()
            ),
        });
    };
    Ok(Image {
        descriptor: desc.clone(),
        platforms,
    })
}

fn is_gzip_layer(mt: &MediaType) -> bool {
    match mt {
        MediaType::ImageLayerGzip => true,
        MediaType::Other(o) => o == DOCKER_LAYER_GZIP,
        _ => false,
    }
}

fn read_platform(layout: &Layout, desc: &Descriptor) -> Result<PlatformImage> {
    let digest = desc.digest().to_string();
    let not_ours = |why: String| FormatError::NotAnImage {
        digest: digest.clone(),
        why,
    };
    let manifest: ImageManifest = layout.read_json(desc)?;
    let layers = manifest.layers();
    if layers
        .iter()
        .any(|l| l.media_type() == &MediaType::Other(FORMAT1_METADATA_MEDIA_TYPE.into()))
    {
        return Err(FormatError::Format1 { digest });
    }
    let first = layers
        .first()
        .ok_or_else(|| not_ours("it has no layers".into()))?;
    if !is_gzip_layer(first.media_type()) {
        return Err(not_ours(format!(
            "its first layer is {}, not tar+gzip",
            first.media_type()
        )));
    }
    let config: ImageConfig = layout.read_json(manifest.config())?;
    let mut derived_bytecode = None;
    let metadata = match config.label(LABEL_METADATA) {
        Some(text) => {
            let raw: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| not_ours(format!("its {LABEL_METADATA} label is not JSON ({e})")))?;
            let found = raw["schema"].as_u64().unwrap_or(0) as u32;
            if found != SCHEMA {
                return Err(FormatError::Schema { digest, found });
            }
            let md: Metadata = serde_json::from_value(raw)
                .map_err(|e| not_ours(format!("invalid metadata ({e})")))?;
            md.check().map_err(|why| FormatError::Refused {
                digest: digest.clone(),
                why,
            })?;
            if layers.len() != 1 {
                return Err(FormatError::Refused {
                    digest,
                    why: format!("it has {} layers; a format 2 image has one", layers.len()),
                });
            }
            md
        }
        None => {
            let (md, bytecode) = derived_metadata(layout, &manifest, &config, &digest)?;
            derived_bytecode = Some(bytecode);
            md
        }
    };
    Ok(PlatformImage {
        descriptor: desc.clone(),
        manifest,
        config,
        metadata,
        derived_bytecode,
    })
}

/// The metadata of an image another tool made: from the ELF of its first
/// entry, its config's architecture and its annotations; and that entry.
fn derived_metadata(
    layout: &Layout,
    manifest: &ImageManifest,
    config: &ImageConfig,
    digest: &str,
) -> Result<(Metadata, Vec<u8>)> {
    let arch = uname_arch(&config.architecture).ok_or_else(|| FormatError::NotAnImage {
        digest: digest.into(),
        why: format!(
            "its config names no known architecture ({:?})",
            config.architecture
        ),
    })?;
    let (file, bytecode) = first_entry(layout, &manifest.layers()[0])?;
    let ann = manifest.annotations().clone().unwrap_or_default();
    let name = ann
        .get(ANNOTATION_TITLE)
        .map(String::as_str)
        .or_else(|| config.label("io.ebpf.program_name"));
    let version = ann.get(ANNOTATION_VERSION).map(String::as_str);
    let mut md = Metadata::derive(&bytecode, &file, name, version, arch).map_err(|e| {
        FormatError::NotAnImage {
            digest: digest.into(),
            why: format!("its first entry is not an eBPF object ({e})"),
        }
    })?;
    if let Some(d) = ann.get(ANNOTATION_DESCRIPTION) {
        md.description = d.clone();
    }
    md.check().map_err(|why| FormatError::Refused {
        digest: digest.into(),
        why,
    })?;
    Ok((md, bytecode))
}

/// A tar+gzip layer, read entry by entry within the limits.
struct Entries<'a> {
    digest: String,
    compressed: u64,
    unpacked: u64,
    count: usize,
    archive: tar::Archive<flate2::read::GzDecoder<&'a [u8]>>,
}

impl<'a> Entries<'a> {
    fn new(gz: &'a [u8], digest: &str) -> Entries<'a> {
        Entries {
            digest: digest.into(),
            compressed: gz.len() as u64,
            unpacked: 0,
            count: 0,
            archive: tar::Archive::new(flate2::read::GzDecoder::new(gz)),
        }
    }

    fn refuse(&self, why: String) -> FormatError {
        FormatError::Refused {
            digest: self.digest.clone(),
            why,
        }
    }

    /// Calls `each(path, contents)` for every regular file, until it
    /// returns false; directories are passed over, any other kind of entry
    /// is refused.
    fn each(&mut self, mut each: impl FnMut(&str, Vec<u8>) -> Result<bool>) -> Result<()> {
        let bad = |digest: &str, e: std::io::Error| FormatError::NotAnImage {
            digest: digest.into(),
            why: format!("its layer is not tar+gzip ({e})"),
        };
        let allowed = limits::LAYER_UNPACKED
            .min((1 << 20) + self.compressed.saturating_mul(limits::EXPANSION));
        let digest = self.digest.clone();
        let entries = self.archive.entries().map_err(|e| bad(&digest, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| bad(&digest, e))?;
            self.count += 1;
            if self.count > limits::LAYER_ENTRIES {
                return Err(self.refuse(format!(
                    "its layer has more than {} entries",
                    limits::LAYER_ENTRIES
                )));
            }
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                continue;
            }
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if !kind.is_file() {
                return Err(self.refuse(format!("its layer entry {path:?} is not a regular file")));
            }
            let size = entry.header().size().map_err(|e| bad(&digest, e))?;
            self.unpacked = self.unpacked.saturating_add(size);
            if self.unpacked > allowed {
                return Err(self.refuse(format!(
                    "its layer unpacks to more than {allowed} bytes (from {} compressed)",
                    self.compressed
                )));
            }
            let mut body = Vec::with_capacity(size.min(1 << 20) as usize);
            entry
                .take(size)
                .read_to_end(&mut body)
                .map_err(|e| bad(&digest, e))?;
            if !each(&path, body)? {
                break;
            }
        }
        Ok(())
    }
}

/// The first regular file of a layer: its name and contents (bpfman's
/// rule for the bytecode).
fn first_entry(layout: &Layout, layer: &Descriptor) -> Result<(String, Vec<u8>)> {
    let gz = layout.read_described(layer)?;
    let mut entries = Entries::new(&gz, layer.digest().as_ref());
    let mut found = None;
    entries.each(|path, body| {
        let name = path
            .trim_start_matches("./")
            .rsplit('/')
            .next()
            .unwrap_or("");
        found = Some((name.to_string(), body));
        Ok(false)
    })?;
    found.ok_or_else(|| FormatError::NotAnImage {
        digest: layer.digest().to_string(),
        why: "its first layer holds no file".into(),
    })
}

/// What one platform of an image carries, each part checked against the
/// digest its metadata gives.
#[derive(Debug, Clone, Default)]
pub struct Contents {
    pub bytecode: Vec<u8>,
    /// The user-space program, when asked for and present.
    pub userspace: Option<Vec<u8>>,
    /// Each of `metadata.files` with its contents, when asked for.
    pub files: Vec<(InstalledFile, Vec<u8>)>,
}

/// Reads a platform's layer: the bytecode always, the user space and files
/// when `everything`. Entries must be exactly the ones the metadata names,
/// in its order, each with its digest; images of other tools give their
/// first entry as the bytecode.
pub fn contents(layout: &Layout, image: &PlatformImage, everything: bool) -> Result<Contents> {
    let md = &image.metadata;
    if let Some(bytecode) = &image.derived_bytecode {
        return Ok(Contents {
            bytecode: bytecode.clone(),
            ..Contents::default()
        });
    }
    let gz = layout.read_described(image.layer())?;
    let digest = image.descriptor.digest().to_string();
    let mut expected: Vec<(String, &str)> =
        vec![(md.bytecode.clone(), md.bytecode_digest.as_str())];
    if let Some(u) = &md.userspace {
        expected.push((u.path.clone(), u.digest.as_str()));
    }
    for f in &md.files {
        expected.push((f.entry(), f.digest.as_str()));
    }
    let wanted = if everything { expected.len() } else { 1 };
    let mut out = Contents::default();
    let mut seen = 0;
    let mut entries = Entries::new(&gz, &digest);
    entries.each(|path, body| {
        let Some((name, want)) = expected.get(seen) else {
            return Err(FormatError::Refused {
                digest: digest.clone(),
                why: format!("its layer holds {path:?}, which its metadata does not name"),
            });
        };
        if path != *name {
            return Err(FormatError::Refused {
                digest: digest.clone(),
                why: format!("its layer holds {path:?} where its metadata names {name:?}"),
            });
        }
        if sha256_digest(&body).as_ref() != *want {
            return Err(FormatError::Refused {
                digest: digest.clone(),
                why: format!("{name} in its layer is not the one its metadata describes"),
            });
        }
        match seen {
            0 => out.bytecode = body,
            i if md.userspace.is_some() && i == 1 => out.userspace = Some(body),
            i => {
                let f = &md.files[i - 1 - usize::from(md.userspace.is_some())];
                out.files.push((f.clone(), body));
            }
        }
        seen += 1;
        Ok(seen < wanted)
    })?;
    if seen < wanted {
        return Err(FormatError::Refused {
            digest,
            why: format!("its layer lacks {}", expected[seen].0),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use ebpf_object::{Display, Endianness, KernelRequirements, MapInfo, ObjectInfo, ProgramInfo};

    use super::*;

    fn input(arch: &str) -> PlatformInput {
        let object = ObjectInfo {
            endianness: Endianness::Little,
            license: "GPL".into(),
            programs: vec![ProgramInfo {
                name: "count_packets".into(),
                section: "xdp".into(),
                ty: ebpf_object::ProgramType::Xdp,
                target: None,
                attach: [("iface".to_string(), serde_json::json!("lo"))].into(),
            }],
            maps: vec![MapInfo {
                name: "stats".into(),
                ty: "percpu_array".into(),
                key_size: 4,
                value_size: 16,
                max_entries: 5,
                key: None,
                value: None,
                display: Display::Counters,
                record: None,
            }],
            variables: Vec::new(),
            prints: Vec::new(),
            kernel: KernelRequirements {
                min_version: "4.8".into(),
                program_types: vec![ebpf_object::ProgramType::Xdp],
                map_types: vec!["percpu_array".into()],
                features: Vec::new(),
            },
        };
        PlatformInput {
            metadata: Metadata {
                schema: SCHEMA,
                origin: Origin::Package,
                name: "xdpcount".into(),
                version: "0.1.0".into(),
                description: "counts packets".into(),
                authors: Vec::new(),
                license: "GPL-2.0-only".into(),
                source: None,
                revision: None,
                arch: arch.into(),
                bytecode: "xdpcount.bpf.o".into(),
                bytecode_digest: String::new(),
                object,
                userspace: Some(Userspace {
                    path: "bin/xdpcount".into(),
                    static_binary: true,
                    digest: String::new(),
                }),
                files: vec![InstalledFile {
                    path: "/etc/xdpcount.toml".into(),
                    executable: false,
                    digest: String::new(),
                }],
            },
            bytecode: format!("\x7fELF bytecode for {arch}").into_bytes(),
            userspace: Some(b"binary".to_vec()),
            files: vec![b"threshold = 3\n".to_vec()],
        }
    }

    fn annotations() -> Annotations {
        Annotations {
            title: "xdpcount".into(),
            version: "0.1.0".into(),
            licenses: "GPL-2.0-only".into(),
            created: "1970-01-01T00:00:00Z".into(),
            ..Annotations::default()
        }
    }

    fn store() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::open_or_create(dir.path().join("s")).unwrap();
        (dir, layout)
    }

    /// The entry names of a tar+gzip blob, in order.
    fn entry_names(gz: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz));
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    /// Writes a manifest of `config` and `layers` (as a tool other than
    /// `package` would) and returns its descriptor.
    fn manifest_of(layout: &Layout, config: Descriptor, layers: Vec<Descriptor>) -> Descriptor {
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config)
            .layers(layers)
            .build()
            .unwrap();
        layout
            .put_json(MediaType::ImageManifest, &manifest)
            .unwrap()
    }

    fn gzip_layer(layout: &Layout, files: &[LayerFile]) -> Descriptor {
        let l = layer::build(files).unwrap();
        let digest = layout.put_blob(&l.gzip).unwrap();
        Descriptor::new(MediaType::ImageLayerGzip, l.gzip.len() as u64, digest)
    }

    /// A config whose metadata label is `md` (JSON).
    fn config_with(layout: &Layout, md: &serde_json::Value) -> Descriptor {
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Labels": {LABEL_METADATA: md.to_string(), LABEL_PROGRAMS: "{}"}},
            "rootfs": {"type": "layers", "diff_ids": []}
        });
        layout.put_json(MediaType::ImageConfig, &config).unwrap()
    }

    #[test]
    fn an_image_is_one_layer_bpfman_reads_with_the_metadata_in_the_config() {
        let (_d, layout) = store();
        let desc = write(&layout, &[input("x86_64")], &annotations()).unwrap();
        assert_eq!(desc.media_type(), &MediaType::ImageManifest);
        let image = read(&layout, &desc).unwrap();
        let p = &image.platforms[0];
        assert_eq!(p.manifest.layers().len(), 1, "bpfman accepts one layer");
        assert_eq!(p.layer().media_type(), &MediaType::ImageLayerGzip);
        let gz = layout.read_blob(p.layer().digest()).unwrap();
        assert_eq!(
            entry_names(&gz),
            ["xdpcount.bpf.o", "bin/xdpcount", "files/etc/xdpcount.toml"],
            "the bytecode first (bpfman's rule)"
        );
        assert_eq!(
            p.config.label(LABEL_PROGRAMS),
            Some(r#"{"count_packets":"xdp"}"#)
        );
        assert_eq!(
            p.config.label(LABEL_MAPS),
            Some(r#"{"stats":"per_cpu_array"}"#),
            "bpfman's map type names"
        );
        let md = &p.metadata;
        assert_eq!(
            md.bytecode_digest,
            sha256_digest(&input("x86_64").bytecode).to_string()
        );
        assert_eq!(
            md.userspace.as_ref().unwrap().digest,
            sha256_digest(b"binary").to_string()
        );
        let mut expected = input("x86_64").metadata;
        expected.bytecode_digest = md.bytecode_digest.clone();
        expected.userspace.as_mut().unwrap().digest = md.userspace.as_ref().unwrap().digest.clone();
        expected.files[0].digest = md.files[0].digest.clone();
        assert_eq!(*md, expected);

        let all = contents(&layout, p, true).unwrap();
        assert_eq!(all.bytecode, input("x86_64").bytecode);
        assert_eq!(all.userspace.as_deref(), Some(&b"binary"[..]));
        assert_eq!(all.files[0].0.path, "/etc/xdpcount.toml");
        assert_eq!(all.files[0].1, b"threshold = 3\n");
        let kernel_only = contents(&layout, p, false).unwrap();
        assert_eq!(kernel_only.bytecode, input("x86_64").bytecode);
        assert!(kernel_only.userspace.is_none());
    }

    #[test]
    fn the_same_input_gives_the_same_digest() {
        let (_d, a) = store();
        let (_e, b) = store();
        let da = write(&a, &[input("x86_64")], &annotations()).unwrap();
        let db = write(&b, &[input("x86_64")], &annotations()).unwrap();
        assert_eq!(da.digest(), db.digest());
    }

    #[test]
    fn several_platforms_make_an_index() {
        let (_d, layout) = store();
        let desc = write(
            &layout,
            &[input("x86_64"), input("aarch64")],
            &annotations(),
        )
        .unwrap();
        assert_eq!(desc.media_type(), &MediaType::ImageIndex);
        let image = read(&layout, &desc).unwrap();
        let arches: Vec<String> = image
            .platforms
            .iter()
            .map(|p| {
                p.descriptor
                    .platform()
                    .as_ref()
                    .unwrap()
                    .architecture()
                    .to_string()
            })
            .collect();
        assert_eq!(arches, ["amd64", "arm64"]);
        let arm = image.platform("aarch64").unwrap();
        assert_eq!(
            contents(&layout, arm, false).unwrap().bytecode,
            input("aarch64").bytecode
        );
        let dup = write(&layout, &[input("x86_64"), input("x86_64")], &annotations());
        assert!(matches!(dup, Err(FormatError::DuplicatePlatform(_))));
        let bad = write(&layout, &[input("pdp11")], &annotations());
        assert!(matches!(bad, Err(FormatError::UnknownArch(_))));
    }

    #[test]
    fn a_changed_byte_in_any_blob_is_detected() {
        let (_d, layout) = store();
        let desc = write(&layout, &[input("x86_64")], &annotations()).unwrap();
        let mut digests = std::collections::BTreeSet::new();
        layout.reachable(&desc, &mut digests).unwrap();
        assert_eq!(digests.len(), 3, "manifest, config and the layer");
        for d in &digests {
            let path = layout
                .root()
                .join("blobs/sha256")
                .join(d.trim_start_matches("sha256:"));
            let good = std::fs::read(&path).unwrap();
            let mut bad = good.clone();
            let at = bad.len() / 2;
            bad[at] ^= 1;
            std::fs::write(&path, &bad).unwrap();
            let err = read(&layout, &desc)
                .and_then(|i| contents(&layout, &i.platforms[0], true))
                .unwrap_err();
            assert!(
                matches!(err, FormatError::Store(StoreError::Corrupt { .. })),
                "{d}: {err}"
            );
            std::fs::write(&path, &good).unwrap();
        }
    }

    /// Issue 17, finding 3: a layer carrying other contents than the
    /// metadata describes is refused before anything of it is used.
    #[test]
    fn a_layer_from_another_image_is_refused() {
        let (_d, layout) = store();
        let a = read(
            &layout,
            &write(&layout, &[input("x86_64")], &annotations()).unwrap(),
        )
        .unwrap();
        let mut other = input("x86_64");
        other.userspace = Some(b"another binary".to_vec());
        let b = read(&layout, &write(&layout, &[other], &annotations()).unwrap()).unwrap();
        let forged = manifest_of(
            &layout,
            a.platforms[0].manifest.config().clone(),
            vec![b.platforms[0].layer().clone()],
        );
        let image = read(&layout, &forged).unwrap();
        let err = contents(&layout, &image.platforms[0], true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bin/xdpcount in its layer is not the one its metadata describes"),
            "{err}"
        );
    }

    /// Issue 17, finding 11: a descriptor's size is checked against the
    /// blob it names.
    #[test]
    fn a_layer_size_that_is_not_the_blobs_is_refused() {
        let (_d, layout) = store();
        let image = read(
            &layout,
            &write(&layout, &[input("x86_64")], &annotations()).unwrap(),
        )
        .unwrap();
        let mut layer = image.platforms[0].layer().clone();
        layer.set_size(layer.size() + 1);
        let forged = manifest_of(
            &layout,
            image.platforms[0].manifest.config().clone(),
            vec![layer],
        );
        let forged = read(&layout, &forged).unwrap();
        let err = contents(&layout, &forged.platforms[0], false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bytes where its descriptor says"), "{err}");
        let mut config = image.platforms[0].manifest.config().clone();
        config.set_size(1);
        let forged = manifest_of(&layout, config, vec![image.platforms[0].layer().clone()]);
        let err = read(&layout, &forged).unwrap_err().to_string();
        assert!(err.contains("bytes where its descriptor says 1"), "{err}");
    }

    /// Issue 17, finding 1: names in metadata never reach the filesystem
    /// unchecked.
    #[test]
    fn unsafe_names_in_metadata_are_refused() {
        let (_d, layout) = store();
        let good = write(&layout, &[input("x86_64")], &annotations()).unwrap();
        let image = read(&layout, &good).unwrap();
        let md = serde_json::to_value(&image.platforms[0].metadata).unwrap();
        let layer = image.platforms[0].layer().clone();
        for (field, value, why) in [
            ("/bytecode", "../../etc/cron.d/x.o", "bytecode name"),
            ("/bytecode", "x.bpf.o\u{1b}[2J", "bytecode name"),
            ("/name", "a/b", "package name"),
            ("/userspace/path", "bin/../../x", "user-space path"),
            ("/files/0/path", "/etc/../shadow", "file"),
            ("/bytecode_digest", "md5:00", "bytecode digest"),
        ] {
            let mut bad = md.clone();
            *bad.pointer_mut(field).unwrap() = serde_json::json!(value);
            let desc = manifest_of(&layout, config_with(&layout, &bad), vec![layer.clone()]);
            let err = read(&layout, &desc).unwrap_err().to_string();
            assert!(
                err.contains("is refused") && err.contains(why),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn format_1_and_newer_schemas_are_named() {
        let (_d, layout) = store();
        let config = layout
            .put_json(
                MediaType::ImageConfig,
                &serde_json::json!({"architecture": "amd64"}),
            )
            .unwrap();
        let meta = layout.put_blob(b"{}").unwrap();
        let layer = gzip_layer(
            &layout,
            &input("x86_64")
                .files
                .iter()
                .map(|c| LayerFile {
                    path: "x.o".into(),
                    contents: c.clone(),
                    executable: false,
                })
                .collect::<Vec<_>>(),
        );
        let v1 = manifest_of(
            &layout,
            config,
            vec![
                layer.clone(),
                Descriptor::new(
                    MediaType::Other(FORMAT1_METADATA_MEDIA_TYPE.into()),
                    2,
                    meta,
                ),
            ],
        );
        let err = read(&layout, &v1).unwrap_err().to_string();
        assert!(
            err.contains("format 1") && err.contains("package it again"),
            "{err}"
        );
        let future = manifest_of(
            &layout,
            config_with(&layout, &serde_json::json!({"schema": 3})),
            vec![layer],
        );
        let err = read(&layout, &future).unwrap_err().to_string();
        assert!(
            err.contains("schema 3") && err.contains("upgrade cargo-ebpf"),
            "{err}"
        );
    }

    #[test]
    fn images_of_other_tools_need_an_object_first() {
        let (_d, layout) = store();
        let config = layout
            .put_json(
                MediaType::ImageConfig,
                &serde_json::json!({"architecture": "amd64", "os": "linux"}),
            )
            .unwrap();
        let empty = manifest_of(&layout, config.clone(), Vec::new());
        let err = read(&layout, &empty).unwrap_err().to_string();
        assert!(
            err.contains("is not an eBPF image: it has no layers"),
            "{err}"
        );
        let text = gzip_layer(
            &layout,
            &[LayerFile {
                path: "README".into(),
                contents: b"not an object".to_vec(),
                executable: false,
            }],
        );
        let err = read(&layout, &manifest_of(&layout, config, vec![text]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("its first entry is not an eBPF object"),
            "{err}"
        );
    }

    /// Issue 17, finding 6: a small layer cannot make a reader hold
    /// gigabytes.
    #[test]
    fn a_layer_that_expands_too_far_is_refused() {
        let (_d, layout) = store();
        let bomb = LayerFile {
            path: "xdpcount.bpf.o".into(),
            contents: vec![0; 64 << 20],
            executable: false,
        };
        let layer = gzip_layer(&layout, &[bomb]);
        assert!(layer.size() < 1 << 20, "{} bytes compressed", layer.size());
        let config = layout
            .put_json(
                MediaType::ImageConfig,
                &serde_json::json!({"architecture": "amd64", "os": "linux"}),
            )
            .unwrap();
        let err = read(&layout, &manifest_of(&layout, config, vec![layer]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unpacks to more than"), "{err}");
    }
}
