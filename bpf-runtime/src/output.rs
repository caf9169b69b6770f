//! Showing what a kernel-only package observes: records from ring buffers
//! and perf event arrays decoded through the BTF of their struct, as an
//! aligned table or JSON lines; hash and array maps as counters every
//! interval (per-CPU values summed); log2 histogram maps as histograms.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use aya::maps::perf::PerfEventArrayBuffer;
use aya::maps::{MapData, PerfEventArray, RingBuf};
use ebpf_object::{Display, MapInfo, ObjectInfo, TypeDesc};
use serde_json::Value;

use crate::attach::Loaded;
use crate::error::{Result, RuntimeError};

/// How to show output.
#[derive(Debug, Clone)]
pub struct OutputOptions {
    pub json: bool,
    /// How often counters and histograms are printed.
    pub interval: Duration,
    /// Stop after this long.
    pub duration: Option<Duration>,
}

/// What was seen, for the final line.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Seen {
    pub events: u64,
    /// Events the kernel dropped, per CPU (perf buffers report them).
    pub lost_per_cpu: std::collections::BTreeMap<u32, u64>,
    /// Lines of the package's `bpf_printk` shown.
    pub traces: u64,
}

enum Source {
    Ring {
        map: String,
        ring: RingBuf<MapData>,
        record: Option<TypeDesc>,
    },
    Perf {
        map: String,
        /// Each online CPU's buffer, with the CPU.
        buffers: Vec<(u32, PerfEventArrayBuffer<MapData>)>,
        record: Option<TypeDesc>,
    },
}

struct Counter {
    info: MapInfo,
    fd: RawFd,
    per_cpu: bool,
}

impl Seen {
    /// Events the kernel dropped, on all CPUs.
    pub fn lost(&self) -> u64 {
        self.lost_per_cpu.values().sum()
    }
}

/// Shows the package's output until `stop` is set or the duration ends.
pub fn show(
    loaded: &mut Loaded,
    object: &ObjectInfo,
    opts: &OutputOptions,
    stop: &AtomicBool,
) -> Result<Seen> {
    let big_endian = object.endianness == ebpf_object::Endianness::Big;
    let mut sources = Vec::new();
    let mut counters = Vec::new();
    for m in &object.maps {
        match m.display {
            Display::Events => {
                let Some(map) = loaded.take_map(&m.name) else {
                    continue;
                };
                let record = m.record.clone();
                if m.ty == "ringbuf" {
                    let ring = RingBuf::try_from(map).map_err(|e| {
                        RuntimeError::kernel(format!("open ring buffer {}", m.name), e)
                    })?;
                    sources.push(Source::Ring {
                        map: m.name.clone(),
                        ring,
                        record,
                    });
                } else {
                    let mut array = PerfEventArray::try_from(map).map_err(|e| {
                        RuntimeError::kernel(format!("open perf event array {}", m.name), e)
                    })?;
                    let cpus = aya::util::online_cpus()
                        .map_err(|(what, e)| RuntimeError::kernel(format!("read {what}"), e))?;
                    let mut buffers = Vec::new();
                    for cpu in cpus {
                        buffers.push((
                            cpu,
                            array.open(cpu, Some(16)).map_err(|e| {
                                RuntimeError::kernel(
                                    format!("open the perf buffer of CPU {cpu}"),
                                    e,
                                )
                            })?,
                        ));
                    }
                    sources.push(Source::Perf {
                        map: m.name.clone(),
                        buffers,
                        record,
                    });
                }
            }
            Display::Counters | Display::Log2Histogram => {
                if let Some(map) = loaded.map(&m.name) {
                    counters.push(Counter {
                        info: m.clone(),
                        fd: crate::maps::map_data(map).fd().as_fd().as_raw_fd(),
                        per_cpu: m.ty.starts_with("percpu_") || m.ty.starts_with("lru_percpu"),
                    });
                }
            }
            Display::Hidden => {}
        }
    }

    // Opened only when the package prints, and only for this run.
    let mut trace = crate::trace::TracePipe::open(&object.prints)
        .map_err(|e| eprintln!("warning: {e}; bpf_printk output is not shown"))
        .ok()
        .flatten();

    let start = Instant::now();
    let deadline = opts.duration.map(|d| start + d);
    let mut next_tick = start + opts.interval;
    let mut seen = Seen::default();
    let mut printer = EventPrinter::new(opts.json, big_endian);
    let out = std::io::stdout();
    loop {
        if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let now = Instant::now();
        let mut wake = next_tick;
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        let timeout = wake.saturating_duration_since(now);
        let mut fds: Vec<libc::pollfd> = Vec::new();
        for s in &sources {
            match s {
                Source::Ring { ring, .. } => fds.push(pollfd(ring.as_raw_fd())),
                Source::Perf { buffers, .. } => {
                    fds.extend(buffers.iter().map(|(_, b)| pollfd(b.as_raw_fd())))
                }
            }
        }
        if let Some(t) = &trace {
            fds.push(pollfd(t.fd()));
        }
        // SAFETY: fds is a valid array of pollfd for its length.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                timeout.as_millis().min(i32::MAX as u128) as i32,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(RuntimeError::kernel("wait for events", e));
        }
        let mut lock = out.lock();
        for s in &mut sources {
            match s {
                Source::Ring { map, ring, record } => {
                    while let Some(item) = ring.next() {
                        seen.events += 1;
                        printer.print(&mut lock, map, record.as_ref(), &item);
                    }
                }
                Source::Perf {
                    map,
                    buffers,
                    record,
                } => {
                    for (cpu, b) in buffers.iter_mut() {
                        if !b.readable() {
                            continue;
                        }
                        b.for_each(|ev| match ev {
                            aya::maps::perf::PerfEvent::Sample { head, tail } => {
                                seen.events += 1;
                                let bytes: Vec<u8> = head.iter().chain(tail).copied().collect();
                                printer.print(&mut lock, map, record.as_ref(), &bytes);
                            }
                            aya::maps::perf::PerfEvent::Lost { count } => {
                                *seen.lost_per_cpu.entry(*cpu).or_default() += count;
                                printer.print_lost(&mut lock, map, *cpu, count);
                            }
                        });
                    }
                }
            }
        }
        if let Some(t) = &mut trace {
            t.read(|line| {
                seen.traces += 1;
                printer.print_trace(&mut lock, &line);
            });
        }
        if Instant::now() >= next_tick {
            next_tick += opts.interval;
            for c in &counters {
                print_counter(&mut lock, c, opts.json, big_endian)?;
            }
        }
        if lock.flush().is_err() {
            // The reader went away (a closed pipe): stop quietly.
            break;
        }
    }
    Ok(seen)
}

fn pollfd(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

fn now_rfc3339() -> String {
    // Formatted once per millisecond: a busy stream has many events in each.
    thread_local!(static LAST: std::cell::RefCell<(u128, String)> = Default::default());
    let now = SystemTime::now();
    let ms = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != ms || last.1.is_empty() {
            *last = (ms, humantime::format_rfc3339_millis(now).to_string());
        }
        last.1.clone()
    })
}

/// Local wall-clock time as HH:MM:SS, formatted once per second.
fn clock() -> String {
    thread_local!(static LAST: std::cell::RefCell<(i64, String)> = Default::default());
    // SAFETY: time and localtime_r write into the given structs only.
    let t = unsafe { libc::time(std::ptr::null_mut()) };
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != t || last.1.is_empty() {
            // SAFETY: as above.
            let tm = unsafe {
                let mut tm: libc::tm = std::mem::zeroed();
                libc::localtime_r(&t, &mut tm);
                tm
            };
            *last = (
                t,
                format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec),
            );
        }
        last.1.clone()
    })
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Prints the records of one event map as `run` does: an aligned table (its
/// header once) or JSON lines. Each record is written straight from its
/// bytes into one reused line buffer. Public for `examples/decode_rate.rs`.
pub struct EventPrinter {
    json: bool,
    big_endian: bool,
    header_done: bool,
    line: Vec<u8>,
    cell: Vec<u8>,
}

impl EventPrinter {
    pub fn new(json: bool, big_endian: bool) -> EventPrinter {
        EventPrinter {
            json,
            big_endian,
            header_done: false,
            line: Vec::with_capacity(256),
            cell: Vec::with_capacity(64),
        }
    }

    /// A perf buffer's report that the kernel dropped `count` events on
    /// `cpu` (the buffer was full).
    pub fn print_lost(&mut self, out: &mut impl Write, map: &str, cpu: u32, count: u64) {
        self.line.clear();
        if self.json {
            let v =
                serde_json::json!({"time": now_rfc3339(), "map": map, "lost": count, "cpu": cpu});
            serde_json::to_writer(&mut self.line, &v).expect("writing to a Vec cannot fail");
        } else {
            let _ = write!(
                self.line,
                "{}  {map}  lost {count} events on CPU {cpu} (its perf buffer was full)",
                clock()
            );
        }
        self.line.push(b'\n');
        let _ = out.write_all(&self.line);
    }

    /// Prints a line the package's `bpf_printk` wrote: in JSON as
    /// `{"time","trace":{"comm","pid","cpu","message"}}`, in a table as
    /// `TIME  trace  COMM[PID]  MESSAGE` (its text escaped).
    pub fn print_trace(&mut self, out: &mut impl Write, line: &crate::trace::TraceLine<'_>) {
        self.line.clear();
        if self.json {
            let v = serde_json::json!({
                "time": now_rfc3339(),
                "trace": {
                    "comm": line.comm,
                    "pid": line.pid,
                    "cpu": line.cpu,
                    "message": line.message,
                }
            });
            serde_json::to_writer(&mut self.line, &v).expect("writing to a Vec cannot fail");
        } else {
            let escape = ebpf_object::text::escape_controls;
            let _ = write!(
                self.line,
                "{}  trace  {}[{}]  {}",
                clock(),
                escape(line.comm),
                line.pid,
                escape(line.message)
            );
        }
        self.line.push(b'\n');
        let _ = out.write_all(&self.line);
    }

    /// Decodes `bytes` through `record` (hex without one) and prints it.
    pub fn print(
        &mut self,
        out: &mut impl Write,
        map: &str,
        record: Option<&TypeDesc>,
        bytes: &[u8],
    ) {
        // Without a record type, the bytes are shown in hex.
        let raw;
        let record = match record {
            Some(t) => t,
            None => {
                raw = TypeDesc::Opaque {
                    name: String::new(),
                    size: bytes.len() as u32,
                };
                &raw
            }
        };
        self.line.clear();
        if self.json {
            self.line.extend_from_slice(b"{\"time\":\"");
            self.line.extend_from_slice(now_rfc3339().as_bytes());
            self.line.extend_from_slice(b"\",\"map\":");
            serde_json::to_writer(&mut self.line, map).expect("writing to a Vec cannot fail");
            self.line.extend_from_slice(b",\"event\":");
            record.write_json(&mut self.line, bytes, self.big_endian);
            self.line.extend_from_slice(b"}\n");
            let _ = out.write_all(&self.line);
            return;
        }
        let fields = match record {
            TypeDesc::Struct { fields, .. } => fields.as_slice(),
            _ => &[],
        };
        if fields.is_empty() {
            self.line.extend_from_slice(clock().as_bytes());
            self.line.extend_from_slice(b"  ");
            record.write_cell(&mut self.line, bytes, self.big_endian);
            self.line.push(b'\n');
            let _ = out.write_all(&self.line);
            return;
        }
        let width =
            |f: &ebpf_object::Field| f.name.len().max(if f.ty.is_textual() { 16 } else { 7 });
        if !self.header_done {
            self.header_done = true;
            let mut header = format!("{:<8}", "TIME");
            for f in fields {
                let (upper, w) = (f.name.to_uppercase(), width(f));
                if f.ty.is_textual() {
                    header.push_str(&format!("  {upper:<w$}"));
                } else {
                    header.push_str(&format!("  {upper:>w$}"));
                }
            }
            let _ = writeln!(out, "{}", header.trim_end());
        }
        self.line.extend_from_slice(clock().as_bytes());
        let family = record.address_family(bytes, self.big_endian);
        for f in fields {
            self.cell.clear();
            f.write_cell(&mut self.cell, bytes, self.big_endian, family);
            let pad = width(f).saturating_sub(self.cell.len());
            self.line.extend_from_slice(b"  ");
            if f.ty.is_textual() {
                self.line.extend_from_slice(&self.cell);
                self.line.resize(self.line.len() + pad, b' ');
            } else {
                self.line.resize(self.line.len() + pad, b' ');
                self.line.extend_from_slice(&self.cell);
            }
        }
        while self.line.last() == Some(&b' ') {
            self.line.pop();
        }
        self.line.push(b'\n');
        let _ = out.write_all(&self.line);
    }
}

/// Adds per-CPU values: numbers add up, structs and arrays field by field.
fn sum(a: Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_u64(), y.as_u64()) {
            (Some(x), Some(y)) => Value::from(x.wrapping_add(y)),
            _ => Value::from(x.as_f64().unwrap_or(0.0) + y.as_f64().unwrap_or(0.0)),
        },
        (Value::Object(mut x), Value::Object(y)) => {
            for (k, v) in y {
                let cur = x.remove(k).unwrap_or(Value::Null);
                x.insert(
                    k.clone(),
                    if cur.is_null() {
                        v.clone()
                    } else {
                        sum(cur, v)
                    },
                );
            }
            Value::Object(x)
        }
        (Value::Array(x), Value::Array(y)) => {
            Value::Array(x.into_iter().zip(y).map(|(a, b)| sum(a, b)).collect())
        }
        (a, _) => a,
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Object(m) => m.values().all(is_zero),
        Value::Array(a) => a.iter().all(is_zero),
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Null => true,
    }
}

/// `field=value` pairs in the type's field order.
fn inline(v: &Value, ty: Option<&TypeDesc>, name: &str) -> String {
    match v {
        Value::Object(m) => {
            let order: Vec<&str> = match ty {
                Some(TypeDesc::Struct { fields, .. }) => {
                    fields.iter().map(|f| f.name.as_str()).collect()
                }
                _ => m.keys().map(String::as_str).collect(),
            };
            order
                .iter()
                .filter_map(|k| m.get(*k).map(|v| format!("{k}={}", cell(v))))
                .collect::<Vec<_>>()
                .join("  ")
        }
        other => format!("{name}={}", cell(other)),
    }
}

fn print_counter(out: &mut impl Write, c: &Counter, json: bool, big_endian: bool) -> Result<()> {
    let entries = crate::maps::entries(c.fd, &c.info, c.per_cpu)
        .map_err(|e| RuntimeError::kernel(format!("read map {}", c.info.name), e))?;
    let decode = |t: &Option<TypeDesc>, b: &[u8]| match t {
        Some(t) => t.decode(b, big_endian),
        None => Value::String(b.iter().map(|x| format!("{x:02x}")).collect()),
    };
    let mut rows = Vec::new();
    for (key, values) in &entries {
        // An entry nothing has written (all zero bytes) says nothing, typed
        // or not: scratch buffers (libbpf-tools' `heap`), array slots unused.
        if values.iter().all(|v| v.iter().all(|&b| b == 0)) {
            continue;
        }
        let mut value = Value::Null;
        for v in values {
            let d = decode(&c.info.value, v);
            value = if value.is_null() { d } else { sum(value, &d) };
        }
        rows.push((decode(&c.info.key, key), value));
    }
    if c.info.display == Display::Log2Histogram {
        return print_histogram(out, &c.info.name, &rows, json);
    }
    for (key, value) in rows.iter().filter(|(_, v)| !is_zero(v)) {
        if let Some((slots, rest)) = slots_histogram(value) {
            print_slots_histogram(out, c, key, &slots, &rest, json);
            continue;
        }
        if json {
            let line = serde_json::json!({"time": now_rfc3339(), "map": c.info.name, "key": key, "value": value});
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(
                out,
                "{}  {}  {}  {}",
                clock(),
                c.info.name,
                inline(key, c.info.key.as_ref(), "key"),
                inline(value, c.info.value.as_ref(), "value")
            );
        }
    }
    Ok(())
}

/// The values of log2 bucket `i`: 0 holds 0, `i` holds `2^(i-1) ..= 2^i - 1`;
/// `None` past 64, where no `u64` lies (a key the program should not write).
fn bucket_bounds(i: u64) -> Option<(u64, u64)> {
    match i {
        0 => Some((0, 0)),
        1..=64 => Some((1u64 << (i - 1), u64::MAX >> (64 - i))),
        _ => None,
    }
}

fn print_histogram(
    out: &mut impl Write,
    name: &str,
    rows: &[(Value, Value)],
    json: bool,
) -> Result<()> {
    let buckets = log2_buckets(
        rows.iter()
            .filter_map(|(k, v)| Some((k.as_u64()?, v.as_u64()?))),
    );
    if buckets.is_empty() {
        return Ok(());
    }
    if json {
        let line = serde_json::json!({"time": now_rfc3339(), "map": name, "histogram": buckets_json(&buckets)});
        let _ = writeln!(out, "{line}");
        return Ok(());
    }
    let _ = writeln!(out, "{}  {name}", clock());
    write_buckets(out, &buckets);
    Ok(())
}

/// The non-empty log2 buckets of `(index, count)` pairs, lowest first:
/// `(low, high, count)`.
fn log2_buckets(counts: impl Iterator<Item = (u64, u64)>) -> Vec<(u64, u64, u64)> {
    let mut buckets: Vec<(u64, u64, u64)> = counts
        .filter_map(|(i, n)| {
            let (low, high) = bucket_bounds(i)?;
            Some((low, high, n))
        })
        .filter(|(_, _, n)| *n > 0)
        .collect();
    buckets.sort();
    buckets
}

fn buckets_json(buckets: &[(u64, u64, u64)]) -> Value {
    buckets
        .iter()
        .map(|(low, high, n)| serde_json::json!({"low": low, "high": high, "count": n}))
        .collect()
}

/// A histogram as the bcc tools draw it: one line per bucket, stars scaled
/// to the largest.
fn write_buckets(out: &mut impl Write, buckets: &[(u64, u64, u64)]) {
    let max = buckets.iter().map(|(_, _, n)| *n).max().unwrap_or(1);
    let _ = writeln!(out, "{:>24} : {:<10} distribution", "value", "count");
    for &(low, high, n) in buckets {
        let stars = (u128::from(n) * 40 / u128::from(max)) as usize;
        let _ = writeln!(
            out,
            "{:>10} -> {:<10} : {:<10} |{:<40}|",
            low,
            high,
            n,
            "*".repeat(stars)
        );
    }
}

/// libbpf-tools' histograms: a value struct whose `slots` field is an array
/// of counts per log2 bucket (`struct hist { __u32 slots[26]; char comm[16]; }`),
/// one histogram per key. Returns the counts and the value's other fields.
fn slots_histogram(value: &Value) -> Option<(Vec<u64>, Value)> {
    let Value::Object(fields) = value else {
        return None;
    };
    let slots = fields
        .get("slots")?
        .as_array()?
        .iter()
        .map(Value::as_u64)
        .collect::<Option<Vec<u64>>>()?;
    let mut rest = fields.clone();
    rest.remove("slots");
    Some((slots, Value::Object(rest)))
}

/// One entry of a libbpf-tools histogram map: its key and other fields,
/// then the buckets.
fn print_slots_histogram(
    out: &mut impl Write,
    c: &Counter,
    key: &Value,
    slots: &[u64],
    rest: &Value,
    json: bool,
) {
    let buckets = log2_buckets(slots.iter().enumerate().map(|(i, n)| (i as u64, *n)));
    if buckets.is_empty() {
        return;
    }
    if json {
        let line = serde_json::json!({
            "time": now_rfc3339(), "map": c.info.name, "key": key, "value": rest,
            "histogram": buckets_json(&buckets),
        });
        let _ = writeln!(out, "{line}");
        return;
    }
    let mut title = format!(
        "{}  {}  {}",
        clock(),
        c.info.name,
        inline(key, c.info.key.as_ref(), "key")
    );
    if !is_zero(rest) {
        title.push_str("  ");
        title.push_str(&inline(rest, c.info.value.as_ref(), "value"));
    }
    let _ = writeln!(out, "{title}");
    write_buckets(out, &buckets);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebpf_object::{Field, TypeDesc};
    use serde_json::json;

    fn int(name: &str, size: u32) -> TypeDesc {
        TypeDesc::Int {
            name: name.into(),
            size,
            signed: false,
            char: false,
            bool: false,
        }
    }

    /// `struct event { __u32 pid; char comm[8]; }`
    fn event() -> TypeDesc {
        let comm = TypeDesc::Array {
            len: 8,
            elem: Box::new(TypeDesc::Int {
                name: "char".into(),
                size: 1,
                signed: true,
                char: true,
                bool: false,
            }),
        };
        TypeDesc::Struct {
            name: "event".into(),
            size: 12,
            fields: vec![
                Field {
                    name: "pid".into(),
                    offset: 0,
                    bit_offset: 0,
                    bits: 0,
                    ty: int("__u32", 4),
                },
                Field {
                    name: "comm".into(),
                    offset: 4,
                    bit_offset: 0,
                    bits: 0,
                    ty: comm,
                },
            ],
        }
    }

    fn record(pid: u32, comm: &str) -> Vec<u8> {
        let mut b = pid.to_le_bytes().to_vec();
        let mut c = comm.as_bytes().to_vec();
        c.resize(8, 0);
        b.extend(c);
        b
    }

    #[test]
    fn events_print_as_a_table_with_one_header() {
        let mut p = EventPrinter::new(false, false);
        let mut out = Vec::new();
        p.print(&mut out, "events", Some(&event()), &record(7, "bash"));
        p.print(&mut out, "events", Some(&event()), &record(12345, "a<b>"));
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0], "TIME          PID  COMM");
        // HH:MM:SS, then the columns aligned under the header.
        assert_eq!(&lines[1][8..], "        7  bash");
        assert_eq!(&lines[2][8..], "    12345  a<b>");
        assert_eq!(lines[1].as_bytes()[2], b':');
    }

    #[test]
    fn events_print_as_json_lines_and_short_records_field_by_field() {
        let mut p = EventPrinter::new(true, false);
        let mut out = Vec::new();
        p.print(&mut out, "ev\"ents", Some(&event()), &record(7, "sh"));
        p.print(&mut out, "events", Some(&event()), &[1, 2]);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["map"], "ev\"ents");
        assert_eq!(lines[0]["event"], json!({"pid": 7, "comm": "sh"}));
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            lines[1]["event"],
            json!({"pid": null, "comm": null}),
            "a record shorter than any of its fields"
        );
    }

    #[test]
    fn events_without_a_record_type_print_in_hex() {
        let mut p = EventPrinter::new(true, false);
        let mut out = Vec::new();
        p.print(&mut out, "raw", None, &[0xde, 0xad]);
        let line: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["event"], "dead");
    }

    #[test]
    fn per_cpu_values_add_up_field_by_field() {
        assert_eq!(sum(json!(2), &json!(3)), json!(5));
        assert_eq!(
            sum(json!(u64::MAX), &json!(1)),
            json!(0),
            "wraps as the kernel does"
        );
        assert_eq!(
            sum(
                json!({"packets": 1, "bytes": 60}),
                &json!({"packets": 2, "bytes": 40})
            ),
            json!({"packets": 3, "bytes": 100})
        );
        assert_eq!(sum(json!([1, 2]), &json!([3, 4])), json!([4, 6]));
        assert!(is_zero(&json!({"packets": 0, "bytes": [0, 0]})));
        assert!(!is_zero(&json!({"packets": 0, "bytes": 1})));
    }

    #[test]
    fn counters_show_fields_in_their_types_order() {
        let ty = TypeDesc::Struct {
            name: "v".into(),
            size: 16,
            fields: ["packets", "bytes"]
                .iter()
                .enumerate()
                .map(|(i, n)| Field {
                    name: (*n).into(),
                    offset: 8 * i as u32,
                    bit_offset: 0,
                    bits: 0,
                    ty: int("__u64", 8),
                })
                .collect(),
        };
        let v = json!({"bytes": 100, "packets": 3});
        assert_eq!(inline(&v, Some(&ty), "value"), "packets=3  bytes=100");
        assert_eq!(inline(&json!("tcp"), None, "key"), "key=tcp");
        assert_eq!(inline(&Value::Null, None, "key"), "key=-");
    }

    #[test]
    fn histograms_print_buckets_and_ignore_impossible_ones() {
        assert_eq!(bucket_bounds(0), Some((0, 0)));
        assert_eq!(bucket_bounds(1), Some((1, 1)));
        assert_eq!(bucket_bounds(4), Some((8, 15)));
        assert_eq!(bucket_bounds(64), Some((1 << 63, u64::MAX)));
        assert_eq!(bucket_bounds(65), None);
        let rows = vec![
            (json!(3), json!(10)),
            (json!(1), json!(5)),
            (json!(2), json!(0)),
            (json!(1000), json!(99)),
            (json!(64), json!(u64::MAX)),
        ];
        let mut out = Vec::new();
        print_histogram(&mut out, "lat", &rows, true).unwrap();
        let line: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            line["histogram"],
            json!([
                {"low": 1, "high": 1, "count": 5},
                {"low": 4, "high": 7, "count": 10},
                {"low": 1u64 << 63, "high": u64::MAX, "count": u64::MAX},
            ])
        );
        let mut out = Vec::new();
        print_histogram(&mut out, "lat", &rows, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[2].starts_with("         1 -> 1          : 5 "),
            "{text}"
        );
        assert!(
            lines[4].ends_with(&format!("|{}|", "*".repeat(40))),
            "{text}"
        );
    }

    #[test]
    fn libbpf_tools_histograms_are_one_per_key_with_their_other_fields() {
        let value = json!({"slots": [0, 2, 0, 8], "comm": "bash"});
        let (slots, rest) = slots_histogram(&value).unwrap();
        assert_eq!(slots, [0, 2, 0, 8]);
        assert_eq!(rest, json!({"comm": "bash"}));
        assert!(slots_histogram(&json!({"slots": ["a"]})).is_none());
        assert!(slots_histogram(&json!({"count": 1})).is_none());
        let c = Counter {
            info: ebpf_object::MapInfo {
                name: "hists".into(),
                ty: "hash".into(),
                key_size: 4,
                value_size: 32,
                max_entries: 1,
                key: None,
                value: None,
                display: Display::Counters,
                record: None,
            },
            fd: -1,
            per_cpu: false,
        };
        let mut out = Vec::new();
        print_slots_histogram(&mut out, &c, &json!(4294967295u32), &slots, &rest, true);
        let line: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["value"], json!({"comm": "bash"}));
        assert_eq!(
            line["histogram"],
            json!([{"low": 1, "high": 1, "count": 2}, {"low": 4, "high": 7, "count": 8}])
        );
        let mut out = Vec::new();
        print_slots_histogram(&mut out, &c, &json!(7), &slots, &rest, false);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.lines()
                .next()
                .unwrap()
                .ends_with("hists  key=7  comm=bash"),
            "{text}"
        );
        assert!(text.contains("         4 -> 7          : 8 "), "{text}");
    }
}
