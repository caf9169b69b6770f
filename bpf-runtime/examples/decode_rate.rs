//! How many ring-buffer records per second `bpf-runtime run` decodes and
//! prints: records shaped like a real object's event struct, through the
//! code `run` uses, into a sink (the kernel side is not part of it).
//! `ci/bench.py` runs it.
//!
//! usage: decode_rate OBJECT.bpf.o [RECORDS]

use std::time::Instant;

use bpf_runtime::output::EventPrinter;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: decode_rate OBJECT.bpf.o [RECORDS]");
        std::process::exit(2);
    };
    let n: usize = args
        .next()
        .map(|s| s.parse().expect("RECORDS is a number"))
        .unwrap_or(1_000_000);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let info =
        ebpf_object::analyze(&data, &Default::default()).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (map, record) = info
        .maps
        .iter()
        .find_map(|m| Some((m.name.as_str(), m.record.as_ref()?)))
        .unwrap_or_else(|| panic!("{path} has no event map with a record type"));
    let big_endian = info.endianness == ebpf_object::Endianness::Big;
    // Sixteen different records: a small number, then short NUL-terminated
    // words everywhere, so every char array holds a short string as in
    // real events (a file name, a command).
    let size = record.size() as usize;
    let records: Vec<Vec<u8>> = (0..16u8)
        .map(|i| {
            let mut r: Vec<u8> = (0..size).map(|j| b"/bin/sh\0"[j % 8]).collect();
            r[..4.min(size)].copy_from_slice(&u32::from(i).to_le_bytes()[..4.min(size)]);
            r
        })
        .collect();
    for json in [true, false] {
        let mut printer = EventPrinter::new(json, big_endian);
        let mut out = std::io::BufWriter::new(std::io::sink());
        let start = Instant::now();
        for i in 0..n {
            printer.print(&mut out, map, Some(record), &records[i % records.len()]);
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{} {:.0} records/s ({n} records of {size} bytes in {secs:.2} s)",
            if json { "json" } else { "table" },
            n as f64 / secs
        );
    }
}
