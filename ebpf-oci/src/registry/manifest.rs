//! Fetching a manifest with a bound on its size.
//!
//! oci-client reads a manifest's whole body into memory, however large a
//! registry makes it; here the body streams and stops at
//! [`limits::DOCUMENT`](crate::format::limits::DOCUMENT) bytes, and a
//! registry that stops sending fails after the stall timeout. The token is
//! oci-client's (so the credential rules of `challenge` hold).

use super::*;
use crate::format::limits;

impl Session {
    /// The manifest (or index) `r` names, as the registry sent it, and its
    /// digest: the one in the reference, else the registry's
    /// `Docker-Content-Digest`, else the bytes' own (the caller checks the
    /// bytes against it).
    pub(super) async fn fetch_manifest(&self, r: &Reference) -> Result<(Vec<u8>, String), Fetch> {
        let token = self
            .client
            .auth(r, &self.auth, RegistryOperation::Pull)
            .await?;
        let scheme = if self.url.starts_with("http://") {
            "http"
        } else {
            "https"
        };
        let name = r.digest().or(r.tag()).unwrap_or("latest");
        let url = format!(
            "{scheme}://{}/v2/{}/manifests/{name}",
            r.resolve_registry(),
            r.repository()
        );
        let mut request = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, ACCEPT.join(", "));
        request = match (&token, &self.auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, RegistryAuth::Basic(user, secret)) => request.basic_auth(user, Some(secret)),
            (None, _) => request,
        };
        let stall = self.stall;
        let response = tokio::time::timeout(stall, request.send())
            .await
            .map_err(|_| Fetch::Stalled)?
            .map_err(OciDistributionError::RequestError)?;
        let status = response.status();
        let header_digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| d.starts_with("sha256:"))
            .map(str::to_string);
        let limit = if status.is_success() {
            limits::DOCUMENT
        } else {
            64 << 10 // enough for any error envelope
        };
        let mut body = response.bytes_stream();
        let mut bytes = Vec::new();
        loop {
            let chunk = match tokio::time::timeout(stall, body.next()).await {
                Err(_) => return Err(Fetch::Stalled),
                Ok(None) => break,
                Ok(Some(chunk)) => chunk.map_err(OciDistributionError::RequestError)?,
            };
            if bytes.len() as u64 + chunk.len() as u64 > limit {
                if !status.is_success() {
                    break; // an error's first 64 KiB say enough
                }
                return Err(Fetch::TooLarge {
                    what: "manifest",
                    limit,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            return Err(Fetch::Oci(error_of(status, &bytes, &url)));
        }
        let digest = match (r.digest(), header_digest) {
            (Some(d), _) => d.to_string(),
            (None, Some(d)) => d,
            (None, None) => sha256_digest(&bytes).to_string(),
        };
        Ok((bytes, digest))
    }
}

/// The error a registry's non-2xx answer stands for, as oci-client would
/// name it (so `classify` reads both alike).
fn error_of(status: reqwest::StatusCode, body: &[u8], url: &str) -> OciDistributionError {
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return OciDistributionError::UnauthorizedError { url: url.into() };
    }
    if status.is_client_error()
        && let Ok(envelope) = serde_json::from_slice::<oci_client::errors::OciEnvelope>(body)
    {
        return OciDistributionError::RegistryError {
            envelope,
            url: url.into(),
        };
    }
    OciDistributionError::ServerError {
        code: status.as_u16(),
        url: url.into(),
        message: String::from_utf8_lossy(body).into_owned(),
    }
}
