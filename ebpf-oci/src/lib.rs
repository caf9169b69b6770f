//! The OCI side of cargo-ebpf: the local OCI image layout store that
//! `package` writes to and `bpf-runtime` reads from (the embedded default:
//! no registry needed). Every blob is content-addressed and verified on every
//! read; every write is a temporary file renamed into place, so a crash never
//! leaves a half-written blob or index visible.

pub mod auth;
pub mod config;
pub mod format;
pub mod fs;
pub mod images;
pub mod layer;
pub mod layout;
pub mod reference;
pub mod registry;
pub mod sign;
pub mod store;

pub use layout::{Layout, StoreError};
