//! Target architectures: the names users type, and what clang, the kernel
//! headers, Go and OCI call them. One row per architecture.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Aarch64,
    Riscv64,
    Loongarch64,
    S390x,
}

/// What each tool calls one architecture.
struct ArchRow {
    arch: Arch,
    /// `uname -m`.
    uname: &'static str,
    /// GOARCH, which OCI platforms use too.
    goarch: &'static str,
    /// The `__TARGET_ARCH_*` suffix libbpf's bpf_tracing.h expects.
    bpf_target_arch: &'static str,
    /// Other names users type for it.
    aliases: &'static [&'static str],
}

const ARCHES: &[ArchRow] = &[
    ArchRow {
        arch: Arch::X86_64,
        uname: "x86_64",
        goarch: "amd64",
        bpf_target_arch: "x86",
        aliases: &["x86"],
    },
    ArchRow {
        arch: Arch::Aarch64,
        uname: "aarch64",
        goarch: "arm64",
        bpf_target_arch: "arm64",
        aliases: &[],
    },
    ArchRow {
        arch: Arch::Riscv64,
        uname: "riscv64",
        goarch: "riscv64",
        bpf_target_arch: "riscv",
        aliases: &[],
    },
    ArchRow {
        arch: Arch::Loongarch64,
        uname: "loongarch64",
        goarch: "loong64",
        bpf_target_arch: "loongarch",
        aliases: &[],
    },
    ArchRow {
        arch: Arch::S390x,
        uname: "s390x",
        goarch: "s390x",
        bpf_target_arch: "s390",
        aliases: &[],
    },
];

impl Arch {
    pub const ALL: [Arch; 5] = [
        Arch::X86_64,
        Arch::Aarch64,
        Arch::Riscv64,
        Arch::Loongarch64,
        Arch::S390x,
    ];

    fn row(self) -> &'static ArchRow {
        ARCHES
            .iter()
            .find(|r| r.arch == self)
            .expect("every architecture has a row")
    }

    /// The machine this runs on (x86_64 for anything not in the table).
    pub fn host() -> Arch {
        Arch::from_uname(std::env::consts::ARCH).unwrap_or(Arch::X86_64)
    }

    pub fn from_uname(uname: &str) -> Option<Arch> {
        ARCHES.iter().find(|r| r.uname == uname).map(|r| r.arch)
    }

    /// From an OCI platform architecture (GOARCH).
    pub fn from_oci(oci: &str) -> Option<Arch> {
        ARCHES.iter().find(|r| r.goarch == oci).map(|r| r.arch)
    }

    /// The name `uname -m` prints, used in output paths and metadata.
    pub fn name(self) -> &'static str {
        self.row().uname
    }

    pub fn bpf_target_arch(self) -> &'static str {
        self.row().bpf_target_arch
    }

    /// clang's eBPF target for this architecture's byte order.
    pub fn bpf_target(self) -> &'static str {
        match self {
            Arch::S390x => "bpfeb",
            _ => "bpfel",
        }
    }

    pub fn goarch(self) -> &'static str {
        self.row().goarch
    }

    /// The OCI platform architecture.
    pub fn oci(self) -> &'static str {
        self.goarch()
    }

    /// A GNU cross C compiler for this architecture.
    pub fn cross_cc(self) -> String {
        format!("{}-linux-gnu-gcc", self.name())
    }

    /// `x86_64, aarch64, ...`, for messages.
    pub fn known() -> String {
        let names: Vec<&str> = ARCHES.iter().map(|r| r.uname).collect();
        names.join(", ")
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An architecture name no row claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownArch(pub String);

impl fmt::Display for UnknownArch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown architecture `{}`; choose one of: {}",
            self.0,
            Arch::known()
        )
    }
}

impl std::error::Error for UnknownArch {}

impl FromStr for Arch {
    type Err = UnknownArch;
    fn from_str(s: &str) -> Result<Arch, UnknownArch> {
        ARCHES
            .iter()
            .find(|r| r.uname == s || r.goarch == s || r.aliases.contains(&s))
            .map(|r| r.arch)
            .ok_or_else(|| UnknownArch(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_of_an_arch_parses_to_it() {
        for a in Arch::ALL {
            assert_eq!(a.name().parse::<Arch>().unwrap(), a);
            assert_eq!(a.oci().parse::<Arch>().unwrap(), a);
            assert_eq!(Arch::from_oci(a.oci()), Some(a));
            assert_eq!(Arch::from_uname(a.name()), Some(a));
        }
        assert_eq!("x86".parse::<Arch>().unwrap(), Arch::X86_64);
        assert_eq!(
            "mips".parse::<Arch>().unwrap_err().to_string(),
            "unknown architecture `mips`; choose one of: x86_64, aarch64, riscv64, loongarch64, s390x"
        );
    }
}
