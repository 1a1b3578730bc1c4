//! Which side ended a WebSocket session: what the relay reports, the "session closed" log
//! line's `initiator` field and the `initiator` label of `wsgate_sessions_closed_total`.

/// Who ended a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// The client sent the first close frame or dropped the connection.
    Client,
    /// The upstream sent the first close frame or dropped the connection.
    Upstream,
    /// wsgate ended it: token expiry, limits, idle timeout, shutdown, protocol error.
    Proxy,
}

impl Initiator {
    /// The `initiator` label and log field.
    pub fn as_str(self) -> &'static str {
        match self {
            Initiator::Client => "client",
            Initiator::Upstream => "upstream",
            Initiator::Proxy => "proxy",
        }
    }
}
