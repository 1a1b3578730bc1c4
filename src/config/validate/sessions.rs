//! `[sessions]` (store, caps, refresh path, store faults) and `[admin]` (the admin API's
//! bearer token).

use super::Validator;
use crate::config::raw::{RawAdmin, RawSessions};
use crate::config::{
    AdminConfig, DEFAULT_REFRESH_PATH, OnStoreError, RedisUrl, SessionStore, SessionsConfig,
};

/// The shortest admin token accepted: a guessable bearer would open revocation to anyone
/// who can reach the admin port.
const MIN_ADMIN_TOKEN_BYTES: usize = 16;

impl Validator<'_> {
    pub(super) fn sessions(&mut self, raw: RawSessions) -> Option<SessionsConfig> {
        let mark = self.errors.len();
        let store = match raw.store.as_deref().unwrap_or("memory") {
            "memory" => {
                if raw.redis_url.is_some() {
                    self.warn(
                        "sessions.redis_url is set but sessions.store is \"memory\": Redis is not used",
                    );
                }
                Some(SessionStore::Memory)
            }
            "redis" => match &raw.redis_url {
                None => self.error(
                    "sessions.redis_url",
                    r#"is required when sessions.store = "redis"; e.g. { env = "WSGATE_REDIS_URL" }"#,
                ),
                Some(secret) => self.redis_url(secret),
            },
            other => self.error(
                "sessions.store",
                format!(r#"{other:?} is not a store; use "memory" (one replica) or "redis""#),
            ),
        };
        let max_per_user = self.cap("sessions.max_per_user", raw.max_per_user);
        let max_per_client_ip = self.cap("sessions.max_per_client_ip", raw.max_per_client_ip);
        let refresh_path = raw
            .refresh_path
            .unwrap_or_else(|| DEFAULT_REFRESH_PATH.to_owned());
        let path_ok = refresh_path.starts_with('/')
            && refresh_path.len() > 1
            && !refresh_path.contains(['?', '#'])
            && http::uri::PathAndQuery::try_from(refresh_path.as_str()).is_ok();
        if !path_ok {
            self.error::<()>(
                "sessions.refresh_path",
                format!(
                    r#"{refresh_path:?} is not a path; write an absolute path without a query, e.g. "{DEFAULT_REFRESH_PATH}""#
                ),
            );
        }
        let on_store_error = match raw.on_store_error.as_deref().unwrap_or("deny") {
            "deny" => Some(OnStoreError::Deny),
            "allow" => Some(OnStoreError::Allow),
            other => self.error(
                "sessions.on_store_error",
                format!(
                    r#"{other:?} is not a choice; use "deny" (503 sessions_unavailable) or "allow""#
                ),
            ),
        };
        let store_timeout = self.duration(
            "sessions.store_timeout",
            raw.store_timeout.as_deref(),
            "250ms",
        );
        if self.errors.len() > mark {
            return None;
        }
        Some(SessionsConfig {
            store: store?,
            max_per_user: max_per_user?,
            max_per_client_ip: max_per_client_ip?,
            refresh_path,
            on_store_error: on_store_error?,
            store_timeout: store_timeout?,
        })
    }

    pub(super) fn admin(&mut self, raw: RawAdmin) -> Option<AdminConfig> {
        let Some(raw_token) = raw.token else {
            return Some(AdminConfig { token: None });
        };
        let token = self.secret("admin.token", &raw_token)?;
        if token.expose().len() < MIN_ADMIN_TOKEN_BYTES {
            return self.error(
                "admin.token",
                format!(
                    "is {} bytes; use at least {MIN_ADMIN_TOKEN_BYTES} random bytes (e.g. `openssl rand -hex 32`)",
                    token.expose().len()
                ),
            );
        }
        Some(AdminConfig { token: Some(token) })
    }

    /// `0` (the default) means no cap.
    fn cap(&mut self, key: &str, raw: Option<i64>) -> Option<Option<u32>> {
        let value = self.integer(key, raw, 0, 0, u64::from(u32::MAX))?;
        Some(u32::try_from(value).ok().filter(|&n| n > 0))
    }

    fn redis_url(&mut self, raw: &crate::config::raw::RawSecret) -> Option<SessionStore> {
        let key = "sessions.redis_url";
        let secret = self.secret(key, raw)?;
        // The URL may carry a password: messages name its source, never its text.
        let Ok(text) = std::str::from_utf8(secret.expose()) else {
            return self.error(
                key,
                format!("the value from {} is not UTF-8 text", secret.source()),
            );
        };
        let tls = match url::Url::parse(text.trim()) {
            Ok(url) if url.scheme() == "redis" && url.host().is_some() => false,
            Ok(url) if url.scheme() == "rediss" && url.host().is_some() => true,
            Ok(_) => {
                return self.error(
                    key,
                    format!(
                        "the URL from {} must be redis://HOST[:PORT][/DB] or rediss://HOST[:PORT][/DB]",
                        secret.source()
                    ),
                );
            }
            Err(error) => {
                return self.error(
                    key,
                    format!("the URL from {} is not a URL ({error})", secret.source()),
                );
            }
        };
        Some(SessionStore::Redis(RedisUrl { secret, tls }))
    }
}
