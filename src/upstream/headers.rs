//! The rewritten upstream request: which client headers travel, what wsgate adds, and the
//! path with query tokens removed.
//!
//! One function decides the headers ([`put_upstream_headers`]) and writes them into a
//! [`HeaderSink`]: a `HeaderMap` for plain HTTP (hyper encodes it), or the upgrade
//! request's bytes (`UpgradeRequest`), so both requests get exactly the same filtering.

use std::net::SocketAddr;

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};

use super::Upstream;
use crate::assertion::Assertion;
use crate::auth::Grant;
use crate::auth::token::offered_protocols;
use crate::config::{Config, TokenSource};
use crate::http::fold::folds_to;
use crate::http::hop_by_hop::{connection_named, is_hop_by_hop};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// What the client asked for and who it is, as the upstream request needs it.
pub struct Forwarding<'a> {
    pub client: SocketAddr,
    /// The client connection is TLS.
    pub secure: bool,
    pub websocket: bool,
    pub grant: &'a Grant,
    /// The authority of an absolute-form request target (`GET http://host/path`), which
    /// takes the place of the client's `Host` (RFC 9112 §3.2.2); `None` for origin-form.
    pub target_host: Option<&'a HeaderValue>,
    /// The WebSocket session this request opens (the assertion's `sid`).
    pub session: Option<crate::domain::session_id::SessionId>,
    /// Signs the identity assertion, when `[identity.assertion]` is on.
    pub assertion: Option<&'a Assertion>,
}

/// `host[:port]` of an absolute-form request target, without userinfo; `None` for the
/// origin form.
pub fn target_host(uri: &http::Uri) -> Option<HeaderValue> {
    let authority = uri.authority()?;
    let host = match authority.port() {
        Some(port) => format!("{}:{port}", authority.host()),
        None => authority.host().to_owned(),
    };
    HeaderValue::from_str(&host).ok()
}

/// Where the upstream request's headers go.
pub trait HeaderSink {
    /// A header copied from the client; a name may repeat.
    fn append(&mut self, name: &HeaderName, value: &HeaderValue);

    /// A header wsgate sets itself. Each name is set once and is one the copy loop never
    /// copies (`Host`, `X-Forwarded-*`, `Sec-WebSocket-Protocol`, and identity names,
    /// which config validation keeps distinct from each other and from every reserved
    /// name), so a sink may simply append it.
    fn set(&mut self, name: &HeaderName, value: &HeaderValue);
}

impl HeaderSink for HeaderMap {
    fn append(&mut self, name: &HeaderName, value: &HeaderValue) {
        HeaderMap::append(self, name.clone(), value.clone());
    }

    fn set(&mut self, name: &HeaderName, value: &HeaderValue) {
        self.insert(name.clone(), value.clone());
    }
}

/// Builds the upstream request headers from the client's. See the module doc of `upstream`.
pub fn upstream_headers(
    config: &Config,
    upstream: &Upstream,
    client: &HeaderMap,
    forwarding: &Forwarding<'_>,
) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(client.len() + 8);
    put_upstream_headers(config, upstream, client, forwarding, &mut out);
    out
}

/// Writes the upstream request headers into `out`: `Host` first, then the client headers
/// that may travel, then the subprotocol offer without the token, `X-Forwarded-*` and the
/// identity headers.
pub fn put_upstream_headers(
    config: &Config,
    upstream: &Upstream,
    client: &HeaderMap,
    forwarding: &Forwarding<'_>,
    out: &mut impl HeaderSink,
) {
    let host = if config.upstream.preserve_host {
        forwarding.target_host.or_else(|| client.get(header::HOST))
    } else {
        None
    };
    out.set(&header::HOST, host.unwrap_or(upstream.authority()));
    let hop = connection_named(client);
    for (name, value) in client {
        let lower = name.as_str();
        if is_hop_by_hop(lower)
            || hop.contains(lower)
            || !is_plain_token(lower)
            // A plain-token name (checked just above) is its own fold.
            || is_protected(config, lower)
            || is_forwarding(lower)
            || is_websocket_internal(lower)
            || name == header::HOST
            || name == header::CONTENT_LENGTH
            || name == header::SEC_WEBSOCKET_PROTOCOL
        {
            continue;
        }
        if name == header::COOKIE {
            if let Some(value) = strip_cookies(config, value) {
                out.append(&header::COOKIE, &value);
            }
            continue;
        }
        if !config.auth.forward_token && is_token_header(config, name) {
            continue;
        }
        out.append(name, value);
    }
    if forwarding.websocket {
        if let Some(protocols) = strip_protocol_token(config, client) {
            out.set(&header::SEC_WEBSOCKET_PROTOCOL, &protocols);
        }
    }
    forwarded_headers(config, client, forwarding, out);
    for (name, value) in &forwarding.grant.headers {
        out.set(name, value);
    }
    if let Some(assertion) = forwarding.assertion {
        match assertion.sign(
            forwarding.grant,
            forwarding.session,
            crate::domain::clock::unix_now(),
        ) {
            Some(signed) => out.set(assertion.header(), &signed),
            // Only the system's random source failing gets here; the upstream then sees
            // no assertion, which a verifying upstream refuses.
            None => tracing::error!(
                "cannot sign the identity assertion: the system's random source failed"
            ),
        }
    }
}

/// `X-Forwarded-For/Proto/Host`: what wsgate saw, or (behind a trusted front end, with
/// `server.trust_forwarded_headers`) the front end's values extended with the peer.
fn forwarded_headers(
    config: &Config,
    client: &HeaderMap,
    forwarding: &Forwarding<'_>,
    out: &mut impl HeaderSink,
) {
    let trusted = |name: &str| {
        if !config.server.trust_forwarded_headers {
            return None;
        }
        let mut values = client.get_all(name).iter();
        let first = values.next()?;
        values
            .next()
            .is_none()
            .then(|| first.to_str().ok())
            .flatten()
    };
    let peer = forwarding.client.ip().to_string();
    let for_value = match trusted("x-forwarded-for") {
        Some(chain) if !chain.trim().is_empty() => format!("{}, {peer}", chain.trim()),
        _ => peer,
    };
    if let Ok(value) = HeaderValue::from_str(&for_value) {
        out.set(&X_FORWARDED_FOR, &value);
    }
    let proto = trusted("x-forwarded-proto")
        .filter(|p| matches!(*p, "http" | "https"))
        .unwrap_or(if forwarding.secure { "https" } else { "http" });
    if let Ok(value) = HeaderValue::from_str(proto) {
        out.set(&X_FORWARDED_PROTO, &value);
    }
    let trusted_host = trusted("x-forwarded-host").and_then(|h| HeaderValue::from_str(h).ok());
    let host = trusted_host
        .as_ref()
        .or(forwarding.target_host)
        .or_else(|| client.get(header::HOST));
    if let Some(host) = host {
        out.set(&X_FORWARDED_HOST, host);
    }
}

/// The path and query sent upstream: the upstream URL's base path, then the client's
/// path, with every configured query-token parameter removed (query tokens never travel
/// further, RFC 6750 §5.3).
pub fn upstream_path(config: &Config, path: &str, query: Option<&str>) -> String {
    let base = &config.upstream.base_path;
    let mut out = String::with_capacity(base.len() + path.len() + query.map_or(0, str::len) + 1);
    out.push_str(base);
    out.push_str(if path.is_empty() { "/" } else { path });
    let names: Vec<&str> = config
        .auth
        .token_sources
        .iter()
        .filter_map(|s| match s {
            TokenSource::Query(name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                if pair.is_empty() {
                    return false;
                }
                let raw_key = pair.split_once('=').map_or(*pair, |(k, _)| k);
                let key: String = url::form_urlencoded::parse(raw_key.as_bytes())
                    .next()
                    .map(|(k, _)| k.into_owned())
                    .unwrap_or_default();
                !names.contains(&key.as_str())
            })
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
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

fn is_token_header(config: &Config, name: &HeaderName) -> bool {
    config
        .auth
        .token_sources
        .iter()
        .any(|s| matches!(s, TokenSource::Header(h) if h == name))
}

/// Removes token cookies (unless `forward_token`); `None` when nothing is left.
fn strip_cookies(config: &Config, value: &HeaderValue) -> Option<HeaderValue> {
    let names: Vec<&str> = config
        .auth
        .token_sources
        .iter()
        .filter_map(|s| match s {
            TokenSource::Cookie(name) if !config.auth.forward_token => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Some(value.clone());
    }
    let text = value.to_str().ok()?;
    let kept: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(k, _)| k).trim();
            !pair.is_empty() && !names.contains(&name)
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join("; ")).ok()
}

/// The client's subprotocol offer minus every `MARKER, <token>` pair.
fn strip_protocol_token(config: &Config, client: &HeaderMap) -> Option<HeaderValue> {
    let markers: Vec<&str> = config
        .auth
        .token_sources
        .iter()
        .filter_map(|s| match s {
            TokenSource::Protocol(marker) => Some(marker.as_str()),
            _ => None,
        })
        .collect();
    let mut kept = Vec::new();
    let mut offered = offered_protocols(client);
    while let Some(item) = offered.next() {
        if markers.contains(&item) {
            offered.next();
            continue;
        }
        kept.push(item);
    }
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join(", ")).ok()
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
