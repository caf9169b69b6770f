//! ELF and BTF analysis of an eBPF object (what `package` and the runtime
//! read from every image): any bytes give an answer or an error, never a
//! panic or an unbounded allocation.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ebpf_object::analyze(data, &ebpf_object::Hints::default());
});
