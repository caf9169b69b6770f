//! The errors cargo-ebpf reports, each one line and a named exit code.

use std::io;
use std::path::PathBuf;

/// Exit codes, stable for scripts and CI.
pub mod exit {
    /// Something failed that is not covered below (I/O, ...).
    pub const FAILURE: i32 = 1;
    /// The command line, a name, or the project manifest is invalid.
    pub const USAGE: i32 = 2;
    /// A required tool is missing or too old.
    pub const MISSING_TOOL: i32 = 3;
    /// A compiler or another tool ran and failed.
    pub const TOOL_FAILED: i32 = 4;
}

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

    #[error("failed to read eBPF object {}: {message}", path.display())]
    Object { path: PathBuf, message: String },

    #[error(transparent)]
    Store(#[from] ebpf_oci::StoreError),

    #[error(transparent)]
    Image(#[from] ebpf_oci::format::FormatError),

    #[error(transparent)]
    Registry(#[from] ebpf_oci::registry::RegistryError),
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

/// Store errors the user caused (a name), rather than the store's state.
fn store_usage(e: &ebpf_oci::StoreError) -> bool {
    use ebpf_oci::StoreError::*;
    matches!(e, UnknownTag(_) | TagExists(_) | InvalidTag(_))
}

/// Registry errors in what the user wrote, rather than in the registry.
fn registry_usage(e: &ebpf_oci::registry::RegistryError) -> bool {
    use ebpf_oci::registry::RegistryError::*;
    match e {
        InvalidReference { .. } | NoRegistry { .. } | NoPlatform { .. } | CaFile { .. } => true,
        Config(_) => true,
        Store(s) => store_usage(s),
        _ => false,
    }
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Manifest { .. } => exit::USAGE,
            Error::MissingTool { .. } | Error::MissingRuntime => exit::MISSING_TOOL,
            Error::ToolFailed { .. } => exit::TOOL_FAILED,
            Error::Store(e) | Error::Image(ebpf_oci::format::FormatError::Store(e))
                if store_usage(e) =>
            {
                exit::USAGE
            }
            Error::Image(ebpf_oci::format::FormatError::UnknownArch(_)) => exit::USAGE,
            Error::Registry(e) if registry_usage(e) => exit::USAGE,
            Error::Io { .. }
            | Error::Template { .. }
            | Error::Object { .. }
            | Error::Store(_)
            | Error::Image(_)
            | Error::Registry(_) => exit::FAILURE,
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
