//! The request checks, one refusal at a time.
use super::*;

fn ws_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HOST, HeaderValue::from_static("example.com"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
    h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    h.insert(
        SEC_WEBSOCKET_KEY,
        HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
    );
    h
}

#[test]
fn rfc_example_accept_key() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn valid_handshake_with_mixed_case_tokens() {
    let mut h = ws_headers();
    h.insert(UPGRADE, HeaderValue::from_static("WebSocket"));
    assert!(
        classify(&Method::GET, Version::HTTP_11, "/ws", &h)
            .unwrap()
            .is_some()
    );
}

#[test]
fn plain_get_is_plain_http() {
    let mut h = HeaderMap::new();
    h.insert(HOST, HeaderValue::from_static("example.com"));
    assert!(
        classify(&Method::GET, Version::HTTP_11, "/ws", &h)
            .unwrap()
            .is_none()
    );
}

#[test]
fn ambiguous_paths_are_refused() {
    for path in [
        "/public/../ws",
        "/ws/./x",
        "//ws",
        "/ws;x=1",
        "/a%2e%2e/ws",
        "/a%2Fws",
        "/a%2E/ws",
        "/a%5cb",
        "/a%5Cb",
        "/a%00b",
        "/a\\b",
        "/x/..",
    ] {
        assert!(is_ambiguous_path(path), "{path}");
    }
    for path in [
        "/ws",
        "/ws/room-1",
        "/a.b/c..d",
        "/",
        "/a%20b",
        "/%2",
        "/a%",
    ] {
        assert!(!is_ambiguous_path(path), "{path}");
    }
    let h = ws_headers();
    assert_eq!(
        classify(&Method::GET, Version::HTTP_11, "/public/../ws", &h).unwrap_err(),
        HandshakeError::AmbiguousPath
    );
    assert_eq!(
        classify(&Method::CONNECT, Version::HTTP_11, "/ws", &h).unwrap_err(),
        HandshakeError::Connect
    );
}

#[test]
fn a_host_that_is_not_host_and_port_is_refused() {
    for host in [
        "example.com",
        "example.com:8080",
        "127.0.0.1:1",
        "[::1]:443",
        "[fe80::1]",
        "xn--bcher-kva.example",
        "a_b.internal",
    ] {
        let mut h = ws_headers();
        h.insert(HOST, HeaderValue::from_str(host).unwrap());
        assert!(
            classify(&Method::GET, Version::HTTP_11, "/ws", &h).is_ok(),
            "{host}"
        );
    }
    for host in [
        "bad host/x",
        "",
        "a/b",
        "user@example.com",
        "example.com:80x",
        "example.com:123456",
        "[::1",
        "[]:80",
        "a?b",
        "a#b",
        "a\tb",
    ] {
        let mut h = ws_headers();
        h.insert(HOST, HeaderValue::from_str(host).unwrap());
        for method in [Method::GET, Method::POST] {
            let mut plain = h.clone();
            if method == Method::POST {
                plain.remove(UPGRADE);
                plain.remove(SEC_WEBSOCKET_KEY);
                plain.remove(SEC_WEBSOCKET_VERSION);
            }
            assert_eq!(
                classify(&method, Version::HTTP_11, "/ws", &plain).unwrap_err(),
                HandshakeError::Host,
                "{host} {method}"
            );
        }
    }
}

#[test]
fn a_body_whose_end_is_ambiguous_is_refused() {
    let mut plain = HeaderMap::new();
    plain.insert(HOST, HeaderValue::from_static("example.com"));
    let cases: [&[(http::HeaderName, &str)]; 4] = [
        &[(CONTENT_LENGTH, "5"), (TRANSFER_ENCODING, "chunked")],
        &[(TRANSFER_ENCODING, "chunked"), (CONTENT_LENGTH, "0")],
        &[(TRANSFER_ENCODING, "gzip")],
        &[(TRANSFER_ENCODING, "chunked, identity")],
    ];
    for case in cases {
        let mut h = plain.clone();
        for (name, value) in case {
            h.append(name, HeaderValue::from_static(value));
        }
        assert_eq!(
            classify(&Method::POST, Version::HTTP_11, "/api", &h).unwrap_err(),
            HandshakeError::BodyLength,
            "{case:?}"
        );
    }
    let mut h = plain.clone();
    h.insert(TRANSFER_ENCODING, HeaderValue::from_static("gzip, chunked"));
    assert!(classify(&Method::POST, Version::HTTP_11, "/api", &h).is_ok());
}

type Case = (Box<dyn Fn(&mut HeaderMap)>, Method, Version, HandshakeError);

#[test]
fn refusals() {
    let cases: Vec<Case> = vec![
        (
            Box::new(|_| {}),
            Method::POST,
            Version::HTTP_11,
            HandshakeError::Method,
        ),
        (
            Box::new(|_| {}),
            Method::GET,
            Version::HTTP_10,
            HandshakeError::Version,
        ),
        (
            Box::new(|h| {
                h.remove(HOST);
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Host,
        ),
        (
            Box::new(|h| {
                h.append(HOST, HeaderValue::from_static("b"));
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Host,
        ),
        (
            Box::new(|h| {
                h.insert(UPGRADE, HeaderValue::from_static("h2c"));
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::UpgradeHeaders,
        ),
        (
            Box::new(|h| {
                h.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::UpgradeHeaders,
        ),
        (
            Box::new(|h| {
                h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::WebSocketVersion,
        ),
        (
            Box::new(|h| {
                h.remove(SEC_WEBSOCKET_VERSION);
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::WebSocketVersion,
        ),
        (
            Box::new(|h| {
                h.remove(SEC_WEBSOCKET_KEY);
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Key,
        ),
        (
            Box::new(|h| {
                h.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_static("c2hvcnQ="));
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Key,
        ),
        (
            Box::new(|h| {
                h.append(
                    SEC_WEBSOCKET_KEY,
                    HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
                );
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Key,
        ),
        (
            Box::new(|h| {
                h.insert(CONTENT_LENGTH, HeaderValue::from_static("5"));
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Body,
        ),
        (
            Box::new(|h| {
                h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
            }),
            Method::GET,
            Version::HTTP_11,
            HandshakeError::Body,
        ),
    ];
    for (i, (mutate, method, version, expected)) in cases.into_iter().enumerate() {
        let mut h = ws_headers();
        mutate(&mut h);
        assert_eq!(
            classify(&method, version, "/ws", &h).unwrap_err(),
            expected,
            "case {i}"
        );
    }
}
