//! Command-line definitions and dispatch for `bpf-runtime`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use ebpf_oci::images;

use crate::attach::{self, AttachFlags, AttachOptions, XdpAttachMode};
use crate::error::{Result, RuntimeError};
use crate::kernel::Host;
use crate::output::{self, OutputOptions};
use crate::package::{self, PullPolicy};
use crate::records::{self, Held, Places, Record};
use crate::userspace;
use ebpf_kinds::{AttachArg, Direction};

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

/// What to load and how to attach it: shared by `run` and `load`.
#[derive(Args, Debug)]
pub struct TargetArgs {
    /// A tag in the store, a registry reference, an OCI layout, an oci-archive, or a .o file
    pub reference: String,
    #[arg(long, value_name = AttachArg::Iface.value_name(), help = AttachArg::Iface.help())]
    pub iface: Option<String>,
    #[arg(long, value_enum, help = AttachArg::Direction.help())]
    pub direction: Option<Direction>,
    #[arg(long, value_name = AttachArg::Cgroup.value_name(), help = AttachArg::Cgroup.help())]
    pub cgroup: Option<PathBuf>,
    #[arg(long, value_name = AttachArg::Binary.value_name(), help = AttachArg::Binary.help())]
    pub binary: Option<PathBuf>,
    #[arg(long, value_name = AttachArg::Symbol.value_name(), help = AttachArg::Symbol.help())]
    pub symbol: Option<String>,
    #[arg(long, value_name = AttachArg::Pid.value_name(), help = AttachArg::Pid.help())]
    pub pid: Option<u32>,
    #[arg(long, value_name = AttachArg::Frequency.value_name(), help = AttachArg::Frequency.help(),
          value_parser = clap::value_parser!(u64).range(1..))]
    pub frequency: Option<u64>,
    /// XDP attach mode
    #[arg(long, value_enum, default_value_t = XdpAttachMode::Auto)]
    pub xdp_mode: XdpAttachMode,
    /// Set a read-only variable of the program before it loads (see `inspect`)
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// When to fetch a registry reference
    #[arg(long, value_enum, default_value_t = PullPolicy::IfNotPresent)]
    pub pull: PullPolicy,
    /// Load the programs here even when the package has its own user space
    #[arg(long)]
    pub no_userspace: bool,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub transport: TransportArgs,
}

#[derive(Args, Debug, Clone)]
pub struct StoreArg {
    /// Local OCI layout store (default: $CARGO_EBPF_STORE, else /var/lib/cargo-ebpf/store for root)
    #[arg(long = "store", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl StoreArg {
    fn path(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(package::default_store)
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON lines instead of a table
    #[arg(long)]
    pub json: bool,
    /// Stop after this long (10s, 1m, ...)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// How often counters are printed
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1s")]
    pub interval: Duration,
    /// Arguments for the package's user-space program
    #[arg(last = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The name to unload it by (default: the package's name)
    #[arg(long)]
    pub name: Option<String>,
    /// Print the record as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct UnloadArgs {
    /// The name `list` shows, or the id of one of its programs
    pub what: String,
}

#[derive(Args, Debug)]
pub struct PullArgs {
    /// REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST
    pub reference: String,
    #[command(flatten)]
    pub store: StoreArg,
    #[command(flatten)]
    pub transport: TransportArgs,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A tag in the store, an OCI layout directory, or an oci-archive
    pub reference: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArg,
}

fn print_json(v: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).expect("reports serialize")
    );
}

/// Runs the command; returns the process exit code.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(a) => cmd_run(*a),
        Command::Load(a) => cmd_load(*a),
        Command::List(a) => {
            let records = records::list(&Places::from_env())?;
            if a.json {
                let v: Vec<_> = records
                    .iter()
                    .map(|r| {
                        let mut v = serde_json::to_value(r).expect("records serialize");
                        v["alive"] = r.alive().into();
                        v
                    })
                    .collect();
                print_json(&v);
            } else if records.is_empty() {
                eprintln!("nothing loaded");
            } else {
                print!("{}", render_records(&records));
            }
            Ok(0)
        }
        Command::Unload(a) => {
            let r = records::unload(&Places::from_env(), &a.what)?;
            eprintln!(
                "unloaded {} ({} programs, {} maps; nothing of it remains in the kernel)",
                r.name,
                r.programs.len(),
                r.maps.len()
            );
            Ok(0)
        }
        Command::Gc => {
            let done = records::gc(&Places::from_env())?;
            for line in &done {
                println!("{line}");
            }
            if done.is_empty() {
                eprintln!("nothing to clean up");
            }
            Ok(0)
        }
        Command::Features(a) => {
            let host = Host::probe();
            let features = host.features();
            if a.json {
                print_json(&serde_json::json!({
                    "release": host.release,
                    "arch": std::env::consts::ARCH,
                    "features": features,
                }));
            } else {
                println!("Linux {} ({})", host.release, std::env::consts::ARCH);
                for f in &features {
                    let state = match (f.present, f.certain) {
                        (true, true) => "yes",
                        (true, false) => "yes (new enough; known for sure only on load)",
                        (false, _) => "no",
                    };
                    println!("  {:<64} {state}", f.describe);
                }
            }
            Ok(0)
        }
        Command::Pull(a) => {
            let pkg = package::open(
                &a.reference,
                &a.store.path(),
                PullPolicy::Always,
                &a.transport.options(),
                false,
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
        Command::Images(a) => {
            let rows = images::list(&a.store.path())?;
            if a.json {
                print_json(&rows);
            } else {
                print!("{}", images::render_list(&rows));
            }
            Ok(0)
        }
        Command::Inspect(a) => {
            let i = images::inspect(&a.reference, &a.store.path())?;
            if a.json {
                print_json(&i);
            } else {
                print!("{}", images::render_inspection(&i));
            }
            Ok(0)
        }
    }
}

/// The table `list` prints: one row per program.
fn render_records(records: &[Record]) -> String {
    use std::fmt::Write as _;
    let mut rows = vec![[
        "NAME".to_string(),
        "PACKAGE".into(),
        "PROGRAM".into(),
        "ATTACHED TO".into(),
        "ID".into(),
        "SINCE".into(),
        "HELD BY".into(),
    ]];
    for r in records {
        let held = match (&r.held, r.alive()) {
            (Held::Pins { dir }, true) => format!("pins {}", dir.display()),
            (Held::Process { pid, .. }, true) => format!("run, pid {pid}"),
            (Held::Pins { .. }, false) => "pins gone (run gc)".into(),
            (Held::Process { pid, .. }, false) => format!("pid {pid} gone (run gc)"),
        };
        for a in &r.programs {
            rows.push([
                r.name.clone(),
                format!("{}:{}", r.package, r.version),
                a.program.clone(),
                a.point.to_string(),
                a.id.map(|i| i.to_string()).unwrap_or_default(),
                r.since.clone(),
                held.clone(),
            ]);
        }
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut s = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (c, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ");
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// Opens the package and checks the kernel can run it; `None` when it runs
/// its own user space instead (and `run` should start that).
fn prepare(t: TargetArgs, verb: &str) -> Result<(package::Package, Option<AttachOptions>)> {
    let pkg = package::open(
        &t.reference,
        &t.store.path(),
        t.pull,
        &t.transport.options(),
        !t.no_userspace,
    )?;
    if pkg.userspace.is_some() {
        if !t.sets.is_empty() {
            return Err(RuntimeError::usage(
                "--set applies to programs bpf-runtime loads; this package runs its own user space (pass its options after --, or use --no-userspace)",
            ));
        }
        if verb == "load" {
            return Err(RuntimeError::usage(format!(
                "{} runs its own user space, which `load` cannot keep running; use `bpf-runtime run` (or --no-userspace to load its programs alone)",
                pkg.name
            )));
        }
        return Ok((pkg, None));
    }
    Host::probe().check(&pkg.reference, &pkg.object)?;
    let sets = t
        .sets
        .iter()
        .map(|s| attach::parse_set(s))
        .collect::<Result<Vec<_>>>()?;
    let flags = AttachFlags::default()
        .with(AttachArg::Iface, t.iface)
        .with(AttachArg::Direction, t.direction)
        .with(AttachArg::Cgroup, t.cgroup.map(|c| c.display().to_string()))
        .with(AttachArg::Binary, t.binary.map(|b| b.display().to_string()))
        .with(AttachArg::Symbol, t.symbol)
        .with(AttachArg::Pid, t.pid)
        .with(AttachArg::Frequency, t.frequency);
    let opts = AttachOptions {
        flags,
        xdp_mode: t.xdp_mode,
        sets,
    };
    Ok((pkg, Some(opts)))
}

/// One line per attached program: text, or JSON with the time it took.
fn print_attached(attached: &[attach::Attached], package: &str, json: bool, ms: f64) {
    for at in attached {
        if json {
            eprintln!(
                "{}",
                serde_json::json!({"attached": at, "package": package, "ms": ms})
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
}

fn cmd_load(a: LoadArgs) -> Result<i32> {
    let (pkg, opts) = prepare(a.target, "load")?;
    let opts = opts.expect("load refuses packages with user space");
    let name = a.name.unwrap_or_else(|| pkg.name.clone());
    let places = Places::from_env();
    records::check_free(&places, &name)?;
    let started = std::time::Instant::now();
    let loaded = attach::load(&pkg, &opts)?;
    let record = records::pin(&places, &name, &pkg, &loaded)?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // The pins now hold everything; dropping `loaded` only closes our
    // descriptors.
    drop(loaded);
    if a.json {
        print_json(&record);
    } else {
        print_attached(&record.programs, &pkg.name, false, ms);
        eprintln!(
            "loaded {name} in {ms:.1} ms; pinned under {}; `bpf-runtime unload {name}` removes it",
            places.bpffs.join(&name).display()
        );
        println!("{name}");
    }
    Ok(0)
}

fn cmd_run(a: RunArgs) -> Result<i32> {
    let (pkg, opts) = prepare(a.target, "run")?;
    let Some(opts) = opts else {
        return userspace::run(&pkg, &a.args, a.duration);
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
    let attached_in = started.elapsed().as_secs_f64() * 1000.0;
    // Without a record `list` cannot show this run; it still runs.
    let record = records::record_run(&Places::from_env(), &pkg, &loaded)
        .map_err(|e| eprintln!("warning: this run is not recorded for `list` and `gc`: {e}"))
        .ok();
    print_attached(&loaded.attached, &pkg.name, a.json, attached_in);
    if !a.json {
        eprintln!(
            "{} attached in {attached_in:.1} ms; Ctrl-C to stop",
            pkg.name
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
    drop(record);
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
