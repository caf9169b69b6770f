//! What a build makes: eBPF objects (with the programs in them) and the
//! user-space binary.

use std::path::{Path, PathBuf};

use ebpf_kinds::{Arch, classify_section};
use serde::Serialize;

use crate::error::{Error, Result};

/// A program found in a built object: its function, section and the type
/// the section names (none for a section no type claims).
#[derive(Debug, Clone, Serialize)]
pub struct BuiltProgram {
    pub name: String,
    pub section: String,
    #[serde(rename = "type")]
    pub ty: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    BpfObject,
    UserBinary,
}

#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub kind: ArtifactKind,
    pub path: PathBuf,
    pub arch: Arch,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub programs: Vec<BuiltProgram>,
    /// Whether this build produced it (false: it was up to date).
    pub rebuilt: bool,
}

impl Artifact {
    /// An eBPF object, with the programs read from its ELF.
    pub fn bpf_object(path: PathBuf, arch: Arch, rebuilt: bool) -> Result<Artifact> {
        Ok(Artifact {
            kind: ArtifactKind::BpfObject,
            programs: object_programs(&path)?,
            path,
            arch,
            rebuilt,
        })
    }

    pub fn user_binary(path: PathBuf, arch: Arch, rebuilt: bool) -> Artifact {
        Artifact {
            kind: ArtifactKind::UserBinary,
            path,
            arch,
            programs: Vec::new(),
            rebuilt,
        }
    }
}

/// Lists the programs in an eBPF object, from its ELF sections and symbols.
pub fn object_programs(path: &Path) -> Result<Vec<BuiltProgram>> {
    let data = std::fs::read(path).map_err(Error::io("read", path))?;
    let symbols = ebpf_object::program_symbols(&data).map_err(|e| Error::Object {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(symbols
        .into_iter()
        .map(|(name, section)| BuiltProgram {
            ty: classify_section(&section).map(|s| s.ty.name().to_string()),
            name,
            section,
        })
        .collect())
}
