//! The languages templates and builds support, and their naming rules.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// C with libbpf and a bpftool skeleton.
    C,
    /// Rust with aya in user space and aya-ebpf in the kernel.
    #[value(alias = "rs")]
    Rust,
    /// Go with cilium/ebpf and bpf2go.
    #[value(alias = "golang")]
    Go,
}

impl Language {
    pub const ALL: [Language; 3] = [Language::C, Language::Rust, Language::Go];

    pub fn name(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Rust => "rust",
            Language::Go => "go",
        }
    }

    pub fn stack(self) -> &'static str {
        match self {
            Language::C => "libbpf + bpftool skeleton",
            Language::Rust => "aya + aya-ebpf (bpf-linker)",
            Language::Go => "cilium/ebpf + bpf2go",
        }
    }

    /// Words that cannot name a project in this language.
    fn reserved(self) -> &'static [&'static str] {
        match self {
            Language::C => &[
                "auto", "break", "case", "char", "const", "continue", "default", "do", "double",
                "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long",
                "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct",
                "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "main",
            ],
            Language::Rust => &[
                "as",
                "async",
                "await",
                "break",
                "const",
                "continue",
                "crate",
                "dyn",
                "else",
                "enum",
                "extern",
                "false",
                "fn",
                "for",
                "if",
                "impl",
                "in",
                "let",
                "loop",
                "match",
                "mod",
                "move",
                "mut",
                "pub",
                "ref",
                "return",
                "self",
                "static",
                "struct",
                "super",
                "trait",
                "true",
                "type",
                "unsafe",
                "use",
                "where",
                "while",
                "abstract",
                "become",
                "box",
                "do",
                "final",
                "macro",
                "override",
                "priv",
                "typeof",
                "unsized",
                "virtual",
                "yield",
                "try",
                "core",
                "std",
                "alloc",
                "proc_macro",
                "test",
                "build",
                "aya",
                "aya_ebpf",
            ],
            Language::Go => &[
                "break",
                "case",
                "chan",
                "const",
                "continue",
                "default",
                "defer",
                "else",
                "fallthrough",
                "for",
                "func",
                "go",
                "goto",
                "if",
                "import",
                "interface",
                "map",
                "package",
                "range",
                "return",
                "select",
                "struct",
                "switch",
                "type",
                "var",
                "main",
                "ebpf",
                "link",
            ],
        }
    }

    /// Checks a project name: lowercase ASCII letters, digits, `-` and `_`,
    /// starting with a letter, at most 40 characters, not a reserved word.
    pub fn validate_name(self, name: &str) -> Result<(), Error> {
        let bad = |why: &str| {
            Err(Error::usage(format!(
                "invalid project name `{name}`: {why}; use lowercase letters, digits, `-` and `_`, starting with a letter (for example `xdpcount`)"
            )))
        };
        if name.is_empty() || name.len() > 40 {
            return bad("it must be 1 to 40 characters long");
        }
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return bad("it must start with a lowercase letter");
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return bad(&format!("`{c}` is not allowed"));
        }
        if name.ends_with(['-', '_']) {
            return bad("it must not end with `-` or `_`");
        }
        let ident = ident(name);
        if ident == "vmlinux" || self.reserved().contains(&ident.as_str()) {
            return bad(&format!("`{ident}` is a reserved word in {self}"));
        }
        Ok(())
    }
}

/// The identifier form of a project name: `-` becomes `_`.
pub fn ident(name: &str) -> String {
    name.replace('-', "_")
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::C => "C",
            Language::Rust => "Rust",
            Language::Go => "Go",
        })
    }
}

impl FromStr for Language {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "c" => Ok(Language::C),
            "rust" | "rs" => Ok(Language::Rust),
            "go" | "golang" => Ok(Language::Go),
            _ => Err(Error::usage(format!(
                "unknown language `{s}`; choose one of: c, rust, go"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["xdpcount", "exec-snoop", "tc_filter2"] {
            for lang in Language::ALL {
                lang.validate_name(ok).unwrap();
            }
        }
        for bad in [
            "",
            "Xdp",
            "1xdp",
            "xdp count",
            "xdp-",
            "vmlinux",
            "a/b",
            &"a".repeat(41),
        ] {
            assert!(Language::C.validate_name(bad).is_err(), "{bad}");
        }
        assert!(Language::Rust.validate_name("core").is_err());
        assert!(Language::Go.validate_name("func").is_err());
        assert!(Language::C.validate_name("struct").is_err());
        assert!(Language::C.validate_name("func").is_ok());
    }

    #[test]
    fn forms() {
        assert_eq!(ident("exec-snoop"), "exec_snoop");
    }
}
