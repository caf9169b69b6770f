//! `cargo ebpf inspect`, `images`, `tag` and `rmi`: the local store.

use clap::Args;
use ebpf_cli::StoreArgs;
use ebpf_cli::commands::{self, ImagesArgs, InspectArgs};
use ebpf_oci::images;

use crate::error::Result;

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
    commands::inspect(&a)?;
    Ok(())
}

pub fn list(a: ImagesArgs) -> Result<()> {
    commands::images(&a)?;
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
