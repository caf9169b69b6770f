//! Signatures travel with images: a pull brings the `sha256-<hex>.sig`
//! manifests of what it pulled (bounded like any manifest, each payload
//! verified by digest), a push sends the store's and keeps those the
//! registry already had. Whether they are any good is the policy's
//! business, at run time (`sign::policy`).

use super::*;
use crate::sign::{self, Signature};

impl Session {
    /// The signatures the registry holds for `digest` in `repo`'s
    /// repository (none when it has no signature tag for it).
    pub(super) async fn fetch_signatures(
        &self,
        repo: &Reference,
        digest: &Digest,
    ) -> Result<Vec<Signature>> {
        let r = Reference::with_tag(
            repo.registry().to_string(),
            repo.repository().to_string(),
            sign::tag_for(digest),
        );
        let fetched = self.retry(|| self.fetch_manifest(&r)).await;
        let (bytes, got) = match fetched {
            Ok(found) => found,
            Err(e) if not_found(&e) => return Ok(Vec::new()),
            Err(e) => return Err(self.fetch_failure(e, &r, "signature manifest")),
        };
        check_digest(&r.whole(), "signature manifest", &got, &bytes)?;
        let manifest: ImageManifest = parse(&r.whole(), &bytes)?;
        // Bounds first (signatures_of checks them before asking for any
        // payload), then each payload, verified against its digest.
        let mut wanted = Vec::new();
        let listed = sign::signatures_of(&manifest, digest, |layer| {
            wanted.push(layer.clone());
            Ok(Vec::new())
        })
        .map_err(|e| RegistryError::NotEbpf {
            reference: r.whole(),
            why: e.to_string(),
        })?;
        let mut out = Vec::new();
        for (mut s, layer) in listed.into_iter().zip(wanted) {
            s.payload = self.small_blob(&r, &layer).await?;
            out.push(s);
        }
        Ok(out)
    }

    /// A blob of at most [`sign::limits::PAYLOAD`] bytes, verified.
    async fn small_blob(&self, r: &Reference, d: &Descriptor) -> Result<Vec<u8>> {
        let id = d.digest().to_string();
        let fetched = self
            .retry(|| async {
                let mut s = self.client.pull_blob_stream(r, id.as_str()).await?;
                let mut bytes = Vec::new();
                while let Some(chunk) = tokio::time::timeout(self.stall, s.next())
                    .await
                    .map_err(|_| Fetch::Stalled)?
                {
                    bytes.extend_from_slice(&chunk.map_err(stream_error)?);
                    if bytes.len() as u64 > d.size() {
                        break;
                    }
                }
                Ok::<_, Fetch>(bytes)
            })
            .await
            .map_err(|e| self.fetch_failure(e, r, "signature"))?;
        check_digest(&r.whole(), "signature", &id, &fetched)?;
        Ok(fetched)
    }

    /// The signatures of each of `digests` in `source`'s repository.
    pub(super) async fn pull_signatures(
        &self,
        source: &Reference,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, Vec<Signature>)>> {
        let found: Vec<Vec<Signature>> = stream::iter(digests)
            .map(|d| self.fetch_signatures(source, d))
            .buffered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(digests
            .iter()
            .cloned()
            .zip(found)
            .filter(|(_, s)| !s.is_empty())
            .collect())
    }

    /// Stores signatures fetched by [`Session::pull_signatures`]; returns
    /// how many were new.
    pub(super) fn keep_signatures(
        layout: &Layout,
        found: &[(Digest, Vec<Signature>)],
    ) -> Result<usize> {
        let mut added = 0;
        for (d, sigs) in found {
            added += sign::add(layout, d, sigs).map_err(sign_error)?;
        }
        Ok(added)
    }

    /// Pushes the store's signatures of the image `desc` to `target`'s
    /// repository, merged with those the registry already has for each
    /// digest (which the store keeps too). Returns how many digests carry
    /// signatures there.
    pub fn push_signatures(
        &self,
        layout: &Layout,
        desc: &Descriptor,
        target: &Reference,
        progress: Arc<dyn Progress>,
    ) -> Result<usize> {
        let digests = sign::digests_to_sign(layout, desc).map_err(sign_error)?;
        self.push_signatures_of(layout, &digests, target, progress)
    }

    /// The signature manifests of `digests` in `layout`, merged with the
    /// registry's and pushed to `target`'s repository.
    fn push_signatures_of(
        &self,
        layout: &Layout,
        digests: &[Digest],
        target: &Reference,
        progress: Arc<dyn Progress>,
    ) -> Result<usize> {
        let mut pushed = 0;
        for d in digests {
            let local = sign::read(layout, d).map_err(sign_error)?;
            if local.is_empty() {
                continue;
            }
            let remote = self
                .runtime
                .block_on(self.bounded(target, self.fetch_signatures(target, d)))?;
            sign::add(layout, d, &remote).map_err(sign_error)?;
            let tag = sign::tag_for(d);
            let sig_desc = layout.resolve(&tag)?;
            let dest = Reference::with_tag(
                target.registry().to_string(),
                target.repository().to_string(),
                tag,
            );
            self.push(layout, &sig_desc, &dest, progress.clone())?;
            pushed += 1;
        }
        Ok(pushed)
    }

    /// Signs the image `target` names in the registry, without pulling it:
    /// its manifest (bounded, and checked against the digest the reference
    /// gives) is what is signed — an index and each manifest it lists —
    /// and the signatures go up beside those the registry has. Returns the
    /// digests signed.
    pub fn sign_remote(
        &self,
        target: &Reference,
        key: &sign::PrivateKey,
        progress: Arc<dyn Progress>,
    ) -> Result<Vec<Digest>> {
        let whole = target.whole();
        let (bytes, _) = self.runtime.block_on(self.bounded(target, async {
            self.retry(|| self.fetch_manifest(target))
                .await
                .map_err(|e| self.fetch_failure(e, target, "manifest"))
        }))?;
        if let Some(expected) = target.digest() {
            check_digest(&whole, "manifest", expected, &bytes)?;
        }
        let digests = digests_to_sign_in(&whole, &bytes)?;
        let scratch = tempfile::tempdir().map_err(|e| RegistryError::Protocol {
            registry: self.registry.clone(),
            why: format!("cannot make a scratch directory: {e}"),
        })?;
        let layout = Layout::open_or_create(scratch.path().join("signatures"))?;
        let name = format!("{}/{}", target.registry(), target.repository());
        for d in &digests {
            let s = Signature::create(key, &name, d).map_err(sign_error)?;
            sign::add(&layout, d, &[s]).map_err(sign_error)?;
        }
        self.push_signatures_of(&layout, &digests, target, progress)?;
        Ok(digests)
    }
}

/// What signing the manifest or index `bytes` (as `reference` sent it)
/// signs: its own digest and, for an index, each manifest it lists — at
/// most [`sign::limits::INDEX_ENTRIES`] of them.
fn digests_to_sign_in(reference: &str, bytes: &[u8]) -> Result<Vec<Digest>> {
    let refused = |why: String| RegistryError::NotEbpf {
        reference: reference.into(),
        why,
    };
    let document: serde_json::Value = parse(reference, bytes)?;
    let mut digests = vec![sha256_digest(bytes)];
    let listed = document.get("manifests").and_then(|m| m.as_array());
    for m in listed.into_iter().flatten() {
        let d = m
            .get("digest")
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse::<Digest>().ok())
            .ok_or_else(|| refused("its index lists a manifest without a valid digest".into()))?;
        if !digests.contains(&d) {
            digests.push(d);
        }
        if digests.len() > 1 + sign::limits::INDEX_ENTRIES {
            return Err(refused(format!(
                "its index lists more than {} manifests; nothing was signed",
                sign::limits::INDEX_ENTRIES
            )));
        }
    }
    Ok(digests)
}

/// Whether a fetch failed because the registry has no such manifest.
fn not_found(e: &Fetch) -> bool {
    match e {
        Fetch::Oci(OciDistributionError::RegistryError { envelope, .. }) => {
            envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    oci_client::errors::OciErrorCode::ManifestUnknown
                        | oci_client::errors::OciErrorCode::NotFound
                )
            })
        }
        Fetch::Oci(OciDistributionError::ServerError { code: 404, .. }) => true,
        Fetch::Oci(OciDistributionError::ImageManifestNotFoundError(_)) => true,
        _ => false,
    }
}

fn sign_error(e: sign::SignError) -> RegistryError {
    match e {
        sign::SignError::Store(s) => s.into(),
        other => RegistryError::Format(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(n: usize) -> Vec<u8> {
        let manifests: Vec<serde_json::Value> = (0..n)
            .map(|i| serde_json::json!({"digest": sha256_digest(&i.to_le_bytes()).to_string()}))
            .collect();
        serde_json::to_vec(&serde_json::json!({"manifests": manifests})).unwrap()
    }

    #[test]
    fn signing_an_index_signs_it_and_each_manifest_it_lists_within_a_bound() {
        let bytes = index(2);
        let d = digests_to_sign_in("r/x:1", &bytes).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d[0], sha256_digest(&bytes));
        let one = br#"{"schemaVersion":2,"layers":[]}"#;
        assert_eq!(
            digests_to_sign_in("r/x:1", one).unwrap(),
            vec![sha256_digest(one)]
        );
        let many = index(sign::limits::INDEX_ENTRIES + 1);
        let e = digests_to_sign_in("r/x:1", &many).unwrap_err().to_string();
        assert!(
            e.contains("more than 64 manifests; nothing was signed"),
            "{e}"
        );
        let bad = br#"{"manifests":[{"digest":"../../etc"}]}"#;
        let e = digests_to_sign_in("r/x:1", bad).unwrap_err().to_string();
        assert!(e.contains("without a valid digest"), "{e}");
        assert!(digests_to_sign_in("r/x:1", b"\xff not json").is_err());
    }
}
