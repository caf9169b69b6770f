//! `bpf-runtime load`: load, attach and pin, then exit.

use clap::Args;
use ebpf_cli::{out, out_json};

use super::{Plan, Purpose, TargetArgs, prepare, print_attached};
use crate::attach;
use crate::error::Result;
use crate::records::{self, StateDirs};

#[derive(Args, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The name to unload it by (default: the package's name)
    #[arg(long)]
    pub name: Option<String>,
    /// Print the record as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn execute(a: LoadArgs) -> Result<i32> {
    let (pkg, plan) = prepare(a.target, Purpose::Load)?;
    let Plan::Programs(opts) = plan else {
        unreachable!("prepare refuses packages with user space for load")
    };
    let name = a.name.unwrap_or_else(|| pkg.name.clone());
    let dirs = StateDirs::from_env();
    records::check_free(&dirs, &name)?;
    let started = std::time::Instant::now();
    let loaded = attach::load(&pkg, &opts)?;
    let record = records::pin(&dirs, &name, &pkg, &loaded)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // The pins now hold everything; dropping `loaded` only closes our
    // descriptors.
    drop(loaded);
    if a.json {
        out_json(&record, true);
    } else {
        print_attached(&record.programs, &pkg.name, false, ms);
        eprintln!(
            "loaded {name} in {ms:.1} ms; pinned under {}; `bpf-runtime unload {name}` removes it",
            dirs.bpffs.join(&name).display()
        );
        out(&format!("{name}\n"));
    }
    Ok(0)
}
