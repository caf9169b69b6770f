//! Running a package's own user-space program: the binary (verified with
//! its layer) and the bytecode are written to a private temporary directory
//! (`bpf-runtime-PID-*`, named by the runtime, never by the image), the
//! bytecode's path is passed in `BPF_RUNTIME_BYTECODE`, the arguments after
//! `--` are passed on, SIGINT/SIGTERM/SIGHUP are forwarded, and its exit
//! status becomes ours. The directory is removed afterwards.
//!
//! The child dies with the runtime, whatever kills it (a parent-death
//! signal, SIGKILL), so it never keeps programs attached on its own; the
//! run is recorded, so `list` shows it and `gc` removes what a killed run
//! left (its record and its directory).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ebpf_kinds::AttachArg;

use crate::error::{Result, RuntimeError};
use crate::package::OpenedPackage;
use crate::records::{self, StateDirs};

/// The prefix of a run's temporary directory, before its pid:
/// `bpf-runtime-PID-*`.
pub const DIR_PREFIX: &str = "bpf-runtime-";

/// The environment variable that holds the verified bytecode's path.
pub const BYTECODE_ENV: &str = "BPF_RUNTIME_BYTECODE";

/// The user space's arguments: the attach arguments the command line or
/// the package gives (`--iface lo`, as `bpf-runtime run` takes them), each
/// once and only where the user did not pass it after `--`, then `extra`.
/// The templates' programs take the same options.
pub fn arguments(
    pkg: &OpenedPackage,
    flags: &ebpf_object::attach::AttachFlags,
    extra: &[String],
) -> Result<Vec<String>> {
    let mut args = Vec::new();
    for p in &pkg.object.programs {
        let resolved = ebpf_object::attach::ProgramArgs::new(p, flags);
        for spec in p.ty.info().args {
            let option = format!("--{}", spec.arg.name());
            let passed = |a: &String| *a == option || a.starts_with(&format!("{option}="));
            if extra.iter().any(passed) || args.iter().any(passed) {
                continue;
            }
            if let Some(value) = resolved.given(spec.arg)? {
                args.push(option);
                args.push(match spec.arg {
                    // As the host has it (see `kernel::cgroup_dir`).
                    AttachArg::Cgroup => crate::kernel::cgroup_dir(&value)?
                        .to_string_lossy()
                        .into_owned(),
                    _ => value,
                });
            }
        }
    }
    args.extend(extra.iter().cloned());
    Ok(args)
}

/// Runs the package's user space; returns the exit code to exit with
/// (128 + signal when it was killed by one).
pub fn run(pkg: &OpenedPackage, args: &[String], duration: Option<Duration>) -> Result<i32> {
    let (name, binary) = pkg
        .userspace
        .as_ref()
        .expect("called for packages with user space");
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
        .tempdir()
        .map_err(RuntimeError::io(
            "create a temporary directory in",
            std::env::temp_dir(),
        ))?;
    let exe = dir.path().join(name);
    std::fs::write(&exe, binary).map_err(RuntimeError::io("write", &exe))?;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o700))
        .map_err(RuntimeError::io("set permissions of", &exe))?;
    let obj = dir.path().join(&pkg.bytecode_name);
    std::fs::write(&obj, &pkg.bytecode).map_err(RuntimeError::io("write", &obj))?;

    // Signals that arrive while the child runs are recorded and passed on.
    let last = Arc::new(AtomicUsize::new(0));
    let mut ids = Vec::new();
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let last = last.clone();
        // SAFETY: the handler only stores into an atomic.
        let id = unsafe {
            signal_hook::low_level::register(sig, move || {
                last.store(sig as usize, Ordering::SeqCst)
            })
        }
        .map_err(|e| RuntimeError::kernel("install signal handlers", e))?;
        ids.push(id);
    }
    let runtime = std::process::id();
    let mut command = Command::new(&exe);
    command.arg0(name).args(args).env(BYTECODE_ENV, &obj);
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes async-signal-safe calls (prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            // Killed when the runtime dies, even by SIGKILL.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The runtime died before the signal was armed.
            if libc::getppid() as u32 != runtime {
                libc::_exit(137);
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| RuntimeError::kernel(format!("start {name}"), e))?;
    // Without a record `list` cannot show this run; it still runs.
    let record = records::record_userspace_run(&StateDirs::from_env(), pkg, child.id())
        .map_err(|e| eprintln!("warning: this run is not recorded for `list` and `gc`: {e}"))
        .ok();
    let started = std::time::Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| RuntimeError::kernel(format!("wait for {name}"), e))?
        {
            break status;
        }
        let sig = last.swap(0, Ordering::SeqCst);
        if sig != 0 {
            // SAFETY: sending a signal to our own child.
            unsafe { libc::kill(child.id() as i32, sig as i32) };
        }
        if !timed_out && duration.is_some_and(|d| started.elapsed() >= d) {
            timed_out = true;
            // SAFETY: as above.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for id in ids {
        signal_hook::low_level::unregister(id);
    }
    drop(record);
    drop(dir);
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    })
}
