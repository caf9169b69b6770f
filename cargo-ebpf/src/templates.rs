//! The project templates: embedded from `templates/` at build time and
//! rendered with handlebars, so an installed cargo-ebpf needs no checkout.
//!
//! Layout of `templates/`:
//! - `common/`: rendered into every project (`ebpf.toml`);
//! - `ci/`: the GitHub Actions and Gitee Go pipelines (left out by `--ci none`);
//! - `bpf/`: kernel-side C shared by the C and Go templates, `<type>.bpf.c.hbs`
//!   and `<type>.h.hbs`, with `_*.hbs` partials;
//! - `<lang>/base/`: every project of a language; `<lang>/<dir>/<type>.*.hbs`:
//!   the type's piece `<dir>` (partial `type_<dir>`): `main` is its user
//!   space, Rust adds `ebpf` (kernel side) and `common` (shared types);
//!   `<lang>/_*.hbs`: partials;
//! - `types/<type>.toml`: each template's programs (their attach targets and
//!   default attach arguments), variables, record type and run notes; the
//!   section names and aya attributes are made from the targets by
//!   `ebpf-kinds`;
//! - `<lang>/unsupported.toml`: types a language cannot do, and why.
//!
//! File and directory names are templates too (`src/{{name}}.c.hbs`); the
//! `.hbs` suffix is removed, files without it are copied as they are.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ebpf_kinds::ProgramType;
use handlebars::{Handlebars, handlebars_helper};
use include_dir::{Dir, File, include_dir};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::lang::{self, Language};

static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../templates");

/// Which CI pipelines a project gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ci {
    pub github: bool,
    pub gitee: bool,
}

/// What a template is rendered with.
#[derive(Debug, Clone)]
pub struct Request {
    pub name: String,
    pub lang: Language,
    pub ty: ProgramType,
    pub ci: Ci,
}

/// One rendered file, relative to the project root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub executable: bool,
}

/// `templates/types/<type>.toml`: what one type's template defines.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeTemplate {
    #[serde(default)]
    license: Option<String>,
    /// The C struct user space reads from maps or ring buffers.
    #[serde(default)]
    record_type: Option<String>,
    /// How the generated user space runs, for the README.
    run_notes: String,
    #[serde(rename = "program")]
    programs: Vec<TemplateProgram>,
    #[serde(default, rename = "variable")]
    variables: Vec<TemplateVariable>,
}

/// A `.rodata` variable a template defines, for `[variable.NAME]` in ebpf.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateVariable {
    name: String,
    help: String,
}

/// A program a template defines, with its default attach arguments.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TemplateProgram {
    name: String,
    /// What the section names after the type's prefix (`do_unlinkat`).
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    attach: BTreeMap<String, toml::Value>,
}

/// The template type file of `ty`.
fn type_template_file(ty: ProgramType) -> Result<TypeTemplate> {
    let path = format!("types/{}.toml", ty.name());
    let text = TEMPLATES
        .get_file(&path)
        .and_then(File::contents_utf8)
        .ok_or_else(|| Error::usage(format!("no template programs for {ty}")))?;
    toml::from_str(text).map_err(|e| template_err(&path)(e.to_string()))
}

/// Why `lang` has no template for `ty`, or `None` when it has one.
pub fn unsupported_reason(lang: Language, ty: ProgramType) -> Option<String> {
    if !ty.info().templated {
        return Some(format!(
            "{ty} programs have no template; `cargo ebpf init` builds existing {ty} sources"
        ));
    }
    let table: BTreeMap<String, String> = TEMPLATES
        .get_file(format!("{}/unsupported.toml", lang.name()))
        .and_then(File::contents_utf8)
        .map(|t| toml::from_str(t).expect("unsupported.toml is valid"))
        .unwrap_or_default();
    if let Some(why) = table.get(ty.name()) {
        return Some(why.clone());
    }
    if type_template(lang, "main", ty).is_none() {
        return Some(format!("no {lang} template for {ty} programs yet"));
    }
    None
}

/// `templates/<lang>/<sub>/<type>.*.hbs`.
fn type_template(lang: Language, sub: &str, ty: ProgramType) -> Option<&'static File<'static>> {
    let dir = TEMPLATES.get_dir(format!("{}/{sub}", lang.name()))?;
    dir.files().find(|f| {
        f.path()
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('.').next())
            == Some(ty.name())
    })
}

fn utf8<'a>(f: &'a File<'a>) -> Result<&'a str> {
    f.contents_utf8().ok_or_else(|| Error::Template {
        template: f.path().display().to_string(),
        message: "not UTF-8".into(),
    })
}

handlebars_helper!(upper: |s: str| s.to_ascii_uppercase());

fn engine() -> Handlebars<'static> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper("upper", Box::new(upper));
    hb
}

fn template_err(template: &str) -> impl FnOnce(String) -> Error + '_ {
    move |message| Error::Template {
        template: template.to_string(),
        message,
    }
}

/// Registers every `_*.hbs` in `dir` as a partial named after the file
/// without `_` and extensions.
fn register_partials(hb: &mut Handlebars<'static>, dir: &str) -> Result<()> {
    let Some(d) = TEMPLATES.get_dir(dir) else {
        return Ok(());
    };
    for f in d.files() {
        let file_name = f.path().file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(rest) = file_name.strip_prefix('_') {
            let name = rest.split('.').next().unwrap_or(rest);
            hb.register_partial(name, utf8(f)?)
                .map_err(|e| template_err(file_name)(e.to_string()))?;
        }
    }
    Ok(())
}

/// The data every template sees.
pub fn context(req: &Request) -> Result<serde_json::Value> {
    let info = req.ty.info();
    let entry = type_template_file(req.ty)?;
    let mut sections = serde_json::Map::new();
    let mut aya_attributes = serde_json::Map::new();
    let programs: Vec<serde_json::Value> = entry
        .programs
        .iter()
        .map(|p| {
            let attach_toml = p
                .attach
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let section = req.ty.section(p.target.as_deref());
            sections.insert(p.name.clone(), section.clone().into());
            aya_attributes.insert(
                p.name.clone(),
                req.ty.aya_attribute(p.target.as_deref()).into(),
            );
            serde_json::json!({
                "name": p.name, "section": section, "attach": p.attach,
                "attach_toml": attach_toml,
            })
        })
        .collect();
    let license_c = if entry.license.is_some() {
        "GPL"
    } else {
        "Dual BSD/GPL"
    };
    // The command-line arguments the README and CI use to run the program.
    let mut run_args = Vec::new();
    if let Some(first) = entry.programs.first() {
        for (k, v) in &first.attach {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            run_args.push(format!("--{k} {v}"));
        }
    }
    Ok(serde_json::json!({
        "name": req.name,
        "ident": lang::ident(&req.name),
        "lang": req.lang.name(),
        "type": info.name,
        "summary": info.summary,
        "license": entry.license.as_deref().unwrap_or("GPL-2.0-only OR BSD-2-Clause"),
        // The license string the kernel checks (`char LICENSE[] SEC("license")`).
        "license_c": license_c,
        "license_len": license_c.len() + 1,
        "programs": programs,
        // `SEC("{{sec.NAME}}")` in C, `{{aya.NAME}}` in Rust.
        "sec": sections,
        "aya": aya_attributes,
        "run_notes": entry.run_notes,
        "run_args": run_args.join(" "),
        "events": info.output == ebpf_kinds::Output::Events,
        // Programs found through kernel BTF (fentry, fexit, lsm).
        "kernel_btf": info.needs.contains(&ebpf_kinds::KernelNeed::KernelBtf),
        "record_type": entry.record_type,
        "variables": entry.variables.iter().map(|v| {
            let name = if req.lang == Language::Rust { v.name.to_uppercase() } else { v.name.clone() };
            serde_json::json!({ "name": name, "help": v.help })
        }).collect::<Vec<_>>(),
    }))
}

/// Renders the whole project for `req`.
pub fn render(req: &Request) -> Result<Vec<RenderedFile>> {
    if let Some(why) = unsupported_reason(req.lang, req.ty) {
        return Err(Error::usage(format!(
            "cannot create a {} {} project: {why}",
            req.lang, req.ty
        )));
    }
    let lang = req.lang.name();
    let ty = req.ty.name();
    let mut hb = engine();
    register_partials(&mut hb, "bpf")?;
    register_partials(&mut hb, lang)?;
    register_partials(&mut hb, "ci")?;
    register_partials(&mut hb, "common")?;
    for (partial, path) in [
        ("bpf_source", format!("bpf/{ty}.bpf.c.hbs")),
        ("bpf_header", format!("bpf/{ty}.h.hbs")),
    ] {
        if let Some(f) = TEMPLATES.get_file(&path) {
            hb.register_partial(partial, utf8(f)?)
                .map_err(|e| template_err(&path)(e.to_string()))?;
        }
    }
    // Per-type pieces: `<lang>/<dir>/<type>.*.hbs` becomes partial `type_<dir>`.
    if let Some(lang_dir) = TEMPLATES.get_dir(lang) {
        for d in lang_dir.dirs() {
            let dir = d.path().file_name().and_then(|n| n.to_str()).unwrap_or("");
            if dir == "base" {
                continue;
            }
            if let Some(f) = type_template(req.lang, dir, req.ty) {
                hb.register_partial(&format!("type_{dir}"), utf8(f)?)
                    .map_err(|e| template_err(&f.path().display().to_string())(e.to_string()))?;
            }
        }
    }

    let ctx = context(req)?;
    let mut out = Vec::new();
    let mut roots = vec!["common".to_string(), format!("{lang}/base")];
    if req.ci.github || req.ci.gitee {
        roots.push("ci".into());
    }
    for root in &roots {
        let dir = TEMPLATES
            .get_dir(root)
            .expect("template roots are embedded");
        collect(dir, root, &hb, &ctx, req.ci, &mut out)?;
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn collect(
    dir: &Dir<'static>,
    root: &str,
    hb: &Handlebars<'static>,
    ctx: &serde_json::Value,
    ci: Ci,
    out: &mut Vec<RenderedFile>,
) -> Result<()> {
    for f in dir.files() {
        let rel = f
            .path()
            .strip_prefix(root)
            .expect("files lie below their root");
        let rel_str = rel.to_string_lossy();
        if rel
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('_'))
        {
            continue;
        }
        if root == "ci"
            && ((rel_str.starts_with(".github") && !ci.github)
                || (rel_str.starts_with(".workflow") && !ci.gitee))
        {
            continue;
        }
        let path_rendered = hb
            .render_template(&rel_str, ctx)
            .map_err(|e| template_err(&rel_str)(e.to_string()))?;
        let (path, contents) = match path_rendered.strip_suffix(".hbs") {
            Some(p) => {
                let text = hb
                    .render_template(utf8(f)?, ctx)
                    .map_err(|e| template_err(&f.path().display().to_string())(e.to_string()))?;
                (p.to_string(), text.into_bytes())
            }
            None => (path_rendered, f.contents().to_vec()),
        };
        let executable = path.ends_with(".sh");
        out.push(RenderedFile {
            path: PathBuf::from(path),
            contents,
            executable,
        });
    }
    for d in dir.dirs() {
        collect(d, root, hb, ctx, ci, out)?;
    }
    Ok(())
}

/// One line per language and program type: what `new --list` prints.
pub fn list() -> Vec<(Language, ProgramType, Result<&'static str, String>)> {
    let mut rows = Vec::new();
    for lang in Language::ALL {
        for info in ebpf_kinds::TYPES.iter().filter(|t| t.templated) {
            let status = match unsupported_reason(lang, info.ty) {
                None => Ok(info.summary),
                Some(why) => Err(why),
            };
            rows.push((lang, info.ty, status));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_all(lang: Language, ty: ProgramType) -> String {
        let req = Request {
            name: "demo-app".into(),
            lang,
            ty,
            ci: Ci {
                github: true,
                gitee: true,
            },
        };
        let mut text = String::new();
        for f in render(&req).unwrap() {
            text.push_str(&format!(
                "==> {}{}\n",
                f.path.display(),
                if f.executable { " (executable)" } else { "" }
            ));
            text.push_str(&String::from_utf8_lossy(&f.contents));
            text.push('\n');
        }
        text
    }

    /// Every file of every template, as generated: reviewable diffs of what
    /// users get.
    #[test]
    fn snapshots_of_rendered_templates() {
        for lang in Language::ALL {
            for ty in ProgramType::templated() {
                if unsupported_reason(lang, ty).is_none() {
                    insta::assert_snapshot!(
                        format!("{}_{}", lang.name(), ty.name()),
                        render_all(lang, ty)
                    );
                }
            }
        }
    }

    #[test]
    fn generated_manifests_parse_and_match_the_type_table() {
        for lang in Language::ALL {
            for ty in ProgramType::templated().filter(|t| unsupported_reason(lang, *t).is_none()) {
                let files = render(&Request {
                    name: "demo".into(),
                    lang,
                    ty,
                    ci: Ci {
                        github: false,
                        gitee: false,
                    },
                })
                .unwrap();
                let m = files
                    .iter()
                    .find(|f| f.path == std::path::Path::new("ebpf.toml"))
                    .unwrap();
                let m = crate::manifest::Manifest::parse(
                    std::str::from_utf8(&m.contents).unwrap(),
                    std::path::Path::new("ebpf.toml"),
                )
                .unwrap();
                assert!(!m.programs.is_empty());
                for p in &m.programs {
                    assert_eq!(p.ty, ty);
                    let s = ebpf_kinds::classify_section(p.section.as_deref().unwrap()).unwrap();
                    assert_eq!(s.ty, ty, "{}", p.name);
                    for spec in ty
                        .info()
                        .args
                        .iter()
                        .filter(|a| a.required && a.default.is_none())
                    {
                        assert!(
                            p.attach.contains_key(spec.arg.name()),
                            "{ty}: default for required `{}` missing",
                            spec.arg.name()
                        );
                    }
                }
                assert!(
                    !files
                        .iter()
                        .any(|f| f.path.starts_with(".github") || f.path.starts_with(".workflow")),
                    "--ci none"
                );
            }
        }
    }

    /// A doubled backslash before `n` in a format string prints `\n`
    /// literally instead of ending the line (it happened in three templates).
    #[test]
    fn format_strings_end_lines_with_real_newlines() {
        for lang in Language::ALL {
            for ty in ProgramType::templated() {
                if unsupported_reason(lang, ty).is_none() {
                    let text = render_all(lang, ty);
                    assert!(
                        !text.contains("\\\\n\""),
                        "{} {}: a format string ends with a literal \\n",
                        lang.name(),
                        ty.name()
                    );
                }
            }
        }
    }

    #[test]
    fn ci_expressions_survive_rendering() {
        let text = render_all(Language::C, ProgramType::Xdp);
        assert!(
            text.contains("${{ secrets.REGISTRY_PASSWORD || secrets.GITHUB_TOKEN }}"),
            "GitHub expressions are kept"
        );
        assert!(
            !text.contains("{{name}}"),
            "a placeholder was left unrendered"
        );
    }
}
