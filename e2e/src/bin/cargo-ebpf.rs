//! `cargo-ebpf` as the end-to-end tests run it: the shipped binary's `main`.

fn main() {
    cargo_ebpf::cli::main()
}
