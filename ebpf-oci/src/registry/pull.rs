//! Pulling an image into the store, every blob verified as it streams.

use super::*;
use crate::format::limits;

impl Session {
    /// Pulls `source` into `layout` and tags it `tag` (default: the whole
    /// reference). From an index, the manifest for `platform` (`os/arch`,
    /// default this host's) is pulled.
    pub fn pull(
        &self,
        source: &Reference,
        platform: Option<&str>,
        layout: &Layout,
        tag: Option<&str>,
        progress: Arc<dyn Progress>,
    ) -> Result<PullReport> {
        let written = std::sync::Mutex::new(Vec::<Digest>::new());
        // While it runs, `rmi` (gc) keeps what it fetches; a signal stops
        // it cleanly (the store is left as it was), and the caller exits.
        // What a pull killed before this one left goes first.
        let _ = layout.reclaim_dead_pulls();
        let lease = layout.lease()?;
        let signals = crate::fs::SignalGuard::catch();
        let fetch = Fetching {
            layout,
            lease: &lease,
            written: &written,
            stop: signals.flag(),
        };
        let result = self.runtime.block_on(self.bounded(
            source,
            self.pull_inner(source, platform, tag, progress, &fetch),
        ));
        drop(signals);
        // Released first: discarding honours live leases, this one too.
        drop(lease);
        if result.is_err() {
            // Leave the store as it was: drop what this pull wrote that no
            // tag uses.
            let written = written.into_inner().unwrap_or_default();
            let _ = layout.discard(&written);
        }
        result
    }

    async fn pull_inner(
        &self,
        source: &Reference,
        platform: Option<&str>,
        tag: Option<&str>,
        progress: Arc<dyn Progress>,
        fetch_state: &Fetching<'_>,
    ) -> Result<PullReport> {
        let layout = fetch_state.layout;
        let reference = source.whole();
        let fetch = |r: &Reference| {
            let r = r.clone();
            async move {
                self.retry(|| self.fetch_manifest(&r))
                    .await
                    .map_err(|e| self.fetch_failure(e, &r, "manifest"))
            }
        };
        let (mut bytes, mut digest) = fetch(source).await?;
        check_digest(&reference, "manifest", &digest, &bytes)?;
        let mut index_digest = None;
        let mut index_bytes = None;
        let mut kind = media_type_of(&bytes).map(|k| media_type(&k));
        let wanted = match platform {
            Some(p) => p.to_string(),
            None => host_platform(),
        };
        let mut chosen_platform = wanted.clone();
        if kind.as_ref().is_some_and(is_index) {
            let index: ImageIndex = parse(&reference, &bytes)?;
            let entry = index
                .manifests()
                .iter()
                .find(|m| {
                    m.platform()
                        .as_ref()
                        .is_some_and(|p| format!("{}/{}", p.os(), p.architecture()) == wanted)
                })
                .ok_or_else(|| RegistryError::NoPlatform {
                    reference: reference.clone(),
                    wanted: wanted.clone(),
                    available: index
                        .manifests()
                        .iter()
                        .filter_map(|m| m.platform().as_ref())
                        .map(|p| format!("{}/{}", p.os(), p.architecture()))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            index_digest = Some(digest);
            index_bytes = Some(bytes);
            let by_digest = source.clone_with_digest(entry.digest().to_string());
            (bytes, digest) = fetch(&by_digest).await?;
            check_digest(&reference, "manifest", &digest, &bytes)?;
            kind = media_type_of(&bytes).map(|k| media_type(&k));
        }
        let kind = match kind {
            Some(k) if is_manifest(&k) => k,
            other => {
                return Err(RegistryError::NotEbpf {
                    reference,
                    why: format!(
                        "its manifest is {}, not an image manifest",
                        other.map_or_else(|| "of no known type".into(), |k| k.to_string())
                    ),
                });
            }
        };
        let manifest: ImageManifest = parse(&reference, &bytes)?;
        // What the manifest announces is bounded before anything is fetched.
        let too_large = |what, limit| RegistryError::TooLarge {
            reference: reference.clone(),
            what,
            limit,
        };
        if manifest.config().size() > limits::DOCUMENT {
            return Err(too_large("config", limits::DOCUMENT));
        }
        if manifest.layers().len() > limits::LAYERS {
            return Err(RegistryError::NotEbpf {
                reference,
                why: format!(
                    "it has {} layers, more than the {} an image may have",
                    manifest.layers().len(),
                    limits::LAYERS
                ),
            });
        }
        if manifest
            .layers()
            .iter()
            .any(|l| l.size() > limits::LAYER_STORED)
        {
            return Err(too_large("layer", limits::LAYER_STORED));
        }

        // The config first: it says whether this is an eBPF package at all,
        // before any layer is fetched.
        let config_report = self
            .pull_blob(source, manifest.config(), progress.clone(), fetch_state)
            .await?;
        let config: ImageConfig = layout.read_json(manifest.config())?;
        if config.label(LABEL_PROGRAMS).is_none() && config.label(LABEL_METADATA).is_none() {
            return Err(RegistryError::NotEbpf {
                reference,
                why: format!("its config has no {LABEL_PROGRAMS} label"),
            });
        }
        if index_digest.is_none() {
            // A single-platform image: it must be the platform asked for.
            chosen_platform = format!("{}/{}", config.os, config.architecture);
            if platform.is_some_and(|p| p != chosen_platform) {
                return Err(RegistryError::NoPlatform {
                    reference,
                    wanted,
                    available: chosen_platform,
                });
            }
        }
        let mut blobs = vec![config_report];
        // Its signatures (judged when it runs, not here) come along, fetched
        // while the layers download: the digests they sign are known.
        let mut signed: Vec<Digest> = vec![sha256_digest(&bytes)];
        if let Some(d) = &index_digest {
            signed.push(d.parse().map_err(|_| RegistryError::Protocol {
                registry: self.registry.clone(),
                why: format!("invalid digest {d}"),
            })?);
        }
        let layers = stream::iter(manifest.layers().iter())
            .map(|d| self.pull_blob(source, d, progress.clone(), fetch_state))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<BlobReport>>();
        let (layers, found) =
            futures_util::future::try_join(layers, self.pull_signatures(source, &signed)).await?;
        for d in manifest.layers() {
            blobs.push(
                layers
                    .iter()
                    .find(|r| r.digest == d.digest().as_ref())
                    .expect("every layer has a result")
                    .clone(),
            );
        }
        let stored = layout.put_blob(&bytes)?;
        fetch_state.lease.hold(&stored)?;
        fetch_state
            .written
            .lock()
            .expect("not poisoned")
            .push(stored.clone());
        let mut desc = Descriptor::new(kind, bytes.len() as u64, stored.clone());
        // The image must read back as one of ours before it is tagged.
        format::read(layout, &desc)?;
        // Of an index, the index itself is kept (a few KiB): a signature
        // of the index vouches for the manifest taken out of it.
        if let Some(index) = &index_bytes {
            let kept = layout.put_blob(index)?;
            fetch_state.lease.hold(&kept)?;
            fetch_state
                .written
                .lock()
                .expect("not poisoned")
                .push(kept.clone());
            desc.set_annotations(Some(std::collections::HashMap::from([(
                crate::layout::ANNOTATION_FROM_INDEX.to_string(),
                kept.to_string(),
            )])));
        }
        let tag = tag.map(str::to_string).unwrap_or_else(|| reference.clone());
        layout.tag(&tag, &desc, true)?;
        let signatures = Session::keep_signatures(layout, &found)?;
        let downloaded: Vec<&BlobReport> = blobs.iter().filter(|b| b.transferred).collect();
        Ok(PullReport {
            reference,
            tag,
            digest,
            index_digest,
            platform: chosen_platform,
            blobs_downloaded: downloaded.len(),
            bytes_downloaded: downloaded.iter().map(|b| b.size).sum(),
            blobs_present: blobs.len() - downloaded.len(),
            blobs,
            signatures,
        })
    }

    async fn pull_blob(
        &self,
        source: &Reference,
        d: &Descriptor,
        progress: Arc<dyn Progress>,
        state: &Fetching<'_>,
    ) -> Result<BlobReport> {
        let layout = state.layout;
        let mut report = BlobReport::of(d);
        let digest = report.digest.clone();
        // Held from now on: a concurrent `rmi` must not collect it.
        state.lease.hold(d.digest())?;
        if layout.has_blob(d.digest()) {
            progress.finish(&digest, false);
            return Ok(report);
        }
        progress.start(&digest, d.size());
        let (id, progress_ref) = (digest.as_str(), &progress);
        let (stop, stall) = (state.stop, self.stall);
        let outcome = self
            .retry(|| async move {
                let mut writer = layout.blob_writer(d.digest())?;
                let mut s = self.client.pull_blob_stream(source, id).await?;
                let mut quiet = Duration::ZERO;
                let tick = Duration::from_millis(250);
                loop {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        return Err(Fetch::Interrupted);
                    }
                    let chunk = match tokio::time::timeout(tick, s.next()).await {
                        Err(_) => {
                            quiet += tick;
                            if quiet >= stall {
                                return Err(Fetch::Stalled);
                            }
                            continue;
                        }
                        Ok(None) => break,
                        Ok(Some(chunk)) => chunk.map_err(stream_error)?,
                    };
                    quiet = Duration::ZERO;
                    writer.write(&chunk)?;
                    progress_ref.advance(id, chunk.len() as u64);
                    if writer.written() > d.size() {
                        break; // more than announced: the commit will refuse it
                    }
                }
                Ok::<_, Fetch>(writer)
            })
            .await;
        let writer = outcome.map_err(|e| self.fetch_failure(e, source, "blob"))?;
        writer.commit().map_err(|e| match e {
            StoreError::Corrupt {
                expected, actual, ..
            } => RegistryError::DigestMismatch {
                reference: source.whole(),
                what: "blob",
                expected,
                actual,
            },
            e => e.into(),
        })?;
        state
            .written
            .lock()
            .expect("not poisoned")
            .push(d.digest().clone());
        progress.finish(&digest, true);
        report.transferred = true;
        Ok(report)
    }
}

/// What one pull shares between its downloads.
struct Fetching<'a> {
    layout: &'a Layout,
    lease: &'a crate::layout::Lease,
    /// Blobs this pull stored (dropped again if it fails).
    written: &'a std::sync::Mutex<Vec<Digest>>,
    /// Set by SIGINT, SIGTERM or SIGHUP.
    stop: &'a std::sync::atomic::AtomicBool,
}
