//! Token issuers: each one's `iss`, algorithms and key source, found by [`IssuerId`].

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::id::{self, IssuerId};
use super::{AuthConfig, Config, Secret};

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

impl AuthConfig {
    /// The issuer `id` names. `id` must come from this configuration.
    pub fn issuer(&self, id: IssuerId) -> &IssuerConfig {
        id::resolve(&self.issuers, id)
    }

    /// Every issuer with its id, in file order.
    pub fn issuer_ids(&self) -> impl Iterator<Item = (IssuerId, &IssuerConfig)> {
        id::with_ids(&self.issuers)
    }
}

impl Config {
    /// Issuers trusted in this environment.
    pub fn enabled_issuers(&self) -> impl Iterator<Item = &IssuerConfig> {
        self.auth.issuers.iter().filter(|i| i.enabled)
    }
}
