//! The real-world suite: bcc's libbpf-tools (`e2e/corpus/libbpf-tools/`,
//! their kernel sources unchanged), written by people who never heard of
//! cargo-ebpf. One project made by `cargo ebpf init` in a copy of them
//! builds every tool, packages each as its own image, and runs under
//! `bpf-runtime` each one this kernel can run, its output decoded.
//!
//! [`TOOLS`] says what each tool does today, and why where it falls short:
//! the test fails when a tool does better as well as worse, so the table
//! (printed as Markdown by the test) stays the truth.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::runtime::{nothing_left_soon, runtime, start};
use crate::support::*;

/// How far a tool gets.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    /// `bpf-runtime run` attaches it here and shows its output decoded.
    Runs,
    /// It packages; `bpf-runtime run` here exits with this code and a line
    /// containing this text.
    Refused(i32, &'static str),
    /// Refused here (this kernel has no kprobes: exit 3); in the qemu
    /// guest (`vm.rs`) it runs, its output decoded.
    InGuest,
    /// Refused here for kprobes, and in the guest too, with this text.
    NotInGuest(&'static str),
}

/// The tools the guest runs: each with the text of its refusal there, if
/// it is refused.
pub fn guest_tools() -> Vec<(&'static str, Option<&'static str>)> {
    TOOLS
        .iter()
        .filter_map(|(tool, outcome)| match outcome {
            InGuest => Some((*tool, None)),
            NotInGuest(why) => Some((*tool, Some(*why))),
            _ => None,
        })
        .collect()
}

/// `tool` of the packaged corpus, written as an oci-archive to `archive`.
pub fn corpus_archive(tool: &str, archive: &Path) {
    let (dir, store) = packaged_corpus();
    ok(&cargo_ebpf(
        dir,
        &[
            "package",
            "--no-build",
            "--force",
            "--object",
            tool,
            "--archive",
            archive.to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
        ],
    ));
}

use Outcome::*;

const KPROBES: Outcome = InGuest;
/// What this kernel says of a tool with kprobes.
const NO_KPROBES: (i32, &str) = (3, "needs kprobes (CONFIG_KPROBES)");
/// A uprobe on a library function the tool's user space finds itself
/// (readline in bash, getaddrinfo and malloc in libc).
const NEEDS_BINARY: Outcome = Refused(2, "needs --binary");

/// Every tool of the corpus and what it does here today. The libbpf loader
/// loads what libbpf-tools' own user space loads: CO-RE as libbpf applies
/// it, `.kconfig` and `.ksyms` externs, maps sized before load, and one
/// variant of each tp_btf/raw_tp pair.
const TOOLS: &[(&str, Outcome)] = &[
    ("bashreadline", NEEDS_BINARY),
    ("bindsnoop", KPROBES),
    ("biolatency", Runs),
    ("biopattern", Runs),
    // The next ones attach, in the tool, to a function its user space picks
    // for the kernel at hand (renamed, inlined, or a module's, across
    // versions): as packaged they name one 6.1 does not have.
    (
        "biosnoop",
        NotInGuest("this kernel has no `blk_account_io_start`"),
    ),
    (
        "biostacks",
        NotInGuest("this kernel has no `blk_account_io_start`"),
    ),
    ("biotop", NotInGuest("this kernel has no `block_io_start`")),
    ("bitesize", Runs),
    (
        "cachestat",
        NotInGuest("this kernel has no `account_page_dirtied`"),
    ),
    ("capable", KPROBES),
    ("cpudist", Runs),
    ("cpufreq", Runs),
    ("drsnoop", Runs),
    ("execsnoop", Runs),
    ("exitsnoop", Runs),
    ("filelife", KPROBES),
    ("filetop", KPROBES),
    // The filesystem's functions replace `dummy_file_read` and the like at
    // load time (`bpf_program__set_attach_target`, from `-t ext4`).
    ("fsdist", NotInGuest("this kernel has no `dummy_file_read`")),
    (
        "fsslower",
        NotInGuest("this kernel has no `dummy_file_read`"),
    ),
    // Traces the function given on its command line.
    (
        "funclatency",
        NotInGuest("this kernel has no `dummy_fentry`"),
    ),
    ("futexctn", Runs),
    ("gethostlatency", NEEDS_BINARY),
    ("hardirqs", Runs),
    // USDT probes of a JVM, given with --binary and --symbol.
    ("javagc", NEEDS_BINARY),
    // `down_read_nested` exists only with CONFIG_DEBUG_LOCK_ALLOC; the tool
    // turns those probes off when it is missing.
    ("klockstat", NotInGuest("down_read_nested")),
    // Traces the functions given on its command line (`foo` stands in).
    ("ksnoop", NotInGuest("kernel function foo")),
    ("llcstat", Runs),
    // md is a module, not loaded in the guest.
    (
        "mdflush",
        NotInGuest("this kernel has no `md_flush_request`"),
    ),
    ("memleak", NEEDS_BINARY),
    ("mountsnoop", Runs),
    (
        "numamove",
        NotInGuest("this kernel has no `migrate_misplaced_folio`"),
    ),
    ("offcputime", Runs),
    ("oomkill", KPROBES),
    ("opensnoop", Runs),
    ("profile", Runs),
    // fentry on a function this kernel does not have; the tool's user space
    // falls back to a kprobe, which this kernel lacks too.
    (
        "readahead",
        Refused(1, "this kernel has no `do_page_cache_ra`"),
    ),
    ("runqlat", Runs),
    ("runqlen", Runs),
    ("runqslower", Runs),
    ("sigsnoop", Runs),
    ("slabratetop", NotInGuest("kmem_cache_alloc_noprof")),
    // The verifier of 6.18 refuses the tool's `vec_nr` index into its .bss
    // arrays as clang 19 compiles it; the tool's own loader would be
    // refused the same way.
    (
        "softirqs",
        Refused(1, "the kernel refused to load program `softirq_exit_btf`"),
    ),
    ("softirqslower", Runs),
    ("solisten", KPROBES),
    ("statsnoop", Runs),
    // An arm64 syscall's tracepoint: the tool's user space skips it on x86.
    ("syncsnoop", Refused(1, "sys_enter_arm_sync_file_range")),
    ("syscount", Runs),
    ("tcpconnect", KPROBES),
    ("tcpconnlat", KPROBES),
    ("tcplife", Runs),
    ("tcppktlat", Runs),
    ("tcprtt", KPROBES),
    ("tcpstates", Runs),
    // fentry on tcp_v4_syn_recv_sock: 6.1 refuses the attach (ENOTSUPP);
    // the tool's user space falls back to a kprobe.
    ("tcpsynbl", NotInGuest("failed to attach: -ENOTSUPP")),
    ("tcptop", KPROBES),
    ("tcptracer", KPROBES),
    ("vfsstat", KPROBES),
    ("wakeuptime", Runs),
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/libbpf-tools")
}

/// A copy of the corpus's sources and headers in `dir`.
fn copy_corpus(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for f in std::fs::read_dir(corpus()).unwrap() {
        let f = f.unwrap().path();
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".bpf.c") || name.ends_with(".h") {
            std::fs::copy(&f, dir.join(&name)).unwrap();
        }
    }
}

/// The corpus project, initialised and built once for all tests of this
/// file: every tool that builds, in one project as `cargo ebpf init` makes
/// it, each packaged into the returned store.
fn packaged_corpus() -> &'static (PathBuf, PathBuf) {
    static ONCE: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = workdir().join("corpus/libbpf-tools");
        copy_corpus(&dir);
        let out = cargo_ebpf(&dir, &["init", "--lang", "c"]);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{err}");
        let manifest = std::fs::read_to_string(dir.join("ebpf.toml")).unwrap();
        // Each program entry names its tool; the licence is the sources'.
        assert!(
            manifest.contains(
                "name = \"tracepoint__syscalls__sys_enter_execve\"\nobject = \"execsnoop\""
            ),
            "{manifest}"
        );
        assert!(
            manifest.contains("license = \"(LGPL-2.1-only OR BSD-2-Clause)"),
            "{manifest}"
        );
        let out = cargo_ebpf(&dir, &["build", "--release"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let store = workdir().join("stores/corpus");
        let s = store.to_str().unwrap().to_string();
        for (tool, _) in TOOLS {
            let out = cargo_ebpf(
                &dir,
                &[
                    "package",
                    "--no-build",
                    "--object",
                    tool,
                    "--json",
                    "--store",
                    &s,
                ],
            );
            let report = json(&ok(&out));
            assert_eq!(report["tag"], format!("{tool}:0.1.0"), "{tool}");
        }
        (dir, store)
    })
}

#[test]
fn every_corpus_tool_builds_and_packages_as_its_own_image() {
    let (_, store) = packaged_corpus();
    let s = store.to_str().unwrap();
    // Each image carries its own tool: its name, its programs, and the
    // record type of its event map where it has one (from DWARF: the
    // corpus sends `struct event` through pointers and locals only).
    let info = |tool: &str| {
        json(&ok(&runtime(
            &["inspect", &format!("{tool}:0.1.0"), "--json", "--store", s],
            &[],
        )))
    };
    let metadata = |tool: &str| info(tool)["platforms"][0]["metadata"].clone();
    let exitsnoop = metadata("exitsnoop");
    assert_eq!(exitsnoop["name"], "exitsnoop", "{exitsnoop}");
    let text = exitsnoop["object"]["programs"].to_string();
    assert!(text.contains("sched_process_exit"), "{text}");
    assert!(
        !text.contains("tracepoint__syscalls__sys_enter_execve"),
        "{text}"
    );
    for (tool, map, field) in [
        ("exitsnoop", "events", "exit_time"),
        ("execsnoop", "events", "args_size"),
        ("tcpstates", "events", "newstate"),
        ("opensnoop", "events", "fname"),
    ] {
        let i = metadata(tool);
        let maps = i["object"]["maps"]
            .as_array()
            .unwrap_or_else(|| panic!("{i}"));
        let m = maps.iter().find(|m| m["name"] == map).unwrap();
        let record = m["record"].to_string();
        assert!(record.contains(&format!("\"{field}\"")), "{tool}: {m}");
    }

    // Every tool builds: the vmlinux.h written by the build declares the
    // kfuncs (sigsnoop's `bpf_task_from_pid`), the embedded libbpf headers
    // have the macros (bashreadline's `BPF_URETPROBE`).
    assert_eq!(TOOLS.len(), 58);
    eprintln!("{}", table());
}

/// What the tests cause on the host while a tool runs: execs, exits, a TCP
/// connection on the loopback.
fn workload() {
    for _ in 0..3 {
        Command::new("/bin/true").status().unwrap();
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    drop(client);
    drop(server);
}

#[test]
fn corpus_tools_run_here_with_their_output_decoded_or_are_refused_with_the_reason() {
    if !privileged("corpus_tools_run_here") {
        return;
    }
    let (dir, store) = packaged_corpus();
    let s = store.to_str().unwrap();
    let _kernel = kernel_lock();
    for (tool, outcome) in TOOLS {
        let image = format!("{tool}:0.1.0");
        match outcome {
            Runs => {
                let child = start(&["run", &image, "--json", "--duration", "2s", "--store", s]);
                workload();
                let (status, stdout, stderr) = child.finish();
                assert!(status.success(), "{tool}: {stderr}");
                // Decoded: every event and map entry is a JSON value of its
                // type, never a hex string of raw bytes.
                for line in stdout.lines().map(json) {
                    for key in ["event", "value"] {
                        if let Some(v) = line.get(key) {
                            assert!(!v.is_string(), "{tool} shows raw bytes: {line}");
                        }
                    }
                }
                check_output(tool, &stdout);
            }
            Refused(code, why) => {
                let out = runtime(&["run", &image, "--duration", "1s", "--store", s], &[]);
                let err = fails(&out, *code);
                assert!(err.contains(why), "{tool}: {err}");
            }
            InGuest | NotInGuest(_) => {
                let out = runtime(&["run", &image, "--duration", "1s", "--store", s], &[]);
                let err = fails(&out, NO_KPROBES.0);
                assert!(err.contains(NO_KPROBES.1), "{tool}: {err}");
            }
        }
        let names = program_names(dir, tool);
        // A refused run exits with the programs it loaded; the kernel frees
        // them shortly after their descriptors close.
        nothing_left_soon(&names.iter().map(String::as_str).collect::<Vec<_>>());
    }
}

/// What a tool's output must show after [`workload`], where the tool's own
/// user space would show it too.
fn check_output(tool: &str, stdout: &str) {
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(json)
        .filter_map(|l| l.get("event").cloned())
        .collect();
    match tool {
        // execsnoop's sibling: the three /bin/true exits, with their comm.
        "exitsnoop" => assert!(
            events.iter().filter(|e| e["comm"] == "true").count() >= 3,
            "{stdout}"
        ),
        // The loopback connection's states, with numbers (not bytes), its
        // addresses as `ss` prints them (an IPv4 address in the tool's
        // 16-byte field).
        "tcpstates" => assert!(
            events.iter().any(|e| e["newstate"].is_number()
                && e["family"] == 2
                && e["saddr"] == "127.0.0.1"
                && e["daddr"] == "127.0.0.1"),
            "{stdout}"
        ),
        // execsnoop's columns: the three /bin/true execs, with their comm
        // and their return value.
        "execsnoop" => assert!(
            events
                .iter()
                .filter(|e| e["comm"] == "true" && e["retval"] == 0)
                .count()
                >= 3,
            "{stdout}"
        ),
        // runqlat's histogram: run queue latency in log2 buckets, as the
        // tool draws it (`usecs : count distribution`).
        "runqlat" => assert!(
            stdout.lines().map(json).any(|l| l["map"] == "hists"
                && l["histogram"].as_array().is_some_and(
                    |b| !b.is_empty() && b.iter().all(|b| b["count"].as_u64() > Some(0))
                )),
            "{stdout}"
        ),
        // Per-syscall counts.
        "syscount" => assert!(
            stdout
                .lines()
                .map(json)
                .any(|l| l["map"] == "data" && l["value"]["count"].as_u64() > Some(0)),
            "{stdout}"
        ),
        _ => {}
    }
}

/// The programs of `tool`, from its project's ebpf.toml entries.
fn program_names(dir: &Path, tool: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(dir.join("ebpf.toml")).unwrap();
    let mut names = Vec::new();
    let mut name = None;
    for line in manifest.lines() {
        if let Some(n) = line.strip_prefix("name = \"") {
            name = Some(n.trim_end_matches('"').to_string());
        } else if line == format!("object = \"{tool}\"")
            && let Some(n) = name.take()
        {
            names.push(n);
        }
    }
    // The kernel shows the first 15 bytes of a program's name.
    names
        .into_iter()
        .map(|n| n.chars().take(15).collect())
        .collect()
}

/// [`TOOLS`] as a Markdown table.
fn table() -> String {
    let mut t = String::from(
        "| tool | builds | packages | runs here / in the guest | output decoded | notes |\n|---|---|---|---|---|---|\n",
    );
    for (tool, outcome) in TOOLS {
        let row = match outcome {
            Runs => ["yes", "yes", "yes / -", "yes", ""],
            Refused(_, why) => ["yes", "yes", "no / -", "-", why],
            InGuest => ["yes", "yes", "no / yes", "yes", "kprobes: in the 6.1 guest"],
            NotInGuest(why) => ["yes", "yes", "no / no", "-", why],
        };
        t.push_str(&format!("| {tool} | {} |\n", row.join(" | ")));
    }
    t
}
