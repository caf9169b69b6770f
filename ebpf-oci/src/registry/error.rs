//! Turning client errors into one line a user can act on, and retrying
//! what a retry may cure.

use super::*;

/// The innermost cause of an error, which is what a user can act on
/// ("Connection refused", "invalid peer certificate: UnknownIssuer").
pub(super) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    explain(&cur.to_string())
}

/// The few transport failures users meet, in words instead of the TLS
/// stack's or the resolver's debug output; anything else as it was said.
fn explain(cause: &str) -> String {
    let has = |s: &str| cause.contains(s);
    let plain = if has("InvalidContentType") || has("corrupt message") {
        "the server answered in plain HTTP, not TLS"
    } else if has("CaUsedAsEndEntity") || has("SelfSigned") {
        "its certificate is self-signed (a CA certificate used as its own); trust it with --ca-file CERT.pem"
    } else if has("UnknownIssuer") {
        "its certificate is signed by a CA this machine does not trust"
    } else if has("NotValidForName") {
        "its certificate is for another name"
    } else if has("Expired") {
        "its certificate has expired (or this machine's clock is wrong)"
    } else if has("failed to lookup address")
        || has("no record found")
        || has("ResolveError")
        || has("Name or service not known")
    {
        "the name does not resolve (DNS)"
    } else if has("Connection refused") || has("connection refused") {
        "connection refused: nothing listens there"
    } else {
        return cause.to_string();
    };
    plain.to_string()
}

/// Errors that a retry may cure.
pub(super) trait Transient {
    fn transient(&self) -> bool;
}

impl Transient for OciDistributionError {
    fn transient(&self) -> bool {
        transient(self)
    }
}

/// A blob download fails in the network (maybe transient) or in the store
/// (not).
pub(super) enum Fetch {
    Oci(OciDistributionError),
    Store(StoreError),
    /// Nothing arrived for [`super::STALL`].
    Stalled,
    /// SIGINT, SIGTERM or SIGHUP arrived.
    Interrupted,
    /// The body grew past a limit.
    TooLarge {
        what: &'static str,
        limit: u64,
    },
}

impl Transient for Fetch {
    fn transient(&self) -> bool {
        matches!(self, Fetch::Oci(e) if transient(e))
    }
}

impl From<OciDistributionError> for Fetch {
    fn from(e: OciDistributionError) -> Fetch {
        Fetch::Oci(e)
    }
}

impl From<StoreError> for Fetch {
    fn from(e: StoreError) -> Fetch {
        Fetch::Store(e)
    }
}

/// A stream error that is really a digest mismatch found by oci-client.
pub(super) fn stream_error(e: std::io::Error) -> OciDistributionError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<DigestError>())
    {
        Some(DigestError::VerificationError { expected, actual }) => {
            OciDistributionError::DigestError(DigestError::VerificationError {
                expected: expected.clone(),
                actual: actual.clone(),
            })
        }
        _ => OciDistributionError::IoError(e),
    }
}

pub(super) fn transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(e) => match e.status() {
            Some(status) => status.is_server_error() || status.as_u16() == 429,
            None => true,
        },
        OciDistributionError::IoError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Toomanyrequests)),
        _ => false,
    }
}

impl Session {
    /// The one line a failed download of `what` from `r` is.
    pub(super) fn fetch_failure(
        &self,
        e: Fetch,
        r: &Reference,
        what: &'static str,
    ) -> RegistryError {
        match e {
            Fetch::Store(e) => e.into(),
            Fetch::Stalled => RegistryError::Stalled {
                reference: r.whole(),
                secs: self.stall.as_secs(),
            },
            Fetch::Interrupted => RegistryError::Interrupted {
                reference: r.whole(),
            },
            Fetch::TooLarge { what, limit } => RegistryError::TooLarge {
                reference: r.whole(),
                what,
                limit,
            },
            Fetch::Oci(OciDistributionError::DigestError(DigestError::VerificationError {
                expected,
                actual,
            })) => RegistryError::DigestMismatch {
                reference: r.whole(),
                what,
                expected,
                actual,
            },
            Fetch::Oci(e) => self.classify(e, r, "pull from"),
        }
    }

    /// Turns a client error into one line a user can act on.
    pub(super) fn classify(
        &self,
        e: OciDistributionError,
        r: &Reference,
        action: &'static str,
    ) -> RegistryError {
        let registry = self.registry.clone();
        let unauthorized = || match &self.auth {
            _ if self.withheld.is_some() => RegistryError::CredentialsWithheld {
                registry: registry.clone(),
                realm_host: self.withheld.clone().unwrap_or_default(),
            },
            RegistryAuth::Basic(user, _) => RegistryError::BadCredentials {
                registry: registry.clone(),
                username: user.clone(),
            },
            _ => RegistryError::AuthRequired {
                registry: registry.clone(),
            },
        };
        let not_found = |why: String| RegistryError::NotFound {
            reference: r.whole(),
            why,
        };
        match e {
            // A HEAD request has no body to explain itself: its status is
            // all there is.
            OciDistributionError::RequestError(err) if err.status().is_some() => {
                let code = err.status().expect("checked").as_u16();
                self.classify(
                    OciDistributionError::ServerError {
                        code,
                        url: String::new(),
                        message: String::new(),
                    },
                    r,
                    action,
                )
            }
            OciDistributionError::RequestError(err) => {
                let why = root_cause(&err);
                if is_tls(&err as &(dyn std::error::Error + 'static)) {
                    RegistryError::Tls { registry, why }
                } else {
                    RegistryError::Unreachable {
                        url: self.url.clone(),
                        why,
                    }
                }
            }
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => unauthorized(),
            OciDistributionError::ServerError { code: 401, .. } => unauthorized(),
            OciDistributionError::ServerError { code: 403, .. } => RegistryError::Denied {
                registry,
                repository: r.repository().into(),
                action,
            },
            OciDistributionError::ServerError {
                code: 404, message, ..
            } => not_found(if message.trim().is_empty() {
                "404 Not Found".into()
            } else {
                message.trim().into()
            }),
            OciDistributionError::ImageManifestNotFoundError(why) => not_found(why),
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
                let message = envelope
                    .errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                if codes
                    .iter()
                    .any(|c| matches!(c, OciErrorCode::Unauthorized))
                {
                    unauthorized()
                } else if codes.iter().any(|c| matches!(c, OciErrorCode::Denied)) {
                    RegistryError::Denied {
                        registry,
                        repository: r.repository().into(),
                        action,
                    }
                } else if codes.iter().any(|c| {
                    matches!(
                        c,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    not_found(message)
                } else {
                    RegistryError::Protocol {
                        registry,
                        why: message,
                    }
                }
            }
            OciDistributionError::DigestError(d) => RegistryError::Protocol {
                registry,
                why: d.to_string(),
            },
            OciDistributionError::ServerError { code, message, .. } => RegistryError::Server {
                registry,
                attempts: self.retries + 1,
                why: format!("HTTP {code} {}", message.trim())
                    .trim_end()
                    .to_string(),
            },
            other => RegistryError::Protocol {
                registry,
                why: root_cause(&other),
            },
        }
    }

    /// Runs `f` until it succeeds, fails for good, or the retries run out.
    pub(super) async fn retry<T, E, F, Fut>(&self, mut f: F) -> Result<T, E>
    where
        E: Transient,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut delay = Duration::from_millis(250);
        let mut attempt = 0;
        loop {
            match f().await {
                Err(e) if attempt < self.retries && e.transient() => {
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::explain;

    /// Issue 17, finding 14: transport errors said nothing useful.
    #[test]
    fn transport_failures_are_said_in_words() {
        for (raw, said) in [
            (
                "received corrupt message of type InvalidContentType",
                "plain HTTP, not TLS",
            ),
            (
                "invalid peer certificate: Other(OtherError(CaUsedAsEndEntity))",
                "self-signed",
            ),
            (
                "invalid peer certificate: UnknownIssuer",
                "a CA this machine does not trust",
            ),
            (
                "invalid peer certificate: NotValidForName",
                "for another name",
            ),
            (
                "ResolveError { kind: Proto(ProtoError { kind: NoRecordsFound { query: Query { name: Name(\"nope.invalid.\") } } }) }",
                "does not resolve",
            ),
            ("Connection refused (os error 111)", "nothing listens there"),
        ] {
            let e = explain(raw);
            assert!(e.contains(said), "{raw} -> {e}");
            assert!(!e.contains("Other(") && !e.contains("ResolveError"), "{e}");
        }
        assert_eq!(explain("something else"), "something else");
    }
}
