//! JWT verification: one compact JWS in, a [`VerifiedToken`] or exactly one [`Refusal`] out.
//!
//! wsgate does its own parsing and claim checks and uses `jsonwebtoken` only for the
//! signature (`jsonwebtoken::crypto::verify`), because the crate's `decode`/`Validation`
//! defaults are footguns (docs/security-cases.md, "Findings on jsonwebtoken"): missing or mistyped
//! `iss`/`aud` accepted, `nbf` unchecked, `crit`/`typ`/`cty`/`zip` ignored, duplicate
//! members silently collapsed, no size limit. The order of checks is fixed, and each
//! failure maps to one reason:
//!
//! 1. size (`token_too_large`) before any splitting or decoding;
//! 2. compact form, strict base64url (`token_malformed`);
//! 3. header: duplicate-free JSON object, `alg` an exact known name (`algorithm_not_allowed`),
//!    no `crit`/`b64`/`zip`, no nested `cty: JWT`, string `kid`/`typ` (`token_malformed`);
//!    `jku`/`x5u`/`jwk`/`x5c` are ignored: never fetched, never used;
//! 4. payload: duplicate-free JSON object (`token_malformed`);
//! 5. `iss` selects one enabled issuer (`issuer_unknown`);
//! 6. `alg` must be one of that issuer's algorithms (`algorithm_not_allowed`);
//! 7. `typ` when the issuer configures one (`token_malformed`);
//! 8. one key by exact in-memory match on algorithm and `kid` (`key_unknown`); there is
//!    no try-all: a token without `kid` is accepted only when exactly one key fits, and a
//!    token with a `kid` no key carries falls back to the issuer's only key for its
//!    algorithm when that key has no configured `kid` (a PEM or secret configured
//!    without one, against tokens whose issuer names its keys);
//! 9. signature (`signature_invalid`); when the key was that unnamed fallback for a
//!    token naming a `kid`, `key_unknown` instead: the token names a key wsgate does not
//!    have (J10: a hostile `kid` is `key_unknown` whatever the configuration);
//! 10. claims, only once the signature holds: `exp`, `nbf`, `iat`, lifetime, `aud`, `sub`.
//!
//! Decisions worth knowing:
//! - Time: `exp` is rounded down to whole seconds, and the token is expired when
//!   `now >= exp + leeway` (at exactly `exp + leeway` it is already expired). It is not yet
//!   valid when `nbf - leeway > now`; `iat > now + leeway` is `claim_invalid`. NumericDates
//!   must be non-negative JSON numbers; `1e400` (beyond f64) in `exp`/`nbf`/`iat` is
//!   `claim_invalid`, anywhere else it makes the payload `token_malformed`.
//! - A configured `typ` that does not match is `token_malformed` (the token is of another
//!   kind, RFC 8725 §3.11); `typ` compares case-insensitively, `application/` optional.
//! - Duplicate members are refused at the top level of header and payload (custom claims
//!   too, so route claims never see a "last one wins" value); nested objects are not
//!   inspected.
//! - `sub` must be 1..=1024 bytes of visible ASCII or inner spaces, so it can be forwarded
//!   as a header value unchanged.
//! - An issuer with no keys loaded (or no `IssuerKeys` entry) is `keys_unavailable`; a
//!   token whose `kid`/`alg` matches no loaded key is `key_unknown`, which is the caller's
//!   cue to refresh a remote JWKS (single-flight, with cooldown) and call `verify` again.
//! - ES256 signatures are malleable (high-S is accepted by the backend): never use raw
//!   token bytes as a cache, replay or dedup key.

mod claims;
mod jose;
mod json;
mod payload;
pub(crate) mod reference;
mod scan;
mod select;
mod self_test;
mod signature;
#[cfg(test)]
mod tests;

use std::borrow::{Borrow, Cow};
use std::sync::Arc;

use jsonwebtoken::{Algorithm, AlgorithmFamily};

use crate::auth::keys::IssuerKeys;
use crate::auth::trace::{self, Outcome, Trace};
use crate::config::{AuthConfig, IssuerConfig, IssuerId};
use crate::domain::refusal::Refusal;
use claims::check_claims;
use jose::{Compact, JoseHeader, Scratch, typ_matches};
use payload::Payload;
pub use payload::{Claim, Claims};
pub use scan::JsonKind;
use select::{select_issuer, select_key};
use signature::verify_signature;

/// A token whose signature and claims all hold.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// The issuer `iss` selected (`AuthConfig::issuer`).
    pub issuer: IssuerId,
    pub claims: Claims,
    pub subject: String,
    /// `exp`, unix seconds (floats rounded down).
    pub expires_at: u64,
    /// The verifying key's (shared with it, not copied).
    pub key_fingerprint: Arc<str>,
    pub algorithm: Algorithm,
    /// `jti`, when it is a string.
    pub jti: Option<String>,
    /// The header's `kid`, else the verifying key's configured one.
    pub kid: Option<String>,
}

/// A token refused: the one reason, and the issuer its `iss` selected when verification
/// got that far (step 5), so the refusal's log line and a JWKS refetch can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub reason: Refusal,
    pub issuer: Option<IssuerId>,
}

/// Verifies `token` against the enabled issuers of `auth`. `issuer_keys[i]` belongs to
/// `auth.issuers[i]` (owned sets, or `Arc`s: a snapshot of remote key sets); `now` is
/// unix seconds (injectable for tests and `explain --at`).
pub fn verify<K: Borrow<IssuerKeys>>(
    token: &str,
    auth: &AuthConfig,
    issuer_keys: &[K],
    now: u64,
    trace: &mut dyn Trace,
) -> Result<VerifiedToken, Failure> {
    let unnamed = |reason| Failure {
        reason,
        issuer: None,
    };
    // 1. Size, before anything looks inside (a megabyte of dots costs nothing).
    if token.len() > auth.max_token_bytes {
        return Err(unnamed(deny(
            trace,
            "token",
            Refusal::TokenTooLarge,
            || {
                format!(
                    "token is {} bytes, auth.max_token_bytes is {}",
                    token.len(),
                    auth.max_token_bytes
                )
            },
        )));
    }

    // 2. Compact JWS: three segments, strict base64url.
    let mut scratch = Scratch::new();
    let compact = Compact::split(token, &mut scratch)
        .map_err(|why| unnamed(deny(trace, "token", Refusal::TokenMalformed, || why)))?;
    trace::step(trace, "token", Outcome::Pass, || {
        format!("compact JWS, {} bytes", token.len())
    });

    // 3. Header.
    let header = JoseHeader::parse(compact.header)
        .map_err(|(reason, why)| unnamed(deny(trace, "header", reason, || why)))?;
    trace::step(trace, "header", Outcome::Pass, || header.describe());

    // 4. Payload.
    let payload = Payload::parse(compact.payload)
        .map_err(|why| unnamed(deny(trace, "payload", Refusal::TokenMalformed, || why)))?;

    // 5. Issuer.
    let (id, issuer) = select_issuer(&payload.claims, auth, trace).map_err(unnamed)?;
    verify_issued(
        &compact,
        header,
        payload,
        (id, issuer),
        auth,
        issuer_keys,
        now,
        trace,
    )
    .map_err(|reason| Failure {
        reason,
        issuer: Some(id),
    })
}

/// Steps 6 to 10, once the token's issuer is known.
#[allow(clippy::too_many_arguments)]
fn verify_issued<K: Borrow<IssuerKeys>>(
    compact: &Compact<'_>,
    header: JoseHeader<'_>,
    payload: Payload,
    (id, issuer): (IssuerId, &IssuerConfig),
    auth: &AuthConfig,
    issuer_keys: &[K],
    now: u64,
    trace: &mut dyn Trace,
) -> Result<VerifiedToken, Refusal> {
    // 6. Algorithm allowed for this issuer.
    if !issuer.algorithms.contains(&header.alg) {
        return Err(deny(
            trace,
            "algorithm",
            Refusal::AlgorithmNotAllowed,
            || {
                format!(
                    "alg {:?} is not in issuer {:?}'s algorithms {:?}",
                    header.alg, issuer.name, issuer.algorithms
                )
            },
        ));
    }
    trace::step(trace, "algorithm", Outcome::Pass, || {
        format!(
            "alg {:?} is allowed for issuer {:?}",
            header.alg, issuer.name
        )
    });

    // 7. typ, when configured.
    if let Some(expected) = &issuer.typ {
        let matches = header
            .typ
            .as_deref()
            .is_some_and(|typ| typ_matches(typ, expected));
        if !matches {
            return Err(deny(trace, "typ", Refusal::TokenMalformed, || {
                format!(
                    "typ {} does not match issuer {:?}'s typ {expected:?}",
                    header.typ.as_deref().map_or("(absent)".to_owned(), shown),
                    issuer.name
                )
            }));
        }
        trace::step(trace, "typ", Outcome::Pass, || {
            format!("typ matches {expected:?}")
        });
    }

    // 8. Key.
    let Some(keys) = id
        .slot(issuer_keys)
        .map(Borrow::borrow)
        .filter(|keys: &&IssuerKeys| !keys.keys.is_empty())
    else {
        return Err(deny(trace, "key", Refusal::KeysUnavailable, || {
            format!("issuer {:?} has no keys loaded", issuer.name)
        }));
    };
    let key = select_key(&keys.keys, &header, trace)?;

    // 9. Signature.
    if !verify_signature(
        key,
        compact.signing_input.as_bytes(),
        compact.signature,
        compact.signature_bytes,
    ) {
        if let (Some(kid), None) = (&header.kid, &key.kid) {
            // The token names a key; the lone unnamed key it fell back to is not it.
            return Err(deny(trace, "signature", Refusal::KeyUnknown, || {
                format!(
                    "token names kid {} and the only {:?} key ({}, {}) has no kid and does not verify it: the token was signed by a key wsgate does not have",
                    shown(kid),
                    key.algorithm,
                    key.fingerprint,
                    key.description
                )
            }));
        }
        return Err(deny(trace, "signature", Refusal::SignatureInvalid, || {
            let mut detail = format!(
                "signature does not verify with {} {:?} ({}); this was the only key tried",
                key.fingerprint, key.algorithm, key.description
            );
            if key.algorithm.family() == AlgorithmFamily::Hmac {
                detail.push_str("; the HMAC secret likely differs between the signer and wsgate");
            }
            detail
        }));
    }
    trace::step(trace, "signature", Outcome::Pass, || {
        format!("verified with {} ({})", key.fingerprint, key.description)
    });

    // 10. Claims.
    let checked = check_claims(&payload, issuer, auth, now, trace)?;
    let jti = payload
        .claims
        .get("jti")
        .and_then(|jti| jti.as_str())
        .map(Cow::into_owned);
    let kid = header.kid.map(Cow::into_owned).or_else(|| key.kid.clone());
    Ok(VerifiedToken {
        jti,
        kid,
        issuer: id,
        claims: payload.claims,
        subject: checked.subject,
        expires_at: checked.expires_at,
        key_fingerprint: key.fingerprint.clone(),
        algorithm: key.algorithm,
    })
}

/// Startup self-test: signs and verifies a known HS256 and RS256 token through the same
/// key loading and verification code the proxy uses, and checks that a tampered copy is
/// refused. A crypto backend that panics (jsonwebtoken built without one) is caught and
/// reported as an error instead of panicking on the first client.
pub fn self_test() -> Result<(), String> {
    match std::panic::catch_unwind(self_test::run) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(format!("JWT crypto self-test panicked: {}", message.trim()))
        }
    }
}

/// Records a failed step and returns its reason.
fn deny(
    trace: &mut dyn Trace,
    name: &'static str,
    reason: Refusal,
    detail: impl FnOnce() -> String,
) -> Refusal {
    trace::step(trace, name, Outcome::Fail(reason), detail);
    reason
}

/// Attacker-controlled text, quoted and cut short, for trace details.
fn shown(text: &str) -> String {
    const LIMIT: usize = 96;
    if text.len() <= LIMIT {
        return format!("{text:?}");
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… ({} bytes)", &text[..end], text.len())
}
