//! `bpf-runtime run`: load, attach, show, and remove everything on the way
//! out.

use std::time::Duration;

use clap::Args;

use super::{Plan, Purpose, TargetArgs, prepare, print_attached};
use crate::attach;
use crate::error::Result;
use crate::output::{self, OutputOptions};
use crate::records::{self, StateDirs};
use crate::userspace;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Print JSON lines instead of a table
    #[arg(long)]
    pub json: bool,
    /// Stop after this long (10s, 1m, ...)
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// How often counters are printed
    #[arg(long, value_parser = parse_interval, default_value = "1s")]
    pub interval: Duration,
    /// Arguments for the package's user-space program
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// An interval for counters: at least 100 ms (`0s` spun a core).
fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(100) {
        return Err("at least 100ms (counters are read from the kernel each time)".into());
    }
    Ok(d)
}

pub fn execute(a: RunArgs) -> Result<i32> {
    let (pkg, plan) = prepare(a.target, Purpose::Run)?;
    let opts = match plan {
        Plan::UserSpace(flags) => {
            let args = userspace::arguments(&pkg, &flags, &a.args)?;
            return userspace::run(&pkg, &args, a.duration);
        }
        Plan::Programs(opts) => opts,
    };
    // Signals only set a flag: the loop below notices, and everything is
    // detached and unloaded on the way out.
    let signals = ebpf_oci::fs::SignalGuard::catch();
    let started = std::time::Instant::now();
    let mut loaded = attach::load(&pkg, &opts)?;
    let attached_in = started.elapsed().as_secs_f64() * 1000.0;
    // Without a record `list` cannot show this run; it still runs.
    let record = records::record_run(&StateDirs::from_env(), &pkg, &loaded)
        .map_err(|e| eprintln!("warning: this run is not recorded for `list` and `gc`: {e}"))
        .ok();
    print_attached(&loaded.attached, &pkg.name, a.json, attached_in);
    if !a.json {
        eprintln!(
            "{} attached in {attached_in:.1} ms; Ctrl-C to stop",
            pkg.name
        );
    }
    let seen = output::show(
        &mut loaded,
        &pkg.object,
        &OutputOptions {
            json: a.json,
            interval: a.interval,
            duration: a.duration,
        },
        signals.flag(),
    )?;
    drop(loaded);
    drop(record);
    if !a.json {
        eprintln!(
            "detached and unloaded {} ({} events{}{})",
            pkg.name,
            seen.events,
            if seen.lost() > 0 {
                let per_cpu: Vec<String> = seen
                    .lost_per_cpu
                    .iter()
                    .map(|(cpu, n)| format!("CPU {cpu}: {n}"))
                    .collect();
                format!(", {} lost ({})", seen.lost(), per_cpu.join(", "))
            } else {
                String::new()
            },
            if seen.traces > 0 {
                format!(", {} bpf_printk lines", seen.traces)
            } else {
                String::new()
            }
        );
    }
    Ok(0)
}
