//! The runtime's errors: one line each, saying what failed, why, and what to
//! do; each with an exit code.

use std::path::PathBuf;

/// Exit codes, the same as cargo-ebpf's (`ebpf_cli::exit`).
pub use ebpf_cli::exit;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Usage(String),

    #[error("{package} needs {what}; this host {host}")]
    KernelLacks {
        package: String,
        what: String,
        host: String,
    },

    #[error("{package} is built for {have}; this host is {host}")]
    WrongArch {
        package: String,
        have: String,
        host: String,
    },

    #[error("the kernel refused to load program `{program}` ({errno}); the verifier said: {log}")]
    Verifier {
        program: String,
        errno: String,
        log: String,
    },

    #[error("failed to {action}: {why}")]
    Kernel { action: String, why: String },

    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Store(#[from] ebpf_oci::StoreError),

    #[error(transparent)]
    Image(#[from] ebpf_oci::format::FormatError),

    #[error(transparent)]
    Registry(#[from] ebpf_oci::registry::RegistryError),

    #[error(transparent)]
    Sign(#[from] ebpf_oci::sign::SignError),

    #[error("failed to read eBPF object {}: {message}", path.display())]
    Object { path: PathBuf, message: String },
}

impl RuntimeError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RuntimeError::Usage(_) | RuntimeError::WrongArch { .. } => exit::USAGE,
            RuntimeError::KernelLacks { .. } => exit::MISSING,
            RuntimeError::Store(e) => exit::store(e),
            RuntimeError::Image(e) => exit::format(e),
            RuntimeError::Registry(e) => exit::registry(e),
            RuntimeError::Sign(e) => exit::sign(e),
            _ => exit::FAILURE,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        RuntimeError::Usage(msg.into())
    }

    pub fn kernel(action: impl Into<String>, why: impl std::fmt::Display) -> Self {
        RuntimeError::Kernel {
            action: action.into(),
            why: why.to_string(),
        }
    }

    pub fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RuntimeError::Io {
            action,
            path,
            source,
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A missing or malformed attach argument is a usage error.
impl From<ebpf_object::attach::ArgError> for RuntimeError {
    fn from(e: ebpf_object::attach::ArgError) -> Self {
        RuntimeError::Usage(e.0)
    }
}
