//! One assertion signing key: read from a PEM private key (PKCS#8, or SEC1 for P-256) or
//! generated at start, with its public half as a JWK and its RFC 7638 thumbprint (the
//! `kid` of every assertion it signs).
//!
//! Signing goes through `ring`, already in the tree through rustls: ES256 with the fixed
//! `r || s` encoding JWS uses (RFC 7518 §3.4), EdDSA with Ed25519 (RFC 8037).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The assertion's signature algorithm (`identity.assertion.algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionAlgorithm {
    /// ECDSA P-256 with SHA-256 (the default).
    Es256,
    /// Ed25519.
    EdDsa,
}

impl AssertionAlgorithm {
    /// The JWS `alg` value, also the config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AssertionAlgorithm::Es256 => "ES256",
            AssertionAlgorithm::EdDsa => "EdDSA",
        }
    }

    /// The config spelling back into an algorithm.
    pub fn parse(text: &str) -> Option<AssertionAlgorithm> {
        match text {
            "ES256" => Some(AssertionAlgorithm::Es256),
            "EdDSA" => Some(AssertionAlgorithm::EdDsa),
            _ => None,
        }
    }
}

/// A private key that signs assertions.
pub struct SigningKey {
    pair: Pair,
    /// RFC 7638 thumbprint of the public JWK, base64url: the `kid`.
    kid: String,
}

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// The DER `AlgorithmIdentifier` of an EC P-256 key (id-ecPublicKey, prime256v1), as it
/// opens a PKCS#8 `PrivateKeyInfo`.
const P256_ALGORITHM: &[u8] = &[
    0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07,
];

impl SigningKey {
    /// Parses a PEM private key for `algorithm`. The error says what the file holds
    /// instead and how to make a suitable key; the caller names the config key.
    pub fn from_pem(pem: &[u8], algorithm: AssertionAlgorithm) -> Result<SigningKey, String> {
        use rustls_pki_types::PrivateKeyDer;
        use rustls_pki_types::pem::PemObject;
        let how = match algorithm {
            AssertionAlgorithm::Es256 => {
                "make one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`"
            }
            AssertionAlgorithm::EdDsa => "make one with `openssl genpkey -algorithm ed25519`",
        };
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|err| format!("holds no PEM private key ({err}); {how}"))?;
        let pkcs8 = match der {
            PrivateKeyDer::Pkcs8(der) => der.secret_pkcs8_der().to_vec(),
            PrivateKeyDer::Sec1(der) if algorithm == AssertionAlgorithm::Es256 => {
                sec1_to_pkcs8(der.secret_sec1_der())
            }
            PrivateKeyDer::Sec1(_) => {
                return Err(format!(
                    "holds an EC key but algorithm is {}; {how}",
                    algorithm.as_str()
                ));
            }
            PrivateKeyDer::Pkcs1(_) => {
                return Err(format!(
                    "holds an RSA key; assertions are signed with {} ({how})",
                    algorithm.as_str()
                ));
            }
            _ => return Err(format!("holds an unsupported private key; {how}")),
        };
        let rng = SystemRandom::new();
        let pair = match algorithm {
            AssertionAlgorithm::Es256 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
                    .map(Pair::Es256)
                    .map_err(|err| {
                        let other = if Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).is_ok() {
                            "an Ed25519 key (set algorithm = \"EdDSA\" to use it)".to_owned()
                        } else {
                            format!("no usable P-256 key ({err})")
                        };
                        format!("holds {other} but algorithm is ES256; {how}")
                    })?
            }
            AssertionAlgorithm::EdDsa => Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8)
                .map(Pair::EdDsa)
                .map_err(|err| {
                    let other =
                        if EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
                            .is_ok()
                        {
                            "a P-256 key (set algorithm = \"ES256\" to use it)".to_owned()
                        } else {
                            format!("no usable Ed25519 key ({err})")
                        };
                    format!("holds {other} but algorithm is EdDSA; {how}")
                })?,
        };
        Ok(SigningKey::with_pair(pair))
    }

    /// A fresh key from the system's random source.
    pub fn generate(algorithm: AssertionAlgorithm) -> Result<SigningKey, String> {
        let rng = SystemRandom::new();
        let failed = |_| "the system's random source failed".to_owned();
        let pair = match algorithm {
            AssertionAlgorithm::Es256 => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(failed)?;
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .map(Pair::Es256)
                    .map_err(|err| err.to_string())?
            }
            AssertionAlgorithm::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(failed)?;
                Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                    .map(Pair::EdDsa)
                    .map_err(|err| err.to_string())?
            }
        };
        Ok(SigningKey::with_pair(pair))
    }

    fn with_pair(pair: Pair) -> SigningKey {
        let kid = thumbprint(&public_members(&pair));
        SigningKey { pair, kid }
    }

    pub fn algorithm(&self) -> AssertionAlgorithm {
        match self.pair {
            Pair::Es256(_) => AssertionAlgorithm::Es256,
            Pair::EdDsa(_) => AssertionAlgorithm::EdDsa,
        }
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url): the `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK, with `kid`, `alg` and `use`.
    pub fn jwk(&self) -> Value {
        let mut jwk = public_members(&self.pair);
        if let Value::Object(members) = &mut jwk {
            members.insert("kid".into(), Value::String(self.kid.clone()));
            members.insert(
                "alg".into(),
                Value::String(self.algorithm().as_str().into()),
            );
            members.insert("use".into(), Value::String("sig".into()));
        }
        jwk
    }

    /// The JWS signature over `input`, base64url. `None` only if the random source fails
    /// (ECDSA needs a nonce).
    pub fn sign(&self, input: &[u8]) -> Option<String> {
        match &self.pair {
            Pair::Es256(pair) => pair
                .sign(&SystemRandom::new(), input)
                .ok()
                .map(|signature| URL_SAFE_NO_PAD.encode(signature.as_ref())),
            Pair::EdDsa(pair) => Some(URL_SAFE_NO_PAD.encode(pair.sign(input).as_ref())),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey({}, kid={})",
            self.algorithm().as_str(),
            self.kid
        )
    }
}

/// The members RFC 7638 hashes, which are also the JWK's key material.
fn public_members(pair: &Pair) -> Value {
    match pair {
        Pair::Es256(pair) => {
            // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
            let point = pair.public_key().as_ref();
            let x = point.get(1..33).unwrap_or_default();
            let y = point.get(33..65).unwrap_or_default();
            json!({
                "kty": "EC",
                "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(x),
                "y": URL_SAFE_NO_PAD.encode(y),
            })
        }
        Pair::EdDsa(pair) => json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
        }),
    }
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
/// serde_json's map is ordered by key, so its compact form is exactly that.
fn thumbprint(members: &Value) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(members.to_string().as_bytes()))
}

/// Wraps a SEC1 `ECPrivateKey` (`BEGIN EC PRIVATE KEY`, what `openssl ecparam -genkey`
/// writes) into the PKCS#8 `PrivateKeyInfo` ring reads.
fn sec1_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend_from_slice(P256_ALGORITHM);
    body.push(0x04);
    der_length(sec1.len(), &mut body);
    body.extend_from_slice(sec1);
    let mut out = vec![0x30];
    der_length(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}

fn der_length(length: usize, out: &mut Vec<u8>) {
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    #[test]
    fn pkcs8_keys_load_for_their_algorithm() {
        let es = SigningKey::from_pem(&fixture("ec256.key.pem"), AssertionAlgorithm::Es256)
            .expect("P-256 key");
        assert_eq!(es.algorithm(), AssertionAlgorithm::Es256);
        let ed = SigningKey::from_pem(&fixture("ed25519.key.pem"), AssertionAlgorithm::EdDsa)
            .expect("Ed25519 key");
        assert_eq!(ed.jwk()["kty"], "OKP");
    }

    #[test]
    fn a_sec1_p256_key_is_the_same_key_as_its_pkcs8_form() {
        let pkcs8 = SigningKey::from_pem(&fixture("ec256.key.pem"), AssertionAlgorithm::Es256)
            .expect("PKCS#8");
        let sec1 = SigningKey::from_pem(&fixture("ec256.sec1.key.pem"), AssertionAlgorithm::Es256)
            .expect("SEC1");
        assert_eq!(pkcs8.kid(), sec1.kid());
    }

    #[test]
    fn a_key_of_the_other_algorithm_is_named_in_the_error() {
        let err = SigningKey::from_pem(&fixture("ed25519.key.pem"), AssertionAlgorithm::Es256)
            .unwrap_err();
        assert!(err.contains("Ed25519") && err.contains("EdDSA"), "{err}");
        let err =
            SigningKey::from_pem(&fixture("ec256.key.pem"), AssertionAlgorithm::EdDsa).unwrap_err();
        assert!(err.contains("P-256"), "{err}");
        let err = SigningKey::from_pem(&fixture("rsa2048.key.pem"), AssertionAlgorithm::Es256)
            .unwrap_err();
        assert!(err.contains("RSA") || err.contains("P-256"), "{err}");
        let err = SigningKey::from_pem(b"not pem", AssertionAlgorithm::Es256).unwrap_err();
        assert!(err.contains("no PEM private key"), "{err}");
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 7638 §3.1's canonical form, for an EC key: crv, kty, x, y in that order.
        let key = SigningKey::from_pem(&fixture("ec256.key.pem"), AssertionAlgorithm::Es256)
            .expect("key");
        let jwk = key.jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["x"].as_str().unwrap(),
            jwk["y"].as_str().unwrap()
        );
        let expected = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        assert_eq!(key.kid(), expected);
        assert_eq!(jwk["kid"], expected.as_str());
    }

    #[test]
    fn generated_keys_sign_what_their_public_half_verifies() {
        for algorithm in [AssertionAlgorithm::Es256, AssertionAlgorithm::EdDsa] {
            let key = SigningKey::generate(algorithm).expect("generate");
            let signature = URL_SAFE_NO_PAD
                .decode(key.sign(b"payload").expect("sign"))
                .expect("base64url");
            let public = match &key.pair {
                Pair::Es256(pair) => ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    pair.public_key().as_ref().to_vec(),
                )
                .verify(b"payload", &signature),
                Pair::EdDsa(pair) => ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ED25519,
                    pair.public_key().as_ref().to_vec(),
                )
                .verify(b"payload", &signature),
            };
            assert!(public.is_ok(), "{algorithm:?}");
        }
    }
}
