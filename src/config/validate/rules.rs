//! The rules more than one section applies: metric-label names, HTTP tokens, header
//! names wsgate reserves (in any spelling that folds to them), secret strength, and the
//! algorithm names it knows. Section files import these from here, never from each
//! other.

use std::collections::HashSet;

use crate::http::fold::fold;
use crate::http::hop_by_hop::is_hop_by_hop;

/// HS256 needs a key at least as long as its output (RFC 7518 §3.2).
const MIN_SECRET_BYTES: usize = 32;
/// Every algorithm an issuer may list, for messages.
pub(super) const ALGORITHM_NAMES: &str =
    "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA";

/// RFC 9110 `token`.
pub(super) fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Names that end up in metric labels: `[a-z0-9_-]{1,64}`.
pub(super) fn is_label(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Headers that carry the connection, the handshake, credentials or the forwarding chain.
pub(super) fn is_reserved_header(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "host",
        "content-length",
        "authorization",
        "cookie",
        "forwarded",
        "origin",
    ];
    let folded = fold(name);
    EXACT.contains(&folded.as_str())
        || is_hop_by_hop(&folded)
        || folded.starts_with("sec-websocket-")
        || folded.starts_with("x-forwarded-")
}

/// Length and variety rules shared by HMAC secrets and bypass keys.
pub(super) fn weak_secret_problem(bytes: &[u8]) -> Option<String> {
    if bytes.len() < MIN_SECRET_BYTES {
        return Some(format!(
            "is {} bytes; at least {MIN_SECRET_BYTES} are required (generate one with `openssl rand -base64 32`)",
            bytes.len()
        ));
    }
    let distinct = bytes.iter().collect::<HashSet<_>>().len();
    if distinct < 8 {
        return Some(format!(
            "uses only {distinct} distinct byte values, which looks like a placeholder; generate one with `openssl rand -base64 32`"
        ));
    }
    None
}
