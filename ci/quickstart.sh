#!/usr/bin/env bash
# The main job end to end on this machine: install what is needed, build
# cargo-ebpf and bpf-runtime, create an XDP counter from the C template, build
# it, package it into a local OCI layout store (no registry), and run it from
# the store with bpf-runtime on the loopback interface for a few seconds
# while sending it traffic; then check nothing of it is left in the kernel.
# Needs root (it loads a real eBPF program).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bash "$root/ci/setup.sh" core
cargo build --release --locked --manifest-path "$root/Cargo.toml" -p cargo-ebpf -p bpf-runtime
export PATH="$root/target/release:$PATH"   # `cargo ebpf` finds cargo-ebpf (and it bpf-runtime) here

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
set -x
cargo ebpf new xdpcount --lang c --type xdp
cd xdpcount
cargo ebpf build
export CARGO_EBPF_STORE="$work/store"      # the local OCI image layout
cargo ebpf package
cargo ebpf inspect xdpcount:0.1.0
( set +x; sleep 1; for i in $(seq 20); do echo "hello $i" > /dev/udp/127.0.0.1/9; done ) &   # 20 UDP packets to count
cargo ebpf run -- --no-userspace --iface lo --duration 4s    # bpf-runtime run xdpcount:0.1.0 from the store
bpf-runtime list                                              # nothing loaded any more
if bpftool prog show | grep -qw count_packets; then           # and nothing in the kernel
  echo "quickstart: count_packets is still loaded" >&2; exit 1
fi
