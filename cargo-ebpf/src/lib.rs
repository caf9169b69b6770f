//! cargo-ebpf: write, build, package and ship eBPF programs in C, Rust and Go.
//!
//! The `cargo-ebpf` binary is a thin layer over this library: `cli` turns
//! arguments into the option types here, and each command is one function.

pub mod build;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod doctor;
pub mod error;
pub mod fsutil;
pub mod lang;
pub mod manifest;
pub mod new;
pub mod package;
pub mod remote;
pub mod run;
pub mod signing;
pub mod templates;
pub mod tools;
pub mod vmlinux;

pub use error::{Error, Result};
