//! The validated configuration: what wsgate runs on once a TOML file has been parsed.
//!
//! `raw.rs` holds the serde mirror of the file (`deny_unknown_fields`); `validate.rs`
//! converts it once into these types, collecting every problem with the key that caused
//! it. Nothing downstream re-checks a value: a `Config` that exists is usable.

mod assertion;
mod files;
mod raw;
mod restart;
mod secret;
mod sessions;
mod validate;

pub mod render;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::Algorithm;

pub use crate::jose::signing_key::AssertionAlgorithm;
pub use assertion::{AssertionConfig, KeyFile, MAX_TTL as MAX_ASSERTION_TTL, RESERVED_CLAIMS};
pub use restart::{RESTART_KEYS, restart_required};
pub use secret::{Secret, SecretSource, fingerprint};
pub use sessions::{
    AdminConfig, DEFAULT_REFRESH_PATH, DEFAULT_STORE_TIMEOUT, OnStoreError, RedisUrl,
    SESSIONS_RESTART_KEY, SessionStore, SessionsConfig, restart_shape,
};
pub use validate::{ConfigError, ConfigErrors, Environment};

/// The environment label that forbids the E2E bypass and `mint`.
pub const PRODUCTION: &str = "production";

/// A complete, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Free label (`production`, `staging`, ...). Scopes issuers and the bypass.
    pub environment: String,
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    pub auth: AuthConfig,
    pub identity: IdentityConfig,
    pub e2e_bypass: BypassConfig,
    /// In file order: the first prefix match wins.
    pub routes: Vec<RouteConfig>,
    /// `[sessions]`: the live-session registry, caps, refresh.
    pub sessions: SessionsConfig,
    /// `[admin]`: the admin API's bearer token.
    pub admin: AdminConfig,
    /// Things that work but deserve attention (`check` prints them), e.g. a literal secret.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where clients connect. The `PORT` env var overrides the port.
    pub listen: SocketAddr,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub admin_listen: SocketAddr,
    pub max_connections: usize,
    /// Time allowed from accept until the client's 101 (headers, auth, upstream dial).
    pub handshake_timeout: Duration,
    pub drain_timeout: Duration,
    /// `None` means unlimited.
    pub max_session_duration: Option<Duration>,
    /// `None` means unlimited.
    pub idle_timeout: Option<Duration>,
    pub max_frame_bytes: u64,
    pub max_message_bytes: u64,
    /// A peer that accepts none of the bytes waiting for it for this long is a slow
    /// consumer: 1008 `slow_consumer`. `None` means no limit (backpressure still holds).
    pub send_timeout: Option<Duration>,
    /// Pings a client may send per second (bursts up to the same number); one more ends
    /// the session with 1008 `rate_limited`.
    pub max_pings_per_second: u32,
    pub tls: Option<TlsFiles>,
    /// Keep and extend the client's `X-Forwarded-*` (behind a trusted front end such as
    /// Cloud Run's or an ingress) instead of replacing them.
    pub trust_forwarded_headers: bool,
}

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Client certificates are asked for and verified against these CAs (mTLS).
    pub client_ca_file: Option<PathBuf>,
    /// Meaningful with `client_ca_file` only.
    pub client_auth: ClientAuth,
}

/// Which requests on the TLS listener need a verified client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every request: none presented is 403 `client_cert_missing`, one that does not
    /// verify is 403 `client_cert_invalid`.
    Required,
    /// Only routes with `client_cert = "required"`; elsewhere a certificate is optional.
    Optional,
}

/// A certificate chain and its private key (PEM), e.g. wsgate's client certificate
/// toward the upstream.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// `ws`, `wss`, `http` or `https`; the path is prepended to the client's path when not `/`.
    pub url: url::Url,
    /// `true` for `wss`/`https`.
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// The path prefix taken from the URL, without a trailing slash ("" for `/`).
    pub base_path: String,
    pub connect_timeout: Duration,
    /// Plain HTTP: time from sending the request to the upstream's response headers.
    pub response_timeout: Duration,
    /// Forward the client's `Host` header instead of the upstream's authority.
    pub preserve_host: bool,
    /// `wss`/`https` only: trust exactly the certificates in this PEM file (a private CA,
    /// or the upstream's own self-signed certificate) instead of the public web roots.
    pub ca_file: Option<PathBuf>,
    /// `wss`/`https` only: the certificate wsgate presents to the upstream (mTLS).
    pub client_cert: Option<CertificateFiles>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyMode {
    /// Refuse with an HTTP status before the handshake.
    Http,
    /// Complete the handshake, then close with 1008 (browsers cannot read a 403 body).
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionExpiry {
    /// Close the session when the token's `exp` (+ leeway) passes.
    Close,
    /// Let the session outlive its token.
    Keep,
}

/// Where a token may come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `header:NAME`. For `Authorization` the `Bearer` scheme is required (case-insensitive).
    Header(HeaderName),
    /// `protocol:MARKER`: `Sec-WebSocket-Protocol: MARKER, <jwt>[, app protocols]`.
    Protocol(String),
    /// `query:NAME`.
    Query(String),
    /// `cookie:NAME`.
    Cookie(String),
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub deny: DenyMode,
    pub token_sources: Vec<TokenSource>,
    pub leeway: Duration,
    pub session_expiry: SessionExpiry,
    pub max_token_bytes: usize,
    /// Verified tokens remembered (src/auth/cache.rs); 0: no cache.
    pub token_cache_size: usize,
    /// Normalised `scheme://host[:port]`, lowercase, default ports removed. Empty: no check.
    pub allowed_origins: Vec<String>,
    /// Forward `Authorization`/cookie tokens to the upstream (query and protocol tokens never are).
    pub forward_token: bool,
    /// Refuse tokens whose `exp - iat` (or `exp - now` without `iat`) exceeds this.
    pub max_lifetime: Option<Duration>,
    pub issuers: Vec<IssuerConfig>,
}

#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// The configured name: the only issuer string that reaches logs and metric labels.
    pub name: String,
    /// Exact `iss` value.
    pub issuer: String,
    /// `aud` must share at least one of these. Empty: `aud` is not checked.
    pub audiences: Vec<String>,
    /// Never empty, never `none`, one family only.
    pub algorithms: Vec<Algorithm>,
    pub keys: KeySource,
    /// Exact (case-insensitive) `typ` header, e.g. `at+jwt`.
    pub typ: Option<String>,
    /// Empty: every environment.
    pub environments: Vec<String>,
    /// Computed: `environments` is empty or contains `Config::environment`.
    pub enabled: bool,
}

/// Where an issuer's verification keys come from. Material is read at validation time,
/// so a missing file or variable is a config error, never a runtime surprise.
///
/// For an issuer that is not `enabled` in this environment nothing is read (the bytes are
/// empty), so a staging-only issuer's secret need not exist in production: use
/// [`Config::enabled_issuers`] to get the issuers whose material is loaded.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// HMAC secret (HS*), at least 32 bytes, not PEM/JWK-looking.
    Secret { secret: Secret, kid: Option<String> },
    /// PEM public key (RSA, EC P-256/P-384, Ed25519).
    PublicKeyFile {
        path: PathBuf,
        pem: Vec<u8>,
        kid: Option<String>,
    },
    /// A local JWKS document.
    JwksFile { path: PathBuf, json: Vec<u8> },
    /// A JWKS fetched over HTTPS (`jwks_url` or `discovery_url`) and refreshed in the
    /// background (`auth/remote.rs`).
    Remote(RemoteSource),
}

/// Where and how often an issuer's remote key set is fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSource {
    pub location: RemoteLocation,
    /// `jwks_refresh`: time between scheduled fetches after a success.
    pub refresh: Duration,
    /// `jwks_cooldown`: least time between two fetches triggered by an unknown `kid`.
    pub cooldown: Duration,
    /// `jwks_max_stale`: cached keys are dropped this long after the last successful fetch.
    pub max_stale: Duration,
    /// `jwks_timeout`: the whole fetch (discovery document included), connect to last byte.
    pub timeout: Duration,
    /// `jwks_ca_file`: PEM certificates trusted instead of the public roots for these
    /// fetches (a private identity provider's CA), read at each fetch so a renewed CA file
    /// is picked up.
    pub ca_file: Option<std::path::PathBuf>,
}

/// The configured URL: https, or http on a loopback host (tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteLocation {
    /// `jwks_url`: the key set itself.
    Jwks(url::Url),
    /// `discovery_url`: an OpenID Provider configuration whose `jwks_uri` names the key set.
    Discovery(url::Url),
}

impl RemoteLocation {
    pub fn url(&self) -> &url::Url {
        match self {
            RemoteLocation::Jwks(url) | RemoteLocation::Discovery(url) => url,
        }
    }

    /// The config key this location came from.
    pub fn key(&self) -> &'static str {
        match self {
            RemoteLocation::Jwks(_) => "jwks_url",
            RemoteLocation::Discovery(_) => "discovery_url",
        }
    }
}

/// `https`, or `http` to a loopback host (`localhost`, 127.0.0.0/8, `::1`): the only URLs
/// wsgate fetches keys from. Also applied to a discovery document's `jwks_uri`.
pub fn is_allowed_key_url(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub user_header: HeaderName,
    pub user_claim: String,
    pub method_header: HeaderName,
    /// Header name -> claim name, in file order.
    pub claim_headers: Vec<(HeaderName, String)>,
    /// Where the user comes from on routes with `client_cert = "required"`.
    pub user_from: UserFrom,
    /// The assertion's header name; stripped from clients even while the assertion is off.
    pub assertion_header: HeaderName,
    /// `[identity.assertion]`, when enabled.
    pub assertion: Option<AssertionConfig>,
}

/// `identity.user_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFrom {
    /// The verified token's `identity.user_claim`.
    Token,
    /// On routes with `client_cert = "required"`, the verified client certificate alone
    /// identifies the caller (subject CN, else its first DNS, URI or email SAN); tokens
    /// are not consulted there.
    ClientCert,
}

#[derive(Debug, Clone)]
pub struct BypassConfig {
    /// `enabled` in the file AND `environment` in `allowed_environments` AND not production.
    pub active: bool,
    /// What the file said, for `check`.
    pub enabled: bool,
    pub header: HeaderName,
    pub keys: Vec<BypassKey>,
    pub allowed_environments: Vec<String>,
    pub user_header: HeaderName,
    pub default_user: String,
}

#[derive(Debug, Clone)]
pub struct BypassKey {
    pub name: String,
    pub secret: Secret,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAuth {
    Required,
    Optional,
    None,
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Prefix, starting with `/`. Matches at a segment boundary or exactly.
    pub path: String,
    pub auth: RouteAuth,
    /// claim -> required value: equals, or an array / space-separated list that contains it.
    pub claims: Vec<(String, String)>,
    /// `client_cert = "required"`: a client certificate that verifies against
    /// `server.tls.client_ca_file` is needed here.
    pub client_cert_required: bool,
    /// The catch-all `/` (auth required) appended when no configured route has path `/`.
    pub implicit: bool,
}

impl Config {
    /// Parses and validates a TOML document. `env` resolves `{ env = "..." }` secrets and
    /// `PORT`; relative file paths are resolved against `base_dir`.
    pub fn parse(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
        base_dir: &std::path::Path,
    ) -> Result<Config, ConfigErrors> {
        validate::parse(text, origin, env, base_dir)
    }

    /// Reads `path` and parses it with the process environment.
    pub fn load(path: &std::path::Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            ConfigErrors::single(ConfigError::new(
                "",
                format!("cannot read config file {}: {err}", path.display()),
            ))
        })?;
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        Config::parse(
            &text,
            &path.display().to_string(),
            &|name| std::env::var(name).ok(),
            base,
        )
    }

    /// The first route whose prefix matches `path`.
    pub fn route(&self, path: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.matches(path))
    }

    /// The route a request path (already normalized, `path.rs`) is judged under: the
    /// first exact prefix match, unless a lax match ([`RouteConfig::matches_ignoring_case`]:
    /// ASCII case ignored, a trailing `/` optional) is stricter.
    /// Many upstreams route without regard to case (Express and ASP.NET by default), so
    /// `/WS` is served as `/ws` there: it must not get the weaker treatment of the route
    /// that catches it by exact case. A case-sensitive upstream loses nothing: the
    /// stricter route is never weaker than the one it would have had. Stricter: a
    /// stronger `auth`, then more required claims. The catch-all is last, so there is
    /// always a route.
    pub fn route_index(&self, path: &str) -> usize {
        let last = self.routes.len().saturating_sub(1);
        let exact = self
            .routes
            .iter()
            .position(|r| r.matches(path))
            .unwrap_or(last);
        let folded = self
            .routes
            .iter()
            .position(|r| r.matches_ignoring_case(path))
            .unwrap_or(last);
        let strictness = |index: usize| {
            self.routes.get(index).map(|route| {
                let rank = match route.auth {
                    RouteAuth::None => 0,
                    RouteAuth::Optional => 1,
                    RouteAuth::Required => 2,
                };
                (rank, route.claims.len())
            })
        };
        if strictness(folded) > strictness(exact) {
            folded
        } else {
            exact
        }
    }

    /// Issuers trusted in this environment.
    pub fn enabled_issuers(&self) -> impl Iterator<Item = &IssuerConfig> {
        self.auth.issuers.iter().filter(|i| i.enabled)
    }
}

impl RouteConfig {
    /// Prefix match at a path-segment boundary: `/ws` matches `/ws`, `/ws/x`, `/ws?x`
    /// (query already removed) but not `/wsx`. A prefix ending in `/` matches anything below.
    pub fn matches(&self, path: &str) -> bool {
        if self.path == "/" {
            return true;
        }
        match path.strip_prefix(self.path.as_str()) {
            Some(rest) => self.ends_at_boundary(rest),
            None => false,
        }
    }

    /// [`RouteConfig::matches`] as an upstream that is lax about paths would read it: ASCII
    /// case ignored (`/WS/x` matches `/ws`), and a prefix ending in `/` also matches the
    /// path without that slash (`/admin` matches `/admin/`, served alike by most
    /// frameworks). Used only to find a stricter route ([`Config::route_index`]).
    pub fn matches_ignoring_case(&self, path: &str) -> bool {
        if self.path == "/" {
            return true;
        }
        if self
            .path
            .strip_suffix('/')
            .is_some_and(|bare| bare.eq_ignore_ascii_case(path))
        {
            return true;
        }
        let prefix = self.path.as_bytes();
        let starts = path
            .as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix));
        match path.get(prefix.len()..) {
            Some(rest) if starts => self.ends_at_boundary(rest),
            _ => false,
        }
    }

    fn ends_at_boundary(&self, rest: &str) -> bool {
        rest.is_empty() || rest.starts_with('/') || self.path.ends_with('/')
    }
}
