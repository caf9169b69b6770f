//! Exit codes, stable for scripts, CI and service managers, and the same
//! in both tools: which code each library error gets is decided here.

use ebpf_oci::StoreError;
use ebpf_oci::format::FormatError;
use ebpf_oci::registry::RegistryError;
use ebpf_oci::sign::SignError;

/// Something failed that is not covered below (I/O, the kernel refused, a
/// registry failed).
pub const FAILURE: i32 = 1;
/// The command line, a name, a reference or the project manifest is invalid.
pub const USAGE: i32 = 2;
/// This host lacks what the command needs: a tool (cargo-ebpf) or a kernel
/// feature (bpf-runtime).
pub const MISSING: i32 = 3;
/// A compiler or another tool ran and failed.
pub const TOOL_FAILED: i32 = 4;
/// The trust policy refused the image: it is not signed as the policy
/// requires (see docs/security.md, "Trust policy").
pub const REFUSED: i32 = 5;
/// A signal (Ctrl-C, SIGTERM, SIGHUP) stopped the command, which cleaned up
/// first (128 + SIGINT, as shells report it).
pub const INTERRUPTED: i32 = 130;

/// Store errors the user caused (a name), rather than the store's state.
pub fn store(e: &StoreError) -> i32 {
    use StoreError::*;
    match e {
        UnknownTag(_) | TagExists(_) | InvalidTag(_) => USAGE,
        _ => FAILURE,
    }
}

/// Signature errors: a refusal, a key or policy the user gave.
pub fn sign(e: &SignError) -> i32 {
    use SignError::*;
    match e {
        Refused { .. } => REFUSED,
        Key { .. } | TrustedRoot { .. } | WrongPassword { .. } | Exists(_) | Policy { .. } => USAGE,
        Store(s) => store(s),
        _ => FAILURE,
    }
}

pub fn format(e: &FormatError) -> i32 {
    match e {
        FormatError::Store(s) => store(s),
        FormatError::Sign(s) => sign(s),
        FormatError::UnknownArch(_) => USAGE,
        _ => FAILURE,
    }
}

/// Registry errors in what the user wrote, rather than in the registry.
pub fn registry(e: &RegistryError) -> i32 {
    use RegistryError::*;
    match e {
        InvalidReference { .. } | NoRegistry { .. } | NoPlatform { .. } | CaFile { .. } => USAGE,
        Config(_) => USAGE,
        Interrupted { .. } => INTERRUPTED,
        Store(s) => store(s),
        Format(f) => format(f),
        _ => FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_usage_and_the_stores_state_is_failure() {
        assert_eq!(store(&StoreError::UnknownTag("x:1".into())), USAGE);
        assert_eq!(
            registry(&RegistryError::Store(StoreError::InvalidTag("..".into()))),
            USAGE
        );
        assert_eq!(
            registry(&RegistryError::NoRegistry {
                reference: "x".into()
            }),
            USAGE
        );
        assert_eq!(
            registry(&RegistryError::Unreachable {
                url: "https://h/v2/".into(),
                why: "refused".into()
            }),
            FAILURE
        );
        assert_eq!(format(&FormatError::UnknownArch("mips".into())), USAGE);
        let refused = SignError::Refused {
            image: "r.io/x:1".into(),
            why: "unsigned".into(),
        };
        assert_eq!(sign(&refused), REFUSED);
        assert_eq!(format(&FormatError::Sign(refused)), REFUSED);
    }
}
