//! `bpf-runtime pull`, `images` and `inspect`: the local store.

use clap::Args;
use ebpf_cli::commands::{self, ImagesArgs, InspectArgs};
use ebpf_cli::{StoreArgs, TransportArgs, out};

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

pub fn pull(a: PullArgs) -> Result<i32> {
    let pkg = package::open(
        &a.reference,
        &a.store.path(),
        PullPolicy::Always,
        &a.transport.options(),
        false,
        None,
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
    commands::images(&a)?;
    Ok(0)
}

pub fn inspect(a: InspectArgs) -> Result<i32> {
    commands::inspect(&a)?;
    Ok(0)
}
