//! The `wsgate` executable as an operator meets it: `check`, `run` refusing a bad config
//! before binding, SIGTERM draining live sessions, `demo` for a newcomer, and logs that
//! never contain a credential even at trace level.
//!
//! Contract assumed for process tests: `run` prints, on stdout or stderr, a JSON log line
//! containing `"listen":"IP:PORT"` and `"admin_listen":"IP:PORT"` with the bound
//! addresses (the config may say port 0); `demo` prints lines starting with
//! `proxy: ws://HOST:PORT/PATH` and `token: JWT`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::client::expect_echo_among_others;
use crate::support::process::{bound_addresses, run_to_exit};
use crate::support::tokens::{self, SECRET, SECRET_ENV, alice};
use crate::support::{
    Claims, EchoUpstream, TempDir, TestProxy, Upgrade, WsgateProcess, closed_port_addr, eventually,
    expect_close, expect_echo,
};

/// The status of `GET path`, or `None` if nothing answers.
async fn status_of(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    tokio::time::timeout(crate::support::PATIENCE, stream.read_to_end(&mut raw))
        .await
        .ok()?
        .ok()?;
    crate::support::raw::parse(&raw).map(|r| r.status)
}

fn config_file(dir: &TempDir, upstream: &str, drain_timeout: &str) -> String {
    let toml = TestProxy::builder().upstream(upstream).toml().replace(
        "drain_timeout = \"5s\"",
        &format!("drain_timeout = \"{drain_timeout}\""),
    );
    dir.write("wsgate.toml", &toml).display().to_string()
}

#[tokio::test]
async fn check_accepts_a_valid_config_and_prints_fingerprints_not_secrets() {
    let dir = TempDir::new();
    let config = config_file(&dir, "ws://127.0.0.1:8000", "5s");
    let (status, stdout, stderr) =
        run_to_exit(&["check", "--config", &config], &[(SECRET_ENV, SECRET)]).await;
    assert_eq!(
        status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("sha256:"),
        "secrets shown as fingerprints:\n{stdout}"
    );
    assert!(
        stdout.contains("primary"),
        "the effective policy names the issuer:\n{stdout}"
    );
    assert!(
        stdout.contains("/ws"),
        "the effective policy lists routes:\n{stdout}"
    );
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "the secret itself is never printed"
    );
}

#[tokio::test]
async fn check_lists_every_problem_naming_the_key_and_the_variable() {
    let dir = TempDir::new();
    let toml = TestProxy::builder()
        .upstream("ftp://127.0.0.1:8000")
        .toml()
        .replace(
            &format!("secret = {{ env = \"{SECRET_ENV}\" }}"),
            "secret = { env = \"WSGATE_TEST_UNSET_SECRET\" }\n\n[[auth.issuers]]\nname = \"weak\"\nissuer = \"https://weak.example\"\naudiences = [\"chat\"]\nalgorithms = [\"HS256\"]\nsecret = { env = \"WSGATE_TEST_SHORT_SECRET\" }",
        );
    let config = dir.write("bad.toml", &toml).display().to_string();
    let (status, stdout, stderr) = run_to_exit(
        &["check", "--config", &config],
        &[("WSGATE_TEST_SHORT_SECRET", "tooshort-1234")],
    )
    .await;
    let output = format!("{stdout}\n{stderr}");
    assert_eq!(status.code(), Some(1), "{output}");
    for expected in [
        "auth.issuers[0].secret",
        "WSGATE_TEST_UNSET_SECRET",
        "auth.issuers[1].secret",
        "WSGATE_TEST_SHORT_SECRET",
        "upstream.url",
    ] {
        assert!(
            output.contains(expected),
            "problem list names {expected}:\n{output}"
        );
    }
    assert!(
        !output.contains("tooshort-1234"),
        "a secret value is never printed:\n{output}"
    );
}

#[tokio::test]
async fn run_with_a_bad_config_exits_78_before_binding() {
    // Hold the port the config names: a binary that tried to bind first would fail with a
    // bind error rather than the config error.
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port();
    let dir = TempDir::new();
    let toml = TestProxy::builder().toml().replace(
        "listen = \"127.0.0.1:0\"",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let config = dir.write("bad.toml", &toml).display().to_string();
    // The secret variable is not set.
    let (status, stdout, stderr) = run_to_exit(&["run", "--config", &config], &[]).await;
    let output = format!("{stdout}\n{stderr}");
    assert_eq!(status.code(), Some(78), "EX_CONFIG:\n{output}");
    assert!(output.contains("auth.issuers[0].secret"), "{output}");
    assert!(output.contains(SECRET_ENV), "{output}");
    drop(held);
}

#[tokio::test]
async fn a_refused_start_writes_its_problems_as_one_json_line() {
    let dir = TempDir::new();
    // Two problems: the secret variable is unset, and a route has an unknown auth mode.
    let toml = TestProxy::builder()
        .toml()
        .replace("auth = \"none\"", "auth = \"sometimes\"");
    let config = dir.write("bad.toml", &toml).display().to_string();
    let (status, stdout, stderr) = run_to_exit(&["run", "--config", &config], &[]).await;
    assert_eq!(status.code(), Some(78), "{stdout}\n{stderr}");

    // For a terminal: the human list on stderr.
    assert!(
        stderr.contains("invalid configuration") && stderr.contains("auth.issuers[0].secret"),
        "{stderr}"
    );
    // For a log pipeline: one JSON line on stdout carrying every problem.
    let refused: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["message"] == "configuration refused; not starting")
        .collect();
    assert_eq!(refused.len(), 1, "one refusal line on stdout:\n{stdout}");
    let line = &refused[0];
    assert_eq!(line["severity"], "ERROR");
    let time = line["time"].as_str().expect("time is a string");
    humantime::parse_rfc3339(time).expect("time is RFC 3339");
    assert_eq!(line["config"], config.as_str());
    let problems = line["problems"].as_array().expect("problems is an array");
    assert_eq!(line["problem_count"], problems.len());
    assert!(problems.len() >= 2, "every problem listed: {line}");
    let keys: Vec<&str> = problems.iter().filter_map(|p| p["key"].as_str()).collect();
    assert!(keys.contains(&"auth.issuers[0].secret"), "{keys:?}");
    assert!(
        keys.iter().any(|key| key.starts_with("routes[")),
        "the route problem too: {keys:?}"
    );
    assert!(
        problems.iter().any(|p| p["message"]
            .as_str()
            .is_some_and(|m| m.contains(SECRET_ENV))),
        "the variable is named: {line}"
    );
}

#[tokio::test]
async fn sigterm_drains_sessions_with_server_shutdown_and_exits_zero() {
    let upstream = EchoUpstream::start().await;
    let dir = TempDir::new();
    let config = config_file(&dir, &upstream.url(), "3s");
    let mut process = WsgateProcess::spawn(&["run", "--config", &config], &[(SECRET_ENV, SECRET)]);
    let (proxy, admin) = bound_addresses(&mut process).await;
    eventually("/readyz to report ready", || async {
        (status_of(admin, "/readyz").await == Some(200)).then_some(())
    })
    .await;

    let (mut session, _) = Upgrade::to("/ws").bearer(&alice()).open(proxy).await;
    expect_echo(&mut session, "live before SIGTERM").await;

    let signalled = Instant::now();
    process.terminate();
    assert_eq!(
        expect_close(&mut session).await,
        (1001, "server_shutdown".to_owned()),
        "the client is told why"
    );
    assert_eq!(
        upstream.close_received(0).await,
        Some((1001, "server_shutdown".to_owned())),
        "the upstream is told why"
    );
    assert_ne!(
        status_of(admin, "/readyz").await,
        Some(200),
        "not ready once draining"
    );

    let status = process.wait_exit(Duration::from_secs(3 + 7)).await;
    assert_eq!(status.code(), Some(0), "output:\n{}", process.output());
    assert!(
        signalled.elapsed() < Duration::from_secs(3 + 5),
        "exits within drain_timeout (took {:?})",
        signalled.elapsed()
    );
}

#[tokio::test]
async fn sigterm_with_no_sessions_exits_zero_promptly() {
    let dir = TempDir::new();
    let config = config_file(&dir, &format!("ws://{}", closed_port_addr()), "3s");
    let mut process = WsgateProcess::spawn(&["run", "--config", &config], &[(SECRET_ENV, SECRET)]);
    bound_addresses(&mut process).await;
    process.terminate();
    let status = process.wait_exit(Duration::from_secs(8)).await;
    assert_eq!(status.code(), Some(0), "output:\n{}", process.output());
}

#[tokio::test]
async fn demo_works_for_a_newcomer() {
    let mut process = WsgateProcess::spawn(
        &[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let mut url = None;
    let mut token = None;
    let (url, token) = process
        .wait_for_line("the demo's proxy: and token: lines", |line| {
            let line = line.trim_start();
            if let Some(value) = line.strip_prefix("proxy:") {
                url = Some(value.trim().to_owned());
            }
            if let Some(value) = line.strip_prefix("token:") {
                token = Some(value.trim().to_owned());
            }
            url.clone().zip(token.clone())
        })
        .await;

    let rest = url
        .strip_prefix("ws://")
        .unwrap_or_else(|| panic!("proxy line is a ws:// URL: {url}"));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = authority
        .parse()
        .unwrap_or_else(|_| panic!("proxy URL has a numeric host:port: {url}"));
    let path = if path.is_empty() { "/" } else { path };
    assert!(
        tokens::segments(&token).len() == 3,
        "token line holds a JWT: {token}"
    );

    let (mut session, _) = Upgrade::to(path).bearer(&token).open(addr).await;
    // The demo upstream may greet first; the echo is what matters.
    expect_echo_among_others(&mut session, "hello, demo").await;

    let refused = Upgrade::to(path).send(addr).await;
    assert_eq!(refused.status, 403, "the demo enforces auth: {refused:?}");

    process.terminate();
    let status = process.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "output:\n{}", process.output());
}

#[tokio::test]
async fn demo_greets_each_session_and_answers_whoami_typed_in_websocat() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let mut process = WsgateProcess::spawn(
        &[
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let mut url = None;
    let mut token = None;
    let mut websocat = None;
    let (url, (token, websocat)) = process
        .wait_for_line("the demo's proxy:, token: and websocat lines", |line| {
            let line = line.trim_start();
            if let Some(value) = line.strip_prefix("proxy:") {
                url = Some(value.trim().to_owned());
            }
            if let Some(value) = line.strip_prefix("token:") {
                token = Some(value.trim().to_owned());
            }
            if line.starts_with("websocat ") {
                websocat = Some(line.trim().to_owned());
            }
            url.clone().zip(token.clone().zip(websocat.clone()))
        })
        .await;
    // websocat 1.x takes every word after -H as a header: the URL must come first.
    assert_eq!(
        websocat,
        format!("websocat {url} -H 'Authorization: Bearer {token}'")
    );
    let addr: SocketAddr = url
        .trim_start_matches("ws://")
        .trim_end_matches("/ws")
        .parse()
        .unwrap_or_else(|_| panic!("proxy URL has a numeric host:port: {url}"));

    let (mut session, _) = Upgrade::to("/ws").bearer(&token).open(addr).await;
    let greeting = crate::support::client::next_text(&mut session).await;
    assert!(
        greeting.contains("X-Auth-User: demo-user") && greeting.contains("X-Auth-Method: jwt"),
        "the banner's promised greeting comes first: {greeting}"
    );
    // websocat sends each typed line with its newline.
    session
        .send(Message::text("whoami\n"))
        .await
        .expect("send whoami");
    let answer = crate::support::client::next_text(&mut session).await;
    assert!(
        answer.contains("X-Auth-User: demo-user"),
        "whoami with a newline is recognised, not echoed: {answer:?}"
    );
    process.terminate();
    let status = process.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(0), "output:\n{}", process.output());
}

#[tokio::test]
async fn tokens_never_appear_in_logs() {
    let upstream = EchoUpstream::start().await;
    let dir = TempDir::new();
    let config = config_file(&dir, &upstream.url(), "3s");
    let mut process = WsgateProcess::spawn(
        &["run", "--config", &config],
        &[(SECRET_ENV, SECRET), ("WSGATE_LOG", "trace")],
    );
    let (proxy, _admin) = bound_addresses(&mut process).await;

    let header_token = alice();
    let query_token = Claims::valid_for("bob").sign();
    let protocol_token = Claims::valid_for("carol").sign();
    let expired = Claims::valid_for("dave")
        .set("exp", tokens::now() - 3600)
        .sign();
    let forged =
        Claims::valid_for("eve").sign_with(jsonwebtoken::Algorithm::HS256, "x".repeat(40).as_str());
    let plain_token = Claims::valid_for("frank").sign();

    let (mut session, _) = Upgrade::to("/ws").bearer(&header_token).open(proxy).await;
    expect_echo(&mut session, "header").await;
    let (mut session, _) = Upgrade::to(&format!("/ws?access_token={query_token}"))
        .open(proxy)
        .await;
    expect_echo(&mut session, "query").await;
    let (mut session, _) = Upgrade::to("/ws")
        .header(
            "Sec-WebSocket-Protocol",
            &format!("bearer, {protocol_token}"),
        )
        .open(proxy)
        .await;
    expect_echo(&mut session, "protocol").await;
    assert_eq!(
        Upgrade::to("/ws").bearer(&expired).send(proxy).await.status,
        403
    );
    assert_eq!(
        Upgrade::to("/ws").bearer(&forged).send(proxy).await.status,
        403
    );
    assert_eq!(
        Upgrade::plain_get(&format!("/api/x?access_token={plain_token}"))
            .send(proxy)
            .await
            .status,
        200
    );

    process.terminate();
    let status = process.wait_exit(Duration::from_secs(15)).await;
    assert_eq!(status.code(), Some(0));
    let output = process.output();

    assert!(
        output.contains("token_expired") && output.contains("signature_invalid"),
        "one log line per decision, with its reason:\n{output}"
    );
    assert!(
        output.contains("\"severity\""),
        "JSON lines with Cloud Logging fields:\n{output}"
    );
    assert!(!output.contains(SECRET), "the HMAC secret was logged");
    for token in [
        &header_token,
        &query_token,
        &protocol_token,
        &expired,
        &forged,
        &plain_token,
    ] {
        for segment in tokens::segments(token) {
            assert!(
                !output.contains(segment),
                "token segment {segment} appears in the logs:\n{output}"
            );
        }
    }
}

#[tokio::test]
async fn run_reads_wsgate_config_when_no_flag_is_given() {
    let dir = TempDir::new();
    let config = config_file(&dir, "ws://127.0.0.1:8000", "5s");
    // The secret is unset, so a config that was found and read fails with 78.
    let (status, stdout, stderr) = run_to_exit(&["run"], &[("WSGATE_CONFIG", &config)]).await;
    assert_eq!(
        status.code(),
        Some(78),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        format!("{stdout}{stderr}").contains(SECRET_ENV),
        "the problem names the variable"
    );
}

#[tokio::test]
async fn port_env_overrides_the_listen_port() {
    let port = closed_port_addr().port();
    let dir = TempDir::new();
    let config = config_file(&dir, &format!("ws://{}", closed_port_addr()), "3s");
    let port_text = port.to_string();
    let mut process = WsgateProcess::spawn(
        &["run", "--config", &config],
        &[(SECRET_ENV, SECRET), ("PORT", &port_text)],
    );
    let (proxy, _admin) = bound_addresses(&mut process).await;
    assert_eq!(proxy.port(), port, "Cloud Run's PORT wins over the file");
    process.terminate();
    let status = process.wait_exit(Duration::from_secs(8)).await;
    assert_eq!(status.code(), Some(0), "output:\n{}", process.output());
}

/// The (soft, hard) "Max open files" of a process, from `/proc/PID/limits`.
fn open_files_limits(pid: &str) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let mut numbers = line.split_whitespace().filter_map(|word| match word {
        "unlimited" => Some(u64::MAX),
        word => word.parse().ok(),
    });
    (
        numbers.next().expect("soft limit"),
        numbers.next().expect("hard limit"),
    )
}

#[tokio::test]
async fn run_raises_its_soft_open_files_limit_and_warns_when_max_connections_cannot_fit() {
    let (_, hard) = open_files_limits("self");
    let soft = hard.min(256);
    // Two descriptors per session: max_connections = hard can never fit under `hard`.
    let max_connections = hard.min(10_000_000);
    let needs_more = max_connections * 2 + 64 > hard;
    let dir = TempDir::new();
    let toml = TestProxy::builder()
        .upstream(&format!("ws://{}", closed_port_addr()))
        .max_connections(usize::try_from(max_connections).expect("fits a usize"))
        .toml();
    let config = dir.write("wsgate.toml", &toml).display().to_string();
    let mut process = WsgateProcess::spawn_with_open_files(
        soft,
        &["run", "--config", &config],
        &[(SECRET_ENV, SECRET)],
    );
    bound_addresses(&mut process).await;
    assert_eq!(
        open_files_limits(&process.pid().to_string()),
        (hard, hard),
        "the soft limit is raised to the hard limit"
    );
    let warned = process
        .output()
        .lines()
        .any(|line| line.contains("open-files limit cannot hold server.max_connections"));
    assert_eq!(warned, needs_more, "output:\n{}", process.output());
    process.terminate();
    let status = process.wait_exit(Duration::from_secs(8)).await;
    assert_eq!(status.code(), Some(0), "output:\n{}", process.output());
}
