//! Reading and managing the images of a store (and of layouts and
//! archives, for `inspect`): what `cargo ebpf inspect / images / tag / rmi`
//! and `bpf-runtime images / inspect` print, as data and as text.

use std::path::Path;

use crate::format::{self, FormatError, Image, Origin, PlatformImage};
use crate::sign::policy::SignatureInfo;
use crate::sign::{Policy, Subject, Trust};
use crate::store::{self, Source};
use crate::{Layout, StoreError};

use serde::Serialize;

type Result<T, E = FormatError> = std::result::Result<T, E>;

/// What `inspect --json` prints.
#[derive(Debug, Serialize)]
pub struct Inspection {
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub platforms: Vec<PlatformInspection>,
    /// The image's signatures, each judged by the policy's keys.
    pub signatures: Vec<SignatureInfo>,
    /// What the policy makes of the image.
    pub trust: Trust,
}

#[derive(Debug, Serialize)]
pub struct PlatformInspection {
    pub platform: String,
    pub manifest: String,
    /// The config's digest (it carries the metadata).
    pub config: String,
    pub size: u64,
    pub created: Option<String>,
    pub layers: Vec<LayerInfo>,
    pub metadata: format::Metadata,
}

#[derive(Debug, Serialize)]
pub struct LayerInfo {
    pub role: String,
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// Reads the image `reference` names (a tag in `store`, a layout, an
/// archive), and what `policy` makes of its signatures.
pub fn inspect(reference: &str, store_path: &Path, policy: &Policy) -> Result<Inspection> {
    let source = Source::parse(reference);
    let opened = store::open(&source, store_path)?;
    let image = format::read(&opened.layout, &opened.descriptor)?;
    let subject = match &source {
        Source::Tag(t) => Subject::of_name(t),
        _ => Subject::Local,
    };
    let assessment = policy.assess(subject, &opened.layout, &opened.descriptor)?;
    let mut i = inspection(reference, opened.tag, &image, assessment.trust);
    i.signatures = assessment.signatures;
    Ok(i)
}

fn inspection(reference: &str, tag: Option<String>, image: &Image, trust: Trust) -> Inspection {
    let platforms: Vec<PlatformInspection> = image
        .platforms
        .iter()
        .map(|p| PlatformInspection {
            platform: format!("linux/{}", p.config.architecture),
            manifest: p.descriptor.digest().to_string(),
            config: p.manifest.config().digest().to_string(),
            size: p.size() + p.descriptor.size(),
            created: p.config.created.clone(),
            layers: p
                .manifest
                .layers()
                .iter()
                .enumerate()
                .map(|(i, l)| LayerInfo {
                    role: role_of(p, i),
                    media_type: l.media_type().to_string(),
                    digest: l.digest().to_string(),
                    size: l.size(),
                })
                .collect(),
            metadata: p.metadata.clone(),
        })
        .collect();
    let mut size: u64 = platforms.iter().map(|p| p.size).sum();
    if image.platforms.len() > 1 {
        size += image.descriptor.size();
    }
    Inspection {
        reference: reference.to_string(),
        tag,
        digest: image.descriptor.digest().to_string(),
        media_type: image.descriptor.media_type().to_string(),
        size,
        platforms,
        signatures: Vec::new(),
        trust,
    }
}

/// What the layer at `index` holds: a format 2 image's one layer holds the
/// whole package; of another tool's image only the first layer counts.
fn role_of(p: &PlatformImage, index: usize) -> String {
    match (index, p.metadata.origin) {
        (0, Origin::Package) => "package",
        (0, Origin::Derived) => "bytecode",
        _ => "other",
    }
    .to_string()
}

/// A row of `images`.
#[derive(Debug, Serialize)]
pub struct ImageRow {
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    pub platforms: Vec<String>,
    pub size: u64,
    pub created: Option<String>,
    pub description: String,
    /// Why the image cannot be read, for a damaged or foreign one (the
    /// other rows are still listed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Every tagged image of the store: an empty list when there is no store
/// yet; an error when the directory is not a store. An image that cannot be
/// read is a row saying why, not a failed listing.
pub fn list(store_path: &Path) -> Result<Vec<ImageRow>> {
    if !store_path.exists() {
        return Ok(Vec::new());
    }
    let layout = Layout::open(store_path)?;
    let mut rows = Vec::new();
    let unjudged = Policy::permissive();
    for (tag, desc) in layout.tags()? {
        if crate::sign::is_signature_tag(&tag) {
            continue;
        }
        let image = match format::read(&layout, &desc) {
            Ok(image) => image,
            Err(e) => {
                rows.push(ImageRow {
                    digest: desc.digest().to_string(),
                    media_type: desc.media_type().to_string(),
                    platforms: Vec::new(),
                    size: desc.size(),
                    created: None,
                    description: String::new(),
                    error: Some(e.to_string()),
                    tag,
                });
                continue;
            }
        };
        let trust = unjudged.skipped(Subject::Local);
        let i = inspection(&tag, Some(tag.clone()), &image, trust);
        rows.push(ImageRow {
            platforms: i.platforms.iter().map(|p| p.platform.clone()).collect(),
            created: i.platforms.first().and_then(|p| p.created.clone()),
            description: i
                .platforms
                .first()
                .map(|p| p.metadata.description.clone())
                .unwrap_or_default(),
            tag,
            digest: i.digest,
            media_type: i.media_type,
            size: i.size,
            error: None,
        });
    }
    Ok(rows)
}

/// Tags the image `src` names as `dst` in the store.
pub fn tag(src: &str, dst: &str, force: bool, store_path: &Path) -> Result<String> {
    let layout = Layout::open_or_create(store_path)?;
    let opened = store::open(&Source::parse(src), store_path)?;
    // An image from elsewhere (a layout or an archive) is copied in first.
    if opened.layout.root() != layout.root() {
        let mut digests = std::collections::BTreeSet::new();
        opened.layout.reachable(&opened.descriptor, &mut digests)?;
        for d in digests {
            let digest: oci_spec::image::Digest =
                d.parse().map_err(|_| StoreError::InvalidLayout {
                    path: opened.layout.root().into(),
                    why: format!("invalid digest {d}"),
                })?;
            layout.put_blob(&opened.layout.read_blob(&digest)?)?;
        }
        // Its signatures come along.
        crate::sign::copy(&opened.layout, &layout, &opened.descriptor)?;
    }
    format::read(&layout, &opened.descriptor)?;
    // The new tag keeps what the descriptor says besides its old name (the
    // index a pulled manifest came from).
    let mut desc = opened.descriptor.clone();
    let kept: std::collections::HashMap<String, String> = desc
        .annotations()
        .iter()
        .flatten()
        .filter(|(k, _)| *k == crate::layout::ANNOTATION_FROM_INDEX)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    desc.set_annotations((!kept.is_empty()).then_some(kept));
    layout.tag(dst, &desc, force)?;
    Ok(desc.digest().to_string())
}

/// Removes a tag and the blobs no other tag uses; returns how many blobs went.
pub fn remove(tag: &str, store_path: &Path) -> Result<usize> {
    let layout = Layout::open(store_path).map_err(|e| match e {
        StoreError::InvalidLayout { .. } => StoreError::UnknownTag(tag.into()),
        e => e,
    })?;
    layout.untag(tag)?;
    Ok(layout.gc()?)
}
