//! ELF and BTF analysis of an eBPF object (what `package` and the runtime
//! read from every image), DWARF records included, and the stripping of its
//! debug info: any bytes give an answer or an error, never a panic or an
//! unbounded allocation; a stripped object analyses as the original did.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let before = ebpf_object::analyze(data, &ebpf_object::Hints::default());
    if let Ok(stripped) = ebpf_object::strip_debug(data) {
        let after = ebpf_object::analyze(&stripped, &ebpf_object::Hints::default());
        // Records may come from the DWARF stripping removes; the programs
        // and the maps' layout do not.
        if let (Ok(b), Ok(a)) = (&before, &after) {
            assert_eq!(b.programs, a.programs);
            assert_eq!(b.license, a.license);
        }
    }
});
