//! Remote key sets against a fake JWKS server (docs/security-cases.md X1–X6, J9, J12, R6):
//! readiness waits for the first fetch, a JWKS outage keeps the cached keys, bad answers
//! and redirects are failed fetches, a new `kid` triggers one shared refetch, and a
//! token's `jku`/`x5u` are never contacted.

use jsonwebtoken::{Algorithm, Header};

use crate::support::jwks::{FakeJwks, REMOTE_ISSUER, Reply, remote_config, sign, token};
use crate::support::{
    EchoUpstream, TestProxy, Upgrade, closed_port_addr, eventually, expect_close, metric_value,
    within,
};

async fn proxy_on(upstream: &EchoUpstream, key_source: &str) -> TestProxy {
    TestProxy::start(&remote_config(&upstream.url(), "http", key_source), &[]).await
}

/// `jwks_url` pointing at `jwks`, with `extra` timing keys.
fn jwks_url(jwks: &FakeJwks, extra: &str) -> String {
    format!("jwks_url = \"{}\"\n{extra}", jwks.url("/jwks"))
}

/// Waits until `/readyz` answers `status` with `body`.
async fn readyz(proxy: &TestProxy, status: u16, body: &str) {
    eventually(&format!("/readyz {status} {body}"), || async {
        let response = proxy.admin_get("/readyz").await;
        (response.status == status && response.body_text() == body).then_some(())
    })
    .await;
}

/// The handshake's status, and its reason header when refused.
async fn handshake(proxy: &TestProxy, token: &str) -> (u16, Option<String>) {
    let upgrade = Upgrade::to("/ws").bearer(token);
    let (head, _stream) = within("the handshake answer", upgrade.send_head(proxy.addr())).await;
    (
        head.status,
        head.header("x-wsgate-reason").map(str::to_owned),
    )
}

fn allowed() -> (u16, Option<String>) {
    (101, None)
}

fn refused(status: u16, reason: &str) -> (u16, Option<String>) {
    (status, Some(reason.to_owned()))
}

async fn refreshes(proxy: &TestProxy, result: &str) -> f64 {
    let text = proxy.metrics().await;
    metric_value(
        &text,
        "wsgate_jwks_refresh_total",
        &[("issuer", "idp"), ("result", result)],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn x1_unreachable_at_startup_is_not_ready_then_serves_once_keys_arrive() {
    let upstream = EchoUpstream::start().await;
    let addr = closed_port_addr();
    let source = format!("jwks_url = \"http://{addr}/jwks\"");
    let proxy = proxy_on(&upstream, &source).await;

    readyz(&proxy, 503, "keys_unavailable").await;
    assert_eq!(
        handshake(&proxy, &token("k1")).await,
        refused(503, "keys_unavailable")
    );
    assert!(refreshes(&proxy, "error").await >= 1.0);

    // The JWKS comes up: the background retry (backoff from ~1 s) fetches it.
    let jwks = FakeJwks::start_at(addr, Reply::keys(&["k1"])).await;
    readyz(&proxy, 200, "ready").await;
    assert_eq!(handshake(&proxy, &token("k1")).await, allowed());
    assert!(jwks.requests() >= 1);

    let text = proxy.metrics().await;
    assert_eq!(refreshes(&proxy, "success").await, 1.0);
    assert_eq!(
        metric_value(&text, "wsgate_jwks_keys", &[("issuer", "idp")]),
        Some(1.0)
    );
    let last = metric_value(
        &text,
        "wsgate_jwks_last_success_timestamp_seconds",
        &[("issuer", "idp")],
    );
    assert!(last.is_some_and(|t| t > 1.7e9), "{last:?}");
}

#[tokio::test]
async fn x1_close_mode_answers_keys_unavailable_with_1011() {
    let upstream = EchoUpstream::start().await;
    let source = format!("jwks_url = \"http://{}/jwks\"", closed_port_addr());
    let proxy = TestProxy::start(&remote_config(&upstream.url(), "close", &source), &[]).await;
    let (mut session, _) = Upgrade::to("/ws")
        .bearer(&token("k1"))
        .open(proxy.addr())
        .await;
    assert_eq!(
        expect_close(&mut session).await,
        (1011, "keys_unavailable".to_owned())
    );
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn x2_jwks_down_after_a_good_fetch_keeps_serving_with_cached_keys() {
    let upstream = EchoUpstream::start().await;
    let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
    let proxy = proxy_on(&upstream, &jwks_url(&jwks, "")).await;
    readyz(&proxy, 200, "ready").await;
    jwks.stop().await;

    // An unknown kid triggers a refetch, which fails: the token is refused, the cached
    // set stays, and the service stays ready.
    assert_eq!(
        handshake(&proxy, &token("k9")).await,
        refused(403, "key_unknown")
    );
    assert_eq!(refreshes(&proxy, "error").await, 1.0);
    assert_eq!(handshake(&proxy, &token("k1")).await, allowed());
    readyz(&proxy, 200, "ready").await;
}

#[tokio::test]
async fn x3_bad_answers_are_failed_fetches_that_keep_the_last_good_set() {
    let upstream = EchoUpstream::start().await;
    let big = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(2 << 20));
    for (reply, result) in [
        (Reply::Json(500, "{}".into()), "error"),
        (
            Reply::Html("<html><body>maintenance</body></html>".into()),
            "invalid",
        ),
        (Reply::Json(200, "{}".into()), "invalid"),
        (Reply::Json(200, r#"{"keys":"x"}"#.into()), "invalid"),
        (Reply::Json(200, big), "invalid"),
        (Reply::Stall, "error"),
    ] {
        let what = format!("{reply:?}").chars().take(40).collect::<String>();
        let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
        let proxy = proxy_on(&upstream, &jwks_url(&jwks, "jwks_timeout = \"1s\"")).await;
        readyz(&proxy, 200, "ready").await;

        jwks.set(reply);
        assert_eq!(
            handshake(&proxy, &token("k2")).await,
            refused(403, "key_unknown"),
            "{what}"
        );
        assert_eq!(refreshes(&proxy, result).await, 1.0, "{what}");
        assert_eq!(handshake(&proxy, &token("k1")).await, allowed(), "{what}");
        assert_eq!(jwks.requests(), 2, "{what}");
        proxy.shutdown().await;
    }
}

#[tokio::test]
async fn x4_redirects_are_refused_and_never_followed() {
    let upstream = EchoUpstream::start().await;
    let elsewhere = FakeJwks::start(Reply::keys(&["k1"])).await;
    let jwks = FakeJwks::start(Reply::Redirect(elsewhere.url("/jwks"))).await;
    let proxy = proxy_on(&upstream, &jwks_url(&jwks, "")).await;

    readyz(&proxy, 503, "keys_unavailable").await;
    assert_eq!(
        handshake(&proxy, &token("k1")).await,
        refused(503, "keys_unavailable")
    );
    assert!(refreshes(&proxy, "error").await >= 1.0);
    assert_eq!(elsewhere.connections(), 0);
}

#[tokio::test]
async fn x5_rotation_new_kid_accepted_after_one_refetch_old_kid_then_refused() {
    let upstream = EchoUpstream::start().await;
    let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
    let proxy = proxy_on(&upstream, &jwks_url(&jwks, "")).await;
    readyz(&proxy, 200, "ready").await;
    assert_eq!(handshake(&proxy, &token("k1")).await, allowed());
    assert_eq!(jwks.requests(), 1);

    jwks.set(Reply::keys(&["k2"]));
    assert_eq!(handshake(&proxy, &token("k2")).await, allowed());
    assert_eq!(jwks.requests(), 2);
    // k1 left the published set: refused, and within the cooldown nothing is refetched.
    assert_eq!(
        handshake(&proxy, &token("k1")).await,
        refused(403, "key_unknown")
    );
    assert_eq!(jwks.requests(), 2);
}

/// 200 handshakes at once, each needing a key the cache does not hold.
async fn flood(proxy: &TestProxy, kid: &str) -> Vec<(u16, Option<String>)> {
    let token = token(kid);
    let addr = proxy.addr();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let upgrade = Upgrade::to("/ws").bearer(&token);
            tokio::spawn(async move {
                let (head, stream) = upgrade.send_head(addr).await;
                drop(stream);
                (
                    head.status,
                    head.header("x-wsgate-reason").map(str::to_owned),
                )
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(within("a flooded handshake", task).await.expect("task"));
    }
    answers
}

#[tokio::test]
async fn x6_concurrent_unknown_kids_share_exactly_one_fetch() {
    let upstream = EchoUpstream::start().await;
    let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
    let proxy = proxy_on(&upstream, &jwks_url(&jwks, "")).await;
    readyz(&proxy, 200, "ready").await;
    assert_eq!(jwks.requests(), 1);

    jwks.set(Reply::keys(&["k1", "k2"]));
    let answers = flood(&proxy, "k2").await;
    assert!(answers.iter().all(|a| *a == allowed()), "{answers:?}");
    assert_eq!(jwks.requests(), 2, "one refetch for 200 handshakes");
}

#[tokio::test]
async fn x6_handshakes_on_an_empty_cache_wait_for_the_one_fetch_under_way() {
    let upstream = EchoUpstream::start().await;
    let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
    jwks.hold();
    let proxy = proxy_on(&upstream, &jwks_url(&jwks, "")).await;
    eventually("the first fetch to arrive", || async {
        (jwks.requests() == 1).then_some(())
    })
    .await;

    let flooding = tokio::spawn({
        let addr = proxy.addr();
        async move {
            let token = token("k1");
            let tasks: Vec<_> = (0..200)
                .map(|_| {
                    let upgrade = Upgrade::to("/ws").bearer(&token);
                    tokio::spawn(async move { upgrade.send_head(addr).await.0.status })
                })
                .collect();
            let mut statuses = Vec::new();
            for task in tasks {
                statuses.push(task.await.expect("task"));
            }
            statuses
        }
    });
    jwks.release();
    let statuses = within("the flood", flooding).await.expect("flood");
    assert!(statuses.iter().all(|s| *s == 101), "{statuses:?}");
    assert_eq!(jwks.requests(), 1);
}

#[tokio::test]
async fn r6_random_kid_flood_costs_one_fetch_per_cooldown() {
    let upstream = EchoUpstream::start().await;
    let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
    let proxy = proxy_on(&upstream, &jwks_url(&jwks, "")).await;
    readyz(&proxy, 200, "ready").await;

    for round in 0..3 {
        let answers = flood(&proxy, &format!("random-{round}")).await;
        assert!(
            answers.iter().all(|a| *a == refused(403, "key_unknown")),
            "{answers:?}"
        );
    }
    assert_eq!(
        jwks.requests(),
        2,
        "the startup fetch and one kid-triggered refetch"
    );
}

#[tokio::test]
async fn j12_jku_and_x5u_are_never_contacted() {
    let upstream = EchoUpstream::start().await;
    let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
    // The attacker's listener publishes the very key the token is signed with.
    let attacker = FakeJwks::start(Reply::keys(&["evil"])).await;
    let proxy = proxy_on(&upstream, &jwks_url(&jwks, "")).await;
    readyz(&proxy, 200, "ready").await;

    let header = |jku: bool| Header {
        kid: Some("evil".to_owned()),
        jku: jku.then(|| attacker.url("/jwks")),
        x5u: (!jku).then(|| attacker.url("/cert.pem")),
        ..Header::new(Algorithm::ES256)
    };
    for jku in [true, false] {
        assert_eq!(
            handshake(&proxy, &sign(header(jku))).await,
            refused(403, "key_unknown")
        );
    }
    assert_eq!(attacker.connections(), 0);
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn discovery_finds_the_jwks_and_refuses_a_document_for_another_issuer() {
    let upstream = EchoUpstream::start().await;
    let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
    let good = FakeJwks::start(Reply::discovery(REMOTE_ISSUER, &jwks.url("/jwks"))).await;
    let source = |server: &FakeJwks| {
        format!(
            "discovery_url = \"{}\"",
            server.url("/.well-known/openid-configuration")
        )
    };
    let proxy = proxy_on(&upstream, &source(&good)).await;
    readyz(&proxy, 200, "ready").await;
    assert_eq!(handshake(&proxy, &token("k1")).await, allowed());

    let other = FakeJwks::start(Reply::discovery(
        "https://evil.wsgate.test",
        &jwks.url("/jwks"),
    ))
    .await;
    let fetched = jwks.requests();
    let refused_proxy = proxy_on(&upstream, &source(&other)).await;
    readyz(&refused_proxy, 503, "keys_unavailable").await;
    assert_eq!(
        handshake(&refused_proxy, &token("k1")).await,
        refused(503, "keys_unavailable")
    );
    assert!(refreshes(&refused_proxy, "invalid").await >= 1.0);
    assert_eq!(
        jwks.requests(),
        fetched,
        "the mismatching document's jwks_uri is never fetched"
    );
}

#[tokio::test]
async fn explain_runs_the_same_fetch_and_shows_one_jwks_step() {
    use wsgate::auth::trace::{Outcome, Step};
    use wsgate::auth::{Gate, RequestView};

    let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
    let toml = remote_config("ws://127.0.0.1:9", "http", &jwks_url(&jwks, ""));
    let config =
        wsgate::config::Config::parse(&toml, "<test>", &|_| None, std::path::Path::new("."))
            .expect("config");
    // No background refresh: the decision itself fetches (as `wsgate explain` does).
    let gate = Gate::new(std::sync::Arc::new(config)).expect("gate");
    let mut headers = http::HeaderMap::new();
    let bearer = format!("Bearer {}", token("k1"));
    headers.insert(http::header::AUTHORIZATION, bearer.parse().expect("header"));
    let view = RequestView {
        path: "/ws",
        query: None,
        headers: &headers,
        client_cert: &wsgate::net::tls::ClientCertificate::NotRequested,
    };
    let mut steps: Vec<Step> = Vec::new();
    let verdict = gate
        .decide(&view, wsgate::domain::clock::unix_now(), &mut steps)
        .await;
    assert!(verdict.is_ok(), "{verdict:?} {steps:#?}");
    assert_eq!(jwks.requests(), 1);
    let jwks_steps: Vec<&Step> = steps.iter().filter(|s| s.name == "jwks").collect();
    assert_eq!(jwks_steps.len(), 1, "{steps:#?}");
    assert!(
        jwks_steps[0]
            .detail
            .starts_with("keys_unavailable: refetched http://"),
        "{steps:#?}"
    );
    // The failed first attempt is not shown: no step failed.
    assert!(
        steps.iter().all(|s| !matches!(s.outcome, Outcome::Fail(_))),
        "{steps:#?}"
    );
}

/// A private identity provider: the key set is served over HTTPS with a certificate no
/// public root signed. `jwks_ca_file` trusts it; without it every fetch fails at TLS and
/// the issuer's callers get `keys_unavailable`.
#[tokio::test]
async fn jwks_ca_file_trusts_a_private_identity_providers_certificate() {
    let upstream = EchoUpstream::start().await;
    let jwks = FakeJwks::start_tls(Reply::keys(&["k1"])).await;
    let ca = format!(
        "{}/tests/fixtures/tls/localhost.crt.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    assert!(jwks.url("/jwks").starts_with("https://127.0.0.1:"));

    let trusting = proxy_on(
        &upstream,
        &jwks_url(&jwks, &format!("jwks_ca_file = {ca:?}")),
    )
    .await;
    readyz(&trusting, 200, "ready").await;
    assert_eq!(handshake(&trusting, &token("k1")).await, allowed());
    assert!(refreshes(&trusting, "success").await >= 1.0);

    let untrusting = proxy_on(&upstream, &jwks_url(&jwks, "")).await;
    eventually("a failed fetch over untrusted TLS", || async {
        (refreshes(&untrusting, "error").await >= 1.0).then_some(())
    })
    .await;
    readyz(&untrusting, 503, "keys_unavailable").await;
    assert_eq!(
        handshake(&untrusting, &token("k1")).await,
        refused(503, "keys_unavailable")
    );
    assert_eq!(
        metric_value(
            &untrusting.metrics().await,
            "wsgate_jwks_keys",
            &[("issuer", "idp")]
        ),
        Some(0.0),
        "no keys is a series at 0, which WsgateKeysUnavailable watches"
    );
}

/// The same through `discovery_url`: the discovery document and the key set it names are
/// both fetched trusting `jwks_ca_file`.
#[tokio::test]
async fn jwks_ca_file_covers_the_discovery_document_and_its_jwks_uri() {
    let upstream = EchoUpstream::start().await;
    let keys = FakeJwks::start_tls(Reply::keys(&["k1"])).await;
    let discovery = FakeJwks::start_tls(Reply::discovery(REMOTE_ISSUER, &keys.url("/jwks"))).await;
    let ca = format!(
        "{}/tests/fixtures/tls/localhost.crt.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let proxy = proxy_on(
        &upstream,
        &format!(
            "discovery_url = \"{}\"\njwks_ca_file = {ca:?}",
            discovery.url("/.well-known/openid-configuration")
        ),
    )
    .await;
    readyz(&proxy, 200, "ready").await;
    assert_eq!(handshake(&proxy, &token("k1")).await, allowed());
    assert_eq!(discovery.requests(), 1);
    assert!(keys.requests() >= 1);
}
