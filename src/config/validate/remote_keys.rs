//! An issuer's remote key set (`jwks_url` or `discovery_url`): the URL rules, the
//! refresh timing keys and the CA file trusted for the fetches. Nothing is fetched here.

use std::path::PathBuf;
use std::time::Duration;

use super::Validator;
use crate::config::{KeySource, RemoteLocation, RemoteSource, is_allowed_key_url};

/// `jwks_refresh`, `jwks_cooldown`, `jwks_max_stale`, `jwks_timeout`, `jwks_ca_file` as
/// written: the keys that only a remote key set uses.
pub(super) struct RemoteTiming {
    pub(super) refresh: Option<String>,
    pub(super) cooldown: Option<String>,
    pub(super) max_stale: Option<String>,
    pub(super) timeout: Option<String>,
    pub(super) ca_file: Option<String>,
}

impl RemoteTiming {
    pub(super) fn given(&self) -> [(&'static str, bool); 5] {
        [
            ("jwks_refresh", self.refresh.is_some()),
            ("jwks_cooldown", self.cooldown.is_some()),
            ("jwks_max_stale", self.max_stale.is_some()),
            ("jwks_timeout", self.timeout.is_some()),
            ("jwks_ca_file", self.ca_file.is_some()),
        ]
    }
}

/// A fetch may hold up the handshakes waiting for it; longer than this is a mistake.
pub(super) const MAX_JWKS_TIMEOUT: Duration = Duration::from_secs(60);

impl Validator<'_> {
    /// `jwks_url` or `discovery_url` with its timing keys and CA file (read only where the
    /// issuer is enabled, `load`). Nothing is fetched here: keys arrive when the server
    /// runs (`auth/remote.rs`).
    pub(super) fn remote_source(
        &mut self,
        key: &str,
        jwks_url: Option<String>,
        discovery_url: Option<String>,
        timing: RemoteTiming,
        load: bool,
    ) -> Option<KeySource> {
        let (name, text, wrap): (_, _, fn(url::Url) -> RemoteLocation) =
            match (jwks_url, discovery_url) {
                (Some(text), _) => ("jwks_url", text, RemoteLocation::Jwks),
                (None, Some(text)) => ("discovery_url", text, RemoteLocation::Discovery),
                (None, None) => return None,
            };
        let location = self.key_url(&format!("{key}.{name}"), &text).map(wrap);
        let ca_file = self.jwks_ca_file(key, name, &text, timing.ca_file.as_deref(), load);
        let refresh = self.duration(
            &format!("{key}.jwks_refresh"),
            timing.refresh.as_deref(),
            "10m",
        );
        let cooldown = self.duration(
            &format!("{key}.jwks_cooldown"),
            timing.cooldown.as_deref(),
            "30s",
        );
        let max_stale = self.duration(
            &format!("{key}.jwks_max_stale"),
            timing.max_stale.as_deref(),
            "24h",
        );
        let timeout = self.duration(
            &format!("{key}.jwks_timeout"),
            timing.timeout.as_deref(),
            "5s",
        );
        if let (Some(refresh), Some(max_stale)) = (refresh, max_stale)
            && max_stale < refresh
        {
            return self.error(
                format!("{key}.jwks_max_stale"),
                format!(
                    "({}) is shorter than jwks_refresh ({}): cached keys would be dropped before the next refresh; raise jwks_max_stale or lower jwks_refresh",
                    humantime::format_duration(max_stale),
                    humantime::format_duration(refresh)
                ),
            );
        }
        if timeout.is_some_and(|t| t > MAX_JWKS_TIMEOUT) {
            return self.error(
                format!("{key}.jwks_timeout"),
                "is longer than 60s; handshakes that wait for a fetch wait this long, so keep it short (e.g. \"5s\")",
            );
        }
        Some(KeySource::Remote(RemoteSource {
            location: location?,
            refresh: refresh?,
            cooldown: cooldown?,
            max_stale: max_stale?,
            timeout: timeout?,
            ca_file: ca_file?,
        }))
    }

    /// An issuer's `jwks_ca_file` for its key URL `url` (the `name` key): a CA file, for
    /// https only; not read (only resolved) when the issuer is disabled here (`!load`).
    fn jwks_ca_file(
        &mut self,
        issuer_key: &str,
        name: &str,
        url: &str,
        path: Option<&str>,
        load: bool,
    ) -> Option<Option<PathBuf>> {
        let key = format!("{issuer_key}.jwks_ca_file");
        match path {
            None => Some(None),
            Some(_) if url.starts_with("http:") => {
                self.error(key, format!("is only used for https; {name} is http"))
            }
            Some(path) if !load => Some(Some(self.resolve_path(path))),
            Some(path) => self.ca_file(&key, path).map(Some),
        }
    }

    /// An absolute https URL (http only for a loopback host), without credentials or
    /// fragment.
    fn key_url(&mut self, key: &str, text: &str) -> Option<url::Url> {
        let url = match url::Url::parse(text) {
            Ok(url) => url,
            Err(err) => {
                return self.error(
                    key,
                    format!("{text:?} is not a URL ({err}); write e.g. \"https://auth.example.com/.well-known/jwks.json\""),
                );
            }
        };
        if url.scheme() == "http" && !is_allowed_key_url(&url) {
            return self.error(
                key,
                format!("{text:?} uses http; keys must come over https (plain http is accepted only for localhost and loopback addresses, for tests)"),
            );
        }
        if !is_allowed_key_url(&url) {
            return self.error(
                key,
                format!("{text:?} must be an https URL with a host, e.g. \"https://auth.example.com/.well-known/jwks.json\""),
            );
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return self.error(
                key,
                format!("{text:?} must not carry credentials (user:password@) or a #fragment"),
            );
        }
        Some(url)
    }
}
