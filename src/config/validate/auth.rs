//! `[auth]`: deny mode, token sources, origins, limits and `[[auth.issuers]]` with their
//! key material. The HMAC secret rules defend against algorithm confusion
//! (RFC 8725 §3.5: a public key used as an HMAC secret) and guessable secrets (§2.2).

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};

use super::Validator;
use super::identity::is_reserved_header;
use crate::config::raw::{RawAuth, RawIssuer, RawSecret};
use crate::config::{
    AuthConfig, DenyMode, IssuerConfig, KeySource, RemoteLocation, RemoteSource, Secret,
    SecretSource, SessionExpiry, TokenSource, is_allowed_key_url,
};

/// HS256 needs a key at least as long as its output (RFC 7518 §3.2).
pub(super) const MIN_SECRET_BYTES: usize = 32;
const MAX_LEEWAY: Duration = Duration::from_secs(300);
const ALGORITHM_NAMES: &str =
    "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA";

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

    fn issuer(&mut self, index: usize, raw: RawIssuer, environment: &str) -> Option<IssuerConfig> {
        let key = format!("auth.issuers[{index}]");
        let mark = self.errors.len();

        let name = match raw.name {
            None => self.error(
                format!("{key}.name"),
                r#"is required, e.g. name = "primary" (used in logs and metrics)"#,
            ),
            Some(name) if is_label(&name) => Some(name),
            Some(name) => self.error(
                format!("{key}.name"),
                format!(
                    "{name:?} must be 1-64 characters of a-z, 0-9, _ and - (it labels metrics)"
                ),
            ),
        };
        let issuer = match raw.issuer {
            None => self.error(
                format!("{key}.issuer"),
                r#"is required: the exact iss value, e.g. "https://auth.example.com""#,
            ),
            Some(issuer) if issuer.is_empty() => self.error(
                format!("{key}.issuer"),
                "is empty; give the exact iss value",
            ),
            Some(issuer) => Some(issuer),
        };
        let audiences = raw.audiences.unwrap_or_default();
        if audiences.iter().any(String::is_empty) {
            self.error::<()>(format!("{key}.audiences"), "contains an empty audience");
        }
        let environments = raw.environments.unwrap_or_default();
        if environments.iter().any(|e| e.trim().is_empty()) {
            self.error::<()>(
                format!("{key}.environments"),
                "contains an empty environment name",
            );
        }
        let typ = match raw.typ {
            Some(typ) if typ.is_empty() => self.error(
                format!("{key}.typ"),
                "is empty; remove it or give e.g. \"at+jwt\"",
            ),
            typ => Some(typ),
        };
        let algorithms = self.algorithms(&key, raw.algorithms);
        let family = algorithms
            .as_ref()
            .and_then(|a| a.first())
            .map(|a| a.family());

        let kid = match raw.kid {
            Some(kid) if kid.is_empty() => self.error(
                format!("{key}.kid"),
                "is empty; remove it or give the key id",
            ),
            kid => Some(kid),
        };
        let enabled = environments.is_empty() || environments.iter().any(|e| e == environment);
        let keys = self.key_source(
            &key,
            KeyFields {
                secret: raw.secret,
                public_key_file: raw.public_key_file,
                jwks_file: raw.jwks_file,
                jwks_url: raw.jwks_url,
                discovery_url: raw.discovery_url,
                timing: RemoteTiming {
                    refresh: raw.jwks_refresh,
                    cooldown: raw.jwks_cooldown,
                    max_stale: raw.jwks_max_stale,
                    timeout: raw.jwks_timeout,
                },
                kid: kid.flatten(),
            },
            family,
            enabled,
        );

        if self.errors.len() > mark {
            return None;
        }
        let name = name?;
        if audiences.is_empty() {
            self.warn(format!(
                "{key} ({name}) has no audiences: aud is not checked, so a token this issuer minted for another service is accepted"
            ));
        }
        Some(IssuerConfig {
            name,
            issuer: issuer?,
            audiences,
            algorithms: algorithms?,
            keys: keys?,
            typ: typ?,
            environments,
            enabled,
        })
    }

    fn algorithms(&mut self, key: &str, raw: Option<Vec<String>>) -> Option<Vec<Algorithm>> {
        let key = format!("{key}.algorithms");
        let raw = match raw {
            None => return self.error(key, r#"is required, e.g. ["RS256"] or ["HS256"]"#),
            Some(raw) if raw.is_empty() => {
                return self.error(key, r#"is empty; list at least one, e.g. ["RS256"]"#);
            }
            Some(raw) => raw,
        };
        let mut algorithms: Vec<Algorithm> = Vec::new();
        let mut ok = true;
        for name in &raw {
            if name.eq_ignore_ascii_case("none") {
                ok = false;
                self.error::<()>(key.clone(), r#""none" (unsigned tokens) is never allowed"#);
                continue;
            }
            match Algorithm::from_str(name) {
                Ok(algorithm) if !algorithms.contains(&algorithm) => algorithms.push(algorithm),
                Ok(_) => {}
                Err(_) => {
                    ok = false;
                    self.error::<()>(
                        key.clone(),
                        format!("unknown algorithm {name:?}; supported (exact spelling): {ALGORITHM_NAMES}"),
                    );
                }
            }
        }
        if !ok {
            return None;
        }
        let first = algorithms.first()?.family();
        if algorithms.iter().any(|a| a.family() != first) {
            let mixes_hmac = algorithms
                .iter()
                .any(|a| a.family() == AlgorithmFamily::Hmac);
            let why = if mixes_hmac {
                "mixes HMAC and public-key algorithms, which lets a public key be used as an HMAC secret (algorithm confusion)"
            } else {
                "mixes public-key families, but one issuer's key material is one family"
            };
            return self.error(
                key,
                format!(
                    "{why}; use one family per issuer and declare a second issuer for the other"
                ),
            );
        }
        Some(algorithms)
    }

    /// The issuer's key material. `load` is false for an issuer disabled in this
    /// environment: its shape is checked but nothing is read, so a staging-only issuer's
    /// variable need not exist in production (its `KeySource` then holds no bytes).
    fn key_source(
        &mut self,
        key: &str,
        fields: KeyFields,
        family: Option<AlgorithmFamily>,
        load: bool,
    ) -> Option<KeySource> {
        let given: Vec<&str> = [
            ("secret", fields.secret.is_some()),
            ("public_key_file", fields.public_key_file.is_some()),
            ("jwks_file", fields.jwks_file.is_some()),
            ("jwks_url", fields.jwks_url.is_some()),
            ("discovery_url", fields.discovery_url.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect();
        match given.as_slice() {
            [] => {
                return self.error(
                    key,
                    r#"has no key source; set exactly one of secret = { env = "VAR" }, public_key_file, jwks_file, jwks_url or discovery_url"#,
                );
            }
            [_] => {}
            several => {
                return self.error(
                    key,
                    format!(
                        "has several key sources ({}); set exactly one",
                        several.join(", ")
                    ),
                );
            }
        }
        let remote = fields.jwks_url.is_some() || fields.discovery_url.is_some();
        if !remote {
            for (name, set) in fields.timing.given() {
                if set {
                    self.error::<()>(
                        format!("{key}.{name}"),
                        "applies only to jwks_url and discovery_url; remove it",
                    );
                }
            }
        }
        let hmac = family == Some(AlgorithmFamily::Hmac);
        if let Some(raw) = fields.secret {
            let key = format!("{key}.secret");
            if family.is_some() && !hmac {
                return self.error(
                    key,
                    "is an HMAC key but algorithms are public-key ones; use public_key_file or jwks_file, or HS256",
                );
            }
            if !load {
                let secret = Secret::new(unloaded_source(&raw, self), Vec::new());
                return Some(KeySource::Secret {
                    secret,
                    kid: fields.kid,
                });
            }
            let secret = self.secret(&key, &raw)?;
            if let Some(problem) = hmac_secret_problem(secret.expose()) {
                return self.error(key, format!("{} {problem}", secret.source()));
            }
            return Some(KeySource::Secret {
                secret,
                kid: fields.kid,
            });
        }
        let what = given[0];
        if hmac {
            return self.error(
                format!("{key}.{what}"),
                "HS algorithms verify with a shared secret, not a public key; use secret = { env = \"VAR\" } or public-key algorithms",
            );
        }
        if let Some(path) = fields.public_key_file {
            if !load {
                let path = self.resolve_path(&path);
                return Some(KeySource::PublicKeyFile {
                    path,
                    pem: Vec::new(),
                    kid: fields.kid,
                });
            }
            let (path, pem) = self.read_file(&format!("{key}.public_key_file"), &path)?;
            return Some(KeySource::PublicKeyFile {
                path,
                pem,
                kid: fields.kid,
            });
        }
        if fields.kid.is_some() {
            return self.error(
                format!("{key}.kid"),
                "applies to secret and public_key_file; a JWKS names its own kids",
            );
        }
        if remote {
            return self.remote_source(key, fields);
        }
        let path = fields.jwks_file?;
        if !load {
            let path = self.resolve_path(&path);
            return Some(KeySource::JwksFile {
                path,
                json: Vec::new(),
            });
        }
        let (path, json) = self.read_file(&format!("{key}.jwks_file"), &path)?;
        Some(KeySource::JwksFile { path, json })
    }
}

/// Where an unread secret would come from, for `check`'s output.
fn unloaded_source(raw: &RawSecret, validator: &Validator<'_>) -> SecretSource {
    match raw {
        RawSecret::Env(name) => SecretSource::Env(name.clone()),
        RawSecret::File(path) => SecretSource::File(validator.resolve_path(path)),
        RawSecret::Literal(_) => SecretSource::Literal,
    }
}

struct KeyFields {
    secret: Option<RawSecret>,
    public_key_file: Option<String>,
    jwks_file: Option<String>,
    jwks_url: Option<String>,
    discovery_url: Option<String>,
    timing: RemoteTiming,
    kid: Option<String>,
}

/// `jwks_refresh`, `jwks_cooldown`, `jwks_max_stale`, `jwks_timeout` as written.
struct RemoteTiming {
    refresh: Option<String>,
    cooldown: Option<String>,
    max_stale: Option<String>,
    timeout: Option<String>,
}

impl RemoteTiming {
    fn given(&self) -> [(&'static str, bool); 4] {
        [
            ("jwks_refresh", self.refresh.is_some()),
            ("jwks_cooldown", self.cooldown.is_some()),
            ("jwks_max_stale", self.max_stale.is_some()),
            ("jwks_timeout", self.timeout.is_some()),
        ]
    }
}

/// A fetch may hold up the handshakes waiting for it; longer than this is a mistake.
const MAX_JWKS_TIMEOUT: Duration = Duration::from_secs(60);

impl Validator<'_> {
    /// `jwks_url` or `discovery_url` with its timing keys. Nothing is fetched here: keys
    /// arrive when the server runs (`auth/remote.rs`).
    fn remote_source(&mut self, key: &str, fields: KeyFields) -> Option<KeySource> {
        let (name, text, wrap): (_, _, fn(url::Url) -> RemoteLocation) =
            match (fields.jwks_url, fields.discovery_url) {
                (Some(text), _) => ("jwks_url", text, RemoteLocation::Jwks),
                (None, Some(text)) => ("discovery_url", text, RemoteLocation::Discovery),
                (None, None) => return None,
            };
        let location = self.key_url(&format!("{key}.{name}"), &text).map(wrap);
        let timing = fields.timing;
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
        if let (Some(refresh), Some(max_stale)) = (refresh, max_stale) {
            if max_stale < refresh {
                return self.error(
                    format!("{key}.jwks_max_stale"),
                    format!(
                        "({}) is shorter than jwks_refresh ({}): cached keys would be dropped before the next refresh; raise jwks_max_stale or lower jwks_refresh",
                        humantime::format_duration(max_stale),
                        humantime::format_duration(refresh)
                    ),
                );
            }
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
        }))
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

/// Why `bytes` must not be an HMAC secret, phrased to follow the secret's source.
fn hmac_secret_problem(bytes: &[u8]) -> Option<String> {
    let start = bytes.trim_ascii_start();
    if start.starts_with(b"-----BEGIN") {
        return Some(
            "looks like a PEM key; a public key used as an HMAC secret lets anyone who has it forge tokens (RFC 8725 §3.5). Use public_key_file with RS*/ES* algorithms, or a random secret".to_owned(),
        );
    }
    if start.starts_with(b"{") {
        return Some(
            "looks like a JSON/JWK object; put key sets in jwks_file with public-key algorithms, or use a random secret".to_owned(),
        );
    }
    if looks_like_der(bytes) {
        return Some(
            "looks like a DER-encoded key; a key used as an HMAC secret invites algorithm confusion (RFC 8725 §3.5). Use a random secret".to_owned(),
        );
    }
    weak_secret_problem(bytes)
}

/// Length and variety rules shared by HMAC secrets and bypass keys.
pub(super) fn weak_secret_problem(bytes: &[u8]) -> Option<String> {
    if bytes.len() < MIN_SECRET_BYTES {
        return Some(format!(
            "is {} bytes; at least {MIN_SECRET_BYTES} are required (generate one with `openssl rand -base64 32`)",
            bytes.len()
        ));
    }
    let distinct = bytes.iter().collect::<HashSet<_>>().len();
    if distinct < 8 {
        return Some(format!(
            "uses only {distinct} distinct byte values, which looks like a placeholder; generate one with `openssl rand -base64 32`"
        ));
    }
    None
}

/// A DER SEQUENCE whose declared length covers exactly the whole value.
fn looks_like_der(bytes: &[u8]) -> bool {
    match bytes {
        [0x30, 0x81, len, rest @ ..] => usize::from(*len) == rest.len(),
        [0x30, 0x82, hi, lo, rest @ ..] => {
            usize::from(u16::from_be_bytes([*hi, *lo])) == rest.len()
        }
        _ => false,
    }
}

/// RFC 9110 `token`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Names that end up in metric labels: `[a-z0-9_-]{1,64}`.
pub(super) fn is_label(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
