//! `cargo ebpf init`.

use std::path::PathBuf;

use clap::Args;

use super::new::LangArg;
use crate::error::Result;
use crate::new::{self, InitOptions};

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directory with the sources (default: the current one)
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Project name (default: the directory's name)
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub lang: LangArg,
    /// Replace an existing ebpf.toml
    #[arg(long)]
    pub force: bool,
}

pub fn execute(a: InitArgs) -> Result<()> {
    let (m, warnings) = new::init_project(&InitOptions {
        path: a.path.clone(),
        name: a.name,
        lang: a.lang.lang,
        force: a.force,
    })?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "     Created ebpf.toml for `{}` ({} programs found); build with `cargo ebpf build`",
        m.package.name,
        m.programs.len()
    );
    Ok(())
}
