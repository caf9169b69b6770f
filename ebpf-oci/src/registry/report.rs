//! What transfers and searches report, for the tools to print.

use super::*;

/// One blob of a transfer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BlobReport {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
    /// Uploaded or downloaded (false: the other side had it).
    pub transferred: bool,
}

impl BlobReport {
    /// The blob `d` describes, not (yet) transferred.
    pub(super) fn of(d: &Descriptor) -> BlobReport {
        BlobReport {
            digest: d.digest().to_string(),
            size: d.size(),
            media_type: d.media_type().to_string(),
            transferred: false,
        }
    }
}

/// What `push` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    pub reference: String,
    pub digest: String,
    pub media_type: String,
    pub platforms: Vec<String>,
    pub blobs: Vec<BlobReport>,
    /// Manifests and indexes written (0 when the tag was up to date).
    pub manifests_pushed: usize,
    pub blobs_uploaded: usize,
    pub blobs_skipped: usize,
    pub bytes_uploaded: u64,
    /// Digests whose signatures were pushed beside the image.
    pub signatures: usize,
}

/// What `pull` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PullReport {
    pub reference: String,
    /// The tag in the local store.
    pub tag: String,
    /// The digest of the stored manifest.
    pub digest: String,
    /// The digest of the index it was chosen from, for multi-platform images.
    pub index_digest: Option<String>,
    pub platform: String,
    pub blobs: Vec<BlobReport>,
    pub blobs_downloaded: usize,
    pub blobs_present: usize,
    pub bytes_downloaded: u64,
    /// Signatures that came along and were new in the store.
    pub signatures: usize,
}

/// A repository found by `search`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RepositoryReport {
    pub repository: String,
    pub reference: String,
    pub tags: Vec<String>,
    /// Whether its newest tag is an eBPF package.
    pub ebpf: bool,
    pub description: Option<String>,
    /// Program name → type, from bpfman's label.
    pub programs: BTreeMap<String, String>,
}
