//! Refetches on an unknown kid on paused time: at most one per cooldown, concurrent ones
//! share one fetch, a waiter giving up does not cancel it, and it joins a scheduled fetch.

use super::*;

#[tokio::test(start_paused = true)]
async fn unknown_kid_refetches_at_most_once_per_cooldown() {
    let script = Script::new(
        vec![Ok(key_set(&["k1"])), Ok(key_set(&["k1", "k2"]))],
        Duration::ZERO,
    );
    let remote = cache(&script, jwks_source());
    let seen = remote.current();
    assert!(matches!(remote.refetch(&seen).await, Refetch::Done(_)));
    assert_eq!(script.calls(), 1);

    let seen = remote.current();
    let refused = remote.refetch(&seen).await;
    assert!(
        matches!(&refused, Refetch::CoolingDown(why) if why.contains("jwks_cooldown is 30s")),
        "{refused:?}"
    );
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert!(matches!(
        remote.refetch(&seen).await,
        Refetch::CoolingDown(_)
    ));
    assert_eq!(script.calls(), 1);

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(matches!(remote.refetch(&seen).await, Refetch::Done(_)));
    assert_eq!(script.calls(), 2);
    assert_eq!(kids(&remote.current()), ["k1", "k2"]);
}

#[tokio::test(start_paused = true)]
async fn concurrent_refetches_share_one_fetch() {
    let script = Script::new(vec![Ok(key_set(&["k1"]))], Duration::from_secs(2));
    let remote = cache(&script, jwks_source());
    let seen = remote.current();
    let waiters: Vec<_> = (0..200)
        .map(|_| {
            let (remote, seen) = (remote.clone(), seen.clone());
            tokio::spawn(async move { remote.refetch(&seen).await })
        })
        .collect();
    for waiter in waiters {
        let outcome = waiter.await.unwrap();
        assert!(matches!(outcome, Refetch::Done(_)), "{outcome:?}");
    }
    assert_eq!(script.calls(), 1);
    assert_eq!(remote.held(), Some(1));
    // A caller that verified against the old set after the fetch landed just retries.
    assert_eq!(
        remote.refetch(&seen).await,
        Refetch::Done("the cached keys changed meanwhile".into())
    );
    assert_eq!(script.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_that_gives_up_does_not_cancel_the_fetch() {
    let script = Script::new(vec![Ok(key_set(&["k1"]))], Duration::from_secs(2));
    let remote = cache(&script, jwks_source());
    let seen = remote.current();
    let gave_up = tokio::time::timeout(Duration::from_millis(100), remote.refetch(&seen)).await;
    assert!(gave_up.is_err());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(remote.held(), Some(1));
    assert_eq!(script.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_triggered_fetch_joins_the_scheduled_one() {
    let script = Script::new(vec![Ok(key_set(&["k1"]))], Duration::from_secs(2));
    let remote = cache(&script, jwks_source());
    let stop = CancellationToken::new();
    tokio::spawn(remote.clone().maintain(stop.clone(), Timer::Tokio));
    settle().await;
    assert_eq!(script.calls(), 1, "the first scheduled fetch is under way");
    let empty = remote.current();
    assert!(matches!(remote.refetch(&empty).await, Refetch::Done(_)));
    assert_eq!(script.calls(), 1);
    assert_eq!(remote.held(), Some(1));
    // The scheduled fetch did not use up the cooldown: a kid miss may still fetch.
    let seen = remote.current();
    assert!(matches!(remote.refetch(&seen).await, Refetch::Done(_)));
    assert_eq!(script.calls(), 2);
    stop.cancel();
}
