//! `cargo ebpf pull`.

use clap::Args;
use ebpf_cli::{StoreArgs, TransportArgs, out, out_json};

use crate::error::Result;
use crate::remote;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST
    pub reference: String,
    /// From a multi-platform image, take this one (default: this machine's), e.g. linux/arm64
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Tag in the local store (default: the reference as written in full)
    #[arg(long, short = 't')]
    pub tag: Option<String>,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub transport: TransportArgs,
}

pub fn execute(a: PullArgs) -> Result<()> {
    let report = remote::pull(&remote::PullOptions {
        reference: a.reference,
        platform: a.platform,
        tag: a.tag,
        store: a.store.path(),
        transport: a.transport.options(),
        progress: !a.json,
    })?;
    if a.json {
        out_json(&report, false);
        return Ok(());
    }
    eprint!("{}", remote::render_pull(&report));
    let host = ebpf_oci::registry::host_platform();
    if report.platform != host {
        eprintln!(
            "warning: {} is for {}; this machine is {host}",
            report.reference, report.platform
        );
    }
    out(&format!("{}\n", report.tag));
    Ok(())
}
