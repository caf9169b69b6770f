#!/usr/bin/env bash
# Installs every system dependency of cargo-ebpf, its templates and its tests.
# Idempotent: run it again at any time. apt on Debian/Ubuntu, dnf on
# openEuler/Fedora. The packages come from ci/tools.tsv, the same table that
# `cargo ebpf doctor` embeds.
#
# usage: ci/setup.sh [GROUP...]   groups: core go rust test vm (default: all)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
groups=("$@")
[ "${#groups[@]}" -gt 0 ] || groups=(core go rust test vm)
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
log() { echo "setup: $*" >&2; }

if command -v apt-get >/dev/null; then col=4; pm=apt
elif command -v dnf >/dev/null; then col=5; pm=dnf
else echo "setup.sh: neither apt-get nor dnf found; see ci/tools.tsv for what to install" >&2; exit 1; fi

pkgs=(); cargo_tools=(); go_tools=(); pip_pkgs=(); py_modules=()
while IFS=$'\t' read -r tool group probe debian fedora purpose; do
  case "$tool" in ''|'#'*) continue ;; esac
  [[ " ${groups[*]} " == *" $group "* ]] || continue
  field=$([ "$col" = 4 ] && echo "$debian" || echo "$fedora")
  case "$probe" in py:*) py_modules+=("${probe#py:}") ;; esac
  for p in $field; do
    case "$p" in
      cargo:*) cargo_tools+=("${p#cargo:}") ;;
      go:*) go_tools+=("${p#go:}") ;;
      pip:*) pip_pkgs+=("${p#pip:}") ;;
      *) pkgs+=("$p") ;;
    esac
  done
done < "$here/tools.tsv"

if [ "$pm" = apt ]; then
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
  # The registry package starts a system service; tests start their own.
  if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
else
  log "installing ${pkgs[*]}"
  $SUDO dnf install -y -q "${pkgs[@]}" || log "some packages are not in this release's repositories"
fi

# bpf-linker links Rust eBPF crates; it must be built against the LLVM of the
# rustc that compiles the eBPF side (LLVM 22 for Debian's rustc-web).
for t in "${cargo_tools[@]}"; do
  if [ "$t" = bpf-linker ] && ! command -v bpf-linker >/dev/null; then
    if [ -x /usr/lib/llvm-22/bin/llvm-config ]; then
      log "building bpf-linker against LLVM 22 (a few minutes)"
      PATH="/usr/lib/llvm-22/bin:$PATH" cargo install --locked bpf-linker \
        --no-default-features --features llvm-22 --quiet
    else
      log "skipping bpf-linker: LLVM 22 development files not found"
    fi
  elif [ "$t" != bpf-linker ] && ! command -v "$t" >/dev/null; then
    log "installing $t (cargo install)"
    cargo install --locked "$t" --quiet
  fi
done

# Go tools from the Go module proxy, at pinned versions, into /usr/local/bin
# for root (else the user's GOBIN). Their modules stay in Go's module cache.
for t in "${go_tools[@]}"; do
  cmd="${t%@*}"; cmd="${cmd##*/}"
  if ! command -v "$cmd" >/dev/null; then
    log "installing $cmd ($t, go install: a few minutes)"
    if [ "$(id -u)" = 0 ]; then GOBIN=/usr/local/bin go install "$t"; else go install "$t"; fi
  fi
done

# Python modules for the tests (PyPI), into the python3 on PATH.
if [ "${#pip_pkgs[@]}" -gt 0 ]; then
  imports=$(IFS='|'; echo "${py_modules[*]}" | tr '|' ',')
  if python3 -c "import $imports" 2>/dev/null; then
    log "python modules already installed"
  else
    log "installing python modules ${pip_pkgs[*]}"
    python3 -m pip install --quiet --disable-pip-version-check "${pip_pkgs[@]}"
  fi
fi

# Kernel filesystems that loaders and tests need.
if [ "$(id -u)" = 0 ]; then
  mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf || true
  mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing || true
  mountpoint -q /sys/kernel/debug || mount -t debugfs nodev /sys/kernel/debug || true
fi
log "done"
