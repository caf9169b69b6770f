//! The one grammar of image references: `registry/repository[:tag][@digest]`,
//! a registry's `host[:port]`, and whether what a user typed names a
//! registry at all (Docker's rule). Every tool and module asks here.

use oci_client::Reference;

use crate::config::Config;
use crate::registry::RegistryError;

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// A registry's `host[:port]` split into host and port (`[v6]:port` too).
pub fn host_port(registry: &str) -> (&str, Option<&str>) {
    match registry.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, port)) => (host, port.strip_prefix(':')),
            None => (rest, None),
        },
        None => match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        },
    }
}

/// The address of a loopback registry, found without the system resolver
/// (a static binary has no NSS): `localhost` is 127.0.0.1.
pub fn loopback_addr(registry: &str) -> Option<std::net::SocketAddr> {
    let (host, port) = host_port(registry);
    let ip = if host == "localhost" {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        host.parse().ok()?
    };
    let port = port.map_or(Some(80), |p| p.parse().ok())?;
    ip.is_loopback()
        .then_some(std::net::SocketAddr::new(ip, port))
}

/// Whether `host` (a registry's host[:port]) is this machine.
pub fn is_loopback(registry: &str) -> bool {
    loopback_addr(registry).is_some()
}

/// Whether the first path component of a reference names a registry, by
/// Docker's rule: it has a `.` or a `:`, or is `localhost`.
pub fn names_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

/// Parses a full reference (`registry/repo[:tag][@digest]`); a short one
/// (`repo:tag`) gets the configured default registry, and without one is
/// refused rather than silently sent to Docker Hub.
pub fn parse_reference(spec: &str, config: &Config) -> Result<Reference> {
    let first = spec.split('/').next().unwrap_or(spec);
    let full = if spec.contains('/') && names_registry(first) {
        spec.to_string()
    } else {
        match &config.registry.default {
            Some(default) => format!("{}/{spec}", default.trim_end_matches('/')),
            None => {
                return Err(RegistryError::NoRegistry {
                    reference: spec.into(),
                });
            }
        }
    };
    let invalid = |why: &str| RegistryError::InvalidReference {
        reference: spec.into(),
        why: why.into(),
    };
    const DIGEST: &str = "a digest is sha256: followed by 64 hexadecimal digits";
    let (rest, digest) = match full.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (full.as_str(), None),
    };
    if let Some(d) = digest {
        let hex = d.strip_prefix("sha256:").ok_or_else(|| invalid(DIGEST))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(DIGEST));
        }
    }
    let (name, tag) = match rest.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, Some(t)),
        _ => (rest, None),
    };
    let (registry, repository) = name
        .split_once('/')
        .ok_or_else(|| invalid("no repository after the registry"))?;
    if !host_ok(registry) {
        return Err(invalid("the registry is not HOST or HOST:PORT"));
    }
    if repository.len() > 255 || !repository.split('/').all(component_ok) {
        return Err(invalid(
            "a repository is lowercase letters and digits, separated by `.`, `_`, `-` and `/`",
        ));
    }
    if tag.is_some_and(|t| !tag_ok(t)) {
        return Err(invalid(
            "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
        ));
    }
    let (registry, repository) = (registry.to_string(), repository.to_string());
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => {
            Reference::with_tag_and_digest(registry, repository, t.into(), d.into())
        }
        (None, Some(d)) => Reference::with_digest(registry, repository, d.into()),
        (Some(t), None) => Reference::with_tag(registry, repository, t.into()),
        (None, None) => Reference::with_tag(registry, repository, "latest".into()),
    })
}

// The reference grammar of the distribution spec, checked by hand: the
// regular expression oci-spec parses with takes ~100 ms to compile, longer
// than a whole push of a small image.

/// HOST, HOST:PORT or [IPv6]:PORT.
fn host_ok(h: &str) -> bool {
    let bracketed = h.starts_with('[');
    if bracketed && !h.contains(']') {
        return false;
    }
    let (host, port) = host_port(h);
    // A name starts with a letter or digit; `.` and `..` are paths.
    (bracketed
        || host
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric()))
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b))
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A repository path component: lowercase letters and digits, joined by
/// `.`, `_`, `__` or dashes.
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&x| alnum(x) || b"._-".contains(&x))
        && !c.contains("..")
        && !c.contains("___")
}

fn tag_ok(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || b"_.-".contains(&x))
}

/// Whether `spec` is a registry reference (`host[:port]/repository...`)
/// rather than a store tag, a path or an archive.
pub fn is_registry_reference(spec: &str) -> bool {
    spec.split_once('/')
        .is_some_and(|(first, _)| names_registry(first) && host_ok(first))
}

/// The repository a name or reference names: without its `@digest` and
/// its `:tag` (`host:5000/team/xdp:1.0` → `host:5000/team/xdp`).
pub fn repository_of(spec: &str) -> &str {
    let name = spec.split_once('@').map_or(spec, |(n, _)| n);
    match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => name,
    }
}

/// The registry part of what a user typed for `login`, `logout` or
/// `search`: `https://ghcr.io/acme` → `ghcr.io`; `None` when it is not
/// HOST or HOST:PORT.
pub fn registry_host(spec: &str) -> Option<&str> {
    let s = spec
        .strip_prefix("https://")
        .or_else(|| spec.strip_prefix("http://"))
        .unwrap_or(spec);
    let host = s.split('/').next().unwrap_or("");
    host_ok(host).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_need_a_registry_or_a_default() {
        let none = Config::default();
        let r = parse_reference("127.0.0.1:5000/xdp:0.1.0", &none).unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "xdp");
        assert_eq!(r.tag(), Some("0.1.0"));
        let r = parse_reference("localhost/team/xdp@sha256:0123456789012345678901234567890123456789012345678901234567890123", &none).unwrap();
        assert_eq!(r.registry(), "localhost");
        assert!(r.digest().is_some());
        let e = parse_reference("xdp:0.1.0", &none).unwrap_err().to_string();
        assert!(e.contains("names no registry"), "{e}");

        let mut with_default = Config::default();
        with_default.registry.default = Some("ghcr.io/acme/".into());
        let r = parse_reference("xdp:0.1.0", &with_default).unwrap();
        assert_eq!(r.whole(), "ghcr.io/acme/xdp:0.1.0");
        for bad in [
            "127.0.0.1:5000/Bad:tag",
            "127.0.0.1:5000/x:-tag",
            "127.0.0.1:5000/x@sha256:abc",
            "127.0.0.1:5000/a..b",
            "127.0.0.1:x/a",
            "127.0.0.1:5000/",
        ] {
            let e = parse_reference(bad, &none).unwrap_err().to_string();
            assert!(e.contains("invalid image reference"), "{bad}: {e}");
        }
        let r = parse_reference("127.0.0.1:5000/team/my_app.v2:1.0", &none).unwrap();
        assert_eq!(r.repository(), "team/my_app.v2");
        assert_eq!(
            parse_reference("[::1]:5000/a", &none).unwrap().tag(),
            Some("latest")
        );
    }

    #[test]
    fn loopback_registries_are_recognised() {
        for r in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in ["ghcr.io", "10.0.0.1:5000", "localhost.example.com"] {
            assert!(!is_loopback(r), "{r}");
        }
        assert_eq!(
            loopback_addr("localhost:5000"),
            Some("127.0.0.1:5000".parse().unwrap())
        );
        assert_eq!(
            loopback_addr("[::1]:5000"),
            Some("[::1]:5000".parse().unwrap())
        );
        assert_eq!(
            loopback_addr("127.0.0.1"),
            Some("127.0.0.1:80".parse().unwrap())
        );
    }

    #[test]
    fn registry_references_and_hosts() {
        assert!(is_registry_reference("127.0.0.1:5000/xdp:0.1.0"));
        assert!(is_registry_reference("ghcr.io/acme/xdp"));
        assert!(is_registry_reference("localhost/xdp"));
        assert!(is_registry_reference("[::1]:5000/xdp"));
        assert!(!is_registry_reference("xdp:0.1.0"));
        assert!(!is_registry_reference("team/xdp:0.1.0"));
        assert!(!is_registry_reference("./image.tar"));
        assert_eq!(registry_host("https://ghcr.io/acme"), Some("ghcr.io"));
        assert_eq!(registry_host("127.0.0.1:5000"), Some("127.0.0.1:5000"));
        assert_eq!(registry_host("[::1]:5000/x"), Some("[::1]:5000"));
        assert_eq!(registry_host("bad host"), None);
        assert_eq!(registry_host(""), None);
        assert_eq!(host_port("[::1]:5000"), ("::1", Some("5000")));
        assert_eq!(host_port("ghcr.io"), ("ghcr.io", None));
    }
}
