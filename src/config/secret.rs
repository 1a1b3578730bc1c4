//! Secret material read from an env var, a file, or (discouraged) a literal.
//!
//! A `Secret` never prints its bytes: `Debug` and `Display` show where it came from and a
//! short SHA-256 fingerprint, which is what `check`, `explain` and the logs use.

use std::fmt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// Where a secret was read from (named in every error about it).
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
    Literal,
}

#[derive(Clone)]
pub struct Secret {
    source: SecretSource,
    bytes: Vec<u8>,
}

impl Secret {
    pub fn new(source: SecretSource, bytes: Vec<u8>) -> Secret {
        Secret { source, bytes }
    }

    pub fn source(&self) -> &SecretSource {
        &self.source
    }

    /// The secret material. Callers must never log it.
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// First 12 hex digits of SHA-256 over the material, prefixed `sha256:`.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.bytes)
    }
}

/// `sha256:` + the first 12 hex digits of SHA-256 over `bytes`.
pub fn fingerprint(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::from("sha256:");
    for byte in &digest[..6] {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "env var {name}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Literal => f.write_str("literal value in the config file"),
        }
    }
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}, {})", self.source, self.fingerprint())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.fingerprint(), self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_material() {
        let secret = Secret::new(SecretSource::Env("JWT_SECRET".into()), b"hunter2hunter2".to_vec());
        let shown = format!("{secret:?} {secret}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("JWT_SECRET"));
        assert!(shown.contains("sha256:"));
    }
}
