//! `cargo ebpf publish`.

use clap::Args;
use ebpf_cli::{StoreArgs, TransportArgs, out, out_json};

use super::ProjectDir;
use crate::error::Result;
use crate::remote;

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Where to push: REGISTRY/REPOSITORY:TAG (default: NAME:VERSION under the
    /// configured default registry)
    pub reference: Option<String>,
    /// Push this local image (tag, layout or archive) instead of the project's
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Print a JSON summary (digests, sizes, blobs uploaded and skipped) on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub project: ProjectDir,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub transport: TransportArgs,
    #[command(flatten)]
    pub signing: crate::signing::SignArgs,
}

pub fn execute(a: PublishArgs) -> Result<()> {
    let report = remote::publish(&remote::PublishOptions {
        reference: a.reference,
        image: a.image,
        dir: a.project.path()?,
        store: a.store.path(),
        transport: a.transport.options(),
        progress: !a.json,
        sign: a.signing.open()?,
    })?;
    if a.json {
        out_json(&report, false);
    } else {
        eprint!("{}", remote::render_push(&report));
        out(&format!("{}@{}\n", report.reference, report.digest));
    }
    Ok(())
}
