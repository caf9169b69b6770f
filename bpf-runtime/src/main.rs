//! `bpf-runtime`: parse, run, exit with the command's code.

fn main() {
    bpf_runtime::cli::main()
}
