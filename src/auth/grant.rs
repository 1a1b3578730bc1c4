//! What a decision hands out: the [`Grant`]s of callers that need no token (anonymous, the
//! E2E bypass, a client certificate), and the route's claim requirements on a verified
//! token.

use http::HeaderValue;

use super::jwt::{Claim, Claims, JsonKind};
use super::trace::{Outcome, Trace, step};
use super::{Gate, Grant, bypass};
use crate::config::{BypassKeyId, RouteConfig, RouteId};
use crate::domain::auth_method::AuthMethod;
use crate::domain::refusal::Refusal;

impl Gate {
    pub(super) fn anonymous(&self, route: RouteId) -> Grant {
        self.tokenless(route, AuthMethod::Anonymous, None, None)
    }

    /// `identity.user_from = "client_cert"` on a route that requires a certificate.
    pub(super) fn certificate_grant(&self, route: RouteId, user: HeaderValue) -> Grant {
        let name = user.to_str().ok().map(str::to_owned);
        self.tokenless(route, AuthMethod::ClientCert, Some((name, user)), None)
    }

    pub(super) fn bypass_grant(
        &self,
        route: RouteId,
        grant: bypass::BypassGrant,
    ) -> Result<Grant, Refusal> {
        let user = HeaderValue::from_str(&grant.user).map_err(|_| Refusal::ClaimInvalid)?;
        Ok(self.tokenless(
            route,
            AuthMethod::E2eBypass,
            Some((Some(grant.user), user)),
            Some(grant.key),
        ))
    }

    /// A grant without a token: the user header (when there is a user: its name, and the
    /// header value), then the method header.
    fn tokenless(
        &self,
        route: RouteId,
        method: AuthMethod,
        user: Option<(Option<String>, HeaderValue)>,
        bypass_key: Option<BypassKeyId>,
    ) -> Grant {
        let identity = &self.config.identity;
        let method_header = (
            identity.method_header.clone(),
            HeaderValue::from_static(method.header_value()),
        );
        let (user, headers) = match user {
            Some((name, value)) => (
                name,
                vec![(identity.user_header.clone(), value), method_header],
            ),
            None => (None, vec![method_header]),
        };
        Grant {
            route,
            method,
            user,
            headers,
            expires_at: None,
            issuer: None,
            bypass_key,
            claims: Vec::new(),
            token: None,
        }
    }
}

/// A route's claim requirements: each claim equals the value, or is an array or a
/// space-separated list containing it.
pub(super) fn route_claims(
    route: &RouteConfig,
    claims: &Claims,
    trace: &mut dyn Trace,
) -> Result<(), Refusal> {
    for (name, wanted) in &route.claims {
        let claim = claims.get(name);
        if !claim.is_some_and(|claim| contains(claim, wanted)) {
            step(
                trace,
                "route_claims",
                Outcome::Fail(Refusal::ClaimMismatch),
                || match claim {
                    Some(v) => format!(
                        "route {:?} requires {name} to contain {wanted:?}; token has {}",
                        route.path,
                        v.to_value()
                    ),
                    None => format!(
                        "route {:?} requires claim {name} = {wanted:?}; the token has no {name}",
                        route.path
                    ),
                },
            );
            return Err(Refusal::ClaimMismatch);
        }
        step(trace, "route_claims", Outcome::Pass, || {
            format!("{name} contains {wanted:?}")
        });
    }
    Ok(())
}

/// A string equal to `wanted` or listing it among spaces, an array with it as an item, or
/// a number or boolean written as `wanted` (JSON form).
fn contains(claim: Claim<'_>, wanted: &str) -> bool {
    match claim.kind() {
        JsonKind::String => claim
            .as_str()
            .is_some_and(|s| s == wanted || s.split(' ').any(|p| p == wanted)),
        JsonKind::Array => claim
            .items()
            .any(|item| item.as_str().is_some_and(|item| item == wanted)),
        JsonKind::Bool => claim.json() == wanted,
        JsonKind::Number => claim.number_text().is_some_and(|n| n == wanted),
        JsonKind::Null | JsonKind::Object => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The rule as it read a `serde_json::Value` before `Claims`.
    fn contained_in_value(value: &Value, wanted: &str) -> bool {
        match value {
            Value::String(s) => s == wanted || s.split(' ').any(|p| p == wanted),
            Value::Array(items) => items.iter().any(|i| i.as_str() == Some(wanted)),
            Value::Bool(b) => b.to_string() == *wanted,
            Value::Number(n) => n.to_string() == *wanted,
            _ => false,
        }
    }

    #[test]
    fn route_claims_match_as_they_did_on_json_values() {
        let values = [
            r#""chat""#,
            r#""chat admin""#,
            r#""admin chat""#,
            r#""chat  admin""#,
            r#""""#,
            r#"" ""#,
            r#""ch\u0061t""#,
            r#""a\/b""#,
            "1",
            "-1",
            "0",
            "-0",
            "1.0",
            "1.5",
            "1e3",
            "1E+3",
            "18446744073709551616",
            "true",
            "false",
            "null",
            "[]",
            r#"["chat",1,true]"#,
            r#"["admin",["chat"]]"#,
            r#"[1,"1"]"#,
            r#"{"chat":true}"#,
        ];
        let wanted = [
            "chat",
            "admin",
            "chat admin",
            "",
            " ",
            "a/b",
            "1",
            "-1",
            "0",
            "-0",
            "-0.0",
            "1.0",
            "1.5",
            "1000.0",
            "1e3",
            "18446744073709551616",
            "1.8446744073709552e19",
            "true",
            "false",
            "null",
        ];
        for value in values {
            let payload = format!(r#"{{"c":{value}}}"#);
            let claims = Claims::parse(payload.as_bytes()).unwrap();
            let claim = claims.get("c").unwrap();
            let reference: Value = serde_json::from_str(value).unwrap();
            for wanted in wanted {
                assert_eq!(
                    contains(claim, wanted),
                    contained_in_value(&reference, wanted),
                    "{value} contains {wanted:?}"
                );
            }
        }
    }
}
