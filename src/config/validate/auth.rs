//! `[auth]`: deny mode, token sources, origins and limits. The issuers and their key
//! material are in `issuers.rs`.

use std::collections::HashSet;
use std::time::Duration;

use super::Validator;
use super::rules::{is_reserved_header, is_token};
use crate::config::raw::RawAuth;
use crate::config::{AuthConfig, DenyMode, IssuerConfig, SessionExpiry, TokenSource};

const MAX_LEEWAY: Duration = Duration::from_secs(300);

impl Validator<'_> {
    pub(super) fn auth(&mut self, raw: RawAuth, environment: &str) -> Option<AuthConfig> {
        let mark = self.errors.len();
        let deny = match raw.deny.as_deref() {
            None | Some("http") => Some(DenyMode::Http),
            Some("close") => Some(DenyMode::Close),
            Some(other) => self.error(
                "auth.deny",
                format!(r#"{other:?} is not "http" (status before the handshake) or "close" (101, then close 1008)"#),
            ),
        };
        let session_expiry = match raw.session_expiry.as_deref() {
            None | Some("close") => Some(SessionExpiry::Close),
            Some("keep") => Some(SessionExpiry::Keep),
            Some(other) => self.error(
                "auth.session_expiry",
                format!(r#"{other:?} is not "close" or "keep""#),
            ),
        };
        let token_sources = self.token_sources(raw.token_sources);
        let leeway =
            self.duration_allow_zero("auth.leeway", raw.leeway.as_deref().unwrap_or("30s"));
        if leeway.is_some_and(|l| l > MAX_LEEWAY) {
            self.error::<()>(
                "auth.leeway",
                "is longer than 5m; leeway only absorbs clock skew, a long one keeps expired tokens alive",
            );
        }
        let max_token_bytes = self.integer(
            "auth.max_token_bytes",
            raw.max_token_bytes,
            8192,
            256,
            65536,
        );
        let token_cache_size = self.integer(
            "auth.token_cache_size",
            raw.token_cache_size,
            0,
            0,
            1_000_000,
        );
        let allowed_origins = self.origins(raw.allowed_origins.unwrap_or_default());
        let max_lifetime = match raw.max_lifetime.as_deref() {
            None => Some(None),
            Some(text) => self
                .duration("auth.max_lifetime", Some(text), "1h")
                .map(Some),
        };

        if let (Some(sources), Some(origins)) = (&token_sources, &allowed_origins) {
            let cookie = sources.iter().find(|s| matches!(s, TokenSource::Cookie(_)));
            if let (Some(TokenSource::Cookie(name)), true) = (cookie, origins.is_empty()) {
                self.error::<()>(
                    "auth.allowed_origins",
                    format!(
                        "is empty but auth.token_sources has cookie:{name}; browsers send cookies on cross-site WebSocket upgrades (cross-site WebSocket hijacking), so list the origins allowed to connect, e.g. [\"https://app.example.com\"]"
                    ),
                );
            }
            for source in sources {
                if let TokenSource::Query(name) = source {
                    self.warn(format!(
                        "auth.token_sources has query:{name}: tokens in URLs end up in access logs and proxy logs; prefer protocol:MARKER for browsers"
                    ));
                }
            }
        }

        let mut issuers = Vec::new();
        let mut names = HashSet::new();
        for (index, raw) in raw.issuers.into_iter().enumerate() {
            let Some(issuer) = self.issuer(index, raw, environment) else {
                continue;
            };
            if !names.insert(issuer.name.clone()) {
                self.error::<()>(
                    format!("auth.issuers[{index}].name"),
                    format!(
                        "{:?} is used by another issuer; names must be unique (they label metrics)",
                        issuer.name
                    ),
                );
            }
            let clash = issuers.iter().find(|other: &&IssuerConfig| {
                other.enabled && issuer.enabled && other.issuer == issuer.issuer
            });
            if let Some(other) = clash {
                self.error::<()>(
                    format!("auth.issuers[{index}].issuer"),
                    format!(
                        "{:?} is also the issuer of {:?}, and both are enabled in environment {environment:?}; a token's iss selects one issuer, so merge them or scope them with environments",
                        issuer.issuer, other.name
                    ),
                );
            }
            issuers.push(issuer);
        }

        if self.errors.len() > mark {
            return None;
        }
        Some(AuthConfig {
            deny: deny?,
            token_sources: token_sources?,
            leeway: leeway?,
            session_expiry: session_expiry?,
            max_token_bytes: usize::try_from(max_token_bytes?).ok()?,
            token_cache_size: usize::try_from(token_cache_size?).ok()?,
            allowed_origins: allowed_origins?,
            forward_token: raw.forward_token.unwrap_or(false),
            max_lifetime: max_lifetime?,
            issuers,
        })
    }

    fn token_sources(&mut self, raw: Option<Vec<String>>) -> Option<Vec<TokenSource>> {
        let raw = raw.unwrap_or_else(|| vec!["header:authorization".to_owned()]);
        if raw.is_empty() {
            return self.error(
                "auth.token_sources",
                r#"is empty; list at least one, e.g. ["header:authorization"]"#,
            );
        }
        let mark = self.errors.len();
        let mut sources: Vec<TokenSource> = Vec::new();
        for (index, text) in raw.iter().enumerate() {
            let key = format!("auth.token_sources[{index}]");
            let Some(source) = self.token_source(&key, text) else {
                continue;
            };
            if sources.contains(&source) {
                self.error::<()>(key, format!("{text:?} is listed twice"));
            } else {
                sources.push(source);
            }
        }
        (self.errors.len() == mark).then_some(sources)
    }

    fn token_source(&mut self, key: &str, text: &str) -> Option<TokenSource> {
        let Some((kind, name)) = text.split_once(':') else {
            return self.error(
                key,
                format!(r#"{text:?} has no kind; write "header:NAME", "protocol:MARKER", "query:NAME" or "cookie:NAME""#),
            );
        };
        if name.is_empty() {
            return self.error(key, format!("{text:?} names nothing after the colon"));
        }
        match kind {
            "header" => {
                let header = self.header_name(key, name)?;
                match header.as_str() {
                    "cookie" => self.error(key, format!("{text:?}: use cookie:NAME to read a token from a cookie")),
                    "sec-websocket-protocol" => {
                        self.error(key, format!("{text:?}: use protocol:MARKER for subprotocol tokens"))
                    }
                    "authorization" => Some(TokenSource::Header(header)),
                    _ if is_reserved_header(header.as_str()) => self.error(
                        key,
                        format!("{text:?} is a connection or forwarding header, which cannot carry a token"),
                    ),
                    _ => Some(TokenSource::Header(header)),
                }
            }
            "protocol" if is_token(name) => Some(TokenSource::Protocol(name.to_owned())),
            "cookie" if is_token(name) => Some(TokenSource::Cookie(name.to_owned())),
            "protocol" | "cookie" => self.error(
                key,
                format!(
                    "{text:?}: {kind} names are HTTP tokens (letters, digits and !#$%&'*+-.^_`|~)"
                ),
            ),
            "query"
                if name
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && !b"&=#?%+".contains(&b)) =>
            {
                Some(TokenSource::Query(name.to_owned()))
            }
            "query" => self.error(
                key,
                format!("{text:?}: a query parameter name must be plain (no spaces or &=#?%+)"),
            ),
            other => self.error(
                key,
                format!(r#"unknown kind {other:?}; use "header", "protocol", "query" or "cookie""#),
            ),
        }
    }

    /// Browsers send `Origin: scheme://host[:port]`; compare on that exact normalised form.
    fn origins(&mut self, raw: Vec<String>) -> Option<Vec<String>> {
        let mark = self.errors.len();
        let mut origins: Vec<String> = Vec::new();
        for (index, text) in raw.iter().enumerate() {
            let key = format!("auth.allowed_origins[{index}]");
            let Some(origin) = self.origin(&key, text) else {
                continue;
            };
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        (self.errors.len() == mark).then_some(origins)
    }

    fn origin(&mut self, key: &str, text: &str) -> Option<String> {
        match text {
            "*" => {
                return self.error(
                    key,
                    r#""*" would allow every site; list each origin, or leave allowed_origins empty to skip the check"#,
                );
            }
            "null" => {
                return self.error(
                    key,
                    r#""null" is sent by sandboxed iframes and file:// pages, which any site can produce; it cannot be allowed"#,
                );
            }
            _ => {}
        }
        let url = match url::Url::parse(text) {
            Ok(url) => url,
            Err(err) => {
                return self.error(
                    key,
                    format!(
                        r#"{text:?} is not an origin ({err}); write "https://app.example.com""#
                    ),
                );
            }
        };
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return self.error(
                key,
                format!("{text:?} has no host; write \"https://app.example.com\""),
            );
        };
        let plain = url.username().is_empty()
            && url.password().is_none()
            && matches!(url.path(), "" | "/")
            && url.query().is_none()
            && url.fragment().is_none();
        if !plain {
            return self.error(
                key,
                format!(r#"{text:?} is not a bare origin: write scheme://host[:port] only, e.g. "https://app.example.com""#),
            );
        }
        // `url` lowercases special schemes' hosts and drops their default ports already.
        let host = host.to_ascii_lowercase();
        Some(match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        })
    }
}
