//! The trust policy: for each place images come from, what must be true of
//! an image before it may run — nothing, or a signature by one of these
//! keys or keyless signers (an identity vouched for by an OIDC issuer, under
//! a Sigstore trusted root: see [`super::keyless`]). Read from a TOML file (`/etc/bpf-runtime/policy.toml` for the
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
//! name = "ghcr.io/acme"              # signed keylessly by acme's workflow
//! require = "signature"
//! [[scope.keyless]]
//! identity = "https://github.com/acme/probes/.github/workflows/publish.yml@refs/heads/main"
//! issuer = "https://token.actions.githubusercontent.com"
//! trusted-root = "sigstore/trusted_root.json"
//!
//! [[scope]]
//! name = "local"                     # store names without a registry, files
//! require = "nothing"
//! ```

use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;
use serde::{Deserialize, Serialize};

use super::keyless::{Signer, TrustedRoot};
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
    /// A valid signature by one of the rule's keys or keyless signers.
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
    #[serde(default)]
    keyless: Vec<KeylessFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScopeFile {
    name: String,
    require: Require,
    #[serde(default)]
    keys: Vec<PathBuf>,
    #[serde(default)]
    keyless: Vec<KeylessFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct KeylessFile {
    identity: String,
    issuer: String,
    trusted_root: PathBuf,
}

/// What one scope requires.
#[derive(Debug, Clone)]
pub struct Rule {
    pub require: Require,
    /// The trusted keys, with the file each came from.
    pub keys: Vec<(PathBuf, PublicKey)>,
    /// The trusted keyless signers.
    pub keyless: Vec<Signer>,
}

impl Rule {
    fn nothing() -> Rule {
        Rule {
            require: Require::Nothing,
            keys: Vec::new(),
            keyless: Vec::new(),
        }
    }

    fn trusts_nobody(&self) -> bool {
        self.keys.is_empty() && self.keyless.is_empty()
    }

    /// The signers it trusts, as a refusal names them.
    fn signers(&self) -> Vec<String> {
        let keys = self.keys.iter().map(|(_, k)| k.id());
        let keyless = self.keyless.iter().map(|s| format!("keyless {}", s.name()));
        keys.chain(keyless).collect()
    }
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
    /// The trusted key (its id), or the keyless identity, it verifies as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_by: Option<String>,
    /// What its certificate says, for a keyless signature (whether or not
    /// the policy trusts it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<super::keyless::CertificateClaim>,
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
    /// The trusted keys (their ids) and keyless identities that signed it.
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
            (None, n) => format!("{n} signature(s), none by a trusted signer"),
        }
    }
}

impl Policy {
    /// A policy that requires nothing anywhere.
    pub fn permissive() -> Policy {
        Policy {
            source: None,
            default: Rule::nothing(),
            scopes: Vec::new(),
        }
    }

    /// The runtime's policy when root has written none: images from
    /// registries need a signature (and no key is trusted until one is
    /// configured); images built on this host run.
    pub fn builtin_for_runtime() -> Policy {
        Policy {
            source: None,
            default: Rule {
                require: Require::Signature,
                ..Rule::nothing()
            },
            scopes: vec![(LOCAL.into(), Rule::nothing())],
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
        // Each trusted root is read once, however many signers name it.
        let mut roots: Vec<(PathBuf, TrustedRoot)> = Vec::new();
        let mut rule = |require: Require,
                        keys: &[PathBuf],
                        keyless: &[KeylessFile]|
         -> Result<Rule, SignError> {
            if require == Require::Signature && keys.is_empty() && keyless.is_empty() {
                return Err(invalid(
                    "a rule that requires a signature lists no keys and no keyless signer".into(),
                ));
            }
            let keys = keys
                .iter()
                .map(|k| {
                    let p = dir.join(k);
                    PublicKey::load(&p).map(|key| (p, key))
                })
                .collect::<Result<_, _>>()?;
            let mut signers = Vec::new();
            for k in keyless {
                if k.identity.trim().is_empty() || k.issuer.trim().is_empty() {
                    return Err(invalid(
                        "a keyless signer needs an identity and an issuer".into(),
                    ));
                }
                let p = dir.join(&k.trusted_root);
                let root = match roots.iter().find(|(q, _)| *q == p) {
                    Some((_, r)) => r.clone(),
                    None => {
                        let r = TrustedRoot::load(&p)?;
                        roots.push((p, r.clone()));
                        r
                    }
                };
                signers.push(Signer {
                    identity: k.identity.clone(),
                    issuer: k.issuer.clone(),
                    root,
                });
            }
            Ok(Rule {
                require,
                keys,
                keyless: signers,
            })
        };
        let default = match &file.default {
            Some(r) => rule(r.require, &r.keys, &r.keyless)?,
            None => Rule::nothing(),
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
            scopes.push((name, rule(s.require, &s.keys, &s.keyless)?));
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
                certificate: super::keyless::certificate_claim(s),
                problem: None,
            };
            let mut best: Option<Mismatch> = None;
            let mut judge = |verdict: Result<String, Mismatch>| match verdict {
                Ok(who) => {
                    if !signed_by.contains(&who) {
                        signed_by.push(who.clone());
                    }
                    info.verified_by.get_or_insert(who);
                }
                // Keep the most telling reason any signer gives.
                Err(m) => {
                    if best.as_ref().is_none_or(|b| m.rank() > b.rank()) {
                        best = Some(m);
                    }
                }
            };
            for (_, key) in &rule.keys {
                judge(s.verify(key, &digests).map(|_| key.id()));
            }
            for signer in &rule.keyless {
                judge(s.verify_keyless(signer, &digests));
            }
            if info.verified_by.is_none() {
                let m = best.unwrap_or(match claim {
                    Err(why) => Mismatch::Payload(why),
                    Ok(_) => Mismatch::OtherKey,
                });
                info.problem = Some(if rule.trusts_nobody() {
                    "no signer is trusted for this scope".into()
                } else {
                    m.to_string()
                });
                if first_mismatch
                    .as_ref()
                    .is_none_or(|f: &Mismatch| m.rank() > f.rank())
                {
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
            let wanted = if rule.trusts_nobody() {
                format!(
                    "a signature, and the {} policy trusts no signer for scope `{scope}`",
                    self.name()
                )
            } else {
                format!(
                    "a signature by {} (policy {}, scope `{scope}`)",
                    rule.signers().join(" or "),
                    self.name()
                )
            };
            let found = match (signatures.len(), &first_mismatch) {
                (0, _) => "it has none".to_string(),
                (n, Some(m)) if !rule.trusts_nobody() => {
                    format!("of its {n} signature(s) none counts: {m}")
                }
                (n, _) => format!("it has {n} signature(s) by keys not trusted"),
            };
            let fix = if self.source.is_none() {
                format!(
                    "trust its signer in {SYSTEM_POLICY} (docs/security.md, \"Trust policy\"), or pass --insecure-skip-verify for development"
                )
            } else {
                "sign it with `cargo ebpf sign` or `cosign sign` as a trusted signer, or trust its signer in the policy".into()
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
    use oci_spec::image::MediaType as MediaTypeOf;

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

    #[test]
    fn a_keyless_scope_accepts_its_identity_and_refuses_others_in_one_line() {
        use crate::sign::testing::{Fault, TestSigstore};
        const ID: &str =
            "https://github.com/acme/probes/.github/workflows/publish.yml@refs/heads/main";
        const ISSUER: &str = "https://token.actions.githubusercontent.com";
        let dir = tempfile::tempdir().unwrap();
        let sigstore = TestSigstore::new();
        write(dir.path(), "root.json", &sigstore.trusted_root_json());
        let p = write(
            dir.path(),
            "policy.toml",
            &format!(
                "[[scope]]\nname = \"r.io/acme\"\nrequire = \"signature\"\n\
                 [[scope.keyless]]\nidentity = {ID:?}\nissuer = {ISSUER:?}\ntrusted-root = \"root.json\"\n"
            ),
        );
        let policy = Policy::load(&p).unwrap();
        let layout = Layout::open_or_create(dir.path().join("store")).unwrap();
        let subject = Subject::Registry("r.io/acme/probe");
        let image = |n: u8| {
            layout
                .put_json(MediaTypeOf::ImageManifest, &serde_json::json!({"n": n}))
                .unwrap()
        };
        let sign = |desc: &Descriptor, identity: &str| {
            let sig = sigstore.sign(
                desc.digest(),
                "r.io/acme/probe:1",
                identity,
                ISSUER,
                Fault::None,
            );
            crate::sign::add(&layout, desc.digest(), &[sig]).unwrap();
        };

        let good = image(1);
        sign(&good, ID);
        let t = policy
            .judge("r.io/acme/probe:1", subject, &layout, &good)
            .unwrap();
        assert_eq!(t.signed_by, vec![ID.to_string()]);
        assert_eq!(t.summary(), format!("signed by {ID}"));
        let a = policy.assess(subject, &layout, &good).unwrap();
        assert_eq!(
            a.signatures[0]
                .certificate
                .as_ref()
                .unwrap()
                .issuer
                .as_deref(),
            Some(ISSUER)
        );

        let stranger = image(2);
        sign(
            &stranger,
            "https://github.com/evil/fork/.github/workflows/publish.yml@refs/heads/main",
        );
        let e = policy
            .judge("r.io/acme/probe:2", subject, &layout, &stranger)
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        assert!(
            e.starts_with("refused r.io/acme/probe:2: the policy requires a signature by keyless"),
            "{e}"
        );
        assert!(
            e.contains("its certificate is for https://github.com/evil/fork"),
            "{e}"
        );

        // A policy naming a trusted root that is not one is refused whole.
        write(dir.path(), "root.json", "{}");
        let e = Policy::load(&p).unwrap_err().to_string();
        assert!(
            e.contains("root.json") && e.contains("not a Sigstore trusted root"),
            "{e}"
        );
    }
}
