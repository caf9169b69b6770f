//! The table as Markdown, for docs/program-types.md.

use crate::TYPES;

/// The table as Markdown, for docs/program-types.md (a test keeps the doc
/// equal to it).
pub fn markdown_table() -> String {
    let mut s = String::from(
        "| type | what the template does | sections | attach arguments | first kernel | kernel needs | bpfman type | template |\n|---|---|---|---|---|---|---|---|\n",
    );
    for t in TYPES {
        let secs: Vec<String> = t.sections.iter().map(|x| format!("`{x}`")).collect();
        let args: Vec<String> = t
            .args
            .iter()
            .map(|s| match (s.required, s.default) {
                (_, Some(d)) => format!("`{}` (default `{d}`)", s.arg.name()),
                (true, None) => format!("`{}`", s.arg.name()),
                (false, None) => format!("`{}` (optional)", s.arg.name()),
            })
            .collect();
        let needs: Vec<&str> = t.needs.iter().map(|n| n.describe()).collect();
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {}.{} | {} | {} | {} |\n",
            t.name,
            t.summary,
            secs.join(" "),
            if args.is_empty() {
                "none".into()
            } else {
                args.join(", ")
            },
            t.min_kernel.0,
            t.min_kernel.1,
            if needs.is_empty() {
                "—".into()
            } else {
                needs.join("; ")
            },
            t.bpfman.unwrap_or("—"),
            if t.templated { "yes" } else { "no" },
        ));
    }
    s
}

#[cfg(test)]
mod doc_tests {
    /// docs/program-types.md carries this table; `UPDATE_DOCS=1 cargo test`
    /// rewrites it.
    #[test]
    fn program_types_doc_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/program-types.md");
        let doc = std::fs::read_to_string(path).expect("docs/program-types.md");
        let (start, end) = ("<!-- table:start -->\n", "<!-- table:end -->");
        let a = doc.find(start).expect("table start marker") + start.len();
        let b = doc.find(end).expect("table end marker");
        let table = super::markdown_table();
        if doc[a..b] != table {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(path, format!("{}{table}{}", &doc[..a], &doc[b..])).unwrap();
            } else {
                panic!(
                    "docs/program-types.md is out of date with the table; run `UPDATE_DOCS=1 cargo test -p ebpf-kinds`"
                );
            }
        }
    }
}
