//! `cargo ebpf run`.

use clap::Args;
use ebpf_cli::StoreArgs;

use super::ProjectDir;
use crate::error::Result;
use crate::run;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run this image (a tag, registry reference, layout or archive) instead of the project's
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// Package the artifacts already built, without building
    #[arg(long)]
    pub no_build: bool,
    #[command(flatten)]
    pub project: ProjectDir,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Options for `bpf-runtime run` (--iface, --set, --json, --duration, ...; see `bpf-runtime run --help`), then `--` and the user-space program's arguments
    #[arg(last = true, value_name = "RUNTIME ARGS")]
    pub args: Vec<String>,
}

pub fn execute(a: RunArgs) -> Result<()> {
    let never = run::run(&run::RunOptions {
        dir: a.project.path()?,
        reference: a.image,
        build: !a.no_build,
        store: a.store.path(),
        args: a.args,
    })?;
    match never {}
}
