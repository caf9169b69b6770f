//! `bpf-runtime list`: what the runtime has loaded.

use clap::Args;
use ebpf_cli::{Align, Table, out, out_json};

use crate::error::Result;
use crate::records::{self, Held, Record, StateDirs};

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

pub fn execute(a: ListArgs) -> Result<i32> {
    let records = records::list(&StateDirs::from_env())?;
    if a.json {
        let v: Vec<_> = records
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).expect("records serialize");
                v["alive"] = r.alive().into();
                v
            })
            .collect();
        out_json(&v, true);
    } else if records.is_empty() {
        eprintln!("nothing loaded");
    } else {
        out(&render(&records));
    }
    Ok(0)
}

/// The table `list` prints: one row per program.
fn render(records: &[Record]) -> String {
    let left = |h| (h, Align::Left, 0);
    let mut t = Table::new(&[
        left("NAME"),
        left("PACKAGE"),
        left("PROGRAM"),
        left("ATTACHED TO"),
        left("ID"),
        left("SINCE"),
        left("HELD BY"),
        left("TRUST"),
    ]);
    for r in records {
        let held = match (&r.held, r.alive()) {
            (Held::Pins { dir }, true) => format!("pins {}", dir.display()),
            (Held::Process { pid, .. }, true) => format!("run, pid {pid}"),
            (Held::Pins { .. }, false) => "pins gone (run gc)".into(),
            (Held::Process { pid, .. }, false) => format!("pid {pid} gone (run gc)"),
        };
        let trust = r.trust.as_ref().map(|t| t.summary()).unwrap_or_default();
        if let Some(child) = r.userspace {
            // The package's user space loads its own programs.
            t.row(vec![
                r.name.clone(),
                format!("{}:{}", r.package, r.version),
                format!("(user space, pid {child})"),
                String::new(),
                String::new(),
                r.since.clone(),
                held.clone(),
                trust.clone(),
            ]);
        }
        for a in &r.programs {
            t.row(vec![
                r.name.clone(),
                format!("{}:{}", r.package, r.version),
                a.program.clone(),
                a.point.to_string(),
                a.id.map(|i| i.to_string()).unwrap_or_default(),
                r.since.clone(),
                held.clone(),
                trust.clone(),
            ]);
        }
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attach::Attached;
    use ebpf_kinds::{AttachPoint, ProgramType};

    #[test]
    fn one_row_per_program_and_dead_holders_say_gc() {
        let record = Record {
            userspace: None,
            name: "xdp-counter".into(),
            package: "xdp-counter".into(),
            version: "0.1.0".into(),
            reference: "xdp-counter:0.1.0".into(),
            digest: None,
            trust: None,
            since: "2026-12-02T10:00:00Z".into(),
            held: Held::Process {
                pid: u32::MAX,
                start: 1,
            },
            programs: vec![Attached {
                program: "count_packets".into(),
                ty: ProgramType::Xdp,
                point: AttachPoint::Xdp { iface: "lo".into() },
                id: Some(42),
                links: vec![],
            }],
            maps: vec!["stats".into()],
        };
        let text = render(&[record]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("NAME         PACKAGE"), "{text}");
        assert!(
            lines[1].contains("count_packets  xdp lo       42")
                && lines[1].ends_with(&format!("pid {} gone (run gc)", u32::MAX)),
            "{text}"
        );
    }
}
