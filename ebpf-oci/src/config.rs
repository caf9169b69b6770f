//! The user's registry settings: a default registry for short references and
//! per-registry transport options, in a small TOML file shared by
//! `cargo ebpf` and `bpf-runtime`.
//!
//! ```toml
//! [registry]
//! default = "ghcr.io/acme"          # `xdpcount:0.1.0` means ghcr.io/acme/xdpcount:0.1.0
//!
//! [registries."harbor.internal:8443"]
//! ca-file = "/etc/pki/harbor-ca.pem"  # a private CA for this registry
//!
//! [registries."registry.corp.example"]
//! token-hosts = ["sso.corp.example"]  # its token service, on another site
//!
//! [registries."build-cache.lan:5000"]
//! insecure = true                     # plain HTTP
//! ```
//!
//! Where: `$CARGO_EBPF_CONFIG`, else `$XDG_CONFIG_HOME/cargo-ebpf/config.toml`
//! (`~/.config/...`), else `/etc/cargo-ebpf/config.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "CARGO_EBPF_CONFIG";
/// The system-wide config file, read when the user has none.
pub const SYSTEM_CONFIG: &str = "/etc/cargo-ebpf/config.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("failed to read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a valid cargo-ebpf config: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    #[serde(default)]
    pub registry: RegistrySection,
    /// Per-registry settings, by host[:port].
    #[serde(default)]
    pub registries: BTreeMap<String, RegistrySettings>,
    /// Where it was read from (none: defaults).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistrySection {
    /// Registry (and optional namespace) that short references resolve to.
    pub default: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RegistrySettings {
    /// Speak plain HTTP to this registry.
    #[serde(default)]
    pub insecure: bool,
    /// PEM file with the CA certificate(s) this registry's TLS chain ends in.
    pub ca_file: Option<PathBuf>,
    /// Hosts (`host` or `host:port`), besides the registry's own site, that
    /// may receive its credentials as its token service.
    #[serde(default)]
    pub token_hosts: Vec<String>,
}

impl Config {
    /// The config file in effect, if one exists.
    pub fn path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(CONFIG_ENV) {
            return Some(PathBuf::from(p));
        }
        let user = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|d| d.join("cargo-ebpf/config.toml"));
        user.filter(|p| p.exists())
            .or_else(|| Some(PathBuf::from(SYSTEM_CONFIG)).filter(|p| p.exists()))
    }

    /// Loads the config in effect; defaults when there is none.
    pub fn load() -> Result<Config, ConfigError> {
        match Config::path() {
            Some(path) => Config::read(&path),
            None => Ok(Config::default()),
        }
    }

    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: path.into(),
            message: e.message().to_string(),
        })?;
        config.path = Some(path.into());
        Ok(config)
    }

    /// Settings for `registry` (host[:port]); defaults when not listed.
    pub fn settings(&self, registry: &str) -> RegistrySettings {
        self.registries.get(registry).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_defaults_and_per_registry_settings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[registry]\ndefault = \"ghcr.io/acme\"\n[registries.\"r.lan:5000\"]\ninsecure = true\n",
        )
        .unwrap();
        let c = Config::read(&path).unwrap();
        assert_eq!(c.registry.default.as_deref(), Some("ghcr.io/acme"));
        assert!(c.settings("r.lan:5000").insecure);
        assert!(!c.settings("ghcr.io").insecure);
    }

    #[test]
    fn an_unknown_key_is_one_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "[registry]\ndefualt = \"x\"\n").unwrap();
        let e = Config::read(&path).unwrap_err().to_string();
        assert!(
            e.contains("not a valid cargo-ebpf config") && e.contains("defualt"),
            "{e}"
        );
    }
}
