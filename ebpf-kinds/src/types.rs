//! The table of program types and what each one needs from the kernel.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{ArgSpec, AttachArg};

/// A program type that cargo-ebpf can generate, build, package and attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProgramType {
    Xdp,
    Tc,
    Tracepoint,
    RawTracepoint,
    Kprobe,
    Kretprobe,
    Uprobe,
    Uretprobe,
    Usdt,
    Fentry,
    Fexit,
    CgroupSkb,
    SocketFilter,
    PerfEvent,
    Lsm,
}

/// How the generated program reports what it observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// Records streamed through a ring buffer.
    Events,
    /// Counters in a hash or array map, read periodically.
    Counters,
}

/// A kernel feature a program type (or an object) depends on beyond the
/// program and map types themselves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelNeed {
    /// `CONFIG_KPROBES` (the `kprobe` PMU).
    Kprobes,
    /// `CONFIG_UPROBES` (the `uprobe` PMU).
    Uprobes,
    /// BPF trampolines: fentry/fexit/lsm attach through BTF ids.
    Trampolines,
    /// The BPF LSM is enabled (`CONFIG_BPF_LSM` and `bpf` in `lsm=`).
    BpfLsm,
    /// Kernel BTF at `/sys/kernel/btf/vmlinux`.
    KernelBtf,
    /// cgroup v2 mounted.
    CgroupV2,
    /// perf events (`perf_event_open`).
    PerfEvents,
    /// Global variables (`.rodata`, `.data`, `.bss` as array maps).
    GlobalData,
}

impl KernelNeed {
    /// Every need, in the order `bpf-runtime features` lists them.
    pub const ALL: [KernelNeed; 8] = [
        KernelNeed::KernelBtf,
        KernelNeed::Kprobes,
        KernelNeed::Uprobes,
        KernelNeed::Trampolines,
        KernelNeed::BpfLsm,
        KernelNeed::CgroupV2,
        KernelNeed::PerfEvents,
        KernelNeed::GlobalData,
    ];

    /// The name in metadata and `BPF_RUNTIME_ABSENT` (its serde name).
    pub const fn name(self) -> &'static str {
        match self {
            KernelNeed::Kprobes => "kprobes",
            KernelNeed::Uprobes => "uprobes",
            KernelNeed::Trampolines => "trampolines",
            KernelNeed::BpfLsm => "bpf_lsm",
            KernelNeed::KernelBtf => "kernel_btf",
            KernelNeed::CgroupV2 => "cgroup_v2",
            KernelNeed::PerfEvents => "perf_events",
            KernelNeed::GlobalData => "global_data",
        }
    }

    pub const fn describe(self) -> &'static str {
        match self {
            KernelNeed::Kprobes => "kprobes (CONFIG_KPROBES)",
            KernelNeed::Uprobes => "uprobes (CONFIG_UPROBE_EVENTS)",
            KernelNeed::Trampolines => "BPF trampolines (fentry/fexit, x86_64 5.5+ / arm64 6.0+)",
            KernelNeed::BpfLsm => "the BPF LSM (CONFIG_BPF_LSM and `bpf` in the lsm= boot list)",
            KernelNeed::KernelBtf => "kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)",
            KernelNeed::CgroupV2 => "a cgroup v2 hierarchy",
            KernelNeed::PerfEvents => "perf events (CONFIG_PERF_EVENTS)",
            KernelNeed::GlobalData => "global data in maps (Linux 5.2)",
        }
    }

    /// The first mainline kernel that has the feature.
    pub const fn min_kernel(self) -> (u32, u32) {
        match self {
            KernelNeed::Kprobes => (4, 1),
            KernelNeed::Uprobes => (4, 3),
            KernelNeed::Trampolines => (5, 5),
            KernelNeed::BpfLsm => (5, 7),
            KernelNeed::KernelBtf => (5, 4),
            KernelNeed::CgroupV2 => (4, 10),
            KernelNeed::PerfEvents => (4, 9),
            KernelNeed::GlobalData => (5, 2),
        }
    }
}

/// Everything cargo-ebpf knows about one program type.
#[derive(Debug, Serialize)]
pub struct TypeInfo {
    pub ty: ProgramType,
    /// Stable name used on the command line, in manifests and image metadata.
    pub name: &'static str,
    /// One line: what the generated template for this type does.
    pub summary: &'static str,
    /// What `bpf-runtime` attaches a program of this type to.
    pub attaches_to: &'static str,
    /// libbpf section names (`SEC("...")`) of this type: exact names or
    /// prefixes followed by `/` and an attach target.
    pub sections: &'static [&'static str],
    /// The section name (without its attach target) that every loader takes
    /// for this type, aya included: what templates write and hints suggest.
    pub section: &'static str,
    /// aya-ebpf's attribute macro for the type (`#[kprobe(...)]`).
    pub aya_macro: &'static str,
    /// bpfman's name for the type in the `io.ebpf.programs` label, where bpfman
    /// supports it.
    pub bpfman: Option<&'static str>,
    /// The program `type` of bpfman-operator's (Cluster)BpfApplication, where
    /// it has one.
    pub bpfman_operator: Option<&'static str>,
    /// Run-time attach arguments, required ones first, with their defaults.
    pub args: &'static [ArgSpec],
    /// First mainline kernel that attaches this type the way cargo-ebpf does.
    pub min_kernel: (u32, u32),
    pub needs: &'static [KernelNeed],
    pub output: Output,
    /// Whether `cargo ebpf new` has a template for this type.
    pub templated: bool,
}

use AttachArg::*;
use KernelNeed::*;

/// The table. Order is the order `cargo ebpf new --list` prints.
pub static TYPES: &[TypeInfo] = &[
    TypeInfo {
        ty: ProgramType::Xdp,
        name: "xdp",
        summary: "packets and bytes per IP protocol on an interface (per-CPU map)",
        attaches_to: "an interface",
        sections: &["xdp", "xdp.frags"],
        section: "xdp",
        aya_macro: "xdp",
        bpfman: Some("xdp"),
        bpfman_operator: Some("XDP"),
        args: &[ArgSpec::required(Iface)],
        min_kernel: (4, 8),
        needs: &[],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Tc,
        name: "tc",
        summary: "packets and bytes per IP protocol at a tc (clsact) hook, ingress or egress",
        attaches_to: "an interface's ingress or egress (tcx on 6.6+, else a clsact filter)",
        sections: &[
            "tc",
            "classifier",
            "tcx/ingress",
            "tcx/egress",
            "tc/ingress",
            "tc/egress",
        ],
        // "classifier", not "tc": aya (bpf-runtime's and bpfman's loader)
        // knows only the older name; libbpf and cilium/ebpf take both.
        section: "classifier",
        aya_macro: "classifier",
        bpfman: Some("tc"),
        bpfman_operator: Some("TC"),
        args: &[
            ArgSpec::required(Iface),
            ArgSpec::defaulted(Direction, "ingress"),
        ],
        min_kernel: (4, 5),
        needs: &[],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Tracepoint,
        name: "tracepoint",
        summary: "every exec on the host: pid, uid, command and file name through a ring buffer",
        attaches_to: "`CATEGORY/EVENT` from the section",
        sections: &["tracepoint/", "tp/"],
        section: "tracepoint",
        aya_macro: "tracepoint",
        bpfman: Some("tracepoint"),
        bpfman_operator: Some("TracePoint"),
        args: &[],
        min_kernel: (5, 8),
        needs: &[],
        output: Output::Events,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::RawTracepoint,
        name: "raw_tracepoint",
        summary: "system calls counted per syscall number, optionally for one process",
        attaches_to: "the event from the section",
        sections: &["raw_tracepoint/", "raw_tp/", "tp_btf/"],
        section: "raw_tracepoint",
        aya_macro: "raw_tracepoint",
        bpfman: None,
        bpfman_operator: None,
        args: &[ArgSpec::optional(Pid)],
        min_kernel: (4, 17),
        needs: &[],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Kprobe,
        name: "kprobe",
        summary: "calls of a kernel function counted per process",
        attaches_to: "a kernel function",
        sections: &["kprobe/", "kprobe", "ksyscall/", "kprobe.multi/"],
        section: "kprobe",
        aya_macro: "kprobe",
        bpfman: Some("kprobe"),
        bpfman_operator: Some("KProbe"),
        args: &[ArgSpec::required(Symbol)],
        min_kernel: (4, 1),
        needs: &[Kprobes],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Kretprobe,
        name: "kretprobe",
        summary: "returns of a kernel function per process: calls and errors (negative returns)",
        attaches_to: "a kernel function, on return",
        sections: &[
            "kretprobe/",
            "kretprobe",
            "kretsyscall/",
            "kretprobe.multi/",
        ],
        section: "kretprobe",
        aya_macro: "kretprobe",
        bpfman: Some("kprobe"),
        bpfman_operator: Some("KRetProbe"),
        args: &[ArgSpec::required(Symbol)],
        min_kernel: (4, 1),
        needs: &[Kprobes],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Uprobe,
        name: "uprobe",
        summary: "calls of a function in a binary chosen at run time, counted per process",
        attaches_to: "a function in an executable or library",
        sections: &[
            "uprobe/",
            "uprobe",
            "uprobe.s/",
            "uprobe.s",
            "uprobe.multi/",
        ],
        section: "uprobe",
        aya_macro: "uprobe",
        bpfman: Some("uprobe"),
        bpfman_operator: Some("UProbe"),
        args: &[
            ArgSpec::required(Binary),
            ArgSpec::required(Symbol),
            ArgSpec::optional(Pid),
        ],
        min_kernel: (4, 3),
        needs: &[Uprobes],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Uretprobe,
        name: "uretprobe",
        summary: "return values of a function in a binary chosen at run time, as events",
        attaches_to: "a function in an executable or library, on return",
        sections: &[
            "uretprobe/",
            "uretprobe",
            "uretprobe.s/",
            "uretprobe.s",
            "uretprobe.multi/",
        ],
        section: "uretprobe",
        aya_macro: "uretprobe",
        bpfman: Some("uprobe"),
        bpfman_operator: Some("URetProbe"),
        args: &[
            ArgSpec::required(Binary),
            ArgSpec::required(Symbol),
            ArgSpec::optional(Pid),
        ],
        min_kernel: (5, 8),
        needs: &[Uprobes],
        output: Output::Events,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Usdt,
        name: "usdt",
        summary: "user statically defined tracepoints (built and packaged; no template)",
        attaches_to: "a USDT probe (`PROVIDER:NAME`, in `--symbol`) of an executable or library",
        sections: &["usdt/", "usdt"],
        section: "usdt",
        aya_macro: "usdt",
        bpfman: Some("uprobe"),
        bpfman_operator: None,
        args: &[
            ArgSpec::required(Binary),
            ArgSpec::required(Symbol),
            ArgSpec::optional(Pid),
        ],
        min_kernel: (4, 3),
        needs: &[Uprobes],
        output: Output::Counters,
        templated: false,
    },
    TypeInfo {
        ty: ProgramType::Fentry,
        name: "fentry",
        summary: "file deletions (do_unlinkat entry) with pid, comm and name as events",
        attaches_to: "the kernel function from the section (needs kernel BTF)",
        sections: &["fentry/", "fentry.s/"],
        section: "fentry",
        aya_macro: "fentry",
        bpfman: Some("fentry"),
        bpfman_operator: Some("FEntry"),
        args: &[],
        min_kernel: (5, 8),
        needs: &[Trampolines, KernelBtf],
        output: Output::Events,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Fexit,
        name: "fexit",
        summary: "file deletions (do_unlinkat exit) with their result as events",
        attaches_to: "the kernel function from the section, on return (needs kernel BTF)",
        sections: &["fexit/", "fexit.s/"],
        section: "fexit",
        aya_macro: "fexit",
        bpfman: Some("fexit"),
        bpfman_operator: Some("FExit"),
        args: &[],
        min_kernel: (5, 8),
        needs: &[Trampolines, KernelBtf],
        output: Output::Events,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::CgroupSkb,
        name: "cgroup_skb",
        summary: "packets and bytes in and out of a cgroup",
        attaches_to: "a cgroup v2 directory, ingress or egress from the section",
        sections: &["cgroup_skb/ingress", "cgroup_skb/egress", "cgroup/skb"],
        section: "cgroup_skb",
        aya_macro: "cgroup_skb",
        bpfman: None,
        bpfman_operator: None,
        args: &[
            ArgSpec::defaulted(Cgroup, "/sys/fs/cgroup"),
            ArgSpec::optional(Direction),
        ],
        min_kernel: (4, 10),
        needs: &[CgroupV2],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::SocketFilter,
        name: "socket_filter",
        summary: "packets per IP protocol seen by a packet socket on an interface",
        attaches_to: "a packet socket bound to an interface, held open by the runtime",
        sections: &["socket"],
        section: "socket",
        aya_macro: "socket_filter",
        bpfman: None,
        bpfman_operator: None,
        args: &[ArgSpec::required(Iface)],
        min_kernel: (3, 19),
        needs: &[],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::PerfEvent,
        name: "perf_event",
        summary: "a sampling profiler: on-CPU samples per process on every CPU",
        attaches_to: "the CPU clock of every online CPU, sampled",
        sections: &["perf_event"],
        section: "perf_event",
        aya_macro: "perf_event",
        bpfman: None,
        bpfman_operator: None,
        args: &[ArgSpec::defaulted(Frequency, "99")],
        min_kernel: (4, 9),
        needs: &[PerfEvents],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Lsm,
        name: "lsm",
        summary: "a policy: refuses mkdir of one directory name, reports every decision",
        attaches_to: "the LSM hook from the section (needs kernel BTF and the BPF LSM)",
        sections: &["lsm/", "lsm.s/"],
        section: "lsm",
        aya_macro: "lsm",
        bpfman: None,
        bpfman_operator: None,
        args: &[],
        min_kernel: (5, 7),
        needs: &[BpfLsm, KernelBtf],
        output: Output::Events,
        templated: true,
    },
];

impl TypeInfo {
    /// How this type takes attach argument `arg`, if it takes it.
    pub fn arg(&self, arg: AttachArg) -> Option<&'static ArgSpec> {
        self.args.iter().find(|s| s.arg == arg)
    }

    /// The names of its attach arguments, `none` when it takes none.
    pub fn arg_names(&self) -> String {
        if self.args.is_empty() {
            return "none".into();
        }
        let names: Vec<&str> = self.args.iter().map(|s| s.arg.name()).collect();
        names.join(", ")
    }
}

impl ProgramType {
    /// The section name for a program of this type attached to `target`
    /// (`kprobe/do_unlinkat`, `uprobe//bin/bash:readline`, `xdp`).
    pub fn section(self, target: Option<&str>) -> String {
        let base = self.info().section;
        match target {
            // tc's target (a direction) is not part of aya's section name.
            _ if self == ProgramType::Tc => base.to_string(),
            Some(t) if !t.is_empty() => format!("{base}/{t}"),
            _ => base.to_string(),
        }
    }

    /// aya-ebpf's attribute for a program of this type attached to
    /// `target`, as the Rust templates write it.
    pub fn aya_attribute(self, target: Option<&str>) -> String {
        let mac = self.info().aya_macro;
        let Some(t) = target.filter(|t| !t.is_empty()) else {
            return format!("#[{mac}]");
        };
        let args = match self {
            ProgramType::Tracepoint => match t.split_once('/') {
                Some((category, name)) => format!("category = \"{category}\", name = \"{name}\""),
                None => format!("name = \"{t}\""),
            },
            ProgramType::RawTracepoint => format!("tracepoint = \"{t}\""),
            ProgramType::Uprobe | ProgramType::Uretprobe => match t.rsplit_once(':') {
                Some((path, function)) => format!("path = \"{path}\", function = \"{function}\""),
                None => format!("path = \"{t}\""),
            },
            ProgramType::Lsm => format!("hook = \"{t}\""),
            ProgramType::CgroupSkb => t.to_string(),
            _ => format!("function = \"{t}\""),
        };
        format!("#[{mac}({args})]")
    }

    /// Whether bpfman-operator's namespaced `BpfApplication` attaches this
    /// type (inside pods: network namespaces or containers); the
    /// cluster-wide one attaches every type with a `bpfman_operator` name.
    pub const fn bpfman_operator_in_namespace(self) -> bool {
        matches!(
            self,
            ProgramType::Xdp | ProgramType::Tc | ProgramType::Uprobe | ProgramType::Uretprobe
        )
    }

    pub fn info(self) -> &'static TypeInfo {
        TYPES
            .iter()
            .find(|t| t.ty == self)
            .expect("every program type has a row in TYPES")
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// All types that have templates, in table order.
    pub fn templated() -> impl Iterator<Item = ProgramType> {
        TYPES.iter().filter(|t| t.templated).map(|t| t.ty)
    }
}

impl fmt::Display for ProgramType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown program type name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownType(pub String);

impl fmt::Display for UnknownType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = TYPES.iter().map(|t| t.name).collect();
        write!(
            f,
            "unknown program type `{}` (known: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownType {}

impl FromStr for ProgramType {
    type Err = UnknownType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.replace('-', "_");
        TYPES
            .iter()
            .find(|t| t.name == wanted)
            .map(|t| t.ty)
            .ok_or_else(|| UnknownType(s.to_string()))
    }
}
