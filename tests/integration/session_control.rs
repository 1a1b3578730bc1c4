//! Session control on one replica with the in-memory store (PRODUCT.md "Session control"):
//! revocation through the admin API closes live sessions with 1008 `token_revoked` and
//! refuses matching handshakes; a refresh moves a session's expiry past its first token's
//! `exp`; caps refuse the session one over with 429 `too_many_sessions`. The same
//! scenarios against two replicas sharing Redis are in `session_control_redis`.

use crate::support::control::{self, ADMIN_TOKEN, ADMIN_TOKEN_ENV, admin_table};
use crate::support::tokens::{Claims, alice, now};
use crate::support::{
    EchoUpstream, TestProxy, Upgrade, eventually, expect_close, expect_echo, metric_value,
};

async fn controlled(tables: &[&str]) -> (EchoUpstream, TestProxy) {
    let upstream = EchoUpstream::start().await;
    let mut builder = TestProxy::builder()
        .upstream(&upstream.url())
        .table(&admin_table())
        .env(ADMIN_TOKEN_ENV, ADMIN_TOKEN);
    for table in tables {
        builder = builder.table(table);
    }
    (upstream, builder.start().await)
}

fn session_id(response: &tokio_tungstenite::tungstenite::handshake::client::Response) -> String {
    response
        .headers()
        .get("x-wsgate-session")
        .and_then(|v| v.to_str().ok())
        .expect("X-Wsgate-Session on the 101")
        .to_owned()
}

#[tokio::test]
async fn revoking_a_user_closes_their_live_sessions_and_refuses_their_handshakes() {
    let (upstream, proxy) = controlled(&[]).await;
    let (mut first, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    let (mut second, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    let bob = Claims::valid_for("bob").sign();
    let (mut bystander, _) = Upgrade::to("/ws").bearer(&bob).open(proxy.addr()).await;
    expect_echo(&mut first, "before").await;
    expect_echo(&mut second, "before").await;

    let answer =
        control::revoke(proxy.admin_addr(), Some(ADMIN_TOKEN), r#"{"user":"alice"}"#).await;
    assert_eq!(answer.status, 200, "{}", answer.body_text());
    assert_eq!(answer.json()["closed"], 2);
    assert_eq!(answer.json()["scope"], "user");

    for session in [&mut first, &mut second] {
        assert_eq!(
            expect_close(session).await,
            (1008, "token_revoked".to_owned())
        );
    }
    for index in 0..2 {
        assert_eq!(
            upstream.close_received(index).await,
            Some((1001, "token_revoked".to_owned())),
            "the upstream is told the session is going away"
        );
    }
    expect_echo(&mut bystander, "still here").await;

    let refused = Upgrade::to("/ws").bearer(&alice()).send(proxy.addr()).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.header("x-wsgate-reason"), Some("token_revoked"));
    let text = proxy.metrics().await;
    assert_eq!(
        metric_value(&text, "wsgate_revocations_total", &[("scope", "user")]),
        Some(1.0)
    );
    assert_eq!(
        metric_value(&text, "wsgate_sessions_revoked_total", &[("scope", "user")]),
        Some(2.0)
    );
    assert_eq!(
        metric_value(
            &text,
            "wsgate_auth_denied_total",
            &[("route", "/ws"), ("reason", "token_revoked")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn revoking_a_jti_or_a_session_closes_only_that_one() {
    let (_upstream, proxy) = controlled(&[]).await;
    let stolen = Claims::valid_for("alice").set("jti", "t-stolen").sign();
    let fresh = Claims::valid_for("alice").set("jti", "t-fresh").sign();
    let (mut leaked, _) = Upgrade::to("/ws").bearer(&stolen).open(proxy.addr()).await;
    let (mut kept, response) = Upgrade::to("/ws").bearer(&fresh).open(proxy.addr()).await;
    let kept_id = session_id(&response);

    let answer = control::revoke(
        proxy.admin_addr(),
        Some(ADMIN_TOKEN),
        r#"{"jti":"t-stolen","ttl":"10m"}"#,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body_text());
    assert_eq!(
        expect_close(&mut leaked).await,
        (1008, "token_revoked".to_owned())
    );
    expect_echo(&mut kept, "unaffected").await;
    let refused = Upgrade::to("/ws").bearer(&stolen).send(proxy.addr()).await;
    assert_eq!(refused.header("x-wsgate-reason"), Some("token_revoked"));

    let answer = control::revoke(
        proxy.admin_addr(),
        Some(ADMIN_TOKEN),
        &format!(r#"{{"session":"{kept_id}"}}"#),
    )
    .await;
    assert_eq!(answer.json()["closed"], 1, "{}", answer.body_text());
    assert_eq!(
        expect_close(&mut kept).await,
        (1008, "token_revoked".to_owned())
    );
    // The user was not revoked: a new session is let in.
    let (mut again, _) = Upgrade::to("/ws").bearer(&fresh).open(proxy.addr()).await;
    expect_echo(&mut again, "new session").await;
}

#[tokio::test]
async fn admin_endpoints_need_the_configured_bearer_token() {
    let upstream = EchoUpstream::start().await;
    let unconfigured = TestProxy::builder().upstream(&upstream.url()).start().await;
    let answer = control::revoke(
        unconfigured.admin_addr(),
        Some(ADMIN_TOKEN),
        r#"{"user":"a"}"#,
    )
    .await;
    assert_eq!(
        answer.status, 404,
        "no token configured: the endpoints do not exist"
    );
    assert_eq!(
        control::sessions(unconfigured.admin_addr(), None, "")
            .await
            .status,
        404
    );

    let (_upstream, proxy) = controlled(&[]).await;
    let admin = proxy.admin_addr();
    for token in [
        None,
        Some("wrong"),
        Some(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]),
    ] {
        let answer = control::revoke(admin, token, r#"{"user":"alice"}"#).await;
        assert_eq!(answer.status, 401, "{token:?}");
        assert!(answer.header("www-authenticate").is_some());
        assert_eq!(control::sessions(admin, token, "").await.status, 401);
    }
    // A refused call revoked nothing.
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut session, "not revoked").await;

    for bad in [
        "",
        "{}",
        r#"{"user":"a","jti":"b"}"#,
        r#"{"issuer":"primary"}"#,
        r#"{"user":"a","ttl":0}"#,
    ] {
        let answer = control::revoke(admin, Some(ADMIN_TOKEN), bad).await;
        assert_eq!(answer.status, 400, "{bad:?}: {}", answer.body_text());
        assert_eq!(answer.json()["error"], "invalid_request");
    }
    let text = proxy.metrics().await;
    assert_eq!(
        metric_value(&text, "wsgate_revocations_total", &[("scope", "user")]),
        Some(0.0)
    );
}

#[tokio::test]
async fn live_sessions_are_listed_with_who_and_where() {
    let (_upstream, proxy) = controlled(&[]).await;
    let (_alice, response) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    let id = session_id(&response);
    let bob = Claims::valid_for("bob").sign();
    let (_bob, _) = Upgrade::to("/ws").bearer(&bob).open(proxy.addr()).await;

    let answer = control::sessions(proxy.admin_addr(), Some(ADMIN_TOKEN), "?user=alice").await;
    assert_eq!(answer.status, 200, "{}", answer.body_text());
    let listed = answer.json();
    assert_eq!(listed["count"], 1);
    let session = &listed["sessions"][0];
    assert_eq!(session["session"], id.as_str());
    assert_eq!(session["user"], "alice");
    assert_eq!(session["issuer"], "primary");
    assert_eq!(session["route"], "/ws");
    assert!(
        session["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:"))
    );
    assert!(session["replica"].as_str().is_some_and(|r| !r.is_empty()));
    let all = control::sessions(proxy.admin_addr(), Some(ADMIN_TOKEN), "").await;
    assert_eq!(all.json()["count"], 2);
}

#[tokio::test]
async fn a_refreshed_session_outlives_its_first_tokens_exp() {
    let (_upstream, proxy) = controlled(&[]).await;
    // Expires in a second; the test proxy's leeway adds five.
    let short = Claims::valid_for("alice").set("exp", now() + 1).sign();
    let (mut unrefreshed, _) = Upgrade::to("/ws").bearer(&short).open(proxy.addr()).await;
    let (mut refreshed, response) = Upgrade::to("/ws").bearer(&short).open(proxy.addr()).await;
    let id = session_id(&response);

    let renewed_exp = now() + 600;
    let renewed = Claims::valid_for("alice").set("exp", renewed_exp).sign();
    let answer = control::refresh(proxy.addr(), &id, &renewed).await;
    assert_eq!(answer.status, 200, "{}", answer.body_text());
    assert_eq!(answer.json()["session"], id.as_str());
    assert_eq!(answer.json()["expires_at"], renewed_exp);

    assert_eq!(
        expect_close(&mut unrefreshed).await,
        (1008, "token_expired".to_owned()),
        "the session opened with the same token ends at its exp"
    );
    expect_echo(&mut refreshed, "past the first token's exp").await;
    let text = proxy.metrics().await;
    assert_eq!(
        metric_value(&text, "wsgate_session_refresh_total", &[("result", "ok")]),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_refused_refresh_names_its_reason_and_changes_nothing() {
    let (_upstream, proxy) = controlled(&[]).await;
    let first_exp = now() + 300;
    let token = Claims::valid_for("alice").set("exp", first_exp).sign();
    let (mut session, response) = Upgrade::to("/ws").bearer(&token).open(proxy.addr()).await;
    let id = session_id(&response);

    let swapped = Claims::valid_for("mallory").set("exp", now() + 9000).sign();
    let answer = control::refresh(proxy.addr(), &id, &swapped).await;
    assert_eq!(
        (answer.status, answer.header("x-wsgate-reason")),
        (403, Some("claim_mismatch"))
    );

    let expired = Claims::valid_for("alice").set("exp", now() - 60).sign();
    let answer = control::refresh(proxy.addr(), &id, &expired).await;
    assert_eq!(
        (answer.status, answer.header("x-wsgate-reason")),
        (403, Some("token_expired"))
    );

    let forged = Claims::valid_for("alice").sign_with(
        jsonwebtoken::Algorithm::HS256,
        crate::support::tokens::OTHER_SECRET,
    );
    let answer = control::refresh(proxy.addr(), &id, &forged).await;
    assert_eq!(answer.header("x-wsgate-reason"), Some("signature_invalid"));

    let answer = control::refresh(proxy.addr(), "0123456789abcdef0123456789abcdef", &alice()).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["error"], "session_unknown");

    let listed = control::sessions(proxy.admin_addr(), Some(ADMIN_TOKEN), "?user=alice").await;
    assert_eq!(
        listed.json()["sessions"][0]["expires_at"],
        first_exp,
        "unchanged"
    );
    expect_echo(&mut session, "still open").await;

    control::revoke(proxy.admin_addr(), Some(ADMIN_TOKEN), r#"{"jti":"t-9"}"#).await;
    let revoked = Claims::valid_for("alice").set("jti", "t-9").sign();
    let answer = control::refresh(proxy.addr(), &id, &revoked).await;
    assert_eq!(
        (answer.status, answer.header("x-wsgate-reason")),
        (403, Some("token_revoked"))
    );

    let text = proxy.metrics().await;
    for (result, count) in [
        ("claim_mismatch", 1.0),
        ("token_expired", 1.0),
        ("signature_invalid", 1.0),
        ("session_unknown", 1.0),
        ("token_revoked", 1.0),
        ("ok", 0.0),
    ] {
        assert_eq!(
            metric_value(&text, "wsgate_session_refresh_total", &[("result", result)]),
            Some(count),
            "{result}"
        );
    }
}

#[tokio::test]
async fn one_session_over_the_user_cap_is_refused_429_with_retry_after() {
    let (_upstream, proxy) = controlled(&["[sessions]\nmax_per_user = 2"]).await;
    let (first, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    let (_second, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    let refused = Upgrade::to("/ws").bearer(&alice()).send(proxy.addr()).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("x-wsgate-reason"), Some("too_many_sessions"));
    assert!(
        refused
            .header("retry-after")
            .is_some_and(|s| s.parse::<u64>().is_ok())
    );
    let bob = Claims::valid_for("bob").sign();
    let (mut other, _) = Upgrade::to("/ws").bearer(&bob).open(proxy.addr()).await;
    expect_echo(&mut other, "another identity").await;

    crate::support::client::close_with(first, 1000, "done").await;
    let (mut later, _) = eventually("a place freed by the closed session", || async {
        Upgrade::to("/ws")
            .bearer(&alice())
            .connect(proxy.addr())
            .await
            .ok()
    })
    .await;
    expect_echo(&mut later, "admitted again").await;
}

#[tokio::test]
async fn one_session_over_the_client_cap_is_closed_1008_in_close_mode() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .deny("close")
        .table("[sessions]\nmax_per_client_ip = 1")
        .start()
        .await;
    let (mut first, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    let bob = Claims::valid_for("bob").sign();
    let (mut refused, _) = Upgrade::to("/ws").bearer(&bob).open(proxy.addr()).await;
    assert_eq!(
        expect_close(&mut refused).await,
        (1008, "too_many_sessions".to_owned())
    );
    expect_echo(&mut first, "first one stays").await;
}

#[tokio::test]
async fn revoked_credentials_never_open_a_session_on_either_request_path() {
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::WebSocketStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use crate::first_request::{keep_alive_get, read_one_response};

    let (_upstream, proxy) = controlled(&[]).await;
    // A session opened on hyper's path (an upgrade after a plain request) is registered
    // and revocable like one opened by a connection's first request.
    let bob = Claims::valid_for("bob").sign();
    let mut stream = tokio::net::TcpStream::connect(proxy.addr())
        .await
        .expect("connect");
    stream
        .write_all(&keep_alive_get(proxy.addr(), "/api/items", &bob))
        .await
        .unwrap();
    assert_eq!(read_one_response(&mut stream).await.status, 200);
    stream
        .write_all(&Upgrade::to("/ws").bearer(&bob).to_bytes(proxy.addr()))
        .await
        .unwrap();
    assert_eq!(read_one_response(&mut stream).await.status, 101);
    let mut session = WebSocketStream::from_raw_socket(stream, Role::Client, None).await;
    expect_echo(&mut session, "on hyper's path").await;
    let answer = control::revoke(proxy.admin_addr(), Some(ADMIN_TOKEN), r#"{"user":"bob"}"#).await;
    assert_eq!(answer.json()["closed"], 1, "{}", answer.body_text());
    assert_eq!(
        expect_close(&mut session).await,
        (1008, "token_revoked".to_owned())
    );

    // Refused on the first request, on hyper's path, and for plain HTTP alike.
    let first = Upgrade::to("/ws").bearer(&bob).send(proxy.addr()).await;
    assert_eq!(first.header("x-wsgate-reason"), Some("token_revoked"));
    let mut stream = tokio::net::TcpStream::connect(proxy.addr())
        .await
        .expect("connect");
    stream
        .write_all(&keep_alive_get(proxy.addr(), "/public", &bob))
        .await
        .unwrap();
    assert_eq!(
        read_one_response(&mut stream).await.status,
        200,
        "auth = none"
    );
    stream
        .write_all(&Upgrade::to("/ws").bearer(&bob).to_bytes(proxy.addr()))
        .await
        .unwrap();
    let refused = read_one_response(&mut stream).await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.header("x-wsgate-reason"), Some("token_revoked"));
    let plain = Upgrade::plain_get("/api/items")
        .bearer(&bob)
        .send(proxy.addr())
        .await;
    assert_eq!(plain.header("x-wsgate-reason"), Some("token_revoked"));
}

#[tokio::test]
async fn revoking_a_signing_key_closes_the_sessions_it_signed() {
    let (_upstream, proxy) = controlled(&[]).await;
    let leaked = Claims::valid_for("alice").sign_with_kid("k-leaked");
    let rotated = Claims::valid_for("alice").sign_with_kid("k-next");
    let (mut signed_by_leaked, _) = Upgrade::to("/ws").bearer(&leaked).open(proxy.addr()).await;
    let (mut signed_by_next, _) = Upgrade::to("/ws").bearer(&rotated).open(proxy.addr()).await;

    // The issuer named by its `iss` is the same as by its configured name.
    let answer = control::revoke(
        proxy.admin_addr(),
        Some(ADMIN_TOKEN),
        &format!(
            r#"{{"issuer":"{}","kid":"k-leaked"}}"#,
            crate::support::tokens::ISSUER
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body_text());
    assert_eq!(answer.json()["scope"], "key");
    assert_eq!(
        expect_close(&mut signed_by_leaked).await,
        (1008, "token_revoked".to_owned())
    );
    expect_echo(&mut signed_by_next, "another key").await;
    let refused = Upgrade::to("/ws").bearer(&leaked).send(proxy.addr()).await;
    assert_eq!(refused.header("x-wsgate-reason"), Some("token_revoked"));
    let text = proxy.metrics().await;
    assert_eq!(
        metric_value(&text, "wsgate_sessions_revoked_total", &[("scope", "key")]),
        Some(1.0)
    );
}
