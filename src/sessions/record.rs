//! [`SessionRecord`]: what the registry knows about one live session, as the admin API
//! lists it and as Redis stores it; and [`Target`], the view of a session or a
//! handshake that revocations are matched against.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::domain::session_id::SessionId;

/// One live session, registered at its handshake and removed when it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub session: SessionId,
    /// The forwarded identity (`identity.user_claim`, or the bypass's test identity).
    pub user: Option<String>,
    /// The configured issuer name (never the token's own `iss`).
    pub issuer: Option<String>,
    /// The token's `sub`.
    pub subject: Option<String>,
    pub jti: Option<String>,
    pub kid: Option<String>,
    /// The configured route path.
    pub route: String,
    pub client: SocketAddr,
    /// The replica that relays the session.
    pub replica: String,
    /// Unix seconds.
    pub started_at: u64,
    /// The token's `exp` (unix seconds), moved by each refresh; `None` without a token.
    pub expires_at: Option<u64>,
}

impl SessionRecord {
    pub fn target(&self) -> Target<'_> {
        Target {
            session: Some(self.session),
            user: self.user.as_deref(),
            issuer: self.issuer.as_deref(),
            jti: self.jti.as_deref(),
            kid: self.kid.as_deref(),
        }
    }
}

/// What a revocation can name in a session or in a handshake's grant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Target<'a> {
    pub session: Option<SessionId>,
    pub user: Option<&'a str>,
    pub issuer: Option<&'a str>,
    pub jti: Option<&'a str>,
    pub kid: Option<&'a str>,
}
