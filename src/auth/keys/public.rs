//! Public keys reduced to their JWK members: parsed from PEM (SPKI or PKCS#1) with a small
//! DER reader, checked for size and validity, matched to algorithms, and fingerprinted by
//! their RFC 7638 thumbprint input.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use super::{RSA_MAX_BITS, RSA_MIN_BITS, VerifyKey, fingerprint, kid_suffix};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Curve {
    P256,
    P384,
}

impl Curve {
    pub(super) fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
        }
    }

    pub(super) fn coordinate_bytes(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }

    pub(super) fn algorithm(self) -> Algorithm {
        match self {
            Curve::P256 => Algorithm::ES256,
            Curve::P384 => Algorithm::ES384,
        }
    }
}

/// A public key reduced to its JWK members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PublicKey {
    /// Big-endian, without leading zero bytes.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// Uncompressed SEC1 point: `04 || x || y`.
    Ec { curve: Curve, point: Vec<u8> },
    /// The 32-byte public key.
    Ed25519 { x: Vec<u8> },
}

impl PublicKey {
    /// "RSA 2048-bit", "EC P-256", "Ed25519".
    pub(super) fn kind(&self) -> String {
        match self {
            PublicKey::Rsa { n, .. } => format!("RSA {}-bit", bit_length(n)),
            PublicKey::Ec { curve, .. } => format!("EC {}", curve.name()),
            PublicKey::Ed25519 { .. } => "Ed25519".to_owned(),
        }
    }

    /// Refuses keys that are too weak or malformed, before any token sees them.
    pub(super) fn check(&self) -> Result<(), String> {
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
    pub(super) fn fits(&self, alg: Algorithm) -> bool {
        match self {
            PublicKey::Rsa { .. } => alg.family() == AlgorithmFamily::Rsa,
            PublicKey::Ec { curve, .. } => alg == curve.algorithm(),
            PublicKey::Ed25519 { .. } => alg == Algorithm::EdDSA,
        }
    }

    pub(super) fn decoding_key(&self) -> DecodingKey {
        match self {
            PublicKey::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            PublicKey::Ec { point, .. } => DecodingKey::from_ec_der(point),
            PublicKey::Ed25519 { x } => DecodingKey::from_ed_der(x),
        }
    }

    /// The RFC 7638 thumbprint input: the required members, sorted, no whitespace.
    pub(super) fn thumbprint_input(&self) -> String {
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

    /// An RSA key for RS256/384/512, parsed for `aws-lc-rs`. `None` for anything else, and
    /// for a key it does not take (then the signature check falls back to `ring`, which
    /// refuses what neither accepts).
    fn parsed_rsa(&self, algorithm: Algorithm) -> Option<aws_lc_rs::signature::ParsedPublicKey> {
        use aws_lc_rs::signature as lc;
        let PublicKey::Rsa { n, e } = self else {
            return None;
        };
        let parameters = match algorithm {
            Algorithm::RS256 => &lc::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &lc::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &lc::RSA_PKCS1_2048_8192_SHA512,
            _ => return None,
        };
        lc::RsaPublicKeyComponents {
            n: strip_leading_zeros(n),
            e: strip_leading_zeros(e),
        }
        .to_parsed_public_key(parameters)
        .ok()
    }

    /// One key per algorithm in `algorithms` that fits this key; empty when none does.
    pub(super) fn verify_keys(
        &self,
        algorithms: &[Algorithm],
        kid: Option<&str>,
        origin: &str,
    ) -> Vec<VerifyKey> {
        algorithms
            .iter()
            .copied()
            .filter(|&algorithm| self.fits(algorithm))
            .map(|algorithm| self.verify_key(kid, algorithm, origin))
            .collect()
    }

    fn verify_key(&self, kid: Option<&str>, algorithm: Algorithm, origin: &str) -> VerifyKey {
        VerifyKey {
            kid: kid.map(str::to_owned),
            algorithm,
            key: self.decoding_key(),
            hmac: None,
            rsa: self.parsed_rsa(algorithm),
            fingerprint: fingerprint(self.thumbprint_input().as_bytes()).into(),
            description: format!(
                "{} public key{} from {origin}",
                self.kind(),
                kid_suffix(kid)
            ),
        }
    }
}

pub(super) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
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
pub(super) fn parse_pem(pem: &[u8]) -> Result<PublicKey, String> {
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
