//! `wsgate explain`, the binary, on the refusals that took days to diagnose: a JWT signed
//! with another service's secret, an expired token, a token for the wrong audience, a
//! bypass attempt. Each must name the exact reason code, show the evidence (key
//! fingerprints, exp against the clock and leeway), and exit 0 allowed / 1 denied /
//! 2 usage or config error. Fingerprints are computed here independently and must agree
//! with `check`'s.

use serde_json::Value;

use crate::support::Claims;
use crate::support::TempDir;
use crate::support::policy::{
    BYPASS_ENV, BYPASS_KEY, Exit, NEXT_BYPASS_KEY, Policy, STAGING_SECRET, STAGING_SECRET_ENV,
    all_secrets, fingerprint, secrets_without, staging_token, wsgate,
};
use crate::support::tokens::{self, OTHER_SECRET, SECRET, SECRET_ENV, alice};

/// A staging config file in a fresh directory (kept alive by the returned `TempDir`).
fn staging_config() -> (TempDir, String) {
    let dir = TempDir::new();
    let path = Policy::staging().write(&dir, "staging.toml");
    (dir, path)
}

async fn explain(config: &str, extra: &[&str]) -> Exit {
    let mut args = vec!["explain", "--config", config];
    args.extend_from_slice(extra);
    wsgate(&args, &all_secrets(), None).await
}

async fn explain_json(config: &str, extra: &[&str]) -> (Exit, Value) {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let exit = explain(config, &args).await;
    let parsed: Value = serde_json::from_str(exit.stdout.trim()).unwrap_or_else(|err| {
        panic!(
            "--json output is not one JSON document ({err}):\n{}\n--- stderr ---\n{}",
            exit.stdout, exit.stderr
        )
    });
    (exit, parsed)
}

/// The line of human output for step `name` that fails (`FAIL name ...`).
fn failing_line<'a>(exit: &'a Exit, name: &str) -> &'a str {
    exit.stdout
        .lines()
        .find(|l| l.starts_with("FAIL") && l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("no failing {name} step:\n{}", exit.stdout))
}

fn verdict_line(exit: &Exit) -> &str {
    exit.stdout
        .lines()
        .find(|l| l.starts_with("verdict:"))
        .unwrap_or_else(|| panic!("no verdict line:\n{}", exit.output()))
}

#[tokio::test]
async fn a_valid_token_is_allowed_with_issuer_key_fingerprint_and_verdict() {
    let (_dir, config) = staging_config();
    let exit = explain(&config, &["--token", &alice()]).await;
    exit.expect_code(0, "a valid token").expect_mentions(&[
        "primary",
        &fingerprint(SECRET),
        SECRET_ENV,
        "HS256",
    ]);
    assert!(verdict_line(&exit).contains("ALLOWED"), "{}", exit.stdout);
    assert!(
        !exit.output().contains(SECRET),
        "the secret itself is never printed"
    );
}

/// The incident: two services, two secrets, a bare 403. `explain` names the key wsgate has
/// (by fingerprint, which the other team can compare with theirs) and says why.
#[tokio::test]
async fn a_token_signed_with_another_services_secret_is_signature_invalid_with_the_fingerprint() {
    let (_dir, config) = staging_config();
    let forged = Claims::valid_for("alice").sign_with(jsonwebtoken::Algorithm::HS256, OTHER_SECRET);
    let exit = explain(&config, &["--token", &forged]).await;
    exit.expect_code(1, "another service's secret");
    let line = failing_line(&exit, "signature");
    assert!(line.contains(&fingerprint(SECRET)), "{line}");
    assert!(
        line.contains("HMAC secret likely differs"),
        "says what to look for: {line}"
    );
    assert!(
        verdict_line(&exit).contains("signature_invalid"),
        "{}",
        exit.stdout
    );
    assert!(!exit.output().contains(OTHER_SECRET) && !exit.output().contains(SECRET));

    let (exit, json) = explain_json(&config, &["--token", &forged]).await;
    exit.expect_code(1, "--json, another service's secret");
    assert_eq!(json["verdict"]["allowed"], Value::Bool(false), "{json}");
    assert_eq!(json["verdict"]["reason"], "signature_invalid", "{json}");
}

/// Judged at a fixed clock, so the evidence is exact: exp, the clock and the leeway.
#[tokio::test]
async fn an_expired_token_is_token_expired_showing_exp_against_clock_and_leeway() {
    let (_dir, config) = staging_config();
    let exp = tokens::now() - 3600;
    let token = Claims::valid_for("alice")
        .set("iat", exp - 600)
        .set("exp", exp)
        .sign();
    let at = (exp + 100).to_string();
    let exit = explain(&config, &["--token", &token, "--at", &at]).await;
    exit.expect_code(1, "expired");
    let line = failing_line(&exit, "exp");
    for expected in [exp.to_string(), at.clone(), "leeway 30".to_owned()] {
        assert!(line.contains(&expected), "{expected} in: {line}");
    }
    assert!(
        verdict_line(&exit).contains("token_expired"),
        "{}",
        exit.stdout
    );

    // Without --at, the real clock: still expired, same code.
    let exit = explain(&config, &["--token", &token]).await;
    exit.expect_code(1, "expired at the real clock");
    assert!(verdict_line(&exit).contains("token_expired"));
}

#[tokio::test]
async fn a_token_for_another_audience_is_audience_mismatch() {
    let (_dir, config) = staging_config();
    let token = Claims::valid_for("alice").set("aud", "billing").sign();
    let exit = explain(&config, &["--token", &token]).await;
    exit.expect_code(1, "wrong audience");
    let line = failing_line(&exit, "aud");
    assert!(line.contains("billing") && line.contains("chat"), "{line}");
    assert!(verdict_line(&exit).contains("audience_mismatch"));
    let (_, json) = explain_json(&config, &["--token", &token]).await;
    assert_eq!(json["verdict"]["reason"], "audience_mismatch", "{json}");
}

/// `--at` moves the clock: a token valid now is still valid within the leeway after exp
/// and expired from exp + leeway on, in unix seconds and RFC 3339 alike.
#[tokio::test]
async fn at_moves_the_clock_across_expiry_and_leeway() {
    let (_dir, config) = staging_config();
    // A whole minute, so the RFC 3339 form needs no sub-second precision.
    let exp = (tokens::now() / 60 + 10) * 60;
    let token = Claims::valid_for("alice").set("exp", exp).sign();
    explain(&config, &["--token", &token])
        .await
        .expect_code(0, "valid now");
    let inside_leeway = (exp + 29).to_string();
    explain(&config, &["--token", &token, "--at", &inside_leeway])
        .await
        .expect_code(0, "29 s after exp, leeway 30 s");
    let at_limit = (exp + 30).to_string();
    let exit = explain(&config, &["--token", &token, "--at", &at_limit]).await;
    exit.expect_code(1, "exp + leeway");
    assert!(verdict_line(&exit).contains("token_expired"));

    let later = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(exp).unwrap() + 3600),
    )
    .to_string();
    let exit = explain(&config, &["--token", &token, "--at", &later]).await;
    exit.expect_code(1, "an hour later, RFC 3339");
    assert!(
        verdict_line(&exit).contains("token_expired"),
        "{}",
        exit.stdout
    );
    let (exit, json) = explain_json(&config, &["--token", &token, "--at", &later]).await;
    exit.expect_code(1, "--json at a later clock");
    assert_eq!(json["verdict"]["reason"], "token_expired");
}

#[tokio::test]
async fn json_output_parses_with_steps_and_a_verdict() {
    let (_dir, config) = staging_config();
    let (exit, json) = explain_json(&config, &["--token", &alice()]).await;
    exit.expect_code(0, "--json, valid");
    assert_eq!(json["verdict"]["allowed"], Value::Bool(true), "{json}");
    assert_eq!(json["verdict"]["issuer"], "primary", "{json}");
    assert!(
        json["verdict"].get("reason").is_none_or(Value::is_null),
        "{json}"
    );
    let steps = json["steps"].as_array().expect("steps array");
    assert!(
        steps.iter().any(|s| s["step"] == "key"
            && s["detail"]
                .as_str()
                .is_some_and(|d| d.contains(&fingerprint(SECRET)))),
        "the key step names the fingerprint: {json}"
    );

    let (exit, json) = explain_json(&config, &[]).await;
    exit.expect_code(1, "--json, no token");
    assert_eq!(json["verdict"]["allowed"], Value::Bool(false));
    assert_eq!(json["verdict"]["reason"], "token_missing");
}

#[tokio::test]
async fn a_bypass_header_shows_the_bypass_decision_without_the_key() {
    let (_dir, config) = staging_config();
    let header = format!("X-E2E-Bypass-Key: {BYPASS_KEY}");
    let exit = explain(&config, &["--header", &header]).await;
    exit.expect_code(0, "correct bypass key");
    assert!(
        verdict_line(&exit).contains("e2e-bypass"),
        "{}",
        exit.stdout
    );
    assert!(exit.stdout.contains("\"ci\""), "names the key that matched");
    assert!(
        !exit.output().contains(BYPASS_KEY),
        "the key is never echoed"
    );

    // The bypass decides alone: a garbage token beside it changes nothing.
    explain(&config, &["--header", &header, "--token", "garbage"])
        .await
        .expect_code(0, "bypass + garbage token");

    let wrong = format!("X-E2E-Bypass-Key: {NEXT_BYPASS_KEY}");
    let exit = explain(&config, &["--header", &wrong, "--token", &alice()]).await;
    exit.expect_code(1, "wrong bypass key, valid token beside it");
    assert!(
        verdict_line(&exit).contains("e2e_key_invalid"),
        "{}",
        exit.stdout
    );
    assert!(!exit.output().contains(NEXT_BYPASS_KEY));
    let (_, json) = explain_json(&config, &["--header", &wrong]).await;
    assert_eq!(json["verdict"]["reason"], "e2e_key_invalid");

    // Production: the same header is e2e_bypass_disabled, and explain says where it is off.
    let dir = TempDir::new();
    let production = Policy::production().write(&dir, "production.toml");
    let exit = explain(&production, &["--header", &header]).await;
    exit.expect_code(1, "bypass header in production");
    assert!(verdict_line(&exit).contains("e2e_bypass_disabled"));
    assert!(failing_line(&exit, "bypass").contains("production"));
    assert!(!exit.output().contains(BYPASS_KEY));
}

#[tokio::test]
async fn the_token_can_come_from_stdin() {
    let (_dir, config) = staging_config();
    let exit = wsgate(
        &["explain", "--config", &config, "--token", "-"],
        &all_secrets(),
        Some(&format!("{}\n", alice())),
    )
    .await;
    exit.expect_code(0, "token on stdin");
    assert!(verdict_line(&exit).contains("ALLOWED"));
}

#[tokio::test]
async fn usage_and_config_errors_exit_2() {
    let (dir, config) = staging_config();
    let missing = dir.path().join("absent.toml").display().to_string();
    let broken = dir
        .write("broken.toml", "environment = \"staging\"\n[server\n")
        .display()
        .to_string();
    let token = alice();
    type Case<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        (
            "config file missing",
            vec!["explain", "--config", &missing, "--token", &token],
            all_secrets(),
        ),
        (
            "unknown flag",
            vec!["explain", "--config", &config, "--frobnicate"],
            all_secrets(),
        ),
        (
            "no --config",
            vec!["explain", "--token", &token],
            all_secrets(),
        ),
        (
            "config not TOML",
            vec!["explain", "--config", &broken, "--token", &token],
            all_secrets(),
        ),
        (
            "--at unparsable",
            vec![
                "explain",
                "--config",
                &config,
                "--token",
                &token,
                "--at",
                "yesterday",
            ],
            all_secrets(),
        ),
        (
            "--header without a colon",
            vec![
                "explain",
                "--config",
                &config,
                "--header",
                "X-E2E-Bypass-Key",
            ],
            all_secrets(),
        ),
        (
            "config refused: the bypass key variable unset",
            vec!["explain", "--config", &config, "--token", &token],
            secrets_without(&[BYPASS_ENV]),
        ),
    ];
    for (what, args, env) in cases {
        let exit = wsgate(&args, &env, None).await;
        exit.expect_code(2, what);
        assert!(!exit.stderr.trim().is_empty(), "{what}: says why on stderr");
    }
    let unreadable = wsgate(
        &["explain", "--config", &missing, "--token", &token],
        &all_secrets(),
        None,
    )
    .await;
    unreadable.expect_mentions(&["absent.toml"]);
    let refused = wsgate(
        &["explain", "--config", &config, "--token", &token],
        &secrets_without(&[BYPASS_ENV]),
        None,
    )
    .await;
    refused.expect_mentions(&[BYPASS_ENV, "e2e_bypass.keys[0].secret"]);
}

/// The two-services diagnosis: `check` on one side and `explain` on the other print the
/// same fingerprint for the same key, and it is SHA-256 of the material.
#[tokio::test]
async fn explain_and_check_print_the_same_fingerprint_for_a_key() {
    let (_dir, config) = staging_config();
    let check = wsgate(&["check", "--config", &config], &all_secrets(), None).await;
    check.expect_code(0, "check");
    for (secret, env, token) in [
        (SECRET, SECRET_ENV, alice()),
        (STAGING_SECRET, STAGING_SECRET_ENV, staging_token("ci-user")),
    ] {
        let expected = fingerprint(secret);
        let check_line = check
            .stdout
            .lines()
            .find(|l| l.contains(env) && l.contains("sha256:"))
            .unwrap_or_else(|| panic!("check names {env}'s key:\n{}", check.stdout));
        assert!(check_line.contains(&expected), "check: {check_line}");
        let exit = explain(&config, &["--token", &token]).await;
        exit.expect_code(0, env);
        let key_line = exit
            .stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("key"))
            .unwrap_or_else(|| panic!("no key step:\n{}", exit.stdout));
        assert!(key_line.contains(&expected), "explain: {key_line}");
    }
    // The bypass key too has a fingerprint in check, never its value.
    assert!(
        check.stdout.contains(&fingerprint(BYPASS_KEY)),
        "{}",
        check.stdout
    );
    assert!(!check.output().contains(BYPASS_KEY));
}

/// Environment-scoped issuers through explain: the staging issuer's token in production is
/// issuer_unknown, and explain says the issuer exists but is off here.
#[tokio::test]
async fn a_staging_issuer_token_in_production_is_issuer_unknown_and_says_why() {
    let dir = TempDir::new();
    let production = Policy::production().write(&dir, "production.toml");
    let token = staging_token("ci-user");
    // Production need not have the staging secret, nor the bypass key.
    let exit = wsgate(
        &["explain", "--config", &production, "--token", &token],
        &secrets_without(&[STAGING_SECRET_ENV, BYPASS_ENV]),
        None,
    )
    .await;
    exit.expect_code(1, "staging token in production");
    assert!(
        verdict_line(&exit).contains("issuer_unknown"),
        "{}",
        exit.stdout
    );
    let line = failing_line(&exit, "issuer");
    assert!(
        line.contains("staging-tests") && line.contains("not enabled"),
        "{line}"
    );

    let staging = Policy::staging().write(&dir, "staging.toml");
    explain(&staging, &["--token", &token])
        .await
        .expect_code(0, "the same token in staging");
}

/// Route claim rules are a step of their own: `--path` picks the route.
#[tokio::test]
async fn path_selects_the_route_and_its_claim_rules() {
    let (_dir, config) = staging_config();
    let without_scope = Claims::valid_for("alice").set("scope", "profile").sign();
    let with_scope = Claims::valid_for("alice")
        .set("scope", "profile chat")
        .sign();
    explain(&config, &["--token", &without_scope])
        .await
        .expect_code(0, "/ws has no claim rule");
    let exit = explain(&config, &["--token", &without_scope, "--path", "/chat"]).await;
    exit.expect_code(1, "/chat needs scope chat");
    assert!(verdict_line(&exit).contains("claim_mismatch"));
    assert!(failing_line(&exit, "route_claims").contains("scope"));
    explain(&config, &["--token", &with_scope, "--path", "/chat/room/1"])
        .await
        .expect_code(0, "scope contains chat");
}

/// A correct key with an unusable test identity: the explanation must blame the identity
/// header, not the key (a "wrong key" diagnosis would send the team rotating keys).
#[tokio::test]
async fn an_invalid_test_identity_is_blamed_on_the_user_header_not_the_key() {
    let (_dir, config) = staging_config();
    let key = format!("X-E2E-Bypass-Key: {BYPASS_KEY}");
    let exit = explain(
        &config,
        &["--header", &key, "--header", "X-E2E-User: ci runner"],
    )
    .await;
    exit.expect_code(1, "invalid X-E2E-User");
    assert!(
        verdict_line(&exit).contains("claim_invalid"),
        "{}",
        exit.stdout
    );
    let line = failing_line(&exit, "bypass");
    assert!(
        line.to_ascii_lowercase().contains("x-e2e-user"),
        "names the identity header: {line}"
    );
    assert!(!line.contains("matches none"), "the key did match: {line}");
    let exit = explain(
        &config,
        &["--header", &key, "--header", "X-E2E-User: ci-runner"],
    )
    .await;
    exit.expect_code(0, "valid X-E2E-User");
    assert!(verdict_line(&exit).contains("ci-runner"), "{}", exit.stdout);
}

#[tokio::test]
async fn a_refresh_is_explained_with_the_holder_it_must_match() {
    let (_dir, config) = staging_config();
    let exit = explain(
        &config,
        &["--token", &alice(), "--refresh", "primary:alice"],
    )
    .await;
    exit.expect_code(0, "a refresh by the same subject");
    assert!(verdict_line(&exit).contains("ALLOWED"), "{}", exit.stdout);

    let exit = explain(
        &config,
        &["--token", &alice(), "--refresh", "primary:mallory"],
    )
    .await;
    exit.expect_code(1, "a refresh naming another subject");
    assert!(
        failing_line(&exit, "refresh").contains("mallory"),
        "{}",
        exit.stdout
    );
    assert!(
        verdict_line(&exit).contains("claim_mismatch"),
        "{}",
        exit.stdout
    );

    let exit = explain(&config, &["--token", &alice(), "--refresh", "nonsense"]).await;
    exit.expect_code(2, "--refresh without ISSUER:SUBJECT");
}

/// `explain` runs the checks the proxy runs before any decision, with the proxy's own
/// functions: a request the proxy refuses (a path with dot segments, a WebSocket version
/// other than 13) is refused by `explain` with the same reason code and status, however
/// valid its token.
#[tokio::test]
async fn explain_refuses_a_handshake_with_the_code_the_proxy_answers() {
    use crate::support::{TestProxy, Upgrade};
    let builder = TestProxy::builder();
    let dir = TempDir::new();
    let config = dir.write("proxy.toml", &builder.toml());
    let config = config.to_str().expect("utf-8 path");
    let proxy = builder.start().await;
    let token = alice();
    let cases: [(&str, Upgrade, Vec<&str>); 2] = [
        (
            "a path with dot segments",
            Upgrade::to("/ws/../admin").bearer(&token),
            vec!["--path", "/ws/../admin"],
        ),
        (
            "Sec-WebSocket-Version 8",
            Upgrade::to("/ws")
                .bearer(&token)
                .replace("Sec-WebSocket-Version", "8"),
            vec!["--header", "Sec-WebSocket-Version: 8"],
        ),
    ];
    for (what, request, options) in cases {
        let answered = request.send(proxy.addr()).await;
        let code = answered.json()["error"].as_str().map(str::to_owned);
        let code = code.unwrap_or_else(|| panic!("{what}: the proxy names a code: {answered:?}"));
        assert!(answered.status >= 400, "{what}: refused: {answered:?}");

        let mut args = vec!["explain", "--config", config, "--token", &token];
        args.extend_from_slice(&options);
        let exit = wsgate(&args, &[(SECRET_ENV, SECRET)], None).await;
        exit.expect_code(1, what);
        let verdict = verdict_line(&exit);
        assert!(
            verdict.contains(&format!("DENIED {code} ")),
            "{what}: explain says {verdict:?}, the proxy {code}"
        );
        assert!(
            verdict.contains(&format!("(HTTP {})", answered.status)),
            "{what}: explain says {verdict:?}, the proxy {}",
            answered.status
        );

        args.push("--json");
        let exit = wsgate(&args, &[(SECRET_ENV, SECRET)], None).await;
        exit.expect_code(1, what);
        let out: Value = serde_json::from_str(exit.stdout.trim()).expect("one JSON document");
        assert_eq!(out["verdict"]["reason"], code.as_str(), "{what}: {out}");
        assert_eq!(out["verdict"]["status"], answered.status, "{what}: {out}");
    }
    let allowed = wsgate(
        &["explain", "--config", config, "--token", &token],
        &[(SECRET_ENV, SECRET)],
        None,
    )
    .await;
    allowed.expect_code(0, "the same request with nothing wrong in it passes");
}
