//! `cargo ebpf inspect`, `images`, `tag` and `rmi`: the local store.

use clap::Args;
use ebpf_cli::{StoreArgs, out, out_json, render};
use ebpf_oci::images;

use crate::error::Result;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A tag in the store, an OCI layout directory (DIR or oci:DIR:TAG) or an
    /// oci-archive file (FILE or oci-archive:FILE:TAG)
    pub reference: String,
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// The image: a tag in the store, a layout or an archive
    pub source: String,
    /// The new tag
    pub target: String,
    /// Replace an existing tag
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Tags to remove
    #[arg(required = true)]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn inspect(a: InspectArgs) -> Result<()> {
    let i = images::inspect(&a.reference, &a.store.path())?;
    if a.json {
        out_json(&i, true);
    } else {
        out(&render::inspection(&i));
    }
    Ok(())
}

pub fn list(a: ImagesArgs) -> Result<()> {
    let rows = images::list(&a.store.path())?;
    if a.json {
        out_json(&rows, true);
    } else {
        out(&render::image_list(&rows));
    }
    Ok(())
}

pub fn tag(a: TagArgs) -> Result<()> {
    let digest = images::tag(&a.source, &a.target, a.force, &a.store.path())?;
    eprintln!("{:>12} {} ({digest})", "Tagged", a.target);
    Ok(())
}

pub fn rmi(a: RmiArgs) -> Result<()> {
    let store = a.store.path();
    for t in &a.tags {
        let removed = images::remove(t, &store)?;
        eprintln!("{:>12} {t} ({removed} blobs freed)", "Removed");
    }
    Ok(())
}
