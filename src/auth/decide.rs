//! [`Gate::decide`]: the checks in their fixed order, each recorded as a trace step:
//! route, client certificate, origin, route auth, bypass, token sources, JWT, route
//! claims, identity.

use std::sync::Arc;

use http::HeaderValue;

use super::trace::{Outcome, Trace, step};
use super::verify::Verified;
use super::{
    Denial, Gate, Grant, RequestView, TokenIds, bypass, client_cert, grant, identity, token,
};
use crate::config::{Config, RouteAuth};
use crate::domain::auth_method::AuthMethod;
use crate::domain::refusal::Refusal;

impl Gate {
    /// Judges one request at wall-clock time `now` (unix seconds). Async because a token
    /// for a remote issuer whose `kid` is not cached may wait for one JWKS fetch.
    pub async fn decide(
        &self,
        request: &RequestView<'_>,
        now: u64,
        trace: &mut (dyn Trace + Send),
    ) -> Result<Grant, Denial> {
        let route_id = self.route_id(request.path);
        let deny = |reason: Refusal| Denial {
            route: route_id,
            reason,
            issuer: None,
        };
        let route = self.config.route(route_id);
        step(trace, "route", Outcome::Info, || {
            format!(
                "{} matched route {:?} (auth = {:?})",
                request.path, route.path, route.auth
            )
        });

        let by_certificate =
            client_cert::check(&self.config, route, request.client_cert, trace).map_err(deny)?;

        self.check_origin(request.headers, trace).map_err(deny)?;

        if let Some(user) = by_certificate {
            return Ok(self.certificate_grant(route_id, user));
        }

        if route.auth == RouteAuth::None {
            step(trace, "auth", Outcome::Pass, || {
                "route needs no authentication; credentials are not consulted".into()
            });
            return Ok(self.anonymous(route_id));
        }

        // The bypass header, when present, decides alone (PRODUCT.md).
        let e2e = &self.config.e2e_bypass;
        match bypass::check(e2e, request.headers) {
            Ok(None) => step(trace, "bypass", Outcome::Info, || {
                format!("no {} header", e2e.header)
            }),
            Ok(Some(grant)) => {
                step(trace, "bypass", Outcome::Pass, || {
                    format!(
                        "bypass key {:?} matched; test identity {:?}",
                        e2e.key(grant.key).name,
                        grant.user
                    )
                });
                return self.bypass_grant(route_id, grant).map_err(deny);
            }
            Err(reason) => {
                step(trace, "bypass", Outcome::Fail(reason), || {
                    bypass_refusal(&self.config, reason)
                });
                return Err(deny(reason));
            }
        }

        let sources = &self.config.auth.token_sources;
        let found = match token::extract(sources, request.headers, request.query) {
            Ok(found) => found,
            Err(reason) => {
                step(trace, "token", Outcome::Fail(reason), || {
                    "credentials found in more than one place, or more than once".into()
                });
                return Err(deny(reason));
            }
        };
        let Some(found) = found else {
            if route.auth == RouteAuth::Optional {
                step(trace, "token", Outcome::Pass, || {
                    "no token; route auth is optional, so the caller is anonymous".into()
                });
                return Ok(self.anonymous(route_id));
            }
            step(trace, "token", Outcome::Fail(Refusal::TokenMissing), || {
                format!(
                    "no token in any configured source: {}",
                    token::describe_sources(sources)
                )
            });
            return Err(deny(Refusal::TokenMissing));
        };
        step(trace, "token", Outcome::Info, || {
            format!(
                "token found in {} ({} bytes)",
                token::describe_source(found.source),
                found.token.len()
            )
        });

        let verified = self
            .verify_token(&found.token, now, trace)
            .await
            .map_err(|failure| Denial {
                route: route_id,
                reason: failure.reason,
                issuer: failure.issuer,
            })?;
        let with_issuer = |reason: Refusal| Denial {
            route: route_id,
            reason,
            issuer: Some(verified.issuer),
        };

        grant::route_claims(route, &verified.claims, trace).map_err(with_issuer)?;

        let identity = identity::from_claims(&self.config.identity, &verified.claims, trace)
            .map_err(with_issuer)?;
        let mut headers = identity.headers;
        headers.push((
            self.config.identity.method_header.clone(),
            HeaderValue::from_static(AuthMethod::Jwt.header_value()),
        ));
        let claims = match &self.config.identity.assertion {
            Some(assertion) => assertion
                .claims
                .iter()
                .filter_map(|name| Some((name.clone(), verified.claims.get(name)?.to_value())))
                .collect(),
            None => Vec::new(),
        };
        let (expires_at, issuer) = (verified.expires_at, verified.issuer);
        // A token of this decision's own, or one the cache did not keep, moves its ids
        // out; one the cache holds lends them.
        let token = match verified {
            Verified::Own(owned) => TokenIds {
                subject: owned.subject,
                jti: owned.jti,
                kid: owned.kid,
            },
            Verified::Shared(shared) => match Arc::try_unwrap(shared) {
                Ok(owned) => TokenIds {
                    subject: owned.subject,
                    jti: owned.jti,
                    kid: owned.kid,
                },
                Err(shared) => TokenIds {
                    subject: shared.subject.clone(),
                    jti: shared.jti.clone(),
                    kid: shared.kid.clone(),
                },
            },
        };
        Ok(Grant {
            route: route_id,
            method: AuthMethod::Jwt,
            user: identity.user,
            headers,
            expires_at: Some(expires_at),
            issuer: Some(issuer),
            bypass_key: None,
            claims,
            token: Some(token),
        })
    }
}

/// Why the bypass refused, for `explain`.
fn bypass_refusal(config: &Config, reason: Refusal) -> String {
    let e2e = &config.e2e_bypass;
    if reason == Refusal::E2eBypassDisabled {
        format!(
            "{} header present but the bypass is not active in environment {:?} \
             (enabled = {}, allowed_environments = {:?})",
            e2e.header, config.environment, e2e.enabled, e2e.allowed_environments
        )
    } else if reason == Refusal::E2eKeyInvalid {
        format!(
            "{} header present but matches none of the configured keys {:?}",
            e2e.header,
            e2e.keys.iter().map(|k| &k.name).collect::<Vec<_>>()
        )
    } else {
        format!(
            "bypass key accepted, but the {} value is not a valid test identity \
             (1-{} visible ASCII characters, no spaces)",
            e2e.user_header,
            bypass::MAX_USER_BYTES
        )
    }
}
