//! `cargo ebpf new`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use ebpf_cli::out;
use ebpf_kinds::ProgramType;

use crate::error::Result;
use crate::lang::Language;
use crate::new::{self, NewOptions};
use crate::templates::{self, Ci};

/// `--lang`, shared by `new` and `init`.
#[derive(Args, Debug, Clone, Default)]
pub struct LangArg {
    /// Language (asked on a terminal when missing)
    #[arg(long = "lang", short = 'l', value_enum, ignore_case = true)]
    pub lang: Option<Language>,
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// Directory to create; its last component names the project
    #[arg(required_unless_present = "list")]
    pub path: Option<PathBuf>,
    /// Project name (default: the directory's name)
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub lang: LangArg,
    /// Program type (see --list)
    #[arg(long = "type", short = 't', value_enum, value_name = "TYPE")]
    pub ty: Option<ProgramType>,
    /// CI pipelines to add
    #[arg(long, value_enum, default_value_t = CiChoice::Both)]
    pub ci: CiChoice,
    /// Write into an existing non-empty directory
    #[arg(long)]
    pub force: bool,
    /// List languages and program types, one line each
    #[arg(long)]
    pub list: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CiChoice {
    /// GitHub Actions
    Github,
    /// Gitee Go
    Gitee,
    /// Both
    Both,
    None,
}

pub fn execute(a: NewArgs) -> Result<()> {
    if a.list {
        let mut text = String::new();
        for (lang, ty, status) in templates::list() {
            match status {
                Ok(summary) => {
                    text.push_str(&format!("{:<5} {:<15} {summary}\n", lang.name(), ty.name()))
                }
                Err(why) => text.push_str(&format!(
                    "{:<5} {:<15} unavailable: {why}\n",
                    lang.name(),
                    ty.name()
                )),
            }
        }
        out(&text);
        return Ok(());
    }
    let path = a.path.expect("clap requires PATH without --list");
    let ci = Ci {
        github: matches!(a.ci, CiChoice::Github | CiChoice::Both),
        gitee: matches!(a.ci, CiChoice::Gitee | CiChoice::Both),
    };
    let files = new::new_project(&NewOptions {
        path: path.clone(),
        name: a.name,
        lang: a.lang.lang,
        ty: a.ty,
        ci,
        force: a.force,
    })?;
    eprintln!("     Created {} ({} files)", path.display(), files.len());
    eprintln!("  Next steps: cd {} && cargo ebpf build", path.display());
    Ok(())
}
