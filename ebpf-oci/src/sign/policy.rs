//! The trust policy: for each place images come from, what must be true of
//! an image before it may run — nothing, or a signature by one of these
//! keys. Read from a TOML file (`/etc/bpf-runtime/policy.toml` for the
//! runtime); see docs/security.md, "Trust policy".
//!
//! ```toml
//! [default]                          # images no scope below matches
//! require = "signature"
//! keys = ["keys/ci.pub"]             # relative to this file's directory
//!
//! [[scope]]
//! name = "registry.example.com/ebpf" # a registry, or registry/repository prefix
//! require = "signature"
//! keys = ["keys/team.pub"]
//!
//! [[scope]]
//! name = "local"                     # store names without a registry, files
//! require = "nothing"
//! ```

use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;
use serde::{Deserialize, Serialize};

use super::{Mismatch, PublicKey, SignError, Signature, read, signable_digests};
use crate::Layout;

/// Where the runtime reads its policy.
pub const SYSTEM_POLICY: &str = "/etc/bpf-runtime/policy.toml";
/// The scope of images that come from no registry: store names without a
/// registry, layouts, archives, bare objects.
pub const LOCAL: &str = "local";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Require {
    /// Anything may run (signatures are still shown).
    Nothing,
    /// A valid signature by one of the rule's keys.
    Signature,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    default: Option<RuleFile>,
    #[serde(default)]
    scope: Vec<ScopeFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    require: Require,
    #[serde(default)]
    keys: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeFile {
    name: String,
    require: Require,
    #[serde(default)]
    keys: Vec<PathBuf>,
}

/// What one scope requires.
#[derive(Debug, Clone)]
pub struct Rule {
    pub require: Require,
    /// The trusted keys, with the file each came from.
    pub keys: Vec<(PathBuf, PublicKey)>,
}

/// Where an image comes from, as the policy matches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A repository of a registry: `host[:port]/path` (no tag or digest).
    Registry(&'a str),
    /// No registry: a store name without one, a layout, an archive, an object.
    Local,
}

impl<'a> Subject<'a> {
    /// The subject of a store tag or registry reference (`host/repo:tag`,
    /// `name:tag`).
    pub fn of_name(name: &'a str) -> Subject<'a> {
        if crate::reference::is_registry_reference(name) {
            Subject::Registry(crate::reference::repository_of(name))
        } else {
            Subject::Local
        }
    }
}

/// A policy: its scopes and its default.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file it was read from; `None` for a built-in policy.
    pub source: Option<PathBuf>,
    default: Rule,
    scopes: Vec<(String, Rule)>,
}

/// The policy's view of an image: the verdict, each signature, and why it
/// would be refused.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub trust: Trust,
    pub signatures: Vec<SignatureInfo>,
    pub refusal: Option<String>,
}

/// One signature of an image, as `inspect` shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SignatureInfo {
    /// The digest the payload names.
    pub digest: String,
    /// The image name the payload names (informational: the digest is what
    /// is signed).
    pub docker_reference: String,
    /// The trusted key it verifies under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
    /// Why it does not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What the policy made of one image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Trust {
    /// The policy file, or `built-in`.
    pub policy: String,
    /// The scope that applied (`default` when none matched).
    pub scope: String,
    pub require: Require,
    /// Signatures found for the image.
    pub signatures: usize,
    /// The trusted keys (their ids) that signed it.
    pub signed_by: Vec<String>,
    /// Whether the image may run under this policy.
    pub accepted: bool,
    /// `--insecure-skip-verify` was given: nothing was checked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
}

impl Trust {
    /// What the runtime records and lists for a package: one phrase.
    pub fn summary(&self) -> String {
        if self.skipped {
            return "not verified (--insecure-skip-verify)".into();
        }
        match (self.signed_by.first(), self.signatures) {
            (Some(k), _) => format!("signed by {k}"),
            (None, 0) => "unsigned".into(),
            (None, n) => format!("{n} signature(s), none by a trusted key"),
        }
    }
}

impl Policy {
    /// A policy that requires nothing anywhere.
    pub fn permissive() -> Policy {
        Policy {
            source: None,
            default: Rule {
                require: Require::Nothing,
                keys: Vec::new(),
            },
            scopes: Vec::new(),
        }
    }

    /// The runtime's policy when root has written none: images from
    /// registries need a signature (and no key is trusted until one is
    /// configured); images built on this host run.
    pub fn builtin_for_runtime() -> Policy {
        let nothing = Rule {
            require: Require::Nothing,
            keys: Vec::new(),
        };
        Policy {
            source: None,
            default: Rule {
                require: Require::Signature,
                keys: Vec::new(),
            },
            scopes: vec![(LOCAL.into(), nothing)],
        }
    }

    /// Reads a policy file; its key paths are relative to its directory.
    pub fn load(path: &Path) -> Result<Policy, SignError> {
        let invalid = |why: String| SignError::Policy {
            path: path.into(),
            why,
        };
        let bytes = crate::fs::read_bounded(path, 1 << 20).map_err(|e| SignError::Io {
            action: "read the policy",
            path: path.into(),
            source: e,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| invalid("it is not UTF-8 text".into()))?;
        let file: PolicyFile = toml::from_str(&text).map_err(|e| {
            invalid(
                e.message().to_string()
                    + &e.span()
                        .map(|s| format!(" (at byte {})", s.start))
                        .unwrap_or_default(),
            )
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let rule = |require: Require, keys: &[PathBuf]| -> Result<Rule, SignError> {
            if require == Require::Signature && keys.is_empty() {
                return Err(invalid(
                    "a rule that requires a signature lists no keys".into(),
                ));
            }
            let keys = keys
                .iter()
                .map(|k| {
                    let p = dir.join(k);
                    PublicKey::load(&p).map(|key| (p, key))
                })
                .collect::<Result<_, _>>()?;
            Ok(Rule { require, keys })
        };
        let default = match &file.default {
            Some(r) => rule(r.require, &r.keys)?,
            None => Rule {
                require: Require::Nothing,
                keys: Vec::new(),
            },
        };
        let mut scopes = Vec::new();
        for s in &file.scope {
            let name = s.name.trim_end_matches('/').to_string();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(invalid(format!(
                    "scope name `{}` is not a registry or repository",
                    s.name
                )));
            }
            if scopes.iter().any(|(n, _): &(String, Rule)| *n == name) {
                return Err(invalid(format!("scope `{name}` is listed twice")));
            }
            scopes.push((name, rule(s.require, &s.keys)?));
        }
        Ok(Policy {
            source: Some(path.into()),
            default,
            scopes,
        })
    }

    /// The policy at `path` if it exists, else `fallback`.
    pub fn load_or(path: &Path, fallback: Policy) -> Result<Policy, SignError> {
        if path.exists() {
            Policy::load(path)
        } else {
            Ok(fallback)
        }
    }

    /// The policy of whoever runs the command: `explicit` if given (it must
    /// exist); else, for root, [`SYSTEM_POLICY`] or the built-in runtime
    /// policy; else `$XDG_CONFIG_HOME/cargo-ebpf/policy.toml` or a policy
    /// that requires nothing (a user cannot load programs; it only reports).
    pub fn for_this_user(explicit: Option<&Path>) -> Result<Policy, SignError> {
        if let Some(p) = explicit {
            return Policy::load(p);
        }
        if crate::store::is_root() {
            return Policy::load_or(Path::new(SYSTEM_POLICY), Policy::builtin_for_runtime());
        }
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        match config {
            Some(dir) => Policy::load_or(&dir.join("cargo-ebpf/policy.toml"), Policy::permissive()),
            None => Ok(Policy::permissive()),
        }
    }

    fn name(&self) -> String {
        match &self.source {
            Some(p) => p.display().to_string(),
            None => "built-in".into(),
        }
    }

    /// The rule for `subject`: the most specific scope that matches (a
    /// repository prefix matches whole path components), else the default.
    pub fn rule_for(&self, subject: Subject<'_>) -> (&str, &Rule) {
        let matches = |name: &str| match subject {
            Subject::Local => name == LOCAL,
            Subject::Registry(repo) => {
                name != LOCAL
                    && (repo == name
                        || repo
                            .strip_prefix(name)
                            .is_some_and(|rest| rest.starts_with('/')))
            }
        };
        self.scopes
            .iter()
            .filter(|(n, _)| matches(n))
            .max_by_key(|(n, _)| n.len())
            .map(|(n, r)| (n.as_str(), r))
            .unwrap_or(("default", &self.default))
    }

    /// Judges the image `desc` of `layout`, named `image`: reads its
    /// signatures (its own digest's and, for a manifest pulled from an
    /// index, the index's) and checks them against the rule for `subject`.
    /// Refuses, with one line saying what was required and what was found,
    /// when the rule is not met.
    pub fn judge(
        &self,
        image: &str,
        subject: Subject<'_>,
        layout: &Layout,
        desc: &Descriptor,
    ) -> Result<Trust, SignError> {
        let a = self.assess(subject, layout, desc)?;
        match a.refusal {
            None => Ok(a.trust),
            Some(why) => Err(SignError::Refused {
                image: image.into(),
                why,
            }),
        }
    }

    /// What the policy makes of the image and of each of its signatures,
    /// without refusing: what `inspect` shows.
    pub fn assess(
        &self,
        subject: Subject<'_>,
        layout: &Layout,
        desc: &Descriptor,
    ) -> Result<Assessment, SignError> {
        let (scope, rule) = self.rule_for(subject);
        let digests = signable_digests(layout, desc);
        let mut signatures: Vec<Signature> = Vec::new();
        for d in &digests {
            let digest = d.parse().expect("a store digest parses");
            signatures.extend(read(layout, &digest)?);
        }
        let mut signed_by = Vec::new();
        let mut first_mismatch = None;
        let mut infos = Vec::new();
        for s in &signatures {
            let claim = s.claim();
            let mut info = SignatureInfo {
                digest: claim.as_ref().map(|c| c.digest.clone()).unwrap_or_default(),
                docker_reference: claim
                    .as_ref()
                    .map(|c| c.docker_reference.clone())
                    .unwrap_or_default(),
                verified_by: None,
                problem: None,
            };
            let mut best = None;
            for (_, key) in &rule.keys {
                match s.verify(key, &digests) {
                    Ok(_) => {
                        info.verified_by = Some(key.id());
                        if !signed_by.contains(&key.id()) {
                            signed_by.push(key.id());
                        }
                    }
                    // "Another key" is the least telling reason; keep a
                    // better one if any key gives it.
                    Err(m) if best.is_none() || m != Mismatch::OtherKey => best = Some(m),
                    Err(_) => {}
                }
            }
            if info.verified_by.is_none() {
                let m = best.unwrap_or(match claim {
                    Err(why) => Mismatch::Payload(why),
                    Ok(_) => Mismatch::OtherKey,
                });
                info.problem = Some(if rule.keys.is_empty() {
                    "no key is trusted for this scope".into()
                } else {
                    m.to_string()
                });
                if first_mismatch.is_none() || m != Mismatch::OtherKey {
                    first_mismatch = Some(m);
                }
            }
            infos.push(info);
        }
        let trust = Trust {
            policy: self.name(),
            scope: scope.into(),
            require: rule.require,
            signatures: signatures.len(),
            accepted: rule.require == Require::Nothing || !signed_by.is_empty(),
            signed_by,
            skipped: false,
        };
        let refusal = (!trust.accepted).then(|| {
            let wanted = if rule.keys.is_empty() {
                format!(
                    "a signature, and the {} policy trusts no key for scope `{scope}`",
                    self.name()
                )
            } else {
                let ids: Vec<String> = rule.keys.iter().map(|(_, k)| k.id()).collect();
                format!(
                    "a signature by {} (policy {}, scope `{scope}`)",
                    ids.join(" or "),
                    self.name()
                )
            };
            let found = match (signatures.len(), &first_mismatch) {
                (0, _) => "it has none".to_string(),
                (n, Some(m)) if !rule.keys.is_empty() => {
                    format!("of its {n} signature(s) none counts: {m}")
                }
                (n, _) => format!("it has {n} signature(s) by keys not trusted"),
            };
            let fix = if self.source.is_none() {
                format!(
                    "trust its signer's key in {SYSTEM_POLICY} (docs/security.md, \"Trust policy\"), or pass --insecure-skip-verify for development"
                )
            } else {
                "sign it with `cargo ebpf sign` or `cosign sign` by a trusted key, or trust its signer's key in the policy".into()
            };
            format!("the policy requires {wanted}; {found}; {fix}")
        });
        Ok(Assessment {
            trust,
            signatures: infos,
            refusal,
        })
    }

    /// The verdict for something that carries no signatures (a bare
    /// object): accepted only where nothing is required.
    pub fn without_signatures(&self, subject: Subject<'_>) -> Trust {
        let (scope, rule) = self.rule_for(subject);
        Trust {
            policy: self.name(),
            scope: scope.into(),
            require: rule.require,
            signatures: 0,
            signed_by: Vec::new(),
            accepted: rule.require == Require::Nothing,
            skipped: false,
        }
    }

    /// What `--insecure-skip-verify` records.
    pub fn skipped(&self, subject: Subject<'_>) -> Trust {
        Trust {
            accepted: true,
            skipped: true,
            ..self.without_signatures(subject)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::PrivateKey;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn the_most_specific_scope_applies_by_whole_path_components() {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKey::generate().unwrap();
        write(dir.path(), "team.pub", &key.public().to_pem());
        let p = write(
            dir.path(),
            "policy.toml",
            r#"
[default]
require = "nothing"

[[scope]]
name = "registry.example.com"
require = "signature"
keys = ["team.pub"]

[[scope]]
name = "registry.example.com/open/"
require = "nothing"
"#,
        );
        let policy = Policy::load(&p).unwrap();
        let scope = |s| policy.rule_for(s).0.to_string();
        assert_eq!(
            scope(Subject::Registry("registry.example.com/team/xdp")),
            "registry.example.com"
        );
        assert_eq!(
            scope(Subject::Registry("registry.example.com/open/xdp")),
            "registry.example.com/open"
        );
        // `open` does not match `openness`: whole components only.
        assert_eq!(
            scope(Subject::Registry("registry.example.com/openness/x")),
            "registry.example.com"
        );
        assert_eq!(
            scope(Subject::Registry("registry.example.community/x")),
            "default"
        );
        assert_eq!(scope(Subject::Local), "default");
        assert_eq!(
            Subject::of_name("registry.example.com/team/xdp:1.0"),
            Subject::Registry("registry.example.com/team/xdp")
        );
        assert_eq!(Subject::of_name("xdpcount:0.1.0"), Subject::Local);
    }

    #[test]
    fn a_policy_with_a_mistake_is_refused_not_half_applied() {
        let dir = tempfile::tempdir().unwrap();
        let typo = write(
            dir.path(),
            "a.toml",
            "[default]\nrequire = \"signature\"\nkey = [\"x.pub\"]\n",
        );
        let e = Policy::load(&typo).unwrap_err().to_string();
        assert!(e.contains("unknown field `key`"), "{e}");
        let nokeys = write(
            dir.path(),
            "b.toml",
            "[[scope]]\nname = \"r.io\"\nrequire = \"signature\"\n",
        );
        let e = Policy::load(&nokeys).unwrap_err().to_string();
        assert!(e.contains("lists no keys"), "{e}");
        let missing = write(
            dir.path(),
            "c.toml",
            "[default]\nrequire = \"signature\"\nkeys = [\"gone.pub\"]\n",
        );
        let e = Policy::load(&missing).unwrap_err().to_string();
        assert!(e.contains("gone.pub"), "{e}");
        let word = write(dir.path(), "d.toml", "[default]\nrequire = \"always\"\n");
        assert!(Policy::load(&word).is_err());
    }

    #[test]
    fn the_builtin_runtime_policy_requires_signatures_from_registries_only() {
        let p = Policy::builtin_for_runtime();
        assert_eq!(p.rule_for(Subject::Local).1.require, Require::Nothing);
        assert_eq!(
            p.rule_for(Subject::Registry("ghcr.io/x/y")).1.require,
            Require::Signature
        );
    }
}
