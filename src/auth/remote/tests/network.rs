//! The network fetcher against a raw HTTP/1.1 server on 127.0.0.1: request headers, bad
//! answers and their labels, no redirects, unreachable hosts, discovery.

use super::*;

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
