//! `cargo ebpf keygen` and `cargo ebpf sign`: cosign-compatible keys and
//! signatures, made without a registry (or, for an image only a registry
//! has, in it).

use std::path::PathBuf;

use clap::Args;
use ebpf_cli::{StoreArgs, TransportArgs, out, short_digest};
use ebpf_oci::StoreError;
use ebpf_oci::config::Config;
use ebpf_oci::registry::{self, Session};
use ebpf_oci::store::{self, Source};

use crate::error::{Error, Result};
use crate::signing;

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Write PREFIX.key (sealed with a password, as cosign seals it) and PREFIX.pub
    #[arg(long, short = 'o', value_name = "PREFIX", default_value = "cosign")]
    pub output: PathBuf,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    /// The image: a tag in the store, an OCI layout directory, or
    /// REGISTRY/REPOSITORY:TAG (or @DIGEST) when the store has no such tag
    /// (signed in the registry, nothing pulled)
    pub image: String,
    /// Private key: cosign's (password from COSIGN_PASSWORD or the terminal) or a PKCS#8 PEM
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub transport: TransportArgs,
}

pub fn keygen(a: KeygenArgs) -> Result<()> {
    let (key, public, id) = signing::keygen(&a.output)?;
    eprintln!(
        "{:>12} {} (private, keep it secret) and {} (public, for policies and `cosign verify --key`)",
        "Wrote",
        key.display(),
        public.display()
    );
    out(&format!("{id}\n"));
    Ok(())
}

pub fn sign(a: SignArgs) -> Result<()> {
    let source = Source::parse(&a.image);
    if let Source::Archive { file, .. } = &source {
        return Err(Error::usage(format!(
            "{} is an archive, which is not changed in place; sign the image in the store (`cargo ebpf tag {} NAME:TAG`, then sign NAME:TAG) or package it with --sign",
            file.display(),
            a.image
        )));
    }
    let key = signing::open_key(&a.key)?;
    let (name, signed) = match store::open(&source, &a.store.path()) {
        Ok(opened) => {
            let name = opened.tag.clone().unwrap_or_else(|| a.image.clone());
            let signed = signing::sign_image(&opened, &name, &key)?;
            (name, signed)
        }
        Err(StoreError::UnknownTag(_)) if ebpf_oci::reference::is_registry_reference(&a.image) => {
            let config = Config::load()?;
            let target = registry::parse_reference(&a.image, &config)?;
            let session =
                Session::connect(target.resolve_registry(), &config, &a.transport.options())?;
            let signed =
                session.sign_remote(&target, &key, std::sync::Arc::new(registry::Quiet))?;
            (
                target.whole(),
                signed.iter().map(|d| d.to_string()).collect(),
            )
        }
        Err(e) => return Err(e.into()),
    };
    for d in &signed {
        eprintln!(
            "{:>12} {name} ({}) with {}",
            "Signed",
            short_digest(d),
            key.public().id()
        );
        out(&format!("{d}\n"));
    }
    Ok(())
}
