//! Kernel headers for the kernel side: the project's include directories and
//! a vmlinux.h, found in the project or generated from the running kernel's
//! BTF.

use std::path::{Path, PathBuf};

use ebpf_kinds::Arch;

use super::step::StepRunner;
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;
use crate::manifest::Manifest;
use crate::vmlinux;

/// Whether any source includes `vmlinux.h`.
pub fn includes_vmlinux(sources: &[PathBuf]) -> bool {
    sources.iter().any(|s| {
        std::fs::read_to_string(s)
            .is_ok_and(|t| t.contains("\"vmlinux.h\"") || t.contains("<vmlinux.h>"))
    })
}

/// The include directories of the kernel side, with a vmlinux.h found in the
/// project or generated into `target/ebpf/<arch>/include` from the running
/// kernel's BTF.
pub fn kernel_includes(
    m: &Manifest,
    root: &Path,
    bpf_dir: &Path,
    sources: &[PathBuf],
    arch: Arch,
    runner: &mut StepRunner,
) -> Result<Vec<PathBuf>> {
    let mut dirs = vec![bpf_dir.to_path_buf()];
    let inc = root.join("include");
    if inc.join(arch.name()).is_dir() {
        dirs.push(inc.join(arch.name()));
    }
    if inc.is_dir() {
        dirs.push(inc);
    }
    dirs.extend(m.build.include.iter().map(|d| root.join(d)));
    dirs.push(libbpf_headers(runner.out_dir())?);
    if includes_vmlinux(sources) && !dirs.iter().any(|d| d.join("vmlinux.h").is_file()) {
        let gen_dir = runner.out_dir().join("include");
        let header = gen_dir.join("vmlinux.h");
        if !header.is_file() {
            let hint = format!(
                "run `cargo ebpf gen vmlinux --btf FILE --arch {arch} -o include/{arch}/vmlinux.h` with a BTF of a {arch} kernel"
            );
            generate_vmlinux(runner, &header, arch, "vmlinux.h", &hint)?;
        }
        dirs.push(gen_dir);
    }
    Ok(dirs)
}

/// libbpf's BPF-side headers (`cargo-ebpf/libbpf/`), embedded so that
/// sources written for a current libbpf build where the distribution's is
/// older.
const LIBBPF_HEADERS: &[(&str, &[u8])] = &[
    (
        "bpf_helpers.h",
        include_bytes!("../../libbpf/bpf/bpf_helpers.h"),
    ),
    (
        "bpf_helper_defs.h",
        include_bytes!("../../libbpf/bpf/bpf_helper_defs.h"),
    ),
    (
        "bpf_tracing.h",
        include_bytes!("../../libbpf/bpf/bpf_tracing.h"),
    ),
    (
        "bpf_core_read.h",
        include_bytes!("../../libbpf/bpf/bpf_core_read.h"),
    ),
    (
        "bpf_endian.h",
        include_bytes!("../../libbpf/bpf/bpf_endian.h"),
    ),
    ("usdt.bpf.h", include_bytes!("../../libbpf/bpf/usdt.bpf.h")),
];

/// Writes the embedded libbpf headers to `OUT/libbpf/bpf/` (each only when
/// its bytes differ, so clang's depfiles see no change on a rebuild) and
/// returns the directory to put on the include path.
fn libbpf_headers(out_dir: &Path) -> Result<PathBuf> {
    let dir = out_dir.join("libbpf");
    for (name, bytes) in LIBBPF_HEADERS {
        let path = dir.join("bpf").join(name);
        if std::fs::read(&path).is_ok_and(|have| have == *bytes) {
            continue;
        }
        write_atomic(&path, bytes, false)?;
    }
    Ok(dir)
}

/// Writes `header` (shown as `shown`) from the running kernel's BTF, which
/// only serves the host's architecture; `hint` says what to do otherwise.
pub fn generate_vmlinux(
    runner: &mut StepRunner,
    header: &Path,
    arch: Arch,
    shown: &str,
    hint: &str,
) -> Result<()> {
    if arch != Arch::host() {
        return Err(Error::usage(format!(
            "no vmlinux.h for {arch}: the running kernel's BTF is {}; {hint}",
            Arch::host()
        )));
    }
    let btf = vmlinux::btf_source(None)?;
    runner.status("Generating", format_args!("{shown} from {}", btf.display()));
    runner.count();
    vmlinux::write_header(&btf, header)
}
