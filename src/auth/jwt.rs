//! JWT verification: one compact JWS in, a [`VerifiedToken`] or exactly one [`Reason`] out.
//!
//! wsgate does its own parsing and claim checks and uses `jsonwebtoken` only for the
//! signature (`jsonwebtoken::crypto::verify`), because the crate's `decode`/`Validation`
//! defaults are footguns (SECURITY-CASES, "Findings on jsonwebtoken"): missing or mistyped
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
//!    no try-all: a token without `kid` is accepted only when exactly one key fits;
//! 9. signature (`signature_invalid`);
//! 10. claims, only once the signature holds: `exp`, `nbf`, `iat`, lifetime, `aud`, `sub`.
//!
//! Time semantics: `exp` is rounded down to whole seconds, and the token is expired when
//! `now >= exp + leeway` (so at exactly `exp + leeway` it is already expired). It is not
//! yet valid when `nbf - leeway > now`, and `iat > now + leeway` is `claim_invalid`.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::auth::keys::{IssuerKeys, VerifyKey};
use crate::auth::trace::{self, Outcome, Trace};
use crate::config::{AuthConfig, IssuerConfig};
use crate::reason::Reason;

#[cfg(test)]
mod tests;

/// A token whose signature and claims all hold.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// Index into `AuthConfig::issuers`.
    pub issuer: usize,
    pub claims: Map<String, Value>,
    pub subject: String,
    /// `exp`, unix seconds (floats rounded down).
    pub expires_at: u64,
    pub key_fingerprint: String,
    pub algorithm: Algorithm,
}

/// The longest `sub` accepted, in bytes.
const MAX_SUBJECT_BYTES: usize = 1024;

/// Verifies `token` against the enabled issuers of `auth`. `issuer_keys[i]` belongs to
/// `auth.issuers[i]`; `now` is unix seconds (injectable for tests and `explain --at`).
pub fn verify(
    token: &str,
    auth: &AuthConfig,
    issuer_keys: &[IssuerKeys],
    now: u64,
    trace: &mut dyn Trace,
) -> Result<VerifiedToken, Reason> {
    // 1. Size, before anything looks inside (a megabyte of dots costs nothing).
    if token.len() > auth.max_token_bytes {
        return Err(deny(trace, "token", Reason::TokenTooLarge, || {
            format!(
                "token is {} bytes, auth.max_token_bytes is {}",
                token.len(),
                auth.max_token_bytes
            )
        }));
    }

    // 2. Compact JWS: three segments, strict base64url.
    let compact = Compact::split(token)
        .map_err(|why| deny(trace, "token", Reason::TokenMalformed, || why))?;
    trace::step(trace, "token", Outcome::Pass, || {
        format!("compact JWS, {} bytes", token.len())
    });

    // 3. Header.
    let header = JoseHeader::parse(&compact.header)
        .map_err(|(reason, why)| deny(trace, "header", reason, || why))?;
    trace::step(trace, "header", Outcome::Pass, || header.describe());

    // 4. Payload.
    let payload = Payload::parse(&compact.payload)
        .map_err(|why| deny(trace, "payload", Reason::TokenMalformed, || why))?;

    // 5. Issuer.
    let (index, issuer) = select_issuer(&payload.claims, auth, trace)?;

    // 6. Algorithm allowed for this issuer.
    if !issuer.algorithms.contains(&header.alg) {
        return Err(deny(
            trace,
            "algorithm",
            Reason::AlgorithmNotAllowed,
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
            return Err(deny(trace, "typ", Reason::TokenMalformed, || {
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
    let Some(keys) = issuer_keys.get(index).filter(|keys| !keys.keys.is_empty()) else {
        return Err(deny(trace, "key", Reason::KeysUnavailable, || {
            format!("issuer {:?} has no keys loaded", issuer.name)
        }));
    };
    let key = select_key(&keys.keys, &header, trace)?;

    // 9. Signature.
    let verified = jsonwebtoken::crypto::verify(
        compact.signature,
        compact.signing_input.as_bytes(),
        &key.key,
        key.algorithm,
    );
    if !matches!(verified, Ok(true)) {
        return Err(deny(trace, "signature", Reason::SignatureInvalid, || {
            let mut detail = format!(
                "signature does not verify with {} {} ({}); this was the only key tried",
                key.fingerprint,
                format_args!("{:?}", key.algorithm),
                key.description
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
    Ok(VerifiedToken {
        issuer: index,
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
    reason: Reason,
    detail: impl FnOnce() -> String,
) -> Reason {
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

/// The three segments of a compact JWS, header and payload decoded.
struct Compact<'a> {
    header: Vec<u8>,
    payload: Vec<u8>,
    /// Still base64url; may be empty (then `signature_invalid`).
    signature: &'a str,
    /// `header.payload` as sent: what the signature covers.
    signing_input: &'a str,
}

impl<'a> Compact<'a> {
    fn split(token: &'a str) -> Result<Compact<'a>, String> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            let count = token.split('.').count();
            return Err(if count == 5 {
                "5 segments: an encrypted JWE, which is not supported".to_owned()
            } else {
                format!("{count} dot-separated segment(s); a compact JWS has 3")
            });
        };
        if header.is_empty() || payload.is_empty() {
            return Err("empty header or payload segment".to_owned());
        }
        let decode = |segment: &str, name: &str| {
            URL_SAFE_NO_PAD
                .decode(segment)
                .map_err(|_| format!("{name} is not base64url without padding"))
        };
        let header_bytes = decode(header, "header")?;
        let payload_bytes = decode(payload, "payload")?;
        decode(signature, "signature")?;
        Ok(Compact {
            header: header_bytes,
            payload: payload_bytes,
            signature,
            signing_input: &token[..header.len() + 1 + payload.len()],
        })
    }
}

/// The protected header members wsgate acts on.
struct JoseHeader {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
    /// Key-source members present but never used (`jku`, `x5u`, `jwk`, `x5c`).
    ignored: Vec<&'static str>,
}

impl JoseHeader {
    fn parse(bytes: &[u8]) -> Result<JoseHeader, (Reason, String)> {
        let malformed = |why: String| (Reason::TokenMalformed, why);
        let UniqueMap(header) = serde_json::from_slice(bytes).map_err(|e| {
            malformed(format!(
                "header is not a JSON object without duplicates: {e}"
            ))
        })?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) if name.eq_ignore_ascii_case("none") => {
                return Err((
                    Reason::AlgorithmNotAllowed,
                    format!("alg {} (unsigned) is never allowed", shown(name)),
                ));
            }
            Some(Value::String(name)) => Algorithm::from_str(name).map_err(|_| {
                (
                    Reason::AlgorithmNotAllowed,
                    format!("alg {} is not a supported algorithm name", shown(name)),
                )
            })?,
            Some(_) => return Err(malformed("alg is not a string".to_owned())),
            None => return Err(malformed("alg is missing".to_owned())),
        };
        for name in ["crit", "b64", "zip"] {
            if header.contains_key(name) {
                return Err(malformed(format!(
                    "header parameter {name:?} is not supported"
                )));
            }
        }
        let text = |name: &str| match header.get(name) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(malformed(format!("{name} is not a string"))),
        };
        if let Some(cty) = text("cty")? {
            if typ_matches(&cty, "JWT") {
                return Err(malformed(
                    "cty JWT: nested tokens are not supported".to_owned(),
                ));
            }
        }
        let ignored = ["jku", "x5u", "jwk", "x5c"]
            .into_iter()
            .filter(|name| header.contains_key(*name))
            .collect();
        Ok(JoseHeader {
            alg,
            kid: text("kid")?,
            typ: text("typ")?,
            ignored,
        })
    }

    fn describe(&self) -> String {
        let mut detail = format!("alg {:?}", self.alg);
        match &self.kid {
            Some(kid) => detail.push_str(&format!(", kid {}", shown(kid))),
            None => detail.push_str(", no kid"),
        }
        if let Some(typ) = &self.typ {
            detail.push_str(&format!(", typ {}", shown(typ)));
        }
        if !self.ignored.is_empty() {
            detail.push_str(&format!(
                "; ignored (never fetched or used): {}",
                self.ignored.join(", ")
            ));
        }
        detail
    }
}

/// RFC 7515 §4.1.9: media type names compare case-insensitively, and the
/// `application/` prefix may be omitted.
fn typ_matches(actual: &str, expected: &str) -> bool {
    fn strip(value: &str) -> &str {
        match value.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &value[12..],
            _ => value,
        }
    }
    strip(actual).eq_ignore_ascii_case(strip(expected))
}

/// The claims set, duplicate-free at the top level.
struct Payload {
    claims: Map<String, Value>,
    /// `exp`, `nbf` or `iat` held a number outside f64's range (`1e400`): the claims
    /// step turns that into `claim_invalid` once the signature holds.
    unrepresentable_time: bool,
}

impl Payload {
    fn parse(bytes: &[u8]) -> Result<Payload, String> {
        match serde_json::from_slice::<UniqueMap>(bytes) {
            Ok(UniqueMap(claims)) => Ok(Payload {
                claims,
                unrepresentable_time: false,
            }),
            Err(e) if e.to_string().starts_with("number out of range") => {
                // Parse again skipping the time claims' values: if that succeeds, the
                // out-of-range number was one of them (K3: `exp: 1e400` is claim_invalid).
                let mut seed = UniqueMapSeed { skip: TIME_CLAIMS };
                let mut deserializer = serde_json::Deserializer::from_slice(bytes);
                let claims = de::DeserializeSeed::deserialize(&mut seed, &mut deserializer)
                    .and_then(|claims| deserializer.end().map(|()| claims))
                    .map_err(|_| format!("payload is not a valid JSON object: {e}"))?;
                Ok(Payload {
                    claims,
                    unrepresentable_time: true,
                })
            }
            Err(e) => Err(format!(
                "payload is not a JSON object without duplicates: {e}"
            )),
        }
    }
}

const TIME_CLAIMS: &[&str] = &["exp", "nbf", "iat"];

/// A JSON object that refuses duplicate member names (serde_json's `Map` keeps the last).
/// Names are compared after unescaping, so `"e\u0078p"` duplicates `"exp"`.
struct UniqueMap(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut seed = UniqueMapSeed { skip: &[] };
        de::DeserializeSeed::deserialize(&mut seed, deserializer).map(UniqueMap)
    }
}

/// The visitor behind [`UniqueMap`]; members named in `skip` are parsed but dropped.
struct UniqueMapSeed {
    skip: &'static [&'static str],
}

impl<'de> de::DeserializeSeed<'de> for &mut UniqueMapSeed {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for &mut UniqueMapSeed {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        let mut skipped: Vec<String> = Vec::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) || skipped.contains(&name) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member {}",
                    shown(&name)
                )));
            }
            if self.skip.contains(&name.as_str()) {
                access.next_value::<IgnoredAny>()?;
                skipped.push(name);
            } else {
                let value = access.next_value::<Value>()?;
                map.insert(name, value);
            }
        }
        Ok(map)
    }
}

/// Step 5: the `iss` claim names exactly one enabled issuer.
fn select_issuer<'a>(
    claims: &Map<String, Value>,
    auth: &'a AuthConfig,
    trace: &mut dyn Trace,
) -> Result<(usize, &'a IssuerConfig), Reason> {
    let iss = match claims.get("iss") {
        Some(Value::String(iss)) => iss,
        Some(other) => {
            return Err(deny(trace, "issuer", Reason::IssuerUnknown, || {
                format!("iss is {}, not a string", json_type(other))
            }));
        }
        None => {
            return Err(deny(trace, "issuer", Reason::IssuerUnknown, || {
                "no iss claim".to_owned()
            }));
        }
    };
    let found = auth
        .issuers
        .iter()
        .enumerate()
        .find(|(_, issuer)| issuer.enabled && issuer.issuer == *iss);
    match found {
        Some((index, issuer)) => {
            trace::step(trace, "issuer", Outcome::Pass, || {
                format!("iss {} is issuer {:?}", shown(iss), issuer.name)
            });
            Ok((index, issuer))
        }
        None => Err(deny(trace, "issuer", Reason::IssuerUnknown, || match auth
            .issuers
            .iter()
            .find(|issuer| issuer.issuer == *iss)
        {
            Some(disabled) => format!(
                "iss {} is issuer {:?}, which is not enabled in this environment (environments {:?})",
                shown(iss),
                disabled.name,
                disabled.environments
            ),
            None => format!("iss {} matches no configured issuer", shown(iss)),
        })),
    }
}

/// Step 8: exact in-memory match on algorithm, then `kid`. No try-all.
fn select_key<'k>(
    keys: &'k [VerifyKey],
    header: &JoseHeader,
    trace: &mut dyn Trace,
) -> Result<&'k VerifyKey, Reason> {
    let candidates: Vec<&VerifyKey> = keys
        .iter()
        .filter(|key| key.algorithm == header.alg)
        .collect();
    let chosen = match &header.kid {
        Some(kid) => candidates
            .iter()
            .find(|key| key.kid.as_deref() == Some(kid.as_str()))
            .or_else(|| match candidates.as_slice() {
                [only] if only.kid.is_none() => Some(only),
                _ => None,
            })
            .copied(),
        None => match candidates.as_slice() {
            [only] => Some(*only),
            _ => None,
        },
    };
    match chosen {
        Some(key) => {
            trace::step(trace, "key", Outcome::Pass, || {
                format!("key {} ({})", key.fingerprint, key.description)
            });
            Ok(key)
        }
        None => Err(deny(trace, "key", Reason::KeyUnknown, || {
            let known: Vec<String> = candidates
                .iter()
                .map(|key| match &key.kid {
                    Some(kid) => format!("{kid:?} {}", key.fingerprint),
                    None => format!("(no kid) {}", key.fingerprint),
                })
                .collect();
            let wanted = header
                .kid
                .as_deref()
                .map_or("no kid".to_owned(), |kid| format!("kid {}", shown(kid)));
            format!(
                "{wanted} with alg {:?}: no single matching key among [{}] (wsgate never tries every key)",
                header.alg,
                known.join(", ")
            )
        })),
    }
}

struct CheckedClaims {
    subject: String,
    expires_at: u64,
}

/// A NumericDate: a non-negative JSON number of seconds.
#[derive(Clone, Copy)]
struct NumericDate {
    seconds: f64,
    /// Rounded down, saturating at `u64::MAX`.
    whole: u64,
}

/// `Ok(None)` when absent; `Err` names the wrong type or value.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<NumericDate>, String> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(format!("{name} is {}, not a number", json_type(value)));
    };
    if let Some(whole) = number.as_u64() {
        return Ok(Some(NumericDate {
            seconds: whole as f64,
            whole,
        }));
    }
    match number.as_f64() {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(Some(NumericDate {
            seconds,
            // `as` saturates: 1e300 becomes u64::MAX.
            whole: seconds.floor() as u64,
        })),
        _ => Err(format!("{name} is negative or not finite")),
    }
}

/// Step 10, after the signature: wsgate's own claim checks.
fn check_claims(
    payload: &Payload,
    issuer: &IssuerConfig,
    auth: &AuthConfig,
    now: u64,
    trace: &mut dyn Trace,
) -> Result<CheckedClaims, Reason> {
    let claims = &payload.claims;
    let leeway = auth.leeway.as_secs();
    if payload.unrepresentable_time {
        return Err(deny(trace, "exp", Reason::ClaimInvalid, || {
            "exp, nbf or iat is a number out of range".to_owned()
        }));
    }
    let invalid = |trace: &mut dyn Trace, name: &'static str, why: String| {
        deny(trace, name, Reason::ClaimInvalid, || why)
    };

    // exp: required, and not past (with leeway).
    let exp = match numeric_date(claims, "exp") {
        Ok(Some(exp)) => exp,
        Ok(None) => {
            return Err(deny(trace, "exp", Reason::ClaimMissing, || {
                "no exp claim".to_owned()
            }));
        }
        Err(why) => return Err(invalid(trace, "exp", why)),
    };
    if now >= exp.whole.saturating_add(leeway) {
        return Err(deny(trace, "exp", Reason::TokenExpired, || {
            format!(
                "exp {} + leeway {leeway} s <= now {now} (expired {} s ago)",
                exp.whole,
                now - exp.whole.min(now)
            )
        }));
    }
    trace::step(trace, "exp", Outcome::Pass, || {
        format!("exp {} vs now {now}, leeway {leeway} s", exp.whole)
    });

    // nbf: optional.
    let slack = now as f64 + leeway as f64;
    match numeric_date(claims, "nbf") {
        Ok(Some(nbf)) if nbf.seconds > slack => {
            return Err(deny(trace, "nbf", Reason::TokenNotYetValid, || {
                format!("nbf {} - leeway {leeway} s > now {now}", nbf.seconds)
            }));
        }
        Ok(Some(nbf)) => trace::step(trace, "nbf", Outcome::Pass, || {
            format!("nbf {} vs now {now}", nbf.seconds)
        }),
        Ok(None) => {}
        Err(why) => return Err(invalid(trace, "nbf", why)),
    }

    // iat: optional, not in the future.
    let iat = match numeric_date(claims, "iat") {
        Ok(Some(iat)) if iat.seconds > slack => {
            return Err(invalid(
                trace,
                "iat",
                format!("iat {} is after now {now} + leeway {leeway} s", iat.seconds),
            ));
        }
        Ok(iat) => iat,
        Err(why) => return Err(invalid(trace, "iat", why)),
    };

    // Lifetime, when configured.
    if let Some(max) = auth.max_lifetime {
        let start = iat.map_or(now, |iat| iat.whole);
        let lifetime = exp.whole.saturating_sub(start);
        if lifetime > max.as_secs() {
            return Err(invalid(
                trace,
                "lifetime",
                format!(
                    "exp - {} = {lifetime} s exceeds auth.max_lifetime {} s",
                    if iat.is_some() { "iat" } else { "now" },
                    max.as_secs()
                ),
            ));
        }
    }

    check_audience(claims, issuer, trace)?;
    let subject = check_subject(claims, trace)?;
    Ok(CheckedClaims {
        subject,
        expires_at: exp.whole,
    })
}

/// `aud` is a string or an array of strings sharing one exact value with the issuer's
/// audiences. Not checked when the issuer configures none.
fn check_audience(
    claims: &Map<String, Value>,
    issuer: &IssuerConfig,
    trace: &mut dyn Trace,
) -> Result<(), Reason> {
    if issuer.audiences.is_empty() {
        return Ok(());
    }
    let mismatch =
        |trace: &mut dyn Trace, why: String| deny(trace, "aud", Reason::AudienceMismatch, || why);
    let values: Vec<&str> = match claims.get("aud") {
        None => return Err(mismatch(trace, "no aud claim".to_owned())),
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => {
            match items
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<&str>>>()
            {
                Some(values) => values,
                None => return Err(mismatch(trace, "aud array holds a non-string".to_owned())),
            }
        }
        Some(other) => return Err(mismatch(trace, format!("aud is {}", json_type(other)))),
    };
    match values
        .iter()
        .find(|aud| issuer.audiences.iter().any(|a| a == *aud))
    {
        Some(matched) => {
            trace::step(trace, "aud", Outcome::Pass, || {
                format!("aud {} is configured", shown(matched))
            });
            Ok(())
        }
        None => Err(mismatch(trace, {
            let shown_values: Vec<String> = values.iter().take(8).map(|v| shown(v)).collect();
            format!(
                "aud [{}] shares nothing with issuer {:?}'s audiences {:?}",
                shown_values.join(", "),
                issuer.name,
                issuer.audiences
            )
        })),
    }
}

/// `sub` is required and must be forwardable as an HTTP header value as-is: 1..=1024
/// bytes of visible ASCII or space, without leading or trailing space (which receivers
/// strip, so `"admin "` would arrive as `admin`).
fn check_subject(claims: &Map<String, Value>, trace: &mut dyn Trace) -> Result<String, Reason> {
    let sub = match claims.get("sub") {
        None => {
            return Err(deny(trace, "sub", Reason::ClaimMissing, || {
                "no sub claim".to_owned()
            }));
        }
        Some(Value::String(sub)) => sub,
        Some(other) => {
            return Err(deny(trace, "sub", Reason::ClaimInvalid, || {
                format!("sub is {}, not a string", json_type(other))
            }));
        }
    };
    let why = if sub.is_empty() {
        Some("sub is empty".to_owned())
    } else if sub.len() > MAX_SUBJECT_BYTES {
        Some(format!(
            "sub is {} bytes, more than {MAX_SUBJECT_BYTES}",
            sub.len()
        ))
    } else if !sub.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
        Some("sub holds control or non-ASCII characters; it cannot be a header value".to_owned())
    } else if sub.starts_with(' ') || sub.ends_with(' ') {
        Some("sub has leading or trailing spaces".to_owned())
    } else {
        None
    };
    if let Some(why) = why {
        return Err(deny(trace, "sub", Reason::ClaimInvalid, || why));
    }
    trace::step(trace, "sub", Outcome::Pass, || {
        format!("sub {}", shown(sub))
    });
    Ok(sub.clone())
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

mod self_test {
    //! The startup self-test's fixed material. The RSA key exists only to prove that the
    //! crypto backend signs and verifies; it is not a secret and guards nothing.

    use std::time::Duration;

    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{Algorithm, EncodingKey};

    use crate::auth::keys;
    use crate::auth::trace::NoTrace;
    use crate::config::{
        AuthConfig, DenyMode, IssuerConfig, KeySource, Secret, SecretSource, SessionExpiry,
    };

    const HMAC_SECRET: &[u8] = b"wsgate self-test HMAC secret, not a real one";
    const RSA_PRIVATE_KEY: &str = include_str!("jwt/self_test_rsa.key.pem");
    const RSA_PUBLIC_KEY: &str = include_str!("jwt/self_test_rsa.pub.pem");
    const NOW: u64 = 1_700_000_000;

    pub(super) fn run() -> Result<(), String> {
        let auth = config();
        let keys: Vec<keys::IssuerKeys> = auth
            .issuers
            .iter()
            .map(|issuer| keys::load(issuer).map_err(|e| e.join("; ")))
            .collect::<Result<_, _>>()?;
        let cases = [
            (
                Algorithm::HS256,
                EncodingKey::from_secret(HMAC_SECRET),
                "https://self-test.hs",
            ),
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(RSA_PRIVATE_KEY.as_bytes())
                    .map_err(|e| format!("self-test RSA key: {e}"))?,
                "https://self-test.rs",
            ),
        ];
        for (algorithm, key, iss) in cases {
            let header =
                URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{algorithm:?}","typ":"JWT"}}"#));
            let payload = URL_SAFE_NO_PAD.encode(format!(
                r#"{{"iss":"{iss}","sub":"self-test","aud":"wsgate","exp":{}}}"#,
                NOW + 60
            ));
            let input = format!("{header}.{payload}");
            let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, algorithm)
                .map_err(|e| format!("{algorithm:?} self-test signing failed: {e}"))?;
            let token = format!("{input}.{signature}");
            super::verify(&token, &auth, &keys, NOW, &mut NoTrace)
                .map_err(|reason| format!("{algorithm:?} self-test token refused: {reason}"))?;
            // A backend that accepts everything is as broken as one that accepts nothing.
            let tampered = format!("{input}.{}", flip_first_char(&signature));
            if super::verify(&tampered, &auth, &keys, NOW, &mut NoTrace).is_ok() {
                return Err(format!(
                    "{algorithm:?} self-test accepted a tampered signature"
                ));
            }
        }
        Ok(())
    }

    fn flip_first_char(signature: &str) -> String {
        let replacement = if signature.starts_with('A') { "B" } else { "A" };
        format!("{replacement}{}", &signature[1..])
    }

    fn config() -> AuthConfig {
        let issuer = |name: &str, algorithm: Algorithm, keys: KeySource| IssuerConfig {
            name: name.to_owned(),
            issuer: format!("https://self-test.{name}"),
            audiences: vec!["wsgate".to_owned()],
            algorithms: vec![algorithm],
            keys,
            typ: None,
            environments: Vec::new(),
            enabled: true,
        };
        AuthConfig {
            deny: DenyMode::Http,
            token_sources: Vec::new(),
            leeway: Duration::ZERO,
            session_expiry: SessionExpiry::Close,
            max_token_bytes: 8192,
            allowed_origins: Vec::new(),
            forward_token: false,
            max_lifetime: None,
            issuers: vec![
                issuer(
                    "hs",
                    Algorithm::HS256,
                    KeySource::Secret {
                        secret: Secret::new(SecretSource::Literal, HMAC_SECRET.to_vec()),
                        kid: None,
                    },
                ),
                issuer(
                    "rs",
                    Algorithm::RS256,
                    KeySource::PublicKeyFile {
                        path: "(built-in self-test key)".into(),
                        pem: RSA_PUBLIC_KEY.as_bytes().to_vec(),
                        kid: None,
                    },
                ),
            ],
        }
    }
}
