//! The validated `[identity.assertion]` table: the signed identity wsgate sends upstream.

use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

use crate::jose::signing_key::AssertionAlgorithm;

/// Claims wsgate writes itself: never copied from the token (`identity.assertion.claims`
/// refuses them).
pub const RESERVED_CLAIMS: [&str; 9] = [
    "iss",
    "aud",
    "sub",
    "iat",
    "exp",
    "nbf",
    "jti",
    "auth_method",
    "sid",
];

/// `identity.assertion.header` when not set.
pub(super) const DEFAULT_HEADER: &str = "X-Auth-Assertion";

/// Longest `ttl` accepted: an assertion is a proof for one connection, not a credential.
pub const MAX_TTL: Duration = Duration::from_secs(300);

/// The validated `[identity.assertion]` table (present only when enabled).
#[derive(Debug, Clone)]
pub struct AssertionConfig {
    pub header: HeaderName,
    pub issuer: String,
    /// One name (sent as a string) or several (sent as an array), never empty.
    pub audience: Vec<String>,
    pub ttl: Duration,
    pub algorithm: AssertionAlgorithm,
    /// `None`: a key is generated at start (refused in production).
    pub key: Option<KeyFile>,
    /// Published in the JWKS beside the current key, never used to sign.
    pub next_key: Option<KeyFile>,
    /// Verified token claims copied into the assertion, in file order.
    pub claims: Vec<String>,
}

/// A PEM private key file, read (and checked) when the config was loaded.
#[derive(Clone)]
pub struct KeyFile {
    pub path: PathBuf,
    pub pem: Vec<u8>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyFile({})", self.path.display())
    }
}
