//! `cargo ebpf doctor`.

use clap::Args;
use ebpf_cli::{out, out_json};

use crate::doctor;
use crate::error::Result;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Install what is missing (apt or dnf)
    #[arg(long)]
    pub fix: bool,
    /// Print the checks as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn execute(a: DoctorArgs) -> Result<()> {
    let checks = doctor::checks();
    if a.json {
        out_json(&checks, true);
    } else {
        let mut text = String::new();
        for c in &checks {
            let state = match &c.found {
                Some(p) => format!("ok       {p}"),
                None => format!(
                    "MISSING  {} | {}",
                    c.tool.debian_install(),
                    c.tool.fedora_install()
                ),
            };
            text.push_str(&format!(
                "{:<16} {:<5} {state}\n",
                c.tool.name, c.tool.group
            ));
        }
        out(&text);
    }
    let missing = checks.iter().filter(|c| c.found.is_none()).count();
    if a.fix && missing > 0 {
        let n = doctor::fix(&checks)?;
        eprintln!("       Fixed {n} tools");
    } else if missing > 0 {
        eprintln!("{missing} tools missing; `cargo ebpf doctor --fix` installs them");
    }
    Ok(())
}
