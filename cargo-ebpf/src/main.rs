//! `cargo ebpf`: parse, run, map the result to an exit code.

fn main() {
    cargo_ebpf::cli::main()
}
