//! The identity wsgate asserts to the upstream. Every spelling of its header names that
//! CGI-style gateways merge ([`crate::http::fold`]) is stripped from the client's request.

use std::borrow::Cow;

use http::{HeaderName, HeaderValue};

use super::jwt::{Claim, Claims, JsonKind};
use crate::config::IdentityConfig;
use crate::domain::refusal::Refusal;

use super::trace::{Outcome, Trace, step};

/// Longest identity value forwarded in a header.
pub const MAX_VALUE_BYTES: usize = 4096;

/// What the verified token says about the caller.
pub struct Identity {
    pub user: Option<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// Builds the user and claim headers from verified claims. A claim value that cannot be a
/// header value (CR/LF, control bytes, non-ASCII, too long) denies rather than being
/// forwarded or mangled.
pub fn from_claims(
    config: &IdentityConfig,
    claims: &Claims,
    trace: &mut dyn Trace,
) -> Result<Identity, Refusal> {
    let mut headers = Vec::with_capacity(2 + config.claim_headers.len());
    let user = match claims.get(&config.user_claim) {
        None => None,
        Some(value) => {
            let text = claim_text(value).ok_or_else(|| {
                step(
                    trace,
                    "identity",
                    Outcome::Fail(Refusal::ClaimInvalid),
                    || format!("claim {} cannot be a header value", config.user_claim),
                );
                Refusal::ClaimInvalid
            })?;
            headers.push((
                config.user_header.clone(),
                header_value(&text, &config.user_claim, trace)?,
            ));
            Some(text.into_owned())
        }
    };
    for (header, claim) in &config.claim_headers {
        let Some(value) = claims.get(claim) else {
            continue;
        };
        let text = claim_text(value).ok_or_else(|| {
            step(
                trace,
                "identity",
                Outcome::Fail(Refusal::ClaimInvalid),
                || format!("claim {claim} (for {header}) is an object or nested array"),
            );
            Refusal::ClaimInvalid
        })?;
        headers.push((header.clone(), header_value(&text, claim, trace)?));
    }
    step(trace, "identity", Outcome::Pass, || {
        let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
        format!(
            "user {}; upstream headers {names:?}",
            user.as_deref().unwrap_or("(none)")
        )
    });
    Ok(Identity { user, headers })
}

/// Strings as they are; numbers and booleans in JSON form; arrays of those joined by `,`.
fn claim_text(claim: Claim<'_>) -> Option<Cow<'_, str>> {
    if claim.kind() != JsonKind::Array {
        return scalar_text(claim);
    }
    let mut joined = String::new();
    for (index, item) in claim.items().enumerate() {
        if index > 0 {
            joined.push(',');
        }
        joined.push_str(&scalar_text(item)?);
    }
    Some(Cow::Owned(joined))
}

/// A string, number or boolean claim (or array item) as text.
fn scalar_text(claim: Claim<'_>) -> Option<Cow<'_, str>> {
    match claim.kind() {
        JsonKind::String => claim.as_str(),
        JsonKind::Number => claim.number_text(),
        JsonKind::Bool => Some(Cow::Borrowed(claim.json())),
        JsonKind::Null | JsonKind::Array | JsonKind::Object => None,
    }
}

fn header_value(text: &str, claim: &str, trace: &mut dyn Trace) -> Result<HeaderValue, Refusal> {
    if is_safe_value(text)
        && let Ok(value) = HeaderValue::from_str(text)
    {
        return Ok(value);
    }
    step(
        trace,
        "identity",
        Outcome::Fail(Refusal::ClaimInvalid),
        || format!("claim {claim} holds bytes that are not allowed in a header value"),
    );
    Err(Refusal::ClaimInvalid)
}

/// Visible ASCII and inner spaces only, non-empty, bounded.
pub fn is_safe_value(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_VALUE_BYTES
        && text.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && !text.starts_with(' ')
        && !text.ends_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::trace::NoTrace;
    use serde_json::{Value, json};

    fn claims(json: Value) -> Claims {
        Claims::parse(json.to_string().as_bytes()).unwrap()
    }

    fn config() -> IdentityConfig {
        IdentityConfig {
            user_header: HeaderName::from_static("x-auth-user"),
            user_claim: "sub".into(),
            method_header: HeaderName::from_static("x-auth-method"),
            claim_headers: vec![(HeaderName::from_static("x-auth-email"), "email".into())],
            user_from: crate::config::UserFrom::Token,
            assertion_header: HeaderName::from_static("x-auth-assertion"),
            assertion: None,
        }
    }

    #[test]
    fn claims_become_headers() {
        let claims = claims(json!({"sub": "alice", "email": "a@example.com"}));
        let id = from_claims(&config(), &claims, &mut NoTrace).unwrap();
        assert_eq!(id.user.as_deref(), Some("alice"));
        assert_eq!(id.headers.len(), 2);
    }

    #[test]
    fn claim_with_crlf_denies_instead_of_splitting_a_header() {
        let claims = claims(json!({"sub": "alice", "email": "a@x\r\nX-Auth-User: admin"}));
        let result = from_claims(&config(), &claims, &mut NoTrace);
        assert!(matches!(result, Err(Refusal::ClaimInvalid)));
    }

    /// `claim_text` as it read a `serde_json::Value` before `Claims`.
    fn text_of_value(value: &Value) -> Option<String> {
        let scalar = |value: &Value| match value {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match value {
            Value::Array(items) => items
                .iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()
                .map(|parts| parts.join(",")),
            other => scalar(other),
        }
    }

    #[test]
    fn claims_render_as_they_did_from_json_values() {
        for value in [
            r#""a@example.com""#,
            r#""""#,
            r#""caf\u00e9""#,
            r#""a\/b""#,
            r#""x\r\ny""#,
            "1",
            "-1",
            "-0",
            "1.0",
            "1.5",
            "1e3",
            "2.5E-3",
            "18446744073709551616",
            "-9223372036854775809",
            "true",
            "false",
            "null",
            "[]",
            r#"["a",1,true,2.50]"#,
            r#"["a",null]"#,
            r#"["a",["b"]]"#,
            r#"[{"a":1}]"#,
            r#"{"a":1}"#,
        ] {
            let claims = Claims::parse(format!(r#"{{"c":{value}}}"#).as_bytes()).unwrap();
            let reference: Value = serde_json::from_str(value).unwrap();
            assert_eq!(
                claim_text(claims.get("c").unwrap()).map(Cow::into_owned),
                text_of_value(&reference),
                "{value}"
            );
        }
    }
}
