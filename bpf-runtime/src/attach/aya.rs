//! The aya loader, for objects aya built (their maps in the legacy `maps`
//! section): what their authors test with.

use std::os::fd::OwnedFd;

use aya::programs::{
    CgroupAttachMode, CgroupSkb, CgroupSkbAttachType, FEntry, FExit, KProbe, Lsm, PerfEvent,
    ProgramError, RawTracePoint, SchedClassifier, SocketFilter, TcAttachType, TracePoint, UProbe,
    Xdp, XdpMode,
    perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    uprobe::UProbeScope,
};
use aya::{Btf, Ebpf, EbpfLoader};
use ebpf_cli::error_chain;
use ebpf_kinds::{AttachArg, AttachPoint, Direction, ProgramType};
use ebpf_object::ProgramInfo;

use super::net::{check_iface, packet_socket};
use super::{AttachOptions, Attached, Backing, Loaded, ProgramArgs, XdpAttachMode, verifier_tail};
use super::{cgroup_of, kernel_at_least, tracepoint_of, uprobe_of};
use crate::error::{Result, RuntimeError};
use crate::package::OpenedPackage;

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
        other => RuntimeError::kernel(action, error_chain(&other)),
    }
}

/// Loads the package's bytecode, sets its variables, and attaches every
/// program.
pub(super) fn load(
    pkg: &OpenedPackage,
    opts: &AttachOptions,
    values: &[(String, Vec<u8>)],
) -> Result<Loaded> {
    // The loader holds its own parse of the kernel's BTF (aya reads it in
    // `EbpfLoader::new`): dropped here, before fentry, fexit and lsm parse
    // it again to find their targets, so the two are never in memory at once.
    let mut ebpf = {
        let mut loader = EbpfLoader::new();
        for (name, bytes) in values {
            loader.override_global(name.as_str(), bytes.as_slice(), true);
        }
        // aya parses the object again here: a malformed one must be an
        // error, not a panic (what it created so far is dropped on unwind).
        ebpf_object::without_panics(|| loader.load(&pkg.bytecode))
            .map_err(|why| RuntimeError::Object {
                path: pkg.bytecode_name.clone().into(),
                message: format!("the object is malformed: its parser failed on it ({why})"),
            })?
            .map_err(|e| {
                RuntimeError::kernel(
                    format!("load {}", pkg.bytecode_name),
                    explain_load(error_chain(&e)),
                )
            })?
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
    // The maps move out of the loader; the programs stay with it.
    let names: Vec<String> = ebpf.maps().map(|(name, _)| name.to_string()).collect();
    let maps = names
        .into_iter()
        .filter_map(|name| Some((name.clone(), ebpf.take_map(&name)?)))
        .collect();
    Ok(Loaded::new(attached, maps, sockets, Backing::Aya(ebpf)))
}

/// A load failure, with what to do about the one aya limit users meet that
/// libbpf does not have.
fn explain_load(chain: String) -> String {
    if chain.contains("invalid access string") && chain.contains("array index out of bounds") {
        return format!(
            "{chain}; aya cannot apply a CO-RE relocation that indexes past a zero-length array (as `ctx->args[N]` of struct bpf_raw_tracepoint_args does; libbpf allows it): read the arguments with BPF_PROG() from <bpf/bpf_tracing.h> instead"
        );
    }
    chain
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
) -> Result<(AttachPoint, Option<OwnedFd>)> {
    let name = p.name.as_str();
    let target = p.target.clone().unwrap_or_default();
    let args = ProgramArgs::new(p, &opts.flags);
    // Arguments are resolved (and checked) before the program is borrowed
    // from `ebpf`, and before anything is loaded.
    let needs = |arg| p.ty.info().arg(arg).is_some_and(|s| s.required);
    let iface = if needs(AttachArg::Iface) {
        Some(args.require(AttachArg::Iface)?)
    } else {
        None
    };
    let direction = args.direction()?;
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
    // fentry, fexit and lsm find their target in the kernel's BTF, parsed
    // once for all of them.
    macro_rules! btf_typed {
        ($t:ty) => {{
            let btf = kernel_btf(btf)?;
            let prog = ebpf.program_mut(name).expect("found above");
            let r: std::result::Result<&mut $t, ProgramError> = prog.try_into();
            (
                r.map_err(|e| program_error(format!("use `{name}`"), name, e))?,
                btf,
            )
        }};
    }
    match p.ty {
        ProgramType::Xdp => {
            let iface = iface.expect("xdp requires --iface");
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
            Ok((AttachPoint::Xdp { iface }, None))
        }
        ProgramType::Tc => {
            let iface = iface.expect("tc requires --iface");
            check_iface(&iface)?;
            let direction = direction.expect("tc has a default direction");
            let attach_type = match direction {
                Direction::Ingress => TcAttachType::Ingress,
                Direction::Egress => TcAttachType::Egress,
            };
            let c = typed!(SchedClassifier);
            c.load().map_err(load_err)?;
            c.attach(&iface, attach_type)
                .map_err(attach_err(format!("{iface} {direction}")))?;
            Ok((AttachPoint::Tc { iface, direction }, None))
        }
        ProgramType::Tracepoint => {
            let (category, event) = tracepoint_of(name, &target)?;
            let t = typed!(TracePoint);
            t.load().map_err(load_err)?;
            t.attach(category, event)
                .map_err(attach_err(format!("tracepoint {target}")))?;
            Ok((
                AttachPoint::Tracepoint {
                    category: category.into(),
                    name: event.into(),
                },
                None,
            ))
        }
        ProgramType::RawTracepoint => {
            let t = typed!(RawTracePoint);
            t.load().map_err(load_err)?;
            t.attach(&target)
                .map_err(attach_err(format!("raw tracepoint {target}")))?;
            Ok((AttachPoint::RawTracepoint { name: target }, None))
        }
        ProgramType::Kprobe | ProgramType::Kretprobe => {
            let function = args.require(AttachArg::Symbol)?;
            let k = typed!(KProbe);
            k.load().map_err(load_err)?;
            k.attach(&function, 0)
                .map_err(attach_err(format!("kernel function {function}")))?;
            let ret = p.ty == ProgramType::Kretprobe;
            Ok((AttachPoint::Kprobe { function, ret }, None))
        }
        ProgramType::Uprobe | ProgramType::Uretprobe => {
            let (binary, symbol) = uprobe_of(&args)?;
            let scope = match args.pid()?.and_then(std::num::NonZeroU32::new) {
                Some(pid) => UProbeScope::OneProcess(pid),
                None => UProbeScope::AllProcesses,
            };
            let u = typed!(UProbe);
            u.load().map_err(load_err)?;
            u.attach(symbol.as_str(), &binary, scope)
                .map_err(attach_err(format!("{}:{symbol}", binary.display())))?;
            let ret = p.ty == ProgramType::Uretprobe;
            Ok((
                AttachPoint::Uprobe {
                    binary,
                    symbol,
                    ret,
                },
                None,
            ))
        }
        ProgramType::Fentry => {
            let (f, btf): (&mut FEntry, _) = btf_typed!(FEntry);
            f.load(&target, btf).map_err(load_err)?;
            f.attach().map_err(attach_err(format!("fentry {target}")))?;
            Ok((AttachPoint::Fentry { function: target }, None))
        }
        ProgramType::Fexit => {
            let (f, btf): (&mut FExit, _) = btf_typed!(FExit);
            f.load(&target, btf).map_err(load_err)?;
            f.attach().map_err(attach_err(format!("fexit {target}")))?;
            Ok((AttachPoint::Fexit { function: target }, None))
        }
        ProgramType::Lsm => {
            let (l, btf): (&mut Lsm, _) = btf_typed!(Lsm);
            l.load(&target, btf).map_err(load_err)?;
            l.attach()
                .map_err(attach_err(format!("LSM hook {target}")))?;
            Ok((AttachPoint::Lsm { hook: target }, None))
        }
        ProgramType::CgroupSkb => {
            let (cgroup, dir) = cgroup_of(&args)?;
            let c = typed!(CgroupSkb);
            let attach_type = match (c.expected_attach_type(), direction) {
                (Some(t), _) => *t,
                (None, Some(Direction::Ingress)) => CgroupSkbAttachType::Ingress,
                (None, Some(Direction::Egress)) => CgroupSkbAttachType::Egress,
                (None, None) => {
                    return Err(RuntimeError::usage(format!(
                        "program `{name}` (cgroup_skb) needs --direction: its section `{}` names none",
                        p.section
                    )));
                }
            };
            c.load().map_err(load_err)?;
            // From 5.7 aya attaches with a link, which shares the cgroup
            // with other programs anyway, and the kernel refuses any attach
            // flag with it: BPF_F_ALLOW_MULTI made bpf_link_create fail
            // EINVAL. Before 5.7 (prog_attach) sharing must be asked for.
            let mode = if kernel_at_least(5, 7) {
                CgroupAttachMode::Single
            } else {
                CgroupAttachMode::AllowMultiple
            };
            c.attach(&dir, attach_type, mode)
                .map_err(attach_err(format!("cgroup {}", cgroup.display())))?;
            let direction = match attach_type {
                CgroupSkbAttachType::Ingress => Direction::Ingress,
                CgroupSkbAttachType::Egress => Direction::Egress,
            };
            Ok((AttachPoint::CgroupSkb { cgroup, direction }, None))
        }
        ProgramType::SocketFilter => {
            let iface = iface.expect("socket_filter requires --iface");
            let index = check_iface(&iface)?;
            let socket = packet_socket(index)
                .map_err(|e| RuntimeError::kernel(format!("open a packet socket on {iface}"), e))?;
            let s = typed!(SocketFilter);
            s.load().map_err(load_err)?;
            s.attach(&socket)
                .map_err(attach_err(format!("a packet socket on {iface}")))?;
            Ok((AttachPoint::SocketFilter { iface }, Some(socket)))
        }
        ProgramType::PerfEvent => {
            let frequency = args.frequency()?;
            let pe = typed!(PerfEvent);
            pe.load().map_err(load_err)?;
            let cpus = aya::util::online_cpus()
                .map_err(|(what, e)| RuntimeError::kernel(format!("read {what}"), e))?;
            for cpu in &cpus {
                pe.attach(
                    PerfEventConfig::Software(SoftwareEvent::CpuClock),
                    PerfEventScope::AllProcessesOneCpu { cpu: *cpu },
                    SamplePolicy::Frequency(frequency),
                    false,
                )
                .map_err(attach_err(format!("the CPU clock of CPU {cpu}")))?;
            }
            let cpus = cpus.len();
            Ok((AttachPoint::PerfEvent { frequency, cpus }, None))
        }
        ProgramType::Usdt => Err(RuntimeError::usage(format!(
            "program `{name}` is a USDT probe in an object aya built, and aya cannot attach USDT probes; declare its maps the libbpf way (`SEC(\".maps\")`) so that bpf-runtime loads it with libbpf"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flexible_array_relocation_says_what_to_write_instead() {
        let aya = "error relocating section: error relocating `raw_tracepoint/sys_enter`: invalid access string `0:0:1` for type ``: array index out of bounds".to_string();
        assert!(explain_load(aya).contains("read the arguments with BPF_PROG()"));
        assert_eq!(explain_load("EPERM".into()), "EPERM");
    }
}
