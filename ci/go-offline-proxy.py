#!/usr/bin/env python3
"""Makes a Go module proxy directory (for GOPROXY=file://DIR) from the Go
sources Debian packages under /usr/share/gocode/src, so that generated Go
projects build with no network. A test concern only: generated projects keep
a normal go.mod and fetch their modules from the public proxy elsewhere.

usage: ci/go-offline-proxy.py DIR
"""
import io
import json
import os
import sys
import zipfile

GOCODE = "/usr/share/gocode/src"

# module path -> versions served. The first version gets the Debian sources;
# every listed version also gets a .mod (the module graph asks for them).
MODULES = {
    "github.com/cilium/ebpf": ["v0.9.1"],
    "golang.org/x/sys": [
        "v0.0.0-20210906170528-6f6e22806c34",
        "v0.0.0-20200728102440-3e129f6d46b1",
        "v0.0.0-20200217220822-9197077df867",
    ],
    "github.com/vishvananda/netlink": ["v1.1.0"],
    "github.com/vishvananda/netns": ["v0.0.0-20200728191858-db3c7e526aae"],
}


def escape(path):
    # The proxy protocol writes capital letters as '!' + lowercase.
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


def module_zip(module, version, src):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for root, dirs, files in os.walk(src):
            dirs[:] = sorted(d for d in dirs if d not in (".git", "vendor", "testdata"))
            rel_root = os.path.relpath(root, src)
            # Nested modules are not part of this one.
            if rel_root != "." and os.path.exists(os.path.join(root, "go.mod")):
                dirs[:] = []
                continue
            for f in sorted(files):
                full = os.path.join(root, f)
                if os.path.islink(full) or not os.path.isfile(full):
                    continue
                rel = os.path.normpath(os.path.join(rel_root, f))
                z.write(full, f"{module}@{version}/{rel}")
    return buf.getvalue()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    out = sys.argv[1]
    for module, versions in MODULES.items():
        src = os.path.join(GOCODE, module)
        if not os.path.isdir(src):
            sys.exit(f"go-offline-proxy: {src} is missing; run ci/setup.sh go")
        d = os.path.join(out, escape(module), "@v")
        os.makedirs(d, exist_ok=True)
        gomod_path = os.path.join(src, "go.mod")
        gomod = open(gomod_path).read() if os.path.exists(gomod_path) else f"module {module}\n"
        for i, v in enumerate(versions):
            with open(os.path.join(d, v + ".info"), "w") as f:
                json.dump({"Version": v, "Time": "2022-01-01T00:00:00Z"}, f)
            with open(os.path.join(d, v + ".mod"), "w") as f:
                f.write(gomod if i == 0 else f"module {module}\n")
            if i == 0:
                with open(os.path.join(d, v + ".zip"), "wb") as f:
                    f.write(module_zip(module, v, src))
        with open(os.path.join(d, "list"), "w") as f:
            f.write("\n".join(versions[:1]) + "\n")


if __name__ == "__main__":
    main()
