//! `cargo ebpf`: parse, run, map the result to an exit code.

fn main() {
    let cli = cargo_ebpf::cli::parse();
    if let Err(e) = cargo_ebpf::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
