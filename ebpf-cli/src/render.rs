//! How `inspect` and `images` show images, in both tools.

use std::fmt::Write as _;

use ebpf_object::{Display, TypeDesc};
use ebpf_oci::images::{ImageRow, Inspection};

use crate::output::{Align, Table, human_size, short_digest};

/// A type in one line: `__u32`, `char[16]`, `struct event { pid: __u32, ... }`.
fn type_line(t: &TypeDesc) -> String {
    match t {
        TypeDesc::Struct { fields, .. } | TypeDesc::Union { fields, .. } => {
            let fields: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.name, f.ty.c_name()))
                .collect();
            format!("{} {{ {} }}", t.c_name(), fields.join(", "))
        }
        _ => t.c_name(),
    }
}

/// The human form of `inspect`.
/// `inspect`'s text. What images say is escaped for the terminal.
pub fn inspection(i: &Inspection) -> String {
    ebpf_object::text::escape_controls(&inspection_text(i)).into_owned()
}

fn inspection_text(i: &Inspection) -> String {
    let mut s = String::new();
    let kind = if i.platforms.len() > 1 {
        "image index"
    } else {
        "image manifest"
    };
    let _ = writeln!(
        s,
        "{}  {}",
        i.tag.as_deref().unwrap_or(&i.reference),
        i.digest
    );
    let _ = writeln!(
        s,
        "  {kind}, {} platform(s), {}",
        i.platforms.len(),
        human_size(i.size)
    );
    let Some(first) = i.platforms.first() else {
        return s;
    };
    let md = &first.metadata;
    let row = |s: &mut String, k: &str, v: &str| {
        if !v.is_empty() {
            let _ = writeln!(s, "  {k:<12} {v}");
        }
    };
    row(&mut s, "name", &format!("{} {}", md.name, md.version));
    row(&mut s, "description", &md.description);
    row(&mut s, "license", &md.license);
    row(&mut s, "authors", &md.authors.join(", "));
    row(&mut s, "source", md.source.as_deref().unwrap_or(""));
    row(&mut s, "revision", md.revision.as_deref().unwrap_or(""));
    row(&mut s, "created", first.created.as_deref().unwrap_or(""));
    let t = &i.trust;
    let verdict = if t.accepted { "accepted" } else { "refused" };
    let require = match t.require {
        ebpf_oci::sign::policy::Require::Nothing => "nothing required",
        ebpf_oci::sign::policy::Require::Signature => "signature required",
    };
    row(
        &mut s,
        "trust",
        &format!(
            "{verdict}: {} ({require}; policy {}, scope `{}`)",
            t.summary(),
            t.policy,
            t.scope
        ),
    );
    for sig in &i.signatures {
        let judged = match (&sig.verified_by, &sig.problem) {
            (Some(k), _) => format!("verified as {k}"),
            (None, Some(p)) => format!("not counted: {p}"),
            (None, None) => String::new(),
        };
        let kind = match &sig.certificate {
            Some(c) => format!(
                "keyless {} (issuer {})",
                if c.identities.is_empty() {
                    "-".into()
                } else {
                    c.identities.join(", ")
                },
                c.issuer.as_deref().unwrap_or("-")
            ),
            None => "key".into(),
        };
        let _ = writeln!(
            s,
            "  {:<12} {} {}  {kind}  {judged}",
            "signature",
            short_digest(&sig.digest),
            sig.docker_reference
        );
    }
    for p in &i.platforms {
        let md = &p.metadata;
        let o = &md.object;
        let _ = writeln!(
            s,
            "\n{} ({}, {}-endian)  manifest {}  {}",
            p.platform,
            md.arch,
            if o.endianness == ebpf_object::Endianness::Big {
                "big"
            } else {
                "little"
            },
            short_digest(&p.manifest),
            human_size(p.size)
        );
        if md.origin == ebpf_oci::format::Origin::Derived {
            let _ = writeln!(
                s,
                "  not packaged by cargo-ebpf: what follows is read from the bytecode's ELF"
            );
        }
        let _ = writeln!(s, "  layers");
        for l in &p.layers {
            let _ = writeln!(
                s,
                "    {:<10} {}  {:>9}  {}",
                l.role,
                short_digest(&l.digest),
                human_size(l.size),
                l.media_type
            );
        }
        let _ = writeln!(
            s,
            "  programs (bytecode {}, license \"{}\")",
            md.bytecode, o.license
        );
        for prog in &o.programs {
            let info = prog.ty.info();
            let mut args: Vec<String> = prog
                .attach
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        v.as_str().map_or_else(|| v.to_string(), str::to_string)
                    )
                })
                .collect();
            for a in info
                .args
                .iter()
                .filter(|a| a.required && a.default.is_none())
            {
                if !prog.attach.contains_key(a.arg.name()) {
                    args.push(format!("{}=<required>", a.arg.name()));
                }
            }
            let target = prog
                .target
                .as_deref()
                .map(|t| format!(" → {t}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "    {:<20} {:<14} {}{}{}",
                prog.name,
                info.name,
                prog.section,
                target,
                if args.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", args.join(" "))
                }
            );
        }
        if !o.maps.is_empty() {
            let _ = writeln!(s, "  maps");
            for m in &o.maps {
                let kv = match (&m.key, &m.value) {
                    (Some(k), Some(v)) => format!("{} → {}", k.c_name(), v.c_name()),
                    (None, Some(v)) => v.c_name(),
                    _ if m.key_size + m.value_size > 0 => {
                        format!("{} B → {} B", m.key_size, m.value_size)
                    }
                    _ => String::new(),
                };
                let shown = match m.display {
                    Display::Events => "events",
                    Display::Counters => "counters",
                    Display::Log2Histogram => "log2 histogram",
                    Display::Hidden => "not shown",
                };
                let _ = writeln!(
                    s,
                    "    {:<20} {:<16} max {:<7} {:<28} shown as {shown}",
                    m.name, m.ty, m.max_entries, kv
                );
                if m.display == Display::Events {
                    match &m.record {
                        Some(r) => {
                            let _ = writeln!(s, "      record {}", type_line(r));
                        }
                        None => {
                            let _ = writeln!(
                                s,
                                "      record type unknown (not in the object's BTF): shown as bytes"
                            );
                        }
                    }
                }
            }
        }
        if !o.variables.is_empty() {
            let _ = writeln!(s, "  variables (set with --set NAME=VALUE)");
            for v in &o.variables {
                let _ = writeln!(
                    s,
                    "    {:<20} {:<14} default {}{}",
                    v.name,
                    v.ty.c_name(),
                    v.default,
                    v.help
                        .as_deref()
                        .map(|h| format!("  {h}"))
                        .unwrap_or_default()
                );
            }
        }
        let k = &o.kernel;
        let _ = writeln!(s, "  kernel       Linux {}+", k.min_version);
        let types: Vec<&str> = k.program_types.iter().map(|t| t.name()).collect();
        let _ = writeln!(s, "    program types  {}", types.join(", "));
        if !k.map_types.is_empty() {
            let _ = writeln!(s, "    map types      {}", k.map_types.join(", "));
        }
        for f in &k.features {
            let _ = writeln!(s, "    needs          {}", f.describe());
        }
        if let Some(us) = &md.userspace {
            let _ = writeln!(
                s,
                "  user space   {}{}",
                us.path,
                if us.static_binary {
                    " (static)"
                } else {
                    " (dynamically linked: needs a compatible libc on the host)"
                }
            );
        }
        for f in &md.files {
            let _ = writeln!(
                s,
                "  file         {}{}",
                f.path,
                if f.executable { " (executable)" } else { "" }
            );
        }
    }
    s
}

/// The table `images` prints. What images say is escaped for the terminal.
pub fn image_list(rows: &[ImageRow]) -> String {
    ebpf_object::text::escape_controls(&image_table(rows)).into_owned()
}

fn image_table(rows: &[ImageRow]) -> String {
    let mut t = Table::new(&[
        ("TAG", Align::Left, 3),
        ("DIGEST", Align::Left, 12),
        ("PLATFORMS", Align::Left, 24),
        ("SIZE", Align::Right, 9),
        ("CREATED", Align::Left, 0),
    ]);
    for r in rows {
        t.row(vec![
            r.tag.clone(),
            short_digest(&r.digest).to_string(),
            match &r.error {
                Some(_) => "(unreadable)".into(),
                None => r.platforms.join(","),
            },
            human_size(r.size),
            r.created.clone().unwrap_or_default(),
        ]);
    }
    t.render()
}
