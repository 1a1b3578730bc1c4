//! Session control across replicas: two `wsgate run` processes (the real binary) sharing
//! one real `redis-server`. A revocation at one replica closes the session on the other;
//! a refresh sent to the wrong replica still moves the session's expiry; the caps count
//! sessions on both; Redis killed and restarted mid-test; a replica cut off from Redis
//! applies the revocations it missed once it is back. `session_control` runs the same
//! scenarios on one replica with the in-memory store.

use std::net::SocketAddr;

use crate::support::control::{self, ADMIN_TOKEN, ADMIN_TOKEN_ENV, admin_table};
use crate::support::process::bound_addresses;
use crate::support::redis::{Link, RedisServer};
use crate::support::tokens::{Claims, SECRET, SECRET_ENV, alice, now};
use crate::support::{
    EchoUpstream, TempDir, TestProxy, Upgrade, WsgateProcess, eventually, expect_close,
    expect_echo, metric_value,
};

const REDIS_ENV: &str = "WSGATE_TEST_REDIS_URL";

/// One `wsgate run` process.
struct Replica {
    process: WsgateProcess,
    proxy: SocketAddr,
    admin: SocketAddr,
}

impl Replica {
    /// Starts a replica on `redis_url` and waits until it is ready (Redis answered).
    async fn start(
        dir: &TempDir,
        name: &str,
        upstream: &str,
        sessions: &str,
        redis_url: &str,
    ) -> Replica {
        let toml = TestProxy::builder()
            .upstream(upstream)
            .table(&admin_table())
            .table(&format!(
                "[sessions]\nstore = \"redis\"\nredis_url = {{ env = \"{REDIS_ENV}\" }}\nstore_timeout = \"300ms\"\n{sessions}"
            ))
            .toml();
        let config = dir
            .write(&format!("{name}.toml"), &toml)
            .display()
            .to_string();
        let mut process = WsgateProcess::spawn(
            &["run", "--config", &config],
            &[
                (SECRET_ENV, SECRET),
                (ADMIN_TOKEN_ENV, ADMIN_TOKEN),
                (REDIS_ENV, redis_url),
            ],
        );
        let (proxy, admin) = bound_addresses(&mut process).await;
        let replica = Replica {
            process,
            proxy,
            admin,
        };
        replica.wait_ready().await;
        replica
    }

    async fn wait_ready(&self) {
        let admin = self.admin;
        eventually("the replica to be ready", || async move {
            let response = crate::support::proxy::admin_get(admin, "/readyz").await;
            (response.status == 200).then_some(())
        })
        .await;
    }

    async fn metrics(&self) -> String {
        crate::support::proxy::admin_get(self.admin, "/metrics")
            .await
            .body_text()
    }
}

fn session_id(response: &tokio_tungstenite::tungstenite::handshake::client::Response) -> String {
    response
        .headers()
        .get("x-wsgate-session")
        .and_then(|v| v.to_str().ok())
        .expect("X-Wsgate-Session on the 101")
        .to_owned()
}

struct Cluster {
    _dir: TempDir,
    upstream: EchoUpstream,
    redis: RedisServer,
    a: Replica,
    b: Replica,
}

async fn cluster(sessions: &str) -> Cluster {
    let redis = RedisServer::start().await;
    let upstream = EchoUpstream::start().await;
    let dir = TempDir::new();
    let a = Replica::start(&dir, "a", &upstream.url(), sessions, &redis.url()).await;
    let b = Replica::start(&dir, "b", &upstream.url(), sessions, &redis.url()).await;
    Cluster {
        _dir: dir,
        upstream,
        redis,
        a,
        b,
    }
}

#[tokio::test]
async fn a_revocation_at_one_replica_closes_the_session_on_the_other() {
    let cluster = cluster("").await;
    let (mut on_b, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .open(cluster.b.proxy)
        .await;
    let bob = Claims::valid_for("bob").sign();
    let (mut bystander, _) = Upgrade::to("/ws").bearer(&bob).open(cluster.b.proxy).await;
    expect_echo(&mut on_b, "before").await;

    let listed = control::sessions(cluster.a.admin, Some(ADMIN_TOKEN), "").await;
    assert_eq!(listed.status, 200, "{}", listed.body_text());
    assert_eq!(
        listed.json()["count"],
        2,
        "A lists B's sessions: {}",
        listed.body_text()
    );

    let revoked = control::revoke(cluster.a.admin, Some(ADMIN_TOKEN), r#"{"user":"alice"}"#).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body_text());
    let started = tokio::time::Instant::now();
    let mut cluster = cluster;
    cluster
        .a
        .process
        .wait_for_line("the revocation's audit line", |line| {
            (line.contains("\"audit\":\"revoke\"") && line.contains("alice")).then_some(())
        })
        .await;
    assert!(
        !cluster.a.process.output().contains(ADMIN_TOKEN),
        "the admin token is never logged"
    );
    assert_eq!(
        expect_close(&mut on_b).await,
        (1008, "token_revoked".to_owned())
    );
    eprintln!(
        "the session on the other replica closed {:?} after the revocation",
        started.elapsed()
    );
    assert_eq!(
        cluster.upstream.close_received(0).await,
        Some((1001, "token_revoked".to_owned()))
    );
    expect_echo(&mut bystander, "unaffected").await;

    for replica in [&cluster.a, &cluster.b] {
        let refused = Upgrade::to("/ws")
            .bearer(&alice())
            .send(replica.proxy)
            .await;
        assert_eq!(refused.status, 403);
        assert_eq!(refused.header("x-wsgate-reason"), Some("token_revoked"));
    }
    let text = cluster.b.metrics().await;
    assert_eq!(
        metric_value(&text, "wsgate_sessions_revoked_total", &[("scope", "user")]),
        Some(1.0)
    );
    let text = cluster.a.metrics().await;
    assert_eq!(
        metric_value(&text, "wsgate_revocations_total", &[("scope", "user")]),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_refresh_sent_to_the_other_replica_outlives_the_first_token() {
    let cluster = cluster("").await;
    let short = Claims::valid_for("alice").set("exp", now() + 1).sign();
    let (mut unrefreshed, _) = Upgrade::to("/ws")
        .bearer(&short)
        .open(cluster.b.proxy)
        .await;
    let (mut refreshed, response) = Upgrade::to("/ws")
        .bearer(&short)
        .open(cluster.b.proxy)
        .await;
    let id = session_id(&response);

    let renewed_exp = now() + 600;
    let renewed = Claims::valid_for("alice").set("exp", renewed_exp).sign();
    let answer = control::refresh(cluster.a.proxy, &id, &renewed).await;
    assert_eq!(answer.status, 200, "{}", answer.body_text());
    assert_eq!(answer.json()["expires_at"], renewed_exp);

    let swapped = Claims::valid_for("mallory").set("exp", now() + 600).sign();
    let answer = control::refresh(cluster.a.proxy, &id, &swapped).await;
    assert_eq!(answer.header("x-wsgate-reason"), Some("claim_mismatch"));

    assert_eq!(
        expect_close(&mut unrefreshed).await,
        (1008, "token_expired".to_owned())
    );
    expect_echo(&mut refreshed, "past the first token's exp").await;
}

#[tokio::test]
async fn caps_count_the_sessions_on_every_replica() {
    let cluster = cluster("max_per_user = 2").await;
    let (_one, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .open(cluster.a.proxy)
        .await;
    let (two, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .open(cluster.b.proxy)
        .await;
    for replica in [&cluster.a, &cluster.b] {
        let refused = Upgrade::to("/ws")
            .bearer(&alice())
            .send(replica.proxy)
            .await;
        assert_eq!(refused.status, 429);
        assert_eq!(refused.header("x-wsgate-reason"), Some("too_many_sessions"));
        assert!(refused.header("retry-after").is_some());
    }
    crate::support::client::close_with(two, 1000, "done").await;
    let (mut again, _) = eventually("the closed session's place to be freed", || async {
        Upgrade::to("/ws")
            .bearer(&alice())
            .connect(cluster.a.proxy)
            .await
            .ok()
    })
    .await;
    expect_echo(&mut again, "admitted again").await;
}

#[tokio::test]
async fn redis_killed_and_restarted_mid_session() {
    let mut cluster = cluster("on_store_error = \"deny\"").await;
    let (mut live, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .open(cluster.a.proxy)
        .await;

    cluster.redis.kill().await;
    let refused = Upgrade::to("/ws")
        .bearer(&alice())
        .send(cluster.b.proxy)
        .await;
    assert_eq!(refused.status, 503, "{}", refused.body_text());
    assert_eq!(
        refused.header("x-wsgate-reason"),
        Some("sessions_unavailable")
    );
    expect_echo(&mut live, "a live session does not depend on Redis").await;
    let text = cluster.b.metrics().await;
    assert!(
        metric_value(
            &text,
            "wsgate_session_store_errors_total",
            &[("operation", "register")]
        )
        .is_some_and(|n| n >= 1.0)
    );

    cluster.redis.restart().await;
    let (mut after, _) = eventually("handshakes admitted once Redis is back", || async {
        Upgrade::to("/ws")
            .bearer(&alice())
            .connect(cluster.b.proxy)
            .await
            .ok()
    })
    .await;
    expect_echo(&mut after, "after the restart").await;
    // The empty Redis learns the older session again from its replica's heartbeat.
    eventually("both sessions registered again", || async {
        let listed = control::sessions(cluster.a.admin, Some(ADMIN_TOKEN), "?user=alice").await;
        (listed.status == 200 && listed.json()["count"] == 2).then_some(())
    })
    .await;
    let revoked = control::revoke(cluster.b.admin, Some(ADMIN_TOKEN), r#"{"user":"alice"}"#).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body_text());
    assert_eq!(
        expect_close(&mut live).await,
        (1008, "token_revoked".to_owned())
    );
    assert_eq!(
        expect_close(&mut after).await,
        (1008, "token_revoked".to_owned())
    );
}

#[tokio::test]
async fn a_replica_cut_off_from_redis_applies_the_revocations_it_missed() {
    let redis = RedisServer::start().await;
    let upstream = EchoUpstream::start().await;
    let dir = TempDir::new();
    let link = Link::to(redis.addr()).await;
    let a = Replica::start(&dir, "a", &upstream.url(), "", &redis.url()).await;
    let b = Replica::start(&dir, "b", &upstream.url(), "", &link.url()).await;
    let token = Claims::valid_for("alice")
        .set("jti", "t-partitioned")
        .sign();
    let (mut on_b, _) = Upgrade::to("/ws").bearer(&token).open(b.proxy).await;
    expect_echo(&mut on_b, "before the partition").await;

    link.cut();
    let revoked = control::revoke(a.admin, Some(ADMIN_TOKEN), r#"{"jti":"t-partitioned"}"#).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body_text());
    expect_echo(&mut on_b, "B has not heard of it yet").await;

    link.heal();
    assert_eq!(
        expect_close(&mut on_b).await,
        (1008, "token_revoked".to_owned()),
        "B re-reads the persisted revocations when it reconnects"
    );
    let refused = Upgrade::to("/ws").bearer(&token).send(b.proxy).await;
    assert_eq!(refused.header("x-wsgate-reason"), Some("token_revoked"));
    drop(b.process);
}

#[tokio::test]
async fn without_redis_a_replica_is_not_ready_and_allow_admits_uncapped() {
    let upstream = EchoUpstream::start().await;
    let nowhere = crate::support::closed_port_addr();
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .table(&format!(
            "[sessions]\nstore = \"redis\"\nredis_url = {{ env = \"{REDIS_ENV}\" }}\non_store_error = \"allow\"\nstore_timeout = \"200ms\"\nmax_per_user = 1"
        ))
        .env(REDIS_ENV, &format!("redis://{nowhere}"))
        .start()
        .await;
    let readyz = proxy.admin_get("/readyz").await;
    assert_eq!(
        (readyz.status, readyz.body_text().as_str()),
        (503, "sessions_unavailable")
    );
    let (mut first, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    let (mut second, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut first, "admitted without the store").await;
    expect_echo(&mut second, "caps cannot be judged without the store").await;
    let text = proxy.metrics().await;
    assert_eq!(
        metric_value(
            &text,
            "wsgate_session_store_errors_total",
            &[("operation", "register")]
        ),
        Some(2.0)
    );
}
