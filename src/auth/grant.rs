//! What a decision hands out: the [`Grant`]s of callers that need no token (anonymous, the
//! E2E bypass, a client certificate), and the route's claim requirements on a verified
//! token.

use http::HeaderValue;

use super::jwt::{Claims, JsonKind};
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
        let ok = claim.is_some_and(|claim| match claim.kind() {
            JsonKind::String => claim
                .as_str()
                .is_some_and(|s| s == *wanted || s.split(' ').any(|p| p == wanted)),
            JsonKind::Array => claim
                .items()
                .any(|item| item.as_str().is_some_and(|item| item == *wanted)),
            JsonKind::Bool => claim.json() == wanted,
            JsonKind::Number => claim.number_text().is_some_and(|n| n == *wanted),
            JsonKind::Null | JsonKind::Object => false,
        });
        if !ok {
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
