//! Defaults, the example config and the environment name.

use super::*;

#[test]
fn minimal_config_gets_every_default() {
    let config = parse(MINIMAL);
    assert_eq!(config.environment, "staging");
    let server = &config.server;
    assert_eq!(server.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(server.admin_listen, "0.0.0.0:9090".parse().unwrap());
    assert_eq!(server.max_connections, 10_000);
    assert_eq!(server.handshake_timeout, Duration::from_secs(10));
    assert_eq!(server.drain_timeout, Duration::from_secs(25));
    assert_eq!(
        server.max_session_duration,
        Some(Duration::from_secs(55 * 60))
    );
    assert_eq!(server.idle_timeout, Some(Duration::from_secs(600)));
    assert_eq!(server.max_frame_bytes, 1_048_576);
    assert_eq!(server.max_message_bytes, 16_777_216);
    assert_eq!(server.send_timeout, None);
    assert_eq!(server.max_pings_per_second, 1000);
    assert!(server.tls.is_none());

    let upstream = &config.upstream;
    assert_eq!(
        (upstream.host.as_str(), upstream.port, upstream.tls),
        ("127.0.0.1", 8000, false)
    );
    assert_eq!(upstream.base_path, "");
    assert_eq!(upstream.connect_timeout, Duration::from_secs(5));
    assert!(!upstream.preserve_host);

    let auth = &config.auth;
    assert_eq!(auth.deny, DenyMode::Http);
    assert_eq!(
        auth.token_sources,
        [TokenSource::Header(http::header::AUTHORIZATION)]
    );
    assert_eq!(auth.leeway, Duration::from_secs(30));
    assert_eq!(auth.session_expiry, SessionExpiry::Close);
    assert_eq!(auth.max_token_bytes, 8192);
    assert!(auth.allowed_origins.is_empty());
    assert!(!auth.forward_token);
    assert_eq!(auth.max_lifetime, None);

    let issuer = &auth.issuers[0];
    assert_eq!(issuer.name, "primary");
    assert_eq!(issuer.algorithms, [Algorithm::HS256]);
    assert!(issuer.enabled);
    match &issuer.keys {
        KeySource::Secret { secret, kid } => {
            assert_eq!(secret.expose(), SECRET.as_bytes());
            assert_eq!(secret.source(), &SecretSource::Env("JWT_SECRET".into()));
            assert_eq!(kid, &None);
        }
        other => panic!("{other:?}"),
    }

    let identity = &config.identity;
    assert_eq!(identity.user_header, "x-auth-user");
    assert_eq!(identity.user_claim, "sub");
    assert_eq!(identity.method_header, "x-auth-method");
    assert!(identity.claim_headers.is_empty());

    let bypass = &config.e2e_bypass;
    assert!(!bypass.active && !bypass.enabled);
    assert_eq!(bypass.header, "x-e2e-bypass-key");
    assert_eq!(bypass.user_header, "x-e2e-user");
    assert_eq!(bypass.default_user, "e2e-test-user");
    assert_eq!(
        bypass.allowed_environments,
        ["development", "test", "staging"]
    );

    assert_eq!(config.routes.len(), 1);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn example_config_parses_with_its_env_vars() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("config.example.toml")).unwrap();
    let vars = [
        ("JWT_SECRET", SECRET),
        ("STAGING_JWT_SECRET", "s7aging-Qw8Er4Ty6Ui2Op0As3Df5Gh7Jk9L"),
    ];
    let config = parse_in(&text, &vars, root).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.environment, "staging");
    assert_eq!(config.auth.issuers.len(), 2);
    assert!(config.auth.issuers.iter().all(|i| i.enabled));
    assert_eq!(config.auth.allowed_origins, ["https://app.example.com"]);
    assert_eq!(config.identity.claim_headers.len(), 1);
    assert!(!config.e2e_bypass.active);
    let paths: Vec<_> = config.routes.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/ws", "/healthz", "/"]);
    assert!(config.routes[2].implicit);
}

#[test]
fn example_assertion_table_parses_when_enabled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let key = root.join("tests/fixtures/ec256.key.pem");
    let text = std::fs::read_to_string(root.join("config.example.toml"))
        .unwrap()
        .replace(
            "[identity.assertion]\nenabled = false",
            "[identity.assertion]\nenabled = true",
        )
        .replace(
            r#"key_file = "/etc/wsgate/assertion.key""#,
            &format!("key_file = {key:?}"),
        );
    let vars = [
        ("JWT_SECRET", SECRET),
        ("STAGING_JWT_SECRET", "s7aging-Qw8Er4Ty6Ui2Op0As3Df5Gh7Jk9L"),
    ];
    let config = parse_in(&text, &vars, root).unwrap_or_else(|e| panic!("{e}"));
    let assertion = config.identity.assertion.expect("enabled");
    assert_eq!(assertion.audience, ["chat-backend"]);
    assert_eq!(assertion.claims, ["email"]);
}

#[test]
fn example_config_in_production_needs_only_production_vars() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("config.example.toml"))
        .unwrap()
        .replace(
            r#"environment = "staging""#,
            r#"environment = "production""#,
        );
    let config = parse_in(&text, &[("JWT_SECRET", SECRET)], root).unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.auth.issuers[1].enabled);
    assert_eq!(config.enabled_issuers().count(), 1);
}

#[test]
fn production_is_spelled_one_way() {
    let text = MINIMAL.replace("\"staging\"", "\"Production\"");
    let errors = parse_env(&text, &[("JWT_SECRET", SECRET)])
        .unwrap_err()
        .errors;
    assert_has(&errors, "environment", "lowercase");
    let config = parse(&MINIMAL.replace("\"staging\"", "\"prod\""));
    assert!(config.warnings[0].contains("not \"production\""));
    assert_has(
        &parse_env("[upstream]\nurl = \"ws://u\"", &[])
            .unwrap_err()
            .errors,
        "environment",
        "is required",
    );
}
