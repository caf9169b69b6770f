//! Target architectures: the names users type, and what clang, the kernel
//! headers and Go call them.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    X86_64,
    Aarch64,
    Riscv64,
    Loongarch64,
    S390x,
}

impl Arch {
    pub fn host() -> Arch {
        match std::env::consts::ARCH {
            "aarch64" => Arch::Aarch64,
            "riscv64" => Arch::Riscv64,
            "loongarch64" => Arch::Loongarch64,
            "s390x" => Arch::S390x,
            _ => Arch::X86_64,
        }
    }

    /// The name `uname -m` prints, used in output paths.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv64",
            Arch::Loongarch64 => "loongarch64",
            Arch::S390x => "s390x",
        }
    }

    /// The `__TARGET_ARCH_*` suffix libbpf's bpf_tracing.h expects.
    pub fn bpf_target_arch(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86",
            Arch::Aarch64 => "arm64",
            Arch::Riscv64 => "riscv",
            Arch::Loongarch64 => "loongarch",
            Arch::S390x => "s390",
        }
    }

    /// clang's eBPF target for this architecture's byte order.
    pub fn bpf_target(self) -> &'static str {
        match self {
            Arch::S390x => "bpfeb",
            _ => "bpfel",
        }
    }

    pub fn goarch(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Aarch64 => "arm64",
            Arch::Riscv64 => "riscv64",
            Arch::Loongarch64 => "loong64",
            Arch::S390x => "s390x",
        }
    }

    /// The OCI platform architecture.
    pub fn oci(self) -> &'static str {
        self.goarch()
    }

    /// A GNU cross C compiler for this architecture.
    pub fn cross_cc(self) -> String {
        format!("{}-linux-gnu-gcc", self.name())
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Arch, Error> {
        match s {
            "x86_64" | "amd64" | "x86" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            "riscv64" => Ok(Arch::Riscv64),
            "loongarch64" | "loong64" => Ok(Arch::Loongarch64),
            "s390x" => Ok(Arch::S390x),
            _ => Err(Error::usage(format!(
                "unknown architecture `{s}`; choose one of: x86_64, aarch64, riscv64, loongarch64, s390x"
            ))),
        }
    }
}
