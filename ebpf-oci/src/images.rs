//! Reading and managing the images of a store (and of layouts and
//! archives, for `inspect`): what `cargo ebpf inspect / images / tag / rmi`
//! and `bpf-runtime images / inspect` print, as data and as text.

use std::fmt::Write as _;
use std::path::Path;

use crate::format::{self, FormatError, Image, LayerRole, PlatformImage};
use crate::store::{self, Source};
use crate::{Layout, StoreError};
use ebpf_object::{Display, TypeDesc};
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
}

#[derive(Debug, Serialize)]
pub struct PlatformInspection {
    pub platform: String,
    pub manifest: String,
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

/// Reads the image `reference` names (a tag in `store`, a layout, an archive).
pub fn inspect(reference: &str, store_path: &Path) -> Result<Inspection> {
    let opened = store::open(&Source::parse(reference), store_path)?;
    let image = format::read(&opened.layout, &opened.descriptor)?;
    Ok(inspection(reference, opened.tag, &image))
}

fn inspection(reference: &str, tag: Option<String>, image: &Image) -> Inspection {
    let platforms: Vec<PlatformInspection> = image
        .platforms
        .iter()
        .map(|p| PlatformInspection {
            platform: format!("linux/{}", p.config.architecture()),
            manifest: p.descriptor.digest().to_string(),
            size: p.size() + p.descriptor.size(),
            created: p.config.created().clone(),
            layers: p
                .manifest
                .layers()
                .iter()
                .map(|l| LayerInfo {
                    role: role_of(p, l),
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
    }
}

fn role_of(p: &PlatformImage, l: &oci_spec::image::Descriptor) -> String {
    [
        LayerRole::Bytecode,
        LayerRole::Metadata,
        LayerRole::Userspace,
        LayerRole::Files,
    ]
    .into_iter()
    .find(|r| p.layer(*r).is_some_and(|d| d.digest() == l.digest()))
    .map_or("other", |r| r.name())
    .to_string()
}

/// Bytes as people read them: `812 B`, `3.2 KiB`, `1.4 MiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// A type in one line: `__u32`, `char[16]`, `struct event { pid: __u32, ... }`.
fn type_line(t: &TypeDesc) -> String {
    match t {
        TypeDesc::Struct { fields, .. } | TypeDesc::Union { fields, .. } => {
            let fields: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.name, f.ty.c_name()))
                .collect();
            format!("{} {{ {} }}", t.c_name(), fields.join(", "))
        }
        _ => t.c_name(),
    }
}

/// The human form of `inspect`.
pub fn render_inspection(i: &Inspection) -> String {
    let mut s = String::new();
    let kind = if i.platforms.len() > 1 {
        "image index"
    } else {
        "image manifest"
    };
    let _ = writeln!(
        s,
        "{}  {}",
        i.tag.as_deref().unwrap_or(&i.reference),
        i.digest
    );
    let _ = writeln!(
        s,
        "  {kind}, {} platform(s), {}",
        i.platforms.len(),
        human_size(i.size)
    );
    let Some(first) = i.platforms.first() else {
        return s;
    };
    let md = &first.metadata;
    let row = |s: &mut String, k: &str, v: &str| {
        if !v.is_empty() {
            let _ = writeln!(s, "  {k:<12} {v}");
        }
    };
    row(&mut s, "name", &format!("{} {}", md.name, md.version));
    row(&mut s, "description", &md.description);
    row(&mut s, "license", &md.license);
    row(&mut s, "authors", &md.authors.join(", "));
    row(&mut s, "source", md.source.as_deref().unwrap_or(""));
    row(&mut s, "revision", md.revision.as_deref().unwrap_or(""));
    row(&mut s, "created", first.created.as_deref().unwrap_or(""));
    for p in &i.platforms {
        let md = &p.metadata;
        let o = &md.object;
        let _ = writeln!(
            s,
            "\n{} ({}, {}-endian)  manifest {}  {}",
            p.platform,
            md.arch,
            if o.endianness == ebpf_object::Endianness::Big {
                "big"
            } else {
                "little"
            },
            short(&p.manifest),
            human_size(p.size)
        );
        let _ = writeln!(s, "  layers");
        for l in &p.layers {
            let _ = writeln!(
                s,
                "    {:<10} {}  {:>9}  {}",
                l.role,
                short(&l.digest),
                human_size(l.size),
                l.media_type
            );
        }
        let _ = writeln!(
            s,
            "  programs (bytecode {}, license \"{}\")",
            md.bytecode, o.license
        );
        for prog in &o.programs {
            let info = prog.ty.info();
            let mut args: Vec<String> = prog
                .attach
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                    )
                })
                .collect();
            for a in info
                .args
                .iter()
                .filter(|a| a.required && a.default.is_none())
            {
                if !prog.attach.contains_key(a.arg.name()) {
                    args.push(format!("{}=<required>", a.arg.name()));
                }
            }
            let target = prog
                .target
                .as_deref()
                .map(|t| format!(" → {t}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "    {:<20} {:<14} {}{}{}",
                prog.name,
                info.name,
                prog.section,
                target,
                if args.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", args.join(" "))
                }
            );
        }
        if !o.maps.is_empty() {
            let _ = writeln!(s, "  maps");
            for m in &o.maps {
                let kv = match (&m.key, &m.value) {
                    (Some(k), Some(v)) => format!("{} → {}", k.c_name(), v.c_name()),
                    (None, Some(v)) => v.c_name(),
                    _ if m.key_size + m.value_size > 0 => {
                        format!("{} B → {} B", m.key_size, m.value_size)
                    }
                    _ => String::new(),
                };
                let shown = match m.display {
                    Display::Events => "events",
                    Display::Counters => "counters",
                    Display::Log2Histogram => "log2 histogram",
                    Display::Hidden => "not shown",
                };
                let _ = writeln!(
                    s,
                    "    {:<20} {:<16} max {:<7} {:<28} shown as {shown}",
                    m.name, m.ty, m.max_entries, kv
                );
                if m.display == Display::Events {
                    match &m.record {
                        Some(r) => {
                            let _ = writeln!(s, "      record {}", type_line(r));
                        }
                        None => {
                            let _ = writeln!(
                                s,
                                "      record type unknown (not in the object's BTF): shown as bytes"
                            );
                        }
                    }
                }
            }
        }
        if !o.variables.is_empty() {
            let _ = writeln!(s, "  variables (set with --set NAME=VALUE)");
            for v in &o.variables {
                let _ = writeln!(
                    s,
                    "    {:<20} {:<14} default {}{}",
                    v.name,
                    v.ty.c_name(),
                    v.default,
                    v.help
                        .as_deref()
                        .map(|h| format!("  {h}"))
                        .unwrap_or_default()
                );
            }
        }
        let k = &o.kernel;
        let _ = writeln!(s, "  kernel       Linux {}+", k.min_version);
        let types: Vec<&str> = k.program_types.iter().map(|t| t.name()).collect();
        let _ = writeln!(s, "    program types  {}", types.join(", "));
        if !k.map_types.is_empty() {
            let _ = writeln!(s, "    map types      {}", k.map_types.join(", "));
        }
        for f in &k.features {
            let _ = writeln!(s, "    needs          {}", f.describe());
        }
        if let Some(us) = &md.userspace {
            let _ = writeln!(
                s,
                "  user space   {}{}",
                us.path,
                if us.static_binary {
                    " (static)"
                } else {
                    " (dynamically linked: needs a compatible libc on the host)"
                }
            );
        }
        for f in &md.files {
            let _ = writeln!(
                s,
                "  file         {}{}",
                f.path,
                if f.executable { " (executable)" } else { "" }
            );
        }
    }
    s
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
}

/// Every tagged image of the store (an empty list when there is no store).
pub fn list(store_path: &Path) -> Result<Vec<ImageRow>> {
    if !store_path.join("oci-layout").exists() {
        return Ok(Vec::new());
    }
    let layout = Layout::open(store_path)?;
    let mut rows = Vec::new();
    for (tag, desc) in layout.tags()? {
        let image = format::read(&layout, &desc)?;
        let i = inspection(&tag, Some(tag.clone()), &image);
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
        });
    }
    Ok(rows)
}

pub fn render_list(rows: &[ImageRow]) -> String {
    let mut s = String::new();
    let w = rows.iter().map(|r| r.tag.len()).max().unwrap_or(0).max(3);
    let _ = writeln!(
        s,
        "{:<w$}  {:<12}  {:<24}  {:>9}  CREATED",
        "TAG", "DIGEST", "PLATFORMS", "SIZE"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<w$}  {:<12}  {:<24}  {:>9}  {}",
            r.tag,
            short(&r.digest),
            r.platforms.join(","),
            human_size(r.size),
            r.created.as_deref().unwrap_or("")
        );
    }
    s
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
    }
    format::read(&layout, &opened.descriptor)?;
    let mut desc = opened.descriptor.clone();
    desc.set_annotations(None);
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
