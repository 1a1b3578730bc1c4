//! wsgate and the upstream never judge different paths: the path is normalized once
//! (percent-encoded letters decoded, encodings that change routing refused) before the
//! route is chosen, and that same path is what the upstream receives. Scenarios use a
//! policy whose parents are weaker than their children, the shape a bypass needs:
//! `/` none above `/ws` required, `/api` optional above `/api/admin` required.

use crate::denials::{TOKEN_MISSING, assert_http_refusal};
use crate::support::tokens::{SECRET, SECRET_ENV, alice};
use crate::support::{EchoUpstream, TestProxy, Upgrade};

/// The builder's policy with `/api/admin` required under `/api` optional, and an
/// explicit `/` none catch-all.
fn weak_parents(upstream: &str) -> String {
    let toml = TestProxy::builder().upstream(upstream).toml();
    let api = "[[routes]]\npath = \"/api\"\nauth = \"required\"\n";
    assert!(toml.contains(api), "the builder's /api route moved");
    toml.replace(
        api,
        "[[routes]]\npath = \"/api/admin\"\nauth = \"required\"\n\n\
         [[routes]]\npath = \"/api\"\nauth = \"optional\"\n\n\
         [[routes]]\npath = \"/\"\nauth = \"none\"\n",
    )
}

async fn start(upstream: &EchoUpstream) -> TestProxy {
    TestProxy::start(&weak_parents(&upstream.url()), &[(SECRET_ENV, SECRET)]).await
}

#[tokio::test]
async fn percent_encoded_letters_are_judged_as_the_path_they_decode_to() {
    let upstream = EchoUpstream::start().await;
    let proxy = start(&upstream).await;
    for path in [
        "/%77s",
        "/w%73",
        "/%77%73/room",
        "/%77s?x=1",
        "/WS",
        "/Ws/room",
        "/%57S",
    ] {
        let response = Upgrade::to(path).send(proxy.addr()).await;
        assert_http_refusal(&response, TOKEN_MISSING);
    }
    for path in [
        "/api/%61dmin",
        "/%61pi/admin",
        "/api/admi%6E/users",
        "/%61%70%69/%61dmin",
    ] {
        let response = Upgrade::plain_get(path).send(proxy.addr()).await;
        assert_http_refusal(&response, TOKEN_MISSING);
    }
    assert_eq!(upstream.connections(), 0, "no bypass reached the upstream");
}

#[tokio::test]
async fn the_upstream_receives_the_path_wsgate_judged() {
    let upstream = EchoUpstream::start().await;
    let proxy = start(&upstream).await;
    let token = alice();
    let (_session, _) = Upgrade::to("/%77s/r%6Fom?x=%41")
        .bearer(&token)
        .open(proxy.addr())
        .await;
    assert_eq!(upstream.request(0).await.target, "/ws/room?x=%41");

    let response = Upgrade::plain_get("/%61pi/items%3b%e9")
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(
        response.body_text(),
        "upstream saw GET /api/items%3B%E9",
        "reserved encodings stay encoded, hex in upper case"
    );
}

#[tokio::test]
async fn query_tokens_are_still_found_and_removed_on_an_encoded_path() {
    let upstream = EchoUpstream::start().await;
    let proxy = start(&upstream).await;
    let token = alice();
    let (_session, _) = Upgrade::to(&format!("/w%73?access_token={token}&keep=1"))
        .open(proxy.addr())
        .await;
    let seen = upstream.request(0).await;
    assert_eq!(seen.target, "/ws?keep=1");
    assert_eq!(seen.one("X-Auth-User"), "alice");
}

#[tokio::test]
async fn encodings_that_change_routing_are_refused_before_any_route() {
    let upstream = EchoUpstream::start().await;
    let proxy = start(&upstream).await;
    for path in [
        "/public%2F..%2Fws",
        "/%2e%2e/ws",
        "/x/%2E%2E/ws",
        "/ws%5Cx",
        "/w%00s",
        "/public/../ws",
        "//ws",
        "/ws;x=1",
    ] {
        for request in [
            Upgrade::to(path).bearer(&alice()),
            Upgrade::plain_get(path).bearer(&alice()),
        ] {
            let response = request.send(proxy.addr()).await;
            assert_eq!(response.status, 400, "{path}: {response:?}");
            assert_eq!(
                response.json()["error"],
                "ambiguous_path",
                "{path}: {response:?}"
            );
        }
    }
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn explain_and_check_judge_the_normalized_path_and_name_the_bypass_shape() {
    use crate::support::TempDir;
    use crate::support::policy::wsgate;
    let dir = TempDir::new();
    let config = dir.write("weak.toml", &weak_parents("ws://127.0.0.1:9"));
    let config = config.to_str().expect("utf-8 path");
    let env = [(SECRET_ENV, SECRET)];

    let exit = wsgate(
        &[
            "explain",
            "--config",
            config,
            "--path",
            "/%77s?x=1",
            "--json",
        ],
        &env,
        None,
    )
    .await;
    exit.expect_code(1, "explain /%77s without a token");
    let out: serde_json::Value = serde_json::from_str(exit.stdout.trim()).expect("json");
    assert_eq!(out["verdict"]["route"], "/ws", "{out}");
    assert_eq!(out["verdict"]["reason"], "token_missing", "{out}");

    let exit = wsgate(
        &["explain", "--config", config, "--path", "/%2e%2e/ws"],
        &env,
        None,
    )
    .await;
    exit.expect_code(1, "explain of an ambiguous path")
        .expect_mentions(&["ambiguous_path", "HTTP 400"]);

    wsgate(&["check", "--config", config], &env, None)
        .await
        .expect_code(0, "check")
        .expect_mentions(&[
            "route \"/ws\" (auth = required) is stricter than \"/\" (auth = none)",
            "route \"/api/admin\" (auth = required) is stricter than \"/api\" (auth = optional)",
            "\"/w%73\" is judged as \"/ws\"",
        ]);
}

#[tokio::test]
async fn an_upgrade_after_a_plain_request_is_normalized_too() {
    // The connection's first request goes to hyper (plain), so the upgrade behind it is
    // hyper's to serve rather than the hand-read first request's.
    use tokio::io::AsyncWriteExt;
    let upstream = EchoUpstream::start().await;
    let proxy = start(&upstream).await;
    let mut stream = tokio::net::TcpStream::connect(proxy.addr())
        .await
        .expect("connect");
    let host = proxy.addr();
    let requests = format!(
        "GET /public HTTP/1.1\r\nHost: {host}\r\n\r\n\
         GET /%77s HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    stream.write_all(requests.as_bytes()).await.expect("write");
    let raw = crate::support::raw::read_to_close_or_switch(&mut stream).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let second = text
        .match_indices("HTTP/1.1 ")
        .nth(1)
        .map(|(at, _)| &text[at..]);
    let second = second.unwrap_or_else(|| panic!("no second response: {text}"));
    assert!(second.starts_with("HTTP/1.1 403"), "{second}");
    assert!(second.contains("token_missing"), "{second}");
    assert_eq!(
        upstream.connections(),
        1,
        "only /public reached the upstream"
    );
}
