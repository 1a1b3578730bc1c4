//! What a decision hands out: the [`Grant`]s of callers that need no token (anonymous, the
//! E2E bypass, a client certificate), and the route's claim requirements on a verified
//! token.

use http::HeaderValue;

use super::trace::{Outcome, Trace, step};
use super::{Gate, Grant, bypass};
use crate::config::RouteConfig;
use crate::domain::auth_method::AuthMethod;
use crate::domain::refusal::Refusal;

impl Gate {
    pub(super) fn anonymous(&self, route: usize) -> Grant {
        Grant {
            route,
            method: AuthMethod::Anonymous,
            user: None,
            headers: vec![(
                self.config.identity.method_header.clone(),
                HeaderValue::from_static(AuthMethod::Anonymous.header_value()),
            )],
            expires_at: None,
            issuer: None,
            bypass_key: None,
            claims: Vec::new(),
            token: None,
        }
    }

    /// `identity.user_from = "client_cert"` on a route that requires a certificate.
    pub(super) fn certificate_grant(&self, route: usize, user: HeaderValue) -> Grant {
        Grant {
            route,
            method: AuthMethod::ClientCert,
            user: user.to_str().ok().map(str::to_owned),
            headers: vec![
                (self.config.identity.user_header.clone(), user),
                (
                    self.config.identity.method_header.clone(),
                    HeaderValue::from_static(AuthMethod::ClientCert.header_value()),
                ),
            ],
            expires_at: None,
            issuer: None,
            bypass_key: None,
            claims: Vec::new(),
            token: None,
        }
    }

    pub(super) fn bypass_grant(
        &self,
        route: usize,
        grant: bypass::BypassGrant,
    ) -> Result<Grant, Refusal> {
        let user = HeaderValue::from_str(&grant.user).map_err(|_| Refusal::ClaimInvalid)?;
        Ok(Grant {
            route,
            method: AuthMethod::E2eBypass,
            user: Some(grant.user),
            headers: vec![
                (self.config.identity.user_header.clone(), user),
                (
                    self.config.identity.method_header.clone(),
                    HeaderValue::from_static(AuthMethod::E2eBypass.header_value()),
                ),
            ],
            expires_at: None,
            issuer: None,
            bypass_key: Some(grant.key),
            claims: Vec::new(),
            token: None,
        })
    }
}

/// A route's claim requirements: each claim equals the value, or is an array or a
/// space-separated list containing it.
pub(super) fn route_claims(
    route: &RouteConfig,
    claims: &serde_json::Map<String, serde_json::Value>,
    trace: &mut dyn Trace,
) -> Result<(), Refusal> {
    for (name, wanted) in &route.claims {
        let ok = match claims.get(name) {
            Some(serde_json::Value::String(s)) => s == wanted || s.split(' ').any(|p| p == wanted),
            Some(serde_json::Value::Array(items)) => {
                items.iter().any(|i| i.as_str() == Some(wanted.as_str()))
            }
            Some(serde_json::Value::Bool(b)) => b.to_string() == *wanted,
            Some(serde_json::Value::Number(n)) => n.to_string() == *wanted,
            _ => false,
        };
        if !ok {
            step(
                trace,
                "route_claims",
                Outcome::Fail(Refusal::ClaimMismatch),
                || match claims.get(name) {
                    Some(v) => format!(
                        "route {:?} requires {name} to contain {wanted:?}; token has {v}",
                        route.path
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
