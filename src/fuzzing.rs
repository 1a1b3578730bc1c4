//! Entry points of the cargo-fuzz targets in `fuzz/` (docs/fuzzing.md), one per parser an
//! attacker can reach: the token verifier, the request head and handshake checks, the
//! frame scanner, the upstream's answer, the config, and the whole decision.
//!
//! Not part of wsgate's API (`#[doc(hidden)]`): each function takes raw bytes, runs the
//! same code the proxy runs, and asserts the invariants that code promises, so a fuzzer
//! (or the replay of the committed corpus in this file's tests) finds any input that
//! panics, hangs or breaks one. Inputs are never read from the machine: config inputs that
//! name files are skipped.
//!
//! Input formats (fuzz/make_corpus.py writes seeds in them):
//! - `jwt`: a token; or `sign:` + header JSON + `\n` + payload JSON, which is encoded and
//!   HS256-signed with [`SECRET`] so the claim checks behind the signature are reached (and
//!   whose payload is read both by the claims scan and as serde_json read it before, which
//!   must agree).
//! - `request_head`: the bytes a client sends first.
//! - `frames`: one byte of scanner settings, then the byte stream.
//! - `upstream_answer`: one byte choosing what was offered, then the upstream's bytes.
//! - `config`: TOML text.
//! - `decide`: a request target line, then `Name: value` lines.

use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use jsonwebtoken::{Algorithm, EncodingKey};

use crate::auth::identity::is_safe_value;
use crate::auth::keys::{self, IssuerKeys};
use crate::auth::trace::{NoTrace, Step};
use crate::auth::{Gate, RequestView, jwt};
use crate::config::{Config, RouteAuth};
use crate::domain::auth_method::AuthMethod;
use crate::net::tls::ClientCertificate;

/// The HMAC secret of the fuzzing policy's `primary` issuer (and fuzz/make_corpus.py's).
pub const SECRET: &str = "wsgate-fuzzing-hmac-secret-7c1e4b9a2d8f6053";
/// The bypass key of the fuzzing policy.
pub const BYPASS_KEY: &str = "wsgate-fuzzing-bypass-key-0a9b8c7d6e5f4a3b2c1d";
/// The clock every fuzzed decision runs at (2027-01-15); seeds expire in 2100.
pub const NOW: u64 = 1_800_000_000;

/// The fuzzing policy: three issuers (HS256 `hs-1`, RS256 and ES256 from the committed
/// test keys), every token source, an Origin allow-list, the keyed bypass, and routes of
/// each kind.
fn policy_toml() -> String {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    format!(
        r#"environment = "test"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[upstream]
url = "ws://127.0.0.1:9"
[auth]
token_sources = ["header:authorization", "protocol:bearer", "query:access_token", "cookie:access_token"]
allowed_origins = ["https://app.example.com"]
leeway = "30s"
[[auth.issuers]]
name = "primary"
issuer = "https://auth.fuzz.test"
audiences = ["chat"]
algorithms = ["HS256"]
secret = {{ env = "FUZZ_SECRET" }}
kid = "hs-1"
[[auth.issuers]]
name = "rsa"
issuer = "https://rsa.fuzz.test"
audiences = ["chat"]
algorithms = ["RS256"]
public_key_file = "{fixtures}/rsa2048.pub.pem"
[[auth.issuers]]
name = "ec"
issuer = "https://ec.fuzz.test"
audiences = ["chat"]
algorithms = ["ES256"]
public_key_file = "{fixtures}/ec256.pub.pem"
[identity]
user_header = "X-Auth-User"
method_header = "X-Auth-Method"
[identity.claim_headers]
"X-Auth-Email" = "email"
"X-Auth-Roles" = "roles"
[e2e_bypass]
enabled = true
header = "X-E2E-Bypass-Key"
keys = [{{ name = "ci", secret = {{ env = "FUZZ_BYPASS" }} }}]
allowed_environments = ["test"]
[[routes]]
path = "/public"
auth = "none"
[[routes]]
path = "/optional"
auth = "optional"
[[routes]]
path = "/scoped"
auth = "required"
claims = {{ scope = "chat:admin" }}
[[routes]]
path = "/ws"
auth = "required"
"#
    )
}

struct Fixture {
    gate: Gate,
    keys: Vec<IssuerKeys>,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let env = |name: &str| match name {
            "FUZZ_SECRET" => Some(SECRET.to_owned()),
            "FUZZ_BYPASS" => Some(BYPASS_KEY.to_owned()),
            _ => None,
        };
        let config = Config::parse(&policy_toml(), "<fuzzing>", &env, std::path::Path::new("."))
            .unwrap_or_else(|errors| panic!("the fuzzing policy is invalid:\n{errors}"));
        let keys = config
            .auth
            .issuers
            .iter()
            .map(|issuer| keys::load(issuer).unwrap_or_else(|e| panic!("{e:?}")))
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("a current-thread runtime: {e}"));
        let gate = {
            let _guard = runtime.enter();
            Gate::new(Arc::new(config)).unwrap_or_else(|e| panic!("{e}"))
        };
        Fixture {
            gate,
            keys,
            runtime,
        }
    })
}

/// `header.payload` base64url-encoded and HS256-signed with [`SECRET`].
pub fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    match jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256) {
        Ok(signature) => format!("{input}.{signature}"),
        Err(err) => panic!("HS256 signing cannot fail: {err}"),
    }
}

/// The token verifier ([`jwt::verify`]) on one token.
pub fn jwt(data: &[u8]) {
    let token = match data.strip_prefix(b"sign:") {
        Some(rest) => {
            let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let payload = rest.get(split + 1..).unwrap_or_default();
            // The claims scan reads the payload exactly as serde_json's map did.
            jwt::reference::agree(payload);
            sign(&rest[..split], payload)
        }
        None => match std::str::from_utf8(data) {
            Ok(token) => token.to_owned(),
            Err(_) => return,
        },
    };
    let fixture = fixture();
    let auth = &fixture.gate.config().auth;
    let quiet = jwt::verify(&token, auth, &fixture.keys, NOW, &mut NoTrace);
    let mut steps: Vec<Step> = Vec::new();
    let traced = jwt::verify(&token, auth, &fixture.keys, NOW, &mut steps);
    match (&quiet, &traced) {
        (Ok(a), Ok(b)) => assert_eq!((a.issuer, &a.subject), (b.issuer, &b.subject)),
        (Err(a), Err(b)) => assert_eq!(a, b, "tracing changed the verdict"),
        _ => panic!("tracing changed the verdict: {quiet:?} vs {traced:?}"),
    }
    match quiet {
        Ok(verified) => {
            assert!(
                is_safe_value(&verified.subject),
                "a verified sub must be a header value: {:?}",
                verified.subject
            );
            assert!(
                verified.expires_at.saturating_add(30) > NOW,
                "expired yet verified"
            );
        }
        Err(failure) => {
            let reason = failure.reason;
            let _ = (reason.as_str(), reason.status(), reason.close_code());
            if matches!(
                reason,
                crate::domain::refusal::Refusal::KeyUnknown
                    | crate::domain::refusal::Refusal::KeysUnavailable
            ) {
                assert!(
                    failure.issuer.is_some(),
                    "{reason:?} names no issuer to refresh"
                );
            }
        }
    }
}

/// The first request head as wsgate reads it, and the RFC 6455 checks.
pub fn request_head(data: &[u8]) {
    let Some((verdict, uri, headers)) = crate::proxy::read_head_for_fuzzing(data) else {
        return;
    };
    match verdict {
        Ok(Some(_upgrade)) => {
            assert!(!crate::ws::handshake::is_ambiguous_path(uri.path()));
            let keys: Vec<&HeaderValue> = headers
                .get_all(http::header::SEC_WEBSOCKET_KEY)
                .iter()
                .collect();
            assert_eq!(keys.len(), 1, "an upgrade with {} keys", keys.len());
            let _ = crate::ws::handshake::accept_key(keys[0].as_bytes());
            assert!(!headers.contains_key(http::header::TRANSFER_ENCODING));
        }
        Ok(None) => {}
        Err(error) => {
            let _ = (error.status(), error.message(), error.as_str());
        }
    }
}

/// The relay's frame scanner over a byte stream (settings in the first byte).
pub fn frames(data: &[u8]) {
    if let Some((&config, stream)) = data.split_first() {
        crate::relay::scan_frames(config, stream);
    }
}

/// The upstream's answer to the upgrade request (what was offered in the first byte).
pub fn upstream_answer(data: &[u8]) {
    let Some((&offer, mut answer)) = data.split_first() else {
        return;
    };
    let protocols = ["", "chat", "chat, superchat"][usize::from(offer % 3)];
    let extensions = ["", "permessage-deflate; client_max_window_bits"][usize::from(offer / 3 % 2)];
    let fixture = fixture();
    let result = fixture
        .runtime
        .block_on(crate::upstream::read_answer_for_fuzzing(
            &mut answer,
            protocols,
            extensions,
        ));
    if let Ok(Some(refusal)) = result {
        assert_ne!(refusal.status(), 101);
        assert!(
            refusal.body().len() <= 64 * 1024,
            "refusal body over the cap"
        );
    }
}

/// The config parser and validator, and `check`'s rendering of what it accepts.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Never read the machine's files (a fuzzer would find /dev/zero).
    if text.contains("file") || text.contains("/dev") || text.contains("_url") {
        return;
    }
    let env =
        |name: &str| (name.len() < 64).then(|| format!("{name}-fuzzing-secret-value-0123456789"));
    match Config::parse(text, "<fuzz>", &env, std::path::Path::new("/nonexistent")) {
        Ok(config) => {
            let rendered = crate::config::render::render(&config);
            assert!(
                !rendered.contains("-fuzzing-secret-value-"),
                "check printed a secret"
            );
            assert!(!config.routes.is_empty(), "no catch-all route");
        }
        Err(errors) => {
            assert!(!errors.to_string().is_empty(), "an error without a message");
        }
    }
}

/// The request a `decide` input describes: its target line and `Name: value` lines
/// (lines that are not a valid header are skipped).
fn request_of(data: &[u8]) -> Option<(Uri, HeaderMap)> {
    let mut lines = data.split(|&b| b == b'\n');
    let uri = Uri::try_from(lines.next()?).ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    Some((uri, headers))
}

/// The whole decision ([`Gate::decide`]) on a request target and headers.
pub fn decide(data: &[u8]) {
    let Some((uri, headers)) = request_of(data) else {
        return;
    };
    let fixture = fixture();
    let view = RequestView {
        path: uri.path(),
        query: uri.query(),
        headers: &headers,
        client_cert: &ClientCertificate::NotRequested,
    };
    let first = fixture
        .runtime
        .block_on(fixture.gate.decide(&view, NOW, &mut NoTrace));
    let again = fixture
        .runtime
        .block_on(fixture.gate.decide(&view, NOW, &mut NoTrace));
    let config = fixture.gate.config();
    match (&first, &again) {
        (Ok(grant), Ok(same)) => {
            assert_eq!((grant.route, grant.method), (same.route, same.method));
            let route = config.route(grant.route);
            match grant.method {
                AuthMethod::Anonymous => assert_ne!(
                    route.auth,
                    RouteAuth::Required,
                    "anonymous on a required route {:?}",
                    route.path
                ),
                AuthMethod::E2eBypass => {
                    let sent: Vec<&HeaderValue> =
                        headers.get_all(&config.e2e_bypass.header).iter().collect();
                    assert_eq!(sent, [BYPASS_KEY], "bypass granted without its key");
                }
                AuthMethod::Jwt => {
                    let user = grant.user.as_deref().unwrap_or_default();
                    assert!(is_safe_value(user), "jwt grant without a header-safe user");
                }
                AuthMethod::ClientCert => {
                    panic!("a client-certificate grant on a connection that presented none")
                }
            }
        }
        (Err(denial), Err(same)) => assert_eq!(denial.reason, same.reason),
        _ => panic!("the same request decided twice differently: {first:?} / {again:?}"),
    }
}

#[cfg(test)]
mod tests;
