//! `ebpf.toml`: the project manifest, one schema for C, Rust and Go projects
//! (documented in docs/manifest.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ebpf_kinds::ProgramType;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lang::Language;

pub const FILE_NAME: &str = "ebpf.toml";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub package: PackageTable,
    #[serde(default, skip_serializing_if = "Build::is_default")]
    pub build: Build,
    #[serde(default, rename = "program", skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<Program>,
    /// `.rodata` variables that may be set at load time, by name.
    #[serde(
        default,
        rename = "variable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub variables: BTreeMap<String, Variable>,
    /// How maps are shown, by name.
    #[serde(default, rename = "map", skip_serializing_if = "BTreeMap::is_empty")]
    pub maps: BTreeMap<String, MapMeta>,
    /// Extra files the package installs on hosts.
    #[serde(default, rename = "file", skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ExtraFile>,
}

/// A `.rodata` variable's description for `--set` and `inspect`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    pub help: String,
}

/// How the runtime shows a map that no user space reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MapMeta {
    /// The BTF struct of the records an event map carries (default: the
    /// struct named `event`, or `Event` in Rust).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// `events`, `counters`, `log2_histogram` or `hidden` (default: by map type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<ebpf_object::Display>,
}

/// A file packaged with the program and its install path on hosts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExtraFile {
    /// Path in the project.
    pub source: PathBuf,
    /// Absolute install path (`/etc/xdpcount/config.toml`).
    pub install: String,
}

/// The `[package]` table of `ebpf.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PackageTable {
    pub name: String,
    pub version: String,
    pub language: Language,
    #[serde(default)]
    pub description: String,
    /// SPDX expression of the kernel side's license.
    pub license: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Where the sources are, for projects laid out differently from templates.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// Directory of `*.bpf.c` kernel sources (C and Go). Default: `src` for
    /// C, `bpf` for Go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpf_dir: Option<PathBuf>,
    /// Extra include directories for the kernel side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<PathBuf>,
    /// Extra clang flags for the kernel side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cflags: Vec<String>,
    /// Whether C user space is linked statically (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_link: Option<bool>,
}

impl Build {
    fn is_default(&self) -> bool {
        *self == Build::default()
    }
}

/// A program and the arguments it is attached with by default.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Program {
    /// The function name in the object.
    pub name: String,
    /// The object that defines it (`STEM` of `STEM.bpf.o`), when the project
    /// builds several: a program entry applies to that object only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(rename = "type")]
    pub ty: ProgramType,
    /// The ELF section, when it carries more than the type (`tracepoint/sched/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// Default attach arguments (`iface`, `direction`, `cgroup`, `binary`,
    /// `symbol`, `pid`, `frequency`), overridable at run time.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attach: BTreeMap<String, toml::Value>,
}

impl Manifest {
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let m: Manifest = toml::from_str(text).map_err(|e| Error::Manifest {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        m.package
            .language
            .validate_name(&m.package.name)
            .map_err(|e| Error::Manifest {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        for p in &m.programs {
            let info = p.ty.info();
            for key in p.attach.keys() {
                let known = key
                    .parse::<ebpf_kinds::AttachArg>()
                    .is_ok_and(|a| info.arg(a).is_some());
                if !known {
                    return Err(Error::Manifest {
                        path: path.to_path_buf(),
                        message: format!(
                            "program `{}`: `{key}` is not an attach argument of {} programs (they take: {})",
                            p.name,
                            info.name,
                            info.arg_names()
                        ),
                    });
                }
            }
        }
        if !ebpf_oci::format::is_safe_name(&m.package.version) {
            return Err(Error::Manifest {
                path: path.to_path_buf(),
                message: format!(
                    "version `{}` must be usable in a tag: letters, digits, `.`, `_`, `-` and `+`, not starting with `.` or `-`",
                    m.package.version
                ),
            });
        }
        for f in &m.files {
            // The rule image readers apply, so nothing is packaged that a
            // host would refuse.
            if !ebpf_oci::format::is_safe_install_path(&f.install) {
                return Err(Error::Manifest {
                    path: path.to_path_buf(),
                    message: format!(
                        "file `{}`: install path `{}` must be absolute, made of letters, digits, `.`, `_`, `-` and `+`",
                        f.source.display(),
                        f.install
                    ),
                });
            }
        }
        Ok(m)
    }

    /// The project's image tag in the local store: `NAME:VERSION`.
    pub fn image_tag(&self) -> String {
        format!("{}:{}", self.package.name, self.package.version)
    }

    /// What ebpf.toml tells the object reader about maps and variables.
    pub fn hints(&self) -> ebpf_object::Hints {
        ebpf_object::Hints {
            maps: self
                .maps
                .iter()
                .map(|(name, m)| {
                    let hint = ebpf_object::MapHint {
                        record: m.record.clone(),
                        display: m.display,
                    };
                    (name.clone(), hint)
                })
                .collect(),
            variables: self
                .variables
                .iter()
                .map(|(name, v)| (name.clone(), v.help.clone()))
                .collect(),
        }
    }

    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
        Manifest::parse(&text, path)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a manifest always serializes")
    }
}

/// The project around `start`: its root directory and its manifest.
pub fn locate(start: &Path) -> Result<(PathBuf, Manifest)> {
    let path = find(start)?;
    let m = Manifest::load(&path)?;
    let root = path.parent().expect("a file has a parent").to_path_buf();
    Ok((root, m))
}

/// Finds `ebpf.toml` in `start` or the nearest parent that has one.
pub fn find(start: &Path) -> Result<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(FILE_NAME))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            Error::usage(format!(
                "no {FILE_NAME} in {} or any parent directory; run `cargo ebpf new NAME` to start a project or `cargo ebpf init` to adopt existing sources",
                start.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[package]
name = "xdpcount"
version = "0.1.0"
language = "c"
license = "GPL-2.0-only OR BSD-2-Clause"

[[program]]
name = "count_packets"
type = "xdp"
attach = { iface = "lo" }

[variable.target_uid]
help = "only this user"

[map.events]
record = "event"
display = "events"

[[file]]
source = "conf/x.toml"
install = "/etc/x/x.toml"
"#;

    #[test]
    fn parses_and_round_trips() {
        let m = Manifest::parse(GOOD, Path::new("ebpf.toml")).unwrap();
        assert_eq!(m.programs[0].ty, ProgramType::Xdp);
        let again = Manifest::parse(&m.to_toml(), Path::new("x")).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn rejects_bad_manifests_in_one_line() {
        let bad_arg = GOOD.replace("iface = \"lo\"", "cgroup = \"/x\"");
        let e = Manifest::parse(&bad_arg, Path::new("ebpf.toml"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "invalid project manifest ebpf.toml: program `count_packets`: `cgroup` is not an attach argument of xdp programs (they take: iface)"
        );
        let bad_type = GOOD.replace("type = \"xdp\"", "type = \"xpd\"");
        let e = Manifest::parse(&bad_type, Path::new("ebpf.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid project manifest ebpf.toml: unknown variant `xpd`"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        let bad_install = GOOD.replace("/etc/x/x.toml", "etc/../x");
        let e = Manifest::parse(&bad_install, Path::new("ebpf.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be absolute"), "{e}");
        let bad_display = GOOD.replace("display = \"events\"", "display = \"pie\"");
        assert!(Manifest::parse(&bad_display, Path::new("ebpf.toml")).is_err());
    }
}
