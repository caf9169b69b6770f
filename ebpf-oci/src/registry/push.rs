//! Pushing an image: the blobs the registry lacks, each platform's
//! manifest, then the tag.

use super::*;

impl Session {
    /// Pushes the image `desc` of `layout` to `target`: every blob the
    /// registry lacks, each platform's manifest by digest, then the image
    /// under the target's tag.
    pub fn push(
        &self,
        layout: &Layout,
        desc: &Descriptor,
        target: &Reference,
        progress: Arc<dyn Progress>,
    ) -> Result<PushReport> {
        // Everything is read (and verified) from the store first.
        let top = layout.read_blob(desc.digest())?;
        let mut documents = Vec::new(); // (descriptor, bytes) of platform manifests
        let mut platforms = Vec::new();
        match desc.media_type() {
            mt if is_index(mt) => {
                let index: ImageIndex = layout.read_json(desc)?;
                for m in index.manifests() {
                    if let Some(p) = m.platform() {
                        platforms.push(format!("{}/{}", p.os(), p.architecture()));
                    }
                    documents.push((m.clone(), layout.read_blob(m.digest())?));
                }
            }
            mt if is_manifest(mt) => {
                let config: ImageConfig = {
                    let m: ImageManifest = layout.read_json(desc)?;
                    layout.read_json(m.config())?
                };
                platforms.push(format!("{}/{}", config.os, config.architecture));
            }
            other => {
                return Err(RegistryError::Protocol {
                    registry: self.registry.clone(),
                    why: format!("cannot push a {other}: not an image manifest or index"),
                });
            }
        }
        let mut blobs: Vec<Descriptor> = Vec::new();
        let mut seen = BTreeSet::new();
        let manifests: Vec<&[u8]> = if documents.is_empty() {
            vec![top.as_slice()]
        } else {
            documents.iter().map(|(_, b)| b.as_slice()).collect()
        };
        for bytes in manifests {
            let m: ImageManifest =
                serde_json::from_slice(bytes).map_err(|e| StoreError::InvalidLayout {
                    path: layout.root().into(),
                    why: format!("a manifest is invalid ({e})"),
                })?;
            for d in std::iter::once(m.config()).chain(m.layers()) {
                if seen.insert(d.digest().to_string()) {
                    blobs.push(d.clone());
                }
            }
        }
        let media = |d: &Descriptor| d.media_type().to_string();
        let mut report = PushReport {
            reference: target.whole(),
            digest: desc.digest().to_string(),
            media_type: media(desc),
            platforms,
            blobs: Vec::new(),
            manifests_pushed: 0,
            blobs_uploaded: 0,
            blobs_skipped: 0,
            bytes_uploaded: 0,
            signatures: 0,
        };

        self.runtime.block_on(self.bounded(target, async {
            let auth_push = self
                .retry(|| {
                    self.client
                        .auth(target, &self.auth, RegistryOperation::Push)
                })
                .await;
            auth_push.map_err(|e| self.classify(e, target, "push to"))?;

            // Up to date already: nothing to move.
            let current = self
                .retry(|| self.client.fetch_manifest_digest(target, &self.auth))
                .await;
            if current.as_deref().ok() == Some(desc.digest().as_ref()) {
                report.blobs = blobs
                    .iter()
                    .map(|d| BlobReport {
                        digest: d.digest().to_string(),
                        size: d.size(),
                        media_type: media(d),
                        transferred: false,
                    })
                    .collect();
                report.blobs_skipped = report.blobs.len();
                return Ok(());
            }

            let results: Vec<BlobReport> = stream::iter(blobs.iter())
                .map(|d| self.push_blob(layout, d, target, progress.clone()))
                .buffer_unordered(CONCURRENCY)
                .try_collect()
                .await?;
            for d in &blobs {
                let r = results
                    .iter()
                    .find(|r| r.digest == d.digest().as_ref())
                    .expect("every blob has a result");
                report.blobs.push(r.clone());
            }
            for (m, bytes) in &documents {
                let by_digest = target.clone_with_digest(m.digest().to_string());
                self.push_manifest(&by_digest, bytes, m.media_type())
                    .await?;
                report.manifests_pushed += 1;
            }
            self.push_manifest(target, &top, desc.media_type()).await?;
            report.manifests_pushed += 1;
            Ok::<(), RegistryError>(())
        }))?;
        report.blobs_uploaded = report.blobs.iter().filter(|b| b.transferred).count();
        report.blobs_skipped = report.blobs.len() - report.blobs_uploaded;
        report.bytes_uploaded = report
            .blobs
            .iter()
            .filter(|b| b.transferred)
            .map(|b| b.size)
            .sum();
        Ok(report)
    }

    async fn push_manifest(
        &self,
        r: &Reference,
        bytes: &[u8],
        media_type: &MediaType,
    ) -> Result<()> {
        let content_type = http::HeaderValue::from_str(media_type.as_ref())
            .expect("a media type is a valid header value");
        let body = bytes::Bytes::copy_from_slice(bytes);
        self.retry(|| {
            self.client
                .push_manifest_raw(r, body.clone(), content_type.clone())
        })
        .await
        .map(|_| ())
        .map_err(|e| self.classify(e, r, "push to"))
    }

    async fn push_blob(
        &self,
        layout: &Layout,
        d: &Descriptor,
        target: &Reference,
        progress: Arc<dyn Progress>,
    ) -> Result<BlobReport> {
        let mut report = BlobReport::of(d);
        let digest = report.digest.clone();
        let exists = self
            .retry(|| self.client.blob_exists(target, &digest))
            .await
            .map_err(|e| self.classify(e, target, "push to"))?;
        if exists {
            progress.finish(&digest, false);
            return Ok(report);
        }
        let data = bytes::Bytes::from(layout.read_blob(d.digest())?);
        progress.start(&digest, data.len() as u64);
        if data.len() <= CHUNK {
            // One request with the whole blob (POST, then PUT with the
            // body) instead of POST, PATCH, PUT.
            self.retry(|| self.client.push_blob(target, data.clone(), &digest))
                .await
                .map_err(|e| self.classify(e, target, "push to"))?;
            progress.advance(&digest, data.len() as u64);
        } else {
            self.retry(|| {
                let chunks: Vec<Result<bytes::Bytes, OciDistributionError>> = (0..data.len())
                    .step_by(CHUNK)
                    .map(|at| Ok(data.slice(at..(at + CHUNK).min(data.len()))))
                    .collect();
                let p = progress.clone();
                let id = digest.clone();
                let counted = stream::iter(chunks).inspect(move |c| {
                    if let Ok(c) = c {
                        p.advance(&id, c.len() as u64);
                    }
                });
                self.client
                    .push_blob_stream(target, counted, &digest, Some(data.len() as u64))
            })
            .await
            .map_err(|e| self.classify(e, target, "push to"))?;
        }
        progress.finish(&digest, true);
        report.transferred = true;
        Ok(report)
    }
}
