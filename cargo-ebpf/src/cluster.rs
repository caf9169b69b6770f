//! `cargo ebpf cluster-manifest`: a bpfman-operator `ClusterBpfApplication`
//! (or, in a namespace, a `BpfApplication`) for an image, so that one
//! `kubectl apply` loads it on every selected node of a cluster.
//!
//! Everything comes from the image's metadata: the programs and their
//! types (bpfman-operator's names, from `ebpf-kinds`), their attach points
//! resolved as `bpf-runtime` resolves them (flag > package default >
//! section > type default, `ebpf_object::attach`), and `globalData` from
//! `--set NAME=VALUE`, encoded and checked against each variable's type.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use ebpf_kinds::{AttachArg, Direction, ProgramType};
use ebpf_object::ProgramInfo;
use ebpf_object::attach::{AttachFlags, ProgramArgs};
use ebpf_oci::format;
use ebpf_oci::store::{self, Source};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// What the manifest is for.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// The image in the local store (a tag, a layout, an archive).
    pub reference: String,
    pub store: PathBuf,
    /// Where nodes pull it from; default: the reference, when it names a
    /// registry.
    pub image_url: Option<String>,
    pub pull_policy: Option<String>,
    /// The resource's name; default: the package's, made a DNS label.
    pub name: Option<String>,
    /// A namespaced `BpfApplication` in this namespace (else cluster-wide).
    pub namespace: Option<String>,
    /// For a namespaced application: the pods whose network namespaces or
    /// containers the programs attach in.
    pub pods: Vec<(String, String)>,
    pub node_selector: Vec<(String, String)>,
    pub sets: Vec<(String, String)>,
    pub flags: AttachFlags,
    /// The priority of XDP and tc links (bpfman orders programs by it).
    pub priority: u16,
}

/// The manifest, as a JSON value (see [`to_yaml`]).
pub fn manifest(opts: &ClusterOptions) -> Result<Value> {
    let opened = store::open(&Source::parse(&opts.reference), &opts.store)?;
    let image = format::read(&opened.layout, &opened.descriptor)?;
    let platform = image
        .platform(std::env::consts::ARCH)
        .or(image.platforms.first())
        .expect("an image has a platform");
    let md = &platform.metadata;
    let url = match &opts.image_url {
        Some(u) => u.clone(),
        None if ebpf_oci::reference::is_registry_reference(&opts.reference) => {
            opts.reference.clone()
        }
        None => {
            return Err(Error::usage(format!(
                "`{}` names no registry: pass --image REGISTRY/REPOSITORY:TAG, where the nodes pull it from (`cargo ebpf publish` puts it there)",
                opts.reference
            )));
        }
    };
    let namespaced = opts.namespace.is_some();
    if namespaced && opts.pods.is_empty() {
        return Err(Error::usage(
            "a namespaced BpfApplication attaches inside pods: pass --pods KEY=VALUE to select them (or leave out --namespace for a ClusterBpfApplication)",
        ));
    }
    opts.flags.check_programs(&md.object.programs)?;
    let programs = md
        .object
        .programs
        .iter()
        .map(|p| program(p, opts))
        .collect::<Result<Vec<_>>>()?;
    let mut spec = serde_json::Map::new();
    spec.insert("nodeSelector".into(), selector(&opts.node_selector));
    let mut image_spec = json!({ "url": url });
    if let Some(policy) = &opts.pull_policy {
        image_spec["imagePullPolicy"] = json!(policy);
    }
    spec.insert("byteCode".into(), json!({ "image": image_spec }));
    let values = md.object.encode_sets(&md.name, &opts.sets)?;
    if !values.is_empty() {
        let data: BTreeMap<String, String> = values
            .into_iter()
            .map(|(n, b)| (n, base64::engine::general_purpose::STANDARD.encode(b)))
            .collect();
        spec.insert("globalData".into(), json!(data));
    }
    spec.insert("programs".into(), Value::Array(programs));

    let name = match &opts.name {
        Some(n) => dns_label(n).ok_or_else(|| {
            Error::usage(format!(
                "invalid --name `{n}`: a Kubernetes name is lowercase letters, digits and `-`, at most 63"
            ))
        })?,
        None => dns_label(&md.name).unwrap_or_else(|| "ebpf-package".into()),
    };
    let mut labels = json!({
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/managed-by": "cargo-ebpf",
    });
    if label_value_ok(&md.version) {
        labels["app.kubernetes.io/version"] = json!(md.version);
    }
    let mut metadata = json!({ "name": name, "labels": labels });
    if let Some(ns) = &opts.namespace {
        dns_label(ns).filter(|l| l == ns).ok_or_else(|| {
            Error::usage(format!("invalid --namespace `{ns}`: not a Kubernetes name"))
        })?;
        metadata["namespace"] = json!(ns);
    }
    Ok(json!({
        "apiVersion": "bpfman.io/v1alpha1",
        "kind": if namespaced { "BpfApplication" } else { "ClusterBpfApplication" },
        "metadata": metadata,
        "spec": Value::Object(spec),
    }))
}

/// A label selector (`matchLabels`); empty selects every node.
fn selector(pairs: &[(String, String)]) -> Value {
    if pairs.is_empty() {
        return json!({});
    }
    let m: BTreeMap<&str, &str> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    json!({ "matchLabels": m })
}

/// One entry of `spec.programs`.
fn program(p: &ProgramInfo, opts: &ClusterOptions) -> Result<Value> {
    let info = p.ty.info();
    let namespaced = opts.namespace.is_some();
    let attachable = |t: &ProgramType| {
        t.info().bpfman_operator.is_some() && (!namespaced || t.bpfman_operator_in_namespace())
    };
    let Some(crd_type) = info.bpfman_operator.filter(|_| attachable(&p.ty)) else {
        let kind = if namespaced {
            "namespaced BpfApplication"
        } else {
            "ClusterBpfApplication"
        };
        let supported: Vec<&str> = ebpf_kinds::TYPES
            .iter()
            .filter(|t| attachable(&t.ty))
            .map(|t| t.name)
            .collect();
        let supported = supported.join(", ");
        return Err(Error::usage(format!(
            "program `{}` is {}, which a {kind} cannot attach; it attaches {supported}",
            p.name,
            p.ty.name(),
        )));
    };
    let args = ProgramArgs::new(p, &opts.flags);
    let pods = selector(&opts.pods);
    let interface = |args: &ProgramArgs<'_>| -> Result<Value> {
        Ok(match args.get(AttachArg::Iface)? {
            Some(iface) => json!({ "interfaces": [iface] }),
            None => json!({ "primaryNodeInterface": true }),
        })
    };
    let direction = |args: &ProgramArgs<'_>| -> Result<&'static str> {
        Ok(match args.direction()?.unwrap_or(Direction::Ingress) {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        })
    };
    let section_target = || {
        p.target.clone().filter(|t| !t.is_empty()).ok_or_else(|| {
            Error::usage(format!(
                "program `{}`: section `{}` names no attach point, which bpfman-operator needs",
                p.name, p.section
            ))
        })
    };
    let (key, body) = match p.ty {
        ProgramType::Xdp => {
            let mut link =
                json!({ "interfaceSelector": interface(&args)?, "priority": opts.priority });
            if namespaced {
                link["networkNamespaces"] = json!({ "pods": pods });
            }
            ("xdp", json!({ "links": [link] }))
        }
        ProgramType::Tc => {
            let mut link = json!({
                "interfaceSelector": interface(&args)?,
                "priority": opts.priority,
                "direction": direction(&args)?,
            });
            if namespaced {
                link["networkNamespaces"] = json!({ "pods": pods });
            }
            ("tc", json!({ "links": [link] }))
        }
        ProgramType::Tracepoint => (
            "tracepoint",
            json!({ "links": [{ "name": section_target()? }] }),
        ),
        ProgramType::Kprobe => (
            "kprobe",
            json!({ "links": [{ "function": args.require(AttachArg::Symbol)?, "offset": 0 }] }),
        ),
        ProgramType::Kretprobe => (
            "kretprobe",
            json!({ "links": [{ "function": args.require(AttachArg::Symbol)? }] }),
        ),
        ProgramType::Uprobe | ProgramType::Uretprobe => {
            let mut link = json!({
                "target": args.require(AttachArg::Binary)?,
                "function": args.require(AttachArg::Symbol)?,
            });
            if let Some(pid) = args.pid()? {
                link["pid"] = json!(pid);
            }
            if namespaced {
                link["containers"] = json!({ "pods": pods });
            }
            let key = if p.ty == ProgramType::Uprobe {
                "uprobe"
            } else {
                "uretprobe"
            };
            (key, json!({ "links": [link] }))
        }
        ProgramType::Fentry | ProgramType::Fexit => (
            if p.ty == ProgramType::Fentry {
                "fentry"
            } else {
                "fexit"
            },
            json!({ "function": section_target()?, "links": [{ "mode": "Attach" }] }),
        ),
        _ => unreachable!("types without a bpfman-operator name are refused above"),
    };
    // tcx sections attach through bpfman-operator's TCX type.
    let (crd_type, key) = if p.ty == ProgramType::Tc && p.section.starts_with("tcx") {
        ("TCX", "tcx")
    } else {
        (crd_type, key)
    };
    let mut entry = json!({ "name": p.name, "type": crd_type });
    entry[key] = body;
    Ok(entry)
}

/// `name` as a Kubernetes name (RFC 1123 label): lowercase, `_` as `-`.
fn dns_label(name: &str) -> Option<String> {
    let l: String = name
        .chars()
        .map(|c| {
            if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let ok = !l.is_empty()
        && l.len() <= 63
        && l.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-');
    ok.then_some(l)
}

/// Whether `v` may be a label value (at most 63 of letters, digits, `-_.`,
/// starting and ending alphanumeric).
fn label_value_ok(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 63
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && v.as_bytes()[0].is_ascii_alphanumeric()
        && v.as_bytes()[v.len() - 1].is_ascii_alphanumeric()
}

/// `v` as YAML: block mappings and sequences, strings double-quoted (a JSON
/// string is a valid YAML double-quoted scalar), so no value is misread
/// (`no`, `1.10`, `on`).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    write_yaml(&mut out, v, 0);
    out
}

fn write_yaml(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.push_str(&pad);
                out.push_str(&key(k));
                match v {
                    Value::Object(inner) if !inner.is_empty() => {
                        out.push_str(":\n");
                        write_yaml(out, v, indent + 2);
                    }
                    Value::Array(items) if !items.is_empty() => {
                        out.push_str(":\n");
                        write_yaml(out, v, indent + 2);
                    }
                    _ => {
                        out.push_str(": ");
                        out.push_str(&scalar(v));
                        out.push('\n');
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        // The first key on the dash's line, the rest under it.
                        let mut first = String::new();
                        write_yaml(&mut first, item, indent + 2);
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(first.trim_start());
                    }
                    Value::Array(inner) if !inner.is_empty() => {
                        out.push_str(&pad);
                        out.push_str("-\n");
                        write_yaml(out, item, indent + 2);
                    }
                    _ => {
                        out.push_str(&pad);
                        out.push_str("- ");
                        out.push_str(&scalar(item));
                        out.push('\n');
                    }
                }
            }
        }
        other => {
            out.push_str(&pad);
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

/// A mapping key: plain when nothing in it can be misread, else quoted.
fn key(k: &str) -> String {
    let plain = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
        && k.as_bytes()[0].is_ascii_alphabetic()
        && !matches!(
            k.to_ascii_lowercase().as_str(),
            "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null"
        );
    if plain {
        k.to_string()
    } else {
        Value::String(k.to_string()).to_string()
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_is_block_style_with_quoted_strings() {
        let v = json!({
            "apiVersion": "bpfman.io/v1alpha1",
            "spec": {
                "nodeSelector": {},
                "programs": [
                    {"name": "count", "type": "XDP", "xdp": {"links": [{"priority": 50, "interfaceSelector": {"primaryNodeInterface": true}}]}},
                    {"name": "no", "type": "TC"}
                ],
                "globalData": {"threshold": "AQAAAA=="},
                "on": 1
            }
        });
        let yaml = to_yaml(&v);
        assert_eq!(
            yaml,
            r#"apiVersion: "bpfman.io/v1alpha1"
spec:
  globalData:
    threshold: "AQAAAA=="
  nodeSelector: {}
  "on": 1
  programs:
    - name: "count"
      type: "XDP"
      xdp:
        links:
          - interfaceSelector:
              primaryNodeInterface: true
            priority: 50
    - name: "no"
      type: "TC"
"#
        );
    }

    #[test]
    fn names_become_kubernetes_names() {
        assert_eq!(dns_label("c_xdp").as_deref(), Some("c-xdp"));
        assert_eq!(dns_label("XdpCount").as_deref(), Some("xdpcount"));
        assert_eq!(dns_label("a.b"), None);
        assert_eq!(dns_label(&"a".repeat(64)), None);
        assert!(label_value_ok("0.1.0"));
        assert!(!label_value_ok("1.0+build"));
    }
}
