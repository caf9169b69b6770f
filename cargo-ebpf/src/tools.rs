//! Finding the external tools cargo-ebpf runs, and telling how to install
//! the missing ones. The table is `ci/tools.tsv`, shared with `ci/setup.sh`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Serialize;

use crate::error::{Error, Result};

const TABLE: &str = include_str!("../../ci/tools.tsv");

/// One row of `ci/tools.tsv`.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: String,
    pub group: String,
    probe: String,
    pub debian: Vec<String>,
    pub fedora: Vec<String>,
    pub purpose: String,
}

pub fn table() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                assert_eq!(f.len(), 6, "ci/tools.tsv: 6 columns expected in `{l}`");
                let words = |s: &str| s.split_whitespace().map(str::to_string).collect();
                Tool {
                    name: f[0].into(),
                    group: f[1].into(),
                    probe: f[2].into(),
                    debian: words(f[3]),
                    fedora: words(f[4]),
                    purpose: f[5].into(),
                }
            })
            .collect()
    })
}

pub fn tool(name: &str) -> &'static Tool {
    table()
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("`{name}` is not a row of ci/tools.tsv"))
}

fn install_command(pkgs: &[String], apt: bool) -> String {
    let (sys, other): (Vec<&String>, Vec<&String>) = pkgs
        .iter()
        .partition(|p| !["cargo:", "go:", "pip:"].iter().any(|k| p.starts_with(k)));
    let mut parts = Vec::new();
    if !sys.is_empty() {
        let list: Vec<&str> = sys.iter().map(|s| s.as_str()).collect();
        parts.push(if apt {
            format!("sudo apt-get install -y {}", list.join(" "))
        } else {
            format!("sudo dnf install -y {}", list.join(" "))
        });
    }
    let pip: Vec<&str> = other
        .iter()
        .filter_map(|p| p.strip_prefix("pip:"))
        .collect();
    for c in other.iter().filter_map(|p| p.strip_prefix("cargo:")) {
        parts.push(format!("cargo install {c}"));
    }
    for g in other.iter().filter_map(|p| p.strip_prefix("go:")) {
        parts.push(format!("go install {g}"));
    }
    if !pip.is_empty() {
        parts.push(format!("python3 -m pip install {}", pip.join(" ")));
    }
    parts.join(" && ")
}

impl Tool {
    pub fn debian_install(&self) -> String {
        install_command(&self.debian, true)
    }

    pub fn fedora_install(&self) -> String {
        install_command(&self.fedora, false)
    }

    /// Where the tool is: the first command found on PATH, or the first file
    /// that exists.
    pub fn locate(&self) -> Option<PathBuf> {
        if let Some(cmds) = self.probe.strip_prefix("cmd:") {
            cmds.split('|').find_map(|c| which::which(c).ok())
        } else if let Some(files) = self.probe.strip_prefix("file:") {
            files.split('|').map(PathBuf::from).find(|p| p.exists())
        } else if let Some(modules) = self.probe.strip_prefix("py:") {
            // Python modules: present when python3 imports them all.
            let python = which::which("python3").ok()?;
            let imports = format!("import {}", modules.replace('|', ", "));
            duct::cmd!(&python, "-c", imports)
                .stdout_null()
                .stderr_null()
                .unchecked()
                .run()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| python)
        } else {
            None
        }
    }

    /// The error for this tool being absent (or unusable, with `detail`).
    pub fn missing(&self, detail: impl Into<String>) -> Error {
        let detail = detail.into();
        Error::MissingTool {
            tool: self.name.clone(),
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(" ({detail})")
            },
            debian: self.debian_install(),
            fedora: self.fedora_install(),
        }
    }

    pub fn require(&self) -> Result<PathBuf> {
        self.locate().ok_or_else(|| self.missing(""))
    }
}

/// The clang that compiles eBPF C: `$CLANG` if set, else the table's first
/// match.
pub fn clang() -> Result<PathBuf> {
    if let Some(c) = std::env::var_os("CLANG").filter(|c| !c.is_empty()) {
        return which::which(&c).map_err(|_| {
            tool("clang").missing(format!(
                "CLANG={} is not an executable",
                Path::new(&c).display()
            ))
        });
    }
    tool("clang").require()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_names_install_commands() {
        let clang = tool("clang");
        assert_eq!(clang.group, "core");
        assert_eq!(
            clang.debian_install(),
            "sudo apt-get install -y clang-19 llvm-19"
        );
        assert_eq!(clang.fedora_install(), "sudo dnf install -y clang llvm");
        assert_eq!(
            tool("bpf-linker").debian_install(),
            "cargo install bpf-linker"
        );
        let msg = tool("bpftool").missing("").to_string();
        assert_eq!(
            msg,
            "bpftool not found; install it with `sudo apt-get install -y bpftool` (Debian/Ubuntu) or `sudo dnf install -y bpftool` (openEuler/Fedora)"
        );
    }
}
