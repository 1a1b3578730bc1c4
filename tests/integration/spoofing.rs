//! Identity never comes from the client: every copy of an identity header, under any
//! spelling a backend would fold into the same variable, is removed before wsgate inserts
//! the verified one. And no flavour of `alg: none` ever passes.

use serde_json::json;

use crate::denials::{ALGORITHM_NOT_ALLOWED, TOKEN_MISSING, assert_http_refusal};
use crate::support::tokens::alice;
use crate::support::{Claims, EchoUpstream, Seen, TestProxy, Upgrade};

/// Adds every spoofing trick for the identity headers to `request`.
fn with_spoofed_identity(request: Upgrade) -> Upgrade {
    request
        .header("X-Auth-User", "mallory")
        .header("X-Auth-User", "mallory-again")
        .header("X-AUTH-USER", "MALLORY")
        .header("x-auth-user", "lower-mallory")
        .header("X_Auth_User", "underscore-mallory")
        .header("x.auth.user", "dotted-mallory")
        .header("X-Auth-Method", "e2e-bypass")
        .header("X_Auth_Method", "e2e-bypass")
        .header("X-Auth-Email", "ceo@example.com")
        .header("X_Auth_Email", "ceo@example.com")
        .header("x.auth.email", "ceo@example.com")
        // The hop-by-hop trick: a naive proxy would strip the header it injected itself.
        .replace(
            "Connection",
            "Upgrade, X-Auth-User, X-Auth-Method, X-Auth-Email",
        )
}

fn folded(seen: &Seen, name: &str) -> Vec<String> {
    seen.aliases_of(name)
        .into_iter()
        .map(|(n, v)| format!("{n}: {v}"))
        .collect()
}

#[tokio::test]
async fn spoofed_identity_headers_never_reach_the_upstream() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;

    let request = with_spoofed_identity(Upgrade::to("/ws").bearer(&alice()));
    let (head, _stream) = request.send_head(proxy.addr()).await;
    assert_eq!(head.status, 101, "a valid token is admitted: {head:?}");

    let seen = upstream.request(0).await;
    assert_eq!(
        seen.aliases_of("X-Auth-User").len(),
        1,
        "{:?}",
        folded(&seen, "X-Auth-User")
    );
    assert_eq!(seen.aliases_of("X-Auth-User")[0].1, "alice");
    assert_eq!(
        seen.aliases_of("X-Auth-Method").len(),
        1,
        "{:?}",
        folded(&seen, "X-Auth-Method")
    );
    assert_eq!(seen.aliases_of("X-Auth-Method")[0].1, "jwt");
    assert_eq!(
        seen.aliases_of("X-Auth-Email").len(),
        1,
        "{:?}",
        folded(&seen, "X-Auth-Email")
    );
    assert_eq!(seen.aliases_of("X-Auth-Email")[0].1, "alice@example.com");
}

#[tokio::test]
async fn spoofed_identity_headers_are_stripped_on_anonymous_routes_too() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;

    let (head, _stream) = with_spoofed_identity(Upgrade::to("/public"))
        .send_head(proxy.addr())
        .await;
    assert_eq!(head.status, 101, "anonymous route admits: {head:?}");

    let seen = upstream.request(0).await;
    assert!(
        seen.aliases_of("X-Auth-User").is_empty(),
        "no user on an anonymous route: {:?}",
        folded(&seen, "X-Auth-User")
    );
    assert!(
        seen.aliases_of("X-Auth-Email").is_empty(),
        "{:?}",
        folded(&seen, "X-Auth-Email")
    );
    let methods = seen.aliases_of("X-Auth-Method");
    assert_eq!(methods.len(), 1, "{:?}", folded(&seen, "X-Auth-Method"));
    assert_eq!(methods[0].1, "anonymous");
}

#[tokio::test]
async fn test_marker_headers_never_grant_access() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let response = Upgrade::to("/ws")
        .header("X-E2E-Test", "true")
        .header("X-Test-Type", "e2e")
        .header("X-E2E-Bypass-Key", "anything")
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 403, "{:?}", response.body_text());
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn alg_none_never_passes() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let claims = Claims::valid_for("alice");
    let real_signature = alice()
        .rsplit_once('.')
        .map(|(_, s)| s.to_owned())
        .expect("three segments");

    for alg in ["none", "None", "NONE", "nOnE"] {
        for signature in ["", real_signature.as_str()] {
            let token = claims.forge(json!({"alg": alg, "typ": "JWT"}), signature);
            let response = Upgrade::to("/ws").bearer(&token).send(proxy.addr()).await;
            assert_http_refusal(&response, ALGORITHM_NOT_ALLOWED);
        }
    }
    for alg in ["hs256", "HS256 "] {
        let token = claims.forge(json!({"alg": alg, "typ": "JWT"}), &real_signature);
        let response = Upgrade::to("/ws").bearer(&token).send(proxy.addr()).await;
        assert_http_refusal(&response, ALGORITHM_NOT_ALLOWED);
    }
    assert_eq!(
        upstream.connections(),
        0,
        "no forged token reached the upstream"
    );
}

#[tokio::test]
async fn token_missing_is_not_confused_by_an_empty_query_parameter() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let response = Upgrade::to("/ws?access_token=").send(proxy.addr()).await;
    assert_http_refusal(&response, TOKEN_MISSING);
    assert_eq!(upstream.connections(), 0);
}

/// Routes match the raw path and the raw path is forwarded, so a path a backend would
/// normalise differently (`/public/../scoped`) must never be judged under one route and
/// served under another: wsgate refuses it before any policy or upstream work.
#[tokio::test]
async fn paths_a_backend_would_normalise_never_bypass_route_policy() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    for path in [
        "/public/../scoped",
        "/public/%2e%2e/scoped",
        "/public/..%2fscoped",
        "/ws/../scoped",
        "//scoped",
        "/public;/../scoped",
        "/public/./x",
    ] {
        let response = Upgrade::to(path).bearer(&alice()).send(proxy.addr()).await;
        assert_eq!(response.status, 400, "{path}: {response:?}");
        let plain = Upgrade::plain_get(path).send(proxy.addr()).await;
        assert_eq!(plain.status, 400, "{path} (plain HTTP): {plain:?}");
    }
    assert_eq!(upstream.connections(), 0, "nothing reached the upstream");
}

#[tokio::test]
async fn connect_is_never_forwarded() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let response = Upgrade::plain_get("/public")
        .method("CONNECT")
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 405, "{response:?}");
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn headers_the_client_lists_in_connection_never_reach_the_upstream() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;

    // RFC 9110 §7.6.1: a field named in Connection is for this hop only, in any case.
    let request = Upgrade::to("/ws")
        .bearer(&alice())
        .header("X-Internal-Debug", "1")
        .header("Close", "not a real header")
        .header("X-Request-Id", "r-1")
        .replace("Connection", "keep-alive, Upgrade, x-INTERNAL-debug, close");
    let (head, _stream) = request.send_head(proxy.addr()).await;
    assert_eq!(head.status, 101, "a valid token is admitted: {head:?}");

    let seen = upstream.request(0).await;
    assert!(seen.aliases_of("X-Internal-Debug").is_empty(), "{seen:?}");
    assert!(seen.aliases_of("Close").is_empty(), "{seen:?}");
    assert_eq!(seen.aliases_of("X-Request-Id").len(), 1, "{seen:?}");
}

/// Route, method and client-address overrides some frameworks obey.
const OVERRIDES: [&str; 8] = [
    "X-Original-URL",
    "X-Rewrite-URL",
    "X-HTTP-Method-Override",
    "X-HTTP-Method",
    "X-Method-Override",
    "True-Client-IP",
    "X-Client-IP",
    "X-Real-IP",
];

fn with_overrides(mut request: Upgrade) -> Upgrade {
    for name in OVERRIDES {
        let underscore = name.replace('-', "_");
        let dotted = name.to_ascii_lowercase().replace('-', ".");
        request = request
            .header(name, "/admin")
            .header(&underscore, "/admin")
            .header(&dotted, "10.0.0.1");
    }
    request
}

#[tokio::test]
async fn route_and_client_address_overrides_never_reach_the_upstream() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;

    let response = with_overrides(Upgrade::plain_get("/public"))
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 200, "{response:?}");
    let (head, _stream) = with_overrides(Upgrade::to("/ws").bearer(&alice()))
        .send_head(proxy.addr())
        .await;
    assert_eq!(head.status, 101, "{head:?}");

    for index in 0..2 {
        let seen = upstream.request(index).await;
        for name in OVERRIDES {
            assert!(
                seen.aliases_of(name).is_empty(),
                "{name} reached the upstream: {:?}",
                folded(&seen, name)
            );
        }
        assert_eq!(seen.one("X-Forwarded-For"), "127.0.0.1");
    }
}
