//! The commands both tools have with the same arguments and output:
//! `inspect` and `images`.

use clap::Args;
use ebpf_oci::format::FormatError;
use ebpf_oci::images;

use crate::{PolicyArgs, StoreArgs, out, out_json, render};

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
    #[command(flatten)]
    pub policy: PolicyArgs,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub fn inspect(a: &InspectArgs) -> Result<(), FormatError> {
    let policy = a.policy.load()?;
    let i = images::inspect(&a.reference, &a.store.path(), &policy)?;
    if a.json {
        out_json(&i, true);
    } else {
        out(&render::inspection(&i));
    }
    Ok(())
}

pub fn images(a: &ImagesArgs) -> Result<(), FormatError> {
    let rows = images::list(&a.store.path())?;
    if a.json {
        out_json(&rows, true);
    } else {
        out(&render::image_list(&rows));
    }
    for r in &rows {
        if let Some(e) = &r.error {
            crate::message("warning", &format_args!("{}: {e}", r.tag));
        }
    }
    Ok(())
}
