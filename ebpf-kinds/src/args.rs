//! Run-time attach arguments: which exist, which each program type takes,
//! which it cannot do without, and the value used when nobody gives one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::TYPES;

/// A run-time argument that attaching a program needs (never hard-coded in
/// generated programs: their user space takes it from the command line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// Symbol (function) name in `binary`, a kernel function for kprobes,
    /// or `PROVIDER:NAME` of a USDT probe.
    Symbol,
    /// Restrict to one process id (optional everywhere it appears).
    Pid,
    /// Sampling frequency in Hz.
    Frequency,
}

impl AttachArg {
    pub const ALL: [AttachArg; 7] = [
        AttachArg::Iface,
        AttachArg::Direction,
        AttachArg::Cgroup,
        AttachArg::Binary,
        AttachArg::Symbol,
        AttachArg::Pid,
        AttachArg::Frequency,
    ];

    /// The name in `ebpf.toml`, image metadata and (as `--NAME`) on the
    /// command line.
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

    /// What the argument is, for `--help`.
    pub const fn describe(self) -> &'static str {
        match self {
            AttachArg::Iface => "Network interface",
            AttachArg::Direction => "Traffic direction, ingress or egress",
            AttachArg::Cgroup => "cgroup v2 directory",
            AttachArg::Binary => "Executable or library to probe",
            AttachArg::Symbol => {
                "Function to probe (PROVIDER:NAME for a USDT probe; PROGRAM=FUNCTION for one of several programs, repeatable)"
            }
            AttachArg::Pid => "Only this process",
            AttachArg::Frequency => "Sampling frequency in Hz",
        }
    }

    pub const fn value_name(self) -> &'static str {
        match self {
            AttachArg::Iface => "IFACE",
            AttachArg::Direction => "DIRECTION",
            AttachArg::Cgroup | AttachArg::Binary => "PATH",
            AttachArg::Symbol => "FUNCTION",
            AttachArg::Pid => "PID",
            AttachArg::Frequency => "HZ",
        }
    }

    /// `--help` text for the flag: what it is and which program types take
    /// it (with their defaults), read from the table.
    pub fn help(self) -> String {
        let users: Vec<&str> = TYPES
            .iter()
            .filter(|t| t.arg(self).is_some())
            .map(|t| t.name)
            .collect();
        let defaults: Vec<String> = TYPES
            .iter()
            .filter_map(|t| Some(format!("{}: {}", t.name, t.arg(self)?.default?)))
            .collect();
        if defaults.is_empty() {
            format!("{} ({})", self.describe(), users.join(", "))
        } else {
            format!(
                "{} ({}; default for {})",
                self.describe(),
                users.join(", "),
                defaults.join(", ")
            )
        }
    }

    /// Checks a value's form (a number where one is needed, a direction);
    /// the error says what was wrong and what to write.
    pub fn check(self, value: &str) -> Result<(), String> {
        let bad = |what: &str| Err(format!("invalid --{} `{value}`: {what}", self.name()));
        match self {
            AttachArg::Direction => value.parse::<Direction>().map(drop),
            AttachArg::Pid => match value.parse::<u32>() {
                Ok(_) => Ok(()),
                Err(_) => bad("write a process id"),
            },
            AttachArg::Frequency => match value.parse::<u64>() {
                Ok(f) if f > 0 => Ok(()),
                _ => bad("write a frequency in Hz, above 0"),
            },
            _ if value.is_empty() => bad("it is empty"),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for AttachArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AttachArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        AttachArg::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown attach argument `{s}`"))
    }
}

/// One attach argument of one program type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ArgSpec {
    pub arg: AttachArg,
    /// The program cannot attach without a value (from the command line,
    /// the package, or `default`).
    pub required: bool,
    /// The value when neither the command line nor the package gives one.
    pub default: Option<&'static str>,
}

impl ArgSpec {
    /// Required, no default: the package or the command line must say.
    pub const fn required(arg: AttachArg) -> ArgSpec {
        ArgSpec {
            arg,
            required: true,
            default: None,
        }
    }

    /// Optional: attaching works without it.
    pub const fn optional(arg: AttachArg) -> ArgSpec {
        ArgSpec {
            arg,
            required: false,
            default: None,
        }
    }

    /// Required, with a value used when nobody gives one.
    pub const fn defaulted(arg: AttachArg, default: &'static str) -> ArgSpec {
        ArgSpec {
            arg,
            required: true,
            default: Some(default),
        }
    }
}

/// Which way traffic goes through a hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub const fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ingress" => Ok(Direction::Ingress),
            "egress" => Ok(Direction::Egress),
            _ => Err(format!("invalid --direction `{s}`: ingress or egress")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in AttachArg::ALL {
            assert_eq!(a.name().parse::<AttachArg>().unwrap(), a);
        }
    }

    #[test]
    fn directions_are_strict() {
        assert_eq!("egress".parse::<Direction>().unwrap(), Direction::Egress);
        // A typo is an error, never silently one of the two.
        let e = "egres".parse::<Direction>().unwrap_err();
        assert_eq!(e, "invalid --direction `egres`: ingress or egress");
        assert!(AttachArg::Direction.check("Ingress").is_err());
    }

    #[test]
    fn values_are_checked_by_kind() {
        assert!(AttachArg::Pid.check("42").is_ok());
        assert_eq!(
            AttachArg::Pid.check("me").unwrap_err(),
            "invalid --pid `me`: write a process id"
        );
        assert!(AttachArg::Frequency.check("0").is_err());
        assert!(AttachArg::Iface.check("").is_err());
        assert!(AttachArg::Binary.check("/bin/sh").is_ok());
    }

    #[test]
    fn help_names_the_types_and_defaults_from_the_table() {
        let h = AttachArg::Direction.help();
        assert_eq!(
            h,
            "Traffic direction, ingress or egress (tc, cgroup_skb; default for tc: ingress)"
        );
        let h = AttachArg::Iface.help();
        assert!(h.contains("xdp") && h.contains("socket_filter"), "{h}");
    }
}
