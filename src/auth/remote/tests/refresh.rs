//! The scheduled refresh on paused time: backoff, retries of the first fetch, keeping keys
//! while fetches fail until max_stale, and stopping/adopting a set's refresh task.

use super::*;

// ---- timing (paused clock) --------------------------------------------------------------------

#[test]
fn backoff_doubles_from_one_second_with_jitter_and_caps_at_a_minute() {
    for (failures, base) in [(1, 1), (2, 2), (3, 4), (4, 8), (7, 60), (40, 60)] {
        let base = Duration::from_secs(base);
        for _ in 0..50 {
            let delay = backoff(failures);
            assert!(
                delay >= base / 2 && delay <= base,
                "{failures} failures: {delay:?} outside [{:?}, {base:?}]",
                base / 2
            );
        }
    }
    let spread: std::collections::HashSet<Duration> = (0..20).map(|_| backoff(3)).collect();
    assert!(spread.len() > 1, "no jitter: {spread:?}");
}

#[tokio::test(start_paused = true)]
async fn first_fetch_retries_with_backoff_until_it_succeeds() {
    let script = Script::new(
        vec![down(), down(), down(), Ok(key_set(&["k1"]))],
        Duration::ZERO,
    );
    let sets = RemoteSets::with_fetcher(&config_with(&jwks_source()), script.clone())
        .on_timer(Timer::Tokio);
    let mut changed = sets.subscribe();
    let begin = Instant::now();
    sets.start(Arc::new(Metrics::new(&prometheus::Registry::new())));
    assert!(!sets.ready());
    while !sets.ready() {
        changed.changed().await.unwrap();
    }
    assert_eq!(script.calls(), 4);
    let started = script.started.lock().unwrap().clone();
    let gaps: Vec<Duration> = started.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(started[0], begin, "first fetch at once");
    for (gap, base) in gaps.iter().zip([1, 2, 4]) {
        let base = Duration::from_secs(base);
        assert!(*gap >= base / 2 && *gap <= base, "{gaps:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn refreshes_on_schedule_and_keeps_keys_while_fetches_fail() {
    let script = Script::new(
        vec![Ok(key_set(&["k1"])), down(), down(), Ok(key_set(&["k2"]))],
        Duration::ZERO,
    );
    let remote = cache(&script, jwks_source());
    let stop = CancellationToken::new();
    tokio::spawn(remote.clone().maintain(stop.clone(), Timer::Tokio));
    settle().await;
    assert_eq!(script.calls(), 1);
    assert_eq!(kids(&remote.current()), ["k1"]);

    // Nothing happens before jwks_refresh.
    tokio::time::sleep(Duration::from_secs(599)).await;
    assert_eq!(script.calls(), 1);
    // Then a refresh fails: the cached keys stay (stale-while-error), a retry follows.
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(script.calls(), 2);
    assert_eq!(kids(&remote.current()), ["k1"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(script.calls(), 3);
    assert_eq!(kids(&remote.current()), ["k1"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert_eq!(script.calls(), 4);
    assert_eq!(kids(&remote.current()), ["k2"]);
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn keys_are_dropped_after_max_stale_without_a_success() {
    let mut source = jwks_source();
    source.refresh = Duration::from_secs(60);
    source.max_stale = Duration::from_secs(300);
    let script = Script::new(vec![Ok(key_set(&["k1"])), down()], Duration::ZERO);
    let remote = cache(&script, source);
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(Metrics::new(&registry));
    let _ = remote.metrics.set(metrics);
    let stop = CancellationToken::new();
    tokio::spawn(remote.clone().maintain(stop.clone(), Timer::Tokio));
    settle().await;
    assert_eq!(remote.held(), Some(1));

    tokio::time::sleep(Duration::from_secs(299)).await;
    settle().await;
    assert_eq!(remote.held(), Some(1), "still within jwks_max_stale");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(remote.held(), None, "current() refuses stale keys at once");
    assert!(remote.current().keys.is_empty());
    // The next failed retry drops them for good and says so on the gauge.
    tokio::time::sleep(Duration::from_secs(60)).await;
    settle().await;
    assert!(read(&remote.cached).keys.keys.is_empty());
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    assert!(
        text.contains("wsgate_jwks_keys{issuer=\"idp\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("wsgate_jwks_refresh_total{issuer=\"idp\",result=\"error\"}"),
        "{text}"
    );
    stop.cancel();
}

#[tokio::test(start_paused = true)]
async fn stop_ends_the_refresh_and_adopt_carries_keys_over() {
    let script = Script::new(vec![Ok(key_set(&["k1"]))], Duration::ZERO);
    let config = Arc::new(config_with(&jwks_source()));
    let old = RemoteSets::with_fetcher(&config, script.clone()).on_timer(Timer::Tokio);
    old.start(Arc::new(Metrics::new(&prometheus::Registry::new())));
    settle().await;
    assert!(old.ready());
    assert_eq!(script.calls(), 1);

    let new = RemoteSets::with_fetcher(&config, script.clone()).on_timer(Timer::Tokio);
    assert!(!new.ready());
    new.adopt(&old);
    assert!(new.ready(), "adopted keys count as loaded");
    old.stop();
    new.start(Arc::new(Metrics::new(&prometheus::Registry::new())));
    settle().await;
    assert_eq!(
        script.calls(),
        1,
        "adopted keys are not refetched before jwks_refresh"
    );

    tokio::time::sleep(Duration::from_secs(600)).await;
    settle().await;
    assert_eq!(script.calls(), 2, "only the new set's task refreshes");
    drop(new);
    tokio::time::sleep(Duration::from_secs(6000)).await;
    settle().await;
    assert_eq!(script.calls(), 2, "dropping the set stops its task");
}
