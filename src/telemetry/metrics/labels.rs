//! The closed label sets that are wsgate's metrics' own: every label value comes from one
//! of these enums, a domain enum (`Refusal`, `CloseReason`, `AuthMethod`, `Initiator`) or
//! configuration, never from a request.

use crate::domain::refusal::Refusal;

/// Which certificate an expiry is about (`certificate` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateLabel {
    /// `server.tls.cert_file`.
    Listener,
    /// `upstream.client_cert_file`.
    UpstreamClient,
    /// A certificate in `identity.assertion.key_file` beside the key.
    Assertion,
}

impl CertificateLabel {
    pub const ALL: [CertificateLabel; 3] = [
        CertificateLabel::Listener,
        CertificateLabel::UpstreamClient,
        CertificateLabel::Assertion,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CertificateLabel::Listener => "listener",
            CertificateLabel::UpstreamClient => "upstream_client",
            CertificateLabel::Assertion => "assertion",
        }
    }
}

/// How a handshake ended (`outcome` label of the duration histogram).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeOutcome {
    /// The upstream accepted and the client got its 101 (or the plain request was proxied).
    Allowed,
    /// wsgate refused the caller (any [`Refusal`] before the upstream was dialled).
    Denied,
    /// The upstream could not be reached: refused, timed out, TLS failed.
    UpstreamError,
    /// The upstream's 101 was invalid (bad accept key, unoffered extension or protocol).
    UpstreamRejected,
    /// The upstream answered with a status other than 101, which was relayed as is.
    UpstreamDeclined,
}

/// Why an upstream connection failed (`kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpstreamErrorKind {
    Connect,
    Timeout,
    Tls,
    Rejected,
}

/// What happened to a request carrying the E2E bypass header (`result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BypassResult {
    Accepted,
    Invalid,
    Disabled,
}

/// How a JWKS fetch ended (`result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwksRefreshResult {
    Success,
    /// Network, timeout, TLS or a status other than 200 (redirects included).
    Error,
    /// The body was not a usable JWKS (or discovery document): not JSON, no `keys`
    /// array, no usable key, over the size cap, a mismatching discovery `issuer`.
    Invalid,
}

/// How a config reload ended (`result` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReloadResult {
    /// Every key of the new configuration is in force.
    Success,
    /// The new configuration is in force except keys that need a restart (listeners,
    /// `max_connections`, TLS on or off), which keep their running values.
    RestartRequired,
    /// The new configuration was refused; the previous one stays.
    Error,
}

/// The `code` label for a session's close code.
///
/// Registered codes (RFC 6455 §7.4.1 and the IANA registry) keep their number; 1005 ("no
/// status received") is kept because it says the peer closed without a code. Everything
/// else, including private 4000–4999 codes, becomes `other`, so a peer cannot grow the
/// label set; `None` (no close frame at all) is `none`.
pub fn close_code_label(code: Option<u16>) -> &'static str {
    match code {
        None => "none",
        Some(1000) => "1000",
        Some(1001) => "1001",
        Some(1002) => "1002",
        Some(1003) => "1003",
        Some(1005) => "1005",
        Some(1007) => "1007",
        Some(1008) => "1008",
        Some(1009) => "1009",
        Some(1010) => "1010",
        Some(1011) => "1011",
        Some(1012) => "1012",
        Some(1013) => "1013",
        Some(1014) => "1014",
        Some(_) => "other",
    }
}

impl HandshakeOutcome {
    pub const ALL: [HandshakeOutcome; 5] = [
        HandshakeOutcome::Allowed,
        HandshakeOutcome::Denied,
        HandshakeOutcome::UpstreamError,
        HandshakeOutcome::UpstreamRejected,
        HandshakeOutcome::UpstreamDeclined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeOutcome::Allowed => "allowed",
            HandshakeOutcome::Denied => "denied",
            HandshakeOutcome::UpstreamError => "upstream_error",
            HandshakeOutcome::UpstreamRejected => "upstream_rejected",
            HandshakeOutcome::UpstreamDeclined => "upstream_declined",
        }
    }
}

impl UpstreamErrorKind {
    pub const ALL: [UpstreamErrorKind; 4] = [
        UpstreamErrorKind::Connect,
        UpstreamErrorKind::Timeout,
        UpstreamErrorKind::Tls,
        UpstreamErrorKind::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamErrorKind::Connect => "connect",
            UpstreamErrorKind::Timeout => "timeout",
            UpstreamErrorKind::Tls => "tls",
            UpstreamErrorKind::Rejected => "rejected",
        }
    }

    /// The reason code the caller is refused with when the upstream fails this way.
    pub fn reason(self) -> Refusal {
        match self {
            UpstreamErrorKind::Connect | UpstreamErrorKind::Timeout | UpstreamErrorKind::Tls => {
                Refusal::UpstreamUnavailable
            }
            UpstreamErrorKind::Rejected => Refusal::UpstreamRejected,
        }
    }

    /// The handshake's outcome when the upstream fails this way.
    pub fn outcome(self) -> HandshakeOutcome {
        match self {
            UpstreamErrorKind::Connect | UpstreamErrorKind::Timeout | UpstreamErrorKind::Tls => {
                HandshakeOutcome::UpstreamError
            }
            UpstreamErrorKind::Rejected => HandshakeOutcome::UpstreamRejected,
        }
    }
}

impl BypassResult {
    pub const ALL: [BypassResult; 3] = [
        BypassResult::Accepted,
        BypassResult::Invalid,
        BypassResult::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BypassResult::Accepted => "accepted",
            BypassResult::Invalid => "invalid",
            BypassResult::Disabled => "disabled",
        }
    }
}

impl JwksRefreshResult {
    pub fn as_str(self) -> &'static str {
        match self {
            JwksRefreshResult::Success => "success",
            JwksRefreshResult::Error => "error",
            JwksRefreshResult::Invalid => "invalid",
        }
    }
}

impl ReloadResult {
    pub const ALL: [ReloadResult; 3] = [
        ReloadResult::Success,
        ReloadResult::RestartRequired,
        ReloadResult::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReloadResult::Success => "success",
            ReloadResult::RestartRequired => "restart_required",
            ReloadResult::Error => "error",
        }
    }
}

/// What a revocation names: the `scope` label of `wsgate_revocations_total` and
/// `wsgate_sessions_revoked_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationScope {
    User,
    Jti,
    Session,
    /// An issuer's signing key (`{"issuer", "kid"}`).
    Key,
}

impl RevocationScope {
    pub const ALL: [RevocationScope; 4] = [
        RevocationScope::User,
        RevocationScope::Jti,
        RevocationScope::Session,
        RevocationScope::Key,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RevocationScope::User => "user",
            RevocationScope::Jti => "jti",
            RevocationScope::Session => "session",
            RevocationScope::Key => "key",
        }
    }
}

/// How a session refresh ended: the `result` label of `wsgate_session_refresh_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshResult {
    Ok,
    /// Refused with this reason code.
    Refused(Refusal),
    /// No live session has the id in `X-Wsgate-Session` (or the header is absent or
    /// not an id): 404.
    SessionUnknown,
}

impl RefreshResult {
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshResult::Ok => "ok",
            RefreshResult::Refused(reason) => reason.as_str(),
            RefreshResult::SessionUnknown => "session_unknown",
        }
    }
}

/// A session-store operation: the `operation` label of
/// `wsgate_session_store_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOperation {
    /// The handshake's cap check and registration.
    Register,
    /// Removing an ended session.
    Deregister,
    /// Re-announcing this replica's live sessions (their TTL).
    Heartbeat,
    /// Persisting and publishing a revocation.
    Revoke,
    /// Reading the persisted revocations (at start and on reconnect).
    Sync,
    /// Listing live sessions.
    List,
    /// Finding a session and delivering its new expiry to its replica.
    Refresh,
}

impl StoreOperation {
    pub const ALL: [StoreOperation; 7] = [
        StoreOperation::Register,
        StoreOperation::Deregister,
        StoreOperation::Heartbeat,
        StoreOperation::Revoke,
        StoreOperation::Sync,
        StoreOperation::List,
        StoreOperation::Refresh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StoreOperation::Register => "register",
            StoreOperation::Deregister => "deregister",
            StoreOperation::Heartbeat => "heartbeat",
            StoreOperation::Revoke => "revoke",
            StoreOperation::Sync => "sync",
            StoreOperation::List => "list",
            StoreOperation::Refresh => "refresh",
        }
    }
}
