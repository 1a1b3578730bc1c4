//! The keyed end-to-end test bypass.
//!
//! Only the configured bypass header, carrying one of the configured keys, grants the
//! bypass, and only where the bypass is active (enabled, environment allowed, not
//! production). Headers such as `X-E2E-Test: true` grant nothing: they are never read.
//! Keys are compared as SHA-256 digests with `subtle`, so the comparison takes the same
//! time whatever the key's length and however much of a guess matches.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{BypassConfig, BypassKeyId};
use crate::domain::refusal::Refusal;

/// Longest test identity accepted from the bypass user header.
pub const MAX_USER_BYTES: usize = 256;

/// A successful bypass: which key matched and the test identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BypassGrant {
    /// The key that matched (`BypassConfig::key`).
    pub key: BypassKeyId,
    pub user: String,
}

/// `Ok(None)`: no bypass header, the JWT path decides. `Ok(Some)`: the bypass decides and
/// grants. `Err`: the bypass header is present and the bypass refuses.
pub fn check(config: &BypassConfig, headers: &HeaderMap) -> Result<Option<BypassGrant>, Refusal> {
    let mut values = headers.get_all(&config.header).iter();
    let Some(presented) = values.next() else {
        return Ok(None);
    };
    if !config.active {
        return Err(Refusal::E2eBypassDisabled);
    }
    if values.next().is_some() {
        return Err(Refusal::E2eKeyInvalid);
    }
    let key = matching_key(config, presented.as_bytes()).ok_or(Refusal::E2eKeyInvalid)?;
    let user = match headers.get(&config.user_header) {
        None => config.default_user.clone(),
        Some(value) => valid_user(value.as_bytes()).ok_or(Refusal::ClaimInvalid)?,
    };
    Ok(Some(BypassGrant { key, user }))
}

/// Compares against every key, without an early exit, in constant time per key.
fn matching_key(config: &BypassConfig, presented: &[u8]) -> Option<BypassKeyId> {
    let presented = Sha256::digest(presented);
    let mut matched = None;
    for (id, key) in config.key_ids() {
        let expected = Sha256::digest(key.secret.expose());
        if bool::from(expected.ct_eq(&presented)) && matched.is_none() {
            matched = Some(id);
        }
    }
    matched
}

fn valid_user(bytes: &[u8]) -> Option<String> {
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_USER_BYTES
        && bytes.iter().all(|b| b.is_ascii_graphic());
    ok.then(|| String::from_utf8_lossy(bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::header_map as with;
    use crate::config::{BypassKey, Secret, SecretSource};
    use http::HeaderName;

    const KEY: &str = "0123456789abcdef0123456789abcdef-ci";

    fn config(active: bool) -> BypassConfig {
        BypassConfig {
            active,
            enabled: active,
            header: HeaderName::from_static("x-e2e-bypass-key"),
            keys: vec![
                BypassKey {
                    name: "old".into(),
                    secret: Secret::new(SecretSource::Env("OLD".into()), b"x".repeat(40)),
                },
                BypassKey {
                    name: "ci".into(),
                    secret: Secret::new(SecretSource::Env("CI".into()), KEY.as_bytes().to_vec()),
                },
            ],
            allowed_environments: vec!["staging".into()],
            user_header: HeaderName::from_static("x-e2e-user"),
            default_user: "e2e-test-user".into(),
        }
    }

    #[test]
    fn correct_key_grants_with_default_or_given_user() {
        let bypass = config(true);
        let grant = check(&bypass, &with(&[("x-e2e-bypass-key", KEY)])).unwrap();
        let second = bypass.key_ids().nth(1).map(|(id, _)| id);
        assert_eq!(
            grant,
            second.map(|key| BypassGrant {
                key,
                user: "e2e-test-user".into()
            })
        );
        let grant = check(
            &config(true),
            &with(&[("x-e2e-bypass-key", KEY), ("x-e2e-user", "alice")]),
        )
        .unwrap();
        assert_eq!(grant.unwrap().user, "alice");
    }

    #[test]
    fn near_miss_keys_are_invalid() {
        let prefix = &KEY[..KEY.len() - 1];
        let upper = KEY.to_uppercase();
        let spaced = format!("{KEY} x");
        for value in ["", "wrong", prefix, upper.as_str(), spaced.as_str()] {
            let result = check(&config(true), &with(&[("x-e2e-bypass-key", value)]));
            assert_eq!(result, Err(Refusal::E2eKeyInvalid), "{value:?}");
        }
        let two = with(&[("x-e2e-bypass-key", KEY), ("x-e2e-bypass-key", KEY)]);
        assert_eq!(check(&config(true), &two), Err(Refusal::E2eKeyInvalid));
    }

    #[test]
    fn bypass_never_works_when_inactive() {
        let result = check(&config(false), &with(&[("x-e2e-bypass-key", KEY)]));
        assert_eq!(result, Err(Refusal::E2eBypassDisabled));
    }

    #[test]
    fn header_only_test_markers_grant_nothing() {
        let markers = with(&[
            ("x-e2e-test", "true"),
            ("x-test-type", "e2e"),
            ("x-test-mode", "1"),
            ("x-e2e-bypass_key", KEY),
        ]);
        assert_eq!(check(&config(true), &markers), Ok(None));
    }
}
