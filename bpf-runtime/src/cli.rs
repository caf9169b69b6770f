//! Command-line definitions and dispatch for `bpf-runtime`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::attach::{self, AttachOptions, XdpAttachMode};
use crate::error::{Result, RuntimeError};
use crate::kernel::Host;
use crate::output::{self, OutputOptions};
use crate::package::{self, PullPolicy};
use crate::userspace;

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
    /// Fetch an image from a registry into the local store
    Pull(PullArgs),
}

#[derive(Args, Debug, Clone)]
pub struct TransportArgs {
    /// PEM file of a private CA to trust
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Speak plain HTTP to the registry
    #[arg(long)]
    pub insecure: bool,
}

impl TransportArgs {
    fn options(&self) -> ebpf_oci::registry::Options {
        ebpf_oci::registry::Options {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
            ..ebpf_oci::registry::Options::new()
        }
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// A tag in the store, a registry reference, an OCI layout, an oci-archive, or a .o file
    pub reference: String,
    /// Network interface (xdp, tc, socket_filter)
    #[arg(long)]
    pub iface: Option<String>,
    /// ingress or egress (tc, cgroup_skb)
    #[arg(long)]
    pub direction: Option<String>,
    /// cgroup v2 directory (cgroup_skb)
    #[arg(long)]
    pub cgroup: Option<PathBuf>,
    /// Executable or library to probe (uprobe)
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Function to probe (uprobe, kprobe)
    #[arg(long)]
    pub symbol: Option<String>,
    /// Only this process (uprobe)
    #[arg(long)]
    pub pid: Option<u32>,
    /// Sampling frequency in Hz (perf_event)
    #[arg(long)]
    pub frequency: Option<u64>,
    /// XDP attach mode
    #[arg(long, value_enum, default_value_t = XdpAttachMode::Auto)]
    pub xdp_mode: XdpAttachMode,
    /// Set a read-only variable of the program before it loads (see `inspect`)
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Print JSON lines instead of a table
    #[arg(long)]
    pub json: bool,
    /// Stop after this long (10s, 1m, ...)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// How often counters are printed
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub interval: Duration,
    /// When to fetch a registry reference
    #[arg(long, value_enum, default_value_t = PullPolicy::IfNotPresent)]
    pub pull: PullPolicy,
    /// Load the programs here even when the package has its own user space
    #[arg(long)]
    pub no_userspace: bool,
    /// Local OCI layout store (default: $CARGO_EBPF_STORE, else /var/lib/cargo-ebpf/store for root)
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    #[command(flatten)]
    pub transport: TransportArgs,
    /// Arguments for the package's user-space program
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST
    pub reference: String,
    /// Local OCI layout store
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    #[command(flatten)]
    pub transport: TransportArgs,
}

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(a) => cmd_run(*a),
        Command::Pull(a) => {
            let store = a.store.unwrap_or_else(package::default_store);
            let pkg = package::open(
                &a.reference,
                &store,
                PullPolicy::Always,
                &a.transport.options(),
            )?;
            println!("{}", a.reference);
            eprintln!(
                "{} {} ({} programs)",
                pkg.name,
                pkg.version,
                pkg.object.programs.len()
            );
            Ok(0)
        }
    }
}

fn cmd_run(a: RunArgs) -> Result<i32> {
    let store = a.store.clone().unwrap_or_else(package::default_store);
    let pkg = package::open(&a.reference, &store, a.pull, &a.transport.options())?;
    if pkg.userspace.is_some() && !a.no_userspace {
        if !a.sets.is_empty() {
            return Err(RuntimeError::usage(
                "--set applies to programs bpf-runtime loads; this package runs its own user space (pass its options after --, or use --no-userspace)",
            ));
        }
        return userspace::run(&pkg, &a.args, a.duration);
    }
    let host = Host::probe();
    host.check(&pkg.reference, &pkg.object)?;
    let sets = a
        .sets
        .iter()
        .map(|s| attach::parse_set(s))
        .collect::<Result<Vec<_>>>()?;
    let opts = AttachOptions {
        iface: a.iface,
        direction: a.direction,
        cgroup: a.cgroup,
        binary: a.binary,
        symbol: a.symbol,
        pid: a.pid,
        frequency: a.frequency,
        xdp_mode: a.xdp_mode,
        sets,
    };
    // Signals only set a flag: the loop below notices, and everything is
    // detached and unloaded on the way out.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| RuntimeError::kernel("install signal handlers", e))?;
    }
    let started = std::time::Instant::now();
    let mut loaded = attach::load(&pkg, &opts)?;
    let attached_in = started.elapsed();
    for at in &loaded.attached {
        if a.json {
            eprintln!(
                "{}",
                serde_json::json!({"attached": at, "package": pkg.name, "ms": attached_in.as_secs_f64() * 1000.0})
            );
        } else {
            eprintln!(
                "attached {} ({}) to {}{}",
                at.program,
                at.ty.name(),
                at.point,
                at.id.map(|i| format!(", id {i}")).unwrap_or_default()
            );
        }
    }
    if !a.json {
        eprintln!(
            "{} attached in {:.1} ms; Ctrl-C to stop",
            pkg.name,
            attached_in.as_secs_f64() * 1000.0
        );
    }
    let seen = output::show(
        &mut loaded,
        &pkg.object,
        &OutputOptions {
            json: a.json,
            interval: a.interval,
            duration: a.duration,
        },
        &stop,
    )?;
    drop(loaded);
    if !a.json {
        eprintln!(
            "detached and unloaded {} ({} events{})",
            pkg.name,
            seen.events,
            if seen.lost > 0 {
                format!(", {} lost", seen.lost)
            } else {
                String::new()
            }
        );
    }
    Ok(0)
}
