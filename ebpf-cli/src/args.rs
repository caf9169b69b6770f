//! Arguments every command that touches the store or a registry takes.

use std::path::PathBuf;

use clap::Args;

/// Where the local store is.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// Local OCI layout store (default: $CARGO_EBPF_STORE, else /var/lib/cargo-ebpf/store
    /// for root, else ~/.local/share/cargo-ebpf/store)
    #[arg(id = "store", long = "store", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl StoreArgs {
    pub fn path(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(ebpf_oci::store::default_path)
    }
}

/// How to reach a registry.
#[derive(Args, Debug, Clone)]
pub struct TransportArgs {
    /// PEM file of a private CA to trust (also: ca-file in the config)
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Speak plain HTTP to the registry (loopback registries without TLS need no flag)
    #[arg(long)]
    pub insecure: bool,
    /// Retries after a dropped connection, a timeout or a 5xx/429 answer
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub retries: u32,
    /// Fail a download that receives nothing for this long
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub stall_timeout: std::time::Duration,
    /// Fail a pull or push not done after this long
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

impl TransportArgs {
    pub fn options(&self) -> ebpf_oci::registry::Options {
        ebpf_oci::registry::Options {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
            retries: self.retries,
            stall: self.stall_timeout,
            timeout: self.timeout,
            ..ebpf_oci::registry::Options::new()
        }
    }
}

/// Which trust policy judges images.
#[derive(Args, Debug, Clone, Default)]
pub struct PolicyArgs {
    /// Trust policy (default: /etc/bpf-runtime/policy.toml for root, else
    /// ~/.config/cargo-ebpf/policy.toml; see docs/security.md)
    #[arg(long, value_name = "FILE", env = "CARGO_EBPF_POLICY")]
    pub policy: Option<PathBuf>,
}

impl PolicyArgs {
    pub fn load(&self) -> Result<ebpf_oci::sign::Policy, ebpf_oci::sign::SignError> {
        ebpf_oci::sign::Policy::for_this_user(self.policy.as_deref())
    }
}
