//! What a libbpf-style ELF section name says about the program in it.

use crate::{ProgramType, TYPES};

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
    use crate::{ProgramType, TYPES};

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
    fn canonical_sections_classify_as_their_type() {
        for info in TYPES {
            // Types whose sections carry a target get one; the others none.
            let target = match info.ty {
                ProgramType::CgroupSkb => Some("ingress"),
                _ if info.sections.iter().any(|s| s.ends_with('/')) => Some("a/b"),
                _ => None,
            };
            let section = info.ty.section(target);
            assert_eq!(
                classify_section(&section).map(|s| s.ty),
                Some(info.ty),
                "{section}"
            );
        }
        assert_eq!(
            ProgramType::Uprobe.section(Some("/bin/bash:readline")),
            "uprobe//bin/bash:readline"
        );
        assert_eq!(ProgramType::Tc.section(None), "classifier");
    }

    #[test]
    fn aya_attributes() {
        let cases = [
            (ProgramType::Xdp, None, "#[xdp]"),
            (ProgramType::Tc, None, "#[classifier]"),
            (
                ProgramType::Tracepoint,
                Some("sched/sched_process_exec"),
                r#"#[tracepoint(category = "sched", name = "sched_process_exec")]"#,
            ),
            (
                ProgramType::RawTracepoint,
                Some("sys_enter"),
                r#"#[raw_tracepoint(tracepoint = "sys_enter")]"#,
            ),
            (
                ProgramType::Kretprobe,
                Some("do_unlinkat"),
                r#"#[kretprobe(function = "do_unlinkat")]"#,
            ),
            (
                ProgramType::Uprobe,
                Some("/bin/bash:readline"),
                r#"#[uprobe(path = "/bin/bash", function = "readline")]"#,
            ),
            (
                ProgramType::Fexit,
                Some("do_unlinkat"),
                r#"#[fexit(function = "do_unlinkat")]"#,
            ),
            (
                ProgramType::CgroupSkb,
                Some("egress"),
                "#[cgroup_skb(egress)]",
            ),
            (ProgramType::SocketFilter, None, "#[socket_filter]"),
            (ProgramType::PerfEvent, None, "#[perf_event]"),
        ];
        for (ty, target, want) in cases {
            assert_eq!(ty.aya_attribute(target), want);
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
