//! Writing to stdout: text, JSON and tables; digests, sizes and error
//! chains as people read them.

use std::io::Write;

/// Writes data to stdout; a closed pipe (`| head`) ends the process quietly.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    if o.write_all(text.as_bytes())
        .and_then(|_| o.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// A report as JSON on stdout: one line, or pretty.
pub fn out_json(value: &impl serde::Serialize, pretty: bool) {
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    };
    out(&format!("{}\n", text.expect("reports serialize")));
}

/// The first 12 hexadecimal digits of a digest, as `docker images` shows.
pub fn short_digest(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

/// Bytes as people read them: `812 B`, `3.2 KiB`, `1.4 MiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Prints a message line on stderr (`error: ...`, `warning: ...`), with
/// what images and registries put in it escaped for the terminal.
pub fn message(kind: &str, text: &dyn std::fmt::Display) {
    eprintln!(
        "{kind}: {}",
        ebpf_object::text::escape_controls(&text.to_string())
    );
}

/// An error and its causes in one line: `a: b: c`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut why = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        why = format!("{why}: {s}");
        src = s.source();
    }
    why
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table of text columns, two spaces apart, each as wide as its widest
/// cell (or its minimum); the last column is not padded.
pub struct Table {
    columns: Vec<(&'static str, Align, usize)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns as (header, alignment, minimum width).
    pub fn new(columns: &[(&'static str, Align, usize)]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .map(|(h, _, min)| h.chars().count().max(*min))
            .collect();
        for row in &self.rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let headers: Vec<String> = self.columns.iter().map(|c| c.0.to_string()).collect();
        let mut s = String::new();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                let pad = w.saturating_sub(cell.chars().count());
                if i + 1 == row.len() && self.columns[i].1 == Align::Left {
                    line.push_str(cell);
                    break;
                }
                match self.columns[i].1 {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
                if i + 1 < row.len() {
                    line.push_str("  ");
                }
            }
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_sizes() {
        assert_eq!(
            short_digest("sha256:0123456789abcdef0123456789abcdef"),
            "0123456789ab"
        );
        assert_eq!(short_digest("abc"), "abc");
        assert_eq!(human_size(812), "812 B");
        assert_eq!(human_size(3277), "3.2 KiB");
        assert_eq!(human_size(1468006), "1.4 MiB");
    }

    #[test]
    fn tables_align_and_end_without_spaces() {
        let mut t = Table::new(&[
            ("NAME", Align::Left, 0),
            ("SIZE", Align::Right, 6),
            ("NOTE", Align::Left, 0),
        ]);
        t.row(vec!["a".into(), "1 B".into(), String::new()]);
        t.row(vec!["longer".into(), "2.0 KiB".into(), "x".into()]);
        assert_eq!(
            t.render(),
            "NAME       SIZE  NOTE\na           1 B\nlonger  2.0 KiB  x\n"
        );
    }

    #[test]
    fn error_chains_read_as_one_line() {
        let e = std::io::Error::other("inner");
        assert_eq!(error_chain(&e), "inner");
    }
}
