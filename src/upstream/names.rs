//! Which client header names never travel upstream, whatever their value: hop-by-hop
//! names (`http::hop_by_hop`: listed, or named in `Connection`), names that are not plain tokens (how
//! aliases are smuggled), names that fold to an identity header or to a route, method
//! or client-address override, and the names wsgate sets itself.

use std::collections::HashSet;

use http::header::{self, HeaderName};

use crate::config::Config;
use crate::http::fold::folds_to;
use crate::http::hop_by_hop::is_hop_by_hop;

/// Whether the client header `name` is dropped from the upstream request; `hop` is what
/// the client's `Connection` names (`http::hop_by_hop::connection_named`).
pub(super) fn is_withheld(config: &Config, name: &HeaderName, hop: &HashSet<String>) -> bool {
    let lower = name.as_str();
    // One verdict whatever the order; the cheapest tests, which decide the names every
    // handshake carries, come first, the scan of protected names last.
    name == header::HOST
        || name == header::CONTENT_LENGTH
        || name == header::SEC_WEBSOCKET_PROTOCOL
        || is_websocket_internal(lower)
        || is_hop_by_hop(lower)
        || !is_plain_token(lower)
        || is_forwarding(lower)
        || hop.contains(lower)
        // A plain-token name (checked above) is its own fold.
        || is_protected(config, lower)
}

/// Headers some frameworks and proxies obey as a statement of what was requested or who
/// asked, which would let a client override what wsgate judged: the route or method
/// (`GET /public` with `X-Original-URL: /admin` judged as `/public`, served as `/admin`)
/// or the client address (only wsgate's `X-Forwarded-For` says who connected). Stripped
/// like identity headers, aliases included.
const OVERRIDE_HEADERS: [&str; 14] = [
    // The route or the method.
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    // The host.
    "x-original-host",
    "x-host",
    // The client address.
    "true-client-ip",
    "x-client-ip",
    "x-real-ip",
    "x-cluster-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
];

/// Whether `name` (a plain-token name, so its own fold) folds to a header a client may never
/// send upstream: the identity, method, assertion and claim headers, the bypass header and
/// the bypass user header, and the route, method and client-address overrides
/// ([`OVERRIDE_HEADERS`]). Compared byte by byte: no allocation per request header.
fn is_protected(config: &Config, name: &str) -> bool {
    let identity = &config.identity;
    [
        identity.user_header.as_str(),
        identity.method_header.as_str(),
        identity.assertion_header.as_str(),
        config.e2e_bypass.header.as_str(),
        config.e2e_bypass.user_header.as_str(),
    ]
    .into_iter()
    .chain(identity.claim_headers.iter().map(|(h, _)| h.as_str()))
    .chain(OVERRIDE_HEADERS)
    .any(|protected| folds_to(protected, name))
}

fn is_forwarding(name: &str) -> bool {
    name == "forwarded" || name.starts_with("x-forwarded-")
}

fn is_websocket_internal(name: &str) -> bool {
    matches!(
        name,
        "sec-websocket-key" | "sec-websocket-version" | "sec-websocket-accept"
    )
}

/// Letters, digits and `-` only: any other byte (`_`, `.`, `~`, ...) is how header
/// aliases are smuggled past a proxy, so such headers are dropped (Envoy's
/// `headers_with_underscores_action: DROP_HEADER`, widened).
fn is_plain_token(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
