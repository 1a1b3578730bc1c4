//! The verified-token cache (`auth.token_cache_size`, src/auth/cache.rs): a token seen
//! again is a hit, and a cached token is never let in past its `exp`, after its issuer's
//! key set changed, on a route whose claims it does not meet, or once revoked.

use crate::support::control::{self, ADMIN_TOKEN, ADMIN_TOKEN_ENV, admin_table};
use crate::support::jwks::{FakeJwks, Reply, remote_config, token};
use crate::support::tokens::{Claims, SECRET, SECRET_ENV, now};
use crate::support::{EchoUpstream, TestProxy, Upgrade, eventually, metric_value, within};

/// The builder's HS256 proxy with `auth.leeway = "0s"` and a cache of 16 tokens.
async fn cached_proxy(upstream: &EchoUpstream) -> TestProxy {
    let toml = TestProxy::builder()
        .upstream(&upstream.url())
        .toml()
        .replace(
            "leeway = \"5s\"\n",
            "leeway = \"0s\"\ntoken_cache_size = 16\n",
        );
    assert!(toml.contains("token_cache_size = 16"), "{toml}");
    TestProxy::start(&toml, &[(SECRET_ENV, SECRET)]).await
}

/// The handshake's status and reason header.
async fn handshake(proxy: &TestProxy, path: &str, token: &str) -> (u16, Option<String>) {
    let upgrade = Upgrade::to(path).bearer(token);
    let (head, _stream) = within("the handshake answer", upgrade.send_head(proxy.addr())).await;
    (
        head.status,
        head.header("x-wsgate-reason").map(str::to_owned),
    )
}

async fn lookups(proxy: &TestProxy, result: &str) -> f64 {
    let text = proxy.metrics().await;
    metric_value(
        &text,
        "wsgate_token_cache_lookups_total",
        &[("result", result)],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn a_token_seen_again_is_a_cache_hit() {
    let upstream = EchoUpstream::start().await;
    let proxy = cached_proxy(&upstream).await;
    let token = Claims::valid_for("alice").sign();

    assert_eq!(handshake(&proxy, "/ws", &token).await, (101, None));
    assert_eq!(lookups(&proxy, "miss").await, 1.0);
    assert_eq!(lookups(&proxy, "hit").await, 0.0);
    assert_eq!(handshake(&proxy, "/ws", &token).await, (101, None));
    assert_eq!(lookups(&proxy, "hit").await, 1.0);
    // A different token is verified on its own.
    let other = Claims::valid_for("bob").sign();
    assert_eq!(handshake(&proxy, "/ws", &other).await, (101, None));
    assert_eq!(lookups(&proxy, "miss").await, 2.0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn cached_token_never_outlives_exp() {
    let upstream = EchoUpstream::start().await;
    let proxy = cached_proxy(&upstream).await;
    let exp = now() + 2;
    let token = Claims::valid_for("alice").set("exp", exp).sign();

    assert_eq!(handshake(&proxy, "/ws", &token).await, (101, None));
    // Cached now; once exp passes (leeway 0) the cache must not answer for it.
    eventually("the cached token to be refused after exp", || async {
        let answer = handshake(&proxy, "/ws", &token).await;
        (answer.0 != 101).then_some(answer)
    })
    .await;
    assert!(now() >= exp, "refused before exp");
    assert_eq!(
        handshake(&proxy, "/ws", &token).await,
        (403, Some("token_expired".to_owned()))
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn cached_token_still_meets_each_routes_claims() {
    let upstream = EchoUpstream::start().await;
    let proxy = cached_proxy(&upstream).await;
    // valid_for's scope lacks chat:admin, which /scoped requires.
    let token = Claims::valid_for("alice").sign();

    assert_eq!(handshake(&proxy, "/ws", &token).await, (101, None));
    assert_eq!(
        handshake(&proxy, "/scoped", &token).await,
        (403, Some("claim_mismatch".to_owned()))
    );
    assert_eq!(lookups(&proxy, "hit").await, 1.0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn cached_token_not_used_after_key_set_change() {
    let upstream = EchoUpstream::start().await;
    let jwks = FakeJwks::start(Reply::keys(&["k1"])).await;
    let source = format!("jwks_url = \"{}\"", jwks.url("/jwks"));
    let toml = remote_config(&upstream.url(), "http", &source).replace(
        "leeway = \"5s\"\n",
        "leeway = \"5s\"\ntoken_cache_size = 16\n",
    );
    assert!(toml.contains("token_cache_size = 16"), "{toml}");
    let proxy = TestProxy::start(&toml, &[]).await;
    eventually("the first JWKS fetch", || async {
        let response = proxy.admin_get("/readyz").await;
        (response.status == 200).then_some(())
    })
    .await;

    let old = token("k1");
    assert_eq!(handshake(&proxy, "/ws", &old).await, (101, None));
    assert_eq!(handshake(&proxy, "/ws", &old).await, (101, None));
    assert_eq!(lookups(&proxy, "hit").await, 1.0);

    // The issuer rotates k1 out; a token naming k2 makes wsgate refetch the set.
    jwks.set(Reply::keys(&["k2"]));
    assert_eq!(handshake(&proxy, "/ws", &token("k2")).await, (101, None));
    // The cached k1 token was verified with the old set: verified again, and refused.
    assert_eq!(
        handshake(&proxy, "/ws", &old).await,
        (403, Some("key_unknown".to_owned()))
    );
    assert_eq!(lookups(&proxy, "hit").await, 1.0);
    proxy.shutdown().await;
    jwks.stop().await;
}

#[tokio::test]
async fn revoked_token_is_refused_even_when_cached() {
    let upstream = EchoUpstream::start().await;
    let toml = TestProxy::builder()
        .upstream(&upstream.url())
        .table(&admin_table())
        .toml()
        .replace(
            "leeway = \"5s\"\n",
            "leeway = \"5s\"\ntoken_cache_size = 16\n",
        );
    assert!(toml.contains("token_cache_size = 16"), "{toml}");
    let proxy = TestProxy::start(
        &toml,
        &[(SECRET_ENV, SECRET), (ADMIN_TOKEN_ENV, ADMIN_TOKEN)],
    )
    .await;
    let token = Claims::valid_for("alice").set("jti", "t-1").sign();

    assert_eq!(handshake(&proxy, "/ws", &token).await, (101, None));
    assert_eq!(handshake(&proxy, "/ws", &token).await, (101, None));
    assert_eq!(lookups(&proxy, "hit").await, 1.0);

    let answer = control::revoke(proxy.admin_addr(), Some(ADMIN_TOKEN), r#"{"jti":"t-1"}"#).await;
    assert_eq!(answer.status, 200, "{}", answer.body_text());
    // Revocation is judged per request on the grant (proxy/admit.rs), after the cache: a
    // hit still meets it.
    assert_eq!(
        handshake(&proxy, "/ws", &token).await,
        (403, Some("token_revoked".to_owned()))
    );
    assert_eq!(lookups(&proxy, "hit").await, 2.0);
    proxy.shutdown().await;
}
