//! `analyze` on objects compiled here with clang from small C sources: the
//! types, defaults and kernel needs it reads, and each refusal.

use std::process::Command;

use ebpf_kinds::{KernelNeed, ProgramType};
use ebpf_object::{Display, Hints, MapHint, ObjectError, TypeDesc, analyze};
use serde_json::json;

/// What the C fixtures need from libbpf's headers, spelled out so that the
/// tests depend on clang alone.
const PRELUDE: &str = r#"
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef _Bool bool;
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
struct xdp_md;
"#;

/// `$CLANG`, else the newest versioned clang on PATH (Debian installs
/// `clang-19`).
fn clang() -> std::path::PathBuf {
    if let Some(c) = std::env::var_os("CLANG") {
        return c.into();
    }
    ["clang", "clang-21", "clang-20", "clang-19", "clang-18"]
        .iter()
        .find_map(|c| which::which(c).ok())
        .expect("clang is installed (ci/setup.sh core)")
}

/// Compiles `source` for the BPF target (with `-target` `target`).
fn compile_for(source: &str, target: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("t.c");
    std::fs::write(&src, format!("{PRELUDE}\n{source}")).unwrap();
    let out = dir.path().join("t.o");
    let status = Command::new(clang())
        .args(["-g", "-O2", "-target", target, "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("clang runs");
    assert!(status.success(), "clang failed on:\n{source}");
    std::fs::read(&out).unwrap()
}

fn compile(source: &str) -> Vec<u8> {
    compile_for(source, "bpf")
}

const XDP: &str = r#"
enum mode { MODE_A = 1, MODE_B = 2 };
struct cfg { __u32 a; char name[8]; enum mode m; };
struct event { __u32 pid; char comm[16]; struct { __u64 ts; } inner; __u32 flags : 3; __u32 more : 5; };
struct counters { __u64 packets; __u64 bytes; };

const volatile struct cfg cfg = { 7, "abc", MODE_B };
const volatile __s16 neg = -5;
const volatile bool flag = 1;
const volatile __u8 raw[4] = { 0xff, 1, 2, 3 };

struct {
    __uint(type, 5 /* BPF_MAP_TYPE_PERCPU_HASH */);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, struct counters);
} stats SEC(".maps");

struct {
    __uint(type, 27 /* BPF_MAP_TYPE_RINGBUF */);
    __uint(max_entries, 4096);
} events SEC(".maps");

struct event *unused_event __attribute__((unused));

SEC("xdp")
int count(struct xdp_md *ctx)
{
    __u32 key = cfg.a + neg + flag + raw[0];
    (void)key;
    return 2;
}

char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn reads_programs_maps_records_variables_and_needs() {
    let info = analyze(&compile(XDP), &Hints::default()).unwrap();
    assert_eq!(info.license, "GPL");
    assert_eq!(info.programs.len(), 1);
    assert_eq!(info.programs[0].name, "count");
    assert_eq!(info.programs[0].ty, ProgramType::Xdp);

    let stats = info.maps.iter().find(|m| m.name == "stats").unwrap();
    assert_eq!((stats.ty.as_str(), stats.max_entries), ("percpu_hash", 64));
    assert_eq!(stats.display, Display::Counters);
    assert_eq!(stats.key.as_ref().unwrap().c_name(), "__u32");
    let value = stats.value.as_ref().unwrap();
    assert_eq!(value.c_name(), "struct counters");
    assert_eq!(value.size(), 16);

    // The one event map carries the struct called `event`.
    let events = info.maps.iter().find(|m| m.name == "events").unwrap();
    assert_eq!(events.display, Display::Events);
    let Some(TypeDesc::Struct { name, size, fields }) = &events.record else {
        panic!("no record: {events:?}")
    };
    assert_eq!((name.as_str(), *size), ("event", 40));
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["pid", "comm", "inner", "flags", "more"]);
    assert!(fields[1].ty.is_text());
    assert_eq!(
        (fields[3].bits, fields[4].bits, fields[4].bit_offset),
        (3, 5, 3)
    );

    let vars: Vec<(&str, &serde_json::Value)> = info
        .variables
        .iter()
        .map(|v| (v.name.as_str(), &v.default))
        .collect();
    assert_eq!(
        vars,
        [
            ("cfg", &json!({"a": 7, "name": "abc", "m": "MODE_B"})),
            ("neg", &json!(-5)),
            ("flag", &json!(true)),
            ("raw", &json!("0xff010203")),
        ]
    );

    assert_eq!(info.kernel.min_version, "5.8");
    assert_eq!(info.kernel.map_types, ["percpu_hash", "ringbuf"]);
    assert_eq!(info.kernel.program_types, [ProgramType::Xdp]);
    assert!(info.kernel.features.contains(&KernelNeed::GlobalData));
}

#[test]
fn decodes_records_from_bytes() {
    let info = analyze(&compile(XDP), &Hints::default()).unwrap();
    let record = info.maps.iter().find_map(|m| m.record.clone()).unwrap();
    let mut bytes = vec![0u8; 40];
    bytes[..4].copy_from_slice(&42u32.to_le_bytes());
    bytes[4..8].copy_from_slice(b"bash");
    bytes[24..32].copy_from_slice(&7u64.to_le_bytes());
    bytes[32] = 0b1010_1101; // flags = 0b101, more = 0b10101
    assert_eq!(
        record.decode(&bytes, false),
        json!({"pid": 42, "comm": "bash", "inner": {"ts": 7}, "flags": 5, "more": 21})
    );
    // Cut short: what the record holds, `null` past its end.
    assert_eq!(
        record.decode(&bytes[..10], false),
        json!({"pid": 42, "comm": "bash", "inner": null, "flags": null, "more": null})
    );
}

#[test]
fn hints_from_ebpf_toml_apply_or_are_refused() {
    let data = compile(XDP);
    let mut hints = Hints::default();
    hints.maps.insert(
        "stats".into(),
        MapHint {
            record: None,
            display: Some(Display::Log2Histogram),
        },
    );
    hints.maps.insert(
        "events".into(),
        MapHint {
            record: Some("counters".into()),
            display: None,
        },
    );
    hints
        .variables
        .insert("neg".into(), "a negative number".into());
    let info = analyze(&data, &hints).unwrap();
    let stats = info.maps.iter().find(|m| m.name == "stats").unwrap();
    assert_eq!(stats.display, Display::Log2Histogram);
    let events = info.maps.iter().find(|m| m.name == "events").unwrap();
    assert_eq!(events.record.as_ref().unwrap().c_name(), "struct counters");
    let neg = info.variables.iter().find(|v| v.name == "neg").unwrap();
    assert_eq!(neg.help.as_deref(), Some("a negative number"));

    let refused = |hints: Hints| analyze(&data, &hints).unwrap_err().to_string();
    let mut h = Hints::default();
    h.maps.insert(
        "events".into(),
        MapHint {
            record: Some("nope".into()),
            display: None,
        },
    );
    assert_eq!(
        refused(h),
        "map `events`: record type `nope` is not a struct of the object (neither its BTF nor its DWARF describes it)"
    );
    let mut h = Hints::default();
    h.maps.insert("ghost".into(), MapHint::default());
    assert_eq!(
        refused(h),
        "ebpf.toml describes map `ghost`, which the object does not define"
    );
    let mut h = Hints::default();
    h.variables.insert("ghost".into(), "x".into());
    assert!(refused(h).starts_with("ebpf.toml describes variable `ghost`"));
}

fn refusal(source: &str) -> ObjectError {
    analyze(&compile(source), &Hints::default()).unwrap_err()
}

#[test]
fn refuses_objects_that_cannot_be_packaged() {
    let prog = "SEC(\"xdp\") int f(struct xdp_md *c) { return 2; }\n";
    let license = "char LICENSE[] SEC(\"license\") = \"GPL\";\n";

    assert!(matches!(refusal(prog), ObjectError::NoLicense));
    assert!(matches!(
        refusal(&format!("int x;\n{license}")),
        ObjectError::NoPrograms
    ));
    let e = refusal(&format!(
        "SEC(\"weird/thing\") int f(void *c) {{ return 0; }}\n{license}"
    ));
    assert_eq!(
        e.to_string(),
        "program `f` is in section `weird/thing`, which names no program type cargo-ebpf knows; use a libbpf section name (see `cargo ebpf new --list`)"
    );
    // libbpf's `tc` is aya's `classifier`: an object aya built (its maps
    // in the legacy `maps` section, which only aya loads) must use aya's
    // names; one with BTF-defined maps (or none) loads with libbpf.
    let tc = "SEC(\"tc\") int f(void *c) { return 0; }\n";
    let legacy = "struct bpf_map_def { unsigned int type, key_size, value_size, max_entries, map_flags; };\n\
                  struct bpf_map_def SEC(\"maps\") m = { 1, 4, 8, 16, 0 };\n";
    let e = refusal(&format!("{legacy}{tc}{license}"));
    assert_eq!(
        e.to_string(),
        "section `tc` is not one aya (the loader of bpf-runtime and bpfman) knows; name it `classifier` as the tc template does"
    );
    let info = analyze(&compile(&format!("{tc}{license}")), &Hints::default()).unwrap();
    assert_eq!(info.programs[0].ty, ebpf_kinds::ProgramType::Tc);
    let e = refusal(&format!(
        "SEC(\"iter/task\") int f(void *c) {{ return 0; }}\n{license}"
    ));
    assert!(
        e.to_string().ends_with("a libbpf program type cargo-ebpf does not package: an iterator runs when its file is read (`bpftool iter pin`), not on an event"),
        "{e}"
    );

    let host = compile_for(
        &format!("int f(void) {{ return 0; }}\n{license}"),
        "x86_64-linux-gnu",
    );
    let e = analyze(&host, &Hints::default()).unwrap_err();
    assert!(matches!(e, ObjectError::NotBpf(_)), "{e}");
    assert!(
        e.to_string()
            .starts_with("not an eBPF object: it is built for x86_64"),
        "{e}"
    );

    let e = analyze(b"#!/bin/sh\necho hi\n", &Hints::default()).unwrap_err();
    assert!(matches!(e, ObjectError::NotElf(_)), "{e}");
}

/// Issue 17, finding 4: a BTF string section cut short made aya-obj panic
/// (exit 101) in `package` and the runtime; it is one error line now.
#[test]
fn a_cut_short_btf_is_an_error_not_a_panic() {
    use object::{Object as _, ObjectSection as _};
    let obj = compile(XDP);
    let file = object::File::parse(obj.as_slice()).unwrap();
    let (start, _) = file.section_by_name(".BTF").unwrap().file_range().unwrap();
    drop(file);
    for str_len in [0u32, 1, 3] {
        let mut bad = obj.clone();
        let at = start as usize + 20; // btf_header.str_len
        bad[at..at + 4].copy_from_slice(&str_len.to_le_bytes());
        let e = ebpf_object::analyze(&bad, &Default::default()).unwrap_err();
        assert!(
            matches!(e, ObjectError::Malformed(_))
                && e.to_string().starts_with("the object is malformed"),
            "{str_len}: {e}"
        );
    }
}

/// Every cut of the header fields and every flipped byte of `.BTF` gives an
/// object or an error, never a panic (a small deterministic fuzz).
#[test]
fn mangled_btf_never_panics() {
    use object::{Object as _, ObjectSection as _};
    let obj = compile(XDP);
    let file = object::File::parse(obj.as_slice()).unwrap();
    let (start, len) = file.section_by_name(".BTF").unwrap().file_range().unwrap();
    drop(file);
    let check = |bad: &[u8]| {
        let r = std::panic::catch_unwind(|| ebpf_object::analyze(bad, &Default::default()));
        assert!(r.is_ok(), "analyze panicked");
    };
    for field in [8u64, 12, 16, 20] {
        for value in [0u32, 1, 3, len as u32 / 2, len as u32 + 1, u32::MAX] {
            let mut bad = obj.clone();
            let at = (start + field) as usize;
            bad[at..at + 4].copy_from_slice(&value.to_le_bytes());
            check(&bad);
        }
    }
    for off in (0..len).step_by(5) {
        let mut bad = obj.clone();
        bad[(start + off) as usize] ^= 0xa5;
        check(&bad);
    }
    for cut in (0..obj.len()).step_by(97) {
        check(&obj[..cut]);
    }
}

/// A record type that is only used through a pointer into the ring buffer
/// (the usual libbpf style): clang leaves it out of BTF, its DWARF has it.
const RECORD_VIA_POINTER: &str = r#"
enum state { UP = 1, DOWN = -1 };
typedef unsigned short __u16;
typedef struct { __u16 port; } endpoint_t;
struct event {
    __u32 pid;
    char comm[16];
    union { __u32 saddr_v4; __u8 saddr_v6[16]; };
    __u64 grid[2][3];
    enum state st;
    __u32 flags : 3;
    __u32 more : 5;
    _Bool ok;
    void *where;
    endpoint_t to;
};

struct {
    __uint(type, 27 /* BPF_MAP_TYPE_RINGBUF */);
    __uint(max_entries, 4096);
} events SEC(".maps");

static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *) 131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *) 132;

KEEP

SEC("xdp")
int count(struct xdp_md *ctx)
{
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e)
        return 2;
    e->pid = 1;
    bpf_ringbuf_submit(e, 0);
    return 2;
}

char LICENSE[] SEC("license") = "GPL";
"#;

#[test]
fn a_record_only_used_through_a_pointer_is_read_from_dwarf_as_btf_would_describe_it() {
    let record = |keep: &str| {
        let object = compile(&RECORD_VIA_POINTER.replace("KEEP", keep));
        let info = analyze(&object, &Hints::default()).unwrap();
        let events = info.maps.into_iter().find(|m| m.name == "events").unwrap();
        events
            .record
            .unwrap_or_else(|| panic!("no record with {keep:?}"))
    };
    // With a global of its type the struct is in BTF: the reference.
    let from_btf = record("struct event *unused_event __attribute__((unused));");
    let from_dwarf = record("");
    assert_eq!(from_dwarf, from_btf);
    let TypeDesc::Struct { fields, .. } = &from_dwarf else {
        panic!("{from_dwarf:?}")
    };
    // The anonymous union's members are the struct's, as C reads them.
    let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "pid", "comm", "saddr_v4", "saddr_v6", "grid", "st", "flags", "more", "ok", "where",
            "to"
        ]
    );

    // A record named in ebpf.toml is found the same way.
    let mut hints = Hints::default();
    hints.maps.insert(
        "events".into(),
        MapHint {
            record: Some("event".into()),
            display: None,
        },
    );
    let info = analyze(&compile(&RECORD_VIA_POINTER.replace("KEEP", "")), &hints).unwrap();
    assert_eq!(info.maps[0].record.as_ref(), Some(&from_btf));
}

#[test]
fn stripping_debug_info_keeps_btf_and_everything_a_loader_reads() {
    use object::{Object as _, ObjectSection as _};
    let object = compile(XDP);
    let stripped = ebpf_object::strip_debug(&object).unwrap();
    let (before, after) = (
        object::File::parse(&object[..]).unwrap(),
        object::File::parse(&stripped[..]).unwrap(),
    );
    assert!(before.section_by_name(".debug_info").is_some());
    // The debug sections and their relocations keep their headers (no
    // index changes) but no bytes.
    let debug: Vec<(String, u64)> = after
        .sections()
        .map(|s| (s.name().unwrap().to_string(), s.size()))
        .filter(|(n, _)| n.contains(".debug_"))
        .collect();
    assert!(debug.len() >= 8, "{debug:?}");
    assert!(debug.iter().all(|(_, size)| *size == 0), "{debug:?}");
    assert_eq!(after.sections().count(), before.sections().count());
    for kept in [".BTF", ".BTF.ext", "xdp", ".maps", ".rodata", "license"] {
        assert_eq!(
            after.section_by_name(kept).unwrap().data().unwrap(),
            before.section_by_name(kept).unwrap().data().unwrap(),
            "{kept}"
        );
    }
    let debug_bytes: u64 = before
        .sections()
        .filter(|s| s.name().unwrap().contains(".debug_"))
        .map(|s| s.size())
        .sum();
    assert!(
        stripped.len() as u64 <= object.len() as u64 - debug_bytes + 64,
        "{} -> {} ({debug_bytes} bytes of debug info)",
        object.len(),
        stripped.len()
    );
    // What the metadata says of it is the same.
    let (a, b) = (
        analyze(&object, &Hints::default()).unwrap(),
        analyze(&stripped, &Hints::default()).unwrap(),
    );
    assert_eq!(
        serde_json::to_value(&a).unwrap(),
        serde_json::to_value(&b).unwrap()
    );
    // Idempotent, and bytes that are no ELF are refused, not a panic.
    assert_eq!(ebpf_object::strip_debug(&stripped).unwrap(), stripped);
    assert!(ebpf_object::strip_debug(b"not an elf").is_err());
}

#[test]
fn kfunc_prototypes_are_declared_as_c_spells_them() {
    use object::{Object as _, ObjectSection as _};
    let object = compile(
        r#"
struct task_struct;
struct pair { int a; };
#define __kfunc __attribute__((btf_decl_tag("bpf_kfunc")))
__kfunc struct task_struct *find_task(int pid, const char *name, char *const out) { return 0; }
__kfunc void take(struct pair *p, unsigned long long (*cb)(void *ctx), const volatile __u32 *flags) {}
__attribute__((btf_decl_tag("other"))) int not_a_kfunc(void) { return 0; }
SEC("xdp") int prog(void *ctx) { return find_task(1, 0, 0) != 0; }
char LICENSE[] SEC("license") = "GPL";
"#,
    );
    let file = object::File::parse(&object[..]).unwrap();
    let btf = ebpf_object::btf::Btf::parse(file.section_by_name(".BTF").unwrap().data().unwrap())
        .unwrap();
    let protos = btf.kfunc_prototypes();
    let lines: Vec<&str> = protos.lines().filter(|l| l.starts_with("extern")).collect();
    assert_eq!(
        lines,
        [
            "extern struct task_struct *find_task(int pid, const char *name, char *const out) __weak __ksym;",
            "extern void take(struct pair *p, unsigned long long (*cb)(void *), const volatile __u32 *flags) __weak __ksym;",
        ],
        "{protos}"
    );
    assert!(
        protos.starts_with("#ifndef BPF_NO_KFUNC_PROTOTYPES\n"),
        "{protos}"
    );
    // An object without kfuncs gets nothing.
    let plain = compile(XDP);
    let file = object::File::parse(&plain[..]).unwrap();
    let btf = ebpf_object::btf::Btf::parse(file.section_by_name(".BTF").unwrap().data().unwrap())
        .unwrap();
    assert_eq!(btf.kfunc_prototypes(), "");
}
