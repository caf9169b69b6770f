//! The command list and its dispatch; each command's arguments and what it
//! does are in [`crate::commands`].

use clap::{Args, Parser, Subcommand};
use ebpf_cli::commands::{ImagesArgs, InspectArgs};

use crate::commands::{self as cmd};
use crate::commands::{
    build::BuildArgs,
    cluster::ClusterArgs,
    doctor::DoctorArgs,
    gen_cmd::GenCommand,
    images::{RmiArgs, TagArgs},
    init::InitArgs,
    login::{LoginArgs, LogoutArgs},
    new::NewArgs,
    package::PackageArgs,
    publish::PublishArgs,
    pull::PullArgs,
    run::RunArgs,
    search::SearchArgs,
    sign::{KeygenArgs, SignArgs},
};
use crate::error::Result;

/// `cargo ebpf ...` runs `cargo-ebpf ebpf ...`: the wrapper subcommand.
#[derive(Parser, Debug)]
#[command(bin_name = "cargo", version, styles = clap::builder::Styles::plain())]
pub enum CargoCli {
    Ebpf(Cli),
}

#[derive(Args, Debug)]
#[command(
    version,
    about = "Write, build, package and ship eBPF programs in C, Rust and Go"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a project from a template
    New(NewArgs),
    /// Write an ebpf.toml for existing eBPF sources in a directory
    Init(InitArgs),
    /// Build the kernel bytecode and the user space of the project
    Build(BuildArgs),
    /// Generate code from kernel BTF
    #[command(subcommand)]
    Gen(GenCommand),
    /// Check the tools cargo-ebpf needs, and install the missing ones with --fix
    Doctor(DoctorArgs),
    /// Build and package the project as an OCI image in the local store
    Package(PackageArgs),
    /// Package the project into the local store and run it with bpf-runtime (Ctrl-C stops and unloads it)
    Run(RunArgs),
    /// Show an image: programs, maps, variables, platforms, layers, kernel needs
    Inspect(InspectArgs),
    /// List the images of the local store
    Images(ImagesArgs),
    /// Give an image another tag (or copy one from a layout or archive into the store)
    Tag(TagArgs),
    /// Remove a tag from the local store, and the blobs no other tag uses
    Rmi(RmiArgs),
    /// Check and store credentials for a registry (in Docker's config.json)
    Login(LoginArgs),
    /// Remove the stored credentials of a registry
    Logout(LogoutArgs),
    /// Push the project's image (all platforms) from the local store to a registry
    Publish(PublishArgs),
    /// Fetch an image from a registry into the local store, verifying every digest
    Pull(PullArgs),
    /// List a registry's repositories, their tags, and which are eBPF packages
    Search(SearchArgs),
    /// Make a signing key pair (cosign's format: cosign reads it, and reads what it signs)
    Keygen(KeygenArgs),
    /// Sign an image of the local store (no registry needed); `publish` takes the signatures along
    Sign(SignArgs),
    /// Write a bpfman-operator ClusterBpfApplication (or BpfApplication) that loads an image on a cluster's nodes
    ClusterManifest(ClusterArgs),
}

/// Parses the process arguments; `cargo-ebpf new ...` works as well as
/// `cargo-ebpf ebpf new ...` (what `cargo ebpf new ...` runs). A bad
/// command line is one line on stderr and exit 2.
pub fn parse() -> Cli {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_none_or(|a| a != "ebpf") {
        args.insert(1, "ebpf".into());
    }
    let CargoCli::Ebpf(cli) = ebpf_cli::parse_args::<CargoCli>(args);
    cli
}

/// The whole program: parse, run, exit with the error's code. Both
/// `cargo-ebpf` and the end-to-end tests' copy of it (`e2e/`) are this.
pub fn main() {
    if let Err(e) = run(parse()) {
        ebpf_cli::message("error", &e);
        std::process::exit(e.exit_code());
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::New(a) => cmd::new::execute(a),
        Command::Init(a) => cmd::init::execute(a),
        Command::Build(a) => cmd::build::execute(a),
        Command::Gen(c) => cmd::gen_cmd::execute(c),
        Command::Doctor(a) => cmd::doctor::execute(a),
        Command::Package(a) => cmd::package::execute(a),
        Command::Run(a) => cmd::run::execute(a),
        Command::Inspect(a) => cmd::images::inspect(a),
        Command::Images(a) => cmd::images::list(a),
        Command::Tag(a) => cmd::images::tag(a),
        Command::Rmi(a) => cmd::images::rmi(a),
        Command::Login(a) => cmd::login::login(a),
        Command::Logout(a) => cmd::login::logout(a),
        Command::Publish(a) => cmd::publish::execute(a),
        Command::Pull(a) => cmd::pull::execute(a),
        Command::Search(a) => cmd::search::execute(a),
        Command::ClusterManifest(a) => cmd::cluster::execute(a),
        Command::Keygen(a) => cmd::sign::keygen(a),
        Command::Sign(a) => cmd::sign::sign(a),
    }
}

#[cfg(test)]
mod tests {
    /// clap's own checks of the whole command tree (unique names, ...),
    /// which otherwise run only when a command is parsed.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::CargoCli::command().debug_assert();
    }
}
