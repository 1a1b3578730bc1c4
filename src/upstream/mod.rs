//! The upstream side: dialling, the rewritten request, and checking the upstream's answer.
//!
//! The upstream request is built fresh, never edited in place: client headers are copied
//! only when their name is a plain token (letters, digits, `-`), is not hop-by-hop, not
//! named in `Connection`, and does not fold to an identity header or a route, method or
//! client-address override (`X-Original-URL`, `X-HTTP-Method-Override`, `X-Real-IP`, ...);
//! then wsgate's own identity and `X-Forwarded-*` headers are inserted. A 101 is accepted
//! only with the right `Sec-WebSocket-Accept` and nothing the client did not offer, so a
//! refused upgrade can never become a tunnel.
//!
//! Here: the dialler and the handshake's outcome. `error.rs` says why the upstream could
//! not be used; `headers.rs` builds the request headers (`names.rs` says which client
//! names never travel), `target.rs` its path and query; `upgrade.rs` performs the opening
//! handshake by hand (the request written as bytes, the 101 checked, the connection
//! handed to the relay); `response.rs` reads the answer's head and a refusal's body. Plain
//! HTTP forwarding goes through hyper's client. `resolve.rs` knows the upstream's
//! addresses: a literal as it is, a name looked up when first dialled and refreshed in the
//! background, never per handshake.

use std::io;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use crate::config::UpstreamConfig;
use crate::domain::clock::budget_end;
use crate::net::stream::Stream;
use crate::net::tls::{client_identity, public_roots, roots_from, tls_client_config_with};
use crate::timer::Timer;

mod error;
mod headers;
mod names;
mod resolve;
mod response;
mod target;
mod upgrade;

#[cfg(test)]
mod tests;

pub use error::{ProtocolError, UpstreamError};
pub use headers::{Forwarding, upstream_headers};
pub use target::{target_host, upstream_path};
#[doc(hidden)]
pub(crate) use upgrade::read_answer_for_fuzzing;
pub use upgrade::{UpgradeRequest, Upgraded};

/// The outcome of the upstream WebSocket handshake.
pub enum WebSocketOutcome {
    /// A valid 101: the upgraded stream and the headers to pass to the client.
    Upgraded {
        io: Upgraded,
        protocol: Option<HeaderValue>,
        extensions: Option<HeaderValue>,
        /// The exchange's read buffer, emptied: room for the caller's next write (the
        /// client's 101) without another allocation.
        spare: Vec<u8>,
    },
    /// Any other status: relay it to the client with `Connection: close`.
    Refused(Response<Bytes>),
}

/// Dials the configured upstream.
pub struct Upstream {
    config: UpstreamConfig,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls_pki_types::ServerName<'static>,
    )>,
    authority: HeaderValue,
    addresses: resolve::Resolver,
    /// `notAfter` of `upstream.client_cert_file`'s leaf (unix seconds).
    pub client_cert_expires_at: Option<u64>,
    /// Where the dial's and the answer's deadlines are kept: the timer thread.
    timer: Timer,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig) -> io::Result<Upstream> {
        let identity = match (&config.client_cert, config.tls) {
            (Some(files), true) => Some(client_identity(files)?),
            _ => None,
        };
        let client_cert_expires_at = identity
            .as_ref()
            .and_then(|(certs, _)| certs.first())
            .and_then(|leaf| crate::net::tls::not_after(leaf));
        let tls = if config.tls {
            // An IPv6 literal is named without the brackets its URL needs.
            let host = config.host.trim_start_matches('[').trim_end_matches(']');
            let name = rustls_pki_types::ServerName::try_from(host.to_owned())
                .map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
            let roots = match &config.ca_file {
                Some(ca_file) => roots_from("upstream.ca_file", ca_file)?,
                None => public_roots(),
            };
            let client = tls_client_config_with(roots, identity)?;
            Some((tokio_rustls::TlsConnector::from(client), name))
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
            addresses: resolve::Resolver::new(&config.host, config.port),
            client_cert_expires_at,
            timer: Timer::coarse(),
        })
    }

    /// `host[:port]` as sent in `Host` unless `preserve_host`.
    pub fn authority(&self) -> &HeaderValue {
        &self.authority
    }

    /// Opens TCP (and TLS for `wss`/`https`) within `connect_timeout`.
    pub async fn connect(&self) -> Result<Stream, UpstreamError> {
        self.connect_until(None, &[])
            .await
            .map(|(stream, _)| stream)
    }

    /// [`Upstream::connect`], given up at `deadline` too when it comes first. `early`: the
    /// request's bytes, written at once over plain TCP when the connection is made inside
    /// `connect(2)` (`net::dial`), and how many were; over TLS nothing is written before
    /// the TLS handshake. A refusal found by that write is the dial's.
    async fn connect_until(
        &self,
        deadline: Option<Instant>,
        early: &[u8],
    ) -> Result<(Stream, usize), UpstreamError> {
        let now = Instant::now();
        let early = if self.tls.is_some() { &[][..] } else { early };
        let dial = async {
            let (tcp, written) = self
                .addresses
                .connect(now, early)
                .await
                .map_err(UpstreamError::Connect)?;
            match &self.tls {
                None => Ok((Stream::Plain(tcp), written)),
                // Boxed: inline, the TLS handshake's state (a rustls connection) would
                // size every dial's future, plain ones too, and be copied with it.
                Some((connector, name)) => Box::pin(connector.connect(name.clone(), tcp))
                    .await
                    .map(|tls| (Stream::Tls(Box::new(tls)), 0))
                    .map_err(UpstreamError::Tls),
            }
        };
        let step_end = budget_end(now, self.config.connect_timeout);
        self.timer
            .timeout_at(upgrade::earliest(step_end, deadline), dial)
            .await
            .map_err(|_| UpstreamError::Timeout)?
    }

    /// Performs the upstream opening handshake (`upgrade.rs`): dials, sends `request`,
    /// and checks the answer; `UpstreamError::Timeout` at `deadline` (what is left of the
    /// handshake budget; `None`: no bound beyond each step's), whatever step it is in.
    ///
    /// `connect_timeout` bounds each step: the dial (TCP and TLS), then the answer's head
    /// (and, separately, a refusal's body). Answering an upgrade is no work for a healthy
    /// upstream, so one that accepts and never answers is as unavailable as one that
    /// cannot be reached: 502 `upstream_unavailable` within about two `connect_timeout`s,
    /// never a client held to its `handshake_timeout`, which still bounds the whole.
    ///
    /// The deadline is folded into each step's own timer rather than wrapped around the
    /// whole: one timer at a time instead of two, with the same outcome at every instant.
    pub async fn open_websocket(
        &self,
        request: UpgradeRequest,
        deadline: Option<Instant>,
    ) -> Result<WebSocketOutcome, UpstreamError> {
        let (stream, sent) = self.connect_until(deadline, request.as_bytes()).await?;
        let answer_timeout = self.config.connect_timeout;
        upgrade::exchange_until(stream, sent, request, answer_timeout, deadline, &self.timer).await
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
            .map_err(|err| UpstreamError::Protocol(ProtocolError::Http(err)))?;
        tokio::spawn(connection);
        self.timer
            .timeout(self.config.response_timeout, sender.send_request(request))
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(|err| UpstreamError::Protocol(ProtocolError::Http(err)))
    }
}
