//! The one decision path: route, origin, token sources, bypass, JWT, route claims.
//!
//! [`Gate::decide`] is the only place a caller is judged. The proxy calls it with
//! [`trace::NoTrace`]; `wsgate explain` calls it with a step recorder. There is no second
//! implementation to drift from the first.

pub mod bypass;
pub mod identity;
pub mod jwt;
pub mod keys;
pub mod token;
pub mod trace;

use std::sync::Arc;

use http::header::ORIGIN;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Config, ConfigError, ConfigErrors, RouteAuth, RouteConfig, TokenSource};
use crate::reason::Reason;
use keys::IssuerKeys;
use trace::{Outcome, Trace, step};

/// How a caller got in; also the `X-Auth-Method` value and the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Jwt,
    E2eBypass,
    Anonymous,
}

impl AuthMethod {
    /// The `X-Auth-Method` header value.
    pub fn header_value(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::E2eBypass => "e2e-bypass",
            AuthMethod::Anonymous => "anonymous",
        }
    }

    /// The `method` metric label.
    pub fn label(self) -> &'static str {
        match self {
            AuthMethod::Jwt => "jwt",
            AuthMethod::E2eBypass => "e2e_bypass",
            AuthMethod::Anonymous => "anonymous",
        }
    }
}

/// The parts of a request the decision looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Path without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// A caller let in, with everything the upstream request needs to say who it is.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Index into `Config::routes`.
    pub route: usize,
    pub method: AuthMethod,
    pub user: Option<String>,
    /// Identity headers to inject upstream (user, method, claim headers), already valid.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The token's `exp` (unix seconds), for JWT grants.
    pub expires_at: Option<u64>,
    /// Index into `AuthConfig::issuers`, for JWT grants.
    pub issuer: Option<usize>,
    /// Index into `BypassConfig::keys`, for bypass grants.
    pub bypass_key: Option<usize>,
}

/// A caller turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    /// Index into `Config::routes`.
    pub route: usize,
    pub reason: Reason,
    /// Index into `AuthConfig::issuers` when the token's issuer was identified.
    pub issuer: Option<usize>,
}

/// A compiled policy: the configuration plus parsed verification keys. Immutable; a
/// reload builds a new one.
pub struct Gate {
    config: Arc<Config>,
    keys: Vec<IssuerKeys>,
}

impl Gate {
    /// Parses every issuer's key material; all problems are reported at once.
    pub fn new(config: Arc<Config>) -> Result<Gate, ConfigErrors> {
        let mut keys = Vec::with_capacity(config.auth.issuers.len());
        let mut errors = Vec::new();
        for (index, issuer) in config.auth.issuers.iter().enumerate() {
            // An issuer scoped to other environments is off here: its material was never
            // read (config validation leaves it empty), so there is nothing to parse.
            if !issuer.enabled {
                keys.push(IssuerKeys::default());
                continue;
            }
            match keys::load(issuer) {
                Ok(loaded) => keys.push(loaded),
                Err(problems) => {
                    for problem in problems {
                        errors.push(ConfigError::new(format!("auth.issuers[{index}]"), problem));
                    }
                    keys.push(IssuerKeys {
                        keys: Vec::new(),
                        warnings: Vec::new(),
                    });
                }
            }
        }
        if !errors.is_empty() {
            return Err(ConfigErrors {
                origin: String::new(),
                errors,
            });
        }
        Ok(Gate { config, keys })
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Keys per issuer, parallel to `AuthConfig::issuers`.
    pub fn keys(&self) -> &[IssuerKeys] {
        &self.keys
    }

    /// The route a path falls under (the config always ends with a catch-all).
    pub fn route_index(&self, path: &str) -> usize {
        self.config
            .routes
            .iter()
            .position(|r| r.matches(path))
            .unwrap_or(self.config.routes.len().saturating_sub(1))
    }

    /// Judges one request at wall-clock time `now` (unix seconds).
    pub fn decide(
        &self,
        request: &RequestView<'_>,
        now: u64,
        trace: &mut dyn Trace,
    ) -> Result<Grant, Denial> {
        let route_index = self.route_index(request.path);
        let deny = |reason: Reason| Denial {
            route: route_index,
            reason,
            issuer: None,
        };
        let Some(route) = self.config.routes.get(route_index) else {
            // Unreachable with a validated config (the catch-all route always exists);
            // refuse rather than let an unrouted request through.
            return Err(deny(Reason::TokenMissing));
        };
        step(trace, "route", Outcome::Info, || {
            format!(
                "{} matched route {:?} (auth = {:?})",
                request.path, route.path, route.auth
            )
        });

        self.check_origin(request.headers, trace).map_err(deny)?;

        if route.auth == RouteAuth::None {
            step(trace, "auth", Outcome::Pass, || {
                "route needs no authentication; credentials are not consulted".into()
            });
            return Ok(self.anonymous(route_index));
        }

        // The bypass header, when present, decides alone (PRODUCT.md).
        match bypass::check(&self.config.e2e_bypass, request.headers) {
            Ok(None) => step(trace, "bypass", Outcome::Info, || {
                format!("no {} header", self.config.e2e_bypass.header)
            }),
            Ok(Some(grant)) => {
                step(trace, "bypass", Outcome::Pass, || {
                    format!(
                        "bypass key {:?} matched; test identity {:?}",
                        self.config.e2e_bypass.keys[grant.key].name, grant.user
                    )
                });
                return self.bypass_grant(route_index, grant).map_err(deny);
            }
            Err(reason) => {
                step(trace, "bypass", Outcome::Fail(reason), || {
                    let bypass = &self.config.e2e_bypass;
                    if reason == Reason::E2eBypassDisabled {
                        format!(
                            "{} header present but the bypass is not active in environment {:?} \
                             (enabled = {}, allowed_environments = {:?})",
                            bypass.header,
                            self.config.environment,
                            bypass.enabled,
                            bypass.allowed_environments
                        )
                    } else if reason == Reason::E2eKeyInvalid {
                        format!(
                            "{} header present but matches none of the configured keys {:?}",
                            bypass.header,
                            bypass.keys.iter().map(|k| &k.name).collect::<Vec<_>>()
                        )
                    } else {
                        format!(
                            "bypass key accepted, but the {} value is not a valid test identity \
                             (1-{} visible ASCII characters, no spaces)",
                            bypass.user_header,
                            bypass::MAX_USER_BYTES
                        )
                    }
                });
                return Err(deny(reason));
            }
        }

        let found = match token::extract(
            &self.config.auth.token_sources,
            request.headers,
            request.query,
        ) {
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
                return Ok(self.anonymous(route_index));
            }
            step(trace, "token", Outcome::Fail(Reason::TokenMissing), || {
                format!(
                    "no token in any configured source: {}",
                    describe_sources(&self.config.auth.token_sources)
                )
            });
            return Err(deny(Reason::TokenMissing));
        };
        step(trace, "token", Outcome::Info, || {
            format!(
                "token found in {} ({} bytes)",
                describe_source(&self.config.auth.token_sources[found.source]),
                found.token.len()
            )
        });

        let verified =
            jwt::verify(&found.token, &self.config.auth, &self.keys, now, trace).map_err(deny)?;
        let with_issuer = |reason: Reason| Denial {
            route: route_index,
            reason,
            issuer: Some(verified.issuer),
        };

        route_claims(route, &verified.claims, trace).map_err(with_issuer)?;

        let identity = identity::from_claims(&self.config.identity, &verified.claims, trace)
            .map_err(with_issuer)?;
        let mut headers = identity.headers;
        headers.push((
            self.config.identity.method_header.clone(),
            HeaderValue::from_static(AuthMethod::Jwt.header_value()),
        ));
        Ok(Grant {
            route: route_index,
            method: AuthMethod::Jwt,
            user: identity.user,
            headers,
            expires_at: Some(verified.expires_at),
            issuer: Some(verified.issuer),
            bypass_key: None,
        })
    }

    fn check_origin(&self, headers: &HeaderMap, trace: &mut dyn Trace) -> Result<(), Reason> {
        let allowed = &self.config.auth.allowed_origins;
        if allowed.is_empty() {
            step(trace, "origin", Outcome::Info, || {
                "auth.allowed_origins is empty: Origin is not checked".into()
            });
            return Ok(());
        }
        let mut values = headers.get_all(ORIGIN).iter();
        let Some(origin) = values.next() else {
            step(trace, "origin", Outcome::Info, || {
                "no Origin header (not a browser): allowed".into()
            });
            return Ok(());
        };
        let normalized = values
            .next()
            .is_none()
            .then(|| origin.to_str().ok().and_then(identity::normalize_origin))
            .flatten();
        match normalized {
            Some(o) if allowed.contains(&o) => {
                step(trace, "origin", Outcome::Pass, || {
                    format!("Origin {o} is allowed")
                });
                Ok(())
            }
            _ => {
                step(
                    trace,
                    "origin",
                    Outcome::Fail(Reason::OriginNotAllowed),
                    || format!("Origin is not one of {allowed:?}"),
                );
                Err(Reason::OriginNotAllowed)
            }
        }
    }

    fn anonymous(&self, route: usize) -> Grant {
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
        }
    }

    fn bypass_grant(&self, route: usize, grant: bypass::BypassGrant) -> Result<Grant, Reason> {
        let user = HeaderValue::from_str(&grant.user).map_err(|_| Reason::ClaimInvalid)?;
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
        })
    }
}

/// A route's claim requirements: each claim equals the value, or is an array or a
/// space-separated list containing it.
fn route_claims(
    route: &RouteConfig,
    claims: &serde_json::Map<String, serde_json::Value>,
    trace: &mut dyn Trace,
) -> Result<(), Reason> {
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
                Outcome::Fail(Reason::ClaimMismatch),
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
            return Err(Reason::ClaimMismatch);
        }
        step(trace, "route_claims", Outcome::Pass, || {
            format!("{name} contains {wanted:?}")
        });
    }
    Ok(())
}

/// `header:authorization, query:access_token, ...` for explain and logs.
pub fn describe_sources(sources: &[TokenSource]) -> String {
    sources
        .iter()
        .map(describe_source)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn describe_source(source: &TokenSource) -> String {
    match source {
        TokenSource::Header(name) => format!("header:{name}"),
        TokenSource::Protocol(marker) => format!("protocol:{marker}"),
        TokenSource::Query(name) => format!("query:{name}"),
        TokenSource::Cookie(name) => format!("cookie:{name}"),
    }
}
