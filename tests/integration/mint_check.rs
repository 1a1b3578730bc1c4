//! Configs that cannot work are refused up front, and test tokens come from the principled
//! path (a staging-only issuer and `wsgate mint`), never from production.
//!
//! - fail fast: `run` exits 78 (EX_CONFIG) before binding any port and `check` exits 1,
//!   one line per problem naming the key and the env var, for: the bypass key variable
//!   unset or empty (the staging incident), a short key, the bypass in production or in an
//!   environment it is not allowed in, a missing issuer secret, a route that nothing can
//!   authenticate, a cookie source without `allowed_origins`; all problems at once;
//! - an issuer scoped to other environments is not an error: `check` says it is disabled;
//! - environment-scoped issuers through the proxy, both sides;
//! - `mint`: its tokens pass `explain` and the proxy, `--claim` satisfies a route rule,
//!   and it refuses production.

use std::net::SocketAddr;

use crate::denials::{CLAIM_MISMATCH, ISSUER_UNKNOWN, assert_http_refusal};
use crate::support::policy::{
    BYPASS_ENV, Exit, NEXT_BYPASS_ENV, Policy, STAGING_SECRET_ENV, all_secrets, secrets_with,
    secrets_without, staging_token, wsgate,
};
use crate::support::process::bound_addresses;
use crate::support::tokens::{SECRET_ENV, alice};
use crate::support::{
    EchoUpstream, TempDir, Upgrade, WsgateProcess, closed_port_addr, expect_echo,
};

/// `run` then `check` on `policy` with `env`: `run` must exit 78 without binding either
/// configured port, `check` must exit 1; both must mention every one of `needles`.
/// The proxy port is held by the test while `run` starts (a binary that bound before
/// validating would fail with a bind error instead), and the admin port is bound by the
/// test after `run` exits (it was never taken).
async fn refused_before_binding(policy: Policy, env: &[(&str, &str)], needles: &[&str]) -> Exit {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let proxy_port: SocketAddr = held.local_addr().expect("addr");
    let admin_port = closed_port_addr();
    let dir = TempDir::new();
    let config = policy
        .listen(proxy_port)
        .admin_listen(admin_port)
        .write(&dir, "wsgate.toml");

    let run = wsgate(&["run", "--config", &config], env, None).await;
    run.expect_code(78, "run on a config that cannot work")
        .expect_mentions(needles);
    assert!(
        !run.output().contains("\"listening\"") && !run.output().contains("cannot bind"),
        "refused before binding:\n{}",
        run.output()
    );
    drop(held);
    std::net::TcpListener::bind(admin_port)
        .unwrap_or_else(|e| panic!("the admin port {admin_port} must still be free: {e}"));

    let check = wsgate(&["check", "--config", &config], env, None).await;
    check
        .expect_code(1, "check on a config that cannot work")
        .expect_mentions(needles);
    for (_, secret) in all_secrets() {
        assert!(
            !check.output().contains(secret) && !run.output().contains(secret),
            "a secret value is printed:\n{}",
            check.output()
        );
    }
    check
}

/// The staging incident: the bypass is on, the key was never deployed.
#[tokio::test]
async fn the_bypass_enabled_with_its_key_variable_unset_refuses_to_start() {
    refused_before_binding(
        Policy::staging(),
        &secrets_without(&[BYPASS_ENV]),
        &[BYPASS_ENV, "e2e_bypass.keys[0].secret", "not set"],
    )
    .await;
}

#[tokio::test]
async fn the_bypass_key_variable_set_but_empty_refuses_to_start() {
    refused_before_binding(
        Policy::staging(),
        &secrets_with(BYPASS_ENV, ""),
        &[BYPASS_ENV, "e2e_bypass.keys[0].secret", "empty"],
    )
    .await;
}

#[tokio::test]
async fn the_shorthand_key_unset_names_e2e_bypass_key() {
    refused_before_binding(
        Policy::staging().bypass_shorthand(BYPASS_ENV),
        &secrets_without(&[BYPASS_ENV]),
        &[BYPASS_ENV, "e2e_bypass.key"],
    )
    .await;
}

#[tokio::test]
async fn one_of_two_rotation_keys_unset_names_that_key() {
    let check = refused_before_binding(
        Policy::staging().bypass_keys(&[("ci-old", BYPASS_ENV), ("ci-new", NEXT_BYPASS_ENV)]),
        &secrets_without(&[NEXT_BYPASS_ENV]),
        &[NEXT_BYPASS_ENV, "e2e_bypass.keys[1].secret"],
    )
    .await;
    assert!(
        !check.output().contains("e2e_bypass.keys[0]"),
        "the deployed key is not blamed:\n{}",
        check.output()
    );
}

#[tokio::test]
async fn a_bypass_key_shorter_than_32_bytes_refuses_to_start() {
    refused_before_binding(
        Policy::staging(),
        &secrets_with(BYPASS_ENV, "short-key-abcdefghijklmnopqrstu"), // 31 bytes
        &[BYPASS_ENV, "e2e_bypass.keys[0].secret", "31 bytes", "32"],
    )
    .await;
}

#[tokio::test]
async fn the_bypass_enabled_in_production_refuses_to_start() {
    refused_before_binding(
        Policy::production().bypass_enabled(true),
        &all_secrets(),
        &["e2e_bypass.enabled", "production"],
    )
    .await;
}

#[tokio::test]
async fn production_listed_in_allowed_environments_is_refused() {
    refused_before_binding(
        Policy::staging().allowed_environments(&["staging", "production"]),
        &all_secrets(),
        &["e2e_bypass.allowed_environments", "production"],
    )
    .await;
}

#[tokio::test]
async fn the_bypass_enabled_in_an_environment_it_is_not_allowed_in_refuses_to_start() {
    refused_before_binding(
        Policy::staging().environment("qa"),
        &all_secrets(),
        &["e2e_bypass.enabled", "\"qa\"", "allowed_environments"],
    )
    .await;
}

#[tokio::test]
async fn an_issuer_secret_variable_unset_refuses_to_start() {
    refused_before_binding(
        Policy::staging(),
        &secrets_without(&[SECRET_ENV]),
        &[SECRET_ENV, "auth.issuers[0].secret"],
    )
    .await;
}

#[tokio::test]
async fn a_route_that_no_issuer_here_can_authenticate_refuses_to_start() {
    // Both issuers are scoped away from production and the bypass is off there.
    let check = refused_before_binding(
        Policy::production().primary_environments(&["staging"]),
        &all_secrets(),
        &["routes[0].auth", "/ws", "production"],
    )
    .await;
    assert!(
        check.output().contains("routes[1].auth"),
        "/chat too:\n{}",
        check.output()
    );
    assert!(
        !check.output().contains("routes[2]"),
        "/public needs no auth:\n{}",
        check.output()
    );
}

#[tokio::test]
async fn a_cookie_source_without_allowed_origins_refuses_to_start() {
    refused_before_binding(
        Policy::staging().cookie_source(),
        &all_secrets(),
        &["auth.allowed_origins", "cookie:access_token"],
    )
    .await;
}

/// An operator fixes a file in one pass: every independent problem is listed at once.
#[tokio::test]
async fn several_problems_are_all_listed_at_once() {
    let check = refused_before_binding(
        Policy::staging().environment("qa").cookie_source(),
        &secrets_without(&[BYPASS_ENV, SECRET_ENV]),
        &[
            "e2e_bypass.enabled",
            "e2e_bypass.keys[0].secret",
            BYPASS_ENV,
            "auth.issuers[0].secret",
            SECRET_ENV,
            "auth.allowed_origins",
            "4 problems",
        ],
    )
    .await;
    let listed = check
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("- "))
        .count();
    assert_eq!(listed, 4, "one line per problem:\n{}", check.stderr);
}

/// The route rule is a problem of its own: another problem elsewhere in `[auth]` must not
/// hide it (otherwise the operator meets it only after the next deploy).
#[tokio::test]
async fn an_unauthenticatable_route_is_listed_beside_an_auth_problem() {
    let dir = TempDir::new();
    let config = Policy::production()
        .primary_environments(&["staging"])
        .cookie_source()
        .write(&dir, "wsgate.toml");
    let check = wsgate(&["check", "--config", &config], &all_secrets(), None).await;
    check
        .expect_code(1, "two problems")
        .expect_mentions(&["auth.allowed_origins", "routes[0].auth"]);
}

/// docs/e2e-testing.md Option A in production: the staging issuer is simply off, its secret
/// need not exist there, and `check` says so.
#[tokio::test]
async fn an_issuer_scoped_to_other_environments_is_not_an_error_and_check_says_it_is_disabled() {
    let dir = TempDir::new();
    let config = Policy::production().write(&dir, "production.toml");
    let env = secrets_without(&[STAGING_SECRET_ENV, BYPASS_ENV, NEXT_BYPASS_ENV]);
    let check = wsgate(&["check", "--config", &config], &env, None).await;
    check.expect_code(0, "production without the staging secret");
    let lines: Vec<&str> = check.stdout.lines().collect();
    let header = lines
        .windows(2)
        .find(|pair| {
            pair[0].starts_with("[[auth.issuers]]") && pair[1].contains("\"staging-tests\"")
        })
        .map(|pair| pair[0])
        .unwrap_or_else(|| panic!("no staging-tests issuer block:\n{}", check.stdout));
    assert!(
        header.contains("DISABLED") && header.contains("production"),
        "{header}"
    );

    // And `run` starts on it.
    let mut process = WsgateProcess::spawn(&["run", "--config", &config], &env);
    bound_addresses(&mut process).await;
    process.terminate();
    let status = process.wait_exit(std::time::Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", process.output());
}

/// The same file, two environments: the staging-only issuer is trusted in staging and
/// unknown in production; the primary issuer works in both.
#[tokio::test]
async fn a_staging_only_issuer_is_trusted_in_staging_and_unknown_in_production() {
    let upstream = EchoUpstream::start().await;
    let token = staging_token("ci-user");

    let staging = Policy::staging().upstream(&upstream.url()).start().await;
    let (mut session, _) = Upgrade::to("/ws").bearer(&token).open(staging.addr()).await;
    expect_echo(&mut session, "staging issuer in staging").await;
    let (mut session, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .open(staging.addr())
        .await;
    expect_echo(&mut session, "primary issuer in staging").await;
    assert_eq!(upstream.request(0).await.one("X-Auth-User"), "ci-user");
    assert_eq!(upstream.request(1).await.one("X-Auth-User"), "alice");

    let production = Policy::production()
        .upstream(&upstream.url())
        .start_with(&secrets_without(&[STAGING_SECRET_ENV, BYPASS_ENV]))
        .await;
    let response = Upgrade::to("/ws")
        .bearer(&token)
        .send(production.addr())
        .await;
    assert_http_refusal(&response, ISSUER_UNKNOWN);
    let (mut session, _) = Upgrade::to("/ws")
        .bearer(&alice())
        .open(production.addr())
        .await;
    expect_echo(&mut session, "primary issuer in production").await;
    assert_eq!(
        upstream.connections(),
        3,
        "the refused token never reached it"
    );
    let metrics = production.metrics().await;
    assert_eq!(
        crate::support::metric_value(
            &metrics,
            "wsgate_auth_denied_total",
            &[("route", "/ws"), ("reason", "issuer_unknown")]
        ),
        Some(1.0)
    );
}

async fn mint(config: &str, env: &[(&str, &str)], extra: &[&str]) -> Exit {
    let mut args = vec!["mint", "--config", config];
    args.extend_from_slice(extra);
    wsgate(&args, env, None).await
}

fn minted_token(exit: &Exit) -> String {
    exit.expect_code(0, "mint");
    let token = exit.stdout.trim().to_owned();
    assert_eq!(
        token.split('.').count(),
        3,
        "mint prints one compact JWT on stdout: {token:?}"
    );
    token
}

/// docs/e2e-testing.md: `TOKEN=$(wsgate mint ...)`, then the token passes `explain` and
/// the proxy running the same config with the same environment.
#[tokio::test]
async fn a_minted_token_passes_explain_and_the_proxy() {
    let upstream = EchoUpstream::start().await;
    let dir = TempDir::new();
    let policy = Policy::staging().upstream(&upstream.url());
    let config = policy.write(&dir, "staging.toml");
    let env = all_secrets();

    let token = minted_token(
        &mint(
            &config,
            &env,
            &[
                "--issuer",
                "staging-tests",
                "--sub",
                "e2e-user",
                "--ttl",
                "15m",
            ],
        )
        .await,
    );
    let explained = wsgate(
        &["explain", "--config", &config, "--token", &token],
        &env,
        None,
    )
    .await;
    explained
        .expect_code(0, "explain on a minted token")
        .expect_mentions(&["staging-tests", "ALLOWED"]);

    let proxy = policy.start_with(&env).await;
    let (mut session, _) = Upgrade::to("/ws").bearer(&token).open(proxy.addr()).await;
    expect_echo(&mut session, "minted").await;
    let seen = upstream.request(0).await;
    assert_eq!(seen.one("X-Auth-User"), "e2e-user");
    assert_eq!(seen.one("X-Auth-Method"), "jwt");

    // --ttl is honoured: a 15-minute token is expired an hour from now.
    let later = (crate::support::tokens::now() + 3600).to_string();
    let exit = wsgate(
        &[
            "explain", "--config", &config, "--token", &token, "--at", &later,
        ],
        &env,
        None,
    )
    .await;
    exit.expect_code(1, "a 15m token an hour later")
        .expect_mentions(&["token_expired"]);
}

#[tokio::test]
async fn a_minted_claim_satisfies_a_route_claim_rule() {
    let upstream = EchoUpstream::start().await;
    let dir = TempDir::new();
    let policy = Policy::staging().upstream(&upstream.url());
    let config = policy.write(&dir, "staging.toml");
    let env = all_secrets();
    let scoped = minted_token(
        &mint(
            &config,
            &env,
            &[
                "--issuer",
                "primary",
                "--sub",
                "e2e-user",
                "--claim",
                "scope=chat",
            ],
        )
        .await,
    );
    let plain =
        minted_token(&mint(&config, &env, &["--issuer", "primary", "--sub", "e2e-user"]).await);

    wsgate(
        &[
            "explain", "--config", &config, "--token", &scoped, "--path", "/chat",
        ],
        &env,
        None,
    )
    .await
    .expect_code(0, "scope=chat on /chat");
    wsgate(
        &[
            "explain", "--config", &config, "--token", &plain, "--path", "/chat",
        ],
        &env,
        None,
    )
    .await
    .expect_code(1, "no scope on /chat")
    .expect_mentions(&["claim_mismatch"]);

    let proxy = policy.start_with(&env).await;
    let (mut session, _) = Upgrade::to("/chat")
        .bearer(&scoped)
        .open(proxy.addr())
        .await;
    expect_echo(&mut session, "scoped").await;
    assert_http_refusal(
        &Upgrade::to("/chat").bearer(&plain).send(proxy.addr()).await,
        CLAIM_MISMATCH,
    );
}

#[tokio::test]
async fn mint_is_refused_in_production() {
    let dir = TempDir::new();
    let config = Policy::production().write(&dir, "production.toml");
    let exit = mint(
        &config,
        &all_secrets(),
        &["--issuer", "primary", "--sub", "e2e-user"],
    )
    .await;
    assert_ne!(exit.code, Some(0), "mint in production:\n{}", exit.output());
    exit.expect_mentions(&["production"]);
    assert!(
        exit.stdout.trim().is_empty(),
        "no token printed:\n{}",
        exit.stdout
    );
}

/// An issuer that is off in this environment has no secret loaded here: mint must refuse
/// rather than sign with an empty key.
#[tokio::test]
async fn mint_refuses_an_issuer_disabled_in_this_environment() {
    let dir = TempDir::new();
    let config = Policy::staging()
        .environment("development")
        .write(&dir, "development.toml");
    let exit = mint(
        &config,
        &secrets_without(&[STAGING_SECRET_ENV]),
        &["--issuer", "staging-tests", "--sub", "e2e-user"],
    )
    .await;
    assert_ne!(exit.code, Some(0), "{}", exit.output());
    exit.expect_mentions(&["staging-tests", "development"]);
    assert!(exit.stdout.trim().is_empty(), "no token: {}", exit.stdout);
}

/// Keys deployed as files (Kubernetes Secrets): a missing file or one holding only the
/// newline `echo` adds is the same incident as an unset variable, named by its path.
#[tokio::test]
async fn a_bypass_key_file_that_is_missing_or_empty_refuses_to_start() {
    let dir = TempDir::new();
    let missing = dir.path().join("never-mounted.key");
    let missing_text = missing.display().to_string();
    refused_before_binding(
        Policy::staging().bypass_key_file(&missing),
        &all_secrets(),
        &["e2e_bypass.keys[0].secret", &missing_text],
    )
    .await;
    let newline_only = dir.write("empty.key", "\n");
    let newline_text = newline_only.display().to_string();
    refused_before_binding(
        Policy::staging().bypass_key_file(&newline_only),
        &all_secrets(),
        &["e2e_bypass.keys[0].secret", &newline_text],
    )
    .await;
}

/// "Production" in another spelling must not escape the production protections.
#[tokio::test]
async fn production_spelled_differently_is_refused() {
    refused_before_binding(
        Policy::staging().environment("Production"),
        &all_secrets(),
        &["environment", "\"production\""],
    )
    .await;
}

/// The README's `wsgate mint` line, run as printed against `config.example.toml`, gives a
/// token that the same config's `/ws` route allows (`explain` runs the proxy's decision).
#[tokio::test]
async fn the_readme_mint_example_gives_a_token_config_example_accepts() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let line = readme
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("wsgate mint"))
        .expect("README.md shows `wsgate mint`");
    let command = line.split('#').next().unwrap_or(line);
    let example = root.join("config.example.toml").display().to_string();
    let args: Vec<&str> = command
        .split_whitespace()
        .skip(1)
        .map(|word| {
            if word == "config.toml" {
                example.as_str()
            } else {
                word
            }
        })
        .collect();
    let env = [
        ("JWT_SECRET", "readme-primary-Qw8Er4Ty6Ui2Op0As3Df5Gh"),
        (
            "STAGING_JWT_SECRET",
            "readme-staging-Qw8Er4Ty6Ui2Op0As3Df5G",
        ),
    ];
    let (status, token, stderr) = crate::support::process::run_to_exit(&args, &env).await;
    assert!(status.success(), "{line}\n{stderr}");
    let token = token.trim();
    let (status, stdout, stderr) = crate::support::process::run_to_exit(
        &[
            "explain", "--config", &example, "--token", token, "--path", "/ws",
        ],
        &env,
    )
    .await;
    assert_eq!(
        status.code(),
        Some(0),
        "config.example.toml allows the README's minted token:\n{stdout}\n{stderr}"
    );
}

/// Key material and TLS material are read in one place (`server::runtime`) and judged
/// together: a verification key that does not fit its algorithms and a listener
/// certificate file that holds no certificate are both listed, each naming its key and
/// file, by `check` (exit 1) and by `run` (exit 78), so the operator fixes both in one
/// pass.
#[tokio::test]
async fn a_key_problem_and_a_tls_problem_are_listed_together() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let dir = TempDir::new();
    let config = dir.write(
        "wsgate.toml",
        &format!(
            r#"environment = "staging"
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
[server.tls]
cert_file = "{fixtures}/tls/localhost.key.pem"
key_file = "{fixtures}/tls/localhost.key.pem"
[upstream]
url = "ws://127.0.0.1:9"
[[auth.issuers]]
name = "primary"
issuer = "https://auth.example.com"
audiences = ["chat"]
algorithms = ["ES256"]
public_key_file = "{fixtures}/rsa2048.pub.pem"
"#
        ),
    );
    let config = config.to_str().expect("utf-8 path");
    let needles = [
        "2 problems",
        "auth.issuers[0]",
        "rsa2048.pub.pem",
        "server.tls.cert_file",
        "localhost.key.pem",
    ];
    wsgate(&["check", "--config", config], &[], None)
        .await
        .expect_code(1, "check with a key problem and a TLS problem")
        .expect_mentions(&needles);
    wsgate(&["run", "--config", config], &[], None)
        .await
        .expect_code(78, "run with a key problem and a TLS problem")
        .expect_mentions(&needles);
}
