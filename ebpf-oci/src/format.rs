//! The image format (specified in docs/image-spec.md): one owner for every
//! media type, label, annotation and layer of a cargo-ebpf image, for writing
//! (`package`) and reading (`inspect`, `bpf-runtime`).
//!
//! An image for one platform is an OCI image manifest whose layers are:
//! 0. the bytecode: tar+gzip holding the `.o` as its first and only entry at
//!    the root (bpfman reads exactly that);
//! 1. the metadata: a JSON document of media type [`METADATA_MEDIA_TYPE`];
//! 2. optionally the user-space program (tar+gzip, `bin/NAME`);
//! 3. optionally extra files at their install paths (tar+gzip).
//!
//! Several platforms make an OCI image index of such manifests.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use ebpf_kinds::Arch;
use ebpf_object::ObjectInfo;
use oci_spec::image::{
    ANNOTATION_CREATED, ANNOTATION_DESCRIPTION, ANNOTATION_LICENSES, ANNOTATION_REVISION,
    ANNOTATION_SOURCE, ANNOTATION_TITLE, ANNOTATION_VERSION, ConfigBuilder, Descriptor,
    DescriptorBuilder, ImageConfiguration, ImageConfigurationBuilder, ImageIndex,
    ImageIndexBuilder, ImageManifest, ImageManifestBuilder, MediaType, Os, Platform,
    PlatformBuilder, RootFsBuilder,
};
use serde::{Deserialize, Serialize};

use crate::layer::{self, LayerFile};
use crate::layout::{Layout, StoreError, canonical_json, sha256_digest};

/// The media type of the metadata layer.
pub const METADATA_MEDIA_TYPE: &str = "application/vnd.cargo-ebpf.metadata.v1+json";
/// bpfman's label: function name → program type, a JSON object as a string.
pub const LABEL_PROGRAMS: &str = "io.ebpf.programs";
/// bpfman's label: map name → map type, a JSON object as a string.
pub const LABEL_MAPS: &str = "io.ebpf.maps";
/// Layer annotation naming the role of a layer (see [`LayerRole`]).
pub const ANNOTATION_LAYER: &str = "io.cargo-ebpf.layer";
/// Where the user-space program sits in its layer.
pub const USERSPACE_DIR: &str = "bin";
/// The metadata schema version this code writes and reads.
pub const SCHEMA: u32 = 1;

/// What a layer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerRole {
    Bytecode,
    Metadata,
    Userspace,
    Files,
}

impl LayerRole {
    pub const fn name(self) -> &'static str {
        match self {
            LayerRole::Bytecode => "bytecode",
            LayerRole::Metadata => "metadata",
            LayerRole::Userspace => "userspace",
            LayerRole::Files => "files",
        }
    }

    fn from_name(name: &str) -> Option<LayerRole> {
        [Self::Bytecode, Self::Metadata, Self::Userspace, Self::Files]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

/// Why an image cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Layer(#[from] layer::LayerError),
    #[error("unsupported architecture `{0}` (known: {known})", known = Arch::known())]
    UnknownArch(String),
    #[error("two platforms of one image are both {0}")]
    DuplicatePlatform(String),
    #[error("{digest} is not a cargo-ebpf image: {why}")]
    NotAnImage { digest: String, why: String },
    #[error(
        "image {digest} has metadata schema {found}; this build reads schema {SCHEMA}: upgrade cargo-ebpf"
    )]
    Schema { digest: String, found: u32 },
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

/// The metadata document (layer 1): everything a user or the runtime needs
/// to know about the package on one platform, without reading the ELF.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub schema: u32,
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
    /// The bytecode's file name (the entry of layer 0).
    pub bytecode: String,
    /// What the bytecode holds and needs.
    pub object: ObjectInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userspace: Option<Userspace>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<InstalledFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Userspace {
    /// Path in the user-space layer (`bin/NAME`).
    pub path: String,
    /// Whether it needs no dynamic loader (runs on any distribution).
    #[serde(rename = "static")]
    pub static_binary: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledFile {
    /// Absolute install path on the host.
    pub path: String,
    pub executable: bool,
}

/// The files of one platform's image.
#[derive(Debug, Clone)]
pub struct PlatformInput {
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

fn layer_desc(media_type: MediaType, bytes: &[u8], role: LayerRole, title: &str) -> Descriptor {
    let mut a = HashMap::new();
    a.insert(ANNOTATION_LAYER.to_string(), role.name().to_string());
    a.insert(ANNOTATION_TITLE.to_string(), title.to_string());
    DescriptorBuilder::default()
        .media_type(media_type)
        .size(bytes.len() as u64)
        .digest(sha256_digest(bytes))
        .annotations(a)
        .build()
        .expect("a complete descriptor")
}

fn platform(arch: &str) -> Result<Platform> {
    let oci = oci_arch(arch).ok_or_else(|| FormatError::UnknownArch(arch.into()))?;
    Ok(PlatformBuilder::default()
        .architecture(oci)
        .os(Os::Linux)
        .build()
        .expect("a complete platform"))
}

/// bpfman's two labels for an object.
pub fn bpfman_labels(object: &ObjectInfo) -> HashMap<String, String> {
    let programs: BTreeMap<&str, &str> = object
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.ty.info().bpfman.unwrap_or(p.ty.name())))
        .collect();
    let maps: BTreeMap<&str, &str> = object
        .maps
        .iter()
        .map(|m| (m.name.as_str(), m.ty.as_str()))
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
    let md = &input.metadata;
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    // A layer: its blob, the content its diff_id hashes, its role and title.
    let mut push = |media_type: MediaType, blob: Vec<u8>, diff: &[u8], role, title: &str| {
        layers.push(layer_desc(media_type, &blob, role, title));
        diff_ids.push(sha256_digest(diff).to_string());
        blobs.push(blob);
    };

    let bytecode = layer::build(&[LayerFile {
        path: md.bytecode.clone(),
        contents: input.bytecode.clone(),
        executable: false,
    }])?;
    push(
        MediaType::ImageLayerGzip,
        bytecode.gzip,
        &bytecode.tar,
        LayerRole::Bytecode,
        &md.bytecode,
    );

    let metadata = canonical_json(md);
    push(
        MediaType::Other(METADATA_MEDIA_TYPE.into()),
        metadata.clone(),
        &metadata,
        LayerRole::Metadata,
        "metadata.json",
    );

    if let (Some(us), Some(bin)) = (&md.userspace, &input.userspace) {
        let l = layer::build(&[LayerFile {
            path: us.path.clone(),
            contents: bin.clone(),
            executable: true,
        }])?;
        push(
            MediaType::ImageLayerGzip,
            l.gzip,
            &l.tar,
            LayerRole::Userspace,
            &us.path,
        );
    }
    if !md.files.is_empty() {
        let files: Vec<LayerFile> = md
            .files
            .iter()
            .zip(&input.files)
            .map(|(f, contents)| LayerFile {
                path: f.path.trim_start_matches('/').to_string(),
                contents: contents.clone(),
                executable: f.executable,
            })
            .collect();
        let l = layer::build(&files)?;
        push(
            MediaType::ImageLayerGzip,
            l.gzip,
            &l.tar,
            LayerRole::Files,
            "files",
        );
    }
    for b in &blobs {
        layout.put_blob(b)?;
    }

    let platform = platform(&md.arch)?;
    let config = ImageConfigurationBuilder::default()
        .created(ann.created.clone())
        .architecture(platform.architecture().clone())
        .os(Os::Linux)
        .config(
            ConfigBuilder::default()
                .labels(bpfman_labels(&md.object))
                .build()
                .expect("a complete config"),
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(diff_ids)
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
        .layers(layers)
        .annotations(ann.map())
        .build()
        .expect("a complete manifest");
    let mut desc = layout.put_json(MediaType::ImageManifest, &manifest)?;
    desc.set_platform(Some(platform));
    Ok(desc)
}

/// Writes an image for every platform in `inputs` and returns the descriptor
/// to tag: the manifest for one platform, an index for several.
pub fn write(layout: &Layout, inputs: &[PlatformInput], ann: &Annotations) -> Result<Descriptor> {
    let mut manifests = Vec::new();
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
        .manifests(manifests)
        .annotations(ann.map())
        .build()
        .expect("a complete index");
    Ok(layout.put_json(MediaType::ImageIndex, &index)?)
}

/// One platform of an image, read back and verified.
#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    pub metadata: Metadata,
}

impl PlatformImage {
    /// The layer with `role`, if the image has one.
    pub fn layer(&self, role: LayerRole) -> Option<&Descriptor> {
        self.manifest.layers().iter().find(|l| {
            l.annotations()
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_LAYER))
                .and_then(|n| LayerRole::from_name(n))
                == Some(role)
        })
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
    let platforms = match desc.media_type() {
        MediaType::ImageIndex => {
            let index: ImageIndex = layout.read_json(desc)?;
            index
                .manifests()
                .iter()
                .map(|d| read_platform(layout, d))
                .collect::<Result<Vec<_>>>()?
        }
        MediaType::ImageManifest => vec![read_platform(layout, desc)?],
        other => {
            return Err(FormatError::NotAnImage {
                digest: desc.digest().to_string(),
                why: format!("media type {other} is neither a manifest nor an index"),
            });
        }
    };
    Ok(Image {
        descriptor: desc.clone(),
        platforms,
    })
}

fn read_platform(layout: &Layout, desc: &Descriptor) -> Result<PlatformImage> {
    let not_ours = |why: &str| FormatError::NotAnImage {
        digest: desc.digest().to_string(),
        why: why.to_string(),
    };
    let manifest: ImageManifest = layout.read_json(desc)?;
    let meta_desc = manifest
        .layers()
        .iter()
        .find(|l| l.media_type() == &MediaType::Other(METADATA_MEDIA_TYPE.into()))
        .ok_or_else(|| not_ours("it has no metadata layer (bpfman-only images lack it)"))?;
    let raw: serde_json::Value = layout.read_json(meta_desc)?;
    let found = raw["schema"].as_u64().unwrap_or(0) as u32;
    if found != SCHEMA {
        return Err(FormatError::Schema {
            digest: desc.digest().to_string(),
            found,
        });
    }
    let metadata: Metadata =
        serde_json::from_value(raw).map_err(|e| not_ours(&format!("invalid metadata ({e})")))?;
    let config: ImageConfiguration = layout.read_json(manifest.config())?;
    Ok(PlatformImage {
        descriptor: desc.clone(),
        manifest,
        config,
        metadata,
    })
}

/// The files of a tar+gzip layer, verified against its digest.
pub fn layer_files(layout: &Layout, desc: &Descriptor) -> Result<Vec<(String, Vec<u8>)>> {
    let gz = layout.read_blob(desc.digest())?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gz.as_slice()));
    let bad = |e: std::io::Error| FormatError::NotAnImage {
        digest: desc.digest().to_string(),
        why: format!("layer is not tar+gzip ({e})"),
    };
    let mut out = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).map_err(bad)?;
        out.push((path, body));
    }
    Ok(out)
}

/// The bytecode of a platform, exactly as bpfman reads it: the first entry
/// of the first layer.
pub fn bytecode(layout: &Layout, image: &PlatformImage) -> Result<Vec<u8>> {
    let first = image
        .manifest
        .layers()
        .first()
        .ok_or_else(|| FormatError::NotAnImage {
            digest: image.descriptor.digest().to_string(),
            why: "it has no layers".into(),
        })?;
    layer_files(layout, first)?
        .into_iter()
        .next()
        .map(|(_, body)| body)
        .ok_or_else(|| FormatError::NotAnImage {
            digest: image.descriptor.digest().to_string(),
            why: "its first layer is empty".into(),
        })
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
                name: "xdpcount".into(),
                version: "0.1.0".into(),
                description: "counts packets".into(),
                authors: Vec::new(),
                license: "GPL-2.0-only".into(),
                source: None,
                revision: None,
                arch: arch.into(),
                bytecode: "xdpcount.bpf.o".into(),
                object,
                userspace: Some(Userspace {
                    path: "bin/xdpcount".into(),
                    static_binary: true,
                }),
                files: vec![InstalledFile {
                    path: "/etc/xdpcount.toml".into(),
                    executable: false,
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

    #[test]
    fn an_image_round_trips_with_bpfman_labels_and_layer_roles() {
        let (_d, layout) = store();
        let desc = write(&layout, &[input("x86_64")], &annotations()).unwrap();
        assert_eq!(desc.media_type(), &MediaType::ImageManifest);
        let image = read(&layout, &desc).unwrap();
        let p = &image.platforms[0];
        assert_eq!(p.metadata, input("x86_64").metadata);
        let labels = p
            .config
            .config()
            .as_ref()
            .unwrap()
            .labels()
            .as_ref()
            .unwrap();
        assert_eq!(labels[LABEL_PROGRAMS], r#"{"count_packets":"xdp"}"#);
        assert_eq!(labels[LABEL_MAPS], r#"{"stats":"percpu_array"}"#);
        assert_eq!(
            p.config.rootfs().diff_ids().len(),
            p.manifest.layers().len()
        );
        assert_eq!(bytecode(&layout, p).unwrap(), input("x86_64").bytecode);
        let files = layer_files(&layout, p.layer(LayerRole::Files).unwrap()).unwrap();
        assert_eq!(
            files,
            [("etc/xdpcount.toml".to_string(), b"threshold = 3\n".to_vec())]
        );
        let us = layer_files(&layout, p.layer(LayerRole::Userspace).unwrap()).unwrap();
        assert_eq!(us[0].0, "bin/xdpcount");
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
        assert_eq!(
            bytecode(&layout, image.platform("aarch64").unwrap()).unwrap(),
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
        assert_eq!(digests.len(), 6, "manifest, config and four layers");
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
                .and_then(|i| bytecode(&layout, &i.platforms[0]).map(|_| i))
                .and_then(|i| {
                    for l in i.platforms[0].manifest.layers() {
                        layout.read_blob(l.digest())?;
                    }
                    Ok(())
                })
                .unwrap_err();
            assert!(
                matches!(err, FormatError::Store(StoreError::Corrupt { .. })),
                "{d}: {err}"
            );
            std::fs::write(&path, &good).unwrap();
        }
    }

    #[test]
    fn images_of_other_tools_are_told_apart() {
        let (_d, layout) = store();
        let config = layout
            .put_json(MediaType::ImageConfig, &serde_json::json!({}))
            .unwrap();
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(config)
            .layers(Vec::new())
            .build()
            .unwrap();
        let desc = layout
            .put_json(MediaType::ImageManifest, &manifest)
            .unwrap();
        let err = read(&layout, &desc).unwrap_err().to_string();
        assert!(
            err.contains("is not a cargo-ebpf image: it has no metadata layer"),
            "{err}"
        );
    }
}
