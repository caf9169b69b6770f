//! Where a program is attached, typed: what `run` prints and records, and
//! what `gc` detaches, without splitting strings again.
//!
//! Records store the point as its text (`tc lo ingress`), the form users
//! see; [`FromStr`] reads that text back into the same value.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Direction, ProgramType};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachPoint {
    Xdp {
        iface: String,
    },
    Tc {
        iface: String,
        direction: Direction,
    },
    Tracepoint {
        category: String,
        name: String,
    },
    RawTracepoint {
        name: String,
    },
    /// A kprobe (`ret: false`) or kretprobe on a kernel function.
    Kprobe {
        function: String,
        ret: bool,
    },
    /// A uprobe (`ret: false`) or uretprobe on a function of a binary.
    Uprobe {
        binary: PathBuf,
        symbol: String,
        ret: bool,
    },
    Fentry {
        function: String,
    },
    Fexit {
        function: String,
    },
    Lsm {
        hook: String,
    },
    CgroupSkb {
        cgroup: PathBuf,
        direction: Direction,
    },
    SocketFilter {
        iface: String,
    },
    /// A USDT probe `provider:name` of a binary.
    Usdt {
        binary: PathBuf,
        provider: String,
        name: String,
    },
    /// The software CPU clock of every online CPU.
    PerfEvent {
        frequency: u64,
        cpus: usize,
    },
}

impl AttachPoint {
    pub fn program_type(&self) -> ProgramType {
        match self {
            AttachPoint::Xdp { .. } => ProgramType::Xdp,
            AttachPoint::Tc { .. } => ProgramType::Tc,
            AttachPoint::Tracepoint { .. } => ProgramType::Tracepoint,
            AttachPoint::RawTracepoint { .. } => ProgramType::RawTracepoint,
            AttachPoint::Kprobe { ret: false, .. } => ProgramType::Kprobe,
            AttachPoint::Kprobe { ret: true, .. } => ProgramType::Kretprobe,
            AttachPoint::Uprobe { ret: false, .. } => ProgramType::Uprobe,
            AttachPoint::Uprobe { ret: true, .. } => ProgramType::Uretprobe,
            AttachPoint::Fentry { .. } => ProgramType::Fentry,
            AttachPoint::Fexit { .. } => ProgramType::Fexit,
            AttachPoint::Lsm { .. } => ProgramType::Lsm,
            AttachPoint::CgroupSkb { .. } => ProgramType::CgroupSkb,
            AttachPoint::SocketFilter { .. } => ProgramType::SocketFilter,
            AttachPoint::PerfEvent { .. } => ProgramType::PerfEvent,
            AttachPoint::Usdt { .. } => ProgramType::Usdt,
        }
    }
}

impl fmt::Display for AttachPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ty = self.program_type();
        match self {
            AttachPoint::Xdp { iface } | AttachPoint::SocketFilter { iface } => {
                write!(f, "{ty} {iface}")
            }
            AttachPoint::Tc { iface, direction } => write!(f, "{ty} {iface} {direction}"),
            AttachPoint::Tracepoint { category, name } => write!(f, "{ty} {category}/{name}"),
            AttachPoint::RawTracepoint { name } => write!(f, "{ty} {name}"),
            AttachPoint::Kprobe { function, .. }
            | AttachPoint::Fentry { function }
            | AttachPoint::Fexit { function } => write!(f, "{ty} {function}"),
            AttachPoint::Lsm { hook } => write!(f, "{ty} {hook}"),
            AttachPoint::Uprobe { binary, symbol, .. } => {
                write!(f, "{ty} {}:{symbol}", binary.display())
            }
            AttachPoint::CgroupSkb { cgroup, direction } => {
                write!(f, "{ty} {} {direction}", cgroup.display())
            }
            AttachPoint::PerfEvent { frequency, cpus } => {
                write!(f, "{ty} cpu-clock {frequency} Hz on {cpus} CPUs")
            }
            AttachPoint::Usdt {
                binary,
                provider,
                name,
            } => write!(f, "{ty} {}:{provider}:{name}", binary.display()),
        }
    }
}

impl FromStr for AttachPoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid attach point `{s}`");
        let (ty, rest) = s.split_once(' ').ok_or_else(bad)?;
        let ty: ProgramType = ty.parse().map_err(|_| bad())?;
        let word = || Some(rest.to_string()).filter(|r| !r.is_empty() && !r.contains(' '));
        // Paths may hold spaces: the direction is the last word.
        let path_and_direction = || -> Option<(PathBuf, Direction)> {
            let (path, dir) = rest.rsplit_once(' ')?;
            Some((PathBuf::from(path), dir.parse().ok()?))
        };
        let point = match ty {
            ProgramType::Xdp => word().map(|iface| AttachPoint::Xdp { iface }),
            ProgramType::SocketFilter => word().map(|iface| AttachPoint::SocketFilter { iface }),
            ProgramType::Tc => path_and_direction().and_then(|(iface, direction)| {
                Some(AttachPoint::Tc {
                    iface: iface.into_os_string().into_string().ok()?,
                    direction,
                })
            }),
            ProgramType::Tracepoint => rest.split_once('/').map(|(c, n)| AttachPoint::Tracepoint {
                category: c.into(),
                name: n.into(),
            }),
            ProgramType::RawTracepoint => word().map(|name| AttachPoint::RawTracepoint { name }),
            ProgramType::Kprobe | ProgramType::Kretprobe => {
                word().map(|function| AttachPoint::Kprobe {
                    function,
                    ret: ty == ProgramType::Kretprobe,
                })
            }
            ProgramType::Uprobe | ProgramType::Uretprobe => {
                rest.rsplit_once(':').map(|(b, sym)| AttachPoint::Uprobe {
                    binary: b.into(),
                    symbol: sym.into(),
                    ret: ty == ProgramType::Uretprobe,
                })
            }
            ProgramType::Fentry => word().map(|function| AttachPoint::Fentry { function }),
            ProgramType::Fexit => word().map(|function| AttachPoint::Fexit { function }),
            ProgramType::Lsm => word().map(|hook| AttachPoint::Lsm { hook }),
            ProgramType::CgroupSkb => path_and_direction()
                .map(|(cgroup, direction)| AttachPoint::CgroupSkb { cgroup, direction }),
            ProgramType::PerfEvent => {
                let w: Vec<&str> = rest.split(' ').collect();
                match w.as_slice() {
                    ["cpu-clock", hz, "Hz", "on", cpus, "CPUs"] => Some(AttachPoint::PerfEvent {
                        frequency: hz.parse().map_err(|_| bad())?,
                        cpus: cpus.parse().map_err(|_| bad())?,
                    }),
                    _ => None,
                }
            }
            ProgramType::Usdt => {
                usdt_target(rest).map(|(binary, provider, name)| AttachPoint::Usdt {
                    binary: binary.into(),
                    provider: provider.into(),
                    name: name.into(),
                })
            }
        };
        point.ok_or_else(bad)
    }
}

/// `BINARY:PROVIDER:NAME` (the binary's path may hold `:`).
pub fn usdt_target(target: &str) -> Option<(&str, &str, &str)> {
    let mut parts = target.rsplitn(3, ':');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let provider = parts.next().filter(|p| !p.is_empty())?;
    let binary = parts.next().filter(|b| !b.is_empty())?;
    Some((binary, provider, name))
}

impl Serialize for AttachPoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AttachPoint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_for_every_kind() {
        let points = [
            AttachPoint::Xdp { iface: "lo".into() },
            AttachPoint::Tc {
                iface: "eth0".into(),
                direction: Direction::Egress,
            },
            AttachPoint::Tracepoint {
                category: "sched".into(),
                name: "sched_process_exec".into(),
            },
            AttachPoint::RawTracepoint {
                name: "sys_enter".into(),
            },
            AttachPoint::Kprobe {
                function: "do_unlinkat".into(),
                ret: true,
            },
            AttachPoint::Uprobe {
                binary: "/opt/my app/bin".into(),
                symbol: "main".into(),
                ret: false,
            },
            AttachPoint::Fentry {
                function: "do_unlinkat".into(),
            },
            AttachPoint::Fexit {
                function: "do_unlinkat".into(),
            },
            AttachPoint::Lsm {
                hook: "path_mkdir".into(),
            },
            AttachPoint::CgroupSkb {
                cgroup: "/sys/fs/cgroup/my slice".into(),
                direction: Direction::Ingress,
            },
            AttachPoint::SocketFilter { iface: "lo".into() },
            AttachPoint::PerfEvent {
                frequency: 99,
                cpus: 2,
            },
            AttachPoint::Usdt {
                binary: "/usr/bin/python3.11".into(),
                provider: "python".into(),
                name: "gc__start".into(),
            },
        ];
        for p in points {
            let text = p.to_string();
            assert_eq!(text.parse::<AttachPoint>().unwrap(), p, "{text}");
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<AttachPoint>(&json).unwrap(), p);
        }
    }

    #[test]
    fn the_text_users_see() {
        let tc = AttachPoint::Tc {
            iface: "lo".into(),
            direction: Direction::Ingress,
        };
        assert_eq!(tc.to_string(), "tc lo ingress");
        let k = AttachPoint::Kprobe {
            function: "do_unlinkat".into(),
            ret: false,
        };
        assert_eq!(k.to_string(), "kprobe do_unlinkat");
        assert_eq!(k.program_type(), ProgramType::Kprobe);
    }

    #[test]
    fn damaged_text_is_refused() {
        for bad in [
            "",
            "xdp",
            "tc lo sideways",
            "xpd lo",
            "tracepoint nocategory",
            "perf_event 99",
            "usdt /bin/x:only",
        ] {
            assert!(bad.parse::<AttachPoint>().is_err(), "{bad}");
        }
    }
}
