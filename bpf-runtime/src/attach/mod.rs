//! Loading a package's bytecode and attaching every program by its type.
//! Objects with BTF-defined maps (libbpf, bpf2go, clang-built C) load with
//! libbpf ([`libbpf`]); objects aya built (the legacy `maps` section) with
//! aya ([`aya`]); docs/architecture.md says why. Both hand back a
//! [`Loaded`]: the maps as aya [`Map`]s (one output code for both), the
//! programs attached, and what holds them, which detaches and unloads it
//! all when dropped.

mod aya;
mod libbpf;
mod net;

use std::os::fd::OwnedFd;

use ::aya::maps::Map;
use ebpf_kinds::{AttachPoint, ProgramType};
use serde::{Deserialize, Serialize};

pub use ebpf_object::attach::{AttachFlags, ProgramArgs};

use crate::error::{Result, RuntimeError};
use crate::package::OpenedPackage;

/// How XDP programs attach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum XdpAttachMode {
    /// The driver's native mode when it has one, else generic.
    #[default]
    Auto,
    /// Generic (skb) mode: every interface has it.
    Skb,
    /// Native (driver) mode.
    Native,
}

/// How to load and attach a package: the command line's attach arguments,
/// the XDP mode and the variables to set.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub flags: AttachFlags,
    pub xdp_mode: XdpAttachMode,
    /// `--set NAME=VALUE` for `.rodata` variables.
    pub sets: Vec<(String, String)>,
}

/// One program attached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attached {
    pub program: String,
    #[serde(rename = "type")]
    pub ty: ProgramType,
    /// Where: `xdp lo`, `tracepoint sched/sched_process_exec`, ...
    pub point: AttachPoint,
    /// The kernel's program id.
    pub id: Option<u32>,
    /// The kernel's ids of the `bpf_link`s that attach it; empty where the
    /// kernel attached it another way (netlink, perf event ioctl, a socket).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<u32>,
}

/// A loaded, attached package. Fields drop in order: the maps and sockets
/// close before what holds the programs and links goes.
pub struct Loaded {
    pub attached: Vec<Attached>,
    /// The object's maps by name (its internal `.rodata`-style ones too);
    /// [`Loaded::take_map`] moves one out.
    maps: Vec<(String, Option<Map>)>,
    /// Sockets socket filters are attached to; closed on drop.
    _sockets: Vec<OwnedFd>,
    _backing: Backing,
}

/// What keeps the programs loaded and attached.
enum Backing {
    Aya(#[allow(dead_code)] ::aya::Ebpf),
    Libbpf(#[allow(dead_code)] libbpf::Held),
}

impl Loaded {
    fn new(
        mut attached: Vec<Attached>,
        maps: Vec<(String, Map)>,
        sockets: Vec<OwnedFd>,
        backing: Backing,
    ) -> Loaded {
        find_links(&mut attached);
        Loaded {
            attached,
            maps: maps.into_iter().map(|(n, m)| (n, Some(m))).collect(),
            _sockets: sockets,
            _backing: backing,
        }
    }

    /// Map `name`, unless it was taken.
    pub fn map(&self, name: &str) -> Option<&Map> {
        self.maps
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, m)| m.as_ref())
    }

    /// Moves map `name` out, for readers that own their map.
    pub fn take_map(&mut self, name: &str) -> Option<Map> {
        self.maps
            .iter_mut()
            .find(|(n, _)| n == name)
            .and_then(|(_, m)| m.take())
    }
}

/// The two loaders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loader {
    Libbpf,
    Aya,
}

impl Loader {
    /// The loader for `bytecode`: aya for objects with a legacy `maps`
    /// section (aya builds them; libbpf 1.0 dropped that section), libbpf
    /// for the rest. `BPF_RUNTIME_LOADER=aya|libbpf` overrides it, to
    /// compare the two.
    pub fn for_object(bytecode: &[u8]) -> Result<Loader> {
        match std::env::var("BPF_RUNTIME_LOADER").as_deref() {
            Ok("aya") => return Ok(Loader::Aya),
            Ok("libbpf") => return Ok(Loader::Libbpf),
            Ok(other) if !other.is_empty() => {
                return Err(RuntimeError::usage(format!(
                    "BPF_RUNTIME_LOADER={other}: give `aya` or `libbpf`, or leave it unset"
                )));
            }
            _ => {}
        }
        Ok(if ebpf_object::has_legacy_maps(bytecode) {
            Loader::Aya
        } else {
            Loader::Libbpf
        })
    }
}

/// Parses `NAME=VALUE`.
pub fn parse_set(s: &str) -> Result<(String, String)> {
    Ok(ebpf_object::attach::parse_set(s)?)
}

/// The verifier's last lines: where it stopped and why.
fn verifier_tail(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(6);
    lines[start..].join(" | ")
}

/// Lifts the locked-memory limit: kernels before 5.11 charge maps and
/// programs to RLIMIT_MEMLOCK (64 KiB by default on many distributions,
/// openEuler 20.03 and 22.03 among them); later kernels ignore it.
fn raise_memlock() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads a valid struct. Failing is not fatal: the
    // kernel's error on load then says what ran out.
    unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) };
}

/// Loads the package's bytecode, sets its variables, and attaches every
/// program, with the loader [`Loader::for_object`] picks.
pub fn load(pkg: &OpenedPackage, opts: &AttachOptions) -> Result<Loaded> {
    raise_memlock();
    let values = pkg.object.encode_sets(&pkg.name, &opts.sets)?;
    match Loader::for_object(&pkg.bytecode)? {
        Loader::Libbpf => libbpf::load(pkg, opts, &values),
        Loader::Aya => aya::load(pkg, opts, &values),
    }
}

/// `CATEGORY/EVENT` of tracepoint program `name`'s section target.
fn tracepoint_of<'t>(name: &str, target: &'t str) -> Result<(&'t str, &'t str)> {
    target.split_once('/').ok_or_else(|| {
        RuntimeError::usage(format!(
            "program `{name}`: tracepoint section names no CATEGORY/EVENT"
        ))
    })
}

/// A uprobe's executable, which must exist, and function.
fn uprobe_of(args: &ProgramArgs) -> Result<(std::path::PathBuf, String)> {
    let binary = std::path::PathBuf::from(args.require(ebpf_kinds::AttachArg::Binary)?);
    let symbol = args.require(ebpf_kinds::AttachArg::Symbol)?;
    if !binary.exists() {
        return Err(RuntimeError::usage(format!(
            "--binary {}: no such file",
            binary.display()
        )));
    }
    Ok((binary, symbol))
}

/// A cgroup_skb program's cgroup v2 directory, and it opened.
fn cgroup_of(args: &ProgramArgs) -> Result<(std::path::PathBuf, std::fs::File)> {
    let cgroup = crate::kernel::cgroup_dir(&args.require(ebpf_kinds::AttachArg::Cgroup)?)?;
    let dir = std::fs::File::open(&cgroup).map_err(|e| {
        RuntimeError::usage(format!(
            "--cgroup {}: {e}; give a cgroup v2 directory",
            cgroup.display()
        ))
    })?;
    Ok((cgroup, dir))
}

/// Whether this host's kernel is at least `major.minor`.
fn kernel_at_least(major: u8, minor: u8) -> bool {
    ::aya::util::KernelVersion::current()
        .is_ok_and(|v| v >= ::aya::util::KernelVersion::new(major, minor, 0))
}

/// Fills in the links that attach each program, from the kernel's list.
fn find_links(attached: &mut [Attached]) {
    for info in ::aya::programs::loaded_links().flatten() {
        if let Some(a) = attached
            .iter_mut()
            .find(|a| a.id == Some(info.program_id()))
        {
            a.links.push(info.id());
        }
    }
}
