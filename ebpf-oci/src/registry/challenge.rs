//! Where credentials may go.
//!
//! A registry with bearer tokens names its token service (the "realm") in
//! the `WWW-Authenticate` challenge of `/v2/`, and oci-client sends the
//! stored user and password to whatever realm that is. Before any
//! credential leaves, the challenge is read here and the realm judged:
//!
//! - **over TLS**, or plain HTTP only to a loopback host (or to the
//!   registry's own host when the user asked for plain HTTP to it): a realm
//!   in clear text elsewhere is refused, nothing is sent;
//! - **to the registry's own site**: its host (any port), or a host under
//!   the registry's parent domain when the registry's name has three labels
//!   or more (`registry-1.docker.io` → `auth.docker.io`,
//!   `registry.gitlab.com` → `gitlab.com`), or a host the user listed in
//!   the registry's `token-hosts` in the config;
//! - **a host with credentials of its own** (the user logged in to it, or
//!   has it in `config.json`) gets those, not the registry's;
//! - **any other host** gets a token request without credentials: a public
//!   image still pulls; a private one fails with a line saying why.
//!
//! The realm is judged once per session, from the challenge `/v2/` gives.
//! A registry that names another realm later is hostile, and a hostile
//! registry can name itself and receive the credentials anyway: the rule
//! protects against a realm the user did not choose to trust (another site,
//! clear text), not against the registry the user logged in to.

use super::*;
use crate::reference::host_port;

/// What to do with the credentials, given the registry's challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Send the registry's credentials (no bearer challenge, or a realm of
    /// the registry's own site).
    Send,
    /// The realm is another host with credentials of its own: use those.
    UseRealms(Credentials),
    /// The realm is another host: ask it for a token without credentials.
    Withhold { realm_host: String },
    /// The realm is plain HTTP off this machine: send nothing at all.
    ClearText { realm: String },
}

/// The bearer realm a `WWW-Authenticate` header names, if it names one.
pub(super) fn bearer_realm(header: &str) -> Option<String> {
    http_auth::parser::ChallengeParser::new(header)
        .filter_map(|c| c.ok())
        .filter(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        .find_map(|c| {
            c.params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("realm"))
                .map(|(_, v)| v.to_unescaped())
        })
}

/// Judges `realm` for the credentials of `registry` (its `host[:port]`).
/// `plain_http` says the user asked for plain HTTP to the registry;
/// `token_hosts` are the hosts the config trusts as its token service;
/// `stored` looks up credentials kept for another host.
pub(super) fn judge(
    registry: &str,
    realm: &str,
    plain_http: bool,
    token_hosts: &[String],
    stored: impl Fn(&str) -> Option<Credentials>,
) -> Verdict {
    let Ok(url) = reqwest::Url::parse(realm) else {
        // oci-client cannot use it either; nothing is lost by sending none.
        return Verdict::Withhold {
            realm_host: realm.into(),
        };
    };
    let Some(realm_host) = url.host_str().map(|h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    }) else {
        return Verdict::Withhold {
            realm_host: realm.into(),
        };
    };
    let (host, _) = host_port(registry);
    // Docker Hub's short name stands for its registry host.
    let host = match host.to_ascii_lowercase() {
        h if h == "docker.io" => "registry-1.docker.io".to_string(),
        h => h,
    };
    let own_host = realm_host == host;
    let loopback = is_loopback(&realm_host);
    match url.scheme() {
        "https" => {}
        "http" if loopback || (own_host && plain_http) => {}
        _ => {
            return Verdict::ClearText {
                realm: realm.into(),
            };
        }
    }
    let authority = match url.port() {
        Some(port) if realm_host.contains(':') => format!("[{realm_host}]:{port}"),
        Some(port) => format!("{realm_host}:{port}"),
        None => realm_host.clone(),
    };
    let trusted = own_host
        || same_site(&host, &realm_host)
        || token_hosts
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&realm_host) || t.eq_ignore_ascii_case(&authority));
    if trusted {
        return Verdict::Send;
    }
    match stored(&authority).or_else(|| stored(&realm_host)) {
        Some(c) => Verdict::UseRealms(c),
        None => Verdict::Withhold { realm_host },
    }
}

/// Whether `realm` is under the parent domain of `registry`, a DNS name of
/// three labels or more (so `ghcr.io` trusts only itself, never all of
/// `.io`). IP addresses have no site.
fn same_site(registry: &str, realm: &str) -> bool {
    let is_ip = |h: &str| h.parse::<std::net::IpAddr>().is_ok();
    if is_ip(registry) || is_ip(realm) {
        return false;
    }
    let labels: Vec<&str> = registry.split('.').collect();
    if labels.len() < 3 || labels.iter().any(|l| l.is_empty()) {
        return false;
    }
    let parent = labels[1..].join(".");
    realm == parent || realm.ends_with(&format!(".{parent}"))
}

impl Session {
    /// Reads `/v2/`'s challenge and settles which credentials (if any) the
    /// token service gets, before oci-client sends any.
    pub(super) fn guard_credentials(&mut self) -> Result<()> {
        if !matches!(self.auth, RegistryAuth::Basic(..)) || self.guarded {
            return Ok(());
        }
        let (http, url) = (&self.http, self.url.clone());
        let answer = self.runtime.block_on(async {
            let response = http.get(&url).send().await?;
            Ok::<_, reqwest::Error>(
                response
                    .headers()
                    .get_all(reqwest::header::WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(bearer_realm),
            )
        });
        let realm = match answer {
            Ok(realm) => realm,
            Err(e) => {
                let r = probe_ref(&self.registry);
                return Err(self.classify(OciDistributionError::RequestError(e), &r, "pull"));
            }
        };
        self.guarded = true;
        let Some(realm) = realm else {
            return Ok(());
        };
        let plain_http = self.url.starts_with("http://");
        let docker = DockerConfig::load().ok();
        let stored = |host: &str| {
            docker
                .as_ref()
                .and_then(|d| d.get(host).ok().flatten())
                .map(|(c, _)| c)
        };
        match judge(
            &self.registry,
            &realm,
            plain_http,
            &self.token_hosts,
            stored,
        ) {
            Verdict::Send => {}
            Verdict::UseRealms(c) => self.auth = RegistryAuth::Basic(c.username, c.secret),
            Verdict::Withhold { realm_host } => {
                self.auth = RegistryAuth::Anonymous;
                self.withheld = Some(realm_host);
            }
            Verdict::ClearText { realm } => {
                return Err(RegistryError::ClearTextRealm {
                    registry: self.registry.clone(),
                    realm,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(user: &str) -> Credentials {
        Credentials {
            username: user.into(),
            secret: "pw".into(),
        }
    }

    fn verdict(registry: &str, realm: &str) -> Verdict {
        judge(registry, realm, false, &[], |_| None)
    }

    #[test]
    fn the_registrys_own_site_gets_its_credentials() {
        for (registry, realm) in [
            (
                "harbor.example.com",
                "https://harbor.example.com/service/token",
            ),
            (
                "harbor.example.com:8443",
                "https://harbor.example.com/token",
            ),
            ("registry-1.docker.io", "https://auth.docker.io/token"),
            ("registry.gitlab.com", "https://gitlab.com/jwt/auth"),
            ("ghcr.io", "https://ghcr.io/token"),
            ("docker.io", "https://auth.docker.io/token"),
            ("127.0.0.1:5000", "http://127.0.0.1:5001/token"),
        ] {
            assert_eq!(
                verdict(registry, realm),
                Verdict::Send,
                "{registry} {realm}"
            );
        }
    }

    #[test]
    fn another_site_gets_a_token_request_without_them() {
        for (registry, realm, host) in [
            ("ghcr.io", "https://evil.io/token", "evil.io"),
            ("harbor.example.com", "https://example.org/t", "example.org"),
            ("a.b.example.com", "https://example.com/t", "example.com"),
            ("127.0.0.1:5000", "http://127.0.0.2:5001/token", "127.0.0.2"),
            ("r.example.com", "https://[::1]:9/t", "::1"),
        ] {
            assert_eq!(
                verdict(registry, realm),
                Verdict::Withhold {
                    realm_host: host.into()
                },
                "{registry} {realm}"
            );
        }
    }

    #[test]
    fn clear_text_off_this_machine_gets_nothing() {
        for (registry, realm) in [
            ("harbor.example.com", "http://harbor.example.com/token"),
            ("127.0.0.1:5000", "http://realm.example.com/token"),
            ("ghcr.io", "ftp://ghcr.io/token"),
        ] {
            assert_eq!(
                verdict(registry, realm),
                Verdict::ClearText {
                    realm: realm.into()
                }
            );
        }
        // Unless the user asked for plain HTTP to the registry itself.
        assert_eq!(
            judge(
                "cache.lan:5000",
                "http://cache.lan:5001/t",
                true,
                &[],
                |_| None
            ),
            Verdict::Send
        );
    }

    #[test]
    fn a_host_the_user_trusts_or_logged_in_to_is_honoured() {
        let hosts = ["auth.corp.net".to_string()];
        assert_eq!(
            judge(
                "harbor.example.com",
                "https://auth.corp.net/t",
                false,
                &hosts,
                |_| None
            ),
            Verdict::Send
        );
        let stored = |h: &str| (h == "sso.example.org:8443").then(|| creds("bob"));
        assert_eq!(
            judge(
                "harbor.example.com",
                "https://sso.example.org:8443/t",
                false,
                &[],
                stored
            ),
            Verdict::UseRealms(creds("bob"))
        );
    }

    #[test]
    fn the_realm_is_read_from_a_bearer_challenge_only() {
        assert_eq!(
            bearer_realm(r#"Bearer realm="https://a.example/token",service="reg""#).as_deref(),
            Some("https://a.example/token")
        );
        assert_eq!(
            bearer_realm(r#"Basic realm="x", Bearer realm="https://b.example/t""#).as_deref(),
            Some("https://b.example/t")
        );
        assert_eq!(bearer_realm(r#"Basic realm="registry""#), None);
        assert_eq!(bearer_realm("garbage \"unterminated"), None);
    }
}
