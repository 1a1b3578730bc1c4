//! Every refusal reachable with static HMAC keys, in both deny modes.
//!
//! `deny = "http"`: the contract's status, JSON `{"error", "message"}`, `X-Wsgate-Reason`,
//! `WWW-Authenticate: Bearer ...` for token errors, `Connection: close`.
//! `deny = "close"`: a 101 from wsgate itself, then a close frame whose code is the
//! table's and whose reason text is the code. In both modes the upstream sees nothing.

use jsonwebtoken::Algorithm;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::support::raw;
use crate::support::tokens::{self, OTHER_SECRET, SECRET, alice};
use crate::support::{
    Claims, EchoUpstream, RawResponse, ScriptedUpstream, TestProxy, TestProxyBuilder, Upgrade,
    closed_port_addr, expect_echo,
};

/// One row of the contract's reason table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusal {
    pub reason: &'static str,
    pub status: u16,
    pub close_code: u16,
    /// A token problem: the HTTP answer carries a `Bearer` challenge.
    pub challenge: bool,
}

const fn token_refusal(reason: &'static str) -> Refusal {
    Refusal {
        reason,
        status: 403,
        close_code: 1008,
        challenge: true,
    }
}

pub(crate) const TOKEN_MISSING: Refusal = token_refusal("token_missing");
pub(crate) const TOKEN_MALFORMED: Refusal = token_refusal("token_malformed");
pub(crate) const TOKEN_TOO_LARGE: Refusal = token_refusal("token_too_large");
pub(crate) const MULTIPLE_CREDENTIALS: Refusal = token_refusal("multiple_credentials");
pub(crate) const ALGORITHM_NOT_ALLOWED: Refusal = token_refusal("algorithm_not_allowed");
pub(crate) const ISSUER_UNKNOWN: Refusal = token_refusal("issuer_unknown");
pub(crate) const SIGNATURE_INVALID: Refusal = token_refusal("signature_invalid");
pub(crate) const TOKEN_EXPIRED: Refusal = token_refusal("token_expired");
pub(crate) const TOKEN_NOT_YET_VALID: Refusal = token_refusal("token_not_yet_valid");
pub(crate) const AUDIENCE_MISMATCH: Refusal = token_refusal("audience_mismatch");
pub(crate) const CLAIM_MISSING: Refusal = token_refusal("claim_missing");
pub(crate) const CLAIM_INVALID: Refusal = token_refusal("claim_invalid");
pub(crate) const CLAIM_MISMATCH: Refusal = token_refusal("claim_mismatch");
pub(crate) const ORIGIN_NOT_ALLOWED: Refusal = Refusal {
    reason: "origin_not_allowed",
    status: 403,
    close_code: 1008,
    challenge: false,
};
pub(crate) const UPSTREAM_UNAVAILABLE: Refusal = Refusal {
    reason: "upstream_unavailable",
    status: 502,
    close_code: 1014,
    challenge: false,
};
pub(crate) const UPSTREAM_REJECTED: Refusal = Refusal {
    reason: "upstream_rejected",
    status: 502,
    close_code: 1014,
    challenge: false,
};
pub(crate) const OVERLOADED: Refusal = Refusal {
    reason: "overloaded",
    status: 503,
    close_code: 1013,
    challenge: false,
};

/// Asserts an HTTP-mode refusal, exactly as the contract spells it.
pub(crate) fn assert_http_refusal(response: &RawResponse, expected: Refusal) {
    let shown = format!(
        "{} {:?} {:?}",
        response.status,
        response.headers,
        response.body_text()
    );
    assert_eq!(
        response.status, expected.status,
        "status for {}: {shown}",
        expected.reason
    );
    assert_eq!(
        response.header("x-wsgate-reason"),
        Some(expected.reason),
        "X-Wsgate-Reason: {shown}"
    );
    let body = response.json();
    assert_eq!(body["error"], json!(expected.reason), "JSON error: {shown}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "JSON message: {shown}"
    );
    assert!(
        response.says_connection_close(),
        "Connection: close: {shown}"
    );
    if expected.challenge {
        let challenge = response.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer"),
            "WWW-Authenticate: Bearer ... for {}: {shown}",
            expected.reason
        );
    }
}

/// Asserts a close-mode refusal: wsgate's own valid 101, then an unmasked close frame
/// with the table's code and the reason code as text, then TCP closed once the client
/// answers. Read raw: tungstenite turns codes it does not know (1014) into 1002.
pub(crate) async fn assert_close_refusal(proxy: &TestProxy, request: &Upgrade, expected: Refusal) {
    let (head, mut stream) = request.send_head(proxy.addr()).await;
    assert_eq!(head.status, 101, "close mode answers 101 first: {head:?}");
    assert_eq!(
        head.header("sec-websocket-accept"),
        Some(derive_accept_key(request.key().as_bytes()).as_str()),
        "a valid 101, so the client reads the close frame"
    );
    let mut buffered = head.after_head().to_vec();
    let frame = raw::read_frame(&mut stream, &mut buffered).await;
    assert!(!frame.masked, "server frames are unmasked");
    assert_eq!(
        frame.close_code_and_reason(),
        Some((expected.close_code, expected.reason.to_owned())),
        "close frame in close mode"
    );
    // The proxy may already have closed TCP; answering is a courtesy.
    let _ = stream
        .write_all(&raw::masked_close(expected.close_code, ""))
        .await;
    raw::read_to_close_or_switch(&mut stream).await;
}

/// Runs `request` against a fresh proxy in each deny mode (the proxy built by `configure`
/// from the standard policy with an echo upstream) and checks the refusal and that the
/// upstream was never contacted.
async fn refused_in_both_modes(
    expected: Refusal,
    configure: impl Fn(TestProxyBuilder) -> TestProxyBuilder,
    request: Upgrade,
) {
    let upstream = EchoUpstream::start().await;
    for mode in ["http", "close"] {
        let proxy = configure(TestProxy::builder().upstream(&upstream.url()).deny(mode))
            .start()
            .await;
        if mode == "http" {
            let response = request.send(proxy.addr()).await;
            assert_http_refusal(&response, expected);
        } else {
            assert_close_refusal(&proxy, &request, expected).await;
        }
        assert_eq!(
            upstream.connections(),
            0,
            "{} in {mode} mode must not contact the upstream",
            expected.reason
        );
    }
}

fn standard(builder: TestProxyBuilder) -> TestProxyBuilder {
    builder
}

#[tokio::test]
async fn token_missing_when_no_source_carries_a_token() {
    refused_in_both_modes(TOKEN_MISSING, standard, Upgrade::to("/ws")).await;
}

#[tokio::test]
async fn token_missing_for_an_empty_bearer_or_another_scheme() {
    refused_in_both_modes(
        TOKEN_MISSING,
        standard,
        Upgrade::to("/ws").header("Authorization", "Bearer "),
    )
    .await;
    refused_in_both_modes(
        TOKEN_MISSING,
        standard,
        Upgrade::to("/ws").header("Authorization", "Basic YWxpY2U6c2VjcmV0"),
    )
    .await;
}

#[tokio::test]
async fn token_malformed_when_the_token_is_not_a_compact_jws() {
    refused_in_both_modes(
        TOKEN_MALFORMED,
        standard,
        Upgrade::to("/ws").bearer("aaaa.bbbb.cccc"),
    )
    .await;
}

#[tokio::test]
async fn token_malformed_when_the_header_names_crit() {
    let token = Claims::valid_for("alice").forge(
        json!({"alg": "HS256", "typ": "JWT", "crit": ["exp"]}),
        "c2lnbmF0dXJl",
    );
    refused_in_both_modes(TOKEN_MALFORMED, standard, Upgrade::to("/ws").bearer(&token)).await;
}

#[tokio::test]
async fn token_too_large_beyond_the_default_8_kib_even_when_validly_signed() {
    let token = Claims::valid_for("alice")
        .set("pad", "x".repeat(9000))
        .sign();
    assert!(token.len() > 8192);
    refused_in_both_modes(TOKEN_TOO_LARGE, standard, Upgrade::to("/ws").bearer(&token)).await;
}

#[tokio::test]
async fn token_too_large_honours_max_token_bytes() {
    let token = Claims::valid_for("alice")
        .set("pad", "x".repeat(300))
        .sign();
    assert!(token.len() > 256);
    refused_in_both_modes(
        TOKEN_TOO_LARGE,
        |b| b.max_token_bytes(256),
        Upgrade::to("/ws").bearer(&token),
    )
    .await;
}

#[tokio::test]
async fn multiple_credentials_when_two_sources_carry_different_tokens() {
    let header_token = alice();
    let query_token = Claims::valid_for("bob").sign();
    refused_in_both_modes(
        MULTIPLE_CREDENTIALS,
        standard,
        Upgrade::to(&format!("/ws?access_token={query_token}")).bearer(&header_token),
    )
    .await;
}

#[tokio::test]
async fn multiple_credentials_for_two_authorization_headers() {
    refused_in_both_modes(
        MULTIPLE_CREDENTIALS,
        standard,
        Upgrade::to("/ws")
            .bearer(&alice())
            .bearer(&Claims::valid_for("bob").sign()),
    )
    .await;
}

#[tokio::test]
async fn algorithm_not_allowed_for_alg_none() {
    let token = Claims::valid_for("alice").forge(json!({"alg": "none", "typ": "JWT"}), "");
    refused_in_both_modes(
        ALGORITHM_NOT_ALLOWED,
        standard,
        Upgrade::to("/ws").bearer(&token),
    )
    .await;
}

#[tokio::test]
async fn algorithm_not_allowed_for_a_valid_hs512_signature_when_hs256_is_pinned() {
    let token = Claims::valid_for("alice").sign_with(Algorithm::HS512, SECRET);
    refused_in_both_modes(
        ALGORITHM_NOT_ALLOWED,
        standard,
        Upgrade::to("/ws").bearer(&token),
    )
    .await;
}

#[tokio::test]
async fn issuer_unknown_for_an_untrusted_iss() {
    let token = Claims::valid_for("alice")
        .set("iss", "https://evil.example")
        .sign();
    refused_in_both_modes(ISSUER_UNKNOWN, standard, Upgrade::to("/ws").bearer(&token)).await;
}

#[tokio::test]
async fn signature_invalid_for_a_token_signed_with_another_services_secret() {
    let token = Claims::valid_for("alice").sign_with(Algorithm::HS256, OTHER_SECRET);
    refused_in_both_modes(
        SIGNATURE_INVALID,
        standard,
        Upgrade::to("/ws").bearer(&token),
    )
    .await;
}

#[tokio::test]
async fn signature_invalid_for_a_null_signature() {
    let token = alice();
    let stripped = format!("{}.", token.rsplit_once('.').expect("three segments").0);
    refused_in_both_modes(
        SIGNATURE_INVALID,
        standard,
        Upgrade::to("/ws").bearer(&stripped),
    )
    .await;
}

#[tokio::test]
async fn token_expired_when_exp_plus_leeway_is_past() {
    let token = Claims::valid_for("alice")
        .set("iat", tokens::now() - 7200)
        .set("exp", tokens::now() - 3600)
        .sign();
    refused_in_both_modes(TOKEN_EXPIRED, standard, Upgrade::to("/ws").bearer(&token)).await;
}

#[tokio::test]
async fn token_not_yet_valid_when_nbf_is_in_the_future() {
    let token = Claims::valid_for("alice")
        .set("nbf", tokens::now() + 3600)
        .set("exp", tokens::now() + 7200)
        .sign();
    refused_in_both_modes(
        TOKEN_NOT_YET_VALID,
        standard,
        Upgrade::to("/ws").bearer(&token),
    )
    .await;
}

#[tokio::test]
async fn audience_mismatch_when_aud_names_another_service() {
    let token = Claims::valid_for("alice").set("aud", "billing").sign();
    refused_in_both_modes(
        AUDIENCE_MISMATCH,
        standard,
        Upgrade::to("/ws").bearer(&token),
    )
    .await;
}

#[tokio::test]
async fn claim_missing_when_exp_is_absent() {
    let token = Claims::valid_for("alice").without("exp").sign();
    refused_in_both_modes(CLAIM_MISSING, standard, Upgrade::to("/ws").bearer(&token)).await;
}

#[tokio::test]
async fn claim_invalid_when_sub_is_not_a_valid_header_value() {
    let token = Claims::valid_for("alice\r\nX-Auth-Method: e2e-bypass").sign();
    refused_in_both_modes(CLAIM_INVALID, standard, Upgrade::to("/ws").bearer(&token)).await;
}

#[tokio::test]
async fn claim_invalid_when_exp_is_a_string() {
    let token = Claims::valid_for("alice").set("exp", "never").sign();
    refused_in_both_modes(CLAIM_INVALID, standard, Upgrade::to("/ws").bearer(&token)).await;
}

#[tokio::test]
async fn claim_mismatch_when_the_route_requires_a_scope_the_token_lacks() {
    let token = alice(); // scope "chat:read chat:write"; /scoped wants chat:admin
    refused_in_both_modes(
        CLAIM_MISMATCH,
        standard,
        Upgrade::to("/scoped").bearer(&token),
    )
    .await;
}

#[tokio::test]
async fn origin_not_allowed_when_origin_is_outside_the_allow_list() {
    refused_in_both_modes(
        ORIGIN_NOT_ALLOWED,
        |b| b.allowed_origins(&["https://app.example"]),
        Upgrade::to("/ws")
            .bearer(&alice())
            .header("Origin", "https://evil.example"),
    )
    .await;
}

#[tokio::test]
async fn only_the_exact_serialized_origin_is_allowed() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder()
        .upstream(&upstream.url())
        .allowed_origins(&["https://app.example.com"])
        .start()
        .await;
    for near_miss in [
        "https://app.example.com/",
        "https://app.example.com/path",
        "https://user@app.example.com",
        "https://user:pw@app.example.com",
        "https://app.example.com:443",
        "HTTPS://APP.EXAMPLE.COM",
        "https://app.example.com?x",
        "https://app.example.com#x",
        "https://app.example.com.evil.example",
        "null",
    ] {
        let response = Upgrade::to("/ws")
            .bearer(&alice())
            .header("Origin", near_miss)
            .send(proxy.addr())
            .await;
        assert_http_refusal(&response, ORIGIN_NOT_ALLOWED);
    }
    let (_session, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .header("Origin", "https://app.example.com")
        .open(proxy.addr())
        .await;
    assert_eq!(upstream.connections(), 1);
}

#[tokio::test]
async fn two_subprotocol_token_pairs_are_multiple_credentials() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let other = Claims::valid_for("bob").sign();
    let response = Upgrade::to("/ws")
        .header(
            "Sec-WebSocket-Protocol",
            &format!("bearer, {}, bearer, {other}", alice()),
        )
        .send(proxy.addr())
        .await;
    assert_http_refusal(&response, MULTIPLE_CREDENTIALS);
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn upstream_unavailable_when_nothing_listens_upstream() {
    let dead = format!("ws://{}", closed_port_addr());
    refused_in_both_modes(
        UPSTREAM_UNAVAILABLE,
        |b| b.upstream(&dead),
        Upgrade::to("/ws").bearer(&alice()),
    )
    .await;
}

#[tokio::test]
async fn upstream_rejected_when_the_upstreams_101_has_a_wrong_accept_key() {
    for mode in ["http", "close"] {
        let upstream = ScriptedUpstream::answering(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90LXRoZS1yaWdodC1hY2NlcHQ=\r\n\r\n",
        )
        .await;
        let proxy = TestProxy::builder()
            .upstream(&upstream.url())
            .deny(mode)
            .start()
            .await;
        let request = Upgrade::to("/ws").bearer(&alice());
        if mode == "http" {
            assert_http_refusal(&request.send(proxy.addr()).await, UPSTREAM_REJECTED);
        } else {
            assert_close_refusal(&proxy, &request, UPSTREAM_REJECTED).await;
        }
    }
}

#[tokio::test]
async fn overloaded_when_max_connections_is_reached() {
    let upstream = EchoUpstream::start().await;
    for mode in ["http", "close"] {
        let proxy = TestProxy::builder()
            .upstream(&upstream.url())
            .deny(mode)
            .max_connections(1)
            .start()
            .await;
        let (mut first, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
        expect_echo(&mut first, "holding the only slot").await;

        let second = Upgrade::to("/ws").bearer(&alice());
        if mode == "http" {
            assert_http_refusal(&second.send(proxy.addr()).await, OVERLOADED);
        } else {
            assert_close_refusal(&proxy, &second, OVERLOADED).await;
        }
        expect_echo(&mut first, "the first session is unaffected").await;
    }
}

#[tokio::test]
async fn refusals_never_echo_the_token_back() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    let token = Claims::valid_for("alice").sign_with(Algorithm::HS256, OTHER_SECRET);
    let response = Upgrade::to("/ws").bearer(&token).send(proxy.addr()).await;
    assert_http_refusal(&response, SIGNATURE_INVALID);
    let everything = String::from_utf8_lossy(&response.raw);
    for segment in tokens::segments(&token) {
        assert!(
            !everything.contains(segment),
            "the refusal echoes a token segment: {everything}"
        );
    }
}
