//! `cargo ebpf cluster-manifest`.

use clap::Args;
use ebpf_cli::{StoreArgs, out, out_json};
use ebpf_kinds::AttachArg;
use ebpf_object::attach::{AttachFlags, parse_set};

use crate::cluster::{self, ClusterOptions};
use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct ClusterArgs {
    /// The image: a tag in the local store (as `publish` or `pull` left it), a layout or an archive
    pub reference: String,
    /// Where the nodes pull the image from (default: the reference, when it names a registry)
    #[arg(long, value_name = "REGISTRY/REPOSITORY:TAG")]
    pub image: Option<String>,
    /// When nodes pull the image
    #[arg(long, value_parser = ["Always", "IfNotPresent", "Never"])]
    pub pull_policy: Option<String>,
    /// The resource's name (default: the package's)
    #[arg(long)]
    pub name: Option<String>,
    /// Write a namespaced BpfApplication in NAMESPACE (xdp, tc, uprobe and uretprobe programs)
    #[arg(long, value_name = "NAMESPACE", requires = "pods")]
    pub namespace: Option<String>,
    /// With --namespace: the pods to attach in, by label (repeatable)
    #[arg(long, value_name = "KEY=VALUE")]
    pub pods: Vec<String>,
    /// Only nodes with this label (repeatable; default: every node)
    #[arg(long, value_name = "KEY=VALUE")]
    pub node_selector: Vec<String>,
    /// Set a read-only global variable (globalData), checked against its type
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
    /// Network interface for xdp and tc programs (default: the package's, else each node's primary one)
    #[arg(long)]
    pub iface: Option<String>,
    /// tc direction, ingress or egress (default: the package's, else the section's, else ingress)
    #[arg(long)]
    pub direction: Option<String>,
    /// Function for kprobes and uprobes (default: the package's or the section's); PROGRAM=FUNCTION for one of several programs, repeatable
    #[arg(long)]
    pub symbol: Vec<String>,
    /// Executable or library for uprobes (default: the package's or the section's)
    #[arg(long)]
    pub binary: Option<String>,
    /// Only this process, for uprobes
    #[arg(long)]
    pub pid: Option<u32>,
    /// Priority of xdp and tc links (bpfman runs lower first)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub priority: u16,
    /// Print JSON instead of YAML (kubectl takes both)
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn pairs(flag: &str, values: &[String]) -> Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, val)) if !k.is_empty() => Ok((k.to_string(), val.to_string())),
            _ => Err(Error::usage(format!(
                "invalid --{flag} `{v}`: write KEY=VALUE"
            ))),
        })
        .collect()
}

pub fn execute(a: ClusterArgs) -> Result<()> {
    let sets = a
        .sets
        .iter()
        .map(|s| parse_set(s))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let manifest = cluster::manifest(&ClusterOptions {
        reference: a.reference,
        store: a.store.path(),
        image_url: a.image,
        pull_policy: a.pull_policy,
        name: a.name,
        namespace: a.namespace,
        pods: pairs("pods", &a.pods)?,
        node_selector: pairs("node-selector", &a.node_selector)?,
        sets,
        flags: AttachFlags::default()
            .with(AttachArg::Iface, a.iface)
            .with(AttachArg::Direction, a.direction)
            .with(AttachArg::Binary, a.binary)
            .with(AttachArg::Pid, a.pid)
            .with_each(AttachArg::Symbol, &a.symbol)?,
        priority: a.priority,
    })?;
    if a.json {
        out_json(&manifest, true);
    } else {
        out(&cluster::to_yaml(&manifest));
    }
    Ok(())
}
