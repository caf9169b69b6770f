//! Keys and signatures for `keygen`, `sign`, and `package`/`publish --sign`:
//! cosign's formats (see `ebpf_oci::sign`), with cosign's password rule —
//! `COSIGN_PASSWORD` when set (empty is a valid password), else asked on
//! the terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::Args;
use ebpf_oci::reference;
use ebpf_oci::sign::{self, PrivateKey, SignError, key::PASSWORD_ENV};
use ebpf_oci::store::Opened;

use crate::error::{Error, Result};

/// `--sign --key KEY`, for the commands that make or push images.
#[derive(Args, Debug, Clone, Default)]
pub struct SignArgs {
    /// Sign the image (cosign's format) with --key before it is stored or pushed
    #[arg(long, requires = "key")]
    pub sign: bool,
    /// Private key to sign with: cosign's (password from COSIGN_PASSWORD or
    /// the terminal) or a PKCS#8 PEM; see `cargo ebpf keygen`
    #[arg(long, value_name = "KEY", requires = "sign")]
    pub key: Option<PathBuf>,
}

impl SignArgs {
    /// The key to sign with, opened now (before any work), if signing.
    pub fn open(&self) -> Result<Option<PrivateKey>> {
        match (&self.key, self.sign) {
            (Some(k), true) => Ok(Some(open_key(k)?)),
            _ => Ok(None),
        }
    }
}

/// The password of a key: `COSIGN_PASSWORD`, else asked on the terminal.
fn password(prompt: &str) -> Result<String, SignError> {
    if let Some(p) = std::env::var_os(PASSWORD_ENV) {
        return Ok(p.to_string_lossy().into_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err(SignError::Key {
            path: PathBuf::from(PASSWORD_ENV),
            why: format!(
                "no terminal to ask for the key's password; set {PASSWORD_ENV} (it may be empty)"
            ),
        });
    }
    rpassword::prompt_password(prompt).map_err(|e| SignError::Io {
        action: "read the password from",
        path: "the terminal".into(),
        source: e,
    })
}

pub fn open_key(path: &Path) -> Result<PrivateKey> {
    let ask = || password(&format!("Password for {}: ", path.display()));
    Ok(PrivateKey::load(path, &ask)?)
}

/// `keygen`: a new pair under `prefix` (`PREFIX.key`, `PREFIX.pub`).
pub fn keygen(prefix: &Path) -> Result<(PathBuf, PathBuf, String)> {
    let pw = match std::env::var_os(PASSWORD_ENV) {
        Some(p) => p.to_string_lossy().into_owned(),
        None => {
            let first = password("Password for the new private key: ")?;
            let again = password("Again: ")?;
            if first != again {
                return Err(Error::usage(
                    "the two passwords differ; nothing was written",
                ));
            }
            first
        }
    };
    let (key, public, id) = sign::key::generate_pair(prefix, pw.as_bytes())?;
    Ok((key, public, id.id()))
}

/// The repository a signature's payload names for an image called `name`
/// (a store tag or registry reference).
pub fn docker_reference(name: &str) -> String {
    reference::repository_of(name).to_string()
}

/// Signs the opened image as `name`; returns the digests signed.
pub fn sign_image(image: &Opened, name: &str, key: &PrivateKey) -> Result<Vec<String>> {
    let signed = sign::sign_image(
        &image.layout,
        &image.descriptor,
        &docker_reference(name),
        key,
    )?;
    Ok(signed.iter().map(ToString::to_string).collect())
}
