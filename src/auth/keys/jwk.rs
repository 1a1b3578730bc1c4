//! One JWK (RFC 7517) as [`VerifyKey`]s: `use`/`key_ops`/`alg` honoured, private members
//! refused, one key per algorithm it may verify. A JWKS document is read by
//! [`super::from_jwks`], which skips a JWK this refuses with its reason.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};

use super::public::{Curve, PublicKey, strip_leading_zeros};
use super::{HMAC_MIN_BYTES, VerifyKey, algorithm_list, fingerprint, hmac_key, kid_suffix};
use crate::config::IssuerConfig;

/// The keys one JWK yields (one per algorithm it may verify), or why it is skipped.
pub(super) fn jwk_keys(
    issuer: &IssuerConfig,
    jwk: &Map<String, Value>,
    origin: &str,
) -> Result<Vec<VerifyKey>, String> {
    let text = |name: &str| -> Result<Option<&str>, String> {
        match jwk.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("\"{name}\" is not a string")),
        }
    };
    let kid = text("kid")?;
    if let Some(usage) = text("use")?
        && usage != "sig"
    {
        return Err(format!("\"use\" is {usage:?}, not \"sig\""));
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !verifies {
            return Err("\"key_ops\" does not include \"verify\"".to_owned());
        }
    }
    let pinned = match text("alg")? {
        None => None,
        Some(name) => match Algorithm::from_str(name) {
            Ok(alg) if issuer.algorithms.contains(&alg) => Some(alg),
            _ => {
                return Err(format!(
                    "its \"alg\" {name:?} is not among the issuer's algorithms {}",
                    algorithm_list(&issuer.algorithms)
                ));
            }
        },
    };
    let kty = text("kty")?.ok_or("\"kty\" is missing")?;
    if kty == "oct" {
        return oct_keys(issuer, jwk, kid, pinned, origin);
    }
    if jwk.contains_key("d") {
        return Err("it holds private key material (\"d\"); publish only public keys".to_owned());
    }
    let public = match kty {
        "RSA" => PublicKey::Rsa {
            n: strip_leading_zeros(&jwk_bytes(jwk, "n")?).to_vec(),
            e: strip_leading_zeros(&jwk_bytes(jwk, "e")?).to_vec(),
        },
        "EC" => {
            let curve = match text("crv")?.ok_or("\"crv\" is missing")? {
                "P-256" => Curve::P256,
                "P-384" => Curve::P384,
                other => {
                    return Err(format!(
                        "curve {other:?} is not supported (use P-256 or P-384)"
                    ));
                }
            };
            let (x, y) = (jwk_bytes(jwk, "x")?, jwk_bytes(jwk, "y")?);
            if x.len() != curve.coordinate_bytes() || y.len() != curve.coordinate_bytes() {
                return Err(format!(
                    "x/y are not {} bytes long",
                    curve.coordinate_bytes()
                ));
            }
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            PublicKey::Ec { curve, point }
        }
        "OKP" => match text("crv")?.ok_or("\"crv\" is missing")? {
            "Ed25519" => PublicKey::Ed25519 {
                x: jwk_bytes(jwk, "x")?,
            },
            other => return Err(format!("curve {other:?} is not supported (use Ed25519)")),
        },
        other => return Err(format!("key type {other:?} is not supported")),
    };
    public.check()?;
    let keys = match pinned {
        Some(alg) if !public.fits(alg) => {
            return Err(format!(
                "its \"alg\" {alg:?} does not fit an {} key",
                public.kind()
            ));
        }
        Some(alg) => public.verify_keys(&[alg], kid, origin),
        None => public.verify_keys(&issuer.algorithms, kid, origin),
    };
    if keys.is_empty() {
        return Err(format!(
            "an {} key does not fit the issuer's algorithms {}",
            public.kind(),
            algorithm_list(&issuer.algorithms)
        ));
    }
    Ok(keys)
}

/// `oct` (HMAC) keys from a JWKS are used only when the issuer is configured for HS*
/// (docs/security-cases.md J8): a published symmetric key is otherwise a sign of confusion.
fn oct_keys(
    issuer: &IssuerConfig,
    jwk: &Map<String, Value>,
    kid: Option<&str>,
    pinned: Option<Algorithm>,
    origin: &str,
) -> Result<Vec<VerifyKey>, String> {
    if !issuer
        .algorithms
        .iter()
        .all(|a| a.family() == AlgorithmFamily::Hmac)
    {
        return Err(format!(
            "\"oct\" (HMAC) keys are ignored unless the issuer's algorithms are HS*; they are {}",
            algorithm_list(&issuer.algorithms)
        ));
    }
    let secret = jwk_bytes(jwk, "k")?;
    if secret.len() < HMAC_MIN_BYTES {
        return Err(format!(
            "the \"oct\" key is {} bytes; at least {HMAC_MIN_BYTES} are required",
            secret.len()
        ));
    }
    let algorithms = match pinned {
        Some(alg) => vec![alg],
        None => issuer.algorithms.clone(),
    };
    Ok(algorithms
        .into_iter()
        .map(|algorithm| VerifyKey {
            kid: kid.map(str::to_owned),
            algorithm,
            key: DecodingKey::from_secret(&secret),
            hmac: hmac_key(algorithm, &secret),
            rsa: None,
            fingerprint: fingerprint(&secret).into(),
            description: format!("HMAC key{} from {origin}", kid_suffix(kid)),
        })
        .collect())
}

/// A JWK member holding base64url (no padding) bytes.
fn jwk_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("\"{name}\" is missing or not a string"))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format!("\"{name}\" is not base64url without padding"))
}
