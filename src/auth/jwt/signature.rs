//! Step 9: the signature, with the key's own pinned algorithm.
//!
//! RS256/384/512 signatures are checked with `aws-lc-rs` against the key parsed once at
//! load (`VerifyKey::rsa`): ring re-derives the modulus' Montgomery constants on every
//! verification, a third of its cost. PS* and ECDSA (ES256, ES384) signatures are checked
//! with `ring`, already in the tree through rustls: 5-7x cheaper than jsonwebtoken's
//! pure-Rust backend (27 µs vs 203 µs for RS256 2048, docs/performance.md); a handshake
//! pays for one verification. HMAC also goes through `ring`, with the key prepared once when
//! it is loaded (`VerifyKey::hmac`) and a constant-time comparison; EdDSA goes through
//! `jsonwebtoken::crypto::verify`. Either way the algorithm comes from the key, never from the token, and a failure is final:
//! there is no second attempt with another implementation.

use jsonwebtoken::{Algorithm, DecodingKeyKind};
use ring::signature::{self as ring_sig, RsaParameters, UnparsedPublicKey};

use crate::auth::keys::VerifyKey;

/// Whether `signature` (base64url; `decoded`, its bytes) over `input` verifies with `key`.
pub(super) fn verify_signature(
    key: &VerifyKey,
    input: &[u8],
    signature: &str,
    decoded: &[u8],
) -> bool {
    if let Some(hmac) = &key.hmac {
        return ring::hmac::verify(hmac, input, decoded).is_ok();
    }
    if let Some(rsa) = &key.rsa {
        return rsa.verify_sig(input, decoded).is_ok();
    }
    match (
        rsa_parameters(key.algorithm),
        ecdsa_algorithm(key.algorithm),
        key.key.kind(),
    ) {
        (Some(parameters), _, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            ring_sig::RsaPublicKeyComponents { n, e }
                .verify(parameters, input, decoded)
                .is_ok()
        }
        (_, Some(algorithm), DecodingKeyKind::SecretOrDer(point)) => {
            UnparsedPublicKey::new(algorithm, point)
                .verify(input, decoded)
                .is_ok()
        }
        _ => matches!(
            jsonwebtoken::crypto::verify(signature, input, &key.key, key.algorithm),
            Ok(true)
        ),
    }
}

fn rsa_parameters(algorithm: Algorithm) -> Option<&'static RsaParameters> {
    Some(match algorithm {
        Algorithm::RS256 => &ring_sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &ring_sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &ring_sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn ecdsa_algorithm(algorithm: Algorithm) -> Option<&'static ring_sig::EcdsaVerificationAlgorithm> {
    match algorithm {
        Algorithm::ES256 => Some(&ring_sig::ECDSA_P256_SHA256_FIXED),
        Algorithm::ES384 => Some(&ring_sig::ECDSA_P384_SHA384_FIXED),
        _ => None,
    }
}
