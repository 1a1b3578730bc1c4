//! The keyed E2E bypass, replaying the staging incidents (PRODUCT.md `[e2e_bypass]`,
//! docs/security-cases.md B1–B7, docs/e2e-testing.md "Option B"):
//!
//! - only the configured header with a configured key lets a test in, as
//!   `X-Auth-Method: e2e-bypass` and the test identity; the key never reaches the upstream,
//!   a log line, a metric label or a refusal body;
//! - every near miss is `e2e_key_invalid`, and when the bypass header is present it alone
//!   decides (no fall-through to a JWT beside it, valid or not);
//! - the header where the bypass is off is `e2e_bypass_disabled`, in both deny modes;
//! - "is this a test?" headers and aliases of the bypass header grant nothing;
//! - two named keys both work (rotation) and the metric says which one was used.
//!
//! In-process (`wsgate::run`) for proxy behaviour and metrics; the binary for the audit log.

use std::time::Duration;

use crate::denials::{Refusal, TOKEN_MISSING, assert_close_refusal, assert_http_refusal};
use crate::support::metrics::series_of;
use crate::support::policy::{
    BYPASS_ENV, BYPASS_KEY, DEFAULT_USER, NEXT_BYPASS_ENV, NEXT_BYPASS_KEY, Policy,
};
use crate::support::process::bound_addresses;
use crate::support::tokens::{OTHER_SECRET, alice};
use crate::support::{
    Claims, EchoUpstream, Seen, TestProxy, Upgrade, WsgateProcess, expect_echo, metric_value,
};

pub(crate) const E2E_KEY_INVALID: Refusal = Refusal {
    reason: "e2e_key_invalid",
    status: 403,
    close_code: 1008,
    challenge: false,
};
pub(crate) const E2E_BYPASS_DISABLED: Refusal = Refusal {
    reason: "e2e_bypass_disabled",
    status: 403,
    close_code: 1008,
    challenge: false,
};
const CLAIM_INVALID: Refusal = Refusal {
    reason: "claim_invalid",
    status: 403,
    close_code: 1008,
    challenge: false,
};

const HEADER: &str = "X-E2E-Bypass-Key";

fn bypass_total(metrics: &str, key: &str, result: &str) -> f64 {
    metric_value(
        metrics,
        "wsgate_e2e_bypass_total",
        &[("key", key), ("result", result)],
    )
    .unwrap_or(0.0)
}

/// Fails the test if any header the upstream received carries `secret` in its name or
/// value, or folds to the bypass header.
fn assert_no_bypass_material(seen: &Seen, secret: &str) {
    assert!(
        seen.aliases_of(HEADER).is_empty(),
        "the bypass header (or an alias of it) reached the upstream: {:#?}",
        seen.headers
    );
    for (name, value) in &seen.headers {
        assert!(
            !name.contains(secret) && !value.contains(secret),
            "the bypass key reached the upstream in {name}: {value}"
        );
    }
    assert!(
        !seen.target.contains(secret),
        "the bypass key reached the upstream in the target {}",
        seen.target
    );
}

#[tokio::test]
async fn correct_key_admits_the_test_identity_and_the_key_never_reaches_the_upstream() {
    let upstream = EchoUpstream::start().await;
    let proxy = Policy::staging().upstream(&upstream.url()).start().await;

    let request = Upgrade::to("/ws").header(HEADER, BYPASS_KEY);
    let (mut session, _) = request.open(proxy.addr()).await;
    expect_echo(&mut session, "through the bypass").await;

    let seen = upstream.request(0).await;
    assert_eq!(seen.one("X-Auth-Method"), "e2e-bypass");
    assert_eq!(seen.one("X-Auth-User"), DEFAULT_USER);
    assert_no_bypass_material(&seen, BYPASS_KEY);

    let metrics = proxy.metrics().await;
    assert_eq!(
        bypass_total(&metrics, "ci", "accepted"),
        1.0,
        "{:?}",
        series_of(&metrics, "wsgate_e2e_bypass_total")
    );
    assert_eq!(
        metric_value(
            &metrics,
            "wsgate_auth_allowed_total",
            &[("route", "/ws"), ("method", "e2e_bypass")]
        ),
        Some(1.0),
        "{:?}",
        series_of(&metrics, "wsgate_auth_allowed_total")
    );
    assert!(!metrics.contains(BYPASS_KEY), "the key appears in /metrics");
}

#[tokio::test]
async fn aliases_of_the_bypass_header_are_dropped_and_grant_nothing() {
    let upstream = EchoUpstream::start().await;
    let proxy = Policy::staging().upstream(&upstream.url()).start().await;

    // Without a token, an alias carrying the right key is no credential at all.
    for alias in ["X_E2E_Bypass_Key", "x.e2e.bypass.key", "X-E2E-Bypass_Key"] {
        let response = Upgrade::to("/ws")
            .header(alias, BYPASS_KEY)
            .send(proxy.addr())
            .await;
        assert_http_refusal(&response, TOKEN_MISSING);
        assert!(
            !response.body_text().contains(BYPASS_KEY),
            "the key is echoed in the refusal: {}",
            response.body_text()
        );
    }
    assert_eq!(upstream.connections(), 0);

    // With a valid JWT the caller is alice by JWT, and the alias never reaches the upstream.
    let (mut session, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .header("X_E2E_Bypass_Key", BYPASS_KEY)
        .header("x.e2e.bypass.key", BYPASS_KEY)
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "jwt caller").await;
    let seen = upstream.request(0).await;
    assert_eq!(seen.one("X-Auth-Method"), "jwt");
    assert_eq!(seen.one("X-Auth-User"), "alice");
    assert_no_bypass_material(&seen, BYPASS_KEY);

    let metrics = proxy.metrics().await;
    assert_eq!(
        metric_value(&metrics, "wsgate_e2e_bypass_total", &[]).unwrap_or(0.0),
        0.0,
        "an alias is not a bypass attempt: {:?}",
        series_of(&metrics, "wsgate_e2e_bypass_total")
    );
}

#[tokio::test]
async fn a_validated_e2e_user_header_sets_the_identity_and_is_not_forwarded() {
    let upstream = EchoUpstream::start().await;
    let proxy = Policy::staging().upstream(&upstream.url()).start().await;

    let (mut session, _) = Upgrade::to("/ws")
        .header(HEADER, BYPASS_KEY)
        .header("X-E2E-User", "ci-runner-42")
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "named test user").await;
    let seen = upstream.request(0).await;
    assert_eq!(seen.one("X-Auth-User"), "ci-runner-42");
    assert_eq!(seen.one("X-Auth-Method"), "e2e-bypass");
    assert!(
        seen.aliases_of("X-E2E-User").is_empty(),
        "the test-identity header itself is not forwarded: {:#?}",
        seen.headers
    );

    // An identity that is not a safe, bounded header value is refused, not forwarded.
    let too_long = "u".repeat(257);
    for user in ["ci runner", too_long.as_str()] {
        let response = Upgrade::to("/ws")
            .header(HEADER, BYPASS_KEY)
            .header("X-E2E-User", user)
            .send(proxy.addr())
            .await;
        assert_http_refusal(&response, CLAIM_INVALID);
    }
    assert_eq!(
        upstream.connections(),
        1,
        "only the valid identity got through"
    );

    // Without the bypass header, X-E2E-User names nobody: a JWT caller stays who the
    // token says, and the header is not forwarded.
    let (mut session, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .header("X-E2E-User", "admin")
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "jwt caller claiming a test identity").await;
    let seen = upstream.request(1).await;
    assert_eq!(seen.one("X-Auth-User"), "alice");
    assert_eq!(seen.one("X-Auth-Method"), "jwt");
    assert!(
        seen.aliases_of("X-E2E-User").is_empty(),
        "{:#?}",
        seen.headers
    );
}

/// Every near miss of the key, each with a valid JWT beside it: the bypass header decides
/// alone, so none of them falls through to the JWT.
#[tokio::test]
async fn near_miss_keys_are_e2e_key_invalid_and_never_fall_through_to_the_jwt() {
    let upstream = EchoUpstream::start().await;
    let proxy = Policy::staging().upstream(&upstream.url()).start().await;

    let prefix = &BYPASS_KEY[..BYPASS_KEY.len() - 1];
    let upper = BYPASS_KEY.to_uppercase();
    let spaced_inside = format!("{BYPASS_KEY} x");
    let padded_inside = format!("{BYPASS_KEY}\t.");
    let doubled = format!("{BYPASS_KEY}{BYPASS_KEY}");
    let joined = format!("{BYPASS_KEY}, {BYPASS_KEY}");
    let cases: Vec<(&str, Upgrade)> = vec![
        (
            "wrong key",
            Upgrade::to("/ws").header(HEADER, "not-the-key-but-just-as-long-0123456789"),
        ),
        ("empty value", Upgrade::to("/ws").header(HEADER, "")),
        ("prefix", Upgrade::to("/ws").header(HEADER, prefix)),
        ("other case", Upgrade::to("/ws").header(HEADER, &upper)),
        (
            "key, space, more",
            Upgrade::to("/ws").header(HEADER, &spaced_inside),
        ),
        (
            "key, tab, more",
            Upgrade::to("/ws").header(HEADER, &padded_inside),
        ),
        (
            "key twice in one value",
            Upgrade::to("/ws").header(HEADER, &doubled),
        ),
        (
            "comma-joined list",
            Upgrade::to("/ws").header(HEADER, &joined),
        ),
        (
            "two headers, both correct",
            Upgrade::to("/ws")
                .header(HEADER, BYPASS_KEY)
                .header(HEADER, BYPASS_KEY),
        ),
        (
            "two headers, one correct",
            Upgrade::to("/ws")
                .header(HEADER, "wrong")
                .header(HEADER, BYPASS_KEY),
        ),
        (
            "another key's name as value",
            Upgrade::to("/ws").header(HEADER, "ci"),
        ),
    ];
    for (what, request) in &cases {
        let request = request.clone().bearer(&alice());
        let response = request.send(proxy.addr()).await;
        assert_eq!(
            response.header("x-wsgate-reason"),
            Some("e2e_key_invalid"),
            "{what}: {} {:?}",
            response.status,
            response.body_text()
        );
        assert_http_refusal(&response, E2E_KEY_INVALID);
        assert!(
            !response.body_text().contains(BYPASS_KEY)
                && !response.headers.iter().any(|(_, v)| v.contains(prefix)),
            "{what}: the presented value is echoed back: {response:?}"
        );
    }
    assert_eq!(
        upstream.connections(),
        0,
        "no near miss reached the upstream"
    );

    let metrics = proxy.metrics().await;
    let invalid: f64 = metric_value(
        &metrics,
        "wsgate_e2e_bypass_total",
        &[("result", "invalid")],
    )
    .unwrap_or(0.0);
    assert_eq!(
        invalid,
        cases.len() as f64,
        "{:?}",
        series_of(&metrics, "wsgate_e2e_bypass_total")
    );
    assert_eq!(
        metric_value(
            &metrics,
            "wsgate_auth_denied_total",
            &[("route", "/ws"), ("reason", "e2e_key_invalid")]
        ),
        Some(cases.len() as f64)
    );
    assert_eq!(bypass_total(&metrics, "ci", "accepted"), 0.0);
}

/// RFC 9110 §5.5: whitespace around a field value is not part of it, so `KEY ` on the wire
/// *is* `KEY` (every HTTP stack strips it before the application sees it). wsgate must not
/// be fooled the other way: a value that differs from the key once OWS is removed is
/// refused (see the near-miss test); this pins what happens to surrounding OWS itself.
#[tokio::test]
async fn surrounding_whitespace_on_the_wire_is_not_part_of_the_key() {
    let upstream = EchoUpstream::start().await;
    let proxy = Policy::staging().upstream(&upstream.url()).start().await;
    for value in [format!("{BYPASS_KEY} "), format!("  {BYPASS_KEY}\t")] {
        let (head, _stream) = Upgrade::to("/ws")
            .header(HEADER, &value)
            .send_head(proxy.addr())
            .await;
        assert_eq!(head.status, 101, "{value:?}: {head:?}");
    }
    let seen = upstream.request(0).await;
    assert_eq!(seen.one("X-Auth-Method"), "e2e-bypass");
}

#[tokio::test]
async fn the_bypass_decides_over_a_jwt_beside_it() {
    let upstream = EchoUpstream::start().await;
    let proxy = Policy::staging().upstream(&upstream.url()).start().await;

    // A garbage JWT does not spoil a valid bypass...
    let (mut session, _) = Upgrade::to("/ws")
        .header(HEADER, BYPASS_KEY)
        .bearer("not.a.jwt")
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "garbage jwt beside").await;
    // ...nor does one signed by another service, and a valid one does not name the caller.
    let forged =
        Claims::valid_for("mallory").sign_with(jsonwebtoken::Algorithm::HS256, OTHER_SECRET);
    for token in [forged, alice()] {
        let (mut session, _) = Upgrade::to("/ws")
            .header(HEADER, BYPASS_KEY)
            .bearer(&token)
            .open(proxy.addr())
            .await;
        expect_echo(&mut session, "jwt beside").await;
    }
    for index in 0..3 {
        let seen = upstream.request(index).await;
        assert_eq!(seen.one("X-Auth-Method"), "e2e-bypass", "request {index}");
        assert_eq!(seen.one("X-Auth-User"), DEFAULT_USER, "request {index}");
        assert_no_bypass_material(&seen, BYPASS_KEY);
    }
    let metrics = proxy.metrics().await;
    assert_eq!(bypass_total(&metrics, "ci", "accepted"), 3.0);
    assert_eq!(
        metric_value(&metrics, "wsgate_auth_denied_total", &[]).unwrap_or(0.0),
        0.0,
        "{:?}",
        series_of(&metrics, "wsgate_auth_denied_total")
    );
}

/// Staging incident: tests that mark themselves as tests, with no key. None of these
/// headers is a credential, alone or together, whatever the bypass setting.
#[tokio::test]
async fn header_only_test_markers_grant_nothing() {
    let upstream = EchoUpstream::start().await;
    let markers = [
        ("X-E2E-Test", "true"),
        ("X-Test-Type", "e2e"),
        ("X-Test-Mode", "1"),
        ("X-Test-Environment", "staging"),
        ("X-E2E-User", "admin"),
    ];
    for policy in [Policy::staging(), Policy::staging().bypass_enabled(false)] {
        let proxy = policy.upstream(&upstream.url()).start().await;
        for (name, value) in markers {
            let response = Upgrade::to("/ws")
                .header(name, value)
                .send(proxy.addr())
                .await;
            assert_http_refusal(&response, TOKEN_MISSING);
        }
        let mut all = Upgrade::to("/ws");
        for (name, value) in markers {
            all = all.header(name, value);
        }
        assert_http_refusal(&all.send(proxy.addr()).await, TOKEN_MISSING);
        let metrics = proxy.metrics().await;
        assert_eq!(
            metric_value(&metrics, "wsgate_auth_allowed_total", &[]).unwrap_or(0.0),
            0.0
        );
    }
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn the_bypass_header_in_production_is_e2e_bypass_disabled_in_both_deny_modes() {
    let upstream = EchoUpstream::start().await;
    for mode in ["http", "close"] {
        let proxy = Policy::production()
            .deny(mode)
            .upstream(&upstream.url())
            .start()
            .await;
        // The right key, and a valid JWT beside it: still refused, and said why.
        let request = Upgrade::to("/ws")
            .header(HEADER, BYPASS_KEY)
            .bearer(&alice());
        if mode == "http" {
            let response = request.send(proxy.addr()).await;
            assert_http_refusal(&response, E2E_BYPASS_DISABLED);
            assert!(!response.body_text().contains(BYPASS_KEY));
        } else {
            assert_close_refusal(&proxy, &request, E2E_BYPASS_DISABLED).await;
        }
        let metrics = proxy.metrics().await;
        assert_eq!(
            metric_value(
                &metrics,
                "wsgate_e2e_bypass_total",
                &[("result", "disabled")]
            ),
            Some(1.0),
            "{mode}: {:?}",
            series_of(&metrics, "wsgate_e2e_bypass_total")
        );
    }
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn the_bypass_header_where_the_bypass_is_disabled_is_e2e_bypass_disabled() {
    let upstream = EchoUpstream::start().await;
    for mode in ["http", "close"] {
        let proxy = Policy::staging()
            .bypass_enabled(false)
            .deny(mode)
            .upstream(&upstream.url())
            .start_with(&crate::support::policy::secrets_without(&[BYPASS_ENV]))
            .await;
        let request = Upgrade::to("/ws").header(HEADER, BYPASS_KEY);
        if mode == "http" {
            assert_http_refusal(&request.send(proxy.addr()).await, E2E_BYPASS_DISABLED);
        } else {
            assert_close_refusal(&proxy, &request, E2E_BYPASS_DISABLED).await;
        }
    }
    assert_eq!(upstream.connections(), 0);
}

#[tokio::test]
async fn a_wrong_key_in_close_mode_is_101_then_1008_e2e_key_invalid() {
    let upstream = EchoUpstream::start().await;
    let proxy = Policy::staging()
        .deny("close")
        .upstream(&upstream.url())
        .start()
        .await;
    for value in ["wrong", "", NEXT_BYPASS_KEY] {
        let request = Upgrade::to("/ws").header(HEADER, value).bearer(&alice());
        assert_close_refusal(&proxy, &request, E2E_KEY_INVALID).await;
    }
    assert_eq!(upstream.connections(), 0);
}

/// docs/e2e-testing.md "Rotating a bypass key with zero downtime".
#[tokio::test]
async fn two_named_keys_both_work_and_the_metric_names_which() {
    let upstream = EchoUpstream::start().await;
    let proxy = Policy::staging()
        .bypass_keys(&[("ci-2026-11", BYPASS_ENV), ("ci-2026-12", NEXT_BYPASS_ENV)])
        .upstream(&upstream.url())
        .start()
        .await;
    for (key, uses) in [(BYPASS_KEY, 1), (NEXT_BYPASS_KEY, 2)] {
        for _ in 0..uses {
            let (mut session, _) = Upgrade::to("/ws")
                .header(HEADER, key)
                .open(proxy.addr())
                .await;
            expect_echo(&mut session, "rotating").await;
        }
    }
    for index in 0..3 {
        let seen = upstream.request(index).await;
        assert_eq!(seen.one("X-Auth-Method"), "e2e-bypass");
        assert_no_bypass_material(&seen, BYPASS_KEY);
        assert_no_bypass_material(&seen, NEXT_BYPASS_KEY);
    }
    let metrics = proxy.metrics().await;
    let shown = series_of(&metrics, "wsgate_e2e_bypass_total");
    assert_eq!(
        bypass_total(&metrics, "ci-2026-11", "accepted"),
        1.0,
        "{shown:?}"
    );
    assert_eq!(
        bypass_total(&metrics, "ci-2026-12", "accepted"),
        2.0,
        "{shown:?}"
    );
}

#[tokio::test]
async fn the_key_shorthand_is_one_key_named_default() {
    let upstream = EchoUpstream::start().await;
    let proxy = Policy::staging()
        .bypass_shorthand(BYPASS_ENV)
        .upstream(&upstream.url())
        .start()
        .await;
    let (mut session, _) = Upgrade::to("/ws")
        .header(HEADER, BYPASS_KEY)
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "shorthand").await;
    let metrics = proxy.metrics().await;
    assert_eq!(bypass_total(&metrics, "default", "accepted"), 1.0);
}

#[tokio::test]
async fn the_bypass_also_covers_plain_http_requests_on_a_route() {
    let upstream = EchoUpstream::start().await;
    let proxy = Policy::staging().upstream(&upstream.url()).start().await;
    let response = Upgrade::plain_get("/ws/api/items")
        .header(HEADER, BYPASS_KEY)
        .send(proxy.addr())
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body_text());
    let seen = upstream.request(0).await;
    assert_eq!(seen.one("X-Auth-Method"), "e2e-bypass");
    assert_no_bypass_material(&seen, BYPASS_KEY);
    let refused = Upgrade::plain_get("/ws/api/items")
        .header(HEADER, "wrong")
        .send(proxy.addr())
        .await;
    assert_http_refusal(&refused, E2E_KEY_INVALID);
}

/// The binary, as staging runs it: one audit line per bypass use (key name, identity,
/// client address), and the key nowhere in the output, even at trace level and even for
/// refused attempts.
#[tokio::test]
async fn the_binary_audits_each_use_once_and_never_prints_the_key() {
    let upstream = EchoUpstream::start().await;
    let dir = crate::support::TempDir::new();
    let config = Policy::staging()
        .upstream(&upstream.url())
        .write(&dir, "staging.toml");
    let mut env = crate::support::policy::all_secrets();
    env.push(("WSGATE_LOG", "trace"));
    let mut process = WsgateProcess::spawn(&["run", "--config", &config], &env);
    let (proxy, _admin) = bound_addresses(&mut process).await;

    let (mut session, _) = Upgrade::to("/ws")
        .header(HEADER, BYPASS_KEY)
        .header("X-E2E-User", "ci-runner-7")
        .open(proxy)
        .await;
    expect_echo(&mut session, "audited").await;
    let wrong = format!("{}-but-wrong", &BYPASS_KEY[..20]);
    let refused = Upgrade::to("/ws").header(HEADER, &wrong).send(proxy).await;
    assert_http_refusal(&refused, E2E_KEY_INVALID);
    // The refusal's decision line is the last event to wait for before stopping.
    process
        .wait_for_line("the e2e_key_invalid decision line", |line| {
            line.contains("e2e_key_invalid").then_some(())
        })
        .await;
    drop(session);
    process.terminate();
    let status = process.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", process.output());
    let output = process.output();

    for secret in [
        BYPASS_KEY,
        NEXT_BYPASS_KEY,
        wrong.as_str(),
        &BYPASS_KEY[..20],
    ] {
        assert!(
            !output.contains(secret),
            "{secret:?} appears in the output:\n{output}"
        );
    }
    let audits: Vec<&str> = output
        .lines()
        .filter(|l| l.contains("\"audit\"") && l.contains("e2e_bypass"))
        .collect();
    assert_eq!(audits.len(), 1, "one audit line per use:\n{output}");
    let audit = audits[0];
    for expected in ["\"ci\"", "ci-runner-7", "127.0.0.1"] {
        assert!(
            audit.contains(expected),
            "the audit line names {expected}: {audit}"
        );
    }
}

#[tokio::test]
async fn the_bypass_is_not_consulted_on_a_route_without_auth_and_is_still_stripped() {
    let upstream = EchoUpstream::start().await;
    let proxy: TestProxy = Policy::production().upstream(&upstream.url()).start().await;
    let (mut session, _) = Upgrade::to("/public")
        .header(HEADER, BYPASS_KEY)
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "public").await;
    let seen = upstream.request(0).await;
    assert_eq!(seen.one("X-Auth-Method"), "anonymous");
    assert_no_bypass_material(&seen, BYPASS_KEY);
}

/// A key file written with `echo` ends in a newline: the one trailing newline is not part
/// of the key, so the key a test sends matches.
#[tokio::test]
async fn a_key_from_a_file_with_a_trailing_newline_matches() {
    let upstream = EchoUpstream::start().await;
    let dir = crate::support::TempDir::new();
    let file = dir.write("bypass.key", &format!("{BYPASS_KEY}\n"));
    let proxy = Policy::staging()
        .bypass_key_file(&file)
        .upstream(&upstream.url())
        .start()
        .await;
    let (mut session, _) = Upgrade::to("/ws")
        .header(HEADER, BYPASS_KEY)
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "file key").await;
    assert_eq!(upstream.request(0).await.one("X-Auth-Method"), "e2e-bypass");
}
