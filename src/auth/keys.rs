//! Verification keys: turns an issuer's configured material (HMAC secret, PEM public key,
//! JWKS document) into [`VerifyKey`]s, each pinned to exactly one algorithm.
//!
//! The algorithm of a key comes from the configuration and the key itself (its family,
//! its curve, a JWK's `alg`), never from a token header, so a token cannot choose how it
//! is verified (RFC 8725 §3.1). Public keys are parsed here with a small DER reader rather
//! than by the crate's PEM helpers, because we need the key's family, curve and size to
//! check them against the issuer's algorithms and to compute the RFC 7638 thumbprint, so
//! that the PEM and the JWKS form of one key show the same fingerprint in `check` and
//! `explain`. `public.rs` reads public keys (PEM/DER), `jwk.rs` one JWK.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use crate::config::{IssuerConfig, KeySource, Secret, SecretSource};

mod jwk;
mod public;

use jwk::jwk_keys;
use public::parse_pem;

/// One key, usable with exactly one algorithm.
#[derive(Debug, Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    /// ONE alg per key, from config/JWK, never from a token.
    pub algorithm: Algorithm,
    pub key: DecodingKey,
    /// For HS256/384/512: the secret as a ready `ring` HMAC key. Its inner and outer pads
    /// are hashed once here rather than once per token.
    pub hmac: Option<ring::hmac::Key>,
    /// For RS256/384/512: the public key parsed once, with its Montgomery constants.
    pub rsa: Option<aws_lc_rs::signature::ParsedPublicKey>,
    /// `sha256:` + 12 hex. HS: over the secret bytes; asymmetric: over the RFC 7638 JWK
    /// thumbprint input, so the PEM and the JWKS form of one key agree.
    pub fingerprint: Arc<str>,
    /// What the key is and where it came from, e.g. "RSA 2048-bit public key from file
    /// keys/rs.pem". Never key material.
    pub description: String,
}

/// Every usable key of one issuer, and what was skipped on the way.
#[derive(Debug, Clone, Default)]
pub struct IssuerKeys {
    pub keys: Vec<VerifyKey>,
    /// Keys dropped for a reason an operator should see (too small, unsupported curve, ...).
    pub warnings: Vec<String>,
}

/// The smallest RSA modulus accepted (RFC 7518 §3.3).
pub(super) const RSA_MIN_BITS: usize = 2048;
/// The largest RSA modulus the `rsa` crate verifies with.
pub(super) const RSA_MAX_BITS: usize = 4096;
/// The shortest HMAC secret accepted (RFC 7518 §3.2 for HS256).
const HMAC_MIN_BYTES: usize = 32;

/// Parses the issuer's configured material (bytes were already read by config validation).
///
/// Errors name the issuer and say how to fix the problem; they never contain key material.
pub fn load(issuer: &IssuerConfig) -> Result<IssuerKeys, Vec<String>> {
    let context = format!("issuer {:?}", issuer.name);
    match &issuer.keys {
        KeySource::Secret { secret, kid } => from_secret(issuer, secret, kid.as_deref())
            .map(|keys| IssuerKeys {
                keys,
                warnings: Vec::new(),
            })
            .map_err(|e| vec![format!("{context}: {e}")]),
        KeySource::PublicKeyFile { path, pem, kid } => {
            let origin = format!("file {}", path.display());
            from_pem(issuer, pem, kid.as_deref(), &origin)
                .map(|keys| IssuerKeys {
                    keys,
                    warnings: Vec::new(),
                })
                .map_err(|e| {
                    vec![format!(
                        "{context}: public_key_file {}: {e}",
                        path.display()
                    )]
                })
        }
        KeySource::JwksFile { path, json } => {
            let origin = format!("JWKS file {}", path.display());
            let loaded = from_jwks(issuer, json, &origin);
            let prefix = |w: String| format!("{context}: jwks_file {}: {w}", path.display());
            match loaded {
                Ok(keys) => Ok(IssuerKeys {
                    keys: keys.keys,
                    warnings: keys.warnings.into_iter().map(prefix).collect(),
                }),
                Err(errors) => Err(errors.into_iter().map(prefix).collect()),
            }
        }
        // Fetched while serving (`auth/remote.rs`); nothing to parse at startup.
        KeySource::Remote(_) => Ok(IssuerKeys::default()),
    }
}

/// Parses a JWKS document (`{"keys": [...]}`) for `issuer`. Used for `jwks_file`, and
/// usable by a remote JWKS fetcher: `origin` names where the document came from.
/// Keys that cannot be used are skipped with a warning; no usable key at all is an error.
pub fn from_jwks(
    issuer: &IssuerConfig,
    json: &[u8],
    origin: &str,
) -> Result<IssuerKeys, Vec<String>> {
    let document: Value =
        serde_json::from_slice(json).map_err(|e| vec![format!("not valid JSON ({e})")])?;
    let Some(entries) = document.get("keys").and_then(Value::as_array) else {
        return Err(vec![
            "a JWKS must be a JSON object with a \"keys\" array".to_owned(),
        ]);
    };
    let mut out = IssuerKeys::default();
    for (index, entry) in entries.iter().enumerate() {
        let label = match entry.get("kid").and_then(Value::as_str) {
            Some(kid) => format!("key {index} (kid {kid:?})"),
            None => format!("key {index}"),
        };
        let Some(jwk) = entry.as_object() else {
            out.warnings
                .push(format!("{label} skipped: not a JSON object"));
            continue;
        };
        match jwk_keys(issuer, jwk, origin) {
            Ok(keys) => {
                for key in keys {
                    let duplicate = out.keys.iter().any(|k| {
                        k.kid.is_some() && k.kid == key.kid && k.algorithm == key.algorithm
                    });
                    if duplicate {
                        out.warnings.push(format!(
                            "{label} skipped for {:?}: an earlier key has the same kid and algorithm",
                            key.algorithm
                        ));
                    } else {
                        out.keys.push(key);
                    }
                }
            }
            Err(reason) => out.warnings.push(format!("{label} skipped: {reason}")),
        }
    }
    if out.keys.is_empty() {
        let mut errors = vec![format!(
            "no usable key for algorithms {} (of {} keys)",
            algorithm_list(&issuer.algorithms),
            entries.len()
        )];
        errors.append(&mut out.warnings);
        return Err(errors);
    }
    Ok(out)
}

fn from_secret(
    issuer: &IssuerConfig,
    secret: &Secret,
    kid: Option<&str>,
) -> Result<Vec<VerifyKey>, String> {
    let bytes = secret.expose();
    // Config validation refuses these too; a public key used as an HMAC secret lets anyone
    // who has the public key forge tokens (docs/security-cases.md J6), so check again here.
    if looks_like_key_material(bytes) {
        return Err(format!(
            "the HMAC secret from {} looks like a PEM or JWK key; an HMAC secret must be \
             random bytes, and public keys belong in public_key_file or jwks_file",
            secret.source()
        ));
    }
    if bytes.len() < HMAC_MIN_BYTES {
        return Err(format!(
            "the HMAC secret from {} is {} bytes; use at least {HMAC_MIN_BYTES} random bytes",
            secret.source(),
            bytes.len()
        ));
    }
    let mut keys = Vec::new();
    for &algorithm in &issuer.algorithms {
        if algorithm.family() != AlgorithmFamily::Hmac {
            return Err(format!(
                "a secret can only verify HS256/HS384/HS512, but algorithms are {}",
                algorithm_list(&issuer.algorithms)
            ));
        }
        keys.push(VerifyKey {
            kid: kid.map(str::to_owned),
            algorithm,
            key: DecodingKey::from_secret(bytes),
            hmac: hmac_key(algorithm, bytes),
            rsa: None,
            fingerprint: secret.fingerprint().into(),
            description: format!("HMAC secret from {}", secret.source()),
        });
    }
    Ok(keys)
}

fn from_pem(
    issuer: &IssuerConfig,
    pem: &[u8],
    kid: Option<&str>,
    origin: &str,
) -> Result<Vec<VerifyKey>, String> {
    let public = parse_pem(pem)?;
    public.check()?;
    let keys = public.verify_keys(&issuer.algorithms, kid, origin);
    if keys.is_empty() {
        return Err(format!(
            "holds an {} key but algorithms are {}",
            public.kind(),
            algorithm_list(&issuer.algorithms)
        ));
    }
    Ok(keys)
}

/// The `ring` HMAC key for an HS algorithm; `None` for any other algorithm.
fn hmac_key(algorithm: Algorithm, secret: &[u8]) -> Option<ring::hmac::Key> {
    let algorithm = match algorithm {
        Algorithm::HS256 => ring::hmac::HMAC_SHA256,
        Algorithm::HS384 => ring::hmac::HMAC_SHA384,
        Algorithm::HS512 => ring::hmac::HMAC_SHA512,
        _ => return None,
    };
    Some(ring::hmac::Key::new(algorithm, secret))
}

/// PEM armour, or a JSON object with a `kty` member.
fn looks_like_key_material(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii_start();
    trimmed.starts_with(b"-----BEGIN")
        || (trimmed.starts_with(b"{")
            && serde_json::from_slice::<Value>(bytes)
                .is_ok_and(|v| v.get("kty").is_some() || v.get("keys").is_some()))
}

/// `sha256:` + 12 hex over `bytes`, the same format as [`Secret::fingerprint`] (whose free
/// function is private to `config`).
pub(super) fn fingerprint(bytes: &[u8]) -> String {
    Secret::new(SecretSource::Literal, bytes.to_vec()).fingerprint()
}

pub(super) fn kid_suffix(kid: Option<&str>) -> String {
    kid.map(|kid| format!(" (kid {kid:?})")).unwrap_or_default()
}

fn algorithm_list(algorithms: &[Algorithm]) -> String {
    let names: Vec<String> = algorithms.iter().map(|a| format!("{a:?}")).collect();
    format!("[{}]", names.join(", "))
}

#[cfg(test)]
mod tests;
