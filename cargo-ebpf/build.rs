// The templates and the tool table are embedded: rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=../templates");
    println!("cargo:rerun-if-changed=../ci/tools.tsv");
}
