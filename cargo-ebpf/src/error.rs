//! The errors cargo-ebpf reports, each one line and a named exit code.

use std::io;
use std::path::PathBuf;

/// Exit codes, the same as bpf-runtime's (`ebpf_cli::exit`).
pub use ebpf_cli::exit;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the user: the message says what and what to do.
    #[error("{0}")]
    Usage(String),

    #[error(
        "{tool} not found{detail}; install it with `{debian}` (Debian/Ubuntu) or `{fedora}` (openEuler/Fedora)"
    )]
    MissingTool {
        tool: String,
        detail: String,
        debian: String,
        fedora: String,
    },

    #[error(
        "bpf-runtime not found beside cargo-ebpf or on PATH; install it with `cargo install --locked --path bpf-runtime` from the cargo-ebpf sources, or set CARGO_EBPF_RUNTIME"
    )]
    MissingRuntime,

    #[error("{what} failed ({status}); the command was: {command}")]
    ToolFailed {
        what: String,
        command: String,
        status: String,
    },

    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("invalid project manifest {}: {message}", path.display())]
    Manifest { path: PathBuf, message: String },

    #[error("failed to render template {template}: {message}")]
    Template { template: String, message: String },

    #[error("interrupted; {what}")]
    Interrupted { what: String },

    #[error("failed to read eBPF object {}: {message}", path.display())]
    Object { path: PathBuf, message: String },

    #[error(transparent)]
    Store(#[from] ebpf_oci::StoreError),

    #[error(transparent)]
    Image(#[from] ebpf_oci::format::FormatError),

    #[error(transparent)]
    Registry(#[from] ebpf_oci::registry::RegistryError),

    #[error(transparent)]
    Sign(#[from] ebpf_oci::sign::SignError),
}

impl From<ebpf_oci::config::ConfigError> for Error {
    fn from(e: ebpf_oci::config::ConfigError) -> Self {
        Error::Registry(e.into())
    }
}

impl From<ebpf_kinds::UnknownArch> for Error {
    fn from(e: ebpf_kinds::UnknownArch) -> Self {
        Error::Usage(e.to_string())
    }
}

impl From<ebpf_oci::auth::AuthError> for Error {
    fn from(e: ebpf_oci::auth::AuthError) -> Self {
        Error::Registry(e.into())
    }
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Manifest { .. } => exit::USAGE,
            Error::MissingTool { .. } | Error::MissingRuntime => exit::MISSING,
            Error::ToolFailed { .. } => exit::TOOL_FAILED,
            Error::Interrupted { .. } => exit::INTERRUPTED,
            Error::Store(e) => exit::store(e),
            Error::Image(e) => exit::format(e),
            Error::Registry(e) => exit::registry(e),
            Error::Sign(e) => exit::sign(e),
            Error::Io { .. } | Error::Template { .. } | Error::Object { .. } => exit::FAILURE,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A missing or malformed attach argument or `--set` is a usage error.
impl From<ebpf_object::attach::ArgError> for Error {
    fn from(e: ebpf_object::attach::ArgError) -> Self {
        Error::Usage(e.0)
    }
}
