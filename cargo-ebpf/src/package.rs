//! `cargo ebpf package`: the project's build artifacts become an OCI image in
//! the local store (and optionally an `oci-archive` tar), in the format
//! `ebpf_oci::format` owns.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ebpf_oci::format::{self, Annotations, InstalledFile, Metadata, PlatformInput, Userspace};
use ebpf_oci::{Layout, store};
use object::Object as _;
use serde::Serialize;

use crate::build::{self, BuildOptions};
use crate::error::{Error, Result};
use crate::manifest::{self, Manifest};
use ebpf_kinds::Arch;

#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// Any directory inside the project.
    pub dir: PathBuf,
    /// Target architectures; the host's when empty.
    pub arches: Vec<Arch>,
    /// `NAME:VERSION` (default: the manifest's name and version).
    pub tag: Option<String>,
    /// Replace an existing tag.
    pub force: bool,
    pub archive: Option<PathBuf>,
    pub store: PathBuf,
    /// Build first (off: package what `target/ebpf/ARCH/` holds).
    pub build: bool,
    /// The object to package when the project builds several.
    pub object: Option<String>,
    /// Keep the object's DWARF (else stripped once the metadata is read).
    pub keep_debug: bool,
    pub progress: bool,
    /// Sign the image (in the store, and in the archive) with this key.
    pub sign: Option<std::sync::Arc<ebpf_oci::sign::PrivateKey>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageReport {
    pub tag: String,
    pub digest: String,
    pub media_type: String,
    pub store: PathBuf,
    pub platforms: Vec<PlatformReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlatformReport {
    pub arch: String,
    pub manifest: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchiveReport {
    pub path: PathBuf,
    pub size: u64,
}

pub fn package(opts: &PackageOptions) -> Result<PackageReport> {
    let (root, m) = manifest::locate(&opts.dir)?;
    // A project that builds several objects makes a package of each: named
    // after its object, not all under the project's one name.
    let name = match opts.object.as_deref().map(|o| o.trim_end_matches(".bpf.o")) {
        Some(object) if object != m.package.name => object.to_string(),
        _ => m.package.name.clone(),
    };
    let tag = opts
        .tag
        .clone()
        .unwrap_or_else(|| format!("{name}:{}", m.package.version));
    let arches = if opts.arches.is_empty() {
        vec![Arch::host()]
    } else {
        opts.arches.clone()
    };
    let (created, revision) = source_date(&root);

    let mut inputs = Vec::new();
    for &arch in &arches {
        if opts.build {
            build::build(&BuildOptions {
                dir: root.clone(),
                arch,
                release: true,
                progress: opts.progress,
            })?;
        }
        inputs.push(platform_input(
            &m,
            &name,
            opts.keep_debug,
            &root,
            arch,
            opts.object.as_deref(),
            revision.clone(),
        )?);
    }
    if let Some(first) = inputs.first() {
        for line in record_lines(&first.metadata.object) {
            match line {
                Ok(info) if opts.progress => eprintln!("{:>12} {info}", "Records"),
                Ok(_) => {}
                Err(warning) => eprintln!("warning: {warning}"),
            }
        }
    }
    let ann = Annotations {
        title: name.clone(),
        description: m.package.description.clone(),
        version: m.package.version.clone(),
        revision,
        source: m.package.source.clone(),
        licenses: m.package.license.clone(),
        created,
    };

    let layout = Layout::open_or_create(&opts.store).map_err(|e| {
        Error::usage(format!(
            "{e}; choose a writable store with --store DIR or {}",
            store::STORE_ENV
        ))
    })?;
    if !opts.force && layout.resolve(&tag).is_ok() {
        return Err(ebpf_oci::StoreError::TagExists(tag).into());
    }
    // Nothing half-done: the archive is written before the tag, and a
    // failure on the way removes the blobs of the image (those no tag uses).
    let desc = format::write(&layout, &inputs, &ann)?;
    let finish = || -> Result<_> {
        let image = format::read(&layout, &desc)?;
        if let Some(key) = &opts.sign {
            let docker_reference = crate::signing::docker_reference(&tag);
            ebpf_oci::sign::sign_image(&layout, &desc, &docker_reference, key)?;
        }
        let archive = match &opts.archive {
            Some(path) => Some(ArchiveReport {
                size: store::write_archive(&layout, &desc, &tag, path)?,
                path: path.clone(),
            }),
            None => None,
        };
        layout.tag(&tag, &desc, opts.force)?;
        Ok((image, archive))
    };
    let (image, archive) =
        finish().inspect_err(|_| layout.discard_images(std::slice::from_ref(&desc)))?;
    if opts.progress {
        eprintln!("{:>12} {tag} ({})", "Packaged", desc.digest());
    }
    Ok(PackageReport {
        tag,
        digest: desc.digest().to_string(),
        media_type: desc.media_type().to_string(),
        store: opts.store.clone(),
        platforms: image
            .platforms
            .iter()
            .map(|p| PlatformReport {
                arch: p.metadata.arch.clone(),
                manifest: p.descriptor.digest().to_string(),
                size: p.size(),
            })
            .collect(),
        archive,
    })
}

/// The artifacts of `arch` in `target/ebpf/ARCH/`, read and described.
fn platform_input(
    m: &Manifest,
    name: &str,
    keep_debug: bool,
    root: &Path,
    arch: Arch,
    object: Option<&str>,
    revision: Option<String>,
) -> Result<PlatformInput> {
    let out_dir = root.join("target/ebpf").join(arch.name());
    let object_path = pick_object(m, &out_dir, arch, object)?;
    let bytecode = std::fs::read(&object_path).map_err(Error::io("read", &object_path))?;
    let object_error = |e: ebpf_object::ObjectError| Error::Object {
        path: object_path.clone(),
        message: e.to_string(),
    };
    let mut info = ebpf_object::analyze(&bytecode, &m.hints()).map_err(object_error)?;
    // The DWARF has given what the metadata needs (record types); no loader
    // reads it, and it is most of the object.
    let bytecode = if keep_debug {
        bytecode
    } else {
        ebpf_object::strip_debug(&bytecode).map_err(object_error)?
    };
    // The `[[program]]`s of this object (those without `object` apply to
    // any) must name its programs (a typo was silently dropped, with its
    // attach defaults).
    let stem = object_stem(&object_path);
    let described: Vec<&manifest::Program> = m
        .programs
        .iter()
        .filter(|mp| mp.object.as_deref().is_none_or(|o| o == stem))
        .collect();
    if let Some(mp) = described
        .iter()
        .find(|mp| !info.programs.iter().any(|p| p.name == mp.name))
    {
        let have: Vec<&str> = info.programs.iter().map(|p| p.name.as_str()).collect();
        return Err(Error::usage(format!(
            "ebpf.toml describes program `{}`, which {} does not define (it has {})",
            mp.name,
            object_path.display(),
            have.join(", ")
        )));
    }
    // Default attach arguments from ebpf.toml.
    for p in &mut info.programs {
        if let Some(mp) = described.iter().find(|mp| mp.name == p.name) {
            p.attach = mp
                .attach
                .iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect();
        }
    }

    let bin_path = out_dir.join(&m.package.name);
    let (userspace, user_bytes) = if bin_path.is_file() {
        let bytes = std::fs::read(&bin_path).map_err(Error::io("read", &bin_path))?;
        let static_binary = is_static(&bytes);
        let us = Userspace {
            path: format!("{}/{}", format::USERSPACE_DIR, m.package.name),
            static_binary,
            digest: String::new(),
        };
        (Some(us), Some(bytes))
    } else {
        (None, None)
    };

    let mut files = Vec::new();
    let mut contents = Vec::new();
    let real_root = std::fs::canonicalize(root).map_err(Error::io("read", root))?;
    for f in &m.files {
        let src = root.join(&f.source);
        // Only the project's own files are packaged: a path (or a link)
        // leading out of it would publish a file of this machine.
        // The path is judged as written first (absolute, or climbing with
        // `..`, is outside whether or not it exists on this machine), then
        // as it resolves (a link out of the project).
        let climbs = f.source.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
        let inside = std::fs::canonicalize(&src).is_ok_and(|p| p.starts_with(&real_root));
        if climbs || (src.exists() && !inside) {
            return Err(Error::usage(format!(
                "file `{}` listed in ebpf.toml is outside the project ({}): only files inside it are packaged",
                f.source.display(),
                root.display()
            )));
        }
        let bytes = std::fs::read(&src).map_err(|e| {
            Error::usage(format!(
                "file `{}` listed in ebpf.toml cannot be read: {e}",
                f.source.display()
            ))
        })?;
        use std::os::unix::fs::PermissionsExt;
        let executable = std::fs::metadata(&src)
            .map(|md| md.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        files.push(InstalledFile {
            path: f.install.clone(),
            executable,
            digest: String::new(),
        });
        contents.push(bytes);
    }

    let file_name = object_path
        .file_name()
        .expect("an object path names a file")
        .to_string_lossy()
        .into_owned();
    Ok(PlatformInput {
        metadata: Metadata {
            schema: format::SCHEMA,
            origin: format::Origin::Package,
            name: name.to_string(),
            version: m.package.version.clone(),
            description: m.package.description.clone(),
            authors: m.package.authors.clone(),
            license: m.package.license.clone(),
            source: m.package.source.clone(),
            revision,
            arch: arch.name().to_string(),
            bytecode: file_name,
            bytecode_digest: String::new(),
            object: info,
            userspace,
            files,
        },
        bytecode,
        userspace: user_bytes,
        files: contents,
    })
}

/// `STEM` of `DIR/STEM.bpf.o`.
fn object_stem(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".bpf.o"))
        .unwrap_or_default()
}

/// The one object to package: `--object`, else the project's own
/// (`NAME.bpf.o`), else the only one built.
fn pick_object(m: &Manifest, out_dir: &Path, arch: Arch, wanted: Option<&str>) -> Result<PathBuf> {
    let built: Vec<String> = std::fs::read_dir(out_dir)
        .map(|d| {
            let mut v: Vec<String> = d
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter_map(|n| n.strip_suffix(".bpf.o").map(str::to_string))
                .collect();
            v.sort();
            v
        })
        .unwrap_or_default();
    let name = match wanted {
        Some(w) => w.trim_end_matches(".bpf.o").to_string(),
        None if built.contains(&m.package.name) => m.package.name.clone(),
        None if built.len() == 1 => built[0].clone(),
        None if built.is_empty() => {
            return Err(Error::usage(format!(
                "no eBPF object for {} in {}: run `cargo ebpf build --arch {}` first (or package without --no-build)",
                arch.name(),
                out_dir.display(),
                arch.name()
            )));
        }
        None => {
            return Err(Error::usage(format!(
                "the project builds {} objects ({}); a package holds one: choose it with --object NAME",
                built.len(),
                built.join(", ")
            )));
        }
    };
    if !built.contains(&name) {
        return Err(Error::usage(format!(
            "no object `{name}.bpf.o` for {} in {} (built: {}); run `cargo ebpf build --arch {}`",
            arch.name(),
            out_dir.display(),
            if built.is_empty() {
                "none".to_string()
            } else {
                built.join(", ")
            },
            arch.name()
        )));
    }
    Ok(out_dir.join(format!("{name}.bpf.o")))
}

/// Whether an ELF executable needs no dynamic loader.
fn is_static(bytes: &[u8]) -> bool {
    match object::File::parse(bytes) {
        Ok(object::File::Elf64(elf)) => {
            use object::read::elf::ProgramHeader as _;
            let endian = elf.endian();
            !elf.elf_program_headers()
                .iter()
                .any(|ph| ph.p_type(endian) == object::elf::PT_INTERP)
        }
        Ok(f) => f.imports().map(|i| i.is_empty()).unwrap_or(false),
        Err(_) => false,
    }
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// `created` and `revision`: `SOURCE_DATE_EPOCH`, else the last commit's
/// time, else the Unix epoch, so that the same sources give the same image.
fn source_date(root: &Path) -> (String, Option<String>) {
    let git = |args: &[&str]| {
        duct::cmd("git", args)
            .dir(root)
            .stderr_null()
            .stdout_capture()
            .unchecked()
            .run()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let in_repo = git(&["rev-parse", "--show-toplevel"]).is_some();
    let revision = in_repo.then(|| git(&["rev-parse", "HEAD"])).flatten();
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .or_else(|| {
            in_repo
                .then(|| git(&["log", "-1", "--format=%ct"]))
                .flatten()
                .and_then(|s| s.parse().ok())
        })
        .unwrap_or(0);
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(epoch);
    (
        humantime::format_rfc3339_seconds(time).to_string(),
        revision,
    )
}

/// What each event map of the object carries: `Ok` naming the record type,
/// `Err` warning that it has none (its events would show as hex).
fn record_lines(object: &ebpf_object::ObjectInfo) -> Vec<std::result::Result<String, String>> {
    object
        .maps
        .iter()
        .filter(|m| m.display == ebpf_object::Display::Events)
        .map(|m| match &m.record {
            Some(r) => Ok(format!("map `{}` ({}) carries {}", m.name, m.ty, r.c_name())),
            None => Err(format!(
                "map `{}` ({}) carries records of no known type: they will show as hex; name the struct with `[map.{}] record = \"NAME\"` in ebpf.toml",
                m.name, m.ty, m.name
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebpf_object::{Display, MapInfo, TypeDesc};

    fn map(name: &str, display: Display, record: Option<TypeDesc>) -> MapInfo {
        MapInfo {
            name: name.into(),
            ty: "ringbuf".into(),
            key_size: 0,
            value_size: 0,
            max_entries: 4096,
            key: None,
            value: None,
            display,
            record,
        }
    }

    #[test]
    fn each_event_map_says_its_record_type_or_warns() {
        let event = TypeDesc::Struct {
            name: "event".into(),
            size: 4,
            fields: Vec::new(),
        };
        let object: ebpf_object::ObjectInfo = serde_json::from_value(serde_json::json!({
            "endianness": "little", "license": "GPL", "programs": [], "maps": [],
            "variables": [], "kernel": {"min_version": "5.8", "program_types": [],
                "map_types": [], "features": []}
        }))
        .unwrap();
        let object = ebpf_object::ObjectInfo {
            maps: vec![
                map("events", Display::Events, Some(event)),
                map("raw", Display::Events, None),
                map("counts", Display::Counters, None),
            ],
            ..object
        };
        let lines = record_lines(&object);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(
            lines[0],
            Ok("map `events` (ringbuf) carries struct event".to_string())
        );
        let warning = lines[1].clone().unwrap_err();
        assert!(
            warning.starts_with("map `raw` (ringbuf) carries records of no known type")
                && warning.contains("`[map.raw] record = \"NAME\"`"),
            "{warning}"
        );
    }
}
