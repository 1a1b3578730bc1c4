//! Claim checks, run only once the signature holds: `exp`, `nbf`, `iat`, lifetime, `aud`,
//! `sub`. The crate's `Validation` is not used (see the parent module for why).

use std::borrow::Cow;

use super::payload::{Claim, Claims};
use super::scan::JsonKind;
use super::{deny, shown};
use crate::auth::trace::{self, Outcome, Trace};
use crate::config::{AuthConfig, IssuerConfig};
use crate::domain::refusal::Refusal;

use super::payload::Payload;

/// The longest `sub` accepted, in bytes.
const MAX_SUBJECT_BYTES: usize = 1024;

pub(super) struct CheckedClaims {
    pub(super) subject: String,
    pub(super) expires_at: u64,
}

/// A NumericDate: a non-negative JSON number of seconds.
#[derive(Clone, Copy)]
struct NumericDate {
    seconds: f64,
    /// Rounded down, saturating at `u64::MAX`.
    whole: u64,
}

/// `Ok(None)` when absent; `Err` names the wrong type or value.
fn numeric_date(claims: &Claims, name: &str) -> Result<Option<NumericDate>, String> {
    let Some(claim) = claims.get(name) else {
        return Ok(None);
    };
    if claim.kind() != JsonKind::Number {
        return Err(format!("{name} is {}, not a number", claim.type_name()));
    }
    if let Some(whole) = claim.as_u64() {
        return Ok(Some(NumericDate {
            seconds: whole as f64,
            whole,
        }));
    }
    match claim.number().and_then(|number| number.as_f64()) {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(Some(NumericDate {
            seconds,
            // `as` saturates: 1e300 becomes u64::MAX.
            whole: seconds.floor() as u64,
        })),
        _ => Err(format!("{name} is negative or not finite")),
    }
}

/// Step 10, after the signature: wsgate's own claim checks.
pub(super) fn check_claims(
    payload: &Payload,
    issuer: &IssuerConfig,
    auth: &AuthConfig,
    now: u64,
    trace: &mut dyn Trace,
) -> Result<CheckedClaims, Refusal> {
    let claims = &payload.claims;
    let leeway = auth.leeway.as_secs();
    if payload.unrepresentable_time {
        return Err(deny(trace, "exp", Refusal::ClaimInvalid, || {
            "exp, nbf or iat is a number out of range".to_owned()
        }));
    }
    let invalid = |trace: &mut dyn Trace, name: &'static str, why: String| {
        deny(trace, name, Refusal::ClaimInvalid, || why)
    };

    // exp: required, and not past (with leeway).
    let exp = match numeric_date(claims, "exp") {
        Ok(Some(exp)) => exp,
        Ok(None) => {
            return Err(deny(trace, "exp", Refusal::ClaimMissing, || {
                "no exp claim".to_owned()
            }));
        }
        Err(why) => return Err(invalid(trace, "exp", why)),
    };
    if now >= exp.whole.saturating_add(leeway) {
        return Err(deny(trace, "exp", Refusal::TokenExpired, || {
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
            return Err(deny(trace, "nbf", Refusal::TokenNotYetValid, || {
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
    claims: &Claims,
    issuer: &IssuerConfig,
    trace: &mut dyn Trace,
) -> Result<(), Refusal> {
    if issuer.audiences.is_empty() {
        return Ok(());
    }
    let mismatch =
        |trace: &mut dyn Trace, why: String| deny(trace, "aud", Refusal::AudienceMismatch, || why);
    let aud = match claims.get("aud") {
        None => return Err(mismatch(trace, "no aud claim".to_owned())),
        Some(aud) if aud.kind() == JsonKind::String => aud,
        Some(aud) if aud.kind() == JsonKind::Array && aud.items().next().is_some() => {
            if !aud.items().all(|item| item.kind() == JsonKind::String) {
                return Err(mismatch(trace, "aud array holds a non-string".to_owned()));
            }
            aud
        }
        Some(other) => return Err(mismatch(trace, format!("aud is {}", other.type_name()))),
    };
    // The string, or every item (all strings, checked above); no list is collected.
    let values = || {
        std::iter::once(aud)
            .filter(|aud| aud.kind() == JsonKind::String)
            .chain(aud.items())
            .filter_map(|value| value.as_str())
    };
    match values().find(|value| issuer.audiences.iter().any(|a| a == value)) {
        Some(matched) => {
            trace::step(trace, "aud", Outcome::Pass, || {
                format!("aud {} is configured", shown(&matched))
            });
            Ok(())
        }
        None => Err(mismatch(trace, {
            let shown_values: Vec<String> = values().take(8).map(|value| shown(&value)).collect();
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
fn check_subject(claims: &Claims, trace: &mut dyn Trace) -> Result<String, Refusal> {
    let sub: Cow<'_, str> = match claims.get("sub") {
        None => {
            return Err(deny(trace, "sub", Refusal::ClaimMissing, || {
                "no sub claim".to_owned()
            }));
        }
        Some(claim) => match claim.as_str() {
            Some(sub) => sub,
            None => return Err(not_a_string(trace, claim)),
        },
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
        return Err(deny(trace, "sub", Refusal::ClaimInvalid, || why));
    }
    trace::step(trace, "sub", Outcome::Pass, || {
        format!("sub {}", shown(&sub))
    });
    Ok(sub.into_owned())
}

fn not_a_string(trace: &mut dyn Trace, claim: Claim<'_>) -> Refusal {
    deny(trace, "sub", Refusal::ClaimInvalid, || {
        format!("sub is {}, not a string", claim.type_name())
    })
}
