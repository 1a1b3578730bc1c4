//! The cache's own rules, without the gate: bounded, never past `exp`, tied to a key set,
//! and the revocation hook.

use std::sync::Arc;

use super::*;
use crate::auth::jwt::Claims;
use jsonwebtoken::Algorithm;

const NOW: u64 = 1_700_000_000;

fn verified(subject: &str, issuer: usize, expires_at: u64) -> Arc<VerifiedToken> {
    Arc::new(VerifiedToken {
        issuer: crate::config::IssuerId::nth(issuer),
        claims: Claims::default(),
        subject: subject.to_owned(),
        expires_at,
        key_fingerprint: "sha256:test".into(),
        algorithm: Algorithm::HS256,
        jti: None,
        kid: None,
    })
}

fn key_sets(n: usize) -> Vec<Arc<IssuerKeys>> {
    (0..n).map(|_| Arc::new(IssuerKeys::default())).collect()
}

#[test]
fn off_at_zero_stores_nothing() {
    let cache = TokenCache::new(0);
    let keys = key_sets(1);
    let key = TokenCache::digest("a");
    cache.insert(key, verified("a", 0, NOW + 60), &keys[0], NOW);
    assert!(cache.is_empty());
    assert!(cache.get(&key, &keys, NOW).is_none());
}

#[test]
fn a_token_inserted_is_found_until_exp() {
    let cache = TokenCache::new(4);
    let keys = key_sets(1);
    let key = TokenCache::digest("token-a");
    cache.insert(key, verified("alice", 0, NOW + 60), &keys[0], NOW);
    let hit = cache.get(&key, &keys, NOW + 59).expect("a hit before exp");
    assert_eq!(hit.subject, "alice");
    assert!(
        cache
            .get(&TokenCache::digest("token-b"), &keys, NOW)
            .is_none()
    );
}

#[test]
fn cached_entry_never_outlives_exp() {
    let cache = TokenCache::new(4);
    let keys = key_sets(1);
    let key = TokenCache::digest("token-a");
    cache.insert(key, verified("alice", 0, NOW + 60), &keys[0], NOW);
    assert!(
        cache.get(&key, &keys, NOW + 60).is_none(),
        "at exp it is gone"
    );
    assert!(cache.is_empty(), "an expired entry is dropped when seen");
    // A token already expired (verified within its leeway) is never stored.
    cache.insert(key, verified("alice", 0, NOW), &keys[0], NOW);
    assert!(cache.is_empty());
}

#[test]
fn cached_entry_not_used_after_key_set_change() {
    let cache = TokenCache::new(4);
    let keys = key_sets(2);
    let key = TokenCache::digest("token-a");
    cache.insert(key, verified("alice", 1, NOW + 60), &keys[1], NOW);
    assert!(cache.get(&key, &keys, NOW).is_some());
    // Issuer 1's set is replaced (a JWKS refresh): the entry no longer counts.
    let refreshed = vec![keys[0].clone(), Arc::new(IssuerKeys::default())];
    assert!(cache.get(&key, &refreshed, NOW).is_none());
    assert!(
        cache.get(&key, &keys, NOW).is_none(),
        "and it is gone for good"
    );
}

#[test]
fn bounded_oldest_insertion_goes_first() {
    let cache = TokenCache::new(3);
    let keys = key_sets(1);
    let digests: Vec<TokenDigest> = (0..5)
        .map(|i| TokenCache::digest(&format!("token-{i}")))
        .collect();
    for (i, digest) in digests.iter().enumerate() {
        cache.insert(
            *digest,
            verified(&format!("u{i}"), 0, NOW + 60),
            &keys[0],
            NOW,
        );
        assert!(cache.len() <= 3);
    }
    assert!(cache.get(&digests[0], &keys, NOW).is_none());
    assert!(cache.get(&digests[1], &keys, NOW).is_none());
    for digest in &digests[2..] {
        assert!(cache.get(digest, &keys, NOW).is_some());
    }
}

#[test]
fn eviction_order_stays_bounded_under_churn() {
    let cache = TokenCache::new(2);
    let keys = key_sets(1);
    for round in 0..1000u64 {
        let digest = TokenCache::digest(&format!("token-{}", round % 7));
        cache.insert(digest, verified("u", 0, NOW + 60), &keys[0], NOW);
        if round % 3 == 0 {
            cache.invalidate(|_| true);
        }
    }
    assert!(cache.len() <= 2);
    assert!(cache.lock().order.len() <= 4);
}

#[test]
fn revocation_hook_drops_matching_entries() {
    let cache = TokenCache::new(8);
    let keys = key_sets(1);
    let alice = TokenCache::digest("token-alice");
    let bob = TokenCache::digest("token-bob");
    cache.insert(alice, verified("alice", 0, NOW + 60), &keys[0], NOW);
    cache.insert(bob, verified("bob", 0, NOW + 60), &keys[0], NOW);
    assert_eq!(cache.invalidate(|token| token.subject == "alice"), 1);
    assert!(cache.get(&alice, &keys, NOW).is_none());
    assert!(cache.get(&bob, &keys, NOW).is_some());
}

#[test]
fn counters_split_hits_and_misses() {
    let cache = TokenCache::new(4);
    let hit = IntCounter::new("hit", "hit").expect("counter");
    let miss = IntCounter::new("miss", "miss").expect("counter");
    cache.attach_counters(hit.clone(), miss.clone());
    let keys = key_sets(1);
    let key = TokenCache::digest("token-a");
    assert!(cache.get(&key, &keys, NOW).is_none());
    cache.insert(key, verified("alice", 0, NOW + 60), &keys[0], NOW);
    assert!(cache.get(&key, &keys, NOW).is_some());
    assert_eq!((hit.get(), miss.get()), (1, 1));
}
