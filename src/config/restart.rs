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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_keys_bound_at_startup_need_a_restart() {
        let text = "environment = \"staging\"\n[upstream]\nurl = \"ws://u\"\n[[routes]]\npath = \"/\"\nauth = \"none\"\n";
        let parse = |server: &str| {
            let text = format!("{text}[server]\n{server}\n");
            crate::config::Config::parse(&text, "t", &|_| None, std::path::Path::new("."))
                .unwrap_or_else(|errors| panic!("{errors}"))
                .server
        };
        let running = parse("listen = \"127.0.0.1:1\"");
        let reloadable = parse(
            "listen = \"127.0.0.1:1\"\nhandshake_timeout = \"3s\"\ndrain_timeout = \"1s\"\nidle_timeout = \"9s\"\ntrust_forwarded_headers = true",
        );
        assert!(restart_required(&running, &reloadable).is_empty());
        let moved = parse("listen = \"127.0.0.1:2\"\nmax_connections = 3");
        assert_eq!(
            restart_required(&running, &moved),
            ["server.listen", "server.max_connections"]
        );
    }
}
