//! The one place attach arguments are resolved, for `bpf-runtime` (which
//! attaches) and `cargo ebpf cluster-manifest` (which writes them for
//! bpfman-operator): the command line's value, else the package's default
//! (`[program.attach]` in its ebpf.toml), else what the program's section
//! names, else the program type's own default (`ebpf-kinds`). Every value is
//! checked for its form wherever it came from, so a typo in a package is
//! refused as surely as one on the command line.

use std::collections::BTreeMap;

use ebpf_kinds::{AttachArg, Direction, ProgramType};

use crate::ProgramInfo;

/// An attach argument that is missing or malformed: one line saying which
/// and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArgError(pub String);

type Result<T> = std::result::Result<T, ArgError>;

/// Attach arguments given on the command line; each overrides the
/// package's default for every program that takes it, or, given as
/// `PROGRAM=VALUE`, for that program alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttachFlags {
    all: BTreeMap<AttachArg, String>,
    one: BTreeMap<(String, AttachArg), String>,
}

impl AttachFlags {
    /// Sets `arg` when `value` is given.
    pub fn with(mut self, arg: AttachArg, value: Option<impl ToString>) -> Self {
        if let Some(v) = value {
            self.all.insert(arg, v.to_string());
        }
        self
    }

    /// Sets `arg` from each of `values`: `VALUE` for every program (once),
    /// `PROGRAM=VALUE` for one — as several uprobes of one object, each on
    /// its own function, need.
    pub fn with_each(mut self, arg: AttachArg, values: &[String]) -> Result<Self> {
        for v in values {
            match v.split_once('=') {
                Some((program, value)) if is_identifier(program) => {
                    self.one
                        .insert((program.to_string(), arg), value.to_string());
                }
                _ if self.all.contains_key(&arg) => {
                    return Err(ArgError(format!(
                        "--{0} given twice for every program ({1} and {v}); write --{0} PROGRAM={v} for one program",
                        arg.name(),
                        self.all[&arg]
                    )));
                }
                _ => {
                    self.all.insert(arg, v.clone());
                }
            }
        }
        Ok(self)
    }

    /// Checks that each `PROGRAM=VALUE` names a program of `programs`.
    pub fn check_programs(&self, programs: &[ProgramInfo]) -> Result<()> {
        for (program, arg) in self.one.keys() {
            if !programs.iter().any(|p| &p.name == program) {
                let names: Vec<&str> = programs.iter().map(|p| p.name.as_str()).collect();
                return Err(ArgError(format!(
                    "--{} {program}=...: the package has no program `{program}` (it has {})",
                    arg.name(),
                    names.join(", ")
                )));
            }
        }
        Ok(())
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where a resolved value came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Flag,
    Package,
    Section,
    Kind,
}

/// The attach arguments of one program.
pub struct ProgramArgs<'a> {
    program: &'a ProgramInfo,
    flags: &'a AttachFlags,
}

impl<'a> ProgramArgs<'a> {
    pub fn new(program: &'a ProgramInfo, flags: &'a AttachFlags) -> Self {
        ProgramArgs { program, flags }
    }

    fn resolve(&self, arg: AttachArg) -> Option<(String, Source)> {
        let own = self.flags.one.get(&(self.program.name.clone(), arg));
        if let Some(v) = own.or_else(|| self.flags.all.get(&arg)) {
            return Some((v.clone(), Source::Flag));
        }
        if let Some(v) = self.program.attach.get(arg.name()) {
            let text = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Some((text, Source::Package));
        }
        if let Some(v) = from_section(self.program.ty, self.program.target.as_deref(), arg) {
            return Some((v, Source::Section));
        }
        let spec = self.program.ty.info().arg(arg)?;
        spec.default.map(|d| (d.to_string(), Source::Kind))
    }

    /// The value of `arg`, if anything gives one; checked for its form.
    pub fn get(&self, arg: AttachArg) -> Result<Option<String>> {
        let Some((value, source)) = self.resolve(arg) else {
            return Ok(None);
        };
        arg.check(&value).map_err(|why| {
            ArgError(match source {
                Source::Flag => why,
                Source::Package => format!(
                    "program `{}`: the package's default {why}; override it with --{}",
                    self.program.name,
                    arg.name()
                ),
                Source::Section | Source::Kind => format!(
                    "program `{}`: section `{}` gives {why}",
                    self.program.name, self.program.section
                ),
            })
        })?;
        Ok(Some(value))
    }

    /// The value of `arg` when the command line or the package gives one
    /// (not what the section or the type would default to); checked.
    pub fn given(&self, arg: AttachArg) -> Result<Option<String>> {
        match self.resolve(arg) {
            Some((_, Source::Flag | Source::Package)) => self.get(arg),
            _ => Ok(None),
        }
    }

    /// The value of `arg`, which the program cannot attach without.
    pub fn require(&self, arg: AttachArg) -> Result<String> {
        self.get(arg)?.ok_or_else(|| {
            ArgError(format!(
                "program `{}` ({}) needs --{}: the package has no default for it",
                self.program.name,
                self.program.ty.name(),
                arg.name()
            ))
        })
    }

    pub fn direction(&self) -> Result<Option<Direction>> {
        Ok(self
            .get(AttachArg::Direction)?
            .map(|d| d.parse().expect("checked")))
    }

    pub fn pid(&self) -> Result<Option<u32>> {
        Ok(self
            .get(AttachArg::Pid)?
            .map(|p| p.parse().expect("checked")))
    }

    pub fn frequency(&self) -> Result<u64> {
        Ok(self
            .require(AttachArg::Frequency)?
            .parse()
            .expect("checked"))
    }
}

/// What a section name says about an argument: `kprobe/do_unlinkat` names
/// the symbol, `uprobe//bin/bash:readline` the binary and the symbol,
/// `tcx/ingress` and `cgroup_skb/egress` the direction.
fn from_section(ty: ProgramType, target: Option<&str>, arg: AttachArg) -> Option<String> {
    let target = target.filter(|t| !t.is_empty())?;
    use ProgramType::*;
    match (ty, arg) {
        (Kprobe | Kretprobe, AttachArg::Symbol) => Some(target.to_string()),
        (Uprobe | Uretprobe, AttachArg::Binary) => target.rsplit_once(':').map(|(b, _)| b.into()),
        (Uprobe | Uretprobe, AttachArg::Symbol) => target.rsplit_once(':').map(|(_, s)| s.into()),
        (Usdt, AttachArg::Binary) => ebpf_kinds::usdt_target(target).map(|(b, _, _)| b.into()),
        (Usdt, AttachArg::Symbol) => {
            ebpf_kinds::usdt_target(target).map(|(_, provider, name)| format!("{provider}:{name}"))
        }
        (Tc | CgroupSkb, AttachArg::Direction) if target.parse::<Direction>().is_ok() => {
            Some(target.to_string())
        }
        _ => None,
    }
}

/// Parses `--set NAME=VALUE`.
pub fn parse_set(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() => Ok((n.trim().to_string(), v.to_string())),
        _ => Err(ArgError(format!("invalid --set `{s}`: write NAME=VALUE"))),
    }
}

impl crate::ObjectInfo {
    /// The bytes each `--set NAME=VALUE` writes into `.rodata`, checked
    /// against the variable's type; `package` names the package in
    /// messages.
    pub fn encode_sets(
        &self,
        package: &str,
        sets: &[(String, String)],
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let big_endian = self.endianness == crate::Endianness::Big;
        let mut values = Vec::new();
        for (name, text) in sets {
            let Some(var) = self.variables.iter().find(|v| &v.name == name) else {
                let known: Vec<&str> = self.variables.iter().map(|v| v.name.as_str()).collect();
                return Err(ArgError(if known.is_empty() {
                    format!("--set {name}: {package} has no variables to set")
                } else {
                    format!(
                        "--set {name}: {package} has no variable `{name}` (it has {})",
                        known.join(", ")
                    )
                }));
            };
            let bytes = var.ty.encode(text, big_endian).map_err(|why| {
                ArgError(format!(
                    "--set {name}={text}: {why} ({name} is {})",
                    var.ty.c_name()
                ))
            })?;
            values.push((name.clone(), bytes));
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_for_one_program_beats_one_for_all() {
        let malloc = program(ProgramType::Uprobe, "uprobe", serde_json::json!({}));
        let free = ProgramInfo {
            name: "q".into(),
            ..malloc.clone()
        };
        let flags = AttachFlags::default()
            .with_each(
                AttachArg::Symbol,
                &["p=malloc".to_string(), "calloc".to_string()],
            )
            .unwrap();
        let symbol = |p: &ProgramInfo| ProgramArgs::new(p, &flags).get(AttachArg::Symbol).unwrap();
        assert_eq!(symbol(&malloc).as_deref(), Some("malloc"));
        assert_eq!(symbol(&free).as_deref(), Some("calloc"));
        // A USDT probe's PROVIDER:NAME is one value for all.
        let usdt = AttachFlags::default()
            .with_each(AttachArg::Symbol, &["python:gc__start".to_string()])
            .unwrap();
        assert_eq!(
            ProgramArgs::new(&malloc, &usdt)
                .get(AttachArg::Symbol)
                .unwrap()
                .as_deref(),
            Some("python:gc__start")
        );
        let twice = AttachFlags::default()
            .with_each(AttachArg::Symbol, &["a".to_string(), "b".to_string()])
            .unwrap_err();
        assert!(
            twice.0.contains("write --symbol PROGRAM=b for one program"),
            "{twice}"
        );
        let ghost = AttachFlags::default()
            .with_each(AttachArg::Symbol, &["ghost=x".to_string()])
            .unwrap()
            .check_programs(&[malloc.clone(), free.clone()])
            .unwrap_err();
        assert_eq!(
            ghost.0,
            "--symbol ghost=...: the package has no program `ghost` (it has p, q)"
        );
    }

    fn program(ty: ProgramType, section: &str, attach: serde_json::Value) -> ProgramInfo {
        let target = ebpf_kinds::classify_section(section).and_then(|s| s.target);
        ProgramInfo {
            name: "p".into(),
            section: section.into(),
            ty,
            target,
            attach: serde_json::from_value(attach).unwrap(),
        }
    }

    #[test]
    fn flag_beats_package_beats_section_beats_kind() {
        let p = program(
            ProgramType::Tc,
            "tcx/egress",
            serde_json::json!({"iface": "eth0"}),
        );
        let none = AttachFlags::default();
        let args = ProgramArgs::new(&p, &none);
        assert_eq!(args.require(AttachArg::Iface).unwrap(), "eth0");
        assert_eq!(args.direction().unwrap(), Some(Direction::Egress));

        let flags = AttachFlags::default()
            .with(AttachArg::Iface, Some("lo"))
            .with(AttachArg::Direction, Some("ingress"));
        let args = ProgramArgs::new(&p, &flags);
        assert_eq!(args.require(AttachArg::Iface).unwrap(), "lo");
        assert_eq!(args.direction().unwrap(), Some(Direction::Ingress));

        // No section direction, no package default: the kind's (ingress).
        let p = program(ProgramType::Tc, "classifier", serde_json::json!({}));
        let args = ProgramArgs::new(&p, &none);
        assert_eq!(args.direction().unwrap(), Some(Direction::Ingress));
    }

    #[test]
    fn kprobe_takes_the_packages_symbol() {
        // The package's default wins over the function the section names
        // (it was ignored, and then reported missing without a section).
        let p = program(
            ProgramType::Kprobe,
            "kprobe/do_unlinkat",
            serde_json::json!({"symbol": "vfs_unlink"}),
        );
        let none = AttachFlags::default();
        assert_eq!(
            ProgramArgs::new(&p, &none)
                .require(AttachArg::Symbol)
                .unwrap(),
            "vfs_unlink"
        );
        let p = program(
            ProgramType::Kprobe,
            "kprobe",
            serde_json::json!({"symbol": "vfs_unlink"}),
        );
        assert_eq!(
            ProgramArgs::new(&p, &none)
                .require(AttachArg::Symbol)
                .unwrap(),
            "vfs_unlink"
        );
        let p = program(
            ProgramType::Kprobe,
            "kprobe/do_unlinkat",
            serde_json::json!({}),
        );
        assert_eq!(
            ProgramArgs::new(&p, &none)
                .require(AttachArg::Symbol)
                .unwrap(),
            "do_unlinkat"
        );
        let p = program(ProgramType::Kprobe, "kprobe", serde_json::json!({}));
        let e = ProgramArgs::new(&p, &none)
            .require(AttachArg::Symbol)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "program `p` (kprobe) needs --symbol: the package has no default for it"
        );
    }

    #[test]
    fn a_direction_typo_is_refused_wherever_it_comes_from() {
        let p = program(
            ProgramType::CgroupSkb,
            "cgroup/skb",
            serde_json::json!({"direction": "egres"}),
        );
        let none = AttachFlags::default();
        let e = ProgramArgs::new(&p, &none)
            .direction()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "program `p`: the package's default invalid --direction `egres`: ingress or egress; override it with --direction"
        );
        let p = program(ProgramType::CgroupSkb, "cgroup/skb", serde_json::json!({}));
        assert_eq!(ProgramArgs::new(&p, &none).direction().unwrap(), None);
    }

    #[test]
    fn uprobe_sections_name_binary_and_symbol() {
        let p = program(
            ProgramType::Uprobe,
            "uprobe//usr/lib/libc.so.6:malloc",
            serde_json::json!({}),
        );
        let none = AttachFlags::default();
        let args = ProgramArgs::new(&p, &none);
        assert_eq!(
            args.require(AttachArg::Binary).unwrap(),
            "/usr/lib/libc.so.6"
        );
        assert_eq!(args.require(AttachArg::Symbol).unwrap(), "malloc");
        assert_eq!(args.pid().unwrap(), None);
    }

    #[test]
    fn kind_defaults_and_checked_numbers() {
        let p = program(ProgramType::PerfEvent, "perf_event", serde_json::json!({}));
        let none = AttachFlags::default();
        assert_eq!(ProgramArgs::new(&p, &none).frequency().unwrap(), 99);
        let p = program(
            ProgramType::PerfEvent,
            "perf_event",
            serde_json::json!({"frequency": 0}),
        );
        assert!(ProgramArgs::new(&p, &none).frequency().is_err());
        let p = program(
            ProgramType::CgroupSkb,
            "cgroup_skb/ingress",
            serde_json::json!({}),
        );
        assert_eq!(
            ProgramArgs::new(&p, &none)
                .require(AttachArg::Cgroup)
                .unwrap(),
            "/sys/fs/cgroup"
        );
    }
}
