//! Command-line definitions and dispatch. Arguments are turned into the
//! library's option types here; no logic lives in the argument structs.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ebpf_kinds::ProgramType;

use crate::build::{self, BuildOptions};
use crate::error::{Error, Result};
use crate::lang::Language;
use crate::new::{self, InitOptions, NewOptions};
use crate::package::{self, PackageOptions};
use crate::templates::{self, Ci};
use crate::{doctor, fsutil, remote, run, vmlinux};
use ebpf_kinds::Arch;
use ebpf_oci::images;

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
}

/// How to reach a registry.
#[derive(Args, Debug)]
pub struct TransportArgs {
    /// PEM file of a private CA to trust (also: ca-file in the config)
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Speak plain HTTP to the registry (loopback registries without TLS need no flag)
    #[arg(long)]
    pub insecure: bool,
    /// Retries after a dropped connection, a timeout or a 5xx/429 answer
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub retries: u32,
}

impl TransportArgs {
    fn transport(&self) -> remote::Transport {
        remote::Transport {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
            retries: self.retries,
        }
    }
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// The registry: HOST or HOST:PORT (a repository path after it is ignored)
    pub registry: String,
    /// User name (asked on a terminal when missing)
    #[arg(long, short = 'u')]
    pub username: Option<String>,
    /// Read the password or token from standard input
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub transport: TransportArgs,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// The registry: HOST or HOST:PORT
    pub registry: String,
}

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// Where to push: REGISTRY/REPOSITORY:TAG (default: NAME:VERSION under the
    /// configured default registry)
    pub reference: Option<String>,
    /// Push this local image (tag, layout or archive) instead of the project's
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Print a JSON summary (digests, sizes, blobs uploaded and skipped) on stdout
    #[arg(long)]
    pub json: bool,
    /// Project directory (default: the current one or a parent with ebpf.toml)
    #[arg(long, short = 'C')]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub transport: TransportArgs,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST
    pub reference: String,
    /// From a multi-platform image, take this one (default: this machine's), e.g. linux/arm64
    #[arg(long, value_name = "OS/ARCH")]
    pub platform: Option<String>,
    /// Tag in the local store (default: the reference as written in full)
    #[arg(long, short = 't')]
    pub tag: Option<String>,
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub transport: TransportArgs,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// The registry (default: the configured one), then a term to look for in
    /// repository names and descriptions
    #[arg(value_name = "REGISTRY")]
    pub first: Option<String>,
    #[arg(value_name = "TERM")]
    pub second: Option<String>,
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// Where the local store is.
#[derive(Args, Debug)]
pub struct StoreArg {
    /// Local OCI layout store (default: $CARGO_EBPF_STORE, else /var/lib/cargo-ebpf/store
    /// for root, else ~/.local/share/cargo-ebpf/store)
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

impl StoreArg {
    fn path(&self) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(ebpf_oci::store::default_path)
    }
}

#[derive(Args, Debug)]
pub struct PackageArgs {
    /// Tag in the store (default: NAME:VERSION from ebpf.toml)
    #[arg(long, short = 't', value_name = "NAME:VERSION")]
    pub tag: Option<String>,
    /// Target architecture; repeat for a multi-platform image (default: this machine's)
    #[arg(long = "arch", value_name = "ARCH")]
    pub arches: Vec<String>,
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
    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,
    /// Project directory (default: the current one or a parent with ebpf.toml)
    #[arg(long, short = 'C')]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run this image (a tag, registry reference, layout or archive) instead of the project's
    #[arg(long, value_name = "REF")]
    pub image: Option<String>,
    /// Package the artifacts already built, without building
    #[arg(long)]
    pub no_build: bool,
    /// Project directory (default: the current one or a parent with ebpf.toml)
    #[arg(long, short = 'C')]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
    /// Options for `bpf-runtime run` (--iface, --set, --json, --duration, ...; see `bpf-runtime run --help`), then `--` and the user-space program's arguments
    #[arg(last = true, value_name = "RUNTIME ARGS")]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A tag in the store, an OCI layout directory (DIR or oci:DIR:TAG) or an
    /// oci-archive file (FILE or oci-archive:FILE:TAG)
    pub reference: String,
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Print JSON on stdout
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    /// The image: a tag in the store, a layout or an archive
    pub source: String,
    /// The new tag
    pub target: String,
    /// Replace an existing tag
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Tags to remove
    #[arg(required = true)]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// Directory to create; its last component names the project
    #[arg(required_unless_present = "list")]
    pub path: Option<PathBuf>,
    /// Project name (default: the directory's name)
    #[arg(long)]
    pub name: Option<String>,
    /// Language: c, rust or go (asked on a terminal when missing)
    #[arg(long, short = 'l')]
    pub lang: Option<String>,
    /// Program type, for example xdp, tracepoint, uprobe (see --list)
    #[arg(long = "type", short = 't')]
    pub ty: Option<String>,
    /// CI pipelines to add: github, gitee, both (default) or none
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
    Github,
    Gitee,
    Both,
    None,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Directory with the sources (default: the current one)
    #[arg(default_value = ".")]
    pub path: PathBuf,
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, short = 'l')]
    pub lang: Option<String>,
    /// Replace an existing ebpf.toml
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Optimize user space (the kernel side is always built with -O2)
    #[arg(long, short = 'r')]
    pub release: bool,
    /// Target architecture (default: this machine's)
    #[arg(long)]
    pub arch: Option<String>,
    /// human, or json: one JSON object per artifact and a final summary on stdout
    #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
    pub message_format: MessageFormat,
    /// Project directory (default: the current one or a parent with ebpf.toml)
    #[arg(long, short = 'C')]
    pub dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MessageFormat {
    Human,
    Json,
}

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
    #[arg(long)]
    pub arch: Option<String>,
    /// Rust bindings of these comma-separated types instead of a C header
    #[arg(long, value_delimiter = ',')]
    pub rust: Option<Vec<String>>,
    /// Output file (default: stdout)
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Install what is missing (apt or dnf)
    #[arg(long)]
    pub fix: bool,
    /// Print the checks as JSON
    #[arg(long)]
    pub json: bool,
}

/// Parses the process arguments; `cargo-ebpf new ...` works as well as
/// `cargo-ebpf ebpf new ...` (what `cargo ebpf new ...` runs).
pub fn parse() -> Cli {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_none_or(|a| a != "ebpf") {
        args.insert(1, "ebpf".into());
    }
    let CargoCli::Ebpf(cli) = CargoCli::parse_from(args);
    cli
}

fn parse_lang(s: &Option<String>) -> Result<Option<Language>> {
    s.as_deref().map(str::parse).transpose()
}

fn parse_type(s: &Option<String>) -> Result<Option<ProgramType>> {
    s.as_deref()
        .map(|t| {
            t.parse::<ProgramType>()
                .map_err(|e| Error::usage(format!("{e}; see `cargo ebpf new --list`")))
        })
        .transpose()
}

fn parse_arch(s: &Option<String>) -> Result<Arch> {
    s.as_deref()
        .map(|a| a.parse::<Arch>().map_err(Error::from))
        .transpose()
        .map(|a| a.unwrap_or_else(Arch::host))
}

/// A report as JSON on stdout: one line, or pretty.
fn out_json(value: &impl serde::Serialize, pretty: bool) {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    out(&format!("{}\n", text.expect("reports serialize")));
}

/// Writes data to stdout; a closed pipe ends quietly.
fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    if o.write_all(text.as_bytes())
        .and_then(|_| o.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::New(a) => cmd_new(a),
        Command::Init(a) => {
            let m = new::init_project(&InitOptions {
                path: a.path.clone(),
                name: a.name,
                lang: parse_lang(&a.lang)?,
                force: a.force,
            })?;
            eprintln!(
                "     Created ebpf.toml for `{}` ({} programs found); build with `cargo ebpf build`",
                m.package.name,
                m.programs.len()
            );
            Ok(())
        }
        Command::Build(a) => {
            let json = a.message_format == MessageFormat::Json;
            let dir = current_or(a.dir)?;
            let report = build::build(&BuildOptions {
                dir,
                arch: parse_arch(&a.arch)?,
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
        Command::Run(a) => {
            let never = run::run(&run::RunOptions {
                dir: current_or(a.dir)?,
                reference: a.image,
                build: !a.no_build,
                store: a.store.path(),
                args: a.args,
            })?;
            match never {}
        }
        Command::Package(a) => {
            let dir = current_or(a.dir)?;
            let arches = a
                .arches
                .iter()
                .map(|s| s.parse::<Arch>().map_err(Error::from))
                .collect::<Result<Vec<Arch>>>()?;
            let report = package::package(&PackageOptions {
                dir,
                arches,
                tag: a.tag,
                force: a.force,
                archive: a.archive,
                store: a.store.path(),
                build: !a.no_build,
                object: a.object,
                progress: true,
            })?;
            if a.json {
                out_json(&report, false);
            } else {
                for p in &report.platforms {
                    let oci = ebpf_oci::format::oci_arch(&p.arch).unwrap_or("?");
                    eprintln!(
                        "{:>12} linux/{oci} {} ({})",
                        "",
                        p.manifest,
                        images::human_size(p.size)
                    );
                }
                if let Some(ar) = &report.archive {
                    eprintln!(
                        "{:>12} {} ({})",
                        "Archived",
                        ar.path.display(),
                        images::human_size(ar.size)
                    );
                }
                out(&format!("{}\n", report.tag));
            }
            Ok(())
        }
        Command::Inspect(a) => {
            let i = images::inspect(&a.reference, &a.store.path())?;
            if a.json {
                out_json(&i, true);
            } else {
                out(&images::render_inspection(&i));
            }
            Ok(())
        }
        Command::Images(a) => {
            let rows = images::list(&a.store.path())?;
            if a.json {
                out_json(&rows, true);
            } else {
                out(&images::render_list(&rows));
            }
            Ok(())
        }
        Command::Tag(a) => {
            let digest = images::tag(&a.source, &a.target, a.force, &a.store.path())?;
            eprintln!("{:>12} {} ({digest})", "Tagged", a.target);
            Ok(())
        }
        Command::Rmi(a) => {
            let store = a.store.path();
            for t in &a.tags {
                let removed = images::remove(t, &store)?;
                eprintln!("{:>12} {t} ({removed} blobs freed)", "Removed");
            }
            Ok(())
        }
        Command::Login(a) => {
            let kept = remote::login(&remote::LoginOptions {
                registry: a.registry.clone(),
                username: a.username,
                password_stdin: a.password_stdin,
                transport: a.transport.transport(),
            })?;
            eprintln!(
                "{:>12} {} (credentials stored in {kept})",
                "Logged in",
                remote::registry_host(&a.registry)?
            );
            Ok(())
        }
        Command::Logout(a) => {
            match remote::logout(&a.registry)? {
                Some(kept) => {
                    eprintln!("{:>12} {} (removed from {kept})", "Logged out", a.registry)
                }
                None => eprintln!("not logged in to {}", a.registry),
            }
            Ok(())
        }
        Command::Publish(a) => {
            let report = remote::publish(&remote::PublishOptions {
                reference: a.reference,
                image: a.image,
                dir: current_or(a.dir)?,
                store: a.store.path(),
                transport: a.transport.transport(),
                progress: !a.json,
            })?;
            if a.json {
                out_json(&report, false);
            } else {
                eprint!("{}", remote::render_push(&report));
                out(&format!("{}@{}\n", report.reference, report.digest));
            }
            Ok(())
        }
        Command::Pull(a) => {
            let report = remote::pull(&remote::PullOptions {
                reference: a.reference,
                platform: a.platform,
                tag: a.tag,
                store: a.store.path(),
                transport: a.transport.transport(),
                progress: !a.json,
            })?;
            if a.json {
                out_json(&report, false);
            } else {
                eprint!("{}", remote::render_pull(&report));
                if report.platform != ebpf_oci::registry::host_platform() {
                    eprintln!(
                        "warning: {} is for {}; this machine is {}",
                        report.reference,
                        report.platform,
                        ebpf_oci::registry::host_platform()
                    );
                }
                out(&format!("{}\n", report.tag));
            }
            Ok(())
        }
        Command::Search(a) => {
            let rows = remote::search(
                a.first.as_deref(),
                a.second.as_deref(),
                &a.transport.transport(),
            )?;
            if a.json {
                out_json(&rows, true);
            } else {
                out(&remote::render_search(&rows));
            }
            Ok(())
        }
        Command::Gen(GenCommand::Vmlinux(a)) => {
            let btf = vmlinux::btf_source(a.btf.as_deref())?;
            let _ = parse_arch(&a.arch)?;
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
        Command::Doctor(a) => {
            let checks = doctor::checks();
            if a.json {
                out_json(&checks, true);
            } else {
                let mut text = String::new();
                for c in &checks {
                    let state = match &c.found {
                        Some(p) => format!("ok       {p}"),
                        None => format!(
                            "MISSING  {} | {}",
                            c.tool.debian_install(),
                            c.tool.fedora_install()
                        ),
                    };
                    text.push_str(&format!(
                        "{:<16} {:<5} {state}\n",
                        c.tool.name, c.tool.group
                    ));
                }
                out(&text);
            }
            let missing = checks.iter().filter(|c| c.found.is_none()).count();
            if a.fix && missing > 0 {
                let n = doctor::fix(&checks)?;
                eprintln!("       Fixed {n} tools");
            } else if missing > 0 {
                eprintln!("{missing} tools missing; `cargo ebpf doctor --fix` installs them");
            }
            Ok(())
        }
    }
}

/// `dir`, or the current directory.
fn current_or(dir: Option<PathBuf>) -> Result<PathBuf> {
    match dir {
        Some(d) => Ok(d),
        None => std::env::current_dir().map_err(Error::io("read", "the current directory")),
    }
}

fn cmd_new(a: NewArgs) -> Result<()> {
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
        lang: parse_lang(&a.lang)?,
        ty: parse_type(&a.ty)?,
        ci,
        force: a.force,
    })?;
    eprintln!("     Created {} ({} files)", path.display(), files.len());
    eprintln!("  Next steps: cd {} && cargo ebpf build", path.display());
    Ok(())
}
