//! Server and upstream settings.

use super::*;

#[test]
fn port_env_var_overrides_the_listen_port() {
    let config = parse_env(MINIMAL, &[("JWT_SECRET", SECRET), ("PORT", "3000")]).unwrap();
    assert_eq!(config.server.listen, "0.0.0.0:3000".parse().unwrap());
    assert_eq!(config.server.admin_listen.port(), 9090);

    let errors = parse_env(MINIMAL, &[("JWT_SECRET", SECRET), ("PORT", "eighty")])
        .unwrap_err()
        .errors;
    assert_has(&errors, "server.listen", "env var PORT");
}

#[test]
fn listen_and_admin_listen_must_differ() {
    let errors = problems("[server]\nlisten = \"0.0.0.0:8080\"\nadmin_listen = \"127.0.0.1:8080\"");
    assert_has(&errors, "server.admin_listen", "overlaps server.listen");
    // PORT moving listen onto the admin port is caught too.
    let errors = parse_env(MINIMAL, &[("JWT_SECRET", SECRET), ("PORT", "9090")])
        .unwrap_err()
        .errors;
    assert_has(&errors, "server.admin_listen", "overlaps");
}

#[test]
fn durations_parse_and_unlimited_is_none() {
    let config = parse(&format!(
        "{MINIMAL}\n[server]\nmax_session_duration = \"none\"\nidle_timeout = \"0s\"\ndrain_timeout = \"1m 30s\""
    ));
    assert_eq!(config.server.max_session_duration, None);
    assert_eq!(config.server.idle_timeout, None);
    assert_eq!(config.server.drain_timeout, Duration::from_secs(90));

    let errors = problems("[server]\nidle_timeout = \"ten minutes\"\nhandshake_timeout = \"0s\"");
    assert_has(&errors, "server.idle_timeout", "not a duration");
    assert_has(&errors, "server.handshake_timeout", "longer than zero");
}

#[test]
fn sizes_are_range_checked() {
    let errors = problems(
        "[server]\nmax_connections = 0\nmax_frame_bytes = 2000000\nmax_message_bytes = 1000000",
    );
    assert_has(&errors, "server.max_connections", "out of range");
    assert_has(
        &errors,
        "server.max_frame_bytes",
        "exceeds server.max_message_bytes",
    );
    let errors = problems("[auth]\nmax_token_bytes = 100");
    assert_has(&errors, "auth.max_token_bytes", "256..=65536");
}

#[test]
fn tls_files_must_be_readable() {
    let errors = problems("[server.tls]\ncert_file = \"cert.pem\"");
    assert_has(
        &errors,
        "server.tls.cert_file",
        "/nonexistent-base/cert.pem",
    );
    assert_has(&errors, "server.tls.key_file", "is required");

    let dir = TempDir::new();
    dir.write("cert.pem", b"cert");
    dir.write("key.pem", b"key");
    let text = format!("{MINIMAL}\n[server.tls]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"");
    let config = parse_in(&text, &[("JWT_SECRET", SECRET)], &dir.0).unwrap();
    assert_eq!(config.server.tls.unwrap().key_file, dir.0.join("key.pem"));
}

#[test]
fn upstream_url_is_split_into_parts() {
    let text = MINIMAL.replace("ws://127.0.0.1:8000", "wss://App.internal/api/");
    let upstream = parse(&text).upstream;
    assert!(upstream.tls);
    assert_eq!(
        (upstream.host.as_str(), upstream.port),
        ("app.internal", 443)
    );
    assert_eq!(upstream.base_path, "/api");
}

#[test]
fn upstream_url_problems_are_named() {
    for (url, needle) in [
        ("ftp://x", "scheme \"ftp\""),
        ("ws://user:pw@x", "credentials"),
        ("ws://x/?a=1", "query"),
        ("not a url", "not a URL"),
    ] {
        let text = MINIMAL.replace("ws://127.0.0.1:8000", url);
        let errors = parse_env(&text, &[("JWT_SECRET", SECRET)])
            .unwrap_err()
            .errors;
        assert_has(&errors, "upstream.url", needle);
    }
    let text = MINIMAL.replace("[upstream]\nurl = \"ws://127.0.0.1:8000\"", "");
    let errors = parse_env(&text, &[("JWT_SECRET", SECRET)])
        .unwrap_err()
        .errors;
    assert_has(&errors, "upstream.url", "is required");
}

#[test]
fn upstream_ca_file_must_hold_certificates_and_a_tls_upstream() {
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls/localhost.crt.pem");
    let wss = |ca_file: &str| {
        MINIMAL.replace(
            "url = \"ws://127.0.0.1:8000\"",
            &format!("url = \"wss://127.0.0.1:8443\"\nca_file = {ca_file:?}"),
        )
    };
    let config = parse(&wss(&fixture.display().to_string()));
    assert_eq!(config.upstream.ca_file.as_deref(), Some(fixture.as_path()));

    // A plain ws upstream never uses it: a mistake, not a no-op.
    let plain = MINIMAL.replace(
        "url = \"ws://127.0.0.1:8000\"",
        &format!(
            "url = \"ws://127.0.0.1:8000\"\nca_file = {:?}",
            fixture.display().to_string()
        ),
    );
    let errors = parse_env(&plain, &[("JWT_SECRET", SECRET)])
        .unwrap_err()
        .errors;
    assert_has(
        &errors,
        "upstream.ca_file",
        "only used for a wss or https upstream",
    );

    let errors = parse_env(&wss("/nonexistent/ca.pem"), &[("JWT_SECRET", SECRET)])
        .unwrap_err()
        .errors;
    assert_has(&errors, "upstream.ca_file", "cannot read file");

    // A key file is PEM but holds no certificate.
    let key = fixture.with_file_name("localhost.key.pem");
    let errors = parse_env(&wss(&key.display().to_string()), &[("JWT_SECRET", SECRET)])
        .unwrap_err()
        .errors;
    assert_has(&errors, "upstream.ca_file", "holds no PEM certificate");
}
