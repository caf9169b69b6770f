//! Finding what to run: an image in the local store (pulled first when the
//! reference names a registry and the pull policy says so), an OCI layout, an
//! oci-archive, or a bare `.o`. Every blob is verified as it is read.

use std::path::{Path, PathBuf};

use ebpf_object::ObjectInfo;
use ebpf_oci::config::Config;
use ebpf_oci::format;
use ebpf_oci::reference::is_registry_reference;
use ebpf_oci::registry::{self, Options, Quiet, Session};
use ebpf_oci::sign::{Policy, Subject, Trust};
use ebpf_oci::store::{self, Source};
use ebpf_oci::{Layout, StoreError};

use crate::error::{Result, RuntimeError};

/// When to fetch an image from its registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    /// Always pull first (a tag may have moved).
    Always,
    /// Pull only when the store lacks the reference.
    IfNotPresent,
    /// Never touch the network.
    Never,
}

/// A package ready to load.
#[derive(Debug)]
pub struct OpenedPackage {
    /// How the user named it.
    pub reference: String,
    pub name: String,
    pub version: String,
    pub object: ObjectInfo,
    pub bytecode: Vec<u8>,
    /// File name of the bytecode (`NAME.bpf.o`).
    pub bytecode_name: String,
    /// The user-space binary for this platform: its name and content (read
    /// only when asked for: a kernel-only run need not hold it in memory).
    pub userspace: Option<(String, Vec<u8>)>,
    /// The digest of the platform manifest (none for a bare object).
    pub digest: Option<String>,
    /// What the trust policy made of it (none when not judged: `pull`).
    pub trust: Option<Trust>,
}

/// How a package is judged before anything of it runs.
pub struct Verify {
    pub policy: Policy,
    /// `--insecure-skip-verify`: nothing is checked, loudly.
    pub skip: bool,
}

impl Verify {
    fn judge(&self, image: &str, subject: Subject<'_>, opened: &store::Opened) -> Result<Trust> {
        if self.skip {
            eprintln!(
                "warning: --insecure-skip-verify: {image} runs without its signatures checked"
            );
            return Ok(self.policy.skipped(subject));
        }
        Ok(self
            .policy
            .judge(image, subject, &opened.layout, &opened.descriptor)?)
    }
}

/// Opens what `spec` names. `store` is the local store; `transport` says
/// how to reach a registry if one must be asked; the user space is read
/// only `with_userspace`. With `verify`, the trust policy judges the image
/// before any of its content is read (its bytecode, its metadata).
pub fn open(
    spec: &str,
    store_path: &Path,
    pull: PullPolicy,
    transport: &Options,
    with_userspace: bool,
    verify: Option<&Verify>,
) -> Result<OpenedPackage> {
    let path = Path::new(spec);
    if path.is_file() && spec.ends_with(".o") {
        let trust = match verify {
            Some(v) if v.skip => Some(v.policy.skipped(Subject::Local)),
            Some(v) => {
                let t = v.policy.without_signatures(Subject::Local);
                if !t.accepted {
                    return Err(ebpf_oci::sign::SignError::Refused {
                        image: spec.into(),
                        why: format!(
                            "the policy requires a signature for scope `{}`, and a bare object cannot carry one; package it and sign the image",
                            t.scope
                        ),
                    }
                    .into());
                }
                Some(t)
            }
            None => None,
        };
        let mut pkg = from_object(path)?;
        pkg.trust = trust;
        return Ok(pkg);
    }
    let source = Source::parse(spec);
    if let Source::Tag(tag) = &source {
        let present = Layout::open(store_path)
            .and_then(|l| l.resolve(tag))
            .is_ok();
        let fetch = match pull {
            PullPolicy::Always => is_registry_reference(tag),
            PullPolicy::IfNotPresent => !present && is_registry_reference(tag),
            PullPolicy::Never => false,
        };
        if fetch {
            let config = Config::load().map_err(registry::RegistryError::from)?;
            let reference = registry::parse_reference(tag, &config)?;
            let layout = Layout::open_or_create(store_path)?;
            let session = Session::connect(reference.resolve_registry(), &config, transport)?;
            let report = session.pull(
                &reference,
                None,
                &layout,
                Some(tag),
                std::sync::Arc::new(Quiet),
            )?;
            eprintln!("pulled {} ({})", report.reference, report.digest);
        } else if !present && pull == PullPolicy::Never && is_registry_reference(tag) {
            return Err(RuntimeError::usage(format!(
                "{tag} is not in the store {} and --pull never forbids fetching it",
                store_path.display()
            )));
        }
    }
    let opened = store::open(&source, store_path).map_err(|e| match e {
        StoreError::UnknownTag(t) => RuntimeError::usage(format!(
            "no image `{t}` in the store {} (and it names no registry to pull from); see `bpf-runtime images`",
            store_path.display()
        )),
        e => e.into(),
    })?;
    let trust = match verify {
        Some(v) => {
            let subject = match &source {
                Source::Tag(t) => Subject::of_name(t),
                _ => Subject::Local,
            };
            Some(v.judge(spec, subject, &opened)?)
        }
        None => None,
    };
    let image = format::read(&opened.layout, &opened.descriptor)?;
    let host = std::env::consts::ARCH;
    let Some(platform) = image.platform(host) else {
        let have: Vec<String> = image
            .platforms
            .iter()
            .map(|p| p.metadata.arch.clone())
            .collect();
        return Err(RuntimeError::WrongArch {
            package: spec.into(),
            have: have.join(", "),
            host: host.into(),
        });
    };
    let md = &platform.metadata;
    let contents = format::contents(
        &opened.layout,
        platform,
        with_userspace && md.userspace.is_some(),
    )?;
    // The name is checked by the format (`bin/NAME`, NAME a safe name).
    let userspace = md
        .userspace
        .as_ref()
        .zip(contents.userspace)
        .map(|(u, bytes)| {
            let name = u.path.rsplit('/').next().unwrap_or("userspace").to_string();
            (name, bytes)
        });
    Ok(OpenedPackage {
        reference: spec.into(),
        name: md.name.clone(),
        version: md.version.clone(),
        object: md.object.clone(),
        bytecode: contents.bytecode,
        bytecode_name: md.bytecode.clone(),
        userspace,
        digest: Some(platform.descriptor.digest().to_string()),
        trust,
    })
}

/// A bare object: everything comes from its ELF and BTF.
fn from_object(path: &Path) -> Result<OpenedPackage> {
    let bytecode = std::fs::read(path).map_err(RuntimeError::io("read", path))?;
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let md = format::Metadata::derive(&bytecode, &file, None, None, std::env::consts::ARCH)
        .map_err(|e| RuntimeError::Object {
            path: path.into(),
            message: e.to_string(),
        })?;
    Ok(OpenedPackage {
        reference: path.display().to_string(),
        name: md.name,
        version: md.version,
        object: md.object,
        bytecode,
        bytecode_name: md.bytecode,
        userspace: None,
        digest: None,
        trust: None,
    })
}

/// The default store of the runtime: the system store for root.
pub fn default_store() -> PathBuf {
    store::default_path()
}
