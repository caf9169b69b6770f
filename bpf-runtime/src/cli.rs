//! The command list and its dispatch for `bpf-runtime`; each command's
//! arguments and what it does are in [`crate::commands`].

use clap::{Parser, Subcommand};
use ebpf_cli::commands::{ImagesArgs, InspectArgs};

use crate::commands::{
    self as cmd, images::PullArgs, list::ListArgs, load::LoadArgs, run::RunArgs, unload::UnloadArgs,
};
use crate::error::Result;

#[derive(Parser, Debug)]
#[command(
    name = "bpf-runtime",
    version,
    about = "Pull, verify, load, attach and show packaged eBPF programs; leave nothing behind"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load and attach a package, show its output until Ctrl-C (or --duration), then remove it all
    Run(Box<RunArgs>),
    /// Load, attach and pin a package, then exit; it stays until `unload`
    Load(Box<LoadArgs>),
    /// What the runtime has loaded: packages, programs, attach points, ids, since when
    List(ListArgs),
    /// Detach and unload a package loaded with `load` (or stop a `run`), by name or program id
    Unload(UnloadArgs),
    /// Remove what killed or crashed runtimes left behind
    Gc,
    /// What this kernel offers that packages may need (the checks `run` makes before loading)
    Features(ListArgs),
    /// Fetch an image from a registry into the local store
    Pull(PullArgs),
    /// List the images of the local store
    Images(ImagesArgs),
    /// Show an image's platforms, layers, programs, maps, variables and kernel needs
    Inspect(InspectArgs),
}

/// Parses the process arguments; a bad command line is one line on stderr
/// and exit 2.
pub fn parse() -> Cli {
    ebpf_cli::parse_args(std::env::args_os())
}

/// The whole program: parse, run, exit with the command's code. Both
/// `bpf-runtime` and the end-to-end tests' copy of it (`e2e/`) are this.
pub fn main() -> ! {
    match run(parse()) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            ebpf_cli::message("error", &e);
            std::process::exit(e.exit_code());
        }
    }
}

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(a) => cmd::run::execute(*a),
        Command::Load(a) => cmd::load::execute(*a),
        Command::List(a) => cmd::list::execute(a),
        Command::Unload(a) => cmd::unload::unload(a),
        Command::Gc => cmd::unload::gc(),
        Command::Features(a) => cmd::features::execute(a),
        Command::Pull(a) => cmd::images::pull(a),
        Command::Images(a) => cmd::images::list(a),
        Command::Inspect(a) => cmd::images::inspect(a),
    }
}

#[cfg(test)]
mod tests {
    /// clap's own checks of the whole command tree (unique names, ...),
    /// which otherwise run only when a command is parsed.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
