//! Why the upstream could not be used ([`UpstreamError`]), and the one mapping of those
//! errors to what the rest of wsgate needs: the `kind` metric label, from which the
//! reason code the caller is refused with follows ([`UpstreamErrorKind::reason`]); the
//! log line's detail is their `Display`.

use std::io;

use crate::telemetry::metrics::UpstreamErrorKind;

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
    Protocol(ProtocolError),
}

impl UpstreamError {
    /// What kind of failure this is: the `kind` label of `wsgate_upstream_errors_total`,
    /// and (through [`UpstreamErrorKind::reason`]) the reason code the caller is refused
    /// with. The one mapping of these errors; the log line's detail is their `Display`.
    pub fn kind(&self) -> UpstreamErrorKind {
        match self {
            UpstreamError::Connect(_) | UpstreamError::Protocol(_) => UpstreamErrorKind::Connect,
            UpstreamError::Timeout => UpstreamErrorKind::Timeout,
            UpstreamError::Tls(_) => UpstreamErrorKind::Tls,
            UpstreamError::Rejected(_) => UpstreamErrorKind::Rejected,
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

impl From<ProtocolError> for UpstreamError {
    fn from(err: ProtocolError) -> UpstreamError {
        UpstreamError::Protocol(err)
    }
}

/// What went wrong in an HTTP exchange with the upstream.
#[derive(Debug)]
pub enum ProtocolError {
    /// hyper's client failed (plain HTTP forwarding).
    Http(hyper::Error),
    /// Writing the upgrade request or reading the answer failed.
    Io(io::Error),
    /// The answer's head is not HTTP/1.1 (`httparse`'s verdict).
    Parse(httparse::Error),
    /// The answer broke a limit or a framing rule (detail is safe to log).
    Malformed(&'static str),
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProtocolError::Http(err) => write!(f, "{err}"),
            ProtocolError::Io(err) => write!(f, "{err}"),
            ProtocolError::Parse(err) => write!(f, "unreadable response head: {err}"),
            ProtocolError::Malformed(why) => f.write_str(why),
        }
    }
}
