//! The cache's timing rules with a scripted fetcher on paused time, and the network
//! fetcher against a raw HTTP/1.1 server on 127.0.0.1.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::sets::RemoteSets;
use super::*;
use crate::auth::keys;
use crate::config::RemoteLocation;
use crate::config::{Config, KeySource};

// ---- fixtures -------------------------------------------------------------------------------

const ISS: &str = "https://idp.example.com";

fn source(location: RemoteLocation) -> RemoteSource {
    RemoteSource {
        location,
        refresh: Duration::from_secs(600),
        cooldown: Duration::from_secs(30),
        max_stale: Duration::from_secs(3600),
        timeout: Duration::from_secs(5),
        ca_file: None,
    }
}

fn issuer(source: RemoteSource) -> IssuerConfig {
    IssuerConfig {
        name: "idp".to_owned(),
        issuer: ISS.to_owned(),
        audiences: vec!["chat".to_owned()],
        algorithms: vec![Algorithm::ES256],
        keys: KeySource::Remote(source),
        typ: None,
        environments: Vec::new(),
        enabled: true,
    }
}

/// The committed P-256 test key as a JWK under `kid`.
fn jwk(kid: &str) -> Value {
    let path = format!("{}/tests/fixtures/jwks.json", env!("CARGO_MANIFEST_DIR"));
    let document: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut key = document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == "ec256-1")
        .unwrap()
        .clone();
    key["kid"] = json!(kid);
    key
}

fn jwks(kids: &[&str]) -> String {
    json!({ "keys": kids.iter().map(|kid| jwk(kid)).collect::<Vec<_>>() }).to_string()
}

fn key_set(kids: &[&str]) -> IssuerKeys {
    let issuer = issuer(source(RemoteLocation::Jwks("https://x/".parse().unwrap())));
    keys::from_jwks(&issuer, jwks(kids).as_bytes(), "test").unwrap()
}

fn kids(keys: &IssuerKeys) -> Vec<String> {
    keys.keys.iter().filter_map(|k| k.kid.clone()).collect()
}

// ---- a scripted fetcher -----------------------------------------------------------------------

/// Answers fetches from a script (the last answer repeats), each after `delay`.
struct Script {
    answers: Mutex<VecDeque<Result<IssuerKeys, Failure>>>,
    calls: AtomicUsize,
    /// When each fetch started.
    started: Mutex<Vec<Instant>>,
    delay: Duration,
}

impl Script {
    fn new(answers: Vec<Result<IssuerKeys, Failure>>, delay: Duration) -> Arc<Script> {
        Arc::new(Script {
            answers: Mutex::new(answers.into()),
            calls: AtomicUsize::new(0),
            started: Mutex::new(Vec::new()),
            delay,
        })
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Fetch for Script {
    fn fetch<'a>(
        &'a self,
        _issuer: &'a IssuerConfig,
        _source: &'a RemoteSource,
    ) -> BoxFuture<'a, Result<IssuerKeys, Failure>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.started.lock().unwrap().push(Instant::now());
        let answer = {
            let mut answers = self.answers.lock().unwrap();
            if answers.len() > 1 {
                answers.pop_front().unwrap()
            } else {
                answers.front().cloned().unwrap()
            }
        };
        let delay = self.delay;
        async move {
            tokio::time::sleep(delay).await;
            answer
        }
        .boxed()
    }
}

fn down() -> Result<IssuerKeys, Failure> {
    Err(Failure::Error("connection refused".into()))
}

fn cache(script: &Arc<Script>, source: RemoteSource) -> Arc<RemoteKeys> {
    Arc::new(RemoteKeys::new(
        issuer(source.clone()),
        source,
        script.clone(),
        Arc::new(watch::Sender::new(())),
    ))
}

fn jwks_source() -> RemoteSource {
    source(RemoteLocation::Jwks(
        "https://idp.example.com/jwks".parse().unwrap(),
    ))
}

/// Lets spawned tasks run to their next wait without moving the paused clock.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

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
    let sets = RemoteSets::with_fetcher(&config_with(&jwks_source()), script.clone());
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
    tokio::spawn(remote.clone().maintain(stop.clone()));
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
    tokio::spawn(remote.clone().maintain(stop.clone()));
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
    tokio::spawn(remote.clone().maintain(stop.clone()));
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

#[tokio::test(start_paused = true)]
async fn stop_ends_the_refresh_and_adopt_carries_keys_over() {
    let script = Script::new(vec![Ok(key_set(&["k1"]))], Duration::ZERO);
    let config = Arc::new(config_with(&jwks_source()));
    let old = RemoteSets::with_fetcher(&config, script.clone());
    old.start(Arc::new(Metrics::new(&prometheus::Registry::new())));
    settle().await;
    assert!(old.ready());
    assert_eq!(script.calls(), 1);

    let new = RemoteSets::with_fetcher(&config, script.clone());
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

/// A validated config with one remote issuer.
fn config_with(source: &RemoteSource) -> Config {
    let text = format!(
        "environment = \"test\"\n[upstream]\nurl = \"ws://127.0.0.1:1\"\n[[auth.issuers]]\nname = \"idp\"\nissuer = \"{ISS}\"\naudiences = [\"chat\"]\nalgorithms = [\"ES256\"]\njwks_url = \"{}\"",
        source.location.url()
    );
    Config::parse(&text, "test", &|_| None, std::path::Path::new("/")).unwrap()
}

// ---- the network fetcher against a raw HTTP server ---------------------------------------------

/// What the fake server answers on a path.
#[derive(Clone)]
enum Reply {
    Json(u16, String),
    Redirect(String),
    /// A 200 head promising more body than is ever sent.
    Stall,
}

struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(routes: Vec<(&str, Reply)>) -> Server {
        let routes: HashMap<String, Reply> = routes
            .into_iter()
            .map(|(path, reply)| (path.to_owned(), reply))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (routes, seen) = (routes.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                    seen.lock().unwrap().push(head);
                    let reply = routes
                        .get(&path)
                        .cloned()
                        .unwrap_or(Reply::Json(404, "{}".into()));
                    let bytes = match reply {
                        Reply::Json(status, body) => format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        ),
                        Reply::Redirect(location) => format!(
                            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
                        ),
                        Reply::Stall => {
                            "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"keys\":[".to_owned()
                        }
                    };
                    let _ = stream.write_all(bytes.as_bytes()).await;
                    // Hold the connection open (the stall) until the client goes away.
                    let _ = stream.read(&mut byte).await;
                });
            }
        });
        Server { addr, requests }
    }

    fn url(&self, path: &str) -> url::Url {
        format!("http://{}{path}", self.addr).parse().unwrap()
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

async fn fetch(location: RemoteLocation) -> Result<IssuerKeys, Failure> {
    let mut source = source(location);
    source.timeout = Duration::from_millis(500);
    Fetcher::new()
        .unwrap()
        .fetch(&issuer(source.clone()), &source)
        .await
}

#[tokio::test]
async fn fetches_a_jwks_with_accept_json_and_no_cookies() {
    let server = Server::start(vec![("/jwks", Reply::Json(200, jwks(&["a", "b"])))]).await;
    let keys = fetch(RemoteLocation::Jwks(server.url("/jwks")))
        .await
        .unwrap();
    assert_eq!(kids(&keys), ["a", "b"]);
    assert!(
        keys.keys[0]
            .description
            .contains("from JWKS http://127.0.0.1:")
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let head = requests[0].to_ascii_lowercase();
    assert!(head.starts_with("get /jwks http/1.1\r\n"), "{head}");
    assert!(head.contains("accept: application/json"), "{head}");
    assert!(head.contains(&format!("host: {}", server.addr)), "{head}");
    assert!(!head.contains("cookie"), "{head}");
}

#[tokio::test]
async fn bad_answers_are_failed_fetches_with_their_label() {
    let big = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(2 << 20));
    let server = Server::start(vec![
        ("/500", Reply::Json(500, "{}".into())),
        ("/html", Reply::Json(200, "<html>hello</html>".into())),
        ("/empty", Reply::Json(200, "{}".into())),
        ("/string", Reply::Json(200, r#"{"keys":"x"}"#.into())),
        ("/none", Reply::Json(200, r#"{"keys":[]}"#.into())),
        ("/big", Reply::Json(200, big)),
        ("/stall", Reply::Stall),
    ])
    .await;
    for (path, result, needle) in [
        ("/500", JwksRefreshResult::Error, "HTTP 500"),
        ("/html", JwksRefreshResult::Invalid, "not valid JSON"),
        ("/empty", JwksRefreshResult::Invalid, "\"keys\" array"),
        ("/string", JwksRefreshResult::Invalid, "\"keys\" array"),
        ("/none", JwksRefreshResult::Invalid, "no usable key"),
        (
            "/big",
            JwksRefreshResult::Invalid,
            "larger than 1048576 bytes",
        ),
        ("/stall", JwksRefreshResult::Error, "within jwks_timeout"),
    ] {
        let failure = fetch(RemoteLocation::Jwks(server.url(path)))
            .await
            .unwrap_err();
        assert_eq!(failure.result(), result, "{path}: {failure}");
        assert!(failure.message().contains(needle), "{path}: {failure}");
    }
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let target = Server::start(vec![("/jwks", Reply::Json(200, jwks(&["a"])))]).await;
    let server = Server::start(vec![(
        "/jwks",
        Reply::Redirect(target.url("/jwks").to_string()),
    )])
    .await;
    let failure = fetch(RemoteLocation::Jwks(server.url("/jwks")))
        .await
        .unwrap_err();
    assert_eq!(failure.result(), JwksRefreshResult::Error);
    assert!(
        failure.message().contains("redirects are not followed"),
        "{failure}"
    );
    assert!(target.requests().is_empty());
}

#[tokio::test]
async fn unreachable_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let url = format!("http://{addr}/jwks").parse().unwrap();
    let failure = fetch(RemoteLocation::Jwks(url)).await.unwrap_err();
    assert_eq!(failure.result(), JwksRefreshResult::Error);
    assert!(failure.message().contains("cannot connect"), "{failure}");
}

#[tokio::test]
async fn discovery_follows_jwks_uri_for_the_configured_issuer_only() {
    let keys = Server::start(vec![("/jwks", Reply::Json(200, jwks(&["d1"])))]).await;
    let discovery = |issuer: &str, jwks_uri: &str| {
        Reply::Json(
            200,
            json!({ "issuer": issuer, "jwks_uri": jwks_uri }).to_string(),
        )
    };
    let jwks_uri = keys.url("/jwks").to_string();
    let server = Server::start(vec![
        ("/good", discovery(ISS, &jwks_uri)),
        ("/other", discovery("https://evil.example.com", &jwks_uri)),
        ("/slash", discovery(&format!("{ISS}/"), &jwks_uri)),
        ("/plain", discovery(ISS, "http://idp.example.com/jwks")),
        (
            "/nouri",
            Reply::Json(200, json!({ "issuer": ISS }).to_string()),
        ),
    ])
    .await;

    let fetched = fetch(RemoteLocation::Discovery(server.url("/good")))
        .await
        .unwrap();
    assert_eq!(kids(&fetched), ["d1"]);
    assert_eq!(keys.requests().len(), 1);

    for (path, needle) in [
        ("/other", "names issuer \"https://evil.example.com\""),
        ("/slash", "not the configured"),
        ("/plain", "is not an https URL"),
        ("/nouri", "no \"jwks_uri\""),
    ] {
        let failure = fetch(RemoteLocation::Discovery(server.url(path)))
            .await
            .unwrap_err();
        assert_eq!(failure.result(), JwksRefreshResult::Invalid, "{path}");
        assert!(failure.message().contains(needle), "{path}: {failure}");
    }
    assert_eq!(
        keys.requests().len(),
        1,
        "a refused document's jwks_uri is never fetched"
    );
}
