//! The validated configuration: what wsgate runs on once a TOML file has been parsed.
//!
//! `raw.rs` holds the serde mirror of the file (`deny_unknown_fields`); `validate.rs`
//! converts it once into these types, collecting every problem with the key that caused
//! it. Nothing downstream re-checks a value: a `Config` that exists is usable.

mod assertion;
mod error;
mod files;
mod id;
mod issuer;
mod raw;
mod restart;
mod route;
mod secret;
mod sessions;
mod validate;

pub mod render;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

pub use crate::jose::signing_key::AssertionAlgorithm;
pub use assertion::{AssertionConfig, KeyFile, MAX_TTL as MAX_ASSERTION_TTL, RESERVED_CLAIMS};
pub use error::{ConfigError, ConfigErrors};
pub use id::{BypassKeyId, IssuerId, RouteId};
pub use issuer::{IssuerConfig, KeySource, RemoteLocation, RemoteSource, is_allowed_key_url};
pub use restart::{RESTART_KEYS, restart_required};
pub use route::{RouteAuth, RouteConfig};
pub use secret::{Secret, SecretSource, fingerprint};
pub use sessions::{
    AdminConfig, DEFAULT_REFRESH_PATH, DEFAULT_STORE_TIMEOUT, OnStoreError, RedisUrl,
    SESSIONS_RESTART_KEY, SessionStore, SessionsConfig, restart_shape,
};
pub use validate::Environment;

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

impl BypassConfig {
    /// The key `id` names. `id` must come from this configuration.
    pub fn key(&self, id: BypassKeyId) -> &BypassKey {
        id::resolve(&self.keys, id)
    }

    /// Every key with its id, in file order.
    pub fn key_ids(&self) -> impl Iterator<Item = (BypassKeyId, &BypassKey)> {
        id::with_ids(&self.keys)
    }
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
}
