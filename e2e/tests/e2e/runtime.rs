//! bpf-runtime against the real kernel: packages made by `cargo ebpf
//! package` are loaded, attached and shown, their effects checked, and
//! afterwards nothing of them is left (bpftool).

use std::process::Child;

use crate::support::*;

/// Where these tests' runtimes keep records and pins: their own places,
/// not the host's `/run/bpf-runtime` and `/sys/fs/bpf/bpf-runtime`.
fn places() -> [(&'static str, PathBuf); 2] {
    [
        ("BPF_RUNTIME_STATE", workdir().join("runtime-state")),
        (
            "BPF_RUNTIME_BPFFS",
            PathBuf::from(format!(
                "/sys/fs/bpf/cargo-ebpf-tests-{}",
                std::process::id()
            )),
        ),
    ]
}

pub(super) fn runtime_command() -> Command {
    let mut c = Command::new(runtime_bin());
    c.envs(places());
    c
}

pub(super) fn runtime(args: &[&str], envs: &[(&str, &str)]) -> Output {
    runtime_command()
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .unwrap()
}

/// A template built and packaged into the runtime tests' store; returns its
/// tag and the store.
/// The C fixture `e2e/fixtures/NAME/FILE` in a project of its own, made by
/// `cargo ebpf init` and packaged: (project, tag, store).
fn packaged_fixture(name: &str, file: &str) -> (PathBuf, String, PathBuf) {
    let dir = workdir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .join(file);
    std::fs::copy(&fixture, dir.join(file)).unwrap();
    ok(&cargo_ebpf(&dir, &["init", "--lang", "c"]));
    let store = workdir().join("stores").join(name);
    let s = store.to_str().unwrap();
    let tag = json(&ok(&cargo_ebpf(
        &dir,
        &["package", "--json", "--force", "--store", s],
    )))["tag"]
        .as_str()
        .unwrap()
        .to_string();
    (dir, tag, store)
}

pub(super) fn packaged(ty: &str) -> (String, PathBuf) {
    let dir = c_project(ty);
    let store = workdir().join("stores/runtime");
    let s = store.to_str().unwrap();
    let out = cargo_ebpf(
        &dir,
        &["package", "--no-build", "--force", "--json", "--store", s],
    );
    let r = json(&ok(&out));
    (r["tag"].as_str().unwrap().to_string(), store)
}

/// A running `bpf-runtime`, its stderr and stdout read by threads (stdout
/// as it comes, so a test can wait for what it shows).
pub(super) struct Running {
    child: Child,
    stderr: std::thread::JoinHandle<String>,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    stdout_reader: std::thread::JoinHandle<()>,
}

impl Running {
    /// Waits for the exit; returns the status, stdout and stderr.
    pub(super) fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        let status = self.child.wait().unwrap();
        let err = self.stderr.join().unwrap();
        self.stdout_reader.join().unwrap();
        let out = self.stdout.lock().unwrap().clone();
        (status, out, err)
    }

    /// Waits until a line of stdout satisfies `seen` (the effect a test
    /// caused has been shown), with a deadline, instead of sleeping.
    fn wait_for_stdout(&self, what: &str, seen: impl Fn(&str) -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if self.stdout.lock().unwrap().lines().any(&seen) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "bpf-runtime never showed {what}:\n{}",
                self.stdout.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Starts `bpf-runtime ARGS` and waits until it reports its programs
/// attached.
pub(super) fn start(args: &[&str]) -> Running {
    let mut child = runtime_command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("attached") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let pipe = child.stdout.take().unwrap();
    let shown = stdout.clone();
    let stdout_reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let mut all = shown.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    });
    let running = Running {
        child,
        stderr: reader,
        stdout,
        stdout_reader,
    };
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let mut r = running;
        let _ = r.child.kill();
        let (status, _, err) = r.finish();
        panic!("bpf-runtime never attached ({status}): {err}");
    }
    running
}

/// Ctrl-C, as a terminal sends it.
fn interrupt(r: &Running) {
    ok(&Command::new("kill")
        .args(["-INT", &r.child.id().to_string()])
        .output()
        .unwrap());
}

/// Nothing named `names` is loaded, and no map or link of ours remains.
pub(super) fn nothing_left(names: &[&str]) {
    assert_eq!(loaded_programs(names), Vec::<String>::new());
}

/// Like [`nothing_left`], allowing the kernel a moment: programs are freed
/// shortly after the last descriptor of a killed process closes.
pub(super) fn nothing_left_soon(names: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !loaded_programs(names).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    nothing_left(names);
}

#[test]
fn runtime_counts_xdp_packets_and_ctrl_c_leaves_nothing() {
    if !privileged("runtime_counts_xdp_packets_and_ctrl_c_leaves_nothing") {
        return;
    }
    let (tag, store) = packaged("xdp");
    let _guard = kernel_lock();
    let child = start(&[
        "run",
        &tag,
        "--store",
        store.to_str().unwrap(),
        "--no-userspace",
        "--json",
        "--iface",
        "lo",
        "--interval",
        "300ms",
    ]);
    udp_to_loopback(25);
    let udp_packets = |l: &str| {
        let l = json(l);
        l["map"] == "stats" && l["key"] == 17 && l["value"]["packets"].as_u64() >= Some(25)
    };
    child.wait_for_stdout("25 UDP packets", udp_packets);
    interrupt(&child);
    let (status, stdout, stderr) = child.finish();
    assert!(status.success(), "{stderr}");
    let udp = stdout
        .lines()
        .map(json)
        .filter(|l| l["map"] == "stats" && l["key"] == 17)
        .map(|l| l["value"]["packets"].as_u64().unwrap())
        .max()
        .unwrap_or(0);
    assert!(udp >= 25, "UDP packets counted: {udp}\n{stdout}");
    nothing_left(&["count_packets"]);
}

/// Issue 17: `cgroup_skb` never attached in the runtime: the attach asked
/// for BPF_F_ALLOW_MULTI, which the kernel refuses on a link (EINVAL), and
/// its default `/sys/fs/cgroup` is cgroup v1 on a hybrid host (as this
/// machine may be). It attaches at the host's cgroup v2 root and counts.
#[test]
fn runtime_counts_cgroup_skb_traffic_at_the_hosts_cgroup2_root() {
    if !privileged("runtime_counts_cgroup_skb_traffic_at_the_hosts_cgroup2_root") {
        return;
    }
    let (tag, store) = packaged("cgroup_skb");
    let s = store.to_str().unwrap();
    let _guard = kernel_lock();
    let child = start(&[
        "run",
        &tag,
        "--store",
        s,
        "--no-userspace",
        "--json",
        "--duration",
        "2s",
        "--interval",
        "200ms",
    ]);
    udp_to_loopback(20);
    let (status, stdout, stderr) = child.finish();
    assert!(status.success(), "{stderr}");
    let points: Vec<String> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(json)
        .filter_map(|l| l["attached"]["point"].as_str().map(str::to_string))
        .collect();
    let root = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .find(|r| Path::new(r).join("cgroup.controllers").exists())
        .expect("a cgroup v2 mount");
    assert!(
        points.len() == 2 && points.iter().all(|p| p.contains(&format!(" {root} "))),
        "{points:?}"
    );
    let packets = stdout
        .lines()
        .map(json)
        .filter(|l| l["map"] == "traffic")
        .filter_map(|l| l["value"]["packets"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(packets >= 20, "{stdout}");
    // With its user space, which gets the same directory.
    let out = runtime(&["run", &tag, "--store", s, "--", "--duration", "1"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("counting traffic of cgroup {root}")),
        "{}",
        text(&out.stderr)
    );
    nothing_left_soon(&["count_ingress", "count_egress"]);
}

/// Issue 17: the C raw_tracepoint package failed in the runtime ("invalid
/// access string `0:0:1`": aya refuses the CO-RE relocation of
/// `ctx->args[1]`, which libbpf applies). The template reads its arguments
/// with BPF_PROG, and the package runs.
#[test]
fn runtime_runs_the_c_raw_tracepoint_package() {
    if !privileged("runtime_runs_the_c_raw_tracepoint_package") {
        return;
    }
    let (tag, store) = packaged("raw_tracepoint");
    let _guard = kernel_lock();
    let out = runtime(
        &[
            "run",
            &tag,
            "--store",
            store.to_str().unwrap(),
            "--no-userspace",
            "--json",
            "--duration",
            "1s",
            "--interval",
            "200ms",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let calls: u64 = text(&out.stdout)
        .lines()
        .map(json)
        .filter(|l| l["map"] == "syscalls")
        .filter_map(|l| l["value"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(calls > 0, "{}", text(&out.stdout));
    nothing_left_soon(&["count_syscalls"]);
}

#[test]
fn runtime_decodes_tracepoint_events_and_set_changes_what_it_sees() {
    if !privileged("runtime_decodes_tracepoint_events_and_set_changes_what_it_sees") {
        return;
    }
    let (tag, store) = packaged("tracepoint");
    let s = store.to_str().unwrap();
    let _guard = kernel_lock();
    let run = |set: &[&str]| {
        let mut args = vec![
            "run",
            &tag,
            "--store",
            s,
            "--no-userspace",
            "--json",
            "--duration",
            "3s",
        ];
        args.extend_from_slice(set);
        let child = start(&args);
        for _ in 0..3 {
            Command::new("/bin/true").status().unwrap();
        }
        let (status, stdout, stderr) = child.finish();
        assert!(status.success(), "{stderr}");
        stdout
            .lines()
            .map(json)
            .filter(|l| l["event"]["filename"] == "/bin/true")
            .collect::<Vec<_>>()
    };
    let all = run(&[]);
    assert!(all.len() >= 3, "{all:?}");
    let e = &all[0]["event"];
    assert_eq!(e["comm"], "true");
    assert_eq!(e["uid"], 0);
    assert!(e["pid"].as_u64().unwrap() > 0);
    // Only execs by uid 12345: ours (root) are filtered out in the kernel.
    let none = run(&["--set", "target_uid=12345"]);
    assert_eq!(none.len(), 0, "{none:?}");
    nothing_left(&["handle_exec"]);
}

#[test]
fn runtime_explains_what_the_kernel_lacks_before_loading() {
    let (tag, store) = packaged("kprobe");
    let s = store.to_str().unwrap();
    // This kernel has no kprobes; the reason is one line, exit 3.
    let env: &[(&str, &str)] = if Path::new("/sys/bus/event_source/devices/kprobe").exists() {
        &[("BPF_RUNTIME_ABSENT", "kprobes")]
    } else {
        &[]
    };
    let e = fails(
        &runtime(&["run", &tag, "--store", s, "--no-userspace"], env),
        3,
    );
    assert!(
        e.contains("needs kprobes (CONFIG_KPROBES)") && e.contains("CONFIG_KPROBES"),
        "{e}"
    );
    nothing_left(&["count_calls"]);
    // `features` says the same thing the check acted on.
    let f = json(&ok(&runtime(&["features", "--json"], env)));
    let kprobes = f["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"] == "kprobes")
        .unwrap();
    assert_eq!(kprobes["present"], false, "{f}");
    // An old kernel, through the seam: the ring buffer is named.
    let (tag, _) = packaged("tracepoint");
    let e = fails(
        &runtime(
            &["run", &tag, "--store", s, "--no-userspace"],
            &[("BPF_RUNTIME_KERNEL", "4.19.90")],
        ),
        3,
    );
    assert!(
        e.contains("needs Linux 5.8 for ring buffer maps (`events`); this host runs Linux 4.19.90"),
        "{e}"
    );
}

#[test]
fn runtime_runs_packaged_user_space_and_returns_its_exit_code() {
    if !privileged("runtime_runs_packaged_user_space_and_returns_its_exit_code") {
        return;
    }
    let (tag, store) = packaged("tracepoint");
    let s = store.to_str().unwrap();
    let _guard = kernel_lock();
    let out = runtime(&["run", &tag, "--store", s, "--", "--duration", "1"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The template's own usage error: its exit code is ours.
    let out = runtime(&["run", &tag, "--store", s, "--", "--no-such-option"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("unrecognized option"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn runtime_bad_input_gets_one_clear_line() {
    let (tag, store) = packaged("xdp");
    let s = store.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", tag.as_str(), "--store", s, "--no-userspace"];
        args.extend_from_slice(extra);
        runtime(&args, &[])
    };
    // Issue 17: `--interval 0s` spun a core.
    let e = fails(&run(&["--interval", "0s"]), 2);
    assert!(e.contains("at least 100ms"), "{e}");
    if privileged("runtime_bad_input_gets_one_clear_line") {
        let _guard = kernel_lock();
        let e = fails(&run(&["--iface", "nope0"]), 2);
        assert!(
            e.contains("no network interface `nope0` (this host has"),
            "{e}"
        );
        nothing_left(&["count_packets"]);
    }
    let e = fails(&runtime(&["run", "nothing:1", "--store", s], &[]), 2);
    assert!(e.contains("no image `nothing:1` in the store"), "{e}");
    let e = fails(&runtime(&["run", "/no/such/file.o"], &[]), 2);
    assert!(e.contains("no image `/no/such/file.o`"), "{e}");

    let (tp, _) = packaged("tracepoint");
    let e = fails(
        &runtime(
            &[
                "run",
                &tp,
                "--store",
                s,
                "--no-userspace",
                "--set",
                "target_uid=-1",
            ],
            &[],
        ),
        2,
    );
    assert!(
        e.contains(
            "--set target_uid=-1: -1 is out of range (0..=4294967295) (target_uid is __u32)"
        ),
        "{e}"
    );
    let e = fails(
        &runtime(
            &["run", &tp, "--store", s, "--no-userspace", "--set", "uid"],
            &[],
        ),
        2,
    );
    assert!(e.contains("invalid --set `uid`: write NAME=VALUE"), "{e}");

    // Wrong architecture: an image with aarch64 bytecode only.
    let (dir, _, _) = multi_arch_image();
    let arm_store = workdir().join("stores/runtime-arm");
    let a = arm_store.to_str().unwrap();
    ok(&cargo_ebpf(
        &dir,
        &[
            "package",
            "--no-build",
            "--arch",
            "aarch64",
            "--tag",
            "arm:1",
            "--force",
            "--store",
            a,
        ],
    ));
    let e = fails(&runtime(&["run", "arm:1", "--store", a], &[]), 2);
    assert!(
        e.contains("is built for aarch64; this host is x86_64"),
        "{e}"
    );

    // A tampered layer in the store is found before anything loads.
    let tampered = workdir().join("stores/runtime-tampered");
    let _ = std::fs::remove_dir_all(&tampered);
    ok(&Command::new("cp")
        .arg("-a")
        .arg(&store)
        .arg(&tampered)
        .output()
        .unwrap());
    let t = tampered.to_str().unwrap();
    let i = json(&ok(&cargo_ebpf(
        &dir,
        &["inspect", &tag, "--json", "--store", t],
    )));
    let layer = i["platforms"][0]["layers"][0]["digest"].as_str().unwrap();
    let blob = tampered
        .join("blobs/sha256")
        .join(layer.strip_prefix("sha256:").unwrap());
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let e = fails(
        &runtime(&["run", &tag, "--store", t, "--no-userspace"], &[]),
        1,
    );
    assert!(e.contains("is corrupted"), "{e}");
}

/// `bpftool map dump pinned PATH` as JSON.
fn dump_pinned(path: &Path) -> serde_json::Value {
    json(&ok(&Command::new("bpftool")
        .args(["-j", "map", "dump", "pinned"])
        .arg(path)
        .output()
        .unwrap()))
}

#[test]
fn runtime_load_pins_until_unload_and_gc_cleans_after_kill_9() {
    if !privileged("runtime_load_pins_until_unload_and_gc_cleans_after_kill_9") {
        return;
    }
    let (tag, store) = packaged("xdp");
    let s = store.to_str().unwrap();
    let bpffs = places()[1].1.clone();
    let _guard = kernel_lock();
    // Whatever happens, this test's pins go (and with them its programs).
    struct Unpin(PathBuf);
    impl Drop for Unpin {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _unpin = Unpin(bpffs.clone());

    // load: attached, pinned, and still counting after bpf-runtime exits.
    let out = runtime(
        &[
            "load",
            &tag,
            "--store",
            s,
            "--no-userspace",
            "--iface",
            "lo",
            "--name",
            "counter",
        ],
        &[],
    );
    assert_eq!(ok(&out).trim(), "counter");
    let listed = json(&ok(&runtime(&["list", "--json"], &[])));
    let rec = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "counter")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(rec["alive"], true);
    assert_eq!(rec["held_by"], "pins");
    assert_eq!(rec["programs"][0]["point"], "xdp lo");
    let id = rec["programs"][0]["id"].as_u64().unwrap();
    assert_eq!(loaded_programs(&["count_packets"]).len(), 1);
    udp_to_loopback(20);
    let stats = dump_pinned(&bpffs.join("counter/maps/stats"));
    let udp: u64 = stats
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["formatted"])
        .filter(|e| e["key"] == 17)
        .flat_map(|e| e["values"].as_array().unwrap().clone())
        .map(|v| v["value"]["packets"].as_u64().unwrap())
        .sum();
    assert!(udp >= 20, "UDP packets in the pinned map: {udp}");
    // The same name twice is refused, and nothing more is loaded.
    let e = fails(
        &runtime(
            &[
                "load",
                &tag,
                "--store",
                s,
                "--no-userspace",
                "--iface",
                "lo",
                "--name",
                "counter",
            ],
            &[],
        ),
        2,
    );
    assert!(e.contains("`counter` is already loaded"), "{e}");
    assert_eq!(loaded_programs(&["count_packets"]).len(), 1);
    let table = ok(&runtime(&["list"], &[]));
    assert!(
        table.contains("counter") && table.contains(&format!("xdp lo       {id}")),
        "{table}"
    );

    // unload by program id: nothing of it remains.
    ok(&runtime(&["unload", &id.to_string()], &[]));
    nothing_left(&["count_packets"]);
    assert!(!bpffs.join("counter").exists());
    let e = fails(&runtime(&["unload", "counter"], &[]), 2);
    assert!(e.contains("nothing named `counter` is loaded"), "{e}");

    // A `load` killed after pinning (the seam aborts it there) leaves pins
    // that hold the program; gc removes them.
    let out = runtime(
        &[
            "load",
            &tag,
            "--store",
            s,
            "--no-userspace",
            "--iface",
            "lo",
            "--name",
            "crashed",
        ],
        &[("BPF_RUNTIME_TEST_CRASH", "after-pin")],
    );
    assert!(!out.status.success());
    assert_eq!(loaded_programs(&["count_packets"]).len(), 1);
    let gc = ok(&runtime(&["gc"], &[]));
    assert!(gc.contains("removed left-over pins"), "{gc}");
    nothing_left_soon(&["count_packets"]);

    // `run` killed with SIGKILL: its programs go with it, its record stays
    // until gc.
    let mut child = start(&["run", &tag, "--store", s, "--no-userspace", "--iface", "lo"]);
    let pid = child.child.id();
    child.child.kill().unwrap();
    let _ = child.finish();
    nothing_left_soon(&["count_packets"]);
    let table = ok(&runtime(&["list"], &[]));
    assert!(
        table.contains(&format!("pid {pid} gone (run gc)")),
        "{table}"
    );
    let gc = ok(&runtime(&["gc"], &[]));
    assert!(
        gc.contains(&format!("(pid {pid} is gone; its programs went with it)")),
        "{gc}"
    );
    let table = ok(&runtime(&["list"], &[]));
    assert!(!table.contains(&format!("pid {pid}")), "{table}");
    let left: Vec<_> = std::fs::read_dir(&bpffs)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn runtime_counts_uprobe_calls_in_a_test_binary() {
    if !privileged("runtime_counts_uprobe_calls_in_a_test_binary") {
        return;
    }
    let (tag, store) = packaged("uprobe");
    let bin = uprobe_target();
    let _guard = kernel_lock();
    let child = start(&[
        "run",
        &tag,
        "--store",
        store.to_str().unwrap(),
        "--no-userspace",
        "--json",
        "--binary",
        bin.to_str().unwrap(),
        "--symbol",
        "tick",
        "--interval",
        "200ms",
    ]);
    let pid = Command::new(&bin)
        .arg("37")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let ticker_pid = pid.id();
    let status = { pid }.wait().unwrap();
    assert!(status.success());
    child.wait_for_stdout("37 calls of tick", |l| {
        let l = json(l);
        l["map"] == "calls" && l["key"] == ticker_pid && l["value"]["calls"] == 37
    });
    interrupt(&child);
    let (status, stdout, stderr) = child.finish();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("uprobe {}:tick", bin.display())),
        "{stderr}"
    );
    let calls = stdout
        .lines()
        .map(json)
        .filter(|l| l["map"] == "calls" && l["key"] == ticker_pid)
        .map(|l| l["value"]["calls"].as_u64().unwrap())
        .max();
    assert_eq!(calls, Some(37), "{stdout}");
    nothing_left(&["count_calls"]);
}

#[test]
fn cargo_ebpf_run_packages_the_project_and_hands_it_to_the_runtime() {
    if !privileged("cargo_ebpf_run_packages_the_project_and_hands_it_to_the_runtime") {
        return;
    }
    let dir = c_project("tracepoint");
    let store = workdir().join("stores/cargo-ebpf-run");
    let s = store.to_str().unwrap();
    let cargo_ebpf_run = |runtime: &Path| {
        Command::new(bin())
            .args(["ebpf", "run", "--no-build", "--store", s, "--"])
            .args(["--no-userspace", "--json", "--duration", "1s"])
            .current_dir(&dir)
            .env("CARGO_EBPF_RUNTIME", runtime)
            .envs(places())
            .output()
            .unwrap()
    };
    let _guard = kernel_lock();
    let out = cargo_ebpf_run(&runtime_bin());
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("Packaged c-tracepoint:0.1.0"), "{err}");
    // The runtime's JSON: which program attached where.
    let attached = err
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(json)
        .find(|l| l["attached"]["program"] == "handle_exec")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(
        attached["attached"]["point"],
        "tracepoint sched/sched_process_exec"
    );
    nothing_left(&["handle_exec"]);
    let e = fails(&cargo_ebpf_run(Path::new("/no/bpf-runtime")), 2);
    assert!(
        e.contains("CARGO_EBPF_RUNTIME=/no/bpf-runtime is not an executable"),
        "{e}"
    );
}

#[test]
fn the_systemd_unit_and_the_rpm_spec_are_valid() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bpf-runtime/dist");
    let runtime = runtime_bin();
    // systemd's own checker, with the unit pointing at the built binary.
    let dir = workdir().join("dist-check");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let unit = std::fs::read_to_string(dist.join("bpf-runtime@.service"))
        .unwrap()
        .replace("/usr/bin/bpf-runtime", runtime.to_str().unwrap());
    let unit_path = dir.join("bpf-runtime@check.service");
    std::fs::write(&unit_path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&unit_path)
        .output()
        .expect("systemd-analyze runs (ci/setup.sh installs it)");
    let err = text(&out.stderr);
    assert!(
        out.status.success() && err.trim().is_empty(),
        "systemd-analyze verify: {err}"
    );

    // The spec builds an RPM around the binary, holding what it says.
    let top = dir.join("rpm");
    let src = dir.join("cargo-ebpf-0.1.0");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for f in [
        "README.md",
        "docs/runtime-guide.md",
        "bpf-runtime/dist/bpf-runtime@.service",
        "bpf-runtime/dist/bpf-runtime.tmpfiles",
    ] {
        std::fs::create_dir_all(src.join(f).parent().unwrap()).unwrap();
        std::fs::copy(root.join(f), src.join(f)).unwrap();
    }
    std::fs::create_dir_all(top.join("SOURCES")).unwrap();
    ok(&Command::new("tar")
        .arg("-czf")
        .arg(top.join("SOURCES/cargo-ebpf-0.1.0.tar.gz"))
        .arg("-C")
        .arg(&dir)
        .arg("cargo-ebpf-0.1.0")
        .output()
        .unwrap());
    let out = Command::new("rpmbuild")
        .arg("-bb")
        .arg(dist.join("bpf-runtime.spec"))
        .arg("--define")
        .arg(format!("_topdir {}", top.display()))
        .arg("--define")
        .arg(format!("prebuilt {}", runtime.display()))
        .args([
            "--define",
            "__strip /bin/true",
            "--define",
            "debug_package %{nil}",
        ])
        .output()
        .expect("rpmbuild runs (ci/setup.sh installs it)");
    ok(&out);
    let rpm = std::fs::read_dir(top.join("RPMS"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "rpm"))
        .expect("an RPM was written");
    let files = ok(&Command::new("rpm").arg("-qlp").arg(&rpm).output().unwrap());
    for f in [
        "/usr/bin/bpf-runtime",
        "/usr/lib/systemd/system/bpf-runtime@.service",
        "/usr/lib/tmpfiles.d/bpf-runtime.conf",
        "/etc/bpf-runtime",
    ] {
        assert!(
            files.lines().any(|l| l == f),
            "{f} not in the RPM:\n{files}"
        );
    }
}

/// The whole chain, through the runtime alone on the host side: a template
/// is built, packaged and published; a fresh store pulls it as it runs.
#[test]
fn runtime_pulls_a_published_package_into_a_fresh_store_and_runs_it() {
    if !privileged("runtime_pulls_a_published_package_into_a_fresh_store_and_runs_it") {
        return;
    }
    use super::registry::{Registry, home};
    let reg = Registry::start("runtime", None, false);
    let home = home("runtime");
    let (tag, store) = packaged("tracepoint");
    let target = format!("{}/tracepoint:0.1.0", reg.host());
    // Published signed with a key of our own, which the policy trusts.
    use super::signing::{PASSWORD, policy};
    let h = home.to_str().unwrap();
    ok(&super::signing::ebpf(
        &home,
        &["keygen", "-o", &format!("{h}/k")],
        PASSWORD,
    ));
    let key = home.join("k.key");
    ok(&super::signing::ebpf(
        &home,
        &[
            "publish",
            &target,
            "--image",
            &tag,
            "--store",
            store.to_str().unwrap(),
            "--sign",
            "--key",
            key.to_str().unwrap(),
        ],
        PASSWORD,
    ));
    let trusted = policy(&home, "policy.toml", &reg.host(), &[&home.join("k.pub")]);
    let fresh = workdir().join("stores/runtime-fresh");
    let _ = std::fs::remove_dir_all(&fresh);
    let f = fresh.to_str().unwrap();
    let _guard = kernel_lock();
    runs_execsnoop_and_sees_execs(
        &target,
        &[
            "--store",
            f,
            "--no-userspace",
            "--policy",
            trusted.to_str().unwrap(),
        ],
    );
    // The pulled image is in the fresh store under the reference.
    let images = json(&ok(&runtime(&["images", "--json", "--store", f], &[])));
    assert_eq!(images[0]["tag"], target.as_str(), "{images}");
}

/// Runs the execsnoop package `image` for 3 s (with `args`: store,
/// policy, ...), execs /bin/true three times while it is attached, and
/// checks that it saw them and left nothing in the kernel.
pub(super) fn runs_execsnoop_and_sees_execs(image: &str, args: &[&str]) {
    let mut all = vec!["run", image, "--json", "--duration", "3s"];
    all.extend(args);
    let child = start(&all);
    for _ in 0..3 {
        Command::new("/bin/true").status().unwrap();
    }
    let (status, stdout, stderr) = child.finish();
    assert!(status.success(), "{stderr}");
    let execs = stdout
        .lines()
        .map(json)
        .filter(|l| l["event"]["filename"] == "/bin/true")
        .count();
    assert!(execs >= 3, "{stdout}");
    nothing_left(&["handle_exec"]);
}

/// An OCI layout in `dir` holding one image as bpfman's own builds make
/// them: one tar+gzip layer with the object, bpfman's two labels, nothing
/// of cargo-ebpf's. Tagged `tag`.
fn bpfman_style_layout(dir: &Path, object: &[u8], tag: &str) {
    let _ = std::fs::remove_dir_all(dir);
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let d = digest_of(bytes);
        std::fs::write(blobs.join(d.trim_start_matches("sha256:")), bytes).unwrap();
        d
    };
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(object.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "execsnoop.o", object).unwrap();
    let tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let gz = gz.finish().unwrap();
    let layer = put(&gz);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {
            "io.ebpf.programs": "{\"handle_exec\":\"tracepoint\"}",
            "io.ebpf.maps": "{\"events\":\"ringbuf\"}"
        }},
        "rootfs": {"type": "layers", "diff_ids": [digest_of(&tar)]}
    })
    .to_string();
    let config_digest = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer, "size": gz.len()}]
    })
    .to_string();
    let manifest_digest = put(manifest.as_bytes());
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest.len(),
                       "annotations": {"org.opencontainers.image.ref.name": tag}}]
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
}

/// The C tracepoint template's object as a bpfman-style layout in the work
/// directory `name`, tagged `execsnoop`; returns its `oci:` reference.
pub(super) fn bpfman_style_execsnoop(name: &str) -> String {
    let dir = c_project("tracepoint");
    let object = std::fs::read(
        dir.join("target/ebpf")
            .join(std::env::consts::ARCH)
            .join("c-tracepoint.bpf.o"),
    )
    .unwrap();
    let layout = workdir().join(name);
    bpfman_style_layout(&layout, &object, "execsnoop");
    format!("oci:{}:execsnoop", layout.display())
}

/// Images cargo-ebpf did not make run too: a bpfman-style one (copied to
/// the registry by skopeo) and the same as Docker schema 2 (skopeo
/// converts it); the metadata comes from the object's ELF.
#[test]
fn runtime_runs_bpfman_style_and_docker_schema_2_images() {
    if !privileged("runtime_runs_bpfman_style_and_docker_schema_2_images") {
        return;
    }
    use super::registry::Registry;
    let reg = Registry::start("foreign", None, false);
    let source = bpfman_style_execsnoop("bpfman-style");
    let open = workdir().join("open-policy.toml");
    std::fs::write(
        &open,
        format!(
            "[[scope]]\nname = \"{}\"\nrequire = \"nothing\"\n",
            reg.host()
        ),
    )
    .unwrap();
    let oci = format!("{}/bpfman-style:1", reg.host());
    let docker = format!("{}/docker-style:1", reg.host());
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        &source,
        &format!("docker://{oci}"),
    ]);
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--format",
        "v2s2",
        &source,
        &format!("docker://{docker}"),
    ]);
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{docker}"),
    ]);
    assert!(
        raw.contains("application/vnd.docker.distribution.manifest.v2+json"),
        "{raw}"
    );
    for (target, media_type) in [
        (&oci, "application/vnd.oci.image.manifest.v1+json"),
        (
            &docker,
            "application/vnd.docker.distribution.manifest.v2+json",
        ),
    ] {
        let fresh = workdir().join("stores/foreign");
        let _ = std::fs::remove_dir_all(&fresh);
        let f = fresh.to_str().unwrap();
        let _guard = kernel_lock();
        // Unsigned, from a registry the policy lets run anything.
        let child = start(&[
            "run",
            target,
            "--store",
            f,
            "--json",
            "--duration",
            "3s",
            "--policy",
            open.to_str().unwrap(),
        ]);
        for _ in 0..3 {
            Command::new("/bin/true").status().unwrap();
        }
        let (status, stdout, stderr) = child.finish();
        assert!(status.success(), "{target}: {stderr}");
        let execs = stdout
            .lines()
            .map(json)
            .filter(|l| l["event"]["filename"] == "/bin/true")
            .count();
        assert!(execs >= 3, "{target}: {stdout}");
        nothing_left(&["handle_exec"]);
        // Pulled as it was: the registry's manifest, digest unchanged.
        let i = json(&ok(&runtime(
            &["inspect", target, "--json", "--store", f],
            &[],
        )));
        assert_eq!(i["media_type"], media_type, "{i}");
        let md = &i["platforms"][0]["metadata"];
        assert_eq!(md["origin"], "derived", "{md}");
        assert_eq!(md["name"], "execsnoop", "{md}");
        assert_eq!(md["object"]["programs"][0]["name"], "handle_exec");
        let human = ok(&runtime(&["inspect", target, "--store", f], &[]));
        assert!(human.contains("not packaged by cargo-ebpf"), "{human}");
    }
}

/// Issue 17, finding 4: an object whose BTF string section is cut short made
/// aya-obj panic (exit 101) in both tools; it is one line and exit 1 now.
#[test]
fn a_malformed_object_is_one_line_in_both_tools() {
    use object::{Object as _, ObjectSection as _};
    let dir = new_project("malformed", "c", "xdp");
    ok(&cargo_ebpf(&dir, &["build"]));
    let obj = dir
        .join("target/ebpf")
        .join(std::env::consts::ARCH)
        .join("malformed.bpf.o");
    let mut bytes = std::fs::read(&obj).unwrap();
    let start = {
        let file = object::File::parse(bytes.as_slice()).unwrap();
        file.section_by_name(".BTF")
            .unwrap()
            .file_range()
            .unwrap()
            .0 as usize
    };
    bytes[start + 20..start + 24].copy_from_slice(&0u32.to_le_bytes()); // str_len
    std::fs::write(&obj, &bytes).unwrap();
    let line = fails(
        &cargo_ebpf(
            &dir,
            &[
                "package",
                "--no-build",
                "--store",
                workdir().join("stores/malformed").to_str().unwrap(),
            ],
        ),
        1,
    );
    assert!(line.contains("the object is malformed"), "{line}");
    let line = fails(
        &runtime(&["run", obj.to_str().unwrap(), "--duration", "1s"], &[]),
        1,
    );
    assert!(line.contains("the object is malformed"), "{line}");
}

/// Issue 17, finding 5: SIGKILL of `run` on a package with user space left
/// the user space running, its programs attached and its directory behind,
/// with `list` and `gc` unaware. The child dies with the runtime now; the
/// run is recorded, and `gc` removes its record and directory.
#[test]
fn a_killed_runtime_takes_its_user_space_with_it() {
    if !privileged("a_killed_runtime_takes_its_user_space_with_it") {
        return;
    }
    let (tag, store) = packaged("tracepoint");
    let s = store.to_str().unwrap();
    let _guard = kernel_lock();
    let mut run = runtime_command()
        .args(["run", &tag, "--store", s])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = run.id();
    let state = places()[0].1.clone();
    let record = state.join(format!("run-{pid}.json"));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while loaded_programs(&["handle_exec"]).is_empty() || !record.is_file() {
        assert!(
            std::time::Instant::now() < deadline,
            "the user space never attached"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let user: u32 = json(&std::fs::read_to_string(&record).unwrap())["userspace"]
        .as_u64()
        .expect("the record names the user space's pid") as u32;
    let listed = ok(&runtime(&["list"], &[]));
    assert!(
        listed.contains(&format!("(user space, pid {user})")),
        "{listed}"
    );
    let tmp: Vec<PathBuf> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("bpf-runtime-{pid}-"))
        })
        .collect();
    assert_eq!(tmp.len(), 1, "the run's directory");

    run.kill().unwrap(); // SIGKILL: nothing of the runtime runs after it
    run.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{user}")).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the user space outlived the runtime"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    nothing_left_soon(&["handle_exec"]);
    let listed = ok(&runtime(&["list"], &[]));
    assert!(
        listed.contains(&format!("pid {pid} gone (run gc)")),
        "{listed}"
    );
    let gc = ok(&runtime(&["gc"], &[]));
    assert!(!record.exists(), "{gc}");
    assert!(!tmp[0].exists(), "gc removes the run's directory: {gc}");
}

/// Issue 17 ("from other trials"): `bpf-runtime run PKG --iface lo` on a
/// package with user space failed "--iface is required": neither the option
/// nor the package's default reached the user space.
#[test]
fn attach_arguments_reach_packaged_user_space() {
    if !privileged("attach_arguments_reach_packaged_user_space") {
        return;
    }
    let (tag, store) = packaged("xdp");
    let s = store.to_str().unwrap();
    let _guard = kernel_lock();
    // The package's default (iface = "lo" in its ebpf.toml).
    let out = runtime(&["run", &tag, "--store", s, "--", "--duration", "1"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The runtime's own option.
    let out = runtime(
        &[
            "run",
            &tag,
            "--store",
            s,
            "--iface",
            "lo",
            "--",
            "--duration",
            "1",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    // What the user passes after `--` wins and is not doubled.
    let out = runtime(
        &[
            "run",
            &tag,
            "--store",
            s,
            "--iface",
            "nope0",
            "--",
            "--iface",
            "lo",
            "--duration",
            "1",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    nothing_left_soon(&["count_packets"]);
}

#[test]
fn plain_globals_are_set_at_load_time_and_format_strings_are_not_variables() {
    let (_, tag, store) = packaged_fixture("globals", "globals.bpf.c");
    let s = store.to_str().unwrap();
    // The plain globals are variables with their sections; bpf_printk's
    // format string (a `static` of the function) is not, it is listed as
    // what the package prints.
    let info = json(&ok(&runtime(
        &["inspect", &tag, "--json", "--store", s],
        &[],
    )));
    let object = &info["platforms"][0]["metadata"]["object"];
    let vars: Vec<(String, String)> = object["variables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["section"].as_str().unwrap_or(".rodata").to_string(),
            )
        })
        .collect();
    assert_eq!(
        vars,
        [
            ("label".to_string(), ".data".to_string()),
            ("my_pid".to_string(), ".bss".to_string())
        ],
        "{object}"
    );
    assert_eq!(
        object["prints"],
        serde_json::json!(["getppid by %d"]),
        "{object}"
    );
    // The record type came from DWARF: the program only uses a pointer.
    assert!(object["maps"].to_string().contains("\"label\""), "{object}");
    let refused = fails(
        &runtime(&["run", &tag, "--store", s, "--set", "____fmt=x"], &[]),
        2,
    );
    assert!(refused.contains("____fmt"), "{refused}");

    if !privileged("plain_globals_are_set_at_load_time") {
        return;
    }
    let _guard = kernel_lock();
    let me = std::process::id();
    let pid = format!("my_pid={me}");
    let child = start(&[
        "run",
        &tag,
        "--store",
        s,
        "--json",
        "--duration",
        "3s",
        "--set",
        &pid,
        "--set",
        "label=mine",
    ]);
    // getppid(2) from this process and from another one: only ours passes
    // the filter the kernel reads from .bss.
    for _ in 0..3 {
        assert!(std::os::unix::process::parent_id() > 0);
    }
    ok(&Command::new("python3")
        .args(["-c", "import os\nfor _ in range(3): os.getppid()"])
        .output()
        .unwrap());
    let (status, stdout, stderr) = child.finish();
    assert!(status.success(), "{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(json)
        .filter_map(|l| l.get("event").cloned())
        .collect();
    assert!(events.len() >= 3, "{stdout}");
    for e in &events {
        assert_eq!(e["pid"], me, "{stdout}");
        assert_eq!(e["label"], "mine", "{stdout}");
    }
    // Its bpf_printk lines are shown too, from the trace pipe: only the
    // ones it wrote (the filter held there as well).
    let traces: Vec<serde_json::Value> = stdout
        .lines()
        .map(json)
        .filter_map(|l| l.get("trace").cloned())
        .collect();
    assert!(traces.len() >= 3, "{stdout}");
    for t in &traces {
        assert_eq!(t["message"], format!("getppid by {me}"), "{stdout}");
        assert!(t["comm"].is_string() && t["cpu"].is_number(), "{stdout}");
    }
    nothing_left(&["on_getppid"]);
}

/// Issue 19: fentry refused with EPERM and no verifier log (as this
/// machine's kernel refuses trampolines) is told in one line naming the
/// program and what the host shows of the cause, not libbpf's guess at the
/// memlock limit.
#[test]
fn a_refused_trampoline_program_is_told_with_what_the_host_shows() {
    if !privileged("a_refused_trampoline_program_is_told_with_what_the_host_shows") {
        return;
    }
    let (tag, store) = packaged("fentry");
    let _guard = kernel_lock();
    let out = runtime(
        &[
            "run",
            &tag,
            "--store",
            store.to_str().unwrap(),
            "--no-userspace",
            "--duration",
            "1s",
        ],
        &[],
    );
    if out.status.success() {
        eprintln!("fentry attached on this kernel: nothing to explain");
        return;
    }
    let err = fails(&out, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "error: failed to load program `on_unlink` (fentry/do_unlinkat): Operation not permitted, with no verifier log"
        ),
        "{err}"
    );
    assert!(!err.contains("ulimit"), "{err}");
    nothing_left_soon(&["on_unlink"]);
}

/// Issue 19: libbpf section names aya refused (`ksyscall/`, `tc`, `usdt`)
/// package, their maps read from the BTF; `iter/` is refused by name; at
/// run time the kernel check and the attach arguments say in one line what
/// is missing.
#[test]
fn libbpf_section_names_package_and_run_or_are_refused_with_the_reason() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/sections");
    let dir = workdir().join("sections-iter");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixtures.join("iter.bpf.c"), dir.join("iter.bpf.c")).unwrap();
    ok(&cargo_ebpf(&dir, &["init", "--lang", "c"]));
    let store = workdir().join("stores/sections-iter");
    let err = fails(
        &cargo_ebpf(&dir, &["package", "--store", store.to_str().unwrap()]),
        1,
    );
    assert!(
        err.contains("program `dump_task` is in section `iter/task`, a libbpf program type cargo-ebpf does not package: an iterator runs when its file is read"),
        "{err}"
    );

    let (_, tag, store) = packaged_fixture("sections", "sections.bpf.c");
    let s = store.to_str().unwrap();
    let info = json(&ok(&runtime(
        &["inspect", &tag, "--json", "--store", s],
        &[],
    )));
    let object = &info["platforms"][0]["metadata"]["object"];
    let map = &object["maps"][0];
    assert_eq!(
        (
            &map["name"],
            &map["type"],
            &map["max_entries"],
            &map["key_size"],
            &map["value_size"]
        ),
        (
            &serde_json::json!("counts"),
            &serde_json::json!("hash"),
            &serde_json::json!(16),
            &serde_json::json!(4),
            &serde_json::json!(8)
        ),
        "{object}"
    );
    assert_eq!(map["display"], "counters", "{object}");
    if !privileged("libbpf_section_names_package_and_run_or_are_refused_with_the_reason") {
        return;
    }
    let _guard = kernel_lock();
    // The kernel check comes first: kprobes (ksyscall) and uprobes (usdt).
    let out = runtime(
        &[
            "run",
            &tag,
            "--store",
            s,
            "--iface",
            "lo",
            "--duration",
            "1s",
        ],
        &[],
    );
    let refusal = text(&out.stderr);
    if out.status.code() == Some(3) {
        assert!(
            refusal.contains("needs kprobes (CONFIG_KPROBES)"),
            "{refusal}"
        );
    } else {
        let err = fails(&out, 2);
        assert!(
            err.contains("program `on_usdt` (usdt) needs --binary"),
            "{err}"
        );
    }
    nothing_left_soon(&["on_tgkill", "on_tc", "on_usdt"]);
}

/// Issue 19: a USDT probe attaches (libbpf reads the binary's
/// `.note.stapsdt` and fills the spec maps `usdt.bpf.h` reads), its
/// argument read: Python's `python:gc__start`, with the generation.
#[test]
fn usdt_probes_attach_and_read_their_arguments() {
    let python = std::fs::canonicalize("/usr/bin/python3").expect("python3 is installed");
    let notes = ok(&std::process::Command::new("readelf")
        .arg("-n")
        .arg(&python)
        .output()
        .unwrap());
    assert!(
        notes.contains("gc__start"),
        "{} has no USDT probe python:gc__start (Debian's python3 has; the test needs it)",
        python.display()
    );
    let (_, tag, store) = packaged_fixture("usdt", "usdt.bpf.c");
    let s = store.to_str().unwrap();
    // libbpf's spec maps are not shown; the program's are.
    let info = json(&ok(&runtime(
        &["inspect", &tag, "--json", "--store", s],
        &[],
    )));
    let maps = info["platforms"][0]["metadata"]["object"]["maps"].to_string();
    assert!(maps.contains("\"__bpf_usdt_specs\""), "{maps}");
    if !privileged("usdt_probes_attach_and_read_their_arguments") {
        return;
    }
    let _guard = kernel_lock();
    let binary = python.to_str().unwrap();
    let child = start(&[
        "run",
        &tag,
        "--store",
        s,
        "--json",
        "--binary",
        binary,
        "--symbol",
        "python:gc__start",
        "--interval",
        "200ms",
    ]);
    for _ in 0..3 {
        ok(&std::process::Command::new(&python)
            .args(["-c", "import gc; gc.collect(); gc.collect()"])
            .output()
            .unwrap());
    }
    // gc.collect() collects generation 2: six calls at least.
    child.wait_for_stdout("six collections of generation 2", |l| {
        let l = json(l);
        l["map"] == "counts" && l["key"] == 2 && l["value"].as_u64() >= Some(6)
    });
    interrupt(&child);
    let (status, stdout, stderr) = child.finish();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("\"point\":\"usdt {binary}:python:gc__start\"")),
        "{stderr}"
    );
    assert!(!stdout.contains("__bpf_usdt"), "{stdout}");
    nothing_left_soon(&["on_probe"]);
}

/// Issue 19: an object with several `SEC("uprobe")` programs for different
/// functions attached all of them to the one `--symbol`; each now takes its
/// own (`--symbol PROGRAM=FUNCTION`), and a name the package lacks is
/// refused before anything loads.
#[test]
fn each_uprobe_program_attaches_to_its_own_function() {
    let (_, tag, store) = packaged_fixture("uprobes", "uprobes.bpf.c");
    let s = store.to_str().unwrap();
    let bin = uprobe_target();
    let b = bin.to_str().unwrap();
    let err = fails(
        &runtime(
            &[
                "run",
                &tag,
                "--store",
                s,
                "--binary",
                b,
                "--symbol",
                "on_tock=tick",
            ],
            &[],
        ),
        2,
    );
    assert!(
        err.contains(
            "--symbol on_tock=...: the package has no program `on_tock` (it has on_main, on_tick)"
        ),
        "{err}"
    );
    if !privileged("each_uprobe_program_attaches_to_its_own_function") {
        return;
    }
    let _guard = kernel_lock();
    let child = start(&[
        "run",
        &tag,
        "--store",
        s,
        "--json",
        "--interval",
        "200ms",
        "--binary",
        b,
        "--symbol",
        "on_tick=tick",
        "--symbol",
        "on_main=main",
    ]);
    ok(&std::process::Command::new(&bin).arg("5").output().unwrap());
    // tick() ran five times, main() once: the two programs are on two
    // functions.
    child.wait_for_stdout("five ticks", |l| {
        let l = json(l);
        l["map"] == "hits" && l["key"] == 1 && l["value"] == 5
    });
    child.wait_for_stdout("one main", |l| {
        let l = json(l);
        l["map"] == "hits" && l["key"] == 2 && l["value"] == 1
    });
    interrupt(&child);
    let (status, _, stderr) = child.finish();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("\"point\":\"uprobe {b}:main\"")),
        "{stderr}"
    );
    nothing_left_soon(&["on_tick", "on_main"]);
}
