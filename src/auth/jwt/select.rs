//! Steps 5 and 8 of [`super::verify`]: the one enabled issuer `iss` names, and the one
//! key of that issuer the token's `alg` and `kid` select (no try-all).

use super::jose::JoseHeader;
use super::payload::Claims;
use super::{deny, shown};
use crate::auth::keys::VerifyKey;
use crate::auth::trace::{self, Outcome, Trace};
use crate::config::{AuthConfig, IssuerConfig, IssuerId};
use crate::domain::refusal::Refusal;

/// Step 5: the `iss` claim names exactly one enabled issuer.
pub(super) fn select_issuer<'a>(
    claims: &Claims,
    auth: &'a AuthConfig,
    trace: &mut dyn Trace,
) -> Result<(IssuerId, &'a IssuerConfig), Refusal> {
    let iss = match claims.get("iss") {
        Some(claim) => match claim.as_str() {
            Some(iss) => iss,
            None => {
                return Err(deny(trace, "issuer", Refusal::IssuerUnknown, || {
                    format!("iss is {}, not a string", claim.type_name())
                }));
            }
        },
        None => {
            return Err(deny(trace, "issuer", Refusal::IssuerUnknown, || {
                "no iss claim".to_owned()
            }));
        }
    };
    let iss: &str = &iss;
    let found = auth
        .issuer_ids()
        .find(|(_, issuer)| issuer.enabled && issuer.issuer == iss);
    match found {
        Some((id, issuer)) => {
            trace::step(trace, "issuer", Outcome::Pass, || {
                format!("iss {} is issuer {:?}", shown(iss), issuer.name)
            });
            Ok((id, issuer))
        }
        None => Err(deny(trace, "issuer", Refusal::IssuerUnknown, || match auth
            .issuers
            .iter()
            .find(|issuer| issuer.issuer == iss)
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
pub(super) fn select_key<'k>(
    keys: &'k [VerifyKey],
    header: &JoseHeader<'_>,
    trace: &mut dyn Trace,
) -> Result<&'k VerifyKey, Refusal> {
    let candidates = keys.iter().filter(|key| key.algorithm == header.alg);
    let chosen = match &header.kid {
        Some(kid) => candidates
            .clone()
            .find(|key| key.kid.as_deref() == Some(&**kid))
            .or_else(|| only(candidates).filter(|key| key.kid.is_none())),
        None => only(candidates),
    };
    match chosen {
        Some(key) => {
            trace::step(trace, "key", Outcome::Pass, || {
                format!("key {} ({})", key.fingerprint, key.description)
            });
            Ok(key)
        }
        None => Err(deny(trace, "key", Refusal::KeyUnknown, || {
            let known: Vec<String> = keys
                .iter()
                .filter(|key| key.algorithm == header.alg)
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

/// The one item of `items`, when there is exactly one.
fn only<'k>(mut items: impl Iterator<Item = &'k VerifyKey>) -> Option<&'k VerifyKey> {
    let first = items.next()?;
    items.next().is_none().then_some(first)
}
