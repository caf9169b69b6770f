//! The one table of eBPF program types.
//!
//! Templates, `build`, packaging and the runtime all read this table: which
//! ELF section names belong to a type, how it is attached, which run-time
//! arguments attaching needs, what the kernel must offer, and the name bpfman
//! uses for it. Nothing else in the project keeps its own copy of these facts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

/// A run-time argument that attaching a program needs (never hard-coded in
/// generated programs: their user space takes it from the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachArg {
    /// Network interface name, e.g. `lo`, `eth0`.
    Iface,
    /// Traffic direction: `ingress` or `egress`.
    Direction,
    /// Path of a cgroup v2 directory.
    Cgroup,
    /// Path of an executable or shared library.
    Binary,
    /// Symbol (function) name in `binary`, or a kernel function for kprobes.
    Symbol,
    /// Restrict to one process id (optional everywhere it appears).
    Pid,
    /// Sampling frequency in Hz.
    Frequency,
}

impl AttachArg {
    pub const fn name(self) -> &'static str {
        match self {
            AttachArg::Iface => "iface",
            AttachArg::Direction => "direction",
            AttachArg::Cgroup => "cgroup",
            AttachArg::Binary => "binary",
            AttachArg::Symbol => "symbol",
            AttachArg::Pid => "pid",
            AttachArg::Frequency => "frequency",
        }
    }
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
    /// libbpf section names (`SEC("...")`) of this type: exact names or
    /// prefixes followed by `/` and an attach target.
    pub sections: &'static [&'static str],
    /// The section the templates use.
    pub template_section: &'static str,
    /// bpfman's name for the type in the `io.ebpf.programs` label, where bpfman
    /// supports it.
    pub bpfman: Option<&'static str>,
    /// Run-time attach arguments, required ones first.
    pub args: &'static [AttachArg],
    /// Optional run-time arguments.
    pub optional_args: &'static [AttachArg],
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
        sections: &["xdp", "xdp.frags"],
        template_section: "xdp",
        bpfman: Some("xdp"),
        args: &[Iface],
        optional_args: &[],
        min_kernel: (4, 8),
        needs: &[],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Tc,
        name: "tc",
        summary: "packets and bytes per IP protocol at a tc (clsact) hook, ingress or egress",
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
        template_section: "classifier",
        bpfman: Some("tc"),
        args: &[Iface, Direction],
        optional_args: &[],
        min_kernel: (4, 5),
        needs: &[],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Tracepoint,
        name: "tracepoint",
        summary: "every exec on the host: pid, uid, command and file name through a ring buffer",
        sections: &["tracepoint/", "tp/"],
        template_section: "tracepoint/sched/sched_process_exec",
        bpfman: Some("tracepoint"),
        args: &[],
        optional_args: &[],
        min_kernel: (5, 8),
        needs: &[],
        output: Output::Events,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::RawTracepoint,
        name: "raw_tracepoint",
        summary: "system calls counted per syscall number, optionally for one process",
        sections: &["raw_tracepoint/", "raw_tp/", "tp_btf/"],
        template_section: "raw_tracepoint/sys_enter",
        bpfman: None,
        args: &[],
        optional_args: &[Pid],
        min_kernel: (4, 17),
        needs: &[],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Kprobe,
        name: "kprobe",
        summary: "calls of a kernel function counted per process",
        sections: &["kprobe/", "kprobe", "ksyscall/", "kprobe.multi/"],
        template_section: "kprobe/do_unlinkat",
        bpfman: Some("kprobe"),
        args: &[Symbol],
        optional_args: &[],
        min_kernel: (4, 1),
        needs: &[Kprobes],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Kretprobe,
        name: "kretprobe",
        summary: "returns of a kernel function per process: calls and errors (negative returns)",
        sections: &[
            "kretprobe/",
            "kretprobe",
            "kretsyscall/",
            "kretprobe.multi/",
        ],
        template_section: "kretprobe/do_unlinkat",
        bpfman: Some("kprobe"),
        args: &[Symbol],
        optional_args: &[],
        min_kernel: (4, 1),
        needs: &[Kprobes],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Uprobe,
        name: "uprobe",
        summary: "calls of a function in a binary chosen at run time, counted per process",
        sections: &[
            "uprobe/",
            "uprobe",
            "uprobe.s/",
            "uprobe.s",
            "uprobe.multi/",
        ],
        template_section: "uprobe//bin/bash:readline",
        bpfman: Some("uprobe"),
        args: &[Binary, Symbol],
        optional_args: &[Pid],
        min_kernel: (4, 3),
        needs: &[Uprobes],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Uretprobe,
        name: "uretprobe",
        summary: "return values of a function in a binary chosen at run time, as events",
        sections: &[
            "uretprobe/",
            "uretprobe",
            "uretprobe.s/",
            "uretprobe.s",
            "uretprobe.multi/",
        ],
        template_section: "uretprobe//bin/bash:readline",
        bpfman: Some("uprobe"),
        args: &[Binary, Symbol],
        optional_args: &[Pid],
        min_kernel: (5, 8),
        needs: &[Uprobes],
        output: Output::Events,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Usdt,
        name: "usdt",
        summary: "user statically defined tracepoints (built and packaged; no template)",
        sections: &["usdt/", "usdt"],
        template_section: "usdt",
        bpfman: Some("uprobe"),
        args: &[Binary],
        optional_args: &[Pid],
        min_kernel: (4, 3),
        needs: &[Uprobes],
        output: Output::Counters,
        templated: false,
    },
    TypeInfo {
        ty: ProgramType::Fentry,
        name: "fentry",
        summary: "file deletions (do_unlinkat entry) with pid, comm and name as events",
        sections: &["fentry/", "fentry.s/"],
        template_section: "fentry/do_unlinkat",
        bpfman: Some("fentry"),
        args: &[],
        optional_args: &[],
        min_kernel: (5, 8),
        needs: &[Trampolines, KernelBtf],
        output: Output::Events,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Fexit,
        name: "fexit",
        summary: "file deletions (do_unlinkat exit) with their result as events",
        sections: &["fexit/", "fexit.s/"],
        template_section: "fexit/do_unlinkat",
        bpfman: Some("fexit"),
        args: &[],
        optional_args: &[],
        min_kernel: (5, 8),
        needs: &[Trampolines, KernelBtf],
        output: Output::Events,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::CgroupSkb,
        name: "cgroup_skb",
        summary: "packets and bytes in and out of a cgroup",
        sections: &["cgroup_skb/ingress", "cgroup_skb/egress", "cgroup/skb"],
        template_section: "cgroup_skb/ingress",
        bpfman: None,
        args: &[Cgroup],
        optional_args: &[],
        min_kernel: (4, 10),
        needs: &[CgroupV2],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::SocketFilter,
        name: "socket_filter",
        summary: "packets per IP protocol seen by a packet socket on an interface",
        sections: &["socket"],
        template_section: "socket",
        bpfman: None,
        args: &[Iface],
        optional_args: &[],
        min_kernel: (3, 19),
        needs: &[],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::PerfEvent,
        name: "perf_event",
        summary: "a sampling profiler: on-CPU samples per process on every CPU",
        sections: &["perf_event"],
        template_section: "perf_event",
        bpfman: None,
        args: &[],
        optional_args: &[Frequency],
        min_kernel: (4, 9),
        needs: &[PerfEvents],
        output: Output::Counters,
        templated: true,
    },
    TypeInfo {
        ty: ProgramType::Lsm,
        name: "lsm",
        summary: "a policy: refuses mkdir of one directory name, reports every decision",
        sections: &["lsm/", "lsm.s/"],
        template_section: "lsm/path_mkdir",
        bpfman: None,
        args: &[],
        optional_args: &[],
        min_kernel: (5, 7),
        needs: &[BpfLsm, KernelBtf],
        output: Output::Events,
        templated: true,
    },
];

impl ProgramType {
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

/// What an ELF section name says about the program in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub ty: ProgramType,
    /// The attach target written in the section name, if any
    /// (`sched/sched_process_exec`, `do_unlinkat`, `ingress`, ...).
    pub target: Option<String>,
}

/// Classifies a libbpf-style section name. `None` for sections that hold no
/// program (`.maps`, `license`, ...) or that no row of the table claims.
pub fn classify_section(section: &str) -> Option<Section> {
    // The longest matching pattern wins: `kretprobe/` must not be taken as `kprobe`.
    let mut best: Option<(usize, ProgramType, Option<String>)> = None;
    for info in TYPES {
        for pat in info.sections {
            let hit = if let Some(prefix) = pat.strip_suffix('/') {
                section
                    .strip_prefix(prefix)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .map(|t| Some(t.to_string()))
            } else if section == *pat {
                Some(None)
            } else {
                // `tc/ingress` style names are complete; `socket/xyz` style
                // names carry an ignored suffix in libbpf.
                section
                    .strip_prefix(pat)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .map(|t| Some(t.to_string()))
            };
            if let Some(target) = hit
                && best.as_ref().is_none_or(|(len, _, _)| pat.len() > *len)
            {
                best = Some((pat.len(), info.ty, target));
            }
        }
    }
    best.map(|(_, ty, target)| {
        let target = match (ty, target) {
            (ProgramType::CgroupSkb, None) => section.rsplit('/').next().map(str::to_string),
            (ProgramType::Tc, None) => section.split_once('/').map(|(_, dir)| dir.to_string()),
            (_, t) => t.filter(|t| !t.is_empty()),
        };
        Section { ty, target }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for info in TYPES {
            assert_eq!(info.name.parse::<ProgramType>().unwrap(), info.ty);
            assert_eq!(info.ty.info().name, info.name);
        }
        assert_eq!(
            "raw-tracepoint".parse::<ProgramType>().unwrap(),
            ProgramType::RawTracepoint
        );
        let err = "xpd".parse::<ProgramType>().unwrap_err().to_string();
        assert!(
            err.contains("unknown program type `xpd`") && err.contains("socket_filter"),
            "{err}"
        );
    }

    #[test]
    fn template_sections_classify_as_their_type() {
        for info in TYPES {
            let s = classify_section(info.template_section).unwrap();
            assert_eq!(s.ty, info.ty, "{}", info.template_section);
        }
    }

    #[test]
    fn libbpf_section_names() {
        let cases = [
            ("xdp", ProgramType::Xdp, None),
            (
                "tp/syscalls/sys_enter_openat",
                ProgramType::Tracepoint,
                Some("syscalls/sys_enter_openat"),
            ),
            (
                "tracepoint/sched/sched_switch",
                ProgramType::Tracepoint,
                Some("sched/sched_switch"),
            ),
            (
                "kprobe/do_unlinkat",
                ProgramType::Kprobe,
                Some("do_unlinkat"),
            ),
            (
                "kretprobe/do_unlinkat",
                ProgramType::Kretprobe,
                Some("do_unlinkat"),
            ),
            ("ksyscall/execve", ProgramType::Kprobe, Some("execve")),
            (
                "uretprobe//bin/bash:readline",
                ProgramType::Uretprobe,
                Some("/bin/bash:readline"),
            ),
            ("uprobe", ProgramType::Uprobe, None),
            (
                "usdt/libc.so.6:libc:setjmp",
                ProgramType::Usdt,
                Some("libc.so.6:libc:setjmp"),
            ),
            (
                "fentry/do_unlinkat",
                ProgramType::Fentry,
                Some("do_unlinkat"),
            ),
            ("fexit/do_unlinkat", ProgramType::Fexit, Some("do_unlinkat")),
            ("cgroup_skb/egress", ProgramType::CgroupSkb, Some("egress")),
            ("socket", ProgramType::SocketFilter, None),
            ("perf_event", ProgramType::PerfEvent, None),
            ("lsm/file_open", ProgramType::Lsm, Some("file_open")),
            (
                "raw_tp/sched_switch",
                ProgramType::RawTracepoint,
                Some("sched_switch"),
            ),
            ("tc", ProgramType::Tc, None),
            ("tcx/ingress", ProgramType::Tc, Some("ingress")),
        ];
        for (sec, ty, target) in cases {
            let got = classify_section(sec).unwrap_or_else(|| panic!("{sec} not classified"));
            assert_eq!(got.ty, ty, "{sec}");
            assert_eq!(got.target.as_deref(), target, "{sec}");
        }
    }

    #[test]
    fn non_program_sections() {
        for sec in [
            ".maps",
            "license",
            ".rodata",
            ".text",
            "xdpfoo",
            "kprobex/a",
            "",
        ] {
            assert_eq!(classify_section(sec), None, "{sec}");
        }
    }
}

/// The table as Markdown, for docs/program-types.md (a test keeps the doc
/// equal to it).
pub fn markdown_table() -> String {
    let mut s = String::from(
        "| type | what the template does | sections | attach arguments | first kernel | kernel needs | bpfman type | template |\n|---|---|---|---|---|---|---|---|\n",
    );
    for t in TYPES {
        let secs: Vec<String> = t.sections.iter().map(|x| format!("`{x}`")).collect();
        let mut args: Vec<String> = t.args.iter().map(|a| format!("`{}`", a.name())).collect();
        args.extend(
            t.optional_args
                .iter()
                .map(|a| format!("`{}` (optional)", a.name())),
        );
        let needs: Vec<&str> = t.needs.iter().map(|n| n.describe()).collect();
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {}.{} | {} | {} | {} |\n",
            t.name,
            t.summary,
            secs.join(" "),
            if args.is_empty() {
                "none".into()
            } else {
                args.join(", ")
            },
            t.min_kernel.0,
            t.min_kernel.1,
            if needs.is_empty() {
                "—".into()
            } else {
                needs.join("; ")
            },
            t.bpfman.unwrap_or("—"),
            if t.templated { "yes" } else { "no" },
        ));
    }
    s
}

#[cfg(test)]
mod doc_tests {
    /// docs/program-types.md carries this table; `UPDATE_DOCS=1 cargo test`
    /// rewrites it.
    #[test]
    fn program_types_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/program-types.md");
        let doc = std::fs::read_to_string(path).expect("docs/program-types.md");
        let (start, end) = ("<!-- table:start -->\n", "<!-- table:end -->");
        let a = doc.find(start).expect("table start marker") + start.len();
        let b = doc.find(end).expect("table end marker");
        let table = super::markdown_table();
        if doc[a..b] != table {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(path, format!("{}{table}{}", &doc[..a], &doc[b..])).unwrap();
            } else {
                panic!(
                    "docs/program-types.md is out of date with the table; run `UPDATE_DOCS=1 cargo test -p ebpf-kinds`"
                );
            }
        }
    }
}
