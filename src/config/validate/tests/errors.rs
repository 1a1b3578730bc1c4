//! File-level errors: syntax, unknown keys, secret quoting, reporting every problem.

use super::*;

#[test]
fn syntax_errors_give_line_and_column_but_not_the_line() {
    let text = "environment = \"staging\"\n[server]\nlisten = \"0.0.0.0:80\nsecret = 1";
    let errors = parse_env(text, &[]).unwrap_err();
    assert_eq!(errors.origin, "test.toml");
    assert_eq!(errors.errors.len(), 1);
    assert!(
        errors.errors[0].message.starts_with("line 3, column"),
        "{errors}"
    );
    assert!(!errors.to_string().contains("0.0.0.0:80"), "{errors}");
}

#[test]
fn unknown_keys_are_named_with_their_path() {
    let errors = problems("[server]\nmax_conections = 5");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("unknown field `max_conections`"),
        "{errors:?}"
    );
    assert!(errors[0].message.starts_with("line "), "{errors:?}");

    let text = MINIMAL.replace("audiences", "audience");
    let errors = parse_env(&text, &[]).unwrap_err().errors;
    assert_eq!(errors[0].key, "auth.issuers[0].audience", "{errors:?}");
}

#[test]
fn a_mistyped_secret_value_is_not_quoted() {
    let text = MINIMAL.replace(
        r#"secret = { env = "JWT_SECRET" }"#,
        "secret = 987654321987654321",
    );
    let errors = parse_env(&text, &[]).unwrap_err();
    assert!(!errors.to_string().contains("987654321"), "{errors}");
    assert_eq!(errors.errors[0].key, "auth.issuers[0].secret");
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let text = r#"
        [server]
        listen = "localhost:80"
        handshake_timeout = "soon"
        [auth]
        deny = "reject"
        [[auth.issuers]]
        name = "Primary"
        issuer = "x"
        algorithms = ["ES512"]
        public_key_file = "missing.pem"
        [[routes]]
        path = "ws"
    "#;
    let errors = parse_env(text, &[]).unwrap_err();
    let keys: Vec<&str> = errors.errors.iter().map(|e| e.key.as_str()).collect();
    for key in [
        "environment",
        "server.listen",
        "server.handshake_timeout",
        "upstream.url",
        "auth.deny",
        "auth.issuers[0].name",
        "auth.issuers[0].algorithms",
        "auth.issuers[0].public_key_file",
        "routes[0].path",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    let shown = errors.to_string();
    assert!(
        shown.starts_with("invalid configuration in test.toml ("),
        "{shown}"
    );
}
