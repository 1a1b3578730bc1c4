//! What a client presented on its TLS connection, judged once per connection after the
//! handshake; the decision (`auth`) only reads this verdict.

/// What a client presented on its TLS connection, judged against `client_ca_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCertificate {
    /// The listener does not ask for certificates (no TLS, or no `client_ca_file`).
    NotRequested,
    /// Asked for, none presented.
    Missing,
    /// Presented, and it does not verify (unknown CA, expired, not for client auth...).
    Invalid { problem: String },
    /// Presented and verified; the identity it names (subject CN, else the first DNS,
    /// URI or email SAN), if any.
    Verified { identity: Option<String> },
}
