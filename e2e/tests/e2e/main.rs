//! End-to-end tests: the real binaries (this package's copies of
//! `cargo-ebpf` and `bpf-runtime`, built from the same `main`), real
//! compilers, real peers (a registry, skopeo, qemu) and, as root, the real
//! kernel. One test binary, so template projects are generated and built
//! once, into one directory shared by every test, and tests run in
//! parallel across subjects.

mod bpfman;
mod cli;
mod cluster;
mod corpus;
mod docs;
mod packages;
mod registry;
mod runtime;
mod signing;
mod support;
mod template_runs;
mod templates;
mod vm;
