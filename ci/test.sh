#!/usr/bin/env bash
# The project's test command: formatting, lints, unit tests, and end-to-end
# tests that build every template and run it against the real kernel.
# Privileged tests skip (with a reason) when not root, unless
# CARGO_EBPF_REQUIRE_PRIVILEGED=1 (as in .ci/run) makes them mandatory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Everything the tests need, installed idempotently (a no-op when present):
# compilers and libbpf (core), Go, Rust's eBPF toolchain and bpf-linker,
# the registry and OCI peers (test), and qemu for the second kernel (vm).
bash ci/setup.sh core go rust test vm

if [ "$(id -u)" = 0 ]; then
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
  mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
fi

echo "== cargo fmt --check" >&2
cargo fmt --all --check
echo "== cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test" >&2
cargo test --workspace --locked
echo "== fuzz (each target for ${CARGO_EBPF_FUZZ_SECONDS:-45} s)" >&2
python3 ci/fuzz.py "${CARGO_EBPF_FUZZ_SECONDS:-45}"
