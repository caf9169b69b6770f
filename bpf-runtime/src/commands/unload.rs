//! `bpf-runtime unload` and `gc`.

use clap::Args;
use ebpf_cli::out;

use crate::error::Result;
use crate::records::{self, StateDirs};

#[derive(Args, Debug)]
pub struct UnloadArgs {
    /// The name `list` shows, or the id of one of its programs
    pub what: String,
}

pub fn unload(a: UnloadArgs) -> Result<i32> {
    let r = records::unload(&StateDirs::from_env(), &a.what)?;
    eprintln!(
        "unloaded {} ({} programs, {} maps; nothing of it remains in the kernel)",
        r.name,
        r.programs.len(),
        r.maps.len()
    );
    Ok(0)
}

pub fn gc() -> Result<i32> {
    let done = records::gc(&StateDirs::from_env())?;
    if done.is_empty() {
        eprintln!("nothing to clean up");
    } else {
        out(&done.iter().map(|l| format!("{l}\n")).collect::<String>());
    }
    Ok(0)
}
