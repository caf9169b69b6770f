//! The libbpf loader (libbpf 1.7 through `libbpf-rs`, linked statically),
//! for objects with BTF-defined maps: libbpf is the loader they were written
//! for (CO-RE as libbpf applies it, `.kconfig` and `.ksyms` externs, every
//! libbpf section name), and it reads the kernel's BTF only when the object
//! relocates against it.
//!
//! What the tools' own user space does between open and load, the runtime
//! does by rule: it sets the variables, sizes the maps left unsized, and
//! keeps one of each pair of variants of a hook ([`variants_to_skip`]).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Mutex;

use ::aya::maps::{Map, MapData};
use ebpf_kinds::{AttachArg, AttachPoint, Direction, ProgramType};
use ebpf_object::ProgramInfo;
use libbpf_rs::libbpf_sys;
use libbpf_rs::{
    AsRawLibbpf, Link, MapCore, MapType, Object, ObjectBuilder, OpenMapMut, OpenObject,
    OpenProgramMut, PrintLevel, ProgramAttachType, ProgramMut, TcHook, TcHookBuilder,
    TracepointCategory, UprobeOpts,
};

use super::net::{check_iface, packet_socket};
use super::{AttachOptions, Attached, Backing, Loaded, ProgramArgs, XdpAttachMode, verifier_tail};
use super::{cgroup_of, kernel_at_least, tracepoint_of, uprobe_of};
use crate::error::{Result, RuntimeError};
use crate::package::OpenedPackage;

/// What holds a libbpf-loaded package. Fields drop in order: every
/// attachment goes before the object (its programs and maps) is closed.
pub(super) struct Held {
    _links: Vec<Link>,
    /// Links made with `bpf_link_create` directly (XDP in a chosen mode,
    /// tcx): closing one detaches it.
    _link_fds: Vec<OwnedFd>,
    /// What attaches without a link (netlink tc filters and XDP, cgroup
    /// attachments of kernels before 5.7): detached on drop.
    _detach: Vec<Detach>,
    _object: Object,
}

/// An attachment the kernel keeps until it is detached.
enum Detach {
    /// A tc filter (kernels without tcx), and the clsact qdisc when the
    /// runtime created it.
    Tc {
        filter: TcHook,
        qdisc: Option<TcHook>,
    },
    /// XDP attached by netlink (kernels without XDP links).
    Xdp { ifindex: i32, flags: u32 },
    /// A cgroup program attached with `BPF_PROG_ATTACH`.
    Cgroup {
        prog: OwnedFd,
        cgroup: OwnedFd,
        attach_type: libbpf_sys::bpf_attach_type,
    },
}

impl Drop for Detach {
    fn drop(&mut self) {
        // Failing here leaves nothing to do: the interface or cgroup went
        // first, and with it what was attached.
        match self {
            Detach::Tc { filter, qdisc } => {
                let _ = filter.detach();
                if let Some(q) = qdisc {
                    let _ = q.destroy();
                }
            }
            // SAFETY: plain libbpf calls on values we own.
            Detach::Xdp { ifindex, flags } => unsafe {
                libbpf_sys::bpf_xdp_detach(*ifindex, *flags, std::ptr::null());
            },
            Detach::Cgroup {
                prog,
                cgroup,
                attach_type,
            } => unsafe {
                libbpf_sys::bpf_prog_detach2(prog.as_raw_fd(), cgroup.as_raw_fd(), *attach_type);
            },
        }
    }
}

/// libbpf's messages of this load: shown only in what a failure says.
static LOG: Mutex<String> = Mutex::new(String::new());
/// The most of libbpf's messages kept (verifier logs can be long).
const LOG_LIMIT: usize = 1 << 20;

fn collect(_level: PrintLevel, msg: String) {
    if let Ok(mut log) = LOG.lock()
        && log.len() < LOG_LIMIT
    {
        log.push_str(&msg);
    }
}

fn take_log() -> String {
    LOG.lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default()
}

/// How the runtime sizes maps the tools' user space sizes before load:
/// `max_entries` 0 gets libbpf-tools' usual 10240, a stack trace map without
/// a value size gets 127 frames of 8 bytes (`PERF_MAX_STACK_DEPTH`).
pub const DEFAULT_MAX_ENTRIES: u32 = 10240;
pub const DEFAULT_STACK_DEPTH: u32 = 127;

pub(super) fn load(
    pkg: &OpenedPackage,
    opts: &AttachOptions,
    values: &[(String, Vec<u8>)],
) -> Result<Loaded> {
    libbpf_rs::set_print(Some((PrintLevel::Info, collect)));
    take_log();
    let object_error = |why: String| RuntimeError::Object {
        path: pkg.bytecode_name.clone().into(),
        message: why,
    };
    let mut builder = ObjectBuilder::default();
    // libbpf names the internal maps after the object (`NAME.rodata`).
    builder
        .name(&pkg.name)
        .map_err(|e| object_error(e.to_string()))?;
    let mut open = builder
        .open_memory(&pkg.bytecode)
        .map_err(|e| object_error(format!("libbpf cannot open it: {}", why(&take_log(), &e))))?;

    set_variables(&mut open, pkg, values).map_err(object_error)?;
    size_unsized_maps(&mut open).map_err(|e| object_error(e.to_string()))?;

    let skip = variants_to_skip(
        &pkg.object.programs,
        std::path::Path::new("/sys/kernel/btf/vmlinux").exists(),
    );
    let programs: Vec<&ProgramInfo> = pkg
        .object
        .programs
        .iter()
        .filter(|p| !skip.contains(&p.name.as_str()))
        .collect();
    for mut prog in open.progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        match programs.iter().find(|p| p.name == name) {
            Some(p) => prepare(&mut prog, p, opts)?,
            // A variant not picked, or a program the metadata does not
            // list: not loaded.
            None => prog.set_autoload(false),
        }
    }

    let object = open
        .load()
        .map_err(|e| load_error(&pkg.bytecode_name, &pkg.object.programs, &take_log(), &e))?;

    let mut held = Attachments::default();
    let mut attached = Vec::new();
    let mut sockets = Vec::new();
    for p in &programs {
        let prog = object
            .progs_mut()
            .find(|prog| prog.name() == p.name.as_str())
            .ok_or_else(|| {
                RuntimeError::kernel(
                    format!("find program `{}`", p.name),
                    "libbpf did not load it",
                )
            })?;
        let (point, socket) = attach_one(&prog, p, opts, &mut held)?;
        attached.push(Attached {
            program: p.name.clone(),
            ty: p.ty,
            point,
            id: libbpf_rs::Program::id_from_fd(prog.as_fd()).ok(),
            links: Vec::new(),
        });
        sockets.extend(socket);
    }

    // The package's maps, each as an aya map over its own descriptor.
    let mut maps = Vec::new();
    for m in object.maps() {
        let name = m.name().to_string_lossy().into_owned();
        if !pkg.object.maps.iter().any(|info| info.name == name) {
            continue;
        }
        let fd = m
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| RuntimeError::kernel(format!("open map {name}"), e))?;
        // Types aya has no reader for are left out: nothing shows them.
        if let Ok(map) = MapData::from_fd(fd).and_then(Map::from_map_data) {
            maps.push((name, map));
        }
    }
    take_log();
    let Attachments {
        links,
        link_fds,
        detach,
    } = held;
    Ok(Loaded::new(
        attached,
        maps,
        sockets,
        Backing::Libbpf(Held {
            _links: links,
            _link_fds: link_fds,
            _detach: detach,
            _object: object,
        }),
    ))
}

#[derive(Default)]
struct Attachments {
    links: Vec<Link>,
    link_fds: Vec<OwnedFd>,
    detach: Vec<Detach>,
}

/// Writes each `--set` value into its section's map (`.rodata`, `.data`,
/// `.bss`), at the variable's offset.
fn set_variables(
    open: &mut OpenObject,
    pkg: &OpenedPackage,
    values: &[(String, Vec<u8>)],
) -> std::result::Result<(), String> {
    for (name, bytes) in values {
        let Some(var) = pkg.object.variables.iter().find(|v| &v.name == name) else {
            continue;
        };
        let section = CString::new(var.section.as_str())
            .map_err(|_| format!("variable `{name}` names an invalid section"))?;
        // SAFETY: the object is open; libbpf finds internal maps by the
        // name of their ELF section.
        let map = unsafe {
            libbpf_sys::bpf_object__find_map_by_name(
                open.as_libbpf_object().as_ptr(),
                section.as_ptr(),
            )
        };
        let Some(map) = NonNull::new(map) else {
            return Err(format!(
                "variable `{name}` is in section {}, which the object does not have",
                var.section
            ));
        };
        // SAFETY: the map belongs to `open`, borrowed mutably here, and
        // nothing else refers to it while `map` lives.
        let mut map = OpenMapMut::new_mut(unsafe { &mut *map.as_ptr() });
        let data = map
            .initial_value_mut()
            .ok_or_else(|| format!("section {} has no data to set", var.section))?;
        let start = var.offset as usize;
        let end = start
            .checked_add(bytes.len())
            .filter(|&end| end <= data.len())
            .ok_or_else(|| {
                format!(
                    "variable `{name}` lies outside its section {} ({} bytes)",
                    var.section,
                    data.len()
                )
            })?;
        data[start..end].copy_from_slice(bytes);
    }
    Ok(())
}

/// Sizes what the tools' user space sizes before load (see
/// [`DEFAULT_MAX_ENTRIES`]).
fn size_unsized_maps(open: &mut OpenObject) -> libbpf_rs::Result<()> {
    for mut map in open.maps_mut() {
        let ty = map.map_type();
        if ty == MapType::StackTrace {
            if map.key_size() == 0 {
                map.set_key_size(4)?;
            }
            if map.value_size() == 0 {
                map.set_value_size(DEFAULT_STACK_DEPTH * 8)?;
            }
        }
        // libbpf gives perf event arrays one entry per CPU itself.
        if map.max_entries() == 0 && ty != MapType::PerfEventArray {
            map.set_max_entries(DEFAULT_MAX_ENTRIES)?;
        }
    }
    Ok(())
}

/// The kinds of section that hold two variants of one hook in libbpf-tools:
/// a BTF-based one and a classic one, of which the tool's user space loads
/// one (`bpf_program__set_autoload`) after probing the kernel.
const VARIANTS: &[(&str, &str)] = &[
    ("tp_btf/", "raw_tp/"),
    ("tp_btf/", "raw_tracepoint/"),
    ("fentry/", "kprobe/"),
    ("fexit/", "kretprobe/"),
];

/// The programs not to load: of each pair of variants of one hook, the
/// classic one where the kernel has BTF, the BTF-based one where it has not.
pub fn variants_to_skip(programs: &[ProgramInfo], kernel_btf: bool) -> Vec<&str> {
    let mut skip = Vec::new();
    for p in programs {
        for (btf, classic) in VARIANTS {
            let (mine, other) = if let Some(t) = p.section.strip_prefix(btf) {
                ((t, true), *classic)
            } else if let Some(t) = p.section.strip_prefix(classic) {
                ((t, false), *btf)
            } else {
                continue;
            };
            let (target, is_btf) = mine;
            let paired = programs
                .iter()
                .any(|q| q.section.strip_prefix(other) == Some(target));
            if paired && is_btf != kernel_btf {
                skip.push(p.name.as_str());
            }
        }
    }
    skip
}

/// What must be set before load: the attach type of a cgroup_skb program
/// whose section names no direction.
fn prepare(prog: &mut OpenProgramMut<'_>, p: &ProgramInfo, opts: &AttachOptions) -> Result<()> {
    if p.ty == ProgramType::CgroupSkb && section_direction(p).is_none() {
        let args = ProgramArgs::new(p, &opts.flags);
        let ty = match args.direction()? {
            Some(Direction::Ingress) => ProgramAttachType::CgroupInetIngress,
            Some(Direction::Egress) => ProgramAttachType::CgroupInetEgress,
            None => {
                return Err(RuntimeError::usage(format!(
                    "program `{}` (cgroup_skb) needs --direction: its section `{}` names none",
                    p.name, p.section
                )));
            }
        };
        prog.set_attach_type(ty);
    }
    Ok(())
}

fn section_direction(p: &ProgramInfo) -> Option<Direction> {
    match p.section.rsplit('/').next() {
        Some("ingress") => Some(Direction::Ingress),
        Some("egress") => Some(Direction::Egress),
        _ => None,
    }
}

/// A failed load, in one line: the verifier's last words when a program
/// was refused, else what libbpf said last.
fn load_error(
    bytecode: &str,
    programs: &[ProgramInfo],
    log: &str,
    e: &libbpf_rs::Error,
) -> RuntimeError {
    const BEGIN: &str = "-- BEGIN PROG LOAD LOG --";
    const END: &str = "-- END PROG LOAD LOG --";
    if let Some(begin) = log.find(BEGIN) {
        let line_start = log[..begin].rfind('\n').map_or(0, |i| i + 1);
        let program = quoted_program(&log[line_start..begin]).unwrap_or_default();
        let body = &log[begin + BEGIN.len()..];
        let body = &body[..body.find(END).unwrap_or(body.len())];
        let errno = log
            .lines()
            .find_map(|l| l.split_once("BPF program load failed: ").map(|(_, e)| e))
            .unwrap_or("refused")
            .trim()
            .to_string();
        return RuntimeError::Verifier {
            program,
            errno,
            log: verifier_tail(body),
        };
    }
    // A trampoline program refused with EPERM and no verifier log: libbpf
    // guesses at the memlock limit (lifted already); say what the host
    // shows instead.
    if let Some(p) = log
        .lines()
        .filter(|l| l.contains("BPF program load failed: -EPERM"))
        .find_map(quoted_program)
        .and_then(|name| programs.iter().find(|p| p.name == name))
        && matches!(
            p.ty,
            ProgramType::Fentry | ProgramType::Fexit | ProgramType::Lsm
        )
    {
        let target = p.target.as_deref().unwrap_or_default();
        let causes = crate::kernel::trampoline_refusal(p.ty, target);
        let why = if causes.is_empty() {
            "Operation not permitted, with no verifier log: the kernel did not let it attach to kernel functions (`bpf-runtime features` shows what it offers)".to_string()
        } else {
            format!(
                "Operation not permitted, with no verifier log; {}",
                causes.join("; ")
            )
        };
        return RuntimeError::kernel(format!("load program `{}` ({})", p.name, p.section), why);
    }
    // A BTF-attached program whose target the kernel lacks: libbpf says
    // only "-ESRCH" about it.
    if let Some(p) = log
        .lines()
        .filter(|l| l.contains("-ESRCH"))
        .find_map(quoted_program)
        .and_then(|name| programs.iter().find(|p| p.name == name))
        && p.target.is_some()
    {
        let why = format!(
            "this kernel has no `{}` to attach it to (its BTF, /sys/kernel/btf/vmlinux, does not list it); the tool's own user space would load another variant of it here",
            p.target.as_deref().unwrap_or_default()
        );
        return RuntimeError::kernel(format!("load program `{}` ({})", p.name, p.section), why);
    }
    RuntimeError::kernel(format!("load {bytecode}"), why(log, e))
}

/// The program `prog 'NAME':` of a libbpf message names.
fn quoted_program(line: &str) -> Option<String> {
    let rest = &line[line.find("prog '")? + 6..];
    Some(rest[..rest.find('\'')?].to_string())
}

/// libbpf's last messages (what failed, and why), then the error itself;
/// the lines that only say that something failed are left out.
fn why(log: &str, e: &libbpf_rs::Error) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(|l| l.trim().trim_start_matches("libbpf: ").trim())
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("failed to load object")
                && !l.contains("': failed to load: ")
        })
        .collect();
    let start = lines.len().saturating_sub(2);
    let mut text = lines[start..].join("; ");
    let e = e.to_string();
    if !text.contains(&e) {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&e);
    }
    text
}

/// Attaches one loaded program; returns where, and a socket to keep open.
fn attach_one(
    prog: &ProgramMut<'_>,
    p: &ProgramInfo,
    opts: &AttachOptions,
    held: &mut Attachments,
) -> Result<(AttachPoint, Option<OwnedFd>)> {
    let name = p.name.as_str();
    let target = p.target.clone().unwrap_or_default();
    let args = ProgramArgs::new(p, &opts.flags);
    let failed = |what: String| {
        move |e: libbpf_rs::Error| {
            RuntimeError::kernel(format!("attach `{name}` to {what}"), why(&take_log(), &e))
        }
    };
    let refused = |what: &str, e: std::io::Error| {
        RuntimeError::kernel(format!("attach `{name}` to {what}"), e)
    };
    let prog_fd = prog.as_fd().as_raw_fd();
    match p.ty {
        ProgramType::Xdp => {
            let iface = args.require(AttachArg::Iface)?;
            let ifindex = check_iface(&iface)? as i32;
            let flags = match opts.xdp_mode {
                XdpAttachMode::Auto => 0,
                XdpAttachMode::Skb => libbpf_sys::XDP_FLAGS_SKB_MODE,
                XdpAttachMode::Native => libbpf_sys::XDP_FLAGS_DRV_MODE,
            };
            match link_create(prog_fd, ifindex, libbpf_sys::BPF_XDP, flags) {
                Ok(fd) => held.link_fds.push(fd),
                // Kernels before 5.9 have no XDP links: netlink, detached
                // on drop.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && !kernel_at_least(5, 9) => {
                    // SAFETY: a plain libbpf call.
                    let r = unsafe {
                        libbpf_sys::bpf_xdp_attach(ifindex, prog_fd, flags, std::ptr::null())
                    };
                    if r < 0 {
                        return Err(refused(
                            &format!("interface {iface}"),
                            std::io::Error::from_raw_os_error(-r),
                        ));
                    }
                    held.detach.push(Detach::Xdp { ifindex, flags });
                }
                Err(e) => return Err(refused(&format!("interface {iface}"), e)),
            }
            Ok((AttachPoint::Xdp { iface }, None))
        }
        ProgramType::Tc => {
            let iface = args.require(AttachArg::Iface)?;
            let ifindex = check_iface(&iface)? as i32;
            let direction = args.direction()?.expect("tc has a default direction");
            attach_tc(prog, ifindex, direction, held).map_err(|why| {
                let what = format!("{iface} {direction}");
                RuntimeError::kernel(format!("attach `{name}` to {what}"), why)
            })?;
            Ok((AttachPoint::Tc { iface, direction }, None))
        }
        ProgramType::Tracepoint => {
            let (category, event) = tracepoint_of(name, &target)?;
            let link = prog
                .attach_tracepoint(TracepointCategory::Custom(category.into()), event)
                .map_err(failed(format!("tracepoint {target}")))?;
            held.links.push(link);
            Ok((
                AttachPoint::Tracepoint {
                    category: category.into(),
                    name: event.into(),
                },
                None,
            ))
        }
        ProgramType::RawTracepoint => {
            if target.is_empty() {
                return Err(RuntimeError::usage(format!(
                    "program `{name}`: section `{}` names no tracepoint",
                    p.section
                )));
            }
            let link = if p.section.starts_with("tp_btf/") {
                prog.attach_trace()
            } else {
                prog.attach_raw_tracepoint(&target)
            }
            .map_err(failed(format!("raw tracepoint {target}")))?;
            held.links.push(link);
            Ok((AttachPoint::RawTracepoint { name: target }, None))
        }
        ProgramType::Kprobe | ProgramType::Kretprobe => {
            let ret = p.ty == ProgramType::Kretprobe;
            let function = args.require(AttachArg::Symbol)?;
            let link =
                if p.section.starts_with("ksyscall/") || p.section.starts_with("kretsyscall/") {
                    prog.attach_ksyscall(ret, &function)
                } else {
                    prog.attach_kprobe(ret, &function)
                }
                .map_err(failed(format!("kernel function {function}")))?;
            held.links.push(link);
            Ok((AttachPoint::Kprobe { function, ret }, None))
        }
        ProgramType::Uprobe | ProgramType::Uretprobe => {
            let ret = p.ty == ProgramType::Uretprobe;
            let (binary, symbol) = uprobe_of(&args)?;
            let pid = args.pid()?.map_or(-1, |pid| pid as i32);
            let link = prog
                .attach_uprobe_with_opts(
                    pid,
                    &binary,
                    0,
                    UprobeOpts {
                        retprobe: ret,
                        func_name: Some(symbol.clone()),
                        ..Default::default()
                    },
                )
                .map_err(failed(format!("{}:{symbol}", binary.display())))?;
            held.links.push(link);
            Ok((
                AttachPoint::Uprobe {
                    binary,
                    symbol,
                    ret,
                },
                None,
            ))
        }
        ProgramType::Fentry | ProgramType::Fexit | ProgramType::Lsm => {
            let link = if p.ty == ProgramType::Lsm {
                prog.attach_lsm()
            } else {
                prog.attach_trace()
            }
            .map_err(failed(format!("{} {target}", p.ty.name())))?;
            held.links.push(link);
            Ok((
                match p.ty {
                    ProgramType::Fentry => AttachPoint::Fentry { function: target },
                    ProgramType::Fexit => AttachPoint::Fexit { function: target },
                    _ => AttachPoint::Lsm { hook: target },
                },
                None,
            ))
        }
        ProgramType::CgroupSkb => {
            let (cgroup, dir) = cgroup_of(&args)?;
            let direction = match section_direction(p) {
                Some(d) => d,
                None => args.direction()?.expect("checked before load"),
            };
            let what = format!("cgroup {}", cgroup.display());
            if kernel_at_least(5, 7) {
                let link = prog.attach_cgroup(dir.as_raw_fd()).map_err(failed(what))?;
                held.links.push(link);
            } else {
                // Before 5.7 there are no cgroup links: attach, sharing
                // the cgroup with other programs, and detach on drop.
                let attach_type = match direction {
                    Direction::Ingress => libbpf_sys::BPF_CGROUP_INET_INGRESS,
                    Direction::Egress => libbpf_sys::BPF_CGROUP_INET_EGRESS,
                };
                // SAFETY: plain libbpf calls on descriptors we own.
                let r = unsafe {
                    libbpf_sys::bpf_prog_attach(
                        prog_fd,
                        dir.as_raw_fd(),
                        attach_type,
                        libbpf_sys::BPF_F_ALLOW_MULTI,
                    )
                };
                if r < 0 {
                    return Err(refused(&what, std::io::Error::from_raw_os_error(-r)));
                }
                held.detach.push(Detach::Cgroup {
                    prog: prog
                        .as_fd()
                        .try_clone_to_owned()
                        .map_err(|e| refused(&what, e))?,
                    cgroup: dir.into(),
                    attach_type,
                });
            }
            Ok((AttachPoint::CgroupSkb { cgroup, direction }, None))
        }
        ProgramType::SocketFilter => {
            let iface = args.require(AttachArg::Iface)?;
            let index = check_iface(&iface)?;
            let socket = packet_socket(index)
                .map_err(|e| RuntimeError::kernel(format!("open a packet socket on {iface}"), e))?;
            // SAFETY: setsockopt reads a valid int of the given size.
            let r = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_ATTACH_BPF,
                    (&prog_fd as *const i32).cast(),
                    std::mem::size_of::<i32>() as u32,
                )
            };
            if r < 0 {
                return Err(refused(
                    &format!("a packet socket on {iface}"),
                    std::io::Error::last_os_error(),
                ));
            }
            Ok((AttachPoint::SocketFilter { iface }, Some(socket)))
        }
        ProgramType::PerfEvent => {
            let frequency = args.frequency()?;
            let cpus = ::aya::util::online_cpus()
                .map_err(|(what, e)| RuntimeError::kernel(format!("read {what}"), e))?;
            for cpu in &cpus {
                let pfd = cpu_clock(*cpu, frequency)
                    .map_err(|e| refused(&format!("the CPU clock of CPU {cpu}"), e))?;
                // The link owns the perf event from here (libbpf closes it
                // on detach).
                let link = prog
                    .attach_perf_event(pfd.into_raw_fd())
                    .map_err(failed(format!("the CPU clock of CPU {cpu}")))?;
                held.links.push(link);
            }
            let cpus = cpus.len();
            Ok((AttachPoint::PerfEvent { frequency, cpus }, None))
        }
        ProgramType::Usdt => {
            // libbpf reads the probe's note (`.note.stapsdt`), fills the
            // spec maps `usdt.bpf.h` reads, and counts its semaphore.
            let (binary, symbol) = uprobe_of(&args)?;
            let Some((provider, probe)) = symbol.split_once(':') else {
                return Err(RuntimeError::usage(format!(
                    "program `{name}` (usdt): --symbol {symbol}: write PROVIDER:NAME (`readelf -n BINARY` lists the probes)"
                )));
            };
            let pid = args.pid()?.map_or(-1, |pid| pid as i32);
            let link = prog
                .attach_usdt(pid, &binary, provider, probe)
                .map_err(failed(format!("USDT probe {}:{symbol}", binary.display())))?;
            held.links.push(link);
            Ok((
                AttachPoint::Usdt {
                    binary,
                    provider: provider.into(),
                    name: probe.into(),
                },
                None,
            ))
        }
    }
}

/// tc: a tcx link where the kernel has tcx (6.6), else a filter on the
/// clsact qdisc, created when the interface has none and removed with the
/// filter then.
fn attach_tc(
    prog: &ProgramMut<'_>,
    ifindex: i32,
    direction: Direction,
    held: &mut Attachments,
) -> std::result::Result<(), String> {
    let prog_fd = prog.as_fd().as_raw_fd();
    if kernel_at_least(6, 6) {
        let attach_type = match direction {
            Direction::Ingress => libbpf_sys::BPF_TCX_INGRESS,
            Direction::Egress => libbpf_sys::BPF_TCX_EGRESS,
        };
        let fd = link_create(prog_fd, ifindex, attach_type, 0).map_err(|e| e.to_string())?;
        held.link_fds.push(fd);
        return Ok(());
    }
    let point = match direction {
        Direction::Ingress => libbpf_rs::TC_INGRESS,
        Direction::Egress => libbpf_rs::TC_EGRESS,
    };
    let mut builder = TcHookBuilder::new(prog.as_fd());
    builder.ifindex(ifindex).replace(true).handle(1).priority(1);
    let mut qdisc = builder.hook(libbpf_rs::TC_INGRESS | libbpf_rs::TC_EGRESS);
    let created = match qdisc.create() {
        Ok(_) => true,
        Err(e) if e.kind() == libbpf_rs::ErrorKind::AlreadyExists => false,
        Err(e) => return Err(format!("create the clsact qdisc: {e}")),
    };
    let mut filter = builder.hook(point);
    if let Err(e) = filter.attach() {
        if created {
            let _ = qdisc.destroy();
        }
        return Err(e.to_string());
    }
    held.detach.push(Detach::Tc {
        filter,
        qdisc: created.then_some(qdisc),
    });
    Ok(())
}

/// `bpf_link_create` with `flags`, as an owned descriptor.
fn link_create(
    prog_fd: i32,
    target: i32,
    attach_type: libbpf_sys::bpf_attach_type,
    flags: u32,
) -> std::io::Result<OwnedFd> {
    let opts = libbpf_sys::bpf_link_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _,
        flags,
        ..Default::default()
    };
    // SAFETY: a plain libbpf call; the descriptor is owned right after.
    let fd = unsafe { libbpf_sys::bpf_link_create(prog_fd, target, attach_type, &opts) };
    if fd < 0 {
        return Err(std::io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: a new descriptor, ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A CPU-clock perf event on `cpu`, sampling at `frequency` Hz.
fn cpu_clock(cpu: u32, frequency: u64) -> std::io::Result<OwnedFd> {
    let mut attr = libbpf_sys::perf_event_attr {
        type_: libbpf_sys::PERF_TYPE_SOFTWARE,
        size: std::mem::size_of::<libbpf_sys::perf_event_attr>() as u32,
        config: u64::from(libbpf_sys::PERF_COUNT_SW_CPU_CLOCK),
        ..Default::default()
    };
    attr.__bindgen_anon_1.sample_freq = frequency;
    attr.set_freq(1);
    // SAFETY: perf_event_open reads a valid attr of the size it says.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const libbpf_sys::perf_event_attr,
            -1i32,
            cpu as i32,
            -1i32,
            libbpf_sys::PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, ours alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(name: &str, section: &str) -> ProgramInfo {
        let s = ebpf_kinds::classify_section(section).unwrap();
        ProgramInfo {
            name: name.into(),
            section: section.into(),
            ty: s.ty,
            target: s.target,
            attach: Default::default(),
        }
    }

    #[test]
    fn one_variant_of_each_hook_loads() {
        let programs = [
            program("block_rq_insert_btf", "tp_btf/block_rq_insert"),
            program("block_rq_insert", "raw_tp/block_rq_insert"),
            program("block_rq_issue", "raw_tp/block_rq_issue"),
            program("vfs_read_entry", "fentry/vfs_read"),
            program("vfs_read_kprobe", "kprobe/vfs_read"),
            program("exec", "tp/sched/sched_process_exec"),
        ];
        assert_eq!(
            variants_to_skip(&programs, true),
            ["block_rq_insert", "vfs_read_kprobe"]
        );
        assert_eq!(
            variants_to_skip(&programs, false),
            ["block_rq_insert_btf", "vfs_read_entry"]
        );
        // A hook with one variant loads whatever the kernel has.
        assert!(variants_to_skip(&programs[2..3], false).is_empty());
    }

    #[test]
    fn a_verifier_refusal_reads_as_one_line_naming_the_program() {
        let log = "libbpf: prog 'handle': BPF program load failed: Permission denied\n\
                   libbpf: prog 'handle': -- BEGIN PROG LOAD LOG --\n\
                   0: (b7) r0 = 0\n\
                   R1 invalid mem access 'scalar'\n\
                   processed 3 insns\n\
                   -- END PROG LOAD LOG --\n\
                   libbpf: prog 'handle': failed to load: -13\n";
        let e = load_error(
            "p.bpf.o",
            &[],
            log,
            &libbpf_rs::Error::from_raw_os_error(13),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("the kernel refused to load program `handle` (Permission denied)"),
            "{text}"
        );
        assert!(
            text.contains("R1 invalid mem access 'scalar' | processed 3 insns"),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn other_failures_say_what_libbpf_said_last() {
        let log = "libbpf: elf: skipping unrecognized data section(7) .rodata.str1.1\n\
                   libbpf: extern (kcfg) 'CONFIG_X': value 7 is out of range\n\
                   libbpf: failed to load object 'p'\n";
        let e = why(log, &libbpf_rs::Error::from_raw_os_error(22));
        assert!(e.contains("extern (kcfg) 'CONFIG_X'"), "{e}");
        assert!(!e.contains("libbpf: "), "{e}");
        assert!(!e.contains('\n'), "{e}");
        assert!(!e.contains("failed to load object"), "{e}");
    }

    #[test]
    fn a_missing_fentry_target_is_named() {
        let log = "libbpf: prog 'do_page_cache_ra': failed to find kernel BTF type ID of 'do_page_cache_ra': -ESRCH\n\
                   libbpf: prog 'do_page_cache_ra': failed to prepare load attributes: -ESRCH\n";
        let programs = [program("do_page_cache_ra", "fentry/do_page_cache_ra")];
        let e = load_error(
            "r.bpf.o",
            &programs,
            log,
            &libbpf_rs::Error::from_raw_os_error(3),
        );
        let text = e.to_string();
        assert!(
            text.contains("load program `do_page_cache_ra` (fentry/do_page_cache_ra): this kernel has no `do_page_cache_ra`"),
            "{text}"
        );
    }
}
