//! The JWT attack suite (issue 14): every forgery and confusion a token-testing tool tries
//! (jwt_tool's playbook, the CVE classes in docs/security-cases.md "JOSE header" and "Claims"),
//! sent through the proxy in both deny modes. Each case asserts the exact reason code of
//! PRODUCT.md, and each test ends by proving that the upstream saw nothing and that no
//! key URL named in a token was ever contacted.
//!
//! The gate under attack trusts three issuers, each key pinned to one algorithm and named
//! by a `kid`, so a hostile `kid` always means `key_unknown`:
//! - `hmac`: HS256, the shared test secret, kid `hs-1` (`iss` [`ISSUER`]);
//! - `rsa`: RS256, `tests/fixtures/rsa2048.pub.pem`, kid `rsa-1` (`iss` [`RSA_ISSUER`]);
//! - `ec`: ES256, `tests/fixtures/ec256.pub.pem`, kid `ec-1` (`iss` [`EC_ISSUER`]).
//!
//! Cases live in `header.rs` (algorithms, signatures, `kid`, key-source headers, `crit`,
//! JWE shapes) and `claims.rs` (claim type confusion, CR/LF/NUL, oversize).

mod claims;
mod header;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};
use tokio::io::AsyncWriteExt;

use crate::denials::{Refusal, assert_http_refusal};
use crate::support::jwks::{FakeJwks, Reply};
use crate::support::raw;
use crate::support::tokens::{AUDIENCE, ISSUER, SECRET, SECRET_ENV, now};
use crate::support::{EchoUpstream, TestProxy, Upgrade};

/// Not among `denials`' rows: a `kid` that names no configured key.
pub(crate) const KEY_UNKNOWN: Refusal = Refusal {
    reason: "key_unknown",
    status: 403,
    close_code: 1008,
    challenge: true,
};

/// `iss` of the RS256 issuer.
pub(crate) const RSA_ISSUER: &str = "https://rsa.wsgate.test";
/// `iss` of the ES256 issuer.
pub(crate) const EC_ISSUER: &str = "https://ec.wsgate.test";

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The proxy's TOML: three issuers (see the module docs), route `/ws` required.
pub(crate) fn config(upstream: &str, deny: &str) -> String {
    format!(
        r#"environment = "test"

[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
handshake_timeout = "10s"
drain_timeout = "5s"

[upstream]
url = "{upstream}"
connect_timeout = "2s"

[auth]
deny = "{deny}"
token_sources = ["header:authorization", "protocol:bearer", "query:access_token"]
leeway = "5s"

[[auth.issuers]]
name = "hmac"
issuer = "{ISSUER}"
audiences = ["{AUDIENCE}"]
algorithms = ["HS256"]
secret = {{ env = "{SECRET_ENV}" }}
kid = "hs-1"

[[auth.issuers]]
name = "rsa"
issuer = "{RSA_ISSUER}"
audiences = ["{AUDIENCE}"]
algorithms = ["RS256"]
public_key_file = "{rsa}"
kid = "rsa-1"

[[auth.issuers]]
name = "ec"
issuer = "{EC_ISSUER}"
audiences = ["{AUDIENCE}"]
algorithms = ["ES256"]
public_key_file = "{ec}"
kid = "ec-1"

[identity]
user_header = "X-Auth-User"
user_claim = "sub"
method_header = "X-Auth-Method"

[identity.claim_headers]
"X-Auth-Email" = "email"

[[routes]]
path = "/ws"
auth = "required"
"#,
        rsa = fixture_path("rsa2048.pub.pem"),
        ec = fixture_path("ec256.pub.pem"),
    )
}

/// Claims every issuer accepts (for `iss`), valid ten minutes.
pub(crate) fn claims(iss: &str) -> Map<String, Value> {
    let now = now();
    match json!({
        "iss": iss,
        "aud": AUDIENCE,
        "sub": "mallory",
        "iat": now,
        "exp": now + 600,
        "email": "mallory@example.com",
    }) {
        Value::Object(map) => map,
        _ => unreachable!("json! object literal"),
    }
}

/// A compact JWS over any header and payload JSON, signed by `alg` with `key`: the
/// forgeries a JWT library refuses to produce.
pub(crate) fn sign_raw(
    header: &Value,
    payload: &Value,
    key: &EncodingKey,
    alg: Algorithm,
) -> String {
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).expect("header json")),
        b64(&serde_json::to_vec(payload).expect("payload json"))
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, alg).expect("sign");
    format!("{input}.{signature}")
}

/// `header.payload.signature` from raw segment bytes (the payload given as JSON text, so
/// duplicates and odd numbers survive).
pub(crate) fn assemble(header: &Value, payload_text: &str, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(&serde_json::to_vec(header).expect("header json")),
        b64(payload_text.as_bytes()),
        b64(signature)
    )
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The primary issuer's secret as a signing key.
pub(crate) fn hmac_key() -> EncodingKey {
    EncodingKey::from_secret(SECRET.as_bytes())
}

/// HS256 with the real secret and kid `hs-1`, over `header_extra` merged into the header.
pub(crate) fn hs256(header_extra: Value, payload: &Value) -> String {
    let mut header = json!({"alg": "HS256", "typ": "JWT", "kid": "hs-1"});
    merge(&mut header, header_extra);
    sign_raw(&header, payload, &hmac_key(), Algorithm::HS256)
}

/// Sets every member of `extra` on `target` (`null` removes the member).
pub(crate) fn merge(target: &mut Value, extra: Value) {
    let (Value::Object(target), Value::Object(extra)) = (target, extra) else {
        panic!("merge objects only");
    };
    for (name, value) in extra {
        if value.is_null() {
            target.remove(&name);
        } else {
            target.insert(name, value);
        }
    }
}

/// The gate under attack: one upstream, one attacker-controlled key server, and the same
/// policy served in both deny modes.
pub(crate) struct Range {
    upstream: EchoUpstream,
    /// Publishes keys the attacker controls; a token's `jku`/`x5u` points here.
    pub attacker: FakeJwks,
    http: TestProxy,
    close: TestProxy,
}

impl Range {
    pub(crate) async fn start() -> Range {
        let upstream = EchoUpstream::start().await;
        let attacker = FakeJwks::start(Reply::keys(&["attacker"])).await;
        let env = [(SECRET_ENV, SECRET)];
        let http = TestProxy::start(&config(&upstream.url(), "http"), &env).await;
        let close = TestProxy::start(&config(&upstream.url(), "close"), &env).await;
        Range {
            upstream,
            attacker,
            http,
            close,
        }
    }

    pub(crate) fn http_addr(&self) -> std::net::SocketAddr {
        self.http.addr()
    }

    /// `token` in `Authorization: Bearer` is refused with `expected` in both modes.
    pub(crate) async fn refuses(&self, case: &str, token: &str, expected: Refusal) {
        self.refuses_request(case, &Upgrade::to("/ws").bearer(token), expected)
            .await;
    }

    /// `request` is refused with `expected`: the contract's HTTP answer in `deny = "http"`,
    /// wsgate's own 101 and a close frame naming the reason in `deny = "close"`.
    pub(crate) async fn refuses_request(&self, case: &str, request: &Upgrade, expected: Refusal) {
        let response = request.send(self.http.addr()).await;
        assert_eq!(
            (response.status, response.header("x-wsgate-reason")),
            (expected.status, Some(expected.reason)),
            "{case}: deny = \"http\": {:?}",
            response.body_text()
        );
        assert_http_refusal(&response, expected);

        let (head, mut stream) = request.send_head(self.close.addr()).await;
        assert_eq!(
            head.status, 101,
            "{case}: deny = \"close\" answers 101 first"
        );
        let mut buffered = head.after_head().to_vec();
        let frame = raw::read_frame(&mut stream, &mut buffered).await;
        assert_eq!(
            frame.close_code_and_reason(),
            Some((expected.close_code, expected.reason.to_owned())),
            "{case}: deny = \"close\" close frame"
        );
        let _ = stream
            .write_all(&raw::masked_close(expected.close_code, ""))
            .await;
        raw::read_to_close_or_switch(&mut stream).await;
    }

    /// Ends the scenario: the upstream saw nothing and the attacker's key server was
    /// never contacted. Proven by order, not by waiting: a sentinel session with a valid
    /// token goes through afterwards, and it must be the upstream's first and only
    /// connection; the attacker's server gets one request of ours and must count one.
    pub(crate) async fn assert_nothing_got_through(self) {
        let token = hs256(json!({}), &Value::Object(claims(ISSUER)));
        let (head, _session) = Upgrade::to("/ws")
            .bearer(&token)
            .header("X-Sentinel", "after-the-attacks")
            .send_head(self.http.addr())
            .await;
        assert_eq!(head.status, 101, "the sentinel is admitted: {head:?}");
        let seen = self.upstream.request(0).await;
        assert_eq!(
            seen.values("x-sentinel"),
            vec!["after-the-attacks"],
            "the upstream's first request is the sentinel's"
        );
        assert_eq!(
            self.upstream.connections(),
            1,
            "no attack opened a connection to the upstream"
        );
        assert_eq!(self.upstream.requests().len(), 1);

        let (head, _stream) = raw::exchange_head(
            self.attacker.addr(),
            b"GET /sentinel HTTP/1.1\r\nHost: attacker\r\n\r\n",
        )
        .await;
        assert_eq!(head.status, 200, "the attacker's server answers us");
        assert_eq!(
            self.attacker.connections(),
            1,
            "no token made wsgate contact a key URL it names"
        );
    }
}
