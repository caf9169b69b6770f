//! `cargo ebpf search`.

use clap::Args;
use ebpf_cli::{TransportArgs, out, out_json};

use crate::error::Result;
use crate::remote;

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// The registry (default: the configured one), then a term to look for in
    /// repository names and descriptions
    #[arg(value_name = "REGISTRY")]
    pub registry_or_term: Option<String>,
    #[arg(value_name = "TERM")]
    pub term: Option<String>,
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub transport: TransportArgs,
}

pub fn execute(a: SearchArgs) -> Result<()> {
    let rows = remote::search(
        a.registry_or_term.as_deref(),
        a.term.as_deref(),
        &a.transport.options(),
    )?;
    if a.json {
        out_json(&rows, true);
    } else {
        out(&remote::render_search(&rows));
    }
    Ok(())
}
