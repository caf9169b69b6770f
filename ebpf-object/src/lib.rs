//! What an eBPF object holds, read from its ELF and BTF: programs with their
//! types and attach targets, maps with their key, value and record types,
//! `.rodata` variables settable at load time, the license, and what the
//! kernel must offer to load it.
//!
//! `package` stores the result in the image metadata; `inspect` and the
//! runtime read it back. The ELF is read with `object`; aya-obj (the parser
//! the runtime's loader uses) must accept the object too, so an object the
//! runtime cannot load is refused when it is packaged, not on the host.

pub mod attach;
pub mod btf;
mod cdecl;
pub mod desc;
mod dwarf;
pub mod maps;
mod strip;
pub mod text;
mod value;

use std::collections::{BTreeMap, BTreeSet};

use ebpf_kinds::classify_section;
use object::{Object as _, ObjectSection as _, ObjectSymbol as _};
use serde::{Deserialize, Serialize};

pub use btf::Btf;
pub use desc::{EnumValue, Field, TypeDesc};
pub use ebpf_kinds::{KernelNeed, ProgramType};
pub use maps::Display;
pub use strip::strip_debug;

/// Why an object cannot be packaged or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("not an ELF object ({0})")]
    NotElf(String),
    #[error(
        "not an eBPF object: it is built for {0}, not for the BPF target (build it with clang -target bpf or bpf-linker)"
    )]
    NotBpf(String),
    #[error("no license: add a `license` section (`char LICENSE[] SEC(\"license\") = \"GPL\";`)")]
    NoLicense,
    #[error(
        "no programs: no global function sits in a program section (`SEC(\"xdp\")`, `#[xdp]`, ...)"
    )]
    NoPrograms,
    #[error(
        "program `{function}` is in section `{section}`, which names no program type cargo-ebpf knows; use a libbpf section name (see `cargo ebpf new --list`)"
    )]
    UnknownSection { function: String, section: String },
    #[error(
        "program `{function}` is in section `{section}`, a libbpf program type cargo-ebpf does not package: {why}"
    )]
    UnsupportedSection {
        function: String,
        section: String,
        why: &'static str,
    },
    #[error(
        "section `{section}` is not one aya (the loader of bpf-runtime and bpfman) knows; {hint}"
    )]
    LoaderSection { section: String, hint: String },
    #[error("aya (the loader of bpf-runtime and bpfman) cannot read it: {0}")]
    Loader(String),
    #[error(transparent)]
    Btf(#[from] btf::BtfError),
    #[error(
        "the object is malformed: its parser failed on it ({0}); rebuild it, or report the file"
    )]
    Malformed(String),
    #[error(
        "map `{map}`: record type `{record}` is not a struct of the object (neither its BTF nor its DWARF describes it)"
    )]
    UnknownRecord { map: String, record: String },
    #[error("ebpf.toml describes map `{0}`, which the object does not define")]
    UnknownMap(String),
    #[error(
        "ebpf.toml describes variable `{0}`, which is not a global variable (`.rodata`, `.data` or `.bss`) of the object"
    )]
    UnknownVariable(String),
}

/// What ebpf.toml adds to what the object says.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    pub maps: BTreeMap<String, MapHint>,
    /// Variable name → help text.
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct MapHint {
    /// Name of the BTF struct of the records an event map carries.
    pub record: Option<String>,
    pub display: Option<Display>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endianness {
    Little,
    Big,
}

/// Everything the image metadata records about one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub endianness: Endianness,
    pub license: String,
    pub programs: Vec<ProgramInfo>,
    pub maps: Vec<MapInfo>,
    pub variables: Vec<Variable>,
    /// The format strings of the programs' `bpf_printk` calls (at most
    /// [`MAX_PRINTS`]): what the runtime shows of the trace pipe.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prints: Vec<String>,
    pub kernel: KernelRequirements,
}

/// How many `bpf_printk` formats an object's metadata lists, and how long
/// each may be.
pub const MAX_PRINTS: usize = 256;
pub const MAX_PRINT_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramInfo {
    /// The function name.
    pub name: String,
    pub section: String,
    #[serde(rename = "type")]
    pub ty: ProgramType,
    /// The attach target the section names (`sched/sched_process_exec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Default attach arguments, from ebpf.toml; overridable at run time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attach: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapInfo {
    pub name: String,
    /// libbpf's (and bpfman's) name of the map type.
    #[serde(rename = "type")]
    pub ty: String,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<TypeDesc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<TypeDesc>,
    pub display: Display,
    /// For event maps: the struct of the records, when the BTF has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<TypeDesc>,
}

/// A `.rodata` global (`const volatile` in C, a `static` read with
/// `read_volatile` in Rust) that may be set before load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: TypeDesc,
    /// The section holding it: `.rodata`, `.data` or `.bss`.
    #[serde(default = "rodata", skip_serializing_if = "is_rodata")]
    pub section: String,
    /// Offset in its section.
    pub offset: u32,
    pub default: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// What the kernel must offer, derived from the object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelRequirements {
    /// The first mainline version that has everything below (`5.8`).
    pub min_version: String,
    /// Program types, by cargo-ebpf's names.
    pub program_types: Vec<ProgramType>,
    /// Map types, by libbpf's names.
    pub map_types: Vec<String>,
    pub features: Vec<KernelNeed>,
}

const RODATA: &str = ".rodata";
/// The sections whose global variables may be set at load time: the
/// read-only ones (`const volatile`) and the writable ones (`.data`,
/// `.bss`: a pid filter written as a plain global).
const DATA_SECTIONS: [&str; 3] = [RODATA, ".data", ".bss"];

fn is_rodata(section: &str) -> bool {
    section == RODATA
}

fn rodata() -> String {
    RODATA.to_string()
}

/// Runs `f`, a parser of hostile bytes, and turns a panic in it (a
/// dependency's assertion on a malformed object) into an error message,
/// printing nothing: a bad file is one line, never a crash.
pub fn without_panics<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "it panicked".into())
    })
}

/// Reads an object and applies `hints` from ebpf.toml.
pub fn analyze(data: &[u8], hints: &Hints) -> Result<ObjectInfo, ObjectError> {
    without_panics(|| analyze_unguarded(data, hints))
        .unwrap_or_else(|why| Err(ObjectError::Malformed(why)))
}

fn analyze_unguarded(data: &[u8], hints: &Hints) -> Result<ObjectInfo, ObjectError> {
    let file = bpf_file(data)?;
    let big = !file.is_little_endian();
    let license = file
        .section_by_name("license")
        .and_then(|s| s.data().ok())
        .map(|d| {
            let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
            String::from_utf8_lossy(&d[..end]).into_owned()
        })
        .filter(|l| !l.is_empty())
        .ok_or(ObjectError::NoLicense)?;
    let programs = programs(&file)?;
    let btf = file
        .section_by_name(".BTF")
        .and_then(|s| s.data().ok())
        .map(Btf::parse)
        .transpose()?;
    let core = file
        .section_by_name(".BTF.ext")
        .and_then(|s| s.data().ok())
        .is_some_and(|d| btf::ext_has_core_relocs(d, big));

    // aya-obj reads the maps of every object it accepts (bpfman loads with
    // it). It refuses section names it does not know (`ksyscall/`, `usdt`,
    // `tc`): objects with BTF-defined maps load with libbpf in
    // bpf-runtime, so their maps are read from the BTF here instead.
    let (defs, global_data) = match aya_obj::Object::parse(data) {
        Ok(loader) => {
            let mut global_data = false;
            let mut defs = Vec::new();
            for (name, map) in &loader.maps {
                if matches!(
                    map.section_kind(),
                    aya_obj::EbpfSectionKind::Maps | aya_obj::EbpfSectionKind::BtfMaps
                ) {
                    defs.push((name.clone(), MapDef::of_aya(map)));
                } else {
                    global_data = true;
                }
            }
            (defs, global_data)
        }
        Err(aya_obj::ParseError::InvalidProgramSection { .. })
            if !legacy_maps(&file) && btf.is_some() =>
        {
            let btf = btf.as_ref().expect("checked");
            (btf_map_defs(btf), has_global_data(&file))
        }
        Err(e) => return Err(loader_error(e)),
    };
    let mut maps = Vec::new();
    for (name, def) in &defs {
        maps.push(map_info(
            &file,
            name,
            def,
            btf.as_ref(),
            hints.maps.get(name),
        )?);
    }
    maps.sort_by(|a, b| a.name.cmp(&b.name));
    for name in hints.maps.keys() {
        if !maps.iter().any(|m| &m.name == name) {
            return Err(ObjectError::UnknownMap(name.clone()));
        }
    }
    // Without a hint, the one event map carries the struct named `event`
    // (`Event` in Rust), as in the templates.
    let event_maps: Vec<usize> = (0..maps.len())
        .filter(|&i| maps[i].display == Display::Events)
        .collect();
    if let [only] = event_maps.as_slice()
        && maps[*only].record.is_none()
    {
        maps[*only].record = match record_type(&file, btf.as_ref(), "event")? {
            Some(r) => Some(r),
            None => match record_type(&file, btf.as_ref(), "Event")? {
                Some(r) => Some(r),
                None => lone_event_struct(&file, btf.as_ref())?,
            },
        };
    }

    let variables = variables(&file, btf.as_ref(), &hints.variables, big)?;
    let prints = print_formats(&file);

    let mut program_types: Vec<ProgramType> = programs.iter().map(|p| p.ty).collect();
    program_types.sort();
    program_types.dedup();
    let map_types: BTreeSet<String> = maps.iter().map(|m| m.ty.clone()).collect();
    let mut features: BTreeSet<KernelNeed> = program_types
        .iter()
        .flat_map(|t| t.info().needs.iter().copied())
        .collect();
    if core {
        features.insert(KernelNeed::KernelBtf);
    }
    if global_data {
        features.insert(KernelNeed::GlobalData);
    }
    let min = program_types
        .iter()
        .map(|t| t.info().min_kernel)
        .chain(
            map_types
                .iter()
                .filter_map(|m| maps::by_name(m))
                .map(|m| m.min_kernel),
        )
        .chain(features.iter().map(|f| f.min_kernel()))
        .max()
        .unwrap_or((4, 18));
    Ok(ObjectInfo {
        endianness: if big {
            Endianness::Big
        } else {
            Endianness::Little
        },
        license,
        programs,
        maps,
        variables,
        prints,
        kernel: KernelRequirements {
            min_version: format!("{}.{}", min.0, min.1),
            program_types,
            map_types: map_types.into_iter().collect(),
            features: features.into_iter().collect(),
        },
    })
}

fn loader_error(e: aya_obj::ParseError) -> ObjectError {
    match e {
        aya_obj::ParseError::InvalidProgramSection { section } => {
            let hint = match classify_section(&section) {
                Some(s) if s.ty.section(s.target.as_deref()) != section => format!(
                    "name it `{}` as the {} template does",
                    s.ty.section(s.target.as_deref()),
                    s.ty.name()
                ),
                Some(s) => format!("it cannot load {} programs", s.ty.name()),
                None => "use a section name from `cargo ebpf new --list`".to_string(),
            };
            ObjectError::LoaderSection { section, hint }
        }
        e => ObjectError::Loader(e.to_string()),
    }
}

/// Whether the object keeps maps in the legacy `maps` section (as aya-ebpf's
/// `#[map]` does; libbpf 1.0 dropped it for BTF-defined `.maps`). `false`
/// for what is not an ELF object.
pub fn has_legacy_maps(data: &[u8]) -> bool {
    object::File::parse(data).is_ok_and(|f| legacy_maps(&f))
}

fn legacy_maps(file: &object::File<'_>) -> bool {
    file.section_by_name("maps").is_some()
}

/// A function in a program section: (function name, section name).
pub type ProgramSymbol = (String, String);

/// The global functions of an object in sections other than `.text`
/// (where libbpf, cilium/ebpf and aya look for programs), by name.
pub fn program_symbols(data: &[u8]) -> Result<Vec<ProgramSymbol>, ObjectError> {
    let file = bpf_file(data)?;
    Ok(symbols(&file))
}

fn bpf_file(data: &[u8]) -> Result<object::File<'_>, ObjectError> {
    let file = object::File::parse(data).map_err(|e| ObjectError::NotElf(e.to_string()))?;
    if file.architecture() != object::Architecture::Bpf {
        return Err(ObjectError::NotBpf(
            format!("{:?}", file.architecture()).to_lowercase(),
        ));
    }
    Ok(file)
}

fn symbols(file: &object::File<'_>) -> Vec<ProgramSymbol> {
    let mut out = Vec::new();
    for sym in file.symbols() {
        if sym.kind() != object::SymbolKind::Text || !sym.is_global() {
            continue;
        }
        let Some(section) = sym
            .section_index()
            .and_then(|i| file.section_by_index(i).ok())
        else {
            continue;
        };
        let Ok(section) = section.name() else {
            continue;
        };
        if section != ".text" {
            out.push((sym.name().unwrap_or("").to_string(), section.to_string()));
        }
    }
    out.sort();
    out
}

/// The programs of an object, each in a section of a known type.
fn programs(file: &object::File<'_>) -> Result<Vec<ProgramInfo>, ObjectError> {
    let out = symbols(file)
        .into_iter()
        .map(|(function, section)| {
            let kind = classify_section(&section).ok_or_else(|| match unsupported(&section) {
                Some(why) => ObjectError::UnsupportedSection {
                    function: function.clone(),
                    section: section.clone(),
                    why,
                },
                None => ObjectError::UnknownSection {
                    function: function.clone(),
                    section: section.clone(),
                },
            })?;
            Ok(ProgramInfo {
                name: function,
                section,
                ty: kind.ty,
                target: kind.target,
                attach: BTreeMap::new(),
            })
        })
        .collect::<Result<Vec<_>, ObjectError>>()?;
    if out.is_empty() {
        return Err(ObjectError::NoPrograms);
    }
    Ok(out)
}

/// libbpf's section names of program types cargo-ebpf does not package,
/// each with what they are: refused by name rather than as unknown.
const UNSUPPORTED: &[(&str, &str)] = &[
    (
        "iter/",
        "an iterator runs when its file is read (`bpftool iter pin`), not on an event",
    ),
    (
        "iter.s/",
        "an iterator runs when its file is read (`bpftool iter pin`), not on an event",
    ),
    (
        "struct_ops",
        "struct_ops programs implement a kernel interface (TCP congestion control, sched_ext) through their map",
    ),
    (
        "sk_msg",
        "socket-map programs need a sockmap that user space fills",
    ),
    (
        "sk_skb",
        "socket-map programs need a sockmap that user space fills",
    ),
    ("sockops", "attach it to a cgroup with its own user space"),
    ("cgroup/", "only cgroup_skb is attached by bpf-runtime"),
    ("flow_dissector", "attach it with its own user space"),
    ("sk_lookup", "attach it with its own user space"),
    ("netfilter", "attach it with its own user space"),
    (
        "lwt_",
        "attach it with its own user space (ip route ... encap bpf)",
    ),
    (
        "syscall",
        "a syscall program is run by its user space (BPF_PROG_RUN)",
    ),
    (
        "freplace/",
        "an freplace program replaces a function of another loaded program",
    ),
    (
        "kprobe.session/",
        "kprobe sessions are not attached by bpf-runtime",
    ),
    (
        "uprobe.multi",
        "multi-uprobes are not attached by bpf-runtime",
    ),
    (
        "uretprobe.multi",
        "multi-uprobes are not attached by bpf-runtime",
    ),
];

fn unsupported(section: &str) -> Option<&'static str> {
    UNSUPPORTED
        .iter()
        .find(|(prefix, _)| section.starts_with(prefix))
        .map(|(_, why)| *why)
}

/// The struct `name` of an event map's records: from the object's BTF, else
/// from its DWARF (clang leaves structs used only through locals and
/// pointers out of BTF).
fn record_type(
    file: &object::File<'_>,
    btf: Option<&Btf>,
    name: &str,
) -> Result<Option<TypeDesc>, ObjectError> {
    if let Some(btf) = btf
        && let Some(id) = btf.struct_by_name(name)
    {
        return Ok(Some(btf.describe(id)?));
    }
    Ok(dwarf::struct_by_name(file, name))
}

/// The one struct of the object's BTF whose name ends in `_event`
/// (capable's `struct cap_event`, a map's value type), when there is
/// exactly one. (Not its DWARF: that describes every kernel struct the
/// program's types reach, `perf_event` and `fsnotify_event` among them.)
fn lone_event_struct(
    file: &object::File<'_>,
    btf: Option<&Btf>,
) -> Result<Option<TypeDesc>, ObjectError> {
    let Some(b) = btf else {
        return Ok(None);
    };
    match b.struct_names(|n| n.ends_with("_event")).as_slice() {
        [only] => record_type(file, btf, only),
        _ => Ok(None),
    }
}

/// A map's definition: from aya-obj's parse, or from the object's BTF.
#[derive(Default)]
struct MapDef {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    /// BTF type ids of the key and value; 0 when the BTF names none.
    key_type: u32,
    value_type: u32,
}

impl MapDef {
    fn of_aya(map: &aya_obj::Map) -> MapDef {
        let (key_type, value_type) = match map {
            aya_obj::Map::Btf(m) => (m.def.btf_key_type_id, m.def.btf_value_type_id),
            _ => (0, 0),
        };
        MapDef {
            map_type: map.map_type(),
            key_size: map.key_size(),
            value_size: map.value_size(),
            max_entries: map.max_entries(),
            key_type,
            value_type,
        }
    }
}

/// The maps of the `.maps` section, read as libbpf reads them: each
/// variable is a struct whose `type`, `max_entries`, `key_size`,
/// `value_size` members are pointers to arrays of that many elements
/// (`__uint`), and whose `key` and `value` members point to their types
/// (`__type`).
fn btf_map_defs(btf: &Btf) -> Vec<(String, MapDef)> {
    let mut out = Vec::new();
    for (name, ty) in btf.datasec_vars(".maps") {
        let Some(btf::Kind::Struct { members, .. }) = btf.kind(btf.resolve(ty)) else {
            continue;
        };
        let mut def = MapDef::default();
        for m in members {
            let Some(&btf::Kind::Ptr(target)) = btf.kind(btf.resolve(m.ty)) else {
                continue;
            };
            let number = || match btf.kind(btf.resolve(target)) {
                Some(&btf::Kind::Array { len, .. }) => len,
                _ => 0,
            };
            match btf.string(m.name) {
                "type" => def.map_type = number(),
                "max_entries" => def.max_entries = number(),
                "key_size" => def.key_size = number(),
                "value_size" => def.value_size = number(),
                "key" => {
                    def.key_type = target;
                    def.key_size = btf.size_of(target).unwrap_or(0);
                }
                "value" => {
                    def.value_type = target;
                    def.value_size = btf.size_of(target).unwrap_or(0);
                }
                _ => {}
            }
        }
        out.push((name, def));
    }
    out
}

/// Whether the object has global variables (`.rodata`, `.data`, `.bss`,
/// and their `.NAME` variants), which load as internal array maps.
fn has_global_data(file: &object::File<'_>) -> bool {
    file.sections().any(|s| {
        s.name().is_ok_and(|n| {
            [".rodata", ".data", ".bss"].iter().any(|d| {
                n == *d
                    || (n.starts_with(d) && n[d.len()..].starts_with('.') && !n.contains(".str"))
            })
        }) && s.size() > 0
    })
}

fn map_info(
    file: &object::File<'_>,
    name: &str,
    map: &MapDef,
    btf: Option<&Btf>,
    hint: Option<&MapHint>,
) -> Result<MapInfo, ObjectError> {
    let row = maps::by_id(map.map_type);
    let (key, value) = match btf {
        Some(btf) => {
            let describe = |id: u32| (id != 0).then(|| btf.describe(id)).transpose();
            (describe(map.key_type)?, describe(map.value_type)?)
        }
        None => (None, None),
    };
    // libbpf's own maps for USDT arguments (`usdt.bpf.h`) say nothing to
    // the user.
    let libbpf_internal = name.starts_with("__bpf_usdt_");
    let display = hint
        .and_then(|h| h.display)
        .or(row.map(|r| r.display).filter(|_| !libbpf_internal))
        .unwrap_or(Display::Hidden);
    let record = match hint.and_then(|h| h.record.as_deref()) {
        Some(record) => {
            Some(
                record_type(file, btf, record)?.ok_or_else(|| ObjectError::UnknownRecord {
                    map: name.into(),
                    record: record.into(),
                })?,
            )
        }
        None => None,
    };
    Ok(MapInfo {
        name: name.to_string(),
        ty: row.map_or_else(|| format!("type_{}", map.map_type), |r| r.name.to_string()),
        key_size: map.key_size,
        value_size: map.value_size,
        max_entries: map.max_entries,
        key,
        value,
        display,
        record,
    })
}

/// The format strings of `bpf_printk` (`static const char ____fmt[]` in
/// each calling function, in `.rodata`: a local symbol `FUNC.____fmt`), in
/// symbol order, without duplicates; bounded by [`MAX_PRINTS`] and
/// [`MAX_PRINT_LEN`].
fn print_formats(file: &object::File<'_>) -> Vec<String> {
    let Some(section) = file.section_by_name(RODATA) else {
        return Vec::new();
    };
    let (index, data) = (section.index(), section.data().unwrap_or_default());
    let mut out: Vec<String> = Vec::new();
    for sym in file.symbols() {
        if out.len() >= MAX_PRINTS {
            break;
        }
        if sym.section_index() != Some(index) || !sym.name().is_ok_and(|n| n.ends_with("____fmt")) {
            continue;
        }
        let Some(bytes) = usize::try_from(sym.address())
            .ok()
            .and_then(|at| data.get(at..))
            .and_then(|d| d.get(..usize::try_from(sym.size()).ok()?))
        else {
            continue;
        };
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        let text = String::from_utf8_lossy(&bytes[..end.min(MAX_PRINT_LEN)]);
        let text = text.trim_end_matches('\n').to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push(text);
        }
    }
    out
}

/// The `.rodata` variables: names and types from BTF, offsets from the symbol
/// table (the BTF of an unloaded object may leave them zero), defaults from
/// the section's bytes.
fn variables(
    file: &object::File<'_>,
    btf: Option<&Btf>,
    help: &BTreeMap<String, String>,
    big: bool,
) -> Result<Vec<Variable>, ObjectError> {
    let mut out = Vec::new();
    for section_name in DATA_SECTIONS {
        let (Some(btf), Some(section)) = (btf, file.section_by_name(section_name)) else {
            continue;
        };
        // `.bss` has no bytes in the file: its variables start as zeros.
        let zeros;
        let data = if section.kind() == object::SectionKind::UninitializedData {
            zeros = vec![0u8; usize::try_from(section.size()).unwrap_or(0).min(1 << 20)];
            &zeros[..]
        } else {
            section.data().unwrap_or_default()
        };
        let index = section.index();
        for (name, ty) in btf.datasec_vars(section_name) {
            let Some(sym) = file
                .symbols()
                .find(|s| s.section_index() == Some(index) && s.name() == Ok(name.as_str()))
            else {
                continue;
            };
            let ty = btf.describe(ty)?;
            // A pointer means nothing to set from outside (the templates
            // keep a pointer to their event struct only to put it in BTF).
            if matches!(ty, TypeDesc::Pointer { .. }) {
                continue;
            }
            let offset = sym.address() as u32;
            let bytes = data.get(offset as usize..).unwrap_or_default();
            out.push(Variable {
                default: ty.decode(bytes, big),
                help: help.get(&name).cloned(),
                section: section_name.to_string(),
                name,
                ty,
                offset,
            });
        }
    }
    out.sort_by(|a, b| {
        (
            DATA_SECTIONS.iter().position(|s| *s == a.section),
            a.offset,
            &a.name,
        )
            .cmp(&(
                DATA_SECTIONS.iter().position(|s| *s == b.section),
                b.offset,
                &b.name,
            ))
    });
    for name in help.keys() {
        if !out.iter().any(|v| &v.name == name) {
            return Err(ObjectError::UnknownVariable(name.clone()));
        }
    }
    Ok(out)
}
