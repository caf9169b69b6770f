//! `bpf-runtime` as the end-to-end tests run it: the shipped binary's `main`.

fn main() {
    bpf_runtime::cli::main()
}
