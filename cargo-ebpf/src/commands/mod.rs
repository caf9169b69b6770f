//! One module per command: its arguments, what it runs, and what it prints.
//! Argument structs hold no logic; each `execute` turns them into the
//! library's options, runs, and renders the report.

pub mod build;
pub mod cluster;
pub mod doctor;
pub mod gen_cmd;
pub mod images;
pub mod init;
pub mod login;
pub mod new;
pub mod package;
pub mod publish;
pub mod pull;
pub mod run;
pub mod search;
pub mod sign;

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};

/// Which project: `-C DIR`, else the current directory (or a parent with
/// ebpf.toml, as the library looks).
#[derive(Args, Debug, Clone, Default)]
pub struct ProjectDir {
    /// Project directory (default: the current one or a parent with ebpf.toml)
    #[arg(id = "project_dir", long = "dir", short = 'C', value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl ProjectDir {
    /// The directory, absolute: a relative `-C DIR` is taken from the
    /// current directory, so that later steps that change directory still
    /// find it.
    pub fn path(&self) -> Result<PathBuf> {
        let cwd = || std::env::current_dir().map_err(Error::io("read", "the current directory"));
        match &self.dir {
            Some(d) if d.is_absolute() => Ok(d.clone()),
            Some(d) => Ok(cwd()?.join(d)),
            None => cwd(),
        }
    }
}
