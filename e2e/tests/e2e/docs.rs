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
        "ebpf-cli",
    ] {
        rust_sources(&root().join(dir).join("src"), &mut files);
    }
    // Calls whose argument is (or builds, in each branch) a message.
    let calls: &[(&str, &str, &str)] = &[
        ("usage(", "", ""),
        ("Usage(", "", ""),
        (".missing(", "", ""),
        ("ArgError(", "", ""),
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

/// Every program a test starts is installed by `ci/test.sh`: it is a tool
/// of `ci/tools.tsv` in a group the script installs, or part of the base
/// system every supported distribution has. A new dependency cannot slip
/// past the README's test command again.
#[test]
fn every_program_the_tests_start_is_installed_by_the_test_command() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = std::fs::read_to_string(root.join("ci/test.sh")).unwrap();
    let groups: Vec<&str> = script
        .lines()
        .find_map(|l| l.trim().strip_prefix("bash ci/setup.sh "))
        .expect("ci/test.sh runs ci/setup.sh GROUPS")
        .split_whitespace()
        .collect();
    let table = std::fs::read_to_string(root.join("ci/tools.tsv")).unwrap();
    let mut installed: Vec<String> = Vec::new();
    for line in table
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let cols: Vec<&str> = line.split('\t').collect();
        if !groups.contains(&cols[1]) {
            continue;
        }
        installed.push(cols[0].to_string());
        if let Some(cmds) = cols[2].strip_prefix("cmd:") {
            installed.extend(cmds.split('|').map(str::to_string));
        }
    }
    // The base system (coreutils, findutils, util-linux, procps, dpkg or
    // rpm, git, iproute2's tc beside ip) and what a tool's package brings
    // with it (gofmt with go, rpm with rpmbuild, dpkg-deb and apt with apt).
    let base = [
        "/bin/true",
        "sh",
        "cp",
        "find",
        "kill",
        "sleep",
        "tar",
        "ldd",
        "git",
        "make",
        "apt-cache",
        "apt-get",
        "dpkg-deb",
        "rpm",
        "gofmt",
        "tc",
    ];
    let mut missing = Vec::new();
    for dir in ["e2e/tests/e2e", "ebpf-oci/tests", "ebpf-object/tests"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split("Command::new(\"").skip(1) {
                let program = piece.split('"').next().unwrap();
                if !base.contains(&program) && !installed.iter().any(|t| t == program) {
                    missing.push(format!("{}: {program}", path.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "tests start programs ci/test.sh does not install (add them to ci/tools.tsv in group {groups:?}): {missing:?}"
    );
}

/// docs/architecture.md's layout names every Rust source file of the
/// workspace, once, and no file that is gone.
#[test]
fn the_layout_names_every_module() {
    let root = root();
    let page = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let layout = page
        .split("## Where things are")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .expect("docs/architecture.md has a layout block");
    let mut listed = Vec::new();
    let mut krate = String::new();
    for line in layout.lines().filter(|l| !l.trim().is_empty()) {
        let first = line.split_whitespace().next().unwrap();
        if !line.starts_with(' ') {
            krate = first.trim_end_matches('/').to_string();
        } else {
            listed.push(format!("{krate}/{first}"));
        }
    }
    let mut files = Vec::new();
    let members = [
        "ebpf-kinds",
        "ebpf-object",
        "ebpf-oci",
        "ebpf-cli",
        "cargo-ebpf",
        "bpf-runtime",
        "e2e",
    ];
    for member in members {
        for dir in ["src", "tests"] {
            let dir = root.join(member).join(dir);
            if dir.is_dir() {
                rust_sources(&dir, &mut files);
            }
        }
    }
    let mut actual: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    actual.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), listed.len(), "a module is listed twice");
    let missing: Vec<_> = actual.iter().filter(|f| !sorted.contains(f)).collect();
    let gone: Vec<_> = sorted.iter().filter(|f| !actual.contains(f)).collect();
    assert!(
        missing.is_empty() && gone.is_empty(),
        "docs/architecture.md's layout: missing {missing:?}, gone {gone:?}"
    );
}
