//! `bpf-runtime pull`, `images` and `inspect`: the local store.

use clap::Args;
use ebpf_cli::{StoreArgs, TransportArgs, out, out_json, render};
use ebpf_oci::images;

use crate::error::Result;
use crate::package::{self, PullPolicy};

#[derive(Args, Debug)]
pub struct PullArgs {
    /// REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST
    pub reference: String,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub transport: TransportArgs,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A tag in the store, an OCI layout directory, or an oci-archive
    pub reference: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn pull(a: PullArgs) -> Result<i32> {
    let pkg = package::open(
        &a.reference,
        &a.store.path(),
        PullPolicy::Always,
        &a.transport.options(),
        false,
    )?;
    out(&format!("{}\n", a.reference));
    eprintln!(
        "{} {} ({} programs)",
        pkg.name,
        pkg.version,
        pkg.object.programs.len()
    );
    Ok(0)
}

pub fn list(a: ImagesArgs) -> Result<i32> {
    let rows = images::list(&a.store.path())?;
    if a.json {
        out_json(&rows, true);
    } else {
        out(&render::image_list(&rows));
    }
    Ok(0)
}

pub fn inspect(a: InspectArgs) -> Result<i32> {
    let i = images::inspect(&a.reference, &a.store.path())?;
    if a.json {
        out_json(&i, true);
    } else {
        out(&render::inspection(&i));
    }
    Ok(0)
}
