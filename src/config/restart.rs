//! Which keys a reload cannot apply. Everything else in a new configuration takes effect
//! for new connections and sessions (`handshake_timeout` for the next handshake,
//! `drain_timeout` at the drain, relay limits for the next session); these are bound to
//! what was set up at startup: the listening sockets and the connection limit's
//! semaphore, and whether the client listener speaks TLS at all.

use super::ServerConfig;

/// Every key a reload cannot apply, as `check` and the docs name them.
pub const RESTART_KEYS: [&str; 4] = [
    "server.listen",
    "server.admin_listen",
    "server.max_connections",
    "server.tls (on or off)",
];

/// The keys whose value in `new` differs from the `running` one and needs a restart.
pub fn restart_required(running: &ServerConfig, new: &ServerConfig) -> Vec<&'static str> {
    let changed = [
        running.listen != new.listen,
        running.admin_listen != new.admin_listen,
        running.max_connections != new.max_connections,
        running.tls.is_some() != new.tls.is_some(),
    ];
    RESTART_KEYS
        .into_iter()
        .zip(changed)
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}
