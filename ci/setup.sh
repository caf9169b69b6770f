#!/usr/bin/env bash
# Installs every system dependency of cargo-ebpf, its templates and its tests.
# Idempotent: run it again at any time. apt on Debian/Ubuntu, dnf on
# openEuler/Fedora. The package lists mirror `cargo ebpf doctor`'s tool table
# (cargo-ebpf/src/tools.rs); `cargo ebpf doctor --fix` runs the same installs.
set -euo pipefail

want_rust_ebpf=1
want_test=1
for arg in "$@"; do
  case "$arg" in
    --no-rust-ebpf) want_rust_ebpf=0 ;;
    --no-test-deps) want_test=0 ;;
    -h|--help)
      echo "usage: ci/setup.sh [--no-rust-ebpf] [--no-test-deps]"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

log() { echo "setup: $*" >&2; }

if command -v apt-get >/dev/null; then
  pkgs=(clang-19 llvm-19 bpftool libbpf-dev libelf-dev zlib1g-dev libzstd-dev
        libclang-dev pkg-config make gcc golang-go golang-github-cilium-ebpf-dev
        iproute2 git)
  if [ "$want_rust_ebpf" = 1 ]; then
    pkgs+=(rustc-web cargo-web rust-web-src llvm-22-dev libpolly-22-dev)
  fi
  if [ "$want_test" = 1 ]; then
    pkgs+=(docker-registry skopeo apache2-utils openssl)
  fi
  missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "system packages already installed"
  fi
  # The registry package starts a system service on install; tests start their own.
  if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    $SUDO systemctl stop docker-registry || true
  fi
elif command -v dnf >/dev/null; then
  pkgs=(clang llvm bpftool libbpf-devel elfutils-libelf-devel zlib-devel libzstd-devel
        clang-devel pkgconf make gcc golang iproute git)
  if [ "$want_test" = 1 ]; then pkgs+=(skopeo httpd-tools openssl); fi
  log "installing ${pkgs[*]}"
  $SUDO dnf install -y -q "${pkgs[@]}"
else
  echo "setup.sh: neither apt-get nor dnf found; install clang, bpftool, libbpf, go by hand" >&2
  exit 1
fi

# bpf-linker links Rust eBPF crates. It must be built against the LLVM that
# the Rust compiler for the eBPF side uses (LLVM 22 for Debian's rustc-web).
if [ "$want_rust_ebpf" = 1 ] && ! command -v bpf-linker >/dev/null; then
  if [ -d /usr/lib/llvm-22/bin ]; then
    log "building bpf-linker against LLVM 22 (a few minutes)"
    PATH="/usr/lib/llvm-22/bin:$PATH" cargo install --locked bpf-linker \
      --no-default-features --features llvm-22 --quiet
  else
    log "skipping bpf-linker: LLVM 22 development files not found"
  fi
fi

# Kernel filesystems that loaders and tests need.
if [ "$(id -u)" = 0 ]; then
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || true
  mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing || true
  mountpoint -q /sys/kernel/debug || mount -t debugfs nodev /sys/kernel/debug || true
fi
log "done"
