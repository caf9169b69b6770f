//! The table as Markdown, for docs/program-types.md and the runtime guide
//! (tests keep both docs equal to it; `UPDATE_DOCS=1` rewrites them).

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

/// What `bpf-runtime` attaches each type to and the options that change it,
/// for docs/runtime-guide.md.
pub fn runtime_table() -> String {
    let mut s = String::from(
        "| type | attached to | options (default from the package, else shown) |\n|---|---|---|\n",
    );
    for t in TYPES {
        let options: Vec<String> = t
            .args
            .iter()
            .map(|a| {
                let flag = format!("`--{}`", a.arg.name());
                match (a.required, a.default) {
                    (_, Some(d)) => format!("{flag} (default `{d}`)"),
                    (true, None) => flag,
                    (false, None) => format!("{flag} (optional)"),
                }
            })
            .collect();
        s.push_str(&format!(
            "| {} | {} | {} |\n",
            t.name,
            t.attaches_to,
            if options.is_empty() {
                "—".into()
            } else {
                options.join(", ")
            }
        ));
    }
    s
}

#[cfg(test)]
mod doc_tests {
    /// Checks that `doc` (under the workspace) holds `table` between its
    /// `<!-- NAME:start -->` and `<!-- NAME:end -->` markers; rewrites it
    /// with `UPDATE_DOCS=1`.
    fn check(doc: &str, marker: &str, table: &str) {
        let path = format!("{}/../{doc}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect(doc);
        let (start, end) = (
            format!("<!-- {marker}:start -->\n"),
            format!("<!-- {marker}:end -->"),
        );
        let a = text.find(&start).expect("table start marker") + start.len();
        let b = text.find(&end).expect("table end marker");
        if text[a..b] != *table {
            if std::env::var_os("UPDATE_DOCS").is_some() {
                std::fs::write(&path, format!("{}{table}{}", &text[..a], &text[b..])).unwrap();
            } else {
                panic!(
                    "{doc} is out of date with the table; run `UPDATE_DOCS=1 cargo test -p ebpf-kinds`"
                );
            }
        }
    }

    #[test]
    fn runtime_guide_is_current() {
        check(
            "docs/runtime-guide.md",
            "attach-table",
            &super::runtime_table(),
        );
    }

    /// docs/program-types.md carries this table.
    #[test]
    fn program_types_doc_is_current() {
        check("docs/program-types.md", "table", &super::markdown_table());
    }
}
