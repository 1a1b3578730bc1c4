//! The one decision path: route, origin, token sources, bypass, JWT, route claims.
//!
//! [`Gate::decide`] is the only place a caller is judged. The proxy calls it with
//! [`trace::NoTrace`]; `wsgate explain` calls it with a step recorder. There is no second
//! implementation to drift from the first.

pub mod bypass;
pub mod cache;
pub mod client_cert;
mod grant;
pub mod identity;
pub mod jwt;
pub mod keys;
pub mod remote;
pub mod token;
pub mod trace;

use std::sync::Arc;

use http::header::ORIGIN;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Config, ConfigError, ConfigErrors, RouteAuth, TokenSource};
use crate::domain::auth_method::AuthMethod;
use crate::domain::refusal::Refusal;
use crate::net::tls::ClientCertificate;
use crate::telemetry::metrics::Metrics;
use cache::TokenCache;
use keys::IssuerKeys;
use remote::{Refetch, RemoteSets};
use trace::{NoTrace, Outcome, Step, Trace, step};

/// The parts of a request the decision looks at.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Path without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// What the client presented on its TLS connection.
    pub client_cert: &'a ClientCertificate,
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
    /// Verified token claims the signed assertion copies (`identity.assertion.claims`).
    pub claims: Vec<(String, serde_json::Value)>,
    /// What names the token, for JWT grants: what revocations and refreshes match on.
    pub token: Option<TokenIds>,
}

/// The parts of a verified token that session control matches on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIds {
    /// `sub`.
    pub subject: String,
    /// `jti`, when the token has a string one.
    pub jti: Option<String>,
    /// The `kid` of the key that verified the token (the token's header `kid`, else the
    /// configured key's).
    pub kid: Option<String>,
}

/// A caller turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    /// Index into `Config::routes`.
    pub route: usize,
    pub reason: Refusal,
    /// Index into `AuthConfig::issuers` when the token's issuer was identified.
    pub issuer: Option<usize>,
}

/// A compiled policy: the configuration plus verification keys. The configuration and
/// static keys are immutable (a reload builds a new gate); remote key sets (`jwks_url`,
/// `discovery_url`) are refreshed in place, see [`remote`].
pub struct Gate {
    config: Arc<Config>,
    /// Static keys per issuer; empty for remote issuers.
    keys: Vec<Arc<IssuerKeys>>,
    remote: RemoteSets,
    /// Verified tokens (`auth.token_cache_size`; off at 0), see [`cache`].
    token_cache: TokenCache,
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
                keys.push(Arc::new(IssuerKeys::default()));
                continue;
            }
            match keys::load(issuer) {
                Ok(loaded) => keys.push(Arc::new(loaded)),
                Err(problems) => {
                    for problem in problems {
                        errors.push(ConfigError::new(format!("auth.issuers[{index}]"), problem));
                    }
                }
            }
        }
        let remote = RemoteSets::new(&config).map_err(|error| {
            ConfigError::new(
                "auth.issuers",
                format!("cannot set up TLS for remote key sets: {error}"),
            )
        });
        let remote = match remote {
            Ok(remote) if errors.is_empty() => remote,
            Ok(_) => {
                return Err(ConfigErrors {
                    origin: String::new(),
                    errors,
                });
            }
            Err(error) => {
                errors.push(error);
                return Err(ConfigErrors {
                    origin: String::new(),
                    errors,
                });
            }
        };
        Ok(Gate {
            token_cache: TokenCache::new(config.auth.token_cache_size),
            config,
            keys,
            remote,
        })
    }

    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The keys each issuer verifies with now, parallel to `AuthConfig::issuers`: static
    /// keys, or the current remote set (empty before the first fetch and once stale).
    pub fn keys(&self) -> Vec<Arc<IssuerKeys>> {
        self.keys
            .iter()
            .enumerate()
            .map(|(index, keys)| match self.remote.get(index) {
                Some(remote) => remote.current(),
                None => keys.clone(),
            })
            .collect()
    }

    /// Starts refreshing remote key sets in the background, counting fetches on
    /// `metrics`. Needs a tokio runtime; later calls do nothing.
    pub fn start_key_refresh(&self, metrics: Arc<Metrics>) {
        self.remote.start(metrics);
    }

    /// Counts verified-token cache lookups on `metrics` (hits and misses); later calls
    /// do nothing.
    pub fn attach_metrics(&self, metrics: &Metrics) {
        if self.token_cache.enabled() {
            let (hit, miss) = metrics.token_cache_counters();
            self.token_cache.attach_counters(hit, miss);
        }
    }

    /// The revocation hook: drops every cached verified token that `revoked` matches, so
    /// its next handshake is verified (and judged) afresh. Returns how many were dropped.
    /// A no-op while `auth.token_cache_size` is 0.
    pub fn invalidate_cached_tokens(&self, revoked: impl Fn(&jwt::VerifiedToken) -> bool) -> usize {
        self.token_cache.invalidate(revoked)
    }

    /// Stops the background refresh (a reload replaced this gate); also happens on drop.
    pub fn stop_key_refresh(&self) {
        self.remote.stop();
    }

    /// Takes over `previous`'s fetched keys for unchanged remote issuers (on reload).
    pub fn adopt_keys(&self, previous: &Gate) {
        self.remote.adopt(&previous.remote);
    }

    /// Every issuer enabled here has keys (readiness).
    pub fn keys_ready(&self) -> bool {
        self.remote.ready()
    }

    /// Marked changed whenever [`Gate::keys_ready`] may have changed, and when the
    /// refresh stops.
    pub fn watch_keys(&self) -> tokio::sync::watch::Receiver<()> {
        self.remote.subscribe()
    }

    /// The route a path falls under (the config always ends with a catch-all): the stricter
    /// of its exact-case and case-insensitive matches (`Config::route_index`).
    pub fn route_index(&self, path: &str) -> usize {
        self.config.route_index(path)
    }

    /// Judges one request at wall-clock time `now` (unix seconds). Async because a token
    /// for a remote issuer whose `kid` is not cached may wait for one JWKS fetch.
    pub async fn decide(
        &self,
        request: &RequestView<'_>,
        now: u64,
        trace: &mut (dyn Trace + Send),
    ) -> Result<Grant, Denial> {
        let route_index = self.route_index(request.path);
        let deny = |reason: Refusal| Denial {
            route: route_index,
            reason,
            issuer: None,
        };
        let Some(route) = self.config.routes.get(route_index) else {
            // Unreachable with a validated config (the catch-all route always exists);
            // refuse rather than let an unrouted request through.
            return Err(deny(Refusal::TokenMissing));
        };
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
            return Ok(self.certificate_grant(route_index, user));
        }

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
                    if reason == Refusal::E2eBypassDisabled {
                        format!(
                            "{} header present but the bypass is not active in environment {:?} \
                             (enabled = {}, allowed_environments = {:?})",
                            bypass.header,
                            self.config.environment,
                            bypass.enabled,
                            bypass.allowed_environments
                        )
                    } else if reason == Refusal::E2eKeyInvalid {
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
            step(trace, "token", Outcome::Fail(Refusal::TokenMissing), || {
                format!(
                    "no token in any configured source: {}",
                    describe_sources(&self.config.auth.token_sources)
                )
            });
            return Err(deny(Refusal::TokenMissing));
        };
        step(trace, "token", Outcome::Info, || {
            format!(
                "token found in {} ({} bytes)",
                describe_source(&self.config.auth.token_sources[found.source]),
                found.token.len()
            )
        });

        let verified = self
            .verify_token(&found.token, now, trace)
            .await
            .map_err(deny)?;
        let with_issuer = |reason: Refusal| Denial {
            route: route_index,
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
                .filter_map(|name| Some((name.clone(), verified.claims.get(name)?.clone())))
                .collect(),
            None => Vec::new(),
        };
        let (expires_at, issuer) = (verified.expires_at, verified.issuer);
        // Uncached (the cache off, or this token not kept), the ids move out; a cached
        // token lends them.
        let token = match Arc::try_unwrap(verified) {
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
        };
        Ok(Grant {
            route: route_index,
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

    /// [`jwt::verify`] against the current keys. When a remote issuer has no key for the
    /// token (`key_unknown`) or no keys at all (`keys_unavailable`), one refetch
    /// (single-flight, within the cooldown) and one more verification. For `explain`, the
    /// first attempt's steps are replaced by one `jwks` step when a refetch happened.
    /// With the token cache on (and no trace: `explain` always verifies afresh), a token
    /// verified before is taken from the cache, see [`cache`].
    async fn verify_token(
        &self,
        token: &str,
        now: u64,
        trace: &mut (dyn Trace + Send),
    ) -> Result<Arc<jwt::VerifiedToken>, Refusal> {
        let keys = self.keys();
        if !self.token_cache.enabled() || trace.enabled() {
            let (verified, _) = self.verify_uncached(token, keys, now, trace).await?;
            return Ok(Arc::new(verified));
        }
        let digest = TokenCache::digest(token);
        if let Some(verified) = self.token_cache.get(&digest, &keys, now) {
            return Ok(verified);
        }
        let (verified, verified_with) = self.verify_uncached(token, keys, now, trace).await?;
        let verified = Arc::new(verified);
        self.token_cache
            .insert(digest, verified.clone(), &verified_with, now);
        Ok(verified)
    }

    async fn verify_uncached(
        &self,
        token: &str,
        keys: Vec<Arc<IssuerKeys>>,
        now: u64,
        trace: &mut (dyn Trace + Send),
    ) -> Result<(jwt::VerifiedToken, Arc<IssuerKeys>), Refusal> {
        let auth = &self.config.auth;
        let mut first_steps: Vec<Step> = Vec::new();
        let first = if trace.enabled() {
            jwt::verify(token, auth, &keys, now, &mut first_steps)
        } else {
            jwt::verify(token, auth, &keys, now, &mut NoTrace)
        };
        let retry = match first {
            Err(reason @ (Refusal::KeyUnknown | Refusal::KeysUnavailable)) => {
                jwt::issuer_of(token, auth).and_then(|index| {
                    let remote = self.remote.get(index)?;
                    Some((reason, remote, keys.get(index)?.clone()))
                })
            }
            _ => None,
        };
        // With the key set each verification used, which a cache entry is tied to.
        let with_set = |verified: jwt::VerifiedToken, keys: &[Arc<IssuerKeys>]| {
            let set = keys.get(verified.issuer).cloned().unwrap_or_default();
            (verified, set)
        };
        let Some((reason, remote, seen)) = retry else {
            replay(trace, first_steps);
            return first.map(|verified| with_set(verified, &keys));
        };
        match remote.refetch(&seen).await {
            Refetch::CoolingDown(detail) => {
                replay(trace, first_steps);
                step(trace, "jwks", Outcome::Info, || detail);
                first.map(|verified| with_set(verified, &keys))
            }
            Refetch::Done(detail) => {
                step(trace, "jwks", Outcome::Info, || {
                    format!("{}: {detail}", reason.as_str())
                });
                let fresh = self.keys();
                jwt::verify(token, auth, &fresh, now, trace)
                    .map(|verified| with_set(verified, &fresh))
            }
        }
    }

    fn check_origin(&self, headers: &HeaderMap, trace: &mut dyn Trace) -> Result<(), Refusal> {
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
        // Browsers send the RFC 6454 serialization, the allow-list's form: byte for byte.
        let exact = values
            .next()
            .is_none()
            .then(|| origin.to_str().ok())
            .flatten();
        match exact {
            Some(o) if allowed.iter().any(|a| a == o) => {
                step(trace, "origin", Outcome::Pass, || {
                    format!("Origin {o} is allowed")
                });
                Ok(())
            }
            _ => {
                step(
                    trace,
                    "origin",
                    Outcome::Fail(Refusal::OriginNotAllowed),
                    || format!("Origin is not one of {allowed:?}"),
                );
                Err(Refusal::OriginNotAllowed)
            }
        }
    }
}

fn replay(trace: &mut dyn Trace, steps: Vec<Step>) {
    for recorded in steps {
        trace.record(recorded);
    }
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
