//! What the host's kernel offers, and whether that is enough for a package:
//! checked before anything is loaded, so that a missing feature is a
//! sentence ("ring buffer maps need Linux 5.8; this host runs 4.19") rather
//! than an EINVAL from deep inside a load.
//!
//! Testing seam: `BPF_RUNTIME_KERNEL=4.19.90` makes the runtime believe it
//! runs on that kernel release, and `BPF_RUNTIME_ABSENT=kprobes,btf,...`
//! that those features are missing (names as in [`KernelNeed`]'s
//! snake_case). Both only ever remove capabilities.

use std::path::Path;

use ebpf_kinds::{KernelNeed, ProgramType};
use ebpf_object::ObjectInfo;

use crate::error::{Result, RuntimeError};

/// One line of `bpf-runtime features`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Feature {
    #[serde(rename = "feature")]
    pub need: KernelNeed,
    pub describe: &'static str,
    pub present: bool,
    /// False where only loading a program could tell (then `present` means
    /// "the kernel is new enough").
    pub certain: bool,
}

/// The facts about this host that packages depend on.
#[derive(Debug, Clone)]
pub struct Host {
    pub release: String,
    pub version: (u32, u32),
    absent: Vec<KernelNeed>,
}

fn parse_version(release: &str) -> (u32, u32) {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor)
}

impl Host {
    pub fn probe() -> Host {
        let release = std::env::var("BPF_RUNTIME_KERNEL").unwrap_or_else(|_| {
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        });
        let pretend: Vec<String> = std::env::var("BPF_RUNTIME_ABSENT")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let version = parse_version(&release);
        let absent = KernelNeed::ALL
            .into_iter()
            .filter(|need| {
                pretend.iter().any(|p| p == need.name())
                    || version < need.min_kernel()
                    || !present(*need)
            })
            .collect();
        Host {
            release,
            version,
            absent,
        }
    }

    /// A host running `release` that lacks `absent` (and what that
    /// release is too old for).
    #[cfg(test)]
    fn pretend(release: &str, absent: &[KernelNeed]) -> Host {
        let version = parse_version(release);
        Host {
            release: release.into(),
            version,
            absent: KernelNeed::ALL
                .into_iter()
                .filter(|n| absent.contains(n) || version < n.min_kernel())
                .collect(),
        }
    }

    /// Every feature the runtime checks, and whether this host offers it
    /// (as far as can be told without loading anything).
    pub fn features(&self) -> Vec<Feature> {
        KernelNeed::ALL
            .iter()
            .map(|&need| Feature {
                need,
                describe: need.describe(),
                present: self.has(need),
                certain: !matches!(need, KernelNeed::Trampolines | KernelNeed::GlobalData),
            })
            .collect()
    }

    pub fn has(&self, need: KernelNeed) -> bool {
        !self.absent.contains(&need)
    }

    /// Refuses a package the kernel cannot run, naming the first thing
    /// missing.
    pub fn check(&self, package: &str, object: &ObjectInfo) -> Result<()> {
        let lacks = |what: String, host: String| RuntimeError::KernelLacks {
            package: package.into(),
            what,
            host,
        };
        let runs = format!("runs Linux {}", self.release);
        let older = |(ma, mi): (u32, u32)| self.version < (ma, mi);
        for m in &object.maps {
            if let Some(t) = ebpf_object::maps::by_name(&m.ty)
                && older(t.min_kernel)
            {
                return Err(lacks(
                    format!(
                        "Linux {}.{} for {} maps (`{}`)",
                        t.min_kernel.0,
                        t.min_kernel.1,
                        map_type_words(&m.ty),
                        m.name
                    ),
                    runs.clone(),
                ));
            }
        }
        for p in &object.programs {
            let min = p.ty.info().min_kernel;
            if older(min) {
                return Err(lacks(
                    format!(
                        "Linux {}.{} for {} programs (`{}`)",
                        min.0,
                        min.1,
                        p.ty.name(),
                        p.name
                    ),
                    runs.clone(),
                ));
            }
        }
        for need in &object.kernel.features {
            if !self.has(*need) {
                let why = if older(need.min_kernel()) {
                    format!(
                        "{runs} (it arrived in {}.{})",
                        need.min_kernel().0,
                        need.min_kernel().1
                    )
                } else {
                    format!("does not offer it ({runs})")
                };
                return Err(lacks(need.describe().to_string(), why));
            }
        }
        for p in &object.programs {
            for need in p.ty.info().needs {
                if !self.has(*need) {
                    return Err(lacks(
                        format!(
                            "{} for its {} program `{}`",
                            need.describe(),
                            p.ty.name(),
                            p.name
                        ),
                        format!("does not offer it ({runs}){}", hint(*need, p.ty)),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn hint(need: KernelNeed, ty: ProgramType) -> String {
    match (need, ty) {
        (KernelNeed::Kprobes, _) => {
            "; /sys/bus/event_source/devices/kprobe is missing: the kernel was built without CONFIG_KPROBES".into()
        }
        (KernelNeed::BpfLsm, _) => {
            "; add `bpf` to the lsm= kernel command line (see /sys/kernel/security/lsm)".into()
        }
        _ => String::new(),
    }
}

/// `ringbuf` → `ring buffer`, for messages.
fn map_type_words(ty: &str) -> String {
    match ty {
        "ringbuf" => "ring buffer".into(),
        other => other.replace('_', " "),
    }
}

/// Whether a feature is present, as far as the filesystem tells without
/// loading anything.
fn present(need: KernelNeed) -> bool {
    let exists = |p: &str| Path::new(p).exists();
    match need {
        KernelNeed::Kprobes => exists("/sys/bus/event_source/devices/kprobe"),
        KernelNeed::Uprobes => exists("/sys/bus/event_source/devices/uprobe"),
        KernelNeed::KernelBtf => exists("/sys/kernel/btf/vmlinux"),
        KernelNeed::BpfLsm => {
            std::fs::read_to_string("/sys/kernel/security/lsm").is_ok_and(|l| bpf_lsm_in(&l))
        }
        KernelNeed::CgroupV2 => cgroup2_root().is_some(),
        KernelNeed::PerfEvents => exists("/proc/sys/kernel/perf_event_paranoid"),
        // Known only by trying; a failed attach explains itself.
        KernelNeed::Trampolines | KernelNeed::GlobalData => true,
    }
}

/// Whether the list of active LSMs (`/sys/kernel/security/lsm`) has the
/// BPF LSM.
fn bpf_lsm_in(lsms: &str) -> bool {
    lsms.split(',').any(|m| m.trim() == "bpf")
}

/// Why the kernel may refuse a program that attaches through a BPF
/// trampoline (fentry, fexit, lsm) with EPERM and no verifier log: what
/// the host shows of each cause, those it rules out left out. `target` is
/// the kernel function or LSM hook the program names.
pub fn trampoline_refusal(ty: ProgramType, target: &str) -> Vec<String> {
    trampoline_causes(ty, target, &|p| std::fs::read_to_string(p), &|p| {
        std::fs::File::open(p).map(drop)
    })
}

type Read<'a> = &'a dyn Fn(&str) -> std::io::Result<String>;
type Open<'a> = &'a dyn Fn(&str) -> std::io::Result<()>;

fn trampoline_causes(ty: ProgramType, target: &str, read: Read<'_>, open: Open<'_>) -> Vec<String> {
    let mut causes = Vec::new();
    match read("/sys/kernel/security/lockdown") {
        Ok(modes) => {
            if let Some(mode) = modes
                .split_whitespace()
                .find_map(|m| m.strip_prefix('[')?.strip_suffix(']'))
                .filter(|m| *m != "none")
            {
                causes.push(format!(
                    "the kernel is locked down ({mode}: /sys/kernel/security/lockdown), which can forbid attaching to kernel functions"
                ));
            }
        }
        Err(_) => causes.push(
            "whether the kernel is locked down is unknown (securityfs is not mounted: mount -t securityfs none /sys/kernel/security)".into(),
        ),
    }
    if ty == ProgramType::Lsm && read("/sys/kernel/security/lsm").is_ok_and(|l| !bpf_lsm_in(&l)) {
        causes.push(
            "the BPF LSM is not active (add `bpf` to the lsm= kernel command line; CONFIG_BPF_LSM=y)"
                .into(),
        );
    }
    // Trampolines patch the function's ftrace entry: a kernel whose
    // function tracer refuses access, or that cannot trace the function,
    // cannot attach to it.
    let functions = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .map(|d| format!("{d}/available_filter_functions"))
        .find(|p| std::path::Path::new(p).exists());
    if ty != ProgramType::Lsm
        && let Some(path) = functions
    {
        match open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => causes.push(format!(
                "the kernel's function tracer refuses access ({path}: {e}), and fentry and fexit attach through it"
            )),
            Ok(()) => {
                if let Ok(list) = read(&path)
                    && !target.is_empty()
                    && !list
                        .lines()
                        .any(|l| l.split_whitespace().next() == Some(target))
                {
                    causes.push(format!(
                        "`{target}` is not a function the kernel can trace (not in {path}: inlined or notrace)"
                    ));
                }
            }
            Err(_) => {}
        }
    }
    causes
}

/// The conventional cgroup v2 root, as packages and the kind table name it.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Where this host mounts cgroup v2: the first `cgroup2` mount in
/// `/proc/self/mountinfo` (`/sys/fs/cgroup` on a unified host,
/// `/sys/fs/cgroup/unified` on a hybrid one).
pub fn cgroup2_root() -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(cgroup2_mount).map(Into::into)
}

/// The mount point of a `mountinfo` line if it mounts cgroup2.
fn cgroup2_mount(line: &str) -> Option<String> {
    // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - FSTYPE ...
    let (before, after) = line.split_once(" - ")?;
    if after.split(' ').next()? != "cgroup2" {
        return None;
    }
    let point = before.split(' ').nth(4)?;
    Some(unescape_octal(point))
}

/// `mountinfo` writes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let code = bytes
            .get(i + 1..i + 4)
            .filter(|_| bytes[i] == b'\\')
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `path` is a directory of a cgroup v2 hierarchy.
fn is_cgroup2(path: &Path) -> bool {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a statfs buffer of the right size.
    let ok = unsafe { libc::statfs(c.as_ptr(), &mut fs) } == 0;
    ok && fs.f_type as i64 == CGROUP2_SUPER_MAGIC
}

/// The cgroup v2 directory a `--cgroup` value names on this host.
/// [`CGROUP_ROOT`] means the host's cgroup v2 root wherever it is mounted
/// (a hybrid host has cgroup v1 there); any other path must be a cgroup v2
/// directory.
pub fn cgroup_dir(value: &str) -> Result<std::path::PathBuf> {
    let path = Path::new(value);
    if is_cgroup2(path) {
        return Ok(path.into());
    }
    let root = cgroup2_root();
    if value.trim_end_matches('/') == CGROUP_ROOT
        && let Some(root) = &root
    {
        return Ok(root.clone());
    }
    Err(RuntimeError::usage(match root {
        Some(root) => format!(
            "--cgroup {value} is not a cgroup v2 directory; this host's cgroup v2 hierarchy is at {}: give a directory under it",
            root.display()
        ),
        None => format!(
            "--cgroup {value}: this host has no cgroup v2 hierarchy mounted; mount one (mount -t cgroup2 none /sys/fs/cgroup/unified) and give a directory under it"
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup2_mount_is_found_in_mountinfo() {
        let hybrid = "35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw";
        assert_eq!(
            cgroup2_mount(hybrid).as_deref(),
            Some("/sys/fs/cgroup/unified")
        );
        let v1 = "36 25 0:31 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu";
        assert_eq!(cgroup2_mount(v1), None);
        let spaced = "37 25 0:32 / /mnt/my\\040cgroups rw - cgroup2 none rw";
        assert_eq!(cgroup2_mount(spaced).as_deref(), Some("/mnt/my cgroups"));
        assert_eq!(cgroup2_mount("garbage"), None);
    }

    /// Issue 17: on a hybrid host `/sys/fs/cgroup` is cgroup v1 (a tmpfs of
    /// v1 controllers) and cgroup_skb failed with EINVAL. The root means the
    /// host's v2 root; a v1 directory is one clear line.
    #[test]
    fn the_cgroup_root_means_this_hosts_cgroup2_root() {
        let Some(root) = cgroup2_root() else {
            return; // no cgroup v2 here: nothing to resolve to
        };
        assert!(is_cgroup2(&root), "{}", root.display());
        assert_eq!(cgroup_dir(CGROUP_ROOT).unwrap(), root);
        assert_eq!(cgroup_dir(root.to_str().unwrap()).unwrap(), root);
        let e = cgroup_dir("/proc").unwrap_err().to_string();
        assert!(
            e.contains("is not a cgroup v2 directory") && e.contains(&root.display().to_string()),
            "{e}"
        );
    }

    #[test]
    fn versions_parse_from_releases() {
        assert_eq!(parse_version("6.18.44-fc-v445"), (6, 18));
        assert_eq!(parse_version("4.19.90-2102.2.0.0062.oe1.x86_64"), (4, 19));
        assert_eq!(parse_version("5.10.0"), (5, 10));
        assert_eq!(parse_version("garbage"), (0, 0));
    }

    /// An object with one program of `ty` and one map of `map_type`, as
    /// image metadata describes it.
    fn object(ty: &str, map_type: &str, features: &[&str]) -> ObjectInfo {
        serde_json::from_value(serde_json::json!({
            "endianness": "little",
            "license": "GPL",
            "programs": [{"name": "prog", "section": "x", "type": ty}],
            "maps": [{
                "name": "events", "type": map_type, "key_size": 0,
                "value_size": 0, "max_entries": 4096, "display": "events"
            }],
            "variables": [],
            "kernel": {
                "min_version": "5.8", "program_types": [ty],
                "map_types": [map_type], "features": features
            }
        }))
        .unwrap()
    }

    #[test]
    fn an_old_kernel_is_told_which_map_or_program_needs_more() {
        let old = Host::pretend("4.19.90-2102.2.0.0062.oe1.x86_64", &[]);
        let e = old
            .check("execsnoop", &object("tracepoint", "ringbuf", &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Linux 5.8 for ring buffer maps (`events`)")
                && e.contains("runs Linux 4.19.90"),
            "{e}"
        );
        let e = old
            .check("t", &object("fentry", "hash", &[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("for fentry programs (`prog`)"), "{e}");
        old.check("t", &object("xdp", "perf_event_array", &[]))
            .unwrap();
    }

    #[test]
    fn a_missing_feature_says_whether_the_kernel_is_too_old_or_lacks_it() {
        let new = Host::pretend("6.18.0", &[KernelNeed::Kprobes, KernelNeed::KernelBtf]);
        let e = new
            .check("k", &object("kprobe", "hash", &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("kprobes (CONFIG_KPROBES) for its kprobe program `prog`"),
            "{e}"
        );
        assert!(e.contains("built without CONFIG_KPROBES"), "{e}");
        let e = new
            .check("k", &object("tracepoint", "hash", &["kernel_btf"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not offer it (runs Linux 6.18.0)"), "{e}");
        let old = Host::pretend("5.1.0", &[]);
        let e = old
            .check("k", &object("xdp", "array", &["global_data"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("(it arrived in 5.2)"), "{e}");
        new.check("k", &object("tracepoint", "hash", &["global_data"]))
            .unwrap();
    }

    #[test]
    fn features_list_every_need_and_the_absent_ones_as_absent() {
        let host = Host::pretend("6.18.0", &[KernelNeed::BpfLsm]);
        let f = host.features();
        let names: Vec<&str> = f.iter().map(|f| f.need.name()).collect();
        assert_eq!(names.len(), KernelNeed::ALL.len());
        assert_eq!(names[0], "kernel_btf");
        for feature in &f {
            assert_eq!(
                feature.present,
                feature.need != KernelNeed::BpfLsm,
                "{feature:?}"
            );
        }
        // The names are the ones metadata and BPF_RUNTIME_ABSENT use.
        for need in KernelNeed::ALL {
            assert_eq!(serde_json::to_value(need).unwrap(), need.name());
        }
    }
}

#[cfg(test)]
mod trampoline_tests {
    use super::*;

    fn causes(ty: ProgramType, files: &[(&str, &str)], denied: bool) -> Vec<String> {
        let read = |p: &str| {
            files
                .iter()
                .find(|(f, _)| *f == p)
                .map(|(_, c)| c.to_string())
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
        };
        let open = |_: &str| {
            if denied {
                Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
            } else {
                Ok(())
            }
        };
        trampoline_causes(ty, "do_unlinkat", &read, &open)
    }

    #[test]
    fn an_eperm_names_the_causes_the_host_shows() {
        let locked = [(
            "/sys/kernel/security/lockdown",
            "none [integrity] confidentiality\n",
        )];
        let c = causes(ProgramType::Fentry, &locked, false);
        assert!(c[0].contains("locked down (integrity"), "{c:?}");
        let open = [(
            "/sys/kernel/security/lockdown",
            "[none] integrity confidentiality\n",
        )];
        assert!(causes(ProgramType::Fexit, &open, false).is_empty());
        let c = causes(ProgramType::Fentry, &[], false);
        assert!(c[0].contains("securityfs is not mounted"), "{c:?}");
        let no_bpf = [
            ("/sys/kernel/security/lockdown", "[none]\n"),
            ("/sys/kernel/security/lsm", "lockdown,capability,landlock"),
        ];
        let c = causes(ProgramType::Lsm, &no_bpf, false);
        assert!(c[0].contains("the BPF LSM is not active"), "{c:?}");
    }
}
