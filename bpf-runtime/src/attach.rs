//! Loading a package's bytecode with aya and attaching every program by its
//! type: the package's default attach arguments, overridden by flags.
//! Everything loaded is owned by [`Loaded`]; dropping it detaches and
//! unloads it all.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

use aya::programs::{
    CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, FEntry, FExit, KProbe, Lsm, PerfEvent,
    ProgramError, RawTracePoint, SchedClassifier, SocketFilter, TcAttachType, TracePoint, UProbe,
    Xdp, XdpMode,
    perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    uprobe::UProbeScope,
};
use aya::{Btf, Ebpf, EbpfLoader};
use ebpf_kinds::ProgramType;
use ebpf_object::ProgramInfo;
use serde::{Deserialize, Serialize};

use crate::error::{Result, RuntimeError};
use crate::package::Package;

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

/// Attach arguments from the command line; each overrides the package's
/// default for every program that takes it.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    pub iface: Option<String>,
    pub direction: Option<String>,
    pub cgroup: Option<PathBuf>,
    pub binary: Option<PathBuf>,
    pub symbol: Option<String>,
    pub pid: Option<u32>,
    pub frequency: Option<u64>,
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
    pub point: String,
    /// The kernel's program id.
    pub id: Option<u32>,
    /// The kernel's ids of the `bpf_link`s that attach it; empty where the
    /// kernel attached it another way (netlink, perf event ioctl, a socket).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<u32>,
}

/// A loaded, attached package.
pub struct Loaded {
    pub ebpf: Ebpf,
    pub attached: Vec<Attached>,
    /// Sockets socket filters are attached to; closed on drop.
    _sockets: Vec<OwnedFd>,
}

/// Parses `NAME=VALUE`.
pub fn parse_set(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((n, v)) if !n.is_empty() => Ok((n.trim().to_string(), v.to_string())),
        _ => Err(RuntimeError::usage(format!(
            "invalid --set `{s}`: write NAME=VALUE"
        ))),
    }
}

impl AttachOptions {
    /// The value of attach argument `name` for program `p`.
    fn arg(&self, p: &ProgramInfo, name: &str) -> Option<String> {
        let flag = match name {
            "iface" => self.iface.clone(),
            "direction" => self.direction.clone(),
            "cgroup" => self.cgroup.as_ref().map(|c| c.display().to_string()),
            "binary" => self.binary.as_ref().map(|c| c.display().to_string()),
            "symbol" => self.symbol.clone(),
            "pid" => self.pid.map(|p| p.to_string()),
            "frequency" => self.frequency.map(|f| f.to_string()),
            _ => None,
        };
        flag.or_else(|| {
            p.attach.get(name).map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        })
    }

    fn required(&self, p: &ProgramInfo, name: &str) -> Result<String> {
        self.arg(p, name).ok_or_else(|| {
            RuntimeError::usage(format!(
                "program `{}` ({}) needs --{name}: the package has no default for it",
                p.name,
                p.ty.name()
            ))
        })
    }
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

fn program_error(action: String, program: &str, e: ProgramError) -> RuntimeError {
    match e {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => RuntimeError::Verifier {
            program: program.into(),
            errno: io_error.to_string(),
            log: verifier_tail(&verifier_log.to_string()),
        },
        other => RuntimeError::kernel(action, chain(&other)),
    }
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
/// program.
pub fn load(pkg: &Package, opts: &AttachOptions) -> Result<Loaded> {
    raise_memlock();
    let big_endian = pkg.object.endianness == ebpf_object::Endianness::Big;
    let mut values = Vec::new();
    for (name, text) in &opts.sets {
        let Some(var) = pkg.object.variables.iter().find(|v| &v.name == name) else {
            let known: Vec<&str> = pkg
                .object
                .variables
                .iter()
                .map(|v| v.name.as_str())
                .collect();
            return Err(RuntimeError::usage(if known.is_empty() {
                format!("--set {name}: {} has no variables to set", pkg.name)
            } else {
                format!(
                    "--set {name}: {} has no variable `{name}` (it has {})",
                    pkg.name,
                    known.join(", ")
                )
            }));
        };
        let bytes = var.ty.encode(text, big_endian).map_err(|why| {
            RuntimeError::usage(format!(
                "--set {name}={text}: {why} ({name} is {})",
                var.ty.c_name()
            ))
        })?;
        values.push((name.clone(), bytes));
    }
    // The loader holds its own parse of the kernel's BTF (aya reads it in
    // `EbpfLoader::new`): dropped here, before fentry, fexit and lsm parse
    // it again to find their targets, so the two are never in memory at once.
    let mut ebpf = {
        let mut loader = EbpfLoader::new();
        for (name, bytes) in &values {
            loader.override_global(name.as_str(), bytes.as_slice(), true);
        }
        loader
            .load(&pkg.bytecode)
            .map_err(|e| RuntimeError::kernel(format!("load {}", pkg.bytecode_name), chain(&e)))?
    };
    let mut attached = Vec::new();
    let mut sockets = Vec::new();
    let mut btf: Option<Btf> = None;
    for p in &pkg.object.programs {
        let (point, socket) = attach_one(&mut ebpf, p, opts, &mut btf)?;
        let id = ebpf
            .program(&p.name)
            .and_then(|prog| prog.info().ok())
            .map(|i| i.id());
        attached.push(Attached {
            program: p.name.clone(),
            ty: p.ty,
            point,
            id,
            links: Vec::new(),
        });
        sockets.extend(socket);
    }
    find_links(&mut attached);
    Ok(Loaded {
        ebpf,
        attached,
        _sockets: sockets,
    })
}

/// Fills in the links that attach each program, from the kernel's list.
fn find_links(attached: &mut [Attached]) {
    for info in aya::programs::loaded_links().flatten() {
        if let Some(a) = attached
            .iter_mut()
            .find(|a| a.id == Some(info.program_id()))
        {
            a.links.push(info.id());
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut why = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        why = format!("{why}: {s}");
        src = s.source();
    }
    why
}

fn kernel_btf(btf: &mut Option<Btf>) -> Result<&Btf> {
    if btf.is_none() {
        *btf = Some(Btf::from_sys_fs().map_err(|e| {
            RuntimeError::kernel("read the kernel's BTF (/sys/kernel/btf/vmlinux)", e)
        })?);
    }
    Ok(btf.as_ref().expect("just set"))
}

/// Attaches one program; returns where, and a socket to keep open.
fn attach_one(
    ebpf: &mut Ebpf,
    p: &ProgramInfo,
    opts: &AttachOptions,
    btf: &mut Option<Btf>,
) -> Result<(String, Option<OwnedFd>)> {
    let name = p.name.as_str();
    let target = p.target.clone().unwrap_or_default();
    // Arguments are resolved before the program is borrowed from `ebpf`.
    let iface = opts.arg(p, "iface");
    let direction = opts.arg(p, "direction");
    let prog = ebpf.program_mut(name).ok_or_else(|| {
        RuntimeError::kernel(format!("find program `{name}`"), "it is not in the object")
    })?;
    let load_err = |e| program_error(format!("load `{name}`"), name, e);
    let attach_err =
        |what: String| move |e| program_error(format!("attach `{name}` to {what}"), name, e);
    macro_rules! typed {
        ($t:ty) => {{
            let r: std::result::Result<&mut $t, ProgramError> = prog.try_into();
            r.map_err(|e| program_error(format!("use `{name}`"), name, e))?
        }};
    }
    match p.ty {
        ProgramType::Xdp => {
            let iface = iface.ok_or_else(|| missing(p, "iface"))?;
            let mode = match opts.xdp_mode {
                XdpAttachMode::Auto => XdpMode::Default,
                XdpAttachMode::Skb => XdpMode::Skb,
                XdpAttachMode::Native => XdpMode::Driver,
            };
            let x = typed!(Xdp);
            x.load().map_err(load_err)?;
            check_iface(&iface)?;
            x.attach(&iface, mode)
                .map_err(attach_err(format!("interface {iface}")))?;
            Ok((format!("xdp {iface}"), None))
        }
        ProgramType::Tc => {
            let iface = iface.ok_or_else(|| missing(p, "iface"))?;
            check_iface(&iface)?;
            let dir = direction.unwrap_or_else(|| "ingress".into());
            let attach_type = match dir.as_str() {
                "ingress" => TcAttachType::Ingress,
                "egress" => TcAttachType::Egress,
                other => {
                    return Err(RuntimeError::usage(format!(
                        "invalid --direction `{other}`: ingress or egress"
                    )));
                }
            };
            let c = typed!(SchedClassifier);
            c.load().map_err(load_err)?;
            c.attach(&iface, attach_type)
                .map_err(attach_err(format!("{iface} {dir}")))?;
            Ok((format!("tc {iface} {dir}"), None))
        }
        ProgramType::Tracepoint => {
            let (category, event) = target.split_once('/').ok_or_else(|| {
                RuntimeError::usage(format!(
                    "program `{name}`: tracepoint section names no CATEGORY/EVENT"
                ))
            })?;
            let t = typed!(TracePoint);
            t.load().map_err(load_err)?;
            t.attach(category, event)
                .map_err(attach_err(format!("tracepoint {target}")))?;
            Ok((format!("tracepoint {target}"), None))
        }
        ProgramType::RawTracepoint => {
            let t = typed!(RawTracePoint);
            t.load().map_err(load_err)?;
            t.attach(&target)
                .map_err(attach_err(format!("raw tracepoint {target}")))?;
            Ok((format!("raw_tracepoint {target}"), None))
        }
        ProgramType::Kprobe | ProgramType::Kretprobe => {
            let symbol = opts
                .symbol
                .clone()
                .or_else(|| Some(target.clone()).filter(|t| !t.is_empty()))
                .ok_or_else(|| missing(p, "symbol"))?;
            let k = typed!(KProbe);
            k.load().map_err(load_err)?;
            k.attach(&symbol, 0)
                .map_err(attach_err(format!("kernel function {symbol}")))?;
            Ok((format!("{} {symbol}", p.ty.name()), None))
        }
        ProgramType::Uprobe | ProgramType::Uretprobe => {
            let binary = opts.required(p, "binary")?;
            let symbol = opts.required(p, "symbol")?;
            let scope = match opts.arg(p, "pid").and_then(|s| s.parse::<u32>().ok()) {
                Some(pid) => std::num::NonZeroU32::new(pid)
                    .map(UProbeScope::OneProcess)
                    .unwrap_or(UProbeScope::AllProcesses),
                None => UProbeScope::AllProcesses,
            };
            if !std::path::Path::new(&binary).exists() {
                return Err(RuntimeError::usage(format!(
                    "--binary {binary}: no such file"
                )));
            }
            let u = typed!(UProbe);
            u.load().map_err(load_err)?;
            u.attach(symbol.as_str(), &binary, scope)
                .map_err(attach_err(format!("{binary}:{symbol}")))?;
            Ok((format!("{} {binary}:{symbol}", p.ty.name()), None))
        }
        ProgramType::Fentry => {
            let btf = kernel_btf(btf)?;
            let f: &mut FEntry = {
                let prog = ebpf.program_mut(name).expect("found above");
                prog.try_into()
                    .map_err(|e| program_error(format!("use `{name}`"), name, e))?
            };
            f.load(&target, btf).map_err(load_err)?;
            f.attach().map_err(attach_err(format!("fentry {target}")))?;
            Ok((format!("fentry {target}"), None))
        }
        ProgramType::Fexit => {
            let btf = kernel_btf(btf)?;
            let f: &mut FExit = {
                let prog = ebpf.program_mut(name).expect("found above");
                prog.try_into()
                    .map_err(|e| program_error(format!("use `{name}`"), name, e))?
            };
            f.load(&target, btf).map_err(load_err)?;
            f.attach().map_err(attach_err(format!("fexit {target}")))?;
            Ok((format!("fexit {target}"), None))
        }
        ProgramType::Lsm => {
            let btf = kernel_btf(btf)?;
            let l: &mut Lsm = {
                let prog = ebpf.program_mut(name).expect("found above");
                prog.try_into()
                    .map_err(|e| program_error(format!("use `{name}`"), name, e))?
            };
            l.load(&target, btf).map_err(load_err)?;
            l.attach()
                .map_err(attach_err(format!("LSM hook {target}")))?;
            Ok((format!("lsm {target}"), None))
        }
        ProgramType::CgroupSkb => {
            let cgroup = opts
                .arg(p, "cgroup")
                .unwrap_or_else(|| "/sys/fs/cgroup".into());
            let c = typed!(CgroupSkb);
            let attach_type = match (c.expected_attach_type(), direction.as_deref()) {
                (Some(t), _) => *t,
                (None, Some("ingress")) => CgroupSkbAttachType::Ingress,
                (None, _) => CgroupSkbAttachType::Egress,
            };
            let dir = std::fs::File::open(&cgroup).map_err(|e| {
                RuntimeError::usage(format!(
                    "--cgroup {cgroup}: {e}; give a cgroup v2 directory"
                ))
            })?;
            c.load().map_err(load_err)?;
            c.attach(&dir, attach_type, CgroupAttachMode::AllowMultiple)
                .map_err(attach_err(format!("cgroup {cgroup}")))?;
            let dir_name = match attach_type {
                CgroupSkbAttachType::Ingress => "ingress",
                CgroupSkbAttachType::Egress => "egress",
            };
            Ok((format!("cgroup_skb {cgroup} {dir_name}"), None))
        }
        ProgramType::SocketFilter => {
            let iface = iface.ok_or_else(|| missing(p, "iface"))?;
            let index = check_iface(&iface)?;
            let socket = packet_socket(index)
                .map_err(|e| RuntimeError::kernel(format!("open a packet socket on {iface}"), e))?;
            let s = typed!(SocketFilter);
            s.load().map_err(load_err)?;
            s.attach(&socket)
                .map_err(attach_err(format!("a packet socket on {iface}")))?;
            Ok((format!("socket_filter {iface}"), Some(socket)))
        }
        ProgramType::PerfEvent => {
            let freq = opts
                .arg(p, "frequency")
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(99);
            let pe = typed!(PerfEvent);
            pe.load().map_err(load_err)?;
            let cpus = aya::util::online_cpus()
                .map_err(|(what, e)| RuntimeError::kernel(format!("read {what}"), e))?;
            for cpu in &cpus {
                pe.attach(
                    PerfEventConfig::Software(SoftwareEvent::CpuClock),
                    PerfEventScope::AllProcessesOneCpu { cpu: *cpu },
                    SamplePolicy::Frequency(freq),
                    false,
                )
                .map_err(attach_err(format!("the CPU clock of CPU {cpu}")))?;
            }
            Ok((
                format!("perf_event cpu-clock {freq} Hz on {} CPUs", cpus.len()),
                None,
            ))
        }
        ProgramType::Usdt => Err(RuntimeError::usage(format!(
            "program `{name}` is a USDT probe, which aya (and so bpf-runtime) cannot attach yet"
        ))),
    }
}

fn missing(p: &ProgramInfo, arg: &str) -> RuntimeError {
    RuntimeError::usage(format!(
        "program `{}` ({}) needs --{arg}: the package has no default for it",
        p.name,
        p.ty.name()
    ))
}

/// The index of network interface `iface`, or a usage error naming the
/// interfaces there are.
fn check_iface(iface: &str) -> Result<u32> {
    let c = std::ffi::CString::new(iface)
        .map_err(|_| RuntimeError::usage(format!("invalid interface name `{iface}`")))?;
    // SAFETY: a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        return Err(RuntimeError::usage(format!(
            "no network interface `{iface}` (this host has {})",
            names.join(", ")
        )));
    }
    Ok(index)
}

/// A raw packet socket bound to interface `index`, for socket filters.
fn packet_socket(index: u32) -> std::io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain syscalls; the fd is owned right after.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            i32::from(proto),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a new, valid descriptor.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data; zero is a valid start.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = index as i32;
    // SAFETY: addr is a valid sockaddr_ll of the given size.
    let r = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(owned)
}
