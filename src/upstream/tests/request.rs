//! The upgrade request wsgate sends: its bytes carry exactly the headers of the `HeaderMap`
//! path, identity and forwarding headers are never duplicated or spoofed, and a target or
//! key that could break the request line is refused.

use super::*;

#[test]
fn upgrade_request_bytes_carry_exactly_the_headers_of_the_header_map_path() {
    let config = config();
    let upstream = Upstream::new(&config.upstream).unwrap();
    let grant = alice();
    let client = hostile_client();
    let key = handshake::new_key();
    let request = UpgradeRequest::new(
        &config,
        &upstream,
        "/base/ws?room=1",
        &client,
        &forwarding(&grant),
        &key,
    )
    .unwrap();
    let (line, pairs) = parsed_headers(request.as_bytes());
    assert_eq!(line, "GET /base/ws?room=1");

    let mut expected: Vec<(String, String)> =
        upstream_headers(&config, &upstream, &client, &forwarding(&grant))
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .chain([
                ("connection".into(), "Upgrade".into()),
                ("upgrade".into(), "websocket".into()),
                ("sec-websocket-version".into(), "13".into()),
                ("sec-websocket-key".into(), key.to_string()),
            ])
            .collect();
    expected.sort();
    assert_eq!(pairs, expected, "the same filtering on both paths");
}

#[test]
fn identity_and_forwarding_headers_are_never_duplicated_or_spoofed() {
    let request = upgrade_request(&hostile_client(), "dGhlIHNhbXBsZSBub25jZQ==");
    let (_, pairs) = parsed_headers(request.as_bytes());
    for (name, value) in [
        ("host", "backend.internal:8080"),
        ("x-auth-user", "alice"),
        ("x-auth-method", "jwt"),
        ("x-forwarded-for", "192.0.2.7"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "proxy.example"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
        ("sec-websocket-protocol", "chat"),
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
    ] {
        assert_eq!(values(&pairs, name), [value], "{name}: {pairs:#?}");
    }
    for absent in [
        "x-auth_user",
        "forwarded",
        "x-drop-me",
        "authorization",
        "content-length",
    ] {
        assert!(values(&pairs, absent).is_empty(), "{absent}: {pairs:#?}");
    }
    assert_eq!(values(&pairs, "accept-language"), ["en", "fr"]);
    assert_eq!(values(&pairs, "x-trace-id"), ["abc"]);
}

#[test]
fn a_request_target_or_key_that_could_break_the_request_line_is_refused() {
    let config = config();
    let upstream = Upstream::new(&config.upstream).unwrap();
    let grant = alice();
    let client = HeaderMap::new();
    for (path, key) in [
        ("/ws HTTP/1.1\r\nX-Evil: 1\r\n", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("/ws", "key\r\nX-Evil: 1"),
    ] {
        let request =
            UpgradeRequest::new(&config, &upstream, path, &client, &forwarding(&grant), key);
        assert!(
            matches!(request, Err(UpstreamError::Protocol(_))),
            "{path:?} {key:?}"
        );
    }
}

#[test]
fn client_addresses_are_written_as_display_writes_them() {
    for address in [
        "0.0.0.0",
        "127.0.0.1",
        "10.0.100.9",
        "1.20.100.7",
        "99.199.255.250",
        "255.255.255.255",
    ] {
        let ip: std::net::Ipv4Addr = address.parse().unwrap();
        let mut out = Vec::new();
        super::upgrade::push_ipv4(&mut out, ip);
        assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
    }
}
