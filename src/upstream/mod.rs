//! The upstream side: dialling, the rewritten request, and checking the upstream's answer.
//!
//! The upstream request is built fresh, never edited in place: client headers are copied
//! only when their name is a plain token (letters, digits, `-`), is not hop-by-hop, not
//! named in `Connection`, and does not fold to an identity header; then wsgate's own
//! identity and `X-Forwarded-*` headers are inserted. A 101 is accepted only with the right
//! `Sec-WebSocket-Accept` and nothing the client did not offer, so a refused upgrade can
//! never become a tunnel.

use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::auth::identity::folds_to;
use crate::auth::token::offered_protocols;
use crate::auth::{Grant, describe_source};
use crate::config::{Config, TokenSource, UpstreamConfig};
use crate::handshake;

/// Largest upstream refusal body relayed to the client.
const MAX_REFUSAL_BODY: usize = 64 * 1024;

/// Why the upstream could not be used.
#[derive(Debug)]
pub enum UpstreamError {
    /// TCP connect failed (refused, unreachable, DNS).
    Connect(io::Error),
    /// Connect or handshake took longer than allowed.
    Timeout,
    /// The TLS handshake failed (certificate, name, protocol).
    Tls(io::Error),
    /// The upstream answered with an invalid 101 (detail is safe to log).
    Rejected(&'static str),
    /// The upstream's HTTP was unreadable or the connection broke mid-exchange.
    Protocol(hyper::Error),
}

impl UpstreamError {
    /// The `kind` label of `wsgate_upstream_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) | UpstreamError::Protocol(_) => "connect",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Tls(_) => "tls",
            UpstreamError::Rejected(_) => "rejected",
        }
    }
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Connect(err) => write!(f, "connect failed: {err}"),
            UpstreamError::Timeout => f.write_str("timed out"),
            UpstreamError::Tls(err) => write!(f, "TLS handshake failed: {err}"),
            UpstreamError::Rejected(why) => write!(f, "invalid 101 response: {why}"),
            UpstreamError::Protocol(err) => write!(f, "HTTP exchange failed: {err}"),
        }
    }
}

/// The outcome of the upstream WebSocket handshake.
pub enum WebSocketOutcome {
    /// A valid 101: the upgraded stream and the headers to pass to the client.
    Upgraded {
        io: TokioIo<hyper::upgrade::Upgraded>,
        protocol: Option<HeaderValue>,
        extensions: Option<HeaderValue>,
    },
    /// Any other status: relay it to the client with `Connection: close`.
    Refused(Response<Full<Bytes>>),
}

/// The client TLS settings wsgate dials out with (the upstream, remote key sets): ring,
/// safe default protocol versions, the webpki roots, no client certificate.
pub fn tls_client_config() -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(client))
}

/// Dials the configured upstream.
pub struct Upstream {
    config: UpstreamConfig,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
    authority: HeaderValue,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> io::Result<Upstream> {
        let tls = if config.tls {
            let name = rustls_pki_types::ServerName::try_from(config.host.clone())
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
            Some((tokio_rustls::TlsConnector::from(tls_client_config()?), name))
        } else {
            None
        };
        let default_port = if config.tls { 443 } else { 80 };
        let authority = if config.port == default_port {
            config.host.clone()
        } else {
            format!("{}:{}", config.host, config.port)
        };
        let authority = HeaderValue::from_str(&authority)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        Ok(Upstream {
            config: config.clone(),
            tls,
            authority,
        })
    }

    /// `host[:port]` as sent in `Host` unless `preserve_host`.
    pub fn authority(&self) -> &HeaderValue {
        &self.authority
    }

    /// Opens TCP (and TLS for `wss`/`https`) within `connect_timeout`.
    pub async fn connect(&self) -> Result<Stream, UpstreamError> {
        let dial = async {
            let tcp = TcpStream::connect((self.config.host.as_str(), self.config.port))
                .await
                .map_err(UpstreamError::Connect)?;
            let _ = tcp.set_nodelay(true);
            match &self.tls {
                None => Ok(Stream::Plain(tcp)),
                Some((connector, name)) => connector
                    .connect(name.clone(), tcp)
                    .await
                    .map(|tls| Stream::Tls(Box::new(tls)))
                    .map_err(UpstreamError::Tls),
            }
        };
        tokio::time::timeout(self.config.connect_timeout, dial)
            .await
            .map_err(|_| UpstreamError::Timeout)?
    }

    /// Performs the upstream opening handshake. `offered_protocols` and
    /// `offered_extensions` are what the upstream request offered.
    pub async fn open_websocket(
        &self,
        request: Request<Empty<Bytes>>,
        key: &str,
    ) -> Result<WebSocketOutcome, UpstreamError> {
        let offered_protocols: Vec<String> = offered_protocols(request.headers())
            .map(str::to_owned)
            .collect();
        let offered_extensions = extension_names(request.headers());
        let stream = self.connect().await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Protocol)?;
        // The connection is driven here, beside the exchange, rather than in a task of its
        // own: one request, one answer, and no task spawned or woken across tasks for it
        // (docs/performance.md). Once the exchange is over the connection has either
        // handed its stream to the upgrade or is not needed (a refusal is relayed with
        // `Connection: close`), so it is dropped.
        let mut connection = std::pin::pin!(connection.with_upgrades());
        let mut connection_done = false;
        let mut exchange = std::pin::pin!(exchange(
            sender,
            request,
            key,
            offered_protocols,
            offered_extensions
        ));
        std::future::poll_fn(|cx| {
            if !connection_done {
                // An error also fails the exchange, which reports it.
                connection_done = connection.as_mut().poll(cx).is_ready();
            }
            exchange.as_mut().poll(cx)
        })
        .await
    }

    /// Forwards a plain HTTP request on a fresh connection.
    pub async fn forward<B>(&self, request: Request<B>) -> Result<Response<Incoming>, UpstreamError>
    where
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = self.connect().await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Protocol)?;
        tokio::spawn(connection);
        tokio::time::timeout(self.config.response_timeout, sender.send_request(request))
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(UpstreamError::Protocol)
    }
}

/// The upstream opening handshake's exchange: send the upgrade request, then check the
/// `101` (accept key; only an offered subprotocol or extension) and take the upgraded
/// stream, or read a refusal.
async fn exchange(
    mut sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    request: Request<Empty<Bytes>>,
    key: &str,
    offered_protocols: Vec<String>,
    offered_extensions: Vec<String>,
) -> Result<WebSocketOutcome, UpstreamError> {
    let response = sender.send_request(request).await;
    // No second request: the connection may end once this answer is read.
    drop(sender);
    let mut response = response.map_err(UpstreamError::Protocol)?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(WebSocketOutcome::Refused(refusal(response).await));
    }
    let headers = response.headers();
    let upgrade_ok = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !upgrade_ok || !handshake::has_token(headers, header::CONNECTION, "upgrade") {
        return Err(UpstreamError::Rejected(
            "missing Upgrade: websocket or Connection: upgrade",
        ));
    }
    let expected = handshake::accept_key(key.as_bytes());
    let mut accepts = headers.get_all(header::SEC_WEBSOCKET_ACCEPT).iter();
    match (accepts.next(), accepts.next()) {
        (Some(accept), None) if accept.as_bytes().trim_ascii() == expected.as_bytes() => {}
        _ => {
            return Err(UpstreamError::Rejected(
                "wrong or missing Sec-WebSocket-Accept",
            ));
        }
    }
    let mut protocols = headers.get_all(header::SEC_WEBSOCKET_PROTOCOL).iter();
    let protocol = match (protocols.next(), protocols.next()) {
        (None, _) => None,
        (Some(chosen), None) => {
            let name = chosen.to_str().unwrap_or("").trim();
            if !offered_protocols.iter().any(|p| p == name) {
                return Err(UpstreamError::Rejected("subprotocol that was not offered"));
            }
            Some(chosen.clone())
        }
        (Some(_), Some(_)) => {
            return Err(UpstreamError::Rejected("more than one subprotocol"));
        }
    };
    let accepted_extensions = extension_names(headers);
    if accepted_extensions
        .iter()
        .any(|e| !offered_extensions.contains(e))
    {
        return Err(UpstreamError::Rejected("extension that was not offered"));
    }
    let extensions = join_values(headers, header::SEC_WEBSOCKET_EXTENSIONS);
    let upgraded = hyper::upgrade::on(&mut response)
        .await
        .map_err(UpstreamError::Protocol)?;
    Ok(WebSocketOutcome::Upgraded {
        io: TokioIo::new(upgraded),
        protocol,
        extensions,
    })
}

/// Reads a refusal's body (bounded) and relays status, end-to-end headers and body.
async fn refusal(response: Response<Incoming>) -> Response<Full<Bytes>> {
    let (parts, body) = response.into_parts();
    let body = match Limited::new(body, MAX_REFUSAL_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = parts.status;
    let hop = connection_named(&parts.headers);
    for (name, value) in &parts.headers {
        if is_hop_by_hop(name) || hop.contains(name.as_str()) || name == header::CONTENT_LENGTH {
            continue;
        }
        out.headers_mut().append(name.clone(), value.clone());
    }
    out.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    out
}

/// What the client asked for and who it is, as the upstream request needs it.
pub struct Forwarding<'a> {
    pub client: SocketAddr,
    /// The client connection is TLS.
    pub secure: bool,
    pub websocket: bool,
    pub grant: &'a Grant,
}

/// Builds the upstream request headers from the client's. See the module doc.
pub fn upstream_headers(
    config: &Config,
    upstream: &Upstream,
    client: &HeaderMap,
    forwarding: &Forwarding<'_>,
) -> HeaderMap {
    let hop = connection_named(client);
    let mut out = HeaderMap::with_capacity(client.len() + 8);
    for (name, value) in client {
        let lower = name.as_str();
        if is_hop_by_hop(name)
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
                out.append(header::COOKIE, value);
            }
            continue;
        }
        if !config.auth.forward_token && is_token_header(config, name) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    if forwarding.websocket {
        if let Some(protocols) = strip_protocol_token(config, client) {
            out.insert(header::SEC_WEBSOCKET_PROTOCOL, protocols);
        }
    }
    let host = if config.upstream.preserve_host {
        client.get(header::HOST).cloned()
    } else {
        None
    };
    out.insert(
        header::HOST,
        host.unwrap_or_else(|| upstream.authority().clone()),
    );
    forwarded_headers(config, client, forwarding, &mut out);
    for (name, value) in &forwarding.grant.headers {
        out.insert(name.clone(), value.clone());
    }
    out
}

/// `X-Forwarded-For/Proto/Host`: what wsgate saw, or (behind a trusted front end, with
/// `server.trust_forwarded_headers`) the front end's values extended with the peer.
fn forwarded_headers(
    config: &Config,
    client: &HeaderMap,
    forwarding: &Forwarding<'_>,
    out: &mut HeaderMap,
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
        out.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    let proto = trusted("x-forwarded-proto")
        .filter(|p| matches!(*p, "http" | "https"))
        .unwrap_or(if forwarding.secure { "https" } else { "http" });
    if let Ok(value) = HeaderValue::from_str(proto) {
        out.insert(HeaderName::from_static("x-forwarded-proto"), value);
    }
    let host = trusted("x-forwarded-host")
        .and_then(|h| HeaderValue::from_str(h).ok())
        .or_else(|| client.get(header::HOST).cloned());
    if let Some(host) = host {
        out.insert(HeaderName::from_static("x-forwarded-host"), host);
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

/// Whether `name` (a plain-token name, so its own fold) folds to a header a client may never
/// send upstream: the identity, method and claim headers, the bypass header and the bypass
/// user header. Compared byte by byte: no allocation per request header.
fn is_protected(config: &Config, name: &str) -> bool {
    let identity = &config.identity;
    [
        identity.user_header.as_str(),
        identity.method_header.as_str(),
        config.e2e_bypass.header.as_str(),
        config.e2e_bypass.user_header.as_str(),
    ]
    .into_iter()
    .chain(identity.claim_headers.iter().map(|(h, _)| h.as_str()))
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

/// The names `Connection` lists (hop-by-hop by declaration, RFC 9110 §7.6.1), lowercase,
/// other than `upgrade` and `keep-alive`, which `is_hop_by_hop` drops anyway: for the
/// usual `Upgrade` / `keep-alive, Upgrade` the set is empty and nothing is allocated.
/// Built once per message, so a long list costs one pass, not one per header.
fn connection_named(headers: &HeaderMap) -> HashSet<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case("upgrade")
                && !t.eq_ignore_ascii_case("keep-alive")
        })
        .map(str::to_ascii_lowercase)
        .collect()
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
}

fn is_forwarding(name: &str) -> bool {
    name == "forwarded" || name == "x-real-ip" || name.starts_with("x-forwarded-")
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

/// Extension names (before `;` parameters) across every `Sec-WebSocket-Extensions`.
fn extension_names(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|ext| ext.split(';').next())
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

fn join_values(headers: &HeaderMap, name: HeaderName) -> Option<HeaderValue> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return None;
    }
    HeaderValue::from_str(&values.join(", ")).ok()
}

/// Describes token sources for logs (no values).
pub fn describe(config: &Config) -> String {
    config
        .auth
        .token_sources
        .iter()
        .map(describe_source)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A plain or TLS upstream stream.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}
