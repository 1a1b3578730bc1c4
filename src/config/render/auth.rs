//! `check`'s rendering of `[auth]`: the deny mode, token sources, limits, and every
//! issuer with its key material as fingerprints (never the material itself).

use std::fmt::Write;

use super::{duration, list, quote, secret};
use crate::config::secret::fingerprint;
use crate::config::{Config, DenyMode, IssuerConfig, KeySource, SessionExpiry, TokenSource};

/// `[auth]` and its `[[auth.issuers]]`.
pub(super) fn write(out: &mut String, config: &Config) -> std::fmt::Result {
    let auth = &config.auth;
    writeln!(out, "\n[auth]")?;
    let deny = match auth.deny {
        DenyMode::Http => "http",
        DenyMode::Close => "close",
    };
    writeln!(out, "deny = {}", quote(deny))?;
    let sources: Vec<String> = auth.token_sources.iter().map(token_source).collect();
    writeln!(out, "token_sources = {}", list(&sources))?;
    writeln!(out, "leeway = {}", duration(auth.leeway))?;
    let expiry = match auth.session_expiry {
        SessionExpiry::Close => "close",
        SessionExpiry::Keep => "keep",
    };
    writeln!(out, "session_expiry = {}", quote(expiry))?;
    writeln!(out, "max_token_bytes = {}", auth.max_token_bytes)?;
    write!(out, "token_cache_size = {}", auth.token_cache_size)?;
    if auth.token_cache_size == 0 {
        write!(out, "  # no verified-token cache")?;
    }
    writeln!(out)?;
    write!(out, "allowed_origins = {}", list(&auth.allowed_origins))?;
    if auth.allowed_origins.is_empty() {
        write!(out, "  # Origin is not checked")?;
    }
    writeln!(out)?;
    writeln!(out, "forward_token = {}", auth.forward_token)?;
    match auth.max_lifetime {
        Some(max) => writeln!(out, "max_lifetime = {}", duration(max))?,
        None => writeln!(
            out,
            "# max_lifetime: not set (token lifetime is not limited)"
        )?,
    }
    if auth.issuers.is_empty() {
        writeln!(
            out,
            "# no issuers: only the E2E bypass or auth = \"none\" routes admit callers"
        )?;
    }
    for issuer in &auth.issuers {
        write_issuer(out, issuer, &config.environment)?;
    }
    Ok(())
}

fn write_issuer(out: &mut String, issuer: &IssuerConfig, environment: &str) -> std::fmt::Result {
    write!(out, "\n[[auth.issuers]]")?;
    if !issuer.enabled {
        write!(
            out,
            "  # DISABLED in environment {}; enabled in: {}",
            quote(environment),
            issuer.environments.join(", ")
        )?;
    } else if !issuer.environments.is_empty() {
        write!(
            out,
            "  # enabled here; scoped to: {}",
            issuer.environments.join(", ")
        )?;
    }
    writeln!(out)?;
    writeln!(out, "name = {}", quote(&issuer.name))?;
    writeln!(out, "issuer = {}", quote(&issuer.issuer))?;
    write!(out, "audiences = {}", list(&issuer.audiences))?;
    if issuer.audiences.is_empty() {
        write!(out, "  # aud is not checked")?;
    }
    writeln!(out)?;
    let algorithms: Vec<String> = issuer.algorithms.iter().map(|a| format!("{a:?}")).collect();
    writeln!(out, "algorithms = {}", list(&algorithms))?;
    match &issuer.keys {
        KeySource::Secret { secret: key, kid } if !issuer.enabled => {
            writeln!(
                out,
                "secret = {}  # not read while disabled",
                quote(&key.source().to_string())
            )?;
            if let Some(kid) = kid {
                writeln!(out, "kid = {}", quote(kid))?;
            }
        }
        KeySource::Secret { secret: key, kid } => {
            writeln!(out, "secret = {}", quote(&secret(key)))?;
            if let Some(kid) = kid {
                writeln!(out, "kid = {}", quote(kid))?;
            }
        }
        KeySource::PublicKeyFile { path, pem, kid } => {
            writeln!(
                out,
                "public_key_file = {}  # {}",
                quote(&path.display().to_string()),
                material(issuer, pem)
            )?;
            if let Some(kid) = kid {
                writeln!(out, "kid = {}", quote(kid))?;
            }
        }
        KeySource::JwksFile { path, json } => writeln!(
            out,
            "jwks_file = {}  # {}",
            quote(&path.display().to_string()),
            material(issuer, json)
        )?,
        KeySource::Remote(remote) => {
            let note = if issuer.enabled {
                "fetched while serving"
            } else {
                "not fetched while disabled"
            };
            writeln!(
                out,
                "{} = {}  # {note}",
                remote.location.key(),
                quote(remote.location.url().as_str())
            )?;
            writeln!(out, "jwks_refresh = {}", duration(remote.refresh))?;
            writeln!(out, "jwks_cooldown = {}", duration(remote.cooldown))?;
            writeln!(out, "jwks_max_stale = {}", duration(remote.max_stale))?;
            writeln!(out, "jwks_timeout = {}", duration(remote.timeout))?;
            if let Some(ca_file) = &remote.ca_file {
                writeln!(
                    out,
                    "jwks_ca_file = {}  # trusted instead of the public roots",
                    quote(&ca_file.display().to_string())
                )?;
            }
        }
    }
    if let Some(typ) = &issuer.typ {
        writeln!(out, "typ = {}", quote(typ))?;
    }
    writeln!(out, "environments = {}", list(&issuer.environments))
}

/// Public key material: not secret, but a fingerprint is enough to compare deployments.
fn material(issuer: &IssuerConfig, bytes: &[u8]) -> String {
    if issuer.enabled {
        format!("{}, {} bytes", fingerprint(bytes), bytes.len())
    } else {
        "not read while disabled".to_owned()
    }
}

fn token_source(source: &TokenSource) -> String {
    match source {
        TokenSource::Header(name) => format!("header:{name}"),
        TokenSource::Protocol(marker) => format!("protocol:{marker}"),
        TokenSource::Query(name) => format!("query:{name}"),
        TokenSource::Cookie(name) => format!("cookie:{name}"),
    }
}
