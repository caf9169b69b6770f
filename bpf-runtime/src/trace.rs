//! The trace pipe: what the package's own `bpf_printk` calls wrote. The
//! kernel has one trace buffer for every program on the host, so a line is
//! the package's when its message fits one of the package's format strings
//! (from the image metadata). The pipe is read while the package runs and
//! only then; reading consumes, so other readers of the pipe miss what is
//! read here while it runs.

use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};

use crate::error::{Result, RuntimeError};

/// Where tracefs keeps the pipe, newest mount first.
const PIPES: [&str; 2] = [
    "/sys/kernel/tracing/trace_pipe",
    "/sys/kernel/debug/tracing/trace_pipe",
];
/// A line longer than this is cut (the kernel's own limit is lower).
const MAX_LINE: usize = 8192;
/// Read at most this much per wake-up, so events keep flowing.
const MAX_READ: usize = 1 << 20;

/// The open pipe and the formats that make a line the package's.
pub struct TracePipe {
    file: std::fs::File,
    pending: Vec<u8>,
    formats: Vec<Vec<Piece>>,
}

/// One line of the pipe written by `bpf_printk`.
#[derive(Debug, PartialEq, Eq)]
pub struct TraceLine<'a> {
    pub comm: &'a str,
    pub pid: u32,
    pub cpu: u32,
    pub message: &'a str,
}

impl TracePipe {
    /// Opens the pipe when the package prints (`formats` is not empty).
    pub fn open(formats: &[String]) -> Result<Option<TracePipe>> {
        if formats.is_empty() {
            return Ok(None);
        }
        let mut last = None;
        for path in PIPES {
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
            {
                Ok(file) => {
                    return Ok(Some(TracePipe {
                        file,
                        pending: Vec::new(),
                        formats: formats.iter().map(|f| pieces(f)).collect(),
                    }));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(RuntimeError::kernel(
            format!(
                "open the trace pipe ({}) to show bpf_printk output",
                PIPES[0]
            ),
            last.expect("two paths tried"),
        ))
    }

    pub fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Reads what the pipe holds now and calls `each` with every complete
    /// line the package wrote.
    pub fn read(&mut self, mut each: impl FnMut(TraceLine<'_>)) {
        let mut buf = [0u8; 16 * 1024];
        let mut total = 0;
        while total < MAX_READ {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    total += n;
                    self.pending.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break, // WouldBlock: nothing more now
            }
        }
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let line = &self.pending[start..start + nl];
            start += nl + 1;
            let text = String::from_utf8_lossy(&line[..line.len().min(MAX_LINE)]);
            if let Some(line) = parse_line(&text)
                && self.formats.iter().any(|f| matches(f, line.message))
            {
                each(line);
            }
        }
        self.pending.drain(..start);
        if self.pending.len() > MAX_LINE {
            self.pending.clear();
        }
    }
}

/// Reads `COMM-PID [CPU] FLAGS TIMESTAMP: bpf_trace_printk: MESSAGE`.
pub fn parse_line(line: &str) -> Option<TraceLine<'_>> {
    let (head, message) = line
        .split_once(": bpf_trace_printk: ")
        .or_else(|| line.split_once(": bpf_trace_vprintk: "))?;
    let open = head.find(" [")?;
    let task = head[..open].trim();
    let (comm, pid) = task.rsplit_once('-')?;
    let close = head[open..].find(']')? + open;
    Some(TraceLine {
        comm,
        pid: pid.parse().ok()?,
        cpu: head[open + 2..close].trim().parse().ok()?,
        message,
    })
}

/// A format string as literal text and conversions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    /// `%d`, `%s`, `%pI4`, ...: any text.
    Any,
}

fn pieces(format: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            text.push('%');
            continue;
        }
        // flags, width, precision, length, then the conversion
        while chars
            .peek()
            .is_some_and(|c| "-+ #0123456789.hlzjtL".contains(*c))
        {
            chars.next();
        }
        if chars.next() == Some('p') {
            // the kernel's %pI4, %pi6, %pks, %pB, ...
            while chars
                .peek()
                .is_some_and(|c| "iIkKuUsS46BbMmhnlc".contains(*c))
            {
                chars.next();
            }
        }
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        out.push(Piece::Any);
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    out
}

/// Whether `message` is what `format` prints for some arguments: a glob
/// match with each conversion as `*` (first fits suffice, as for globs).
fn matches(format: &[Piece], message: &str) -> bool {
    let mut rest = message;
    let mut floating = false;
    for (i, piece) in format.iter().enumerate() {
        match piece {
            Piece::Any => floating = true,
            Piece::Text(t) => {
                let last = i == format.len() - 1;
                if !floating {
                    let Some(r) = rest.strip_prefix(t.as_str()) else {
                        return false;
                    };
                    rest = r;
                } else if last {
                    return rest.ends_with(t.as_str());
                } else {
                    let Some(at) = rest.find(t.as_str()) else {
                        return false;
                    };
                    rest = &rest[at + t.len()..];
                }
                floating = false;
            }
        }
    }
    floating || rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_pipe_lines_are_read_as_the_kernel_writes_them() {
        let line =
            "         python3-27643   [001] d..31 34731.283039: bpf_trace_printk: getppid by 27643";
        assert_eq!(
            parse_line(line),
            Some(TraceLine {
                comm: "python3",
                pid: 27643,
                cpu: 1,
                message: "getppid by 27643"
            })
        );
        // A comm with a dash and spaces keeps them; the pid is after the last dash.
        let line = " kworker/u8:2-x y-77 [000] ..... 1.0: bpf_trace_printk: hi";
        let l = parse_line(line).unwrap();
        assert_eq!((l.comm, l.pid, l.message), ("kworker/u8:2-x y", 77, "hi"));
        assert_eq!(parse_line("  <idle>-0 [000] 1.0: sched_switch: x"), None);
        assert_eq!(parse_line("garbage"), None);
    }

    #[test]
    fn a_message_is_the_packages_when_it_fits_one_of_its_formats() {
        let fits = |f: &str, m: &str| matches(&pieces(f), m);
        assert!(fits("getppid by %d", "getppid by 27643"));
        assert!(fits(
            "BPF triggered from PID %d.",
            "BPF triggered from PID 12."
        ));
        assert!(fits("%s opened %s (%llx)", "bash opened /etc/passwd (ff)"));
        assert!(fits("100%% of %u", "100% of 3"));
        assert!(fits("addr %pI4 port %d", "addr 127.0.0.1 port 80"));
        assert!(fits("%d", "-5"));
        assert!(!fits("getppid by %d", "exec by 5"));
        assert!(!fits(
            "BPF triggered from PID %d.",
            "BPF triggered from PID 12"
        ));
        assert!(!fits("x=%d", "prefix x=1"));
    }
}
