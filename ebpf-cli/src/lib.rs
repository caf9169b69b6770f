//! What `cargo-ebpf` and `bpf-runtime` share on the command line, written
//! once: the store and registry arguments, writing to stdout (text, JSON,
//! tables), digests and sizes as people read them, how images are shown,
//! and the exit code each library error gets, so that the same error exits
//! with the same code from both tools.

pub mod args;
pub mod commands;
pub mod exit;
pub mod output;
pub mod render;

pub use args::{PolicyArgs, StoreArgs, TransportArgs};
pub use output::{Align, Table, error_chain, human_size, message, out, out_json, short_digest};

/// Parses a command line; `--help` and `--version` print as usual, and any
/// other mistake is one line on stderr (`error: ...`, what clap found and
/// the values it takes) and exit [`exit::USAGE`], as every other error.
pub fn parse_args<T: clap::Parser>(args: impl IntoIterator<Item = std::ffi::OsString>) -> T {
    use clap::error::ErrorKind::*;
    match T::try_parse_from(args) {
        Ok(t) => t,
        Err(e) => match e.kind() {
            DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => {
                eprintln!("{}", one_line(&e.render().to_string()));
                std::process::exit(exit::USAGE)
            }
        },
    }
}

/// clap's message in one line: the error, then its detail lines (the
/// missing argument, the possible values, a tip), without the usage lines.
fn one_line(rendered: &str) -> String {
    let mut line = String::new();
    for part in rendered
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
    {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    if !line.starts_with("error: ") {
        line.insert_str(0, "error: ");
    }
    line.push_str("; see --help");
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn clap_errors_become_one_line() {
        let rendered = "error: invalid value 'cobol' for '--lang <LANG>'\n  [possible values: c, rust, go]\n\n  tip: a similar value exists: 'c'\n\nFor more information, try '--help'.\n";
        assert_eq!(
            super::one_line(rendered),
            "error: invalid value 'cobol' for '--lang <LANG>'; [possible values: c, rust, go]; tip: a similar value exists: 'c'; see --help"
        );
        let missing = "error: the following required arguments were not provided:\n  <PATH>\n\nUsage: cargo ebpf new <PATH>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            super::one_line(missing),
            "error: the following required arguments were not provided: <PATH>; see --help"
        );
    }
}
