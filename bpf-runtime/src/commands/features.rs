//! `bpf-runtime features`: what this kernel offers, as `run` checks it.

use ebpf_cli::{out, out_json};

use super::list::ListArgs;
use crate::error::Result;
use crate::kernel::Host;

pub fn execute(a: ListArgs) -> Result<i32> {
    let host = Host::probe();
    let features = host.features();
    if a.json {
        out_json(
            &serde_json::json!({
                "release": host.release,
                "arch": std::env::consts::ARCH,
                "features": features,
            }),
            true,
        );
        return Ok(0);
    }
    let mut text = format!("Linux {} ({})\n", host.release, std::env::consts::ARCH);
    for f in &features {
        let state = match (f.present, f.certain) {
            (true, true) => "yes",
            (true, false) => "yes (new enough; known for sure only on load)",
            (false, _) => "no",
        };
        text.push_str(&format!("  {:<64} {state}\n", f.describe));
    }
    out(&text);
    Ok(0)
}
