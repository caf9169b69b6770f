//! Every template run against the real kernel (as root): it attaches,
//! sees the effect it exists for, and leaves nothing loaded.

use crate::support::*;

#[test]
fn c_templates_run_in_the_kernel_and_leave_nothing() {
    if privileged("c_templates_run_in_the_kernel_and_leave_nothing") {
        templates_run_in_the_kernel_and_leave_nothing("c");
    }
}

#[test]
fn rust_templates_run_in_the_kernel_and_leave_nothing() {
    if privileged("rust_templates_run_in_the_kernel_and_leave_nothing") {
        templates_run_in_the_kernel_and_leave_nothing("rust");
    }
}

#[test]
fn go_templates_run_in_the_kernel_and_leave_nothing() {
    if privileged("go_templates_run_in_the_kernel_and_leave_nothing") {
        templates_run_in_the_kernel_and_leave_nothing("go");
    }
}

/// Templates of one language attached to the real kernel: each observes
/// what it is for. The generated programs of every language print the same
/// lines, so one set of checks serves them all. Runs one program at a time:
/// only one test per language binary does this.
fn templates_run_in_the_kernel_and_leave_nothing(lang: &str) {
    let _guard = kernel_lock();
    let c_project = |ty: &str| project(lang, ty);
    // Packets counted per protocol, at XDP, tc (both directions) and a socket filter.
    for (ty, extra) in [
        ("xdp", vec![]),
        ("tc", vec!["--direction", "egress"]),
        ("tc", vec![]),
        ("socket_filter", vec![]),
    ] {
        let dir = c_project(ty);
        let mut args = vec!["--iface", "lo"];
        args.extend(extra);
        let (code, out, err) = run_for(&dir, &args, 2, || udp_to_loopback(25));
        assert_eq!(code, 0, "{ty}: {err}");
        let udp = max_after(out.lines().filter(|l| l.contains(" UDP ")), "packets");
        assert!(udp >= 25, "{ty}: expected >= 25 UDP packets:\n{out}\n{err}");
    }

    // An exec seen through the ring buffer, with its file name.
    let dir = c_project("tracepoint");
    let (code, out, err) = run_for(&dir, &[], 2, || {
        Command::new("/bin/true").status().unwrap();
    });
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.ends_with("/bin/true") || l.ends_with("/usr/bin/true")),
        "{out}"
    );

    // Syscalls of one process only (--pid sets a .rodata constant).
    let dir = c_project("raw_tracepoint");
    let mut sleeper = Command::new("sleep").arg("5").spawn().unwrap();
    let pid = sleeper.id().to_string();
    let (code, out, err) = run_for(&dir, &["--pid", &pid], 2, || {});
    sleeper.kill().ok();
    sleeper.wait().ok();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("system calls; top"), "{out}");
    let (_, all, _) = run_for(&dir, &[], 2, || {});
    let total = |s: &str| {
        s.lines()
            .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0)
    };
    assert!(
        total(&all) > total(&out),
        "filtered {} >= unfiltered {}",
        total(&out),
        total(&all)
    );

    // A function in a user binary, counted per process and returned values seen.
    let target = uprobe_target();
    let tgt = target.to_str().unwrap();
    // Probes `tick` in the test binary while it calls it `ticks` times.
    let probe_ticker = |ty: &str, ticks: &str| {
        let (code, out, err) = run_for(
            &c_project(ty),
            &["--binary", tgt, "--symbol", "tick"],
            3,
            || {
                let status = Command::new(&target)
                    .arg(ticks)
                    .stdout(Stdio::null())
                    .status();
                assert!(status.unwrap().success());
            },
        );
        assert_eq!(code, 0, "{ty}: {err}");
        out
    };
    let out = probe_ticker("uprobe", "10");
    let calls = out
        .lines()
        .filter(|l| l.contains("ticker"))
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    assert_eq!(calls, 10, "{out}");
    let out = probe_ticker("uretprobe", "4");
    let rets: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("ticker"))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(rets, ["0", "2", "4", "6"], "{out}");

    // cgroup traffic: this test's own UDP packets leave through its cgroup.
    let cg = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let v2 = cg
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("/")
        .to_string();
    let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|r| {
            Path::new(r).join("cgroup.procs").exists()
                && std::fs::read_to_string(Path::new(r).join("cgroup.controllers")).is_ok()
        })
        .expect("a cgroup v2 mount");
    let cgroup = format!("{root}{}", v2.trim_end_matches('/'));
    let dir = c_project("cgroup_skb");
    let (code, out, err) = run_for(&dir, &["--cgroup", &cgroup], 2, || udp_to_loopback(20));
    assert_eq!(code, 0, "{err}");
    let egress = max_after(out.lines(), "egress packets");
    assert!(egress >= 20, "cgroup {cgroup}:\n{out}\n{err}");

    // The profiler samples a busy process.
    let dir = c_project("perf_event");
    let mut busy = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let (code, out, err) = run_for(&dir, &["--frequency", "199"], 2, || {});
    busy.kill().ok();
    busy.wait().ok();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains(" sh ") && l.contains("user")),
        "{out}"
    );

    // This kernel has no kprobes and refuses trampolines: one clear line
    // each (the qemu test, vm.rs, runs them on a kernel that has both).
    let refused = "the kernel refuses this program type";
    for (ty, args, why) in [
        (
            "kprobe",
            vec!["--symbol", "do_unlinkat"],
            "kprobes need CONFIG_KPROBES",
        ),
        (
            "kretprobe",
            vec!["--symbol", "do_unlinkat"],
            "kprobes need CONFIG_KPROBES",
        ),
        ("fentry", vec![], refused),
        ("fexit", vec![], refused),
        ("lsm", vec![], refused),
    ] {
        if lang == "rust" && ty == "lsm" {
            continue; // no Rust lsm template (see templates/rust/unsupported.toml)
        }
        let dir = c_project(ty);
        let (code, out, err) = run_for(&dir, &args, 1, || {});
        if code == 0 {
            eprintln!("{ty} attached on this kernel: {out}");
            continue;
        }
        assert_eq!(code, 1, "{ty}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{ty}: one line expected:\n{err}");
        assert!(
            lines[0].starts_with("error: failed to ") && lines[0].contains(why),
            "{ty}: {err}"
        );
    }

    // Nothing of ours stays loaded.
    let names = [
        "count_packets",
        "handle_exec",
        "count_syscalls",
        "count_calls",
        "count_returns",
        "on_return",
        "on_unlink",
        "on_unlink_exit",
        "count_ingress",
        "count_egress",
        "on_sample",
        "restrict_mkdir",
    ];
    // The kernel frees programs shortly after their last descriptor closes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut left = loaded_programs(&names);
    while !left.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left = loaded_programs(&names);
    }
    assert!(left.is_empty(), "programs left loaded: {left:?}");
    let qdisc = Command::new("tc")
        .args(["qdisc", "show", "dev", "lo"])
        .output()
        .unwrap();
    assert!(!text(&qdisc.stdout).contains("clsact"), "clsact left on lo");
}
