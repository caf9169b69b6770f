//! Prints what `ebpf_object::analyze` reads from objects, as JSON lines.
//! `cargo run -p ebpf-object --example analyze -- FILE.bpf.o...`

fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        let result = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|d| ebpf_object::analyze(&d, &Default::default()).map_err(|e| e.to_string()));
        match result {
            Ok(info) => println!("{}", serde_json::to_string(&info).expect("serializes")),
            Err(e) => {
                eprintln!("{path}: {e}");
                failed = true;
            }
        }
    }
    std::process::exit(i32::from(failed));
}
