//! Verification keys: turns an issuer's configured material (HMAC secret, PEM public key,
//! JWKS document) into [`VerifyKey`]s, each pinned to exactly one algorithm.
//!
//! The algorithm of a key comes from the configuration and the key itself (its family,
//! its curve, a JWK's `alg`), never from a token header, so a token cannot choose how it
//! is verified (RFC 8725 §3.1). Public keys are parsed here with a small DER reader rather
//! than by the crate's PEM helpers, because we need the key's family, curve and size to
//! check them against the issuer's algorithms and to compute the RFC 7638 thumbprint, so
//! that the PEM and the JWKS form of one key show the same fingerprint in `check` and
//! `explain`.

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::{Map, Value};

use crate::config::{IssuerConfig, KeySource, Secret, SecretSource};

/// One key, usable with exactly one algorithm.
#[derive(Debug, Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    /// ONE alg per key, from config/JWK, never from a token.
    pub algorithm: Algorithm,
    pub key: DecodingKey,
    /// `sha256:` + 12 hex. HS: over the secret bytes; asymmetric: over the RFC 7638 JWK
    /// thumbprint input, so the PEM and the JWKS form of one key agree.
    pub fingerprint: String,
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
const RSA_MIN_BITS: usize = 2048;
/// The largest RSA modulus the `rsa` crate verifies with.
const RSA_MAX_BITS: usize = 4096;
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
    // who has the public key forge tokens (SECURITY-CASES J6), so check again here.
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
            fingerprint: secret.fingerprint(),
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
    let algorithms: Vec<Algorithm> = issuer
        .algorithms
        .iter()
        .copied()
        .filter(|&alg| public.fits(alg))
        .collect();
    if algorithms.is_empty() {
        return Err(format!(
            "holds an {} key but algorithms are {}",
            public.kind(),
            algorithm_list(&issuer.algorithms)
        ));
    }
    Ok(algorithms
        .into_iter()
        .map(|algorithm| public.verify_key(kid, algorithm, origin))
        .collect())
}

/// The keys one JWK yields (one per algorithm it may verify), or why it is skipped.
fn jwk_keys(
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
    if let Some(usage) = text("use")? {
        if usage != "sig" {
            return Err(format!("\"use\" is {usage:?}, not \"sig\""));
        }
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
    let algorithms: Vec<Algorithm> = match pinned {
        Some(alg) if public.fits(alg) => vec![alg],
        Some(alg) => {
            return Err(format!(
                "its \"alg\" {alg:?} does not fit an {} key",
                public.kind()
            ));
        }
        None => issuer
            .algorithms
            .iter()
            .copied()
            .filter(|&a| public.fits(a))
            .collect(),
    };
    if algorithms.is_empty() {
        return Err(format!(
            "an {} key does not fit the issuer's algorithms {}",
            public.kind(),
            algorithm_list(&issuer.algorithms)
        ));
    }
    Ok(algorithms
        .into_iter()
        .map(|algorithm| public.verify_key(kid, algorithm, origin))
        .collect())
}

/// `oct` (HMAC) keys from a JWKS are used only when the issuer is configured for HS*
/// (SECURITY-CASES J8): a published symmetric key is otherwise a sign of confusion.
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
            fingerprint: fingerprint(&secret),
            description: format!("HMAC key{} from {origin}", kid_suffix(kid)),
        })
        .collect())
}

/// PEM armour, or a JSON object with a `kty` member.
fn looks_like_key_material(bytes: &[u8]) -> bool {
    let trimmed = bytes.trim_ascii_start();
    trimmed.starts_with(b"-----BEGIN")
        || (trimmed.starts_with(b"{")
            && serde_json::from_slice::<Value>(bytes)
                .is_ok_and(|v| v.get("kty").is_some() || v.get("keys").is_some()))
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
}

impl Curve {
    fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    fn coordinate_bytes(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            Curve::P256 => Algorithm::ES256,
            Curve::P384 => Algorithm::ES384,
        }
    }
}

/// A public key reduced to its JWK members.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKey {
    /// Big-endian, without leading zero bytes.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Uncompressed SEC1 point: `04 || x || y`.
    Ec { curve: Curve, point: Vec<u8> },
    /// The 32-byte public key.
    Ed25519 { x: Vec<u8> },
}

impl PublicKey {
    /// "RSA 2048-bit", "EC P-256", "Ed25519".
    fn kind(&self) -> String {
        match self {
            PublicKey::Rsa { n, .. } => format!("RSA {}-bit", bit_length(n)),
            PublicKey::Ec { curve, .. } => format!("EC {}", curve.name()),
            PublicKey::Ed25519 { .. } => "Ed25519".to_owned(),
        }
    }

    /// Refuses keys that are too weak or malformed, before any token sees them.
    fn check(&self) -> Result<(), String> {
        match self {
            PublicKey::Rsa { n, e } => {
                let bits = bit_length(n);
                if bits < RSA_MIN_BITS {
                    return Err(format!(
                        "RSA key is {bits} bits; at least {RSA_MIN_BITS} are required"
                    ));
                }
                if bits > RSA_MAX_BITS {
                    return Err(format!(
                        "RSA key is {bits} bits; at most {RSA_MAX_BITS} are supported"
                    ));
                }
                let exponent_ok = (1..=5).contains(&e.len())
                    && e.last().is_some_and(|b| b & 1 == 1)
                    && e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)) >= 3
                    && e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)) < (1 << 33);
                if !exponent_ok || n.last().is_none_or(|b| b & 1 == 0) {
                    return Err("RSA key has an invalid modulus or exponent".to_owned());
                }
                Ok(())
            }
            PublicKey::Ec { curve, point } => {
                // The crate parses (and checks the point is on the curve) when it builds a
                // verifier: an invalid point makes `verify` return Err, not Ok(false).
                let probe = jsonwebtoken::crypto::verify(
                    "AA",
                    b"probe",
                    &self.decoding_key(),
                    curve.algorithm(),
                );
                if point.len() != 1 + 2 * curve.coordinate_bytes() || probe.is_err() {
                    return Err(format!("EC {} point is not on the curve", curve.name()));
                }
                Ok(())
            }
            PublicKey::Ed25519 { x } => {
                let probe = jsonwebtoken::crypto::verify(
                    "AA",
                    b"probe",
                    &self.decoding_key(),
                    Algorithm::EdDSA,
                );
                if x.len() != 32 || probe.is_err() {
                    return Err("Ed25519 public key is not valid".to_owned());
                }
                Ok(())
            }
        }
    }

    /// Whether this key can verify `alg`: RSA → RS*/PS*, P-256 → ES256 only, P-384 →
    /// ES384 only, Ed25519 → EdDSA.
    fn fits(&self, alg: Algorithm) -> bool {
        match self {
            PublicKey::Rsa { .. } => alg.family() == AlgorithmFamily::Rsa,
            PublicKey::Ec { curve, .. } => alg == curve.algorithm(),
            PublicKey::Ed25519 { .. } => alg == Algorithm::EdDSA,
        }
    }

    fn decoding_key(&self) -> DecodingKey {
        match self {
            PublicKey::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            PublicKey::Ec { point, .. } => DecodingKey::from_ec_der(point),
            PublicKey::Ed25519 { x } => DecodingKey::from_ed_der(x),
        }
    }

    /// The RFC 7638 thumbprint input: the required members, sorted, no whitespace.
    fn thumbprint_input(&self) -> String {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            PublicKey::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n))
            }
            PublicKey::Ec { curve, point } => {
                let (x, y) = point[1..].split_at(curve.coordinate_bytes());
                format!(
                    r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                    curve.name(),
                    b64(x),
                    b64(y)
                )
            }
            PublicKey::Ed25519 { x } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(x))
            }
        }
    }

    fn verify_key(&self, kid: Option<&str>, algorithm: Algorithm, origin: &str) -> VerifyKey {
        VerifyKey {
            kid: kid.map(str::to_owned),
            algorithm,
            key: self.decoding_key(),
            fingerprint: fingerprint(self.thumbprint_input().as_bytes()),
            description: format!(
                "{} public key{} from {origin}",
                self.kind(),
                kid_suffix(kid)
            ),
        }
    }
}

/// `sha256:` + 12 hex over `bytes`, the same format as [`Secret::fingerprint`] (whose free
/// function is private to `config`).
fn fingerprint(bytes: &[u8]) -> String {
    Secret::new(SecretSource::Literal, bytes.to_vec()).fingerprint()
}

fn kid_suffix(kid: Option<&str>) -> String {
    kid.map(|kid| format!(" (kid {kid:?})")).unwrap_or_default()
}

fn algorithm_list(algorithms: &[Algorithm]) -> String {
    let names: Vec<String> = algorithms.iter().map(|a| format!("{a:?}")).collect();
    format!("[{}]", names.join(", "))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

fn bit_length(big_endian: &[u8]) -> usize {
    let digits = strip_leading_zeros(big_endian);
    match digits.first() {
        Some(first) => digits.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

// ---------------------------------------------------------------------------------------
// PEM and DER

const OID_RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x23];
const OID_SECP256K1: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x0A];
const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// Reads one PEM public key: SPKI (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`).
fn parse_pem(pem: &[u8]) -> Result<PublicKey, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "is not a PEM text file".to_owned())?;
    let begin = text
        .find("-----BEGIN ")
        .ok_or("holds no PEM block (expected -----BEGIN PUBLIC KEY-----)")?;
    let rest = &text[begin + "-----BEGIN ".len()..];
    let label_end = rest.find("-----").ok_or("has a broken PEM header line")?;
    let label = &rest[..label_end];
    let body_and_rest = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body_and_rest
        .find(&end_marker)
        .ok_or_else(|| format!("has no {end_marker} line"))?;
    if body_and_rest[body_end + end_marker.len()..].contains("-----BEGIN ") {
        return Err("holds several PEM blocks; give exactly one public key".to_owned());
    }
    if label.contains("PRIVATE KEY") {
        return Err(format!(
            "holds a private key ({label}); give the public key (openssl pkey -in KEY -pubout)"
        ));
    }
    let body: String = body_and_rest[..body_end]
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|_| format!("has a {label} block that is not valid base64"))?;
    match label {
        "PUBLIC KEY" => parse_spki(&der),
        "RSA PUBLIC KEY" => parse_pkcs1(&der),
        "CERTIFICATE" => {
            Err("holds a certificate; give its public key (openssl x509 -pubkey -noout)".to_owned())
        }
        other => Err(format!(
            "holds a {other:?} block; expected PUBLIC KEY or RSA PUBLIC KEY"
        )),
    }
}

/// SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID, params }, BIT STRING }.
fn parse_spki(der: &[u8]) -> Result<PublicKey, String> {
    let invalid = || "holds a PUBLIC KEY block that is not valid DER".to_owned();
    let (spki, trailing) = read_tlv(der, TAG_SEQUENCE).ok_or_else(invalid)?;
    let (algorithm, rest) = read_tlv(spki, TAG_SEQUENCE).ok_or_else(invalid)?;
    let (bits, rest) = read_tlv(rest, TAG_BIT_STRING).ok_or_else(invalid)?;
    if !trailing.is_empty() || !rest.is_empty() {
        return Err(invalid());
    }
    let Some((0, key)) = bits.split_first() else {
        return Err(invalid());
    };
    let (oid, params) = read_tlv(algorithm, TAG_OID).ok_or_else(invalid)?;
    if oid == OID_RSA_ENCRYPTION {
        parse_pkcs1(key)
    } else if oid == OID_EC_PUBLIC_KEY {
        let (curve_oid, _) = read_tlv(params, TAG_OID).ok_or_else(invalid)?;
        let curve = match curve_oid {
            OID_P256 => Curve::P256,
            OID_P384 => Curve::P384,
            OID_P521 => {
                return Err(
                    "holds an EC P-521 key, which is not supported (use P-256 or P-384)".to_owned(),
                );
            }
            OID_SECP256K1 => {
                return Err(
                    "holds an EC secp256k1 key, which is not supported (use P-256 or P-384)"
                        .to_owned(),
                );
            }
            _ => {
                return Err(
                    "holds an EC key on an unsupported curve (use P-256 or P-384)".to_owned(),
                );
            }
        };
        if key.first() != Some(&0x04) {
            return Err("holds a compressed EC point; export it uncompressed".to_owned());
        }
        Ok(PublicKey::Ec {
            curve,
            point: key.to_vec(),
        })
    } else if oid == OID_ED25519 {
        Ok(PublicKey::Ed25519 { x: key.to_vec() })
    } else {
        Err("holds a key of an unsupported type (use RSA, EC P-256/P-384 or Ed25519)".to_owned())
    }
}

/// PKCS#1 RSAPublicKey: SEQUENCE { INTEGER n, INTEGER e }.
fn parse_pkcs1(der: &[u8]) -> Result<PublicKey, String> {
    let invalid = || "holds an RSA public key that is not valid DER".to_owned();
    let (sequence, trailing) = read_tlv(der, TAG_SEQUENCE).ok_or_else(invalid)?;
    let (n, rest) = read_tlv(sequence, TAG_INTEGER).ok_or_else(invalid)?;
    let (e, rest) = read_tlv(rest, TAG_INTEGER).ok_or_else(invalid)?;
    if !trailing.is_empty() || !rest.is_empty() {
        return Err(invalid());
    }
    Ok(PublicKey::Rsa {
        n: strip_leading_zeros(n).to_vec(),
        e: strip_leading_zeros(e).to_vec(),
    })
}

/// Reads one DER element with the expected tag: returns (contents, remaining input).
fn read_tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&actual, rest) = input.split_first()?;
    if actual != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (digits, rest) = rest.split_at(count);
        (
            digits
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
            rest,
        )
    };
    if rest.len() < length {
        return None;
    }
    Some(rest.split_at(length))
}

#[cfg(test)]
mod tests;
