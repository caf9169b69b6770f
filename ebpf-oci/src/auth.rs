//! Registry credentials in Docker's `config.json` format, so that
//! `docker login`, `podman login`, skopeo and `cargo ebpf login` share them:
//! `auths` entries (base64 `user:password`), `credHelpers` (per registry) and
//! `credsStore` (all registries) through `docker-credential-*` helpers.
//!
//! The file is `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//! It is written with mode 0600 through a temporary file and a rename, and
//! keys this module does not know are kept. Secrets never appear in errors or
//! `Debug` output.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

/// Docker Hub's key in `config.json` and for credential helpers.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid JSON ({message}); fix or remove it", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error(
        "the credential helper docker-credential-{helper} (named in {}) is not installed; install it or remove it from that file",
        config.display()
    )]
    HelperMissing { helper: String, config: PathBuf },
    #[error("docker-credential-{helper} {action} failed for {registry}: {message}")]
    Helper {
        helper: String,
        action: &'static str,
        registry: String,
        message: String,
    },
}

/// A user name and its password or token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Where credentials were stored or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialStore {
    /// The `auths` section of the config file.
    File(PathBuf),
    /// A `docker-credential-NAME` helper.
    Helper(String),
}

impl fmt::Display for CredentialStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialStore::File(p) => write!(f, "{}", p.display()),
            CredentialStore::Helper(h) => write!(f, "docker-credential-{h}"),
        }
    }
}

/// The path of Docker's config file in effect.
pub fn docker_config_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(dir).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".docker/config.json")
}

/// The host[:port] an `auths` key names: keys may carry a scheme and a path
/// (`https://index.docker.io/v1/`).
fn key_host(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

fn is_docker_hub(registry: &str) -> bool {
    matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// The key Docker uses for `registry` in `auths` and with helpers.
fn server_key(registry: &str) -> String {
    if is_docker_hub(registry) {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

fn same_registry(key: &str, registry: &str) -> bool {
    let host = key_host(key);
    host == registry || (is_docker_hub(host) && is_docker_hub(registry))
}

/// Docker's `config.json`, read and rewritten without losing unknown keys.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl DockerConfig {
    /// Reads the config file in effect; a missing file is an empty config.
    pub fn load() -> Result<DockerConfig, AuthError> {
        DockerConfig::load_from(&docker_config_path())
    }

    pub fn load_from(path: &Path) -> Result<DockerConfig, AuthError> {
        let doc = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AuthError::Invalid {
                path: path.into(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(source) => {
                return Err(AuthError::Io {
                    action: "read",
                    path: path.into(),
                    source,
                });
            }
        };
        Ok(DockerConfig {
            path: path.into(),
            doc,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The helper that keeps `registry`'s credentials: `credHelpers` first,
    /// then `credsStore`.
    pub fn helper_for(&self, registry: &str) -> Option<String> {
        let per_registry = self
            .doc
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|m| {
                m.iter()
                    .find(|(k, _)| same_registry(k, registry))
                    .and_then(|(_, v)| v.as_str())
            });
        per_registry
            .or_else(|| self.doc.get("credsStore").and_then(Value::as_str))
            .filter(|h| !h.is_empty())
            .map(str::to_string)
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    /// The credentials stored for `registry`, if any.
    pub fn get(&self, registry: &str) -> Result<Option<(Credentials, CredentialStore)>, AuthError> {
        if let Some(helper) = self.helper_for(registry) {
            let found = self.helper_get(&helper, registry)?;
            return Ok(found.map(|c| (c, CredentialStore::Helper(helper))));
        }
        let Some(entry) = self
            .auths()
            .and_then(|a| a.iter().find(|(k, _)| same_registry(k, registry)))
            .map(|(_, v)| v)
        else {
            return Ok(None);
        };
        let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or("");
        let creds = if !field("auth").is_empty() {
            let decoded = BASE64
                .decode(field("auth").trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| AuthError::Invalid {
                    path: self.path.clone(),
                    message: format!("the `auth` of {registry} is not base64 of USER:PASSWORD"),
                })?;
            let (user, pass) = decoded.split_once(':').ok_or_else(|| AuthError::Invalid {
                path: self.path.clone(),
                message: format!("the `auth` of {registry} is not base64 of USER:PASSWORD"),
            })?;
            Credentials {
                username: user.into(),
                secret: pass.into(),
            }
        } else if !field("username").is_empty() {
            Credentials {
                username: field("username").into(),
                secret: field("password").into(),
            }
        } else {
            return Ok(None);
        };
        Ok(Some((creds, CredentialStore::File(self.path.clone()))))
    }

    /// Stores credentials for `registry` where Docker would: its helper, or
    /// the file's `auths`.
    pub fn store(
        &mut self,
        registry: &str,
        creds: &Credentials,
    ) -> Result<CredentialStore, AuthError> {
        if let Some(helper) = self.helper_for(registry) {
            let input = serde_json::json!({
                "ServerURL": server_key(registry),
                "Username": creds.username,
                "Secret": creds.secret,
            });
            self.helper_run(&helper, "store", registry, input.to_string())?;
            return Ok(CredentialStore::Helper(helper));
        }
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let auths = auths.as_object_mut().expect("just made an object");
        auths.retain(|k, _| !same_registry(k, registry));
        let token = BASE64.encode(format!("{}:{}", creds.username, creds.secret));
        auths.insert(server_key(registry), serde_json::json!({ "auth": token }));
        self.save()?;
        Ok(CredentialStore::File(self.path.clone()))
    }

    /// Removes the credentials of `registry`. Returns where they were, or
    /// `None` when there were none.
    pub fn erase(&mut self, registry: &str) -> Result<Option<CredentialStore>, AuthError> {
        if let Some(helper) = self.helper_for(registry) {
            if self.helper_get(&helper, registry)?.is_none() {
                return Ok(None);
            }
            self.helper_run(&helper, "erase", registry, server_key(registry))?;
            return Ok(Some(CredentialStore::Helper(helper)));
        }
        let Some(auths) = self.doc.get_mut("auths").and_then(Value::as_object_mut) else {
            return Ok(None);
        };
        let before = auths.len();
        auths.retain(|k, _| !same_registry(k, registry));
        if auths.len() == before {
            return Ok(None);
        }
        self.save()?;
        Ok(Some(CredentialStore::File(self.path.clone())))
    }

    fn save(&self) -> Result<(), AuthError> {
        let mut text = serde_json::to_vec_pretty(&self.doc).expect("a JSON map serializes");
        text.push(b'\n');
        // A config.json that is a link (dotfiles managers make them) stays
        // one: the file it points to is what is rewritten.
        let mut path = self.path.clone();
        for _ in 0..8 {
            match std::fs::read_link(&path) {
                Ok(target) => {
                    path = path
                        .parent()
                        .map_or(target.clone(), |dir| dir.join(&target));
                }
                Err(_) => break,
            }
        }
        crate::fs::write_atomic(&path, &text, 0o600, true).map_err(|e| AuthError::Io {
            action: e.action,
            path: e.path,
            source: e.source,
        })
    }

    fn helper_get(&self, helper: &str, registry: &str) -> Result<Option<Credentials>, AuthError> {
        let out = match self.helper_run(helper, "get", registry, server_key(registry)) {
            Ok(out) => out,
            // The helper protocol's answer for "nothing stored".
            Err(AuthError::Helper { message, .. }) if message.contains("credentials not found") => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Reply {
            username: String,
            secret: String,
        }
        let reply: Reply = serde_json::from_str(&out).map_err(|e| AuthError::Helper {
            helper: helper.into(),
            action: "get",
            registry: registry.into(),
            message: format!("its answer is not the helper protocol's JSON ({e})"),
        })?;
        Ok(Some(Credentials {
            username: reply.username,
            secret: reply.secret,
        }))
    }

    /// Runs `docker-credential-HELPER ACTION` with `input` on stdin and
    /// returns its stdout.
    fn helper_run(
        &self,
        helper: &str,
        action: &'static str,
        registry: &str,
        input: String,
    ) -> Result<String, AuthError> {
        let program = format!("docker-credential-{helper}");
        let out = duct::cmd(&program, [action])
            .stdin_bytes(input)
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => AuthError::HelperMissing {
                    helper: helper.into(),
                    config: self.path.clone(),
                },
                _ => AuthError::Helper {
                    helper: helper.into(),
                    action,
                    registry: registry.into(),
                    message: e.to_string(),
                },
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            let message = [stdout, stderr]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or_else(|| format!("exit status {}", out.status));
            return Err(AuthError::Helper {
                helper: helper.into(),
                action,
                registry: registry.into(),
                message,
            });
        }
        Ok(stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn creds(u: &str, s: &str) -> Credentials {
        Credentials {
            username: u.into(),
            secret: s.into(),
        }
    }

    #[test]
    fn store_get_erase_in_the_file_keeps_other_keys_and_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"auths":{"https://other.io":{"auth":"dTpw"}},"psFormat":"table"}"#,
        )
        .unwrap();
        let mut c = DockerConfig::load_from(&path).unwrap();
        assert_eq!(
            c.store("127.0.0.1:5000", &creds("alice", "s3:cret"))
                .unwrap(),
            CredentialStore::File(path.clone())
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let c = DockerConfig::load_from(&path).unwrap();
        let (got, _) = c.get("127.0.0.1:5000").unwrap().unwrap();
        assert_eq!(got, creds("alice", "s3:cret"));
        // Keys with a scheme match their host; other keys survive.
        assert_eq!(c.get("other.io").unwrap().unwrap().0, creds("u", "p"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("psFormat"), "{text}");
        assert!(!text.contains("s3:cret"), "the secret is stored encoded");

        let mut c = DockerConfig::load_from(&path).unwrap();
        assert!(c.erase("127.0.0.1:5000").unwrap().is_some());
        assert!(c.erase("127.0.0.1:5000").unwrap().is_none());
        assert!(c.get("127.0.0.1:5000").unwrap().is_none());
    }

    #[test]
    fn docker_hub_uses_its_historic_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let mut c = DockerConfig::load_from(&path).unwrap();
        c.store("docker.io", &creds("bob", "pw")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(DOCKER_HUB_KEY), "{text}");
        assert!(c.get("index.docker.io").unwrap().is_some());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let shown = format!("{:?}", creds("alice", "hunter2"));
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn credential_helpers_are_used_and_a_missing_one_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        // A helper that keeps one credential in a file, as the protocol says.
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let store = dir.path().join("kept");
        let helper = bin.join("docker-credential-test");
        std::fs::write(
            &helper,
            format!(
                "#!/bin/sh\ncase $1 in\n store) cat > {s} ;;\n get) cat >/dev/null; [ -f {s} ] && cat {s} || {{ echo 'credentials not found in native keychain'; exit 1; }} ;;\n erase) cat >/dev/null; rm -f {s} ;;\nesac\n",
                s = store.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"credHelpers":{"reg.lan":"test"},"credsStore":"absent"}"#,
        )
        .unwrap();
        let old_path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![bin.clone()];
        paths.extend(std::env::split_paths(&old_path));
        // SAFETY: this test alone changes PATH, before it runs any helper.
        unsafe { std::env::set_var("PATH", std::env::join_paths(paths).unwrap()) };

        let mut c = DockerConfig::load_from(&path).unwrap();
        assert!(c.get("reg.lan").unwrap().is_none());
        assert_eq!(
            c.store("reg.lan", &creds("carol", "pw")).unwrap(),
            CredentialStore::Helper("test".into())
        );
        assert_eq!(c.get("reg.lan").unwrap().unwrap().0, creds("carol", "pw"));
        assert!(c.erase("reg.lan").unwrap().is_some());
        assert!(!store.exists());
        // The file itself never holds the secret.
        assert!(!std::fs::read_to_string(&path).unwrap().contains("pw"));

        let e = c.get("elsewhere.io").unwrap_err().to_string();
        assert!(
            e.contains("docker-credential-absent") && e.contains("not installed"),
            "{e}"
        );
    }
}
