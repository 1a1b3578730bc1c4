//! The closed set of reasons wsgate refuses a request for, before any session exists.
//!
//! A refusal's code is defined once here and is the same string in the HTTP body, the
//! `X-Wsgate-Reason` header, the close frame of `deny = "close"`, the `reason` metric
//! label, the log line and `wsgate explain`. Every mapping below is an exhaustive `match`
//! with no wildcard arm, and every refusal has a real HTTP status: what can only end a
//! live session is a [`CloseReason`](super::close_reason::CloseReason) instead. A code
//! that can do both (`token_expired`, `token_revoked`, `server_shutdown`,
//! `upstream_unavailable`) is a variant of both, with the same string and close code.

use http::StatusCode;

/// Why a caller was turned away before the handshake completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
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

impl Refusal {
    /// Every refusal, in the order of the contract table.
    pub const ALL: [Refusal; 27] = [
        Refusal::TokenMissing,
        Refusal::TokenMalformed,
        Refusal::TokenTooLarge,
        Refusal::MultipleCredentials,
        Refusal::AlgorithmNotAllowed,
        Refusal::IssuerUnknown,
        Refusal::KeyUnknown,
        Refusal::SignatureInvalid,
        Refusal::TokenExpired,
        Refusal::TokenNotYetValid,
        Refusal::AudienceMismatch,
        Refusal::ClaimMissing,
        Refusal::ClaimInvalid,
        Refusal::ClaimMismatch,
        Refusal::OriginNotAllowed,
        Refusal::E2eKeyInvalid,
        Refusal::E2eBypassDisabled,
        Refusal::KeysUnavailable,
        Refusal::UpstreamUnavailable,
        Refusal::UpstreamRejected,
        Refusal::Overloaded,
        Refusal::ServerShutdown,
        Refusal::ClientCertMissing,
        Refusal::ClientCertInvalid,
        Refusal::TokenRevoked,
        Refusal::TooManySessions,
        Refusal::SessionsUnavailable,
    ];

    /// The stable, machine-readable code.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::TokenMissing => "token_missing",
            Refusal::TokenMalformed => "token_malformed",
            Refusal::TokenTooLarge => "token_too_large",
            Refusal::MultipleCredentials => "multiple_credentials",
            Refusal::AlgorithmNotAllowed => "algorithm_not_allowed",
            Refusal::IssuerUnknown => "issuer_unknown",
            Refusal::KeyUnknown => "key_unknown",
            Refusal::SignatureInvalid => "signature_invalid",
            Refusal::TokenExpired => "token_expired",
            Refusal::TokenNotYetValid => "token_not_yet_valid",
            Refusal::AudienceMismatch => "audience_mismatch",
            Refusal::ClaimMissing => "claim_missing",
            Refusal::ClaimInvalid => "claim_invalid",
            Refusal::ClaimMismatch => "claim_mismatch",
            Refusal::OriginNotAllowed => "origin_not_allowed",
            Refusal::E2eKeyInvalid => "e2e_key_invalid",
            Refusal::E2eBypassDisabled => "e2e_bypass_disabled",
            Refusal::KeysUnavailable => "keys_unavailable",
            Refusal::UpstreamUnavailable => "upstream_unavailable",
            Refusal::UpstreamRejected => "upstream_rejected",
            Refusal::Overloaded => "overloaded",
            Refusal::ServerShutdown => "server_shutdown",
            Refusal::ClientCertMissing => "client_cert_missing",
            Refusal::ClientCertInvalid => "client_cert_invalid",
            Refusal::TokenRevoked => "token_revoked",
            Refusal::TooManySessions => "too_many_sessions",
            Refusal::SessionsUnavailable => "sessions_unavailable",
        }
    }

    /// A human sentence for the HTTP body and `explain`. Never contains request input.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::TokenMissing => "no credential found in any configured token source",
            Refusal::TokenMalformed => "the token is not a well-formed compact JWS",
            Refusal::TokenTooLarge => "the token is longer than auth.max_token_bytes",
            Refusal::MultipleCredentials => "more than one credential was presented",
            Refusal::AlgorithmNotAllowed => "the token's algorithm is not allowed for its issuer",
            Refusal::IssuerUnknown => "the token's issuer is not trusted in this environment",
            Refusal::KeyUnknown => "no configured key matches the token",
            Refusal::SignatureInvalid => "the token's signature does not verify",
            Refusal::TokenExpired => "the token has expired",
            Refusal::TokenNotYetValid => "the token is not valid yet",
            Refusal::AudienceMismatch => "the token is not intended for this audience",
            Refusal::ClaimMissing => "a required claim is missing",
            Refusal::ClaimInvalid => "a claim has the wrong type or value",
            Refusal::ClaimMismatch => "the token's claims do not satisfy this route's requirements",
            Refusal::OriginNotAllowed => "the request's Origin is not allowed",
            Refusal::E2eKeyInvalid => "the end-to-end test bypass key is not valid",
            Refusal::E2eBypassDisabled => {
                "the end-to-end test bypass is not enabled in this environment"
            }
            Refusal::KeysUnavailable => "the issuer's keys are not available",
            Refusal::UpstreamUnavailable => "the upstream could not be reached",
            Refusal::UpstreamRejected => "the upstream's handshake response was invalid",
            Refusal::Overloaded => "the proxy is at its connection limit",
            Refusal::ServerShutdown => "the proxy is shutting down",
            Refusal::ClientCertMissing => {
                "this route needs a client certificate and none was presented"
            }
            Refusal::ClientCertInvalid => {
                "the client certificate does not verify against the configured CA"
            }
            Refusal::TokenRevoked => {
                "the token, its subject, its session or its signing key was revoked"
            }
            Refusal::TooManySessions => {
                "the identity or client address has reached its live-session limit"
            }
            Refusal::SessionsUnavailable => "the session store cannot be reached",
        }
    }

    /// The HTTP status of the refusal (`deny = "http"`, and every plain request).
    pub fn status(self) -> StatusCode {
        self.answer().0
    }

    /// The close code after the 101 in `deny = "close"` mode.
    pub fn close_code(self) -> u16 {
        self.answer().1
    }

    /// The RFC 6750 error attribute for `WWW-Authenticate`, or `None` when the refusal is
    /// not about the bearer token at all.
    pub fn bearer_error(self) -> Option<BearerError> {
        self.answer().2
    }

    /// How the refusal is answered, one row per refusal as in the contract's table: the
    /// HTTP status, the close code, and the bearer error.
    fn answer(self) -> (StatusCode, u16, Option<BearerError>) {
        use BearerError::{InsufficientScope, InvalidRequest, InvalidToken};
        const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
        const UNAVAILABLE: StatusCode = StatusCode::SERVICE_UNAVAILABLE;
        const BAD_GATEWAY: StatusCode = StatusCode::BAD_GATEWAY;
        match self {
            Refusal::TokenMissing => (FORBIDDEN, 1008, Some(BearerError::None)),
            Refusal::TokenMalformed => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::TokenTooLarge => (FORBIDDEN, 1008, Some(InvalidRequest)),
            Refusal::MultipleCredentials => (FORBIDDEN, 1008, Some(InvalidRequest)),
            Refusal::AlgorithmNotAllowed => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::IssuerUnknown => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::KeyUnknown => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::SignatureInvalid => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::TokenExpired => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::TokenNotYetValid => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::AudienceMismatch => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::ClaimMissing => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::ClaimInvalid => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::ClaimMismatch => (FORBIDDEN, 1008, Some(InsufficientScope)),
            Refusal::OriginNotAllowed => (FORBIDDEN, 1008, None),
            Refusal::E2eKeyInvalid => (FORBIDDEN, 1008, None),
            Refusal::E2eBypassDisabled => (FORBIDDEN, 1008, None),
            Refusal::KeysUnavailable => (UNAVAILABLE, 1011, None),
            Refusal::UpstreamUnavailable => (BAD_GATEWAY, 1014, None),
            Refusal::UpstreamRejected => (BAD_GATEWAY, 1014, None),
            Refusal::Overloaded => (UNAVAILABLE, 1013, None),
            Refusal::ServerShutdown => (UNAVAILABLE, 1001, None),
            Refusal::TokenRevoked => (FORBIDDEN, 1008, Some(InvalidToken)),
            Refusal::TooManySessions => (StatusCode::TOO_MANY_REQUESTS, 1008, None),
            Refusal::SessionsUnavailable => (UNAVAILABLE, 1011, None),
            Refusal::ClientCertMissing => (FORBIDDEN, 1008, None),
            Refusal::ClientCertInvalid => (FORBIDDEN, 1008, None),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl BearerError {
    /// The `WWW-Authenticate` header value for this error.
    pub fn challenge(self, reason: Refusal) -> String {
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
        for reason in Refusal::ALL {
            assert!(seen.insert(reason.as_str()), "duplicate code {reason}");
            assert!(
                reason.as_str().len() <= 123,
                "close reason must fit a control frame"
            );
        }
    }

    #[test]
    fn refusals_before_the_handshake_are_client_or_gateway_errors() {
        assert_eq!(Refusal::TokenMissing.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            Refusal::KeysUnavailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(Refusal::UpstreamRejected.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(Refusal::Overloaded.close_code(), 1013);
        assert_eq!(Refusal::UpstreamUnavailable.close_code(), 1014);
    }
}
