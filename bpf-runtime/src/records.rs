//! What outlives one `bpf-runtime` process, and how it is found again.
//!
//! `load` pins the links that attach each program, and the package's maps,
//! under `<bpffs>/<name>/` (default `/sys/fs/bpf/bpf-runtime/<name>/`) and
//! writes a record `<state>/<name>.json` (default `/run/bpf-runtime/`).
//! `run` writes a record `<state>/run-<pid>.json` while it runs. `list`
//! reads the records; `unload` removes pins (the kernel then detaches and
//! frees everything) or stops a run; `gc` removes what a killed process
//! left: records of dead runs, half-made pin directories, orphaned pins, and
//! the tc filters a kernel without tcx keeps after its owner dies.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use ebpf_kinds::{AttachPoint, Direction};
use serde::{Deserialize, Serialize};

use crate::attach::{Attached, Loaded};
use crate::error::{Result, RuntimeError};
use crate::package::OpenedPackage;

/// bpffs's magic number (`statfs.f_type`).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// The prefix of the bpffs directory a `load` pins into before it is
/// complete and renamed to its name.
const STAGING: &str = "_loading-";

/// Set to `after-pin` by tests: `load` aborts once its pins exist and
/// before its record does, as a SIGKILL at the worst moment would.
const CRASH_ENV: &str = "BPF_RUNTIME_TEST_CRASH";

/// Where records and pins live; `BPF_RUNTIME_BPFFS` and
/// `BPF_RUNTIME_STATE` move them (a second runtime, tests).
#[derive(Debug, Clone)]
pub struct StateDirs {
    pub bpffs: PathBuf,
    pub state: PathBuf,
}

impl StateDirs {
    pub fn from_env() -> StateDirs {
        let var = |name, default: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(default))
        };
        StateDirs {
            bpffs: var("BPF_RUNTIME_BPFFS", "/sys/fs/bpf/bpf-runtime"),
            state: var("BPF_RUNTIME_STATE", "/run/bpf-runtime"),
        }
    }

    fn record_path(&self, file: &str) -> PathBuf {
        self.state.join(format!("{file}.json"))
    }

    /// Holds the runtime's lock (load, unload and gc take turns).
    fn lock(&self) -> Result<File> {
        std::fs::create_dir_all(&self.state)
            .map_err(RuntimeError::io("create directory", &self.state))?;
        let path = self.state.join(".lock");
        let f = File::create(&path).map_err(RuntimeError::io("open", &path))?;
        // SAFETY: flock on a descriptor we own; released when it closes.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) } != 0 {
            return Err(RuntimeError::io("lock", &path)(
                std::io::Error::last_os_error(),
            ));
        }
        Ok(f)
    }
}

/// What holds the programs of a record in the kernel.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "held_by", rename_all = "snake_case")]
pub enum Held {
    /// Pins under this bpffs directory (`load`).
    Pins { dir: PathBuf },
    /// The descriptors of a running `bpf-runtime run`.
    Process {
        pid: u32,
        /// The process's start time (clock ticks after boot), so a reused
        /// pid is not mistaken for it.
        start: u64,
    },
}

/// One package the runtime has loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The handle for `unload`.
    pub name: String,
    pub package: String,
    pub version: String,
    /// How it was named when loaded.
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// What the trust policy made of it when it was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<ebpf_oci::sign::Trust>,
    /// RFC 3339, UTC.
    pub since: String,
    #[serde(flatten)]
    pub held: Held,
    pub programs: Vec<Attached>,
    /// The package's maps (pinned under `DIR/maps/` for `load`).
    pub maps: Vec<String>,
    /// The pid of the package's user-space program, for a `run` of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userspace: Option<u32>,
}

impl Record {
    /// A record of `pkg` held by `held`, with no programs yet.
    fn new(name: String, pkg: &OpenedPackage, held: Held) -> Record {
        Record {
            name,
            package: pkg.name.clone(),
            version: pkg.version.clone(),
            reference: pkg.reference.clone(),
            digest: pkg.digest.clone(),
            trust: pkg.trust.clone(),
            since: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            held,
            programs: Vec::new(),
            maps: Vec::new(),
            userspace: None,
        }
    }

    /// The record of a `run` by this process: `NAME-PID`.
    fn of_this_run(pkg: &OpenedPackage) -> Record {
        let pid = std::process::id();
        let start = process_start(pid).unwrap_or_default();
        Record::new(
            format!("{}-{pid}", pkg.name),
            pkg,
            Held::Process { pid, start },
        )
    }

    /// With the programs and maps of `loaded`.
    fn holding(self, pkg: &OpenedPackage, loaded: &Loaded) -> Record {
        Record {
            programs: loaded.attached.clone(),
            maps: pinnable_maps(pkg, loaded),
            ..self
        }
    }

    /// Whether what holds the programs is still there.
    pub fn alive(&self) -> bool {
        match &self.held {
            Held::Pins { dir } => dir.is_dir(),
            Held::Process { pid, start } => process_start(*pid) == Some(*start),
        }
    }

    fn file(&self) -> String {
        match self.held {
            Held::Pins { .. } => self.name.clone(),
            Held::Process { pid, .. } => format!("run-{pid}"),
        }
    }
}

/// The maps of the package that were created (internal `.rodata`-style maps
/// are left out).
fn pinnable_maps(pkg: &OpenedPackage, loaded: &Loaded) -> Vec<String> {
    pkg.object
        .maps
        .iter()
        .filter(|m| loaded.map(&m.name).is_some())
        .map(|m| m.name.clone())
        .collect()
}

/// When process `pid` started, in clock ticks after boot (field 22 of
/// `/proc/PID/stat`); `None` when there is no such process.
fn process_start(pid: u32) -> Option<u64> {
    start_time(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Field 22 of a `/proc/PID/stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The record of a running `run`, removed when dropped.
pub struct RunRecord {
    path: PathBuf,
}

impl Drop for RunRecord {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Records a `run` of a package's user space (pid `child`): its programs
/// are the child's own, unknown here; they go with it.
pub fn record_userspace_run(
    dirs: &StateDirs,
    pkg: &OpenedPackage,
    child: u32,
) -> Result<RunRecord> {
    let record = Record {
        userspace: Some(child),
        ..Record::of_this_run(pkg)
    };
    let path = write_record(dirs, &record)?;
    Ok(RunRecord { path })
}

/// Records a `run` for `list`, `unload` and `gc`.
pub fn record_run(dirs: &StateDirs, pkg: &OpenedPackage, loaded: &Loaded) -> Result<RunRecord> {
    let record = Record::of_this_run(pkg).holding(pkg, loaded);
    let path = write_record(dirs, &record)?;
    Ok(RunRecord { path })
}

fn write_record(dirs: &StateDirs, record: &Record) -> Result<PathBuf> {
    let path = dirs.record_path(&record.file());
    let text = serde_json::to_vec_pretty(record).expect("a record serializes");
    ebpf_oci::fs::write_atomic(&path, &text, 0o644, false).map_err(|e| RuntimeError::Io {
        action: e.action,
        path: e.path,
        source: e.source,
    })?;
    Ok(path)
}

/// Every readable record, sorted by name. A damaged one (a crash while
/// writing, an edit by hand) is left out with a warning, so it blocks
/// neither `list` nor `unload`; `gc` removes it.
pub fn list(dirs: &StateDirs) -> Result<Vec<Record>> {
    let (records, damaged) = read_all(dirs)?;
    for (path, why) in &damaged {
        eprintln!(
            "warning: {} is not a bpf-runtime record ({why}); `bpf-runtime gc` removes it",
            path.display()
        );
    }
    Ok(records)
}

/// Files under the state directory that are not records, with why.
type Damaged = Vec<(PathBuf, String)>;

/// The records, and the files that are not records.
fn read_all(dirs: &StateDirs) -> Result<(Vec<Record>, Damaged)> {
    let dir = match std::fs::read_dir(&dirs.state) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(RuntimeError::io("read", &dirs.state)(e)),
    };
    let mut records = Vec::new();
    let mut damaged = Vec::new();
    for entry in dir.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json")
            || entry.file_name().as_bytes().starts_with(b".")
        {
            continue;
        }
        let text = std::fs::read(&path).map_err(RuntimeError::io("read", &path))?;
        match serde_json::from_slice::<Record>(&text) {
            Ok(record) => records.push(record),
            Err(e) => damaged.push((path, e.to_string())),
        }
    }
    records.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((records, damaged))
}

fn check_name(name: &str) -> Result<()> {
    // bpffs refuses dots in names; `_` and `run-` starts are the runtime's.
    let ok = !name.is_empty()
        && !name.starts_with('_')
        && !name.starts_with("run-")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::usage(format!(
            "invalid name `{name}`: use letters, digits, `-` and `_`, not starting with `_` or `run-`"
        )))
    }
}

/// Whether `dir` (or its nearest existing ancestor) is on bpffs.
fn on_bpffs(dir: &Path) -> bool {
    let mut p = Some(dir);
    while let Some(d) = p {
        if d.exists() {
            let Ok(c) = std::ffi::CString::new(d.as_os_str().as_bytes()) else {
                return false;
            };
            // SAFETY: statfs fills a zeroed struct for a valid path.
            let mut st: libc::statfs = unsafe { std::mem::zeroed() };
            return unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0
                && st.f_type as i64 == BPF_FS_MAGIC;
        }
        p = d.parent();
    }
    false
}

/// Checks that `load` can pin under `name`: a valid name, not taken, on
/// bpffs. `load` asks before loading anything, and [`pin`] again under
/// the lock.
pub fn check_free(dirs: &StateDirs, name: &str) -> Result<()> {
    check_name(name)?;
    if dirs.record_path(name).exists() || dirs.bpffs.join(name).exists() {
        return Err(RuntimeError::usage(format!(
            "`{name}` is already loaded; `bpf-runtime unload {name}` first, or choose another --name"
        )));
    }
    if !on_bpffs(&dirs.bpffs) {
        return Err(RuntimeError::usage(format!(
            "{} is not on a BPF filesystem; mount one (`mount -t bpf bpf /sys/fs/bpf`) or set BPF_RUNTIME_BPFFS",
            dirs.bpffs.display()
        )));
    }
    Ok(())
}

/// Pins `loaded` under `<bpffs>/<name>/` and records it, so it stays after
/// this process exits. On failure nothing is pinned or recorded (and the
/// caller's `loaded` unloads everything when dropped).
pub fn pin(dirs: &StateDirs, name: &str, pkg: &OpenedPackage, loaded: &Loaded) -> Result<Record> {
    let _lock = dirs.lock()?;
    check_free(dirs, name)?;
    let dir = dirs.bpffs.join(name);
    for a in &loaded.attached {
        if a.links.is_empty() {
            return Err(RuntimeError::usage(format!(
                "program `{}` ({}) is attached without a bpf_link on this kernel, so it cannot outlive bpf-runtime; use `bpf-runtime run` for it",
                a.program,
                a.ty.name()
            )));
        }
    }
    let staging = dirs
        .bpffs
        .join(format!("{STAGING}{name}-{}", std::process::id()));
    let made = pin_into(&staging, pkg, loaded);
    let record =
        Record::new(name.to_string(), pkg, Held::Pins { dir: dir.clone() }).holding(pkg, loaded);
    let done = made.and_then(|()| {
        if std::env::var(CRASH_ENV).as_deref() == Ok("after-pin") {
            std::process::abort();
        }
        write_record(dirs, &record)?;
        std::fs::rename(&staging, &dir).map_err(|e| {
            let _ = std::fs::remove_file(dirs.record_path(name));
            RuntimeError::io("move pins to", &dir)(e)
        })
    });
    if let Err(e) = done {
        let _ = remove_pins(&staging);
        return Err(e);
    }
    Ok(record)
}

fn pin_into(staging: &Path, pkg: &OpenedPackage, loaded: &Loaded) -> Result<()> {
    for sub in ["links", "maps"] {
        let d = staging.join(sub);
        std::fs::create_dir_all(&d).map_err(RuntimeError::io("create directory", &d))?;
    }
    for a in &loaded.attached {
        for (i, link) in a.links.iter().enumerate() {
            let file = if i == 0 {
                a.program.clone()
            } else {
                format!("{}_{i}", a.program)
            };
            let path = staging.join("links").join(file);
            let fd = crate::maps::link_fd(*link).map_err(|e| {
                RuntimeError::kernel(format!("open link {link} of `{}`", a.program), e)
            })?;
            crate::maps::pin_fd(fd.as_fd(), &path).map_err(RuntimeError::io("pin", &path))?;
        }
    }
    for m in pinnable_maps(pkg, loaded) {
        let map = loaded.map(&m).expect("listed because it exists");
        let path = staging.join("maps").join(&m);
        crate::maps::pin_fd(crate::maps::map_data(map).fd().as_fd(), &path)
            .map_err(RuntimeError::io("pin", &path))?;
    }
    Ok(())
}

/// Removes a pin directory: unlinking the last pin of an object lets the
/// kernel detach and free it.
fn remove_pins(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Whether the kernel still has program `id`.
fn program_exists(id: u32) -> bool {
    aya::programs::loaded_programs()
        .flatten()
        .any(|p| p.id() == id)
}

/// Waits (up to `limit`) until none of `record`'s programs is loaded; the
/// kernel frees them shortly after their last reference goes.
fn wait_gone(record: &Record, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !record
            .programs
            .iter()
            .filter_map(|a| a.id)
            .any(program_exists)
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Unloads what `what` names (a record's name, or one of its program ids):
/// removes its pins, or stops the `run` that holds it. Returns its record.
pub fn unload(dirs: &StateDirs, what: &str) -> Result<Record> {
    let records = list(dirs)?;
    let id: Option<u32> = what.parse().ok();
    let record = records
        .iter()
        .find(|r| r.name == what)
        .or_else(|| {
            id.and_then(|id| {
                records
                    .iter()
                    .find(|r| r.programs.iter().any(|a| a.id == Some(id)))
            })
        })
        .cloned()
        .ok_or_else(|| {
            let names: Vec<&str> = records.iter().map(|r| r.name.as_str()).collect();
            RuntimeError::usage(if names.is_empty() {
                format!("nothing named `{what}` is loaded: bpf-runtime has nothing loaded")
            } else {
                format!(
                    "nothing named `{what}` is loaded (loaded: {}); see `bpf-runtime list`",
                    names.join(", ")
                )
            })
        })?;
    match &record.held {
        Held::Pins { dir } => {
            let _lock = dirs.lock()?;
            remove_pins(dir).map_err(RuntimeError::io("remove pins under", dir))?;
            let path = dirs.record_path(&record.file());
            std::fs::remove_file(&path).map_err(RuntimeError::io("remove", &path))?;
        }
        Held::Process { pid, .. } => {
            if record.alive() {
                // SAFETY: a signal to a process we checked is our runtime.
                unsafe { libc::kill(*pid as i32, libc::SIGTERM) };
                let deadline = Instant::now() + Duration::from_secs(10);
                while record.alive() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if record.alive() {
                    return Err(RuntimeError::kernel(
                        format!("stop `{}` (pid {pid})", record.name),
                        "it is still running 10 s after SIGTERM",
                    ));
                }
            }
            let _ = std::fs::remove_file(dirs.record_path(&record.file()));
        }
    }
    if !wait_gone(&record, Duration::from_secs(2)) {
        return Err(RuntimeError::kernel(
            format!("unload `{}`", record.name),
            "its programs are still loaded 2 s after their last pin went: something else holds them (see `bpftool prog show`)",
        ));
    }
    Ok(record)
}

/// Removes what crashed or killed processes left; returns one line per
/// thing removed.
pub fn gc(dirs: &StateDirs) -> Result<Vec<String>> {
    let _lock = dirs.lock()?;
    let mut done = Vec::new();
    let (records, damaged) = read_all(dirs)?;
    for (path, _) in damaged {
        std::fs::remove_file(&path).map_err(RuntimeError::io("remove", &path))?;
        done.push(format!(
            "removed {}, which was not a record",
            path.display()
        ));
    }
    for r in &records {
        if r.alive() {
            continue;
        }
        match &r.held {
            Held::Process { pid, .. } => {
                for a in r.programs.iter().filter(|a| a.links.is_empty()) {
                    done.extend(detach_orphan(a, *pid));
                }
                done.push(format!(
                    "removed the record of `{}` (pid {pid} is gone; its programs went with it)",
                    r.name
                ));
            }
            Held::Pins { dir } => done.push(format!(
                "removed the record of `{}` ({} no longer exists)",
                r.name,
                dir.display()
            )),
        }
        let path = dirs.record_path(&r.file());
        std::fs::remove_file(&path).map_err(RuntimeError::io("remove", &path))?;
    }
    done.extend(remove_stale_run_dirs(&std::env::temp_dir()));
    let entries = match std::fs::read_dir(&dirs.bpffs) {
        Ok(d) => d.flatten().collect(),
        Err(_) => Vec::new(),
    };
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let orphan = match name.strip_prefix(STAGING) {
            // `_loading-NAME-PID`: a `load` that never finished.
            Some(rest) => rest
                .rsplit_once('-')
                .and_then(|(_, pid)| pid.parse::<u32>().ok())
                .is_none_or(|pid| process_start(pid).is_none()),
            None => !records
                .iter()
                .any(|r| r.held == Held::Pins { dir: path.clone() }),
        };
        if orphan {
            remove_pins(&path).map_err(RuntimeError::io("remove pins under", &path))?;
            done.push(format!("removed left-over pins {}", path.display()));
        }
    }
    Ok(done)
}

/// Removes the temporary directories (`bpf-runtime-PID-*` in `tmp`) of
/// user-space runs whose runtime is gone; returns what was removed.
fn remove_stale_run_dirs(tmp: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return Vec::new();
    };
    let mut done = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = ebpf_oci::fs::owner_pid(&name, crate::userspace::DIR_PREFIX) else {
            continue;
        };
        // Only real directories (not links) that this user owns.
        let owned = entry.metadata().is_ok_and(|m| {
            use std::os::unix::fs::MetadataExt;
            m.is_dir() && m.uid() == unsafe { libc::geteuid() }
        });
        if owned && process_start(pid).is_none() && std::fs::remove_dir_all(entry.path()).is_ok() {
            done.push(format!(
                "removed {} (its run, pid {pid}, is gone)",
                entry.path().display()
            ));
        }
    }
    done
}

/// Detaches what a dead `run` attached without a link (which the kernel
/// keeps after its owner dies): tc filters of kernels without tcx. Returns
/// what was done, or what the user should do.
fn detach_orphan(a: &Attached, pid: u32) -> Option<String> {
    match &a.point {
        AttachPoint::Tc { iface, direction } => {
            let ty = match direction {
                Direction::Ingress => aya::programs::TcAttachType::Ingress,
                Direction::Egress => aya::programs::TcAttachType::Egress,
            };
            Some(
                match aya::programs::tc::qdisc_detach_program(iface, ty, &a.program) {
                    Ok(()) => format!(
                        "detached tc program `{}` from {iface} {direction}",
                        a.program
                    ),
                    Err(e) => format!(
                        "could not detach tc program `{}` from {iface} {direction} ({e}); try `tc filter del dev {iface} {direction}`",
                        a.program
                    ),
                },
            )
        }
        AttachPoint::Xdp { iface } => Some(format!(
            "xdp program `{}` of pid {pid} may still be attached to {iface} (this kernel has no XDP links); detach it with `ip link set dev {iface} xdp off`",
            a.program
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebpf_kinds::{AttachPoint, ProgramType};

    fn record(name: &str, held: Held) -> Record {
        Record {
            name: name.into(),
            package: "xdpcount".into(),
            version: "0.1.0".into(),
            reference: "xdpcount:0.1.0".into(),
            digest: Some(format!("sha256:{}", "ab".repeat(32))),
            trust: None,
            since: "2026-12-02T16:00:00Z".into(),
            held,
            programs: vec![Attached {
                program: "count".into(),
                ty: ProgramType::Xdp,
                point: "xdp lo".parse::<AttachPoint>().unwrap(),
                id: Some(42),
                links: vec![7],
            }],
            maps: vec!["counts".into()],
            userspace: None,
        }
    }

    fn dirs(root: &Path) -> StateDirs {
        StateDirs {
            bpffs: root.join("bpffs"),
            state: root.join("state"),
        }
    }

    #[test]
    fn records_are_written_and_listed_back_sorted() {
        let root = tempfile::tempdir().unwrap();
        let dirs = dirs(root.path());
        let pins = Held::Pins {
            dir: dirs.bpffs.join("b"),
        };
        let run = Held::Process {
            pid: 4321,
            start: 99,
        };
        write_record(&dirs, &record("b", pins.clone())).unwrap();
        write_record(&dirs, &record("a-4321", run.clone())).unwrap();
        // Neither the lock nor anything not ending in .json is a record.
        std::fs::write(dirs.state.join(".lock"), "").unwrap();
        std::fs::write(dirs.state.join("notes.txt"), "x").unwrap();

        assert!(dirs.state.join("b.json").is_file());
        assert!(
            dirs.state.join("run-4321.json").is_file(),
            "a run's file is its pid"
        );
        let listed = list(&dirs).unwrap();
        let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a-4321", "b"]);
        assert_eq!(listed[0].held, run);
        assert_eq!(listed[1].held, pins);
        assert_eq!(listed[1].programs[0].point.to_string(), "xdp lo");
        assert_eq!(listed[1].programs[0].links, [7]);
    }

    #[test]
    fn the_record_format_is_flat_json_with_the_holder_tagged() {
        let r = record(
            "b",
            Held::Pins {
                dir: "/sys/fs/bpf/bpf-runtime/b".into(),
            },
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["held_by"], "pins");
        assert_eq!(v["dir"], "/sys/fs/bpf/bpf-runtime/b");
        assert_eq!(v["programs"][0]["type"], "xdp");
        assert_eq!(v["programs"][0]["point"], "xdp lo");
        let back: Record = serde_json::from_value(v).unwrap();
        assert_eq!(back.held, r.held);
    }

    /// Issue 17: a damaged record blocked `list`, `gc` and `unload`.
    #[test]
    fn a_damaged_record_blocks_nothing_and_gc_removes_it() {
        let root = tempfile::tempdir().unwrap();
        let dirs = dirs(root.path());
        write_record(
            &dirs,
            &record(
                "good",
                Held::Pins {
                    dir: dirs.bpffs.join("good"),
                },
            ),
        )
        .unwrap();
        std::fs::write(dirs.state.join("x.json"), "{\"name\": 1}").unwrap();
        let listed = list(&dirs).unwrap();
        assert_eq!(listed.len(), 1, "the good record is still listed");
        let (_, damaged) = read_all(&dirs).unwrap();
        assert_eq!(damaged.len(), 1);
        let done = gc(&dirs).unwrap();
        assert!(
            done.iter()
                .any(|d| d.contains("x.json, which was not a record")),
            "{done:?}"
        );
        assert!(!dirs.state.join("x.json").exists());
        // No state directory yet: nothing loaded, not an error.
        assert!(
            list(&self::dirs(&root.path().join("none")))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn names_are_what_bpffs_and_the_runtime_allow() {
        for good in ["xdpcount", "a-b_c", "X1"] {
            check_name(good).unwrap();
        }
        for bad in ["", "_x", "run-1", "a.b", "a/b", "../x", "a b", "é"] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid name `{bad}`")), "{e}");
        }
    }

    #[test]
    fn a_process_is_known_by_its_start_time() {
        let stat = "1234 (a (weird) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 5555 1000 10";
        assert_eq!(start_time(stat), Some(5555));
        assert_eq!(start_time("1234 (short) S 1"), None);
        assert_eq!(start_time("garbage"), None);
        let me = std::process::id();
        let start = process_start(me).expect("this process has a stat");
        let alive = record("me", Held::Process { pid: me, start });
        assert!(alive.alive());
        let reused = record(
            "me",
            Held::Process {
                pid: me,
                start: start + 1,
            },
        );
        assert!(!reused.alive(), "a reused pid is another process");
    }
}
