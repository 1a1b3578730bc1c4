//! The rewritten upstream request's headers: which client headers travel (`names.rs`
//! says which names never do), what wsgate adds.
//!
//! One function decides the headers ([`put_upstream_headers`]) and writes them into a
//! [`HeaderSink`]: a `HeaderMap` for plain HTTP (hyper encodes it), or the upgrade
//! request's bytes (`UpgradeRequest`), so both requests get exactly the same filtering.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};

use super::Upstream;
use super::names::is_withheld;
use crate::assertion::Assertion;
use crate::auth::Grant;
use crate::auth::token::offered_protocols;
use crate::config::{Config, TokenSource};
use crate::http::hop_by_hop::connection_named;

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

/// Where the upstream request's headers go.
pub(super) trait HeaderSink {
    /// A header copied from the client; a name may repeat.
    fn append(&mut self, name: &HeaderName, value: &HeaderValue);

    /// A header wsgate sets itself. Each name is set once and is one the copy loop never
    /// copies (`Host`, `X-Forwarded-*`, `Sec-WebSocket-Protocol`, and identity names,
    /// which config validation keeps distinct from each other and from every reserved
    /// name), so a sink may simply append it.
    fn set(&mut self, name: &HeaderName, value: &HeaderValue);

    /// [`HeaderSink::set`] with a value wsgate formats, left out when it is not a valid
    /// header value (as `HeaderValue::from_str` judges). A sink that writes bytes may
    /// format it in place.
    fn set_formatted(&mut self, name: &HeaderName, value: std::fmt::Arguments<'_>) {
        if let Ok(value) = HeaderValue::from_str(&value.to_string()) {
            self.set(name, &value);
        }
    }

    /// [`HeaderSink::set`] with an address as `IpAddr`'s `Display` writes it.
    fn set_address(&mut self, name: &HeaderName, address: IpAddr) {
        self.set_formatted(name, format_args!("{address}"));
    }
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
pub(super) fn put_upstream_headers(
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
        if is_withheld(config, name, &hop) {
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
    if forwarding.websocket
        && let Some(protocols) = strip_protocol_token(config, client)
    {
        out.set(&header::SEC_WEBSOCKET_PROTOCOL, &protocols);
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
    let peer = forwarding.client.ip();
    match trusted("x-forwarded-for") {
        Some(chain) if !chain.trim().is_empty() => {
            out.set_formatted(&X_FORWARDED_FOR, format_args!("{}, {peer}", chain.trim()));
        }
        _ => out.set_address(&X_FORWARDED_FOR, peer),
    }
    let https = match trusted("x-forwarded-proto") {
        Some("http") => false,
        Some("https") => true,
        _ => forwarding.secure,
    };
    let proto = HeaderValue::from_static(if https { "https" } else { "http" });
    out.set(&X_FORWARDED_PROTO, &proto);
    let trusted_host = trusted("x-forwarded-host").and_then(|h| HeaderValue::from_str(h).ok());
    let host = trusted_host
        .as_ref()
        .or(forwarding.target_host)
        .or_else(|| client.get(header::HOST));
    if let Some(host) = host {
        out.set(&X_FORWARDED_HOST, host);
    }
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
    let sources = &config.auth.token_sources;
    let is_token = |name: &str| {
        sources
            .iter()
            .any(|s| matches!(s, TokenSource::Cookie(cookie) if cookie == name))
    };
    if config.auth.forward_token || !sources.iter().any(|s| matches!(s, TokenSource::Cookie(_))) {
        return Some(value.clone());
    }
    let text = value.to_str().ok()?;
    let kept: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(k, _)| k).trim();
            !pair.is_empty() && !is_token(name)
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join("; ")).ok()
}

/// The client's subprotocol offer minus every `MARKER, <token>` pair.
fn strip_protocol_token(config: &Config, client: &HeaderMap) -> Option<HeaderValue> {
    let is_marker = |item: &str| {
        let sources = &config.auth.token_sources;
        sources
            .iter()
            .any(|s| matches!(s, TokenSource::Protocol(marker) if marker == item))
    };
    let mut kept = Vec::new();
    let mut offered = offered_protocols(client);
    while let Some(item) = offered.next() {
        if is_marker(item) {
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
