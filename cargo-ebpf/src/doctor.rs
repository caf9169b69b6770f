//! `cargo ebpf doctor`: which tools are present, and how to install the rest.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::tools::{self, Tool};

#[derive(Debug, Serialize)]
pub struct Check {
    pub tool: &'static Tool,
    pub found: Option<String>,
}

pub fn checks() -> Vec<Check> {
    tools::table()
        .iter()
        .map(|t| Check {
            tool: t,
            found: t.locate().map(|p| p.display().to_string()),
        })
        .collect()
}

/// Installs what is missing with the system package manager, through the
/// same commands `ci/setup.sh` runs.
pub fn fix(checks: &[Check]) -> Result<usize> {
    let apt = which::which("apt-get").is_ok();
    if !apt && which::which("dnf").is_err() {
        return Err(Error::usage(
            "doctor --fix needs apt-get or dnf; install the tools listed above by hand",
        ));
    }
    let mut fixed = 0;
    for c in checks.iter().filter(|c| c.found.is_none()) {
        let cmd = if apt {
            c.tool.debian_install()
        } else {
            c.tool.fedora_install()
        };
        let cmd = if ebpf_oci::store::is_root() {
            cmd.replace("sudo ", "")
        } else {
            cmd
        };
        eprintln!("      Fixing {}: {cmd}", c.tool.name);
        let status = duct::cmd!("sh", "-c", &cmd)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .unchecked()
            .run()
            .map_err(Error::io("run", "sh"))?
            .status;
        if !status.success() {
            return Err(Error::ToolFailed {
                what: format!("installing {}", c.tool.name),
                command: cmd,
                status: status.to_string(),
            });
        }
        fixed += 1;
    }
    Ok(fixed)
}
