//! `cargo ebpf new` and `cargo ebpf init`: projects from templates, and
//! manifests for existing sources.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use ebpf_kinds::{ProgramType, classify_section};

use crate::error::{Error, Result};
use crate::fsutil::{files, write_atomic};
use crate::lang::Language;
use crate::manifest::{self, Build, Manifest, PackageTable, Program};
use crate::templates::{self, Ci, Request};

#[derive(Debug, Clone)]
pub struct NewOptions {
    pub path: PathBuf,
    /// Project name; defaults to the last component of `path`.
    pub name: Option<String>,
    pub lang: Option<Language>,
    pub ty: Option<ProgramType>,
    pub ci: Ci,
    pub force: bool,
}

/// Asks on a terminal for a missing choice; elsewhere (CI, pipes) a missing
/// choice is an error naming the flag.
fn choose<T: Copy>(what: &str, flag: &str, options: &[(T, String)]) -> Result<T> {
    let names: Vec<&str> = options.iter().map(|(_, n)| n.as_str()).collect();
    let stdin = std::io::stdin();
    if !stdin.is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Error::usage(format!(
            "missing {flag}: choose the {what} ({})",
            names.join(", ")
        )));
    }
    let mut err = std::io::stderr();
    for (i, n) in names.iter().enumerate() {
        let _ = writeln!(err, "  {:>2}) {n}", i + 1);
    }
    loop {
        let _ = write!(err, "{what} [1-{}]: ", names.len());
        let _ = err.flush();
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
            return Err(Error::usage(format!("missing {flag}: no {what} chosen")));
        }
        let line = line.trim();
        if let Ok(i) = line.parse::<usize>()
            && (1..=options.len()).contains(&i)
        {
            return Ok(options[i - 1].0);
        }
        if let Some((v, _)) = options.iter().find(|(_, n)| n == line) {
            return Ok(*v);
        }
    }
}

fn pick_lang(lang: Option<Language>) -> Result<Language> {
    match lang {
        Some(l) => Ok(l),
        None => choose(
            "language",
            "--lang",
            &Language::ALL.map(|l| (l, l.name().to_string())),
        ),
    }
}

/// Creates a new project directory from the templates. Returns the files
/// written, relative to the project.
pub fn new_project(opts: &NewOptions) -> Result<Vec<PathBuf>> {
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => opts
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::usage(format!(
                    "cannot take a project name from {}; pass --name",
                    opts.path.display()
                ))
            })?
            .to_string(),
    };
    let lang = pick_lang(opts.lang)?;
    lang.validate_name(&name)?;
    let ty = match opts.ty {
        Some(t) => t,
        None => {
            let types: Vec<(ProgramType, String)> = ProgramType::templated()
                .filter(|t| templates::unsupported_reason(lang, *t).is_none())
                .map(|t| (t, format!("{:<15} {}", t.name(), t.info().summary)))
                .collect();
            let named: Vec<(ProgramType, String)> = types
                .iter()
                .map(|(t, _)| (*t, t.name().to_string()))
                .collect();
            if std::io::stdin().is_terminal() {
                for (_, line) in &types {
                    eprintln!("{line}");
                }
            }
            choose("program type", "--type", &named)?
        }
    };
    let files = templates::render(&Request {
        name: name.clone(),
        lang,
        ty,
        ci: opts.ci,
    })?;

    let dir = &opts.path;
    let non_empty = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if non_empty && !opts.force {
        return Err(Error::usage(format!(
            "destination {} exists and is not empty; choose another name or pass --force to write into it",
            dir.display()
        )));
    }
    if dir.exists() {
        for f in &files {
            write_atomic(&dir.join(&f.path), &f.contents, f.executable)?;
        }
    } else {
        // Render into a sibling staging directory, then rename it into place:
        // an interrupted `new` leaves no half-made project behind.
        let parent = dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(Error::io("create directory", parent))?;
        remove_dead_staging(parent);
        // A signal stops the writing and removes the staging directory; one
        // a SIGKILL left behind names a dead pid and goes next time.
        let stop = ebpf_oci::fs::SignalGuard::catch();
        let staging = tempfile::Builder::new()
            .prefix(&format!("{STAGING}{}-", std::process::id()))
            .tempdir_in(parent)
            .map_err(Error::io("create a staging directory in", parent))?;
        let interrupted = || Error::Interrupted {
            what: format!("{} was not created", dir.display()),
        };
        for f in &files {
            if stop.stopped() {
                return Err(interrupted());
            }
            write_atomic(&staging.path().join(&f.path), &f.contents, f.executable)?;
        }
        if stop.stopped() {
            return Err(interrupted());
        }
        let staged = staging.keep();
        std::fs::rename(&staged, dir).map_err(|e| {
            let _ = std::fs::remove_dir_all(&staged);
            Error::Io {
                action: "create",
                path: dir.clone(),
                source: e,
            }
        })?;
    }
    Ok(files.into_iter().map(|f| f.path).collect())
}

/// The name of a staging directory starts with this, then the pid.
const STAGING: &str = ".cargo-ebpf-new-";

/// Removes the staging directories in `parent` of `new`s that were killed.
fn remove_dead_staging(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = ebpf_oci::fs::owner_pid(&name.to_string_lossy(), STAGING) else {
            continue;
        };
        if !ebpf_oci::fs::process_alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A `SEC("...")` program found in a C source: section and function name.
fn scan_programs(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("SEC(\"") {
        let after = &rest[at + 5..];
        let Some(end) = after.find('"') else { break };
        let section = &after[..end];
        rest = &after[end..];
        // The function name: the identifier before the first `(` after the
        // section, or the macro's first argument (BPF_PROG(name, ...)).
        let Some(paren) = rest.find('(') else { break };
        let head = &rest[1..paren];
        if head.contains(';') || head.contains("SEC(") {
            continue; // a map or variable, not a function
        }
        let ident_before = head
            .trim_end()
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        let name = if ident_before.starts_with("BPF_") {
            let args = &rest[paren + 1..];
            args.split([',', ')'])
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        } else {
            ident_before.to_string()
        };
        if !name.is_empty() {
            found.push((section.to_string(), name));
        }
    }
    found
}

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub path: PathBuf,
    pub name: Option<String>,
    pub lang: Option<Language>,
    pub force: bool,
}

/// Writes an `ebpf.toml` for existing sources in `path`, describing the
/// programs found in its `*.bpf.c` files. Returns the manifest written and
/// warnings about what it left out.
pub fn init_project(opts: &InitOptions) -> Result<(Manifest, Vec<String>)> {
    let dir = &opts.path;
    let lang = pick_lang(opts.lang)?;
    let manifest_path = dir.join(manifest::FILE_NAME);
    if manifest_path.exists() && !opts.force {
        return Err(Error::usage(format!(
            "{} exists already; edit it, or pass --force to replace it",
            manifest_path.display()
        )));
    }
    let abs = std::fs::canonicalize(dir).map_err(Error::io("open", dir))?;
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => abs
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.to_ascii_lowercase().replace([' ', '.'], "-"))
            .unwrap_or_default(),
    };
    lang.validate_name(&name)?;

    let bpf_dir = match lang {
        Language::Rust => None,
        _ => ["src", "bpf", "."]
            .into_iter()
            .find(|d| has_bpf_sources(&dir.join(d))),
    };
    let mut programs = Vec::new();
    let mut licenses = std::collections::BTreeSet::new();
    let mut warnings = Vec::new();
    if let Some(sub) = bpf_dir {
        let sources = files(&dir.join(sub), is_bpf_source)?;
        let several = sources.len() > 1;
        for src in &sources {
            let text = std::fs::read_to_string(src).map_err(Error::io("read", src))?;
            let file = src.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let stem = file.trim_end_matches(".bpf.c");
            licenses.extend(source_license(&text));
            for (section, name) in scan_programs(&text) {
                match classify_section(&section) {
                    Some(s) => programs.push(Program {
                        name,
                        object: several.then(|| stem.to_string()),
                        ty: s.ty,
                        section: Some(section),
                        attach: Default::default(),
                    }),
                    None => warnings.push(format!(
                        "{file}: program `{name}` in SEC(\"{section}\") is not a type cargo-ebpf packages (docs/program-types.md); it is left out of ebpf.toml"
                    )),
                }
            }
        }
    } else if lang != Language::Rust {
        return Err(Error::usage(format!(
            "no *.bpf.c sources in {} (looked in src/, bpf/ and the directory itself); `cargo ebpf new` starts a project from a template",
            dir.display()
        )));
    }
    let m = Manifest {
        package: PackageTable {
            name,
            version: "0.1.0".into(),
            language: lang,
            description: String::new(),
            license: if licenses.is_empty() {
                "GPL-2.0-only".into()
            } else {
                licenses.into_iter().collect::<Vec<_>>().join(" AND ")
            },
            authors: Vec::new(),
            source: None,
        },
        build: Build {
            bpf_dir: bpf_dir
                .filter(|d| {
                    let default = if lang == Language::Go { "bpf" } else { "src" };
                    *d != default
                })
                .map(PathBuf::from),
            ..Build::default()
        },
        programs,
        variables: Default::default(),
        maps: Default::default(),
        files: Vec::new(),
    };
    let text = format!(
        "# cargo-ebpf project manifest (docs/manifest.md). Written by `cargo ebpf init`;\n# check the license and add default attach arguments to the programs.\n\n{}",
        m.to_toml()
    );
    write_atomic(&manifest_path, text.as_bytes(), false)?;
    Ok((m, warnings))
}

/// The licence of a source as an SPDX expression: its
/// `SPDX-License-Identifier` line, else the `license` section's string
/// mapped the way the kernel reads it ("Dual BSD/GPL" is BSD or GPL).
fn source_license(text: &str) -> Option<String> {
    if let Some(at) = text.find("SPDX-License-Identifier:") {
        let rest = &text[at + "SPDX-License-Identifier:".len()..];
        let line = rest.lines().next().unwrap_or_default();
        let expr = line
            .trim()
            .trim_end_matches("*/")
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim();
        if !expr.is_empty() {
            // Old SPDX identifiers (`GPL-2.0`) mean the `-only` ones.
            let expr = expr
                .split(' ')
                .map(|w| match w {
                    "GPL-2.0" => "GPL-2.0-only",
                    "LGPL-2.1" => "LGPL-2.1-only",
                    "GPL-2.0+" => "GPL-2.0-or-later",
                    "GPL-3.0" => "GPL-3.0-only",
                    "LGPL-2.1+" => "LGPL-2.1-or-later",
                    w => w,
                })
                .collect::<Vec<_>>()
                .join(" ");
            return Some(if expr.contains(' ') {
                format!("({expr})")
            } else {
                expr
            });
        }
    }
    let at = text.find("SEC(\"license\")")?;
    let value = text[at..].split('"').nth(3)?;
    let spdx = match value {
        "GPL" | "GPL v2" | "GPL and additional rights" => "GPL-2.0-only",
        "Dual BSD/GPL" => "(BSD-2-Clause OR GPL-2.0-only)",
        "Dual MIT/GPL" => "(MIT OR GPL-2.0-only)",
        "Dual MPL/GPL" => "(MPL-1.1 OR GPL-2.0-only)",
        _ => return None,
    };
    Some(spdx.to_string())
}

pub fn is_bpf_source(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".bpf.c"))
}

fn has_bpf_sources(dir: &Path) -> bool {
    files(dir, is_bpf_source).is_ok_and(|f| !f.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_licence_is_its_spdx_line_else_its_license_section() {
        let cases = [
            (
                "// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)\nchar LICENSE[] SEC(\"license\") = \"Dual BSD/GPL\";",
                Some("(LGPL-2.1-only OR BSD-2-Clause)"),
            ),
            (
                "/* SPDX-License-Identifier: GPL-2.0 */",
                Some("GPL-2.0-only"),
            ),
            (
                "char LICENSE[] SEC(\"license\") = \"Dual BSD/GPL\";",
                Some("(BSD-2-Clause OR GPL-2.0-only)"),
            ),
            (
                "char _license[] SEC(\"license\") = \"GPL\";",
                Some("GPL-2.0-only"),
            ),
            ("char _license[] SEC(\"license\") = \"Proprietary\";", None),
            ("int x;", None),
        ];
        for (text, want) in cases {
            assert_eq!(source_license(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn init_of_several_objects_ties_each_program_to_its_object_and_warns_of_unknown_sections() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.bpf.c"),
            "// SPDX-License-Identifier: GPL-2.0\nSEC(\"tp/sched/sched_switch\")\nint on_switch(void *ctx) { return 0; }\nSEC(\"weird/thing\")\nint odd(void *ctx) { return 0; }\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.bpf.c"),
            "// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)\nSEC(\"tp/sched/sched_switch\")\nint on_switch(void *ctx) { return 0; }\n",
        )
        .unwrap();
        let (m, warnings) = init_project(&InitOptions {
            path: dir.path().to_path_buf(),
            name: Some("tools".into()),
            lang: Some(Language::C),
            force: false,
        })
        .unwrap();
        let objects: Vec<_> = m
            .programs
            .iter()
            .map(|p| (p.name.as_str(), p.object.as_deref()))
            .collect();
        assert_eq!(
            objects,
            [("on_switch", Some("a")), ("on_switch", Some("b"))]
        );
        assert_eq!(
            m.package.license,
            "(LGPL-2.1-only OR BSD-2-Clause) AND GPL-2.0-only"
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("a.bpf.c: program `odd` in SEC(\"weird/thing\")"),
            "{warnings:?}"
        );
    }

    #[test]
    fn finds_programs_in_libbpf_style_sources() {
        let src = r#"
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); } rb SEC(".maps");
const volatile int x SEC(".rodata") = 0;
SEC("tp/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx) { return 0; }
SEC("fentry/do_unlinkat")
int BPF_PROG(do_unlinkat, int dfd, struct filename *name) { return 0; }
SEC("kprobe/do_unlinkat")
int BPF_KPROBE(probe_unlink, int dfd) { return 0; }
SEC("xdp") int xdp_pass(struct xdp_md *ctx) { return 2; }
char LICENSE[] SEC("license") = "GPL";
"#;
        let got = scan_programs(src);
        let names: Vec<(&str, &str)> = got.iter().map(|(s, n)| (s.as_str(), n.as_str())).collect();
        assert_eq!(
            names,
            [
                ("tp/sched/sched_process_exec", "handle_exec"),
                ("fentry/do_unlinkat", "do_unlinkat"),
                ("kprobe/do_unlinkat", "probe_unlink"),
                ("xdp", "xdp_pass"),
            ]
        );
    }
}
