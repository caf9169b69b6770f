#!/usr/bin/env python3
"""Runs every fuzz target (fuzz/) for a fixed time on a corpus seeded from
a real image, as .ci/run does through ci/test.sh.

  python3 ci/fuzz.py [SECONDS]     (default 45 per target)

The seeds: a C xdp project made with the cargo-ebpf built by the tests,
packaged without user space (so inputs stay small): its oci-archive
(`archive`), its manifest, config and layer (`image`), its metadata
(`metadata`), its bytecode (`object`) and a signature of it (`signature`);
a keyless signature with its trusted root comes from fuzz/seeds/keyless/. A crash, a timeout or memory over
the limit fails the run and leaves the input in target/fuzz/artifacts/.
libFuzzer needs no nightly: RUSTC_BOOTSTRAP=1 lets the stable compiler take
cargo-fuzz's flags, and no sanitizer is used (-s none).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target" / "fuzz"
TARGETS = ["object", "image", "archive", "metadata", "signature", "keyless"]


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


def env():
    e = dict(os.environ)
    e["RUSTC_BOOTSTRAP"] = "1"
    e["CARGO_TARGET_DIR"] = str(TARGET)
    return e


def blob(store: Path, digest: str) -> bytes:
    algo, hexd = digest.split(":")
    return (store / "blobs" / algo / hexd).read_bytes()


def seeds(corpus: Path):
    cargo_ebpf = ROOT / "target" / "debug" / "cargo-ebpf"
    if not cargo_ebpf.exists():
        run(["cargo", "build", "--locked", "-p", "cargo-ebpf"], cwd=ROOT)
    for t in TARGETS:
        (corpus / t).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run([cargo_ebpf, "ebpf", "new", "seed", "--lang", "c", "--type", "xdp"], cwd=tmp,
            stdout=subprocess.DEVNULL)
        project = tmp / "seed"
        run([cargo_ebpf, "ebpf", "build"], cwd=project, stdout=subprocess.DEVNULL)
        out = project / "target" / "ebpf" / os.uname().machine
        (out / "seed").unlink()  # no user space: small inputs
        store = tmp / "store"
        archive = tmp / "seed.tar"
        run([cargo_ebpf, "ebpf", "package", "--no-build", "--store", store,
             "--archive", archive], cwd=project, stdout=subprocess.DEVNULL)
        index = json.loads((store / "index.json").read_text())
        manifest_digest = index["manifests"][0]["digest"]
        manifest = blob(store, manifest_digest)
        m = json.loads(manifest)
        config = blob(store, m["config"]["digest"])
        layer = blob(store, m["layers"][0]["digest"])
        metadata = json.loads(config)["config"]["Labels"]["io.cargo-ebpf.metadata"]
        obj = (out / "seed.bpf.o").read_bytes()
        put = lambda t, data: (corpus / t / hashlib.sha1(data).hexdigest()).write_bytes(data)
        put("archive", archive.read_bytes())
        put("image", len(manifest).to_bytes(4, "little") + len(config).to_bytes(4, "little")
            + manifest + config + layer)
        put("metadata", metadata.encode())
        put("object", obj)
        # A signature of the image, as `cargo ebpf sign` stores it.
        keyenv = dict(os.environ, COSIGN_PASSWORD="fuzz")
        run([cargo_ebpf, "ebpf", "keygen", "-o", tmp / "k"], cwd=tmp, env=keyenv, stdout=subprocess.DEVNULL)
        run([cargo_ebpf, "ebpf", "sign", "seed:0.1.0", "--store", store, "--key", tmp / "k.key"],
            cwd=tmp, env=keyenv, stdout=subprocess.DEVNULL)
        index = json.loads((store / "index.json").read_text())
        sig = next(m for m in index["manifests"]
                   if m["annotations"]["org.opencontainers.image.ref.name"].endswith(".sig"))
        sig_manifest = blob(store, sig["digest"])
        payload = blob(store, json.loads(sig_manifest)["layers"][0]["digest"])
        put("signature", len(sig_manifest).to_bytes(4, "little") + sig_manifest + payload)
    # Seeds that need a test Sigstore (a keyless signature and the root it
    # verifies under) are kept in the tree: fuzz/seeds/TARGET/.
    for t in TARGETS:
        for seed in (ROOT / "fuzz" / "seeds" / t).glob("*"):
            shutil.copy(seed, corpus / t / seed.name)


def main():
    secs = int(sys.argv[1]) if len(sys.argv) > 1 else 45
    if shutil.which("cargo-fuzz") is None:
        sys.exit("cargo-fuzz not found; run `bash ci/setup.sh test` (cargo install cargo-fuzz)")
    corpus = TARGET / "corpus"
    seeds(corpus)
    run(["cargo", "fuzz", "build", "-s", "none", "--fuzz-dir", "fuzz"], cwd=ROOT, env=env())
    artifacts = TARGET / "artifacts"
    for t in TARGETS:
        (artifacts / t).mkdir(parents=True, exist_ok=True)
        log = TARGET / f"{t}.log"
        cmd = ["cargo", "fuzz", "run", "-s", "none", "--fuzz-dir", "fuzz", t, corpus / t, "--",
               f"-max_total_time={secs}", "-timeout=10", "-rss_limit_mb=2048",
               "-max_len=65536", f"-artifact_prefix={artifacts / t}/", "-print_final_stats=1"]
        print("+", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
        # libFuzzer reports every new input: its log goes to a file, and
        # only the summary (or, on a failure, the end of it) is shown.
        with open(log, "w") as out:
            done = subprocess.run(cmd, cwd=ROOT, env=env(), stdout=out, stderr=subprocess.STDOUT)
        lines = log.read_text(errors="replace").splitlines()
        if done.returncode != 0:
            print("\n".join(lines[-60:]), file=sys.stderr)
            sys.exit(f"fuzz target {t} failed (exit {done.returncode}); the input is in "
                     f"{artifacts / t}/, the whole log in {log}")
        stats = dict(l.split(": ", 1) for l in lines if l.startswith("stat::") and ": " in l)
        runs = stats.get("stat::number_of_executed_units", "?").strip()
        rss = stats.get("stat::peak_rss_mb", "?").strip()
        print(f"fuzz {t}: {runs} inputs in {secs} s, peak RSS {rss} MB, no failure",
              file=sys.stderr, flush=True)
    print(f"fuzz: {len(TARGETS)} targets, {secs} s each, no crash", file=sys.stderr)


if __name__ == "__main__":
    main()
