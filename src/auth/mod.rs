//! The one decision path: route, origin, token sources, bypass, JWT, route claims.
//!
//! [`Gate::decide`] is the only place a caller is judged. The proxy calls it with
//! [`trace::NoTrace`]; `wsgate explain` calls it with a step recorder. There is no second
//! implementation to drift from the first. This file holds what a decision hands out
//! ([`Grant`], [`Denial`]); `gate.rs` the compiled policy, `decide.rs` the steps in order.

pub mod bypass;
pub mod cache;
pub mod client_cert;
mod decide;
mod gate;
mod grant;
pub mod identity;
pub mod jwt;
pub mod keys;
mod origin;
pub mod remote;
pub mod token;
pub mod trace;
mod verify;

use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{BypassKeyId, Config, IssuerId, RouteId};
use crate::domain::auth_method::AuthMethod;
use crate::domain::refusal::Refusal;
use crate::net::tls::ClientCertificate;
use cache::TokenCache;
use keys::IssuerKeys;
use remote::sets::RemoteSets;

/// A compiled policy: the configuration plus verification keys. The configuration and
/// static keys are immutable (a reload builds a new gate); remote key sets (`jwks_url`,
/// `discovery_url`) are refreshed in place, see [`remote`]. Built and run in `gate.rs`.
pub struct Gate {
    config: Arc<Config>,
    /// Static keys per issuer (parallel to `AuthConfig::issuers`); empty for remote issuers.
    keys: Vec<Arc<IssuerKeys>>,
    remote: RemoteSets,
    /// Verified tokens (`auth.token_cache_size`; off at 0), see [`cache`].
    token_cache: TokenCache,
}

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
    /// The route judged under (`Config::route`).
    pub route: RouteId,
    pub method: AuthMethod,
    pub user: Option<String>,
    /// Identity headers to inject upstream (user, method, claim headers), already valid.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The token's `exp` (unix seconds), for JWT grants.
    pub expires_at: Option<u64>,
    /// The token's issuer (`AuthConfig::issuer`), for JWT grants.
    pub issuer: Option<IssuerId>,
    /// The key that matched (`BypassConfig::key`), for bypass grants.
    pub bypass_key: Option<BypassKeyId>,
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

/// A test request's headers: each pair appended in order.
#[cfg(test)]
fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

/// A caller turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    /// The route judged under (`Config::route`).
    pub route: RouteId,
    pub reason: Refusal,
    /// The token's issuer (`AuthConfig::issuer`), when it was identified.
    pub issuer: Option<IssuerId>,
}
