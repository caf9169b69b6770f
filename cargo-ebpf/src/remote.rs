//! `login`, `logout`, `publish`, `pull` and `search`: the local store and
//! OCI registries. The protocol lives in `ebpf_oci::registry`; this module
//! picks what to move, asks for credentials and shows progress.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ebpf_oci::Layout;
use ebpf_oci::auth::{CredentialStore, Credentials, DockerConfig};
use ebpf_oci::config::Config;
use ebpf_oci::reference;
use ebpf_oci::registry::{
    self, Options, Progress, PullReport, PushReport, Quiet, RepositoryReport, Session,
};
use ebpf_oci::store::{self, Source};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::error::{Error, Result};
use crate::manifest;
use ebpf_cli::{human_size, short_digest};

/// The registry part of what a user typed for `login`/`logout`/`search`:
/// `https://ghcr.io/acme` → `ghcr.io`.
pub fn registry_host(spec: &str) -> Result<String> {
    reference::registry_host(spec)
        .map(str::to_string)
        .ok_or_else(|| {
            Error::usage(format!(
                "invalid registry `{spec}`: write HOST or HOST:PORT, for example ghcr.io or 127.0.0.1:5000"
            ))
        })
}

pub struct LoginOptions {
    pub registry: String,
    pub username: Option<String>,
    pub password_stdin: bool,
    pub transport: Options,
}

/// Checks the credentials against the registry, then stores them where
/// Docker would. Returns where they were stored.
pub fn login(opts: &LoginOptions) -> Result<CredentialStore> {
    let registry = registry_host(&opts.registry)?;
    let tty = std::io::stdin().is_terminal();
    let username = match &opts.username {
        Some(u) => u.clone(),
        None if tty && !opts.password_stdin => {
            eprint!("Username for {registry}: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(Error::io("read", "the terminal"))?;
            line.trim().to_string()
        }
        None => {
            return Err(Error::usage(
                "no user name: pass -u USER (with --password-stdin in scripts)",
            ));
        }
    };
    if username.is_empty() {
        return Err(Error::usage("the user name is empty"));
    }
    let secret = if opts.password_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(Error::io("read", "standard input"))?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if tty {
        rpassword::prompt_password(format!("Password for {username}@{registry}: "))
            .map_err(Error::io("read", "the terminal"))?
    } else {
        return Err(Error::usage(
            "no terminal to ask for the password: pipe it in with --password-stdin",
        ));
    };
    if secret.is_empty() {
        return Err(Error::usage("the password is empty"));
    }
    let credentials = Credentials { username, secret };
    let config = Config::load()?;
    let mut options = opts.transport.clone();
    options.credentials = Some(credentials.clone());
    let session = Session::connect(&registry, &config, &options)?;
    session.check_credentials()?;
    Ok(DockerConfig::load()?.store(&registry, &credentials)?)
}

/// Forgets the credentials of a registry. `None`: there were none.
pub fn logout(registry: &str) -> Result<Option<CredentialStore>> {
    let registry = registry_host(registry)?;
    Ok(DockerConfig::load()?.erase(&registry)?)
}

pub struct PublishOptions {
    /// Where to push (default: NAME:VERSION under the default registry).
    pub reference: Option<String>,
    /// The local image (default: the project's NAME:VERSION).
    pub image: Option<String>,
    pub dir: PathBuf,
    pub store: PathBuf,
    pub transport: Options,
    pub progress: bool,
    /// Sign the image (as the target repository) before pushing it.
    pub sign: Option<ebpf_oci::sign::PrivateKey>,
}

/// Pushes an image of the local store (by default the project's) to a
/// registry.
pub fn publish(opts: &PublishOptions) -> Result<PushReport> {
    let config = Config::load()?;
    let (source, default_ref) = match &opts.image {
        Some(image) => (image.clone(), None),
        None => {
            let (_, m) = manifest::locate(&opts.dir)?;
            let tag = m.image_tag();
            (tag.clone(), Some(tag))
        }
    };
    let target = match (&opts.reference, &default_ref) {
        (Some(r), _) => registry::parse_reference(r, &config)?,
        (None, Some(tag)) => registry::parse_reference(tag, &config)?,
        (None, None) => {
            return Err(Error::usage(
                "say where to publish: cargo ebpf publish REGISTRY/REPOSITORY:TAG --image IMAGE",
            ));
        }
    };
    let opened = store::open(&Source::parse(&source), &opts.store).map_err(|e| match e {
        ebpf_oci::StoreError::UnknownTag(t) if opts.image.is_none() => Error::usage(format!(
            "no image `{t}` in the store {}; run `cargo ebpf package` first",
            opts.store.display()
        )),
        e => e.into(),
    })?;
    let session = Session::connect(target.resolve_registry(), &config, &opts.transport)?;
    if let Some(key) = &opts.sign {
        crate::signing::sign_image(&opened, &target.whole(), key)?;
    }
    let progress = progress(opts.progress, "Uploading");
    let mut report = session.push(
        &opened.layout,
        &opened.descriptor,
        &target,
        progress.clone(),
    )?;
    // The image's signatures (made now or earlier) go beside it.
    report.signatures =
        session.push_signatures(&opened.layout, &opened.descriptor, &target, progress)?;
    Ok(report)
}

pub struct PullOptions {
    pub reference: String,
    pub platform: Option<String>,
    pub tag: Option<String>,
    pub store: PathBuf,
    pub transport: Options,
    pub progress: bool,
}

/// Pulls an image into the local store.
pub fn pull(opts: &PullOptions) -> Result<PullReport> {
    let config = Config::load()?;
    let source = registry::parse_reference(&opts.reference, &config)?;
    if let Some(p) = &opts.platform {
        check_platform(p)?;
    }
    let layout = Layout::open_or_create(&opts.store)?;
    let session = Session::connect(source.resolve_registry(), &config, &opts.transport)?;
    let progress = progress(opts.progress, "Downloading");
    Ok(session.pull(
        &source,
        opts.platform.as_deref(),
        &layout,
        opts.tag.as_deref(),
        progress,
    )?)
}

fn check_platform(p: &str) -> Result<()> {
    match p.split_once('/') {
        Some(("linux", arch)) if ebpf_oci::format::uname_arch(arch).is_some() => Ok(()),
        _ => Err(Error::usage(format!(
            "invalid platform `{p}`: write linux/ARCH, for example linux/amd64 or linux/arm64"
        ))),
    }
}

/// Splits `search`'s two optional words: a first word that looks like a
/// registry is one; otherwise it is the term, searched in the default
/// registry.
pub fn search(
    first: Option<&str>,
    second: Option<&str>,
    transport: &Options,
) -> Result<Vec<RepositoryReport>> {
    let config = Config::load()?;
    let looks_like_registry =
        |s: &str| reference::registry_host(s).is_some_and(reference::names_registry);
    let (registry, term) = match (first, second) {
        (Some(r), t) if looks_like_registry(r) => (registry_host(r)?, t),
        (t, None) => match &config.registry.default {
            Some(d) => (registry_host(d)?, t),
            None => {
                return Err(Error::usage(
                    "which registry? write `cargo ebpf search REGISTRY [TERM]` or set a default registry in the config",
                ));
            }
        },
        (None, Some(_)) => unreachable!("clap fills the first word first"),
        (Some(r), Some(_)) => {
            return Err(Error::usage(format!(
                "`{r}` is not a registry: write HOST or HOST:PORT"
            )));
        }
    };
    let session = Session::connect(&registry, &config, transport)?;
    Ok(session.search(term)?)
}

pub fn render_push(r: &PushReport) -> String {
    let signed = match r.signatures {
        0 => String::new(),
        n => format!("; signatures of {n} digest(s) beside it"),
    };
    if r.manifests_pushed == 0 {
        return format!(
            "{:>12} {} is up to date ({}, {} blobs already there{signed})\n",
            "Published",
            r.reference,
            short_digest(&r.digest),
            r.blobs_skipped
        );
    }
    format!(
        "{:>12} {} {} ({}; {} blobs uploaded, {} already there, {}{signed})\n",
        "Published",
        r.reference,
        short_digest(&r.digest),
        r.platforms.join(", "),
        r.blobs_uploaded,
        r.blobs_skipped,
        human_size(r.bytes_uploaded)
    )
}

pub fn render_pull(r: &PullReport) -> String {
    format!(
        "{:>12} {} {} ({}; {} blobs downloaded, {} already here, {}) as {}\n",
        "Pulled",
        r.reference,
        short_digest(&r.digest),
        r.platform,
        r.blobs_downloaded,
        r.blobs_present,
        human_size(r.bytes_downloaded),
        r.tag
    )
}

pub fn render_search(rows: &[RepositoryReport]) -> String {
    if rows.is_empty() {
        return "no repositories found\n".into();
    }
    let width = rows
        .iter()
        .map(|r| r.reference.len())
        .max()
        .unwrap_or(0)
        .max(10);
    let mut s = format!(
        "{:<width$}  {:<5}  {:<24}  DESCRIPTION\n",
        "REPOSITORY", "EBPF", "TAGS"
    );
    for r in rows {
        let mut tags = r
            .tags
            .iter()
            .rev()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if r.tags.len() > 3 {
            let _ = write!(tags, " +{}", r.tags.len() - 3);
        }
        let _ = writeln!(
            s,
            "{:<width$}  {:<5}  {:<24}  {}",
            r.reference,
            if r.ebpf { "yes" } else { "no" },
            tags,
            r.description.as_deref().unwrap_or("")
        );
    }
    s
}

/// A progress bar per blob on a terminal; nothing otherwise.
fn progress(wanted: bool, verb: &'static str) -> Arc<dyn Progress> {
    if wanted && std::io::stderr().is_terminal() {
        Arc::new(Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
            verb,
        })
    } else {
        Arc::new(Quiet)
    }
}

struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    verb: &'static str,
}

impl Progress for Bars {
    fn start(&self, digest: &str, size: u64) {
        let bar = self.multi.add(ProgressBar::new(size));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(self.verb);
        bar.set_message(short_digest(digest).to_string());
        self.bars
            .lock()
            .expect("not poisoned")
            .insert(digest.into(), bar);
    }

    fn advance(&self, digest: &str, bytes: u64) {
        if let Some(b) = self.bars.lock().expect("not poisoned").get(digest) {
            b.inc(bytes);
        }
    }

    fn finish(&self, digest: &str, _moved: bool) {
        if let Some(b) = self.bars.lock().expect("not poisoned").remove(digest) {
            b.finish_and_clear();
        }
    }
}
