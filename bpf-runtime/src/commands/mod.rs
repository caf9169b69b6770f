//! One module per command: its arguments, what it runs, and what it prints.

pub mod features;
pub mod images;
pub mod list;
pub mod load;
pub mod run;
pub mod unload;

use std::path::PathBuf;

use clap::Args;
use ebpf_cli::{PolicyArgs, StoreArgs, TransportArgs};
use ebpf_kinds::{AttachArg, Direction};

use crate::attach::{self, AttachFlags, AttachOptions, XdpAttachMode};
use crate::error::{Result, RuntimeError};
use crate::kernel::Host;
use crate::package::{self, OpenedPackage, PullPolicy};

/// What to load and how to attach it: shared by `run` and `load`. The
/// attach flags' help is made from the program-type table.
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
    pub symbol: Vec<String>,
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
    pub store: StoreArgs,
    #[command(flatten)]
    pub transport: TransportArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Run without checking signatures against the trust policy (development only)
    #[arg(long)]
    pub insecure_skip_verify: bool,
}

impl TargetArgs {
    fn flags(&self) -> Result<AttachFlags> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        Ok(AttachFlags::default()
            .with(AttachArg::Iface, self.iface.as_ref())
            .with(AttachArg::Direction, self.direction)
            .with(AttachArg::Cgroup, path(&self.cgroup))
            .with(AttachArg::Binary, path(&self.binary))
            .with(AttachArg::Pid, self.pid)
            .with(AttachArg::Frequency, self.frequency)
            .with_each(AttachArg::Symbol, &self.symbol)?)
    }
}

/// What the package will be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// `run`: it may run its own user space.
    Run,
    /// `load`: the runtime loads and pins its programs, then exits.
    Load,
}

/// How a prepared package runs.
enum Plan {
    /// The runtime loads and attaches its programs.
    Programs(AttachOptions),
    /// It runs its own user space, given these attach arguments.
    UserSpace(AttachFlags),
}

/// Opens the package and checks the kernel can run it.
fn prepare(t: TargetArgs, purpose: Purpose) -> Result<(OpenedPackage, Plan)> {
    let verify = package::Verify {
        policy: t.policy.load()?,
        skip: t.insecure_skip_verify,
    };
    let pkg = package::open(
        &t.reference,
        &t.store.path(),
        t.pull,
        &t.transport.options(),
        !t.no_userspace,
        Some(&verify),
    )?;
    let flags = t.flags()?;
    flags.check_programs(&pkg.object.programs)?;
    if pkg.userspace.is_some() {
        if !t.sets.is_empty() {
            return Err(RuntimeError::usage(
                "--set applies to programs bpf-runtime loads; this package runs its own user space (pass its options after --, or use --no-userspace)",
            ));
        }
        if purpose == Purpose::Load {
            return Err(RuntimeError::usage(format!(
                "{} runs its own user space, which `load` cannot keep running; use `bpf-runtime run` (or --no-userspace to load its programs alone)",
                pkg.name
            )));
        }
        return Ok((pkg, Plan::UserSpace(flags)));
    }
    Host::probe().check(&pkg.reference, &pkg.object)?;
    let sets = t
        .sets
        .iter()
        .map(|s| attach::parse_set(s))
        .collect::<Result<Vec<_>>>()?;
    let opts = AttachOptions {
        flags,
        xdp_mode: t.xdp_mode,
        sets,
    };
    Ok((pkg, Plan::Programs(opts)))
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
