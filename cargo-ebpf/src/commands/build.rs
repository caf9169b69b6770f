//! `cargo ebpf build`.

use clap::{Args, ValueEnum};
use ebpf_cli::out;
use ebpf_kinds::Arch;

use super::ProjectDir;
use crate::build::{self, BuildOptions};
use crate::error::Result;

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Optimize user space (the kernel side is always built with -O2)
    #[arg(long, short = 'r')]
    pub release: bool,
    /// Target architecture (default: this machine's)
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// human, or json: one JSON object per artifact and a final summary on stdout
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
    #[command(flatten)]
    pub project: ProjectDir,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

pub fn execute(a: BuildArgs) -> Result<()> {
    let json = a.message_format == MessageFormat::Json;
    let report = build::build(&BuildOptions {
        dir: a.project.path()?,
        arch: a.arch.unwrap_or_else(Arch::host),
        release: a.release,
        progress: !json,
    })?;
    if json {
        let mut text = String::new();
        for art in &report.artifacts {
            let mut v = serde_json::to_value(art).expect("artifacts serialize");
            v["reason"] = "artifact".into();
            text.push_str(&v.to_string());
            text.push('\n');
        }
        let summary = serde_json::json!({
            "reason": "build-finished", "success": true, "package": report.package,
            "language": report.language, "toolchain": report.toolchain,
            "commands_run": report.commands_run,
        });
        text.push_str(&summary.to_string());
        text.push('\n');
        out(&text);
    }
    Ok(())
}
