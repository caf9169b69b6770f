//! bpf-runtime: take a packaged eBPF program (from the local store, a
//! registry, a layout, an archive, or a bare object), verify it, check the
//! kernel can run it, load and attach it with aya, show what it observes,
//! and detach and unload everything when it stops.
//!
//! Image handling (store, format, registries) is `ebpf-oci`'s; object facts
//! and BTF types are `ebpf-object`'s; program types are `ebpf-kinds`'s. This
//! crate adds only what happens on the host.

pub mod attach;
pub mod cli;
pub mod commands;
pub mod error;
pub mod kernel;
pub mod maps;
pub mod output;
pub mod package;
pub mod records;
pub mod trace;
pub mod userspace;

pub use error::{Result, RuntimeError};
