//! Searching a registry: its catalog, tags and what each package is.

use super::*;

impl Session {
    /// The repositories of the registry whose name or description contains
    /// `term`, with their tags, whether they are eBPF packages, and what
    /// their newest tag describes.
    pub fn search(&self, term: Option<&str>) -> Result<Vec<RepositoryReport>> {
        let probe = probe_ref(&self.registry);
        self.runtime.block_on(async {
            let mut repositories = Vec::new();
            let mut last: Option<String> = None;
            loop {
                let page = self
                    .retry(|| {
                        self.client
                            .catalog(&probe, &self.auth, Some(100), last.as_deref())
                    })
                    .await
                    .map_err(|e| match self.classify(e, &probe, "list") {
                        RegistryError::NotFound { .. } => RegistryError::Protocol {
                            registry: self.registry.clone(),
                            why: "this registry does not offer a catalog (/v2/_catalog), so it cannot be searched; pull by name instead".into(),
                        },
                        e => e,
                    })?;
                let n = page.repositories.len();
                last = page.repositories.last().cloned();
                repositories.extend(page.repositories);
                if n < 100 {
                    break;
                }
            }
            let term = term.map(str::to_ascii_lowercase);
            let found: Vec<Option<RepositoryReport>> = stream::iter(repositories)
                .map(|repo| self.describe(repo, term.as_deref()))
                .buffered(8)
                .try_collect()
                .await?;
            Ok(found.into_iter().flatten().collect())
        })
    }

    async fn describe(
        &self,
        repository: String,
        term: Option<&str>,
    ) -> Result<Option<RepositoryReport>> {
        let r = Reference::with_tag(self.registry.clone(), repository.clone(), "latest".into());
        // A repository whose tags were all deleted answers 404 or
        // `"tags": null`: it is listed without tags, not a failed search.
        let mut tags = match self
            .retry(|| self.client.list_tags(&r, &self.auth, None, None))
            .await
        {
            Ok(t) => t.tags,
            Err(e) => match self.classify(e, &r, "list") {
                RegistryError::NotFound { .. } | RegistryError::Protocol { .. } => Vec::new(),
                e => return Err(e),
            },
        };
        tags.sort_by(|a, b| version_order(a, b));
        let mut report = RepositoryReport {
            reference: format!("{}/{repository}", self.registry),
            repository,
            tags,
            ebpf: false,
            description: None,
            programs: BTreeMap::new(),
        };
        let newest = report
            .tags
            .iter()
            .find(|t| *t == "latest")
            .or(report.tags.last())
            .cloned();
        if let Some(tag) = newest {
            let r = Reference::with_tag(self.registry.clone(), report.repository.clone(), tag);
            // A repository that is not an image (or not readable) is listed
            // without details rather than failing the search.
            let _ = self.describe_image(&r, &mut report).await;
        }
        let matches = term.is_none_or(|t| {
            report.repository.to_ascii_lowercase().contains(t)
                || report
                    .description
                    .as_deref()
                    .is_some_and(|d| d.to_ascii_lowercase().contains(t))
        });
        Ok(matches.then_some(report))
    }

    async fn describe_image(
        &self,
        r: &Reference,
        report: &mut RepositoryReport,
    ) -> Result<(), OciDistributionError> {
        let (mut bytes, _) = self
            .client
            .pull_manifest_raw(r, &self.auth, &ACCEPT)
            .await?;
        if media_type_of(&bytes).is_some_and(|k| is_index(&media_type(&k))) {
            let index: ImageIndex = serde_json::from_slice(&bytes)?;
            report.description = annotation(index.annotations(), ANNOTATION_DESCRIPTION);
            let Some(first) = index.manifests().first() else {
                return Ok(());
            };
            let by_digest = r.clone_with_digest(first.digest().to_string());
            (bytes, _) = self
                .client
                .pull_manifest_raw(&by_digest, &self.auth, &ACCEPT)
                .await?;
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes)?;
        if report.description.is_none() {
            report.description = annotation(manifest.annotations(), ANNOTATION_DESCRIPTION);
        }
        let mut config = Vec::new();
        self.client
            .pull_blob(r, manifest.config().digest().as_ref(), &mut config)
            .await?;
        let config: ImageConfig = serde_json::from_slice(&config)?;
        if let Some(programs) = config.label(LABEL_PROGRAMS) {
            report.ebpf = true;
            report.programs = serde_json::from_str(programs).unwrap_or_default();
        }
        Ok(())
    }
}
