//! What a refresh demands of its new token beyond the handshake's decision: it must be a
//! token (not an anonymous or bypass grant), from the same configured issuer and for the
//! same subject as the session's. Shared by the refresh endpoint (`proxy/refresh.rs`) and
//! `wsgate explain --refresh`.

use crate::auth::Grant;
use crate::config::Config;
use crate::domain::refusal::Refusal;

/// The new token's `exp` when `grant` may replace the token of a session held by
/// `issuer` (configured name) and `subject`; else the refusal's reason and a sentence
/// for `explain`.
pub fn same_holder(
    config: &Config,
    grant: &Grant,
    issuer: Option<&str>,
    subject: Option<&str>,
) -> Result<u64, (Refusal, String)> {
    let (Some(token), Some(expires_at)) = (&grant.token, grant.expires_at) else {
        return Err((
            Refusal::TokenMissing,
            "a refresh needs a token; this request was admitted without one".to_owned(),
        ));
    };
    let new_issuer = grant.issuer.map(|i| config.auth.issuer(i).name.as_str());
    if new_issuer != issuer {
        return Err((
            Refusal::ClaimMismatch,
            format!(
                "the new token is from issuer {:?}, the session's from {:?}",
                new_issuer.unwrap_or("-"),
                issuer.unwrap_or("-")
            ),
        ));
    }
    if Some(token.subject.as_str()) != subject {
        return Err((
            Refusal::ClaimMismatch,
            format!(
                "the new token's sub {:?} is not the session's {:?}",
                token.subject,
                subject.unwrap_or("-")
            ),
        ));
    }
    Ok(expires_at)
}
