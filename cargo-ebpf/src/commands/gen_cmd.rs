//! `cargo ebpf gen vmlinux`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ebpf_cli::out;
use ebpf_kinds::Arch;

use crate::error::Result;
use crate::{fsutil, vmlinux};

#[derive(Subcommand, Debug)]
pub enum GenCommand {
    /// vmlinux.h (or Rust bindings) from the running kernel's or a given BTF
    Vmlinux(VmlinuxArgs),
}

#[derive(Args, Debug)]
pub struct VmlinuxArgs {
    /// BTF or vmlinux file (default: /sys/kernel/btf/vmlinux)
    #[arg(long)]
    pub btf: Option<PathBuf>,
    /// Architecture of the BTF (only names the default output directory)
    #[arg(long, value_enum)]
    pub arch: Option<Arch>,
    /// Rust bindings of these comma-separated types instead of a C header
    #[arg(long, value_delimiter = ',')]
    pub rust: Option<Vec<String>>,
    /// Output file (default: stdout)
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

pub fn execute(c: GenCommand) -> Result<()> {
    let GenCommand::Vmlinux(a) = c;
    let btf = vmlinux::btf_source(a.btf.as_deref())?;
    let bytes = match &a.rust {
        Some(types) => vmlinux::rust_bindings(&btf, types)?.into_bytes(),
        None => vmlinux::header(&btf)?,
    };
    match a.output {
        Some(path) => {
            fsutil::write_atomic(&path, &bytes, false)?;
            eprintln!(
                "     Wrote {} ({} bytes) from {}",
                path.display(),
                bytes.len(),
                btf.display()
            );
        }
        None => out(&String::from_utf8_lossy(&bytes)),
    }
    Ok(())
}
