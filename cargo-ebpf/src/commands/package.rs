//! `cargo ebpf package`.

use std::path::PathBuf;

use clap::Args;
use ebpf_cli::{StoreArgs, human_size, out, out_json};
use ebpf_kinds::Arch;

use super::ProjectDir;
use crate::error::Result;
use crate::package::{self, PackageOptions};

#[derive(Args, Debug)]
pub struct PackageArgs {
    /// Tag in the store (default: NAME:VERSION from ebpf.toml)
    #[arg(long, short = 't', value_name = "NAME:VERSION")]
    pub tag: Option<String>,
    /// Target architecture; repeat for a multi-platform image (default: this machine's)
    #[arg(long = "arch", value_enum)]
    pub arches: Vec<Arch>,
    /// Also write the image as an oci-archive tar, for hosts without registry access
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// Replace an existing tag
    #[arg(long)]
    pub force: bool,
    /// Package the artifacts already in target/ebpf/ARCH/ without building
    #[arg(long)]
    pub no_build: bool,
    /// The object to package, when the project builds several (NAME of NAME.bpf.o)
    #[arg(long, value_name = "NAME")]
    pub object: Option<String>,
    /// Keep the object's DWARF debug info in the image (default: stripped
    /// after the metadata is read from it; BTF is always kept)
    #[arg(long)]
    pub keep_debug: bool,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub project: ProjectDir,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub signing: crate::signing::SignArgs,
}

pub fn execute(a: PackageArgs) -> Result<()> {
    let report = package::package(&PackageOptions {
        dir: a.project.path()?,
        arches: a.arches,
        tag: a.tag,
        force: a.force,
        archive: a.archive,
        store: a.store.path(),
        build: !a.no_build,
        object: a.object,
        keep_debug: a.keep_debug,
        progress: true,
        sign: a.signing.open()?.map(std::sync::Arc::new),
    })?;
    if a.json {
        out_json(&report, false);
        return Ok(());
    }
    for p in &report.platforms {
        let oci = ebpf_oci::format::oci_arch(&p.arch).unwrap_or("?");
        eprintln!(
            "{:>12} linux/{oci} {} ({})",
            "",
            p.manifest,
            human_size(p.size)
        );
    }
    if let Some(ar) = &report.archive {
        eprintln!(
            "{:>12} {} ({})",
            "Archived",
            ar.path.display(),
            human_size(ar.size)
        );
    }
    out(&format!("{}\n", report.tag));
    Ok(())
}
