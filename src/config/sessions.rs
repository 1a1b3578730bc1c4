//! `[sessions]` and `[admin]`: where the live-session registry lives, its caps and
//! faults, the refresh endpoint, and the bearer token of the admin API; with their
//! `check` rendering.

use std::fmt::Write;
use std::time::Duration;

use super::Secret;

/// `[sessions]`: session control (docs/sessions.md).
#[derive(Debug, Clone)]
pub struct SessionsConfig {
    pub store: SessionStore,
    /// Live sessions per identity (`None`: no cap) → 429 `too_many_sessions`.
    pub max_per_user: Option<u32>,
    /// Live sessions per client address (`None`: no cap).
    pub max_per_client_ip: Option<u32>,
    /// `POST` here on the client listener with `X-Wsgate-Session` and a new token.
    pub refresh_path: String,
    /// What a handshake gets when the store cannot answer.
    pub on_store_error: OnStoreError,
    /// The longest any request path waits on the store.
    pub store_timeout: Duration,
}

/// Where the registry and the revocations live.
#[derive(Debug, Clone)]
pub enum SessionStore {
    /// In this process: one replica.
    Memory,
    /// Shared by every replica through Redis.
    Redis(RedisUrl),
}

/// A `redis://` or `rediss://` URL, read as a secret (it may carry a password).
#[derive(Debug, Clone)]
pub struct RedisUrl {
    pub secret: Secret,
    /// `rediss://`: TLS (rustls, the public web roots).
    pub tls: bool,
}

impl RedisUrl {
    /// The URL text. Callers must never log it: it may carry a password.
    pub fn expose(&self) -> &str {
        // Validation checked that the bytes are UTF-8.
        std::str::from_utf8(self.secret.expose()).unwrap_or("")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnStoreError {
    /// 503 `sessions_unavailable`.
    Deny,
    /// Admit without the store's checks; logged and counted.
    Allow,
}

/// `[admin]`: the admin API's bearer token. Without one, `/admin/*` answers 404.
#[derive(Debug, Clone, Default)]
pub struct AdminConfig {
    pub token: Option<Secret>,
}

impl Default for SessionsConfig {
    fn default() -> SessionsConfig {
        SessionsConfig {
            store: SessionStore::Memory,
            max_per_user: None,
            max_per_client_ip: None,
            refresh_path: DEFAULT_REFRESH_PATH.to_owned(),
            on_store_error: OnStoreError::Deny,
            store_timeout: DEFAULT_STORE_TIMEOUT,
        }
    }
}

pub const DEFAULT_REFRESH_PATH: &str = "/.wsgate/refresh";
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_millis(250);

/// How a reload names `[sessions]` and `[admin]`: read at startup only (the registry, its
/// Redis link and the admin API are built then).
pub const SESSIONS_RESTART_KEY: &str = "[sessions] and [admin] (every key)";

/// `[sessions]` and `[admin]` as `check` shows them: two configurations with the same
/// text need no restart between them.
pub fn restart_shape(config: &super::Config) -> String {
    let mut out = String::new();
    let _ = render(&mut out, &config.sessions, &config.admin);
    out
}

/// The `[sessions]` and `[admin]` tables for `check`, secrets as fingerprints.
pub(super) fn render(
    out: &mut String,
    sessions: &SessionsConfig,
    admin: &AdminConfig,
) -> std::fmt::Result {
    writeln!(out, "\n[sessions]")?;
    match &sessions.store {
        SessionStore::Memory => writeln!(out, "store = \"memory\"  # this replica only")?,
        SessionStore::Redis(url) => {
            writeln!(out, "store = \"redis\"")?;
            writeln!(
                out,
                "redis_url = \"{} from {}\"{}",
                url.secret.fingerprint(),
                url.secret.source(),
                if url.tls { "  # rediss: TLS" } else { "" }
            )?;
        }
    }
    let cap = |cap: Option<u32>| cap.map_or("0  # no cap".to_owned(), |n| n.to_string());
    writeln!(out, "max_per_user = {}", cap(sessions.max_per_user))?;
    writeln!(
        out,
        "max_per_client_ip = {}",
        cap(sessions.max_per_client_ip)
    )?;
    writeln!(
        out,
        "refresh_path = {}",
        toml::Value::String(sessions.refresh_path.clone())
    )?;
    let on_error = match sessions.on_store_error {
        OnStoreError::Deny => "deny",
        OnStoreError::Allow => "allow",
    };
    writeln!(out, "on_store_error = \"{on_error}\"")?;
    writeln!(
        out,
        "store_timeout = \"{}\"",
        humantime::format_duration(sessions.store_timeout)
    )?;
    writeln!(out, "\n[admin]")?;
    match &admin.token {
        Some(token) => writeln!(
            out,
            "token = \"{} from {}\"",
            token.fingerprint(),
            token.source()
        ),
        None => writeln!(out, "# token: not set (/admin/* answers 404)"),
    }
}
