//! The docs keep up with the sources: every error message the tools can
//! print is listed in docs/errors.md.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The contents of the string literal starting at `s[0] == '"'`.
fn literal(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.strip_prefix('"')?.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push(' '),
                '\n' => {
                    // A continued line: leading whitespace is dropped.
                    let rest: String = chars.clone().collect();
                    let skip = rest.len() - rest.trim_start().len();
                    for _ in 0..skip {
                        chars.next();
                    }
                }
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// Every message of the sources, as printed after `error: `: `#[error]`
/// templates, usage messages, and the runtime's kernel actions (printed as
/// `failed to ACTION: WHY`).
fn messages() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    for dir in [
        "cargo-ebpf",
        "bpf-runtime",
        "ebpf-oci",
        "ebpf-object",
        "ebpf-kinds",
    ] {
        rust_sources(&root().join(dir).join("src"), &mut files);
    }
    // Calls whose argument is (or builds, in each branch) a message.
    let calls: &[(&str, &str, &str)] = &[
        ("usage(", "", ""),
        ("Usage(", "", ""),
        (".missing(", "", ""),
        ("RuntimeError::kernel(", "failed to ", ": {why}"),
        ("program_error(", "failed to ", ": {why}"),
    ];
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (at, _) in code.match_indices("#[error(") {
            if let Some(msg) = literal(code[at + "#[error(".len()..].trim_start()) {
                out.push((file.clone(), msg));
            }
        }
        for (call, prefix, suffix) in calls {
            for (at, _) in code.match_indices(call) {
                for msg in argument_messages(&code[at + call.len()..]) {
                    out.push((file.clone(), format!("{prefix}{msg}{suffix}")));
                }
            }
        }
    }
    out.retain(|(_, msg)| msg != "{0}" && !msg.is_empty());
    out
}

/// The messages in a call's argument (`rest` starts after its opening
/// parenthesis): a literal or `format!` literal that opens the argument or
/// a `{ ... }` branch of it.
fn argument_messages(rest: &str) -> Vec<String> {
    let mut depth = 1;
    let mut end = rest.len();
    let mut in_str = false;
    let mut prev = ' ';
    for (i, c) in rest.char_indices() {
        match c {
            '"' if prev != '\\' => in_str = !in_str,
            '(' if !in_str => depth += 1,
            ')' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            _ => {}
        }
        prev = if prev == '\\' && c == '\\' { ' ' } else { c };
    }
    let arg = &rest[..end];
    let mut out = Vec::new();
    for (i, _) in arg.match_indices('"') {
        let before = arg[..i].trim_end();
        let opens = before.is_empty() || before.ends_with("format!(") || before.ends_with('{');
        if opens {
            out.extend(literal(&arg[i..]));
        }
    }
    out
}

/// The literal pieces of a message between its `{...}` placeholders, without
/// backticks (the docs write messages as code spans).
fn fragments(msg: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = msg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.last_mut().unwrap().push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.last_mut().unwrap().push('}');
            }
            '{' => {
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                }
                out.push(String::new());
            }
            '`' => {}
            c => out.last_mut().unwrap().push(c),
        }
    }
    out.retain(|f| !f.trim().is_empty());
    out
}

/// Whether `line` holds the fragments in order.
fn holds(line: &str, fragments: &[String]) -> bool {
    let mut rest = line;
    for f in fragments {
        match rest.find(f.as_str()) {
            Some(at) => rest = &rest[at + f.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn every_error_message_is_in_the_error_index() {
    let index = std::fs::read_to_string(root().join("docs/errors.md")).unwrap();
    let lines: Vec<String> = index
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .map(|l| l.replace('`', ""))
        .collect();
    let all = messages();
    assert!(all.len() > 100, "found only {} messages", all.len());
    let missing: Vec<String> = all
        .iter()
        .filter(|(_, msg)| !lines.iter().any(|l| holds(l, &fragments(msg))))
        .map(|(file, msg)| format!("{}: {msg}", file.strip_prefix(root()).unwrap().display()))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/errors.md lacks {} message(s):\n{}",
        missing.len(),
        missing.join("\n")
    );
}

#[test]
fn fragments_split_at_placeholders() {
    assert_eq!(
        fragments("no image `{t}` in the store {}; run `x`"),
        ["no image ", " in the store ", "; run x"]
    );
    assert!(holds(
        "- no image TAG in the store DIR; run x — meaning",
        &fragments("no image `{t}` in the store {}; run `x`")
    ));
    assert!(!holds(
        "- no image TAG in the shop DIR; run x",
        &fragments("no image `{t}` in the store {}; run `x`")
    ));
}
