//! The closed set of reasons wsgate refuses or ends a connection for.
//!
//! A reason code is defined once here and is the same string in the HTTP body, the
//! `X-Wsgate-Reason` header, the close frame, the `reason` metric label, the log line and
//! `wsgate explain`. Every mapping below is an exhaustive `match` with no wildcard arm, so
//! a new variant cannot silently become a 500.

use http::StatusCode;

/// Why a caller was turned away, or why a session was ended by wsgate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    TokenMissing,
    TokenMalformed,
    TokenTooLarge,
    MultipleCredentials,
    AlgorithmNotAllowed,
    IssuerUnknown,
    KeyUnknown,
    SignatureInvalid,
    TokenExpired,
    TokenNotYetValid,
    AudienceMismatch,
    ClaimMissing,
    ClaimInvalid,
    ClaimMismatch,
    OriginNotAllowed,
    E2eKeyInvalid,
    E2eBypassDisabled,
    KeysUnavailable,
    UpstreamUnavailable,
    UpstreamRejected,
    Overloaded,
    ServerShutdown,
    SessionMaxAge,
    MessageTooBig,
    IdleTimeout,
    ProtocolError,
    SlowConsumer,
    RateLimited,
    ClientCertMissing,
    ClientCertInvalid,
    TokenRevoked,
    TooManySessions,
    SessionsUnavailable,
}

/// Which part of a token problem a `WWW-Authenticate` challenge describes (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    /// The request carried no credential: the challenge has no `error` attribute.
    None,
    InvalidRequest,
    InvalidToken,
    InsufficientScope,
}

impl Reason {
    /// Every reason, in the order of the contract table.
    pub const ALL: [Reason; 33] = [
        Reason::TokenMissing,
        Reason::TokenMalformed,
        Reason::TokenTooLarge,
        Reason::MultipleCredentials,
        Reason::AlgorithmNotAllowed,
        Reason::IssuerUnknown,
        Reason::KeyUnknown,
        Reason::SignatureInvalid,
        Reason::TokenExpired,
        Reason::TokenNotYetValid,
        Reason::AudienceMismatch,
        Reason::ClaimMissing,
        Reason::ClaimInvalid,
        Reason::ClaimMismatch,
        Reason::OriginNotAllowed,
        Reason::E2eKeyInvalid,
        Reason::E2eBypassDisabled,
        Reason::KeysUnavailable,
        Reason::UpstreamUnavailable,
        Reason::UpstreamRejected,
        Reason::Overloaded,
        Reason::ServerShutdown,
        Reason::SessionMaxAge,
        Reason::MessageTooBig,
        Reason::IdleTimeout,
        Reason::ProtocolError,
        Reason::SlowConsumer,
        Reason::RateLimited,
        Reason::ClientCertMissing,
        Reason::ClientCertInvalid,
        Reason::TokenRevoked,
        Reason::TooManySessions,
        Reason::SessionsUnavailable,
    ];

    /// The stable, machine-readable code.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TokenMissing => "token_missing",
            Reason::TokenMalformed => "token_malformed",
            Reason::TokenTooLarge => "token_too_large",
            Reason::MultipleCredentials => "multiple_credentials",
            Reason::AlgorithmNotAllowed => "algorithm_not_allowed",
            Reason::IssuerUnknown => "issuer_unknown",
            Reason::KeyUnknown => "key_unknown",
            Reason::SignatureInvalid => "signature_invalid",
            Reason::TokenExpired => "token_expired",
            Reason::TokenNotYetValid => "token_not_yet_valid",
            Reason::AudienceMismatch => "audience_mismatch",
            Reason::ClaimMissing => "claim_missing",
            Reason::ClaimInvalid => "claim_invalid",
            Reason::ClaimMismatch => "claim_mismatch",
            Reason::OriginNotAllowed => "origin_not_allowed",
            Reason::E2eKeyInvalid => "e2e_key_invalid",
            Reason::E2eBypassDisabled => "e2e_bypass_disabled",
            Reason::KeysUnavailable => "keys_unavailable",
            Reason::UpstreamUnavailable => "upstream_unavailable",
            Reason::UpstreamRejected => "upstream_rejected",
            Reason::Overloaded => "overloaded",
            Reason::ServerShutdown => "server_shutdown",
            Reason::SessionMaxAge => "session_max_age",
            Reason::MessageTooBig => "message_too_big",
            Reason::IdleTimeout => "idle_timeout",
            Reason::ProtocolError => "protocol_error",
            Reason::SlowConsumer => "slow_consumer",
            Reason::RateLimited => "rate_limited",
            Reason::ClientCertMissing => "client_cert_missing",
            Reason::ClientCertInvalid => "client_cert_invalid",
            Reason::TokenRevoked => "token_revoked",
            Reason::TooManySessions => "too_many_sessions",
            Reason::SessionsUnavailable => "sessions_unavailable",
        }
    }

    /// Parses a code back into a reason (used by tests and tooling).
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.as_str() == code)
    }

    /// A human sentence for the HTTP body and `explain`. Never contains request input.
    pub fn message(self) -> &'static str {
        match self {
            Reason::TokenMissing => "no credential found in any configured token source",
            Reason::TokenMalformed => "the token is not a well-formed compact JWS",
            Reason::TokenTooLarge => "the token is longer than auth.max_token_bytes",
            Reason::MultipleCredentials => "more than one credential was presented",
            Reason::AlgorithmNotAllowed => "the token's algorithm is not allowed for its issuer",
            Reason::IssuerUnknown => "the token's issuer is not trusted in this environment",
            Reason::KeyUnknown => "no configured key matches the token",
            Reason::SignatureInvalid => "the token's signature does not verify",
            Reason::TokenExpired => "the token has expired",
            Reason::TokenNotYetValid => "the token is not valid yet",
            Reason::AudienceMismatch => "the token is not intended for this audience",
            Reason::ClaimMissing => "a required claim is missing",
            Reason::ClaimInvalid => "a claim has the wrong type or value",
            Reason::ClaimMismatch => "the token's claims do not satisfy this route's requirements",
            Reason::OriginNotAllowed => "the request's Origin is not allowed",
            Reason::E2eKeyInvalid => "the end-to-end test bypass key is not valid",
            Reason::E2eBypassDisabled => {
                "the end-to-end test bypass is not enabled in this environment"
            }
            Reason::KeysUnavailable => "the issuer's keys are not available",
            Reason::UpstreamUnavailable => "the upstream could not be reached",
            Reason::UpstreamRejected => "the upstream's handshake response was invalid",
            Reason::Overloaded => "the proxy is at its connection limit",
            Reason::ServerShutdown => "the proxy is shutting down",
            Reason::SessionMaxAge => "the session reached its maximum duration",
            Reason::MessageTooBig => "a frame or message exceeded the configured limit",
            Reason::IdleTimeout => "no frame in either direction within the idle timeout",
            Reason::ProtocolError => "a WebSocket framing violation",
            Reason::SlowConsumer => {
                "a peer accepted none of the relayed bytes within the send timeout"
            }
            Reason::RateLimited => "the client sent pings faster than the configured rate",
            Reason::ClientCertMissing => {
                "this route needs a client certificate and none was presented"
            }
            Reason::ClientCertInvalid => {
                "the client certificate does not verify against the configured CA"
            }
            Reason::TokenRevoked => {
                "the token, its subject, its session or its signing key was revoked"
            }
            Reason::TooManySessions => {
                "the identity or client address has reached its live-session limit"
            }
            Reason::SessionsUnavailable => "the session store cannot be reached",
        }
    }

    /// The HTTP status for a refusal before the handshake.
    pub fn status(self) -> StatusCode {
        match self {
            Reason::TokenMissing
            | Reason::TokenMalformed
            | Reason::TokenTooLarge
            | Reason::MultipleCredentials
            | Reason::AlgorithmNotAllowed
            | Reason::IssuerUnknown
            | Reason::KeyUnknown
            | Reason::SignatureInvalid
            | Reason::TokenExpired
            | Reason::TokenNotYetValid
            | Reason::AudienceMismatch
            | Reason::ClaimMissing
            | Reason::ClaimInvalid
            | Reason::ClaimMismatch
            | Reason::OriginNotAllowed
            | Reason::E2eKeyInvalid
            | Reason::E2eBypassDisabled
            | Reason::ClientCertMissing
            | Reason::ClientCertInvalid
            | Reason::TokenRevoked => StatusCode::FORBIDDEN,
            Reason::TooManySessions => StatusCode::TOO_MANY_REQUESTS,
            Reason::KeysUnavailable
            | Reason::Overloaded
            | Reason::ServerShutdown
            | Reason::SessionsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Reason::UpstreamUnavailable | Reason::UpstreamRejected => StatusCode::BAD_GATEWAY,
            // Mid-session reasons never produce an HTTP response; 500 marks a bug if one does.
            Reason::SessionMaxAge
            | Reason::MessageTooBig
            | Reason::IdleTimeout
            | Reason::ProtocolError
            | Reason::SlowConsumer
            | Reason::RateLimited => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The WebSocket close code sent to the client.
    pub fn close_code(self) -> u16 {
        match self {
            Reason::TokenMissing
            | Reason::TokenMalformed
            | Reason::TokenTooLarge
            | Reason::MultipleCredentials
            | Reason::AlgorithmNotAllowed
            | Reason::IssuerUnknown
            | Reason::KeyUnknown
            | Reason::SignatureInvalid
            | Reason::TokenExpired
            | Reason::TokenNotYetValid
            | Reason::AudienceMismatch
            | Reason::ClaimMissing
            | Reason::ClaimInvalid
            | Reason::ClaimMismatch
            | Reason::OriginNotAllowed
            | Reason::E2eKeyInvalid
            | Reason::E2eBypassDisabled
            | Reason::SlowConsumer
            | Reason::RateLimited
            | Reason::ClientCertMissing
            | Reason::ClientCertInvalid
            | Reason::TokenRevoked
            | Reason::TooManySessions => 1008,
            Reason::KeysUnavailable | Reason::SessionsUnavailable => 1011,
            Reason::UpstreamUnavailable | Reason::UpstreamRejected => 1014,
            Reason::Overloaded => 1013,
            Reason::ServerShutdown | Reason::SessionMaxAge | Reason::IdleTimeout => 1001,
            Reason::MessageTooBig => 1009,
            Reason::ProtocolError => 1002,
        }
    }

    /// The RFC 6750 error attribute for `WWW-Authenticate`, or `None` when the refusal is
    /// not about the bearer token at all.
    pub fn bearer_error(self) -> Option<BearerError> {
        match self {
            Reason::TokenMissing => Some(BearerError::None),
            Reason::MultipleCredentials | Reason::TokenTooLarge => {
                Some(BearerError::InvalidRequest)
            }
            Reason::TokenMalformed
            | Reason::AlgorithmNotAllowed
            | Reason::IssuerUnknown
            | Reason::KeyUnknown
            | Reason::SignatureInvalid
            | Reason::TokenExpired
            | Reason::TokenNotYetValid
            | Reason::AudienceMismatch
            | Reason::ClaimMissing
            | Reason::ClaimInvalid => Some(BearerError::InvalidToken),
            Reason::ClaimMismatch => Some(BearerError::InsufficientScope),
            Reason::OriginNotAllowed
            | Reason::E2eKeyInvalid
            | Reason::E2eBypassDisabled
            | Reason::KeysUnavailable
            | Reason::UpstreamUnavailable
            | Reason::UpstreamRejected
            | Reason::Overloaded
            | Reason::ServerShutdown
            | Reason::SessionMaxAge
            | Reason::MessageTooBig
            | Reason::IdleTimeout
            | Reason::ProtocolError
            | Reason::SlowConsumer
            | Reason::RateLimited
            | Reason::ClientCertMissing
            | Reason::ClientCertInvalid
            | Reason::TooManySessions
            | Reason::SessionsUnavailable => None,
            Reason::TokenRevoked => Some(BearerError::InvalidToken),
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl BearerError {
    /// The `WWW-Authenticate` header value for this error.
    pub fn challenge(self, reason: Reason) -> String {
        match self {
            BearerError::None => "Bearer realm=\"wsgate\"".to_owned(),
            BearerError::InvalidRequest => format!(
                "Bearer realm=\"wsgate\", error=\"invalid_request\", error_description=\"{}\"",
                reason.as_str()
            ),
            BearerError::InvalidToken => format!(
                "Bearer realm=\"wsgate\", error=\"invalid_token\", error_description=\"{}\"",
                reason.as_str()
            ),
            BearerError::InsufficientScope => format!(
                "Bearer realm=\"wsgate\", error=\"insufficient_scope\", error_description=\"{}\"",
                reason.as_str()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            assert!(seen.insert(reason.as_str()), "duplicate code {reason}");
            assert_eq!(Reason::from_code(reason.as_str()), Some(reason));
            assert!(
                reason.as_str().len() <= 123,
                "close reason must fit a control frame"
            );
        }
    }

    #[test]
    fn refusals_before_the_handshake_are_client_or_gateway_errors() {
        assert_eq!(Reason::TokenMissing.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            Reason::KeysUnavailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(Reason::UpstreamRejected.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(Reason::Overloaded.close_code(), 1013);
        assert_eq!(Reason::UpstreamUnavailable.close_code(), 1014);
    }
}
