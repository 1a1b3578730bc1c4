//! The signed identity assertion (`[identity.assertion]`) as an upstream receives it:
//! one `X-Auth-Assertion` per request, whatever the client sent, verifying against the
//! JWKS the admin listener publishes; and, with the real binary, an independent verifier
//! (PyJWT + cryptography, `tests/python/verify_assertion.py`) that accepts real
//! assertions, refuses forged, expired and unknown-key ones, and follows a key rotation
//! (`next_key_file`, then SIGHUP).

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

use crate::support::process::bound_addresses;
use crate::support::tokens::{SECRET, SECRET_ENV, alice};
use crate::support::{
    EchoUpstream, TempDir, TestProxy, Upgrade, WsgateProcess, eventually, expect_echo,
};

const AUDIENCE: &str = "chat-backend";
const ISSUER: &str = "https://wsgate.test";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn assertion_table(key: &str, next: Option<&str>) -> String {
    let next = next
        .map(|name| format!("next_key_file = {:?}\n", fixture(name)))
        .unwrap_or_default();
    format!(
        "[identity.assertion]\nissuer = {ISSUER:?}\naudience = {AUDIENCE:?}\nttl = \"60s\"\nkey_file = {:?}\n{next}claims = [\"email\"]",
        fixture(key)
    )
}

async fn proxy(upstream: &EchoUpstream) -> TestProxy {
    TestProxy::builder()
        .upstream(&upstream.url())
        .table(&assertion_table("ec256.key.pem", None))
        .start()
        .await
}

/// Verifies with jsonwebtoken against the JWKS served by `proxy`'s admin listener.
async fn verify(proxy: &TestProxy, token: &str) -> Value {
    let response = proxy.admin_get("/.well-known/jwks.json").await;
    assert_eq!(response.status, 200, "{}", response.body_text());
    let set: JwkSet = serde_json::from_str(&response.body_text()).expect("a JWKS");
    let kid = jsonwebtoken::decode_header(token)
        .expect("a JWS header")
        .kid
        .expect("a kid");
    let key = DecodingKey::from_jwk(set.find(&kid).expect("the kid is published")).expect("key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the assertion verifies")
        .claims
}

#[tokio::test]
async fn the_upstream_receives_an_assertion_that_verifies_against_the_admin_jwks() {
    let upstream = EchoUpstream::start().await;
    let proxy = proxy(&upstream).await;
    let (mut session, response) = Upgrade::to("/ws").bearer(&alice()).open(proxy.addr()).await;
    expect_echo(&mut session, "hello").await;
    let session_id = response
        .headers()
        .get("x-wsgate-session")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned();
    let seen = upstream.request(0).await;
    let claims = verify(&proxy, seen.one("x-auth-assertion")).await;
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["auth_method"], "jwt");
    assert_eq!(claims["sid"], session_id.as_str());
    assert_eq!(claims["email"], "alice@example.com");
    assert!(claims["exp"].as_u64() > claims["iat"].as_u64());
}

#[tokio::test]
async fn spoofed_assertion_headers_never_reach_upstream() {
    let upstream = EchoUpstream::start().await;
    let proxy = proxy(&upstream).await;
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.";
    let (mut session, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .header("X-Auth-Assertion", forged)
        .header("X_Auth_Assertion", forged)
        .header("x.auth.assertion", forged)
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "hello").await;
    let seen = upstream.request(0).await;
    assert_eq!(
        seen.aliases_of("x-auth-assertion").len(),
        1,
        "{:#?}",
        seen.headers
    );
    let claims = verify(&proxy, seen.one("x-auth-assertion")).await;
    assert_eq!(claims["sub"], "alice");

    // Even anonymous routes: the client's copy is stripped, wsgate's replaces it.
    let response = Upgrade::plain_get("/public/x")
        .header("X-Auth-Assertion", forged)
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 200, "{}", response.body_text());
    let seen = upstream.request(1).await;
    let claims = verify(&proxy, seen.one("x-auth-assertion")).await;
    assert_eq!(claims["auth_method"], "anonymous");
    assert!(claims.get("sub").is_none(), "{claims}");
}

#[tokio::test]
async fn plain_http_requests_carry_an_assertion_without_a_session() {
    let upstream = EchoUpstream::start().await;
    let proxy = proxy(&upstream).await;
    let response = Upgrade::plain_get("/api/items")
        .bearer(&alice())
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 200, "{}", response.body_text());
    let seen = upstream.request(0).await;
    let claims = verify(&proxy, seen.one("x-auth-assertion")).await;
    assert_eq!(claims["sub"], "alice");
    assert!(claims.get("sid").is_none(), "{claims}");
}

#[tokio::test]
async fn while_the_assertion_is_off_the_jwks_is_404_and_client_copies_are_still_stripped() {
    let upstream = EchoUpstream::start().await;
    let proxy = TestProxy::builder().upstream(&upstream.url()).start().await;
    assert_eq!(proxy.admin_get("/.well-known/jwks.json").await.status, 404);
    let (mut session, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .header("X-Auth-Assertion", "forged")
        .header("X_Auth_Assertion", "forged")
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "hello").await;
    let seen = upstream.request(0).await;
    assert!(
        seen.aliases_of("x-auth-assertion").is_empty(),
        "{:#?}",
        seen.headers
    );
}

/// Runs the PyJWT verifier; `Ok(claims)` or `Err(refusal line)`.
fn python_verify(
    admin: std::net::SocketAddr,
    token: &str,
    clock_ahead: u64,
) -> Result<Value, String> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/verify_assertion.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(format!("http://{admin}/.well-known/jwks.json"))
        .args([ISSUER, AUDIENCE, token, &clock_ahead.to_string()])
        .output()
        .expect("python3 runs (install PyJWT and cryptography: see .ci/run)");
    let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => Ok(serde_json::from_str(&stdout).expect("claims as JSON")),
        Some(1) if stdout.starts_with("refused: ") => Err(stdout),
        _ => panic!("the verifier failed to run: {stdout}\n{stderr}"),
    }
}

/// An assertion-shaped token signed with `key_file` under `kid`, with `claims`.
fn sign_with(key_file: &str, kid: &str, claims: &Value) -> String {
    let pem = std::fs::read(fixture(key_file)).expect("key fixture");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ec_pem(&pem).expect("EC key"),
    )
    .expect("sign")
}

fn kid_of(key_file: &str) -> String {
    let pem = std::fs::read(fixture(key_file)).expect("key fixture");
    wsgate::jose::signing_key::SigningKey::from_pem(
        &pem,
        wsgate::jose::signing_key::AssertionAlgorithm::Es256,
    )
    .expect("key")
    .kid()
    .to_owned()
}

/// Waits until the admin listener publishes exactly `kids`, in that order (a reload done).
async fn published_kids(admin: std::net::SocketAddr, kids: &[&str]) {
    eventually("the reloaded JWKS", || async {
        let response = crate::support::proxy::admin_get(admin, "/.well-known/jwks.json").await;
        let set: Value = serde_json::from_str(&response.body_text()).ok()?;
        let published: Vec<&str> = set["keys"]
            .as_array()?
            .iter()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        (published == kids).then_some(())
    })
    .await;
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

#[tokio::test]
async fn an_independent_verifier_accepts_real_assertions_and_refuses_forgeries_and_follows_rotation()
 {
    let upstream = EchoUpstream::start().await;
    let dir = TempDir::new();
    let toml = |key: &str, next: Option<&str>| {
        TestProxy::builder()
            .upstream(&upstream.url())
            .table(&assertion_table(key, next))
            .toml()
    };
    let config = dir.write("wsgate.toml", &toml("ec256.key.pem", None));
    let config = config.display().to_string();
    let mut wsgate = WsgateProcess::spawn(&["run", "--config", &config], &[(SECRET_ENV, SECRET)]);
    let (proxy, admin) = bound_addresses(&mut wsgate).await;

    // A real session's assertion verifies.
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy).await;
    expect_echo(&mut session, "hello").await;
    let real = upstream.request(0).await.one("x-auth-assertion").to_owned();
    let claims = python_verify(admin, &real, 0).expect("a real assertion verifies");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["auth_method"], "jwt");
    assert_eq!(claims["sid"].as_str().map(str::len), Some(32));

    // Forged: the payload changed, the signature kept.
    let mut parts: Vec<String> = real.split('.').map(str::to_owned).collect();
    let mut forged_claims = claims_of(&real);
    forged_claims["sub"] = Value::from("admin");
    parts[1] = URL_SAFE_NO_PAD.encode(forged_claims.to_string());
    let refusal = python_verify(admin, &parts.join("."), 0).expect_err("forged");
    assert!(refusal.contains("InvalidSignatureError"), "{refusal}");

    // Expired: checked by a verifier whose clock is past `exp`.
    let refusal = python_verify(admin, &real, 120).expect_err("expired");
    assert!(refusal.contains("ExpiredSignatureError"), "{refusal}");

    // Signed by a key wsgate does not publish: unknown kid, or wsgate's kid on it.
    let next_kid = kid_of("ec256-next.key.pem");
    let by_next = sign_with("ec256-next.key.pem", &next_kid, &claims_of(&real));
    let refusal = python_verify(admin, &by_next, 0).expect_err("unknown key");
    assert!(refusal.contains("PyJWKClientError"), "{refusal}");
    let impostor = sign_with(
        "ec256-next.key.pem",
        &kid_of("ec256.key.pem"),
        &claims_of(&real),
    );
    let refusal = python_verify(admin, &impostor, 0).expect_err("wrong key under wsgate's kid");
    assert!(refusal.contains("InvalidSignatureError"), "{refusal}");

    // Rotation, step 1: the next key is published (before it signs anything), so a
    // verifier that refreshes its JWKS already accepts it; the current key still signs.
    dir.write(
        "wsgate.toml",
        &toml("ec256.key.pem", Some("ec256-next.key.pem")),
    );
    wsgate.hangup();
    let old_kid = kid_of("ec256.key.pem");
    published_kids(admin, &[old_kid.as_str(), next_kid.as_str()]).await;
    python_verify(admin, &by_next, 0).expect("the published next key verifies");
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy).await;
    expect_echo(&mut session, "hello").await;
    let second = upstream.request(1).await.one("x-auth-assertion").to_owned();
    let header = jsonwebtoken::decode_header(&second).expect("header");
    assert_eq!(
        header.kid.as_deref(),
        Some(kid_of("ec256.key.pem").as_str())
    );
    python_verify(admin, &second, 0).expect("still signed by the current key");

    // Step 2: the next key becomes the current one.
    dir.write("wsgate.toml", &toml("ec256-next.key.pem", None));
    wsgate.hangup();
    published_kids(admin, &[next_kid.as_str()]).await;
    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy).await;
    expect_echo(&mut session, "hello").await;
    let third = upstream.request(2).await.one("x-auth-assertion").to_owned();
    let header = jsonwebtoken::decode_header(&third).expect("header");
    assert_eq!(header.kid.as_deref(), Some(next_kid.as_str()));
    python_verify(admin, &third, 0).expect("signed by the rotated-in key");
    wsgate.terminate();
}

#[tokio::test]
async fn check_prints_the_jwks_and_says_when_the_key_is_generated() {
    use crate::support::process::run_to_exit;
    let dir = TempDir::new();
    let env = [(SECRET_ENV, SECRET)];
    let with_keys = TestProxy::builder()
        .table(&assertion_table(
            "ec256.key.pem",
            Some("ec256-next.key.pem"),
        ))
        .toml();
    let config = dir.write("keys.toml", &with_keys).display().to_string();

    let (status, stdout, stderr) =
        run_to_exit(&["check", "--config", &config, "--print-jwks", "-"], &env).await;
    assert_eq!(status.code(), Some(0), "{stdout}\n{stderr}");
    let jwks: Value = serde_json::from_str(&stdout).expect("only the JWKS on stdout");
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(
        kids,
        [kid_of("ec256.key.pem"), kid_of("ec256-next.key.pem")]
    );

    let file = dir.path().join("pinned.json");
    let (status, stdout, _) = run_to_exit(
        &[
            "check",
            "--config",
            &config,
            "--print-jwks",
            &file.display().to_string(),
        ],
        &env,
    )
    .await;
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("[identity.assertion]"), "{stdout}");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("written")).expect("JSON");
    assert_eq!(written, jwks);

    // No key_file: check warns, and there is nothing to pin.
    let generated = TestProxy::builder()
        .table(&format!(
            "[identity.assertion]\naudience = {AUDIENCE:?}\nissuer = {ISSUER:?}"
        ))
        .toml();
    let config = dir
        .write("generated.toml", &generated)
        .display()
        .to_string();
    let (status, stdout, _) = run_to_exit(&["check", "--config", &config], &env).await;
    assert_eq!(status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("identity.assertion.key_file is not set"),
        "{stdout}"
    );
    let (status, _, stderr) =
        run_to_exit(&["check", "--config", &config, "--print-jwks", "-"], &env).await;
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("generated when wsgate starts"), "{stderr}");

    // Production refuses a generated key, naming it.
    let production = generated.replace("environment = \"test\"", "environment = \"production\"");
    let config = dir
        .write("production.toml", &production)
        .display()
        .to_string();
    let (status, _, stderr) = run_to_exit(&["check", "--config", &config], &env).await;
    assert_eq!(status.code(), Some(1));
    assert!(
        stderr.contains("identity.assertion.key_file: is required in environment \"production\""),
        "{stderr}"
    );
}
