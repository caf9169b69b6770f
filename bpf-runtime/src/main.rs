//! `bpf-runtime`: parse, run, exit with the command's code.

fn main() {
    let cli = bpf_runtime::cli::parse();
    match bpf_runtime::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}
