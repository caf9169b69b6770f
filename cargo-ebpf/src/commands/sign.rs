//! `cargo ebpf keygen` and `cargo ebpf sign`: cosign-compatible keys and
//! signatures, made without a registry.

use std::path::PathBuf;

use clap::Args;
use ebpf_cli::{StoreArgs, out, short_digest};
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
    /// The image: a tag in the store or an OCI layout directory
    pub image: String,
    /// Private key: cosign's (password from COSIGN_PASSWORD or the terminal) or a PKCS#8 PEM
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
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
    let opened = store::open(&source, &a.store.path())?;
    let name = opened.tag.clone().unwrap_or_else(|| a.image.clone());
    let signed = signing::sign_image(&opened, &name, &key)?;
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
