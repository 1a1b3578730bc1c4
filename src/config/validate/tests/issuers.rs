//! Issuers: algorithm lists, key sources and files, secrets, names, scoping.

use super::*;

#[test]
fn algorithm_lists_are_strict() {
    let key = "auth.issuers[0].algorithms";
    let secret = "secret = { env = \"S\" }";
    let vars = [("S", SECRET)];
    assert_has(
        &issuer_errors(&format!("algorithms = [\"none\"]\n{secret}"), &vars),
        key,
        "never allowed",
    );
    assert_has(
        &issuer_errors(&format!("algorithms = [\"ES512\"]\n{secret}"), &vars),
        key,
        "unknown algorithm \"ES512\"",
    );
    assert_has(
        &issuer_errors(&format!("algorithms = [\"hs256\"]\n{secret}"), &vars),
        key,
        "exact spelling",
    );
    assert_has(
        &issuer_errors(
            &format!("algorithms = [\"HS256\", \"RS256\"]\n{secret}"),
            &vars,
        ),
        key,
        "algorithm confusion",
    );
    assert_has(
        &issuer_errors(
            "algorithms = [\"RS256\", \"ES256\"]\njwks_file = \"j\"",
            &[],
        ),
        key,
        "one family",
    );
    assert_has(
        &issuer_errors(&format!("algorithms = []\n{secret}"), &vars),
        key,
        "is empty",
    );
    assert_has(&issuer_errors(secret, &vars), key, "is required");
}

#[test]
fn exactly_one_key_source() {
    let key = "auth.issuers[0]";
    assert_has(
        &issuer_errors("algorithms = [\"RS256\"]", &[]),
        key,
        "no key source",
    );
    assert_has(
        &issuer_errors(
            "algorithms = [\"RS256\"]\njwks_file = \"a\"\npublic_key_file = \"b\"",
            &[],
        ),
        key,
        "several key sources (public_key_file, jwks_file)",
    );
    assert_has(
        &issuer_errors(
            "algorithms = [\"RS256\"]\njwks_url = \"https://i/jwks\"\ndiscovery_url = \"https://i/.well-known/openid-configuration\"",
            &[],
        ),
        key,
        "several key sources (jwks_url, discovery_url)",
    );
}

#[test]
fn key_sources_must_fit_the_algorithm_family() {
    assert_has(
        &issuer_errors(
            "algorithms = [\"RS256\"]\nsecret = { env = \"S\" }",
            &[("S", SECRET)],
        ),
        "auth.issuers[0].secret",
        "public-key ones",
    );
    assert_has(
        &issuer_errors("algorithms = [\"HS256\"]\npublic_key_file = \"k.pem\"", &[]),
        "auth.issuers[0].public_key_file",
        "shared secret",
    );
    assert_has(
        &issuer_errors(
            "algorithms = [\"ES256\"]\njwks_file = \"j\"\nkid = \"k1\"",
            &[],
        ),
        "auth.issuers[0].kid",
        "names its own kids",
    );
}

#[test]
fn public_key_and_jwks_files_are_read_relative_to_the_base_dir() {
    let dir = TempDir::new();
    dir.write("key.pem", b"-----BEGIN PUBLIC KEY-----\n...");
    dir.write("jwks.json", br#"{"keys":[]}"#);
    let text = r#"
        environment = "test"
        [upstream]
        url = "ws://u"
        [[auth.issuers]]
        name = "pem"
        issuer = "https://a"
        algorithms = ["RS256", "PS256"]
        public_key_file = "key.pem"
        kid = "k1"
        [[auth.issuers]]
        name = "jwks"
        issuer = "https://b"
        algorithms = ["ES256"]
        jwks_file = "jwks.json"
    "#;
    let config = parse_in(text, &[], &dir.0).unwrap();
    match &config.auth.issuers[0].keys {
        KeySource::PublicKeyFile { path, pem, kid } => {
            assert_eq!(path, &dir.0.join("key.pem"));
            assert!(pem.starts_with(b"-----BEGIN"));
            assert_eq!(kid.as_deref(), Some("k1"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&config.auth.issuers[1].keys, KeySource::JwksFile { json, .. } if json == br#"{"keys":[]}"#)
    );
    // No audiences: accepted with a warning per issuer.
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);

    let errors = parse_in(&text.replace("key.pem", "gone.pem"), &[], &dir.0)
        .unwrap_err()
        .errors;
    assert_has(&errors, "auth.issuers[0].public_key_file", "gone.pem");
}

#[test]
fn secret_env_var_problems_name_the_variable() {
    let key = "auth.issuers[0].secret";
    assert_has(&errors_with("", &[]), key, "env var JWT_SECRET is not set");
    assert_has(
        &errors_with("", &[("JWT_SECRET", "")]),
        key,
        "env var JWT_SECRET is set but empty",
    );
}

#[test]
fn weak_or_key_shaped_hmac_secrets_are_refused() {
    let key = "auth.issuers[0].secret";
    let pem = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n";
    let jwk = r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}"#;
    for (value, needle) in [
        (pem, "looks like a PEM key"),
        (jwk, "JSON/JWK"),
        ("secret", "is 6 bytes; at least 32"),
        ("changemechangemechangemechangeme", "placeholder"),
    ] {
        let errors = errors_with("", &[("JWT_SECRET", value)]);
        assert_has(&errors, key, needle);
        assert_has(&errors, key, "env var JWT_SECRET");
        for error in &errors {
            assert!(!error.message.contains(value), "secret leaked: {error}");
        }
    }
}

#[test]
fn der_keys_are_recognised_from_files() {
    // Only a file can hold DER: its 0x82/0x81 length byte is never valid UTF-8 in an env var.
    let dir = TempDir::new();
    let mut der = vec![0x30, 0x82, 0x01, 0x22];
    der.extend(std::iter::repeat_n(0x5a, 0x122));
    dir.write("der.key", &der);
    let text = MINIMAL.replace(r#"{ env = "JWT_SECRET" }"#, r#"{ file = "der.key" }"#);
    let errors = parse_in(&text, &[], &dir.0).unwrap_err().errors;
    assert_has(&errors, "auth.issuers[0].secret", "DER");
}

#[test]
fn secret_files_lose_exactly_one_trailing_newline() {
    let dir = TempDir::new();
    let text = MINIMAL.replace(r#"{ env = "JWT_SECRET" }"#, r#"{ file = "jwt" }"#);
    for (content, expected) in [
        (format!("{SECRET}\n"), SECRET.to_owned()),
        (format!("{SECRET}\r\n"), SECRET.to_owned()),
        (format!("{SECRET}\n\n"), format!("{SECRET}\n")),
        (SECRET.to_owned(), SECRET.to_owned()),
    ] {
        dir.write("jwt", content.as_bytes());
        let config = parse_in(&text, &[], &dir.0).unwrap();
        let KeySource::Secret { secret, .. } = &config.auth.issuers[0].keys else {
            panic!()
        };
        assert_eq!(secret.expose(), expected.as_bytes());
        assert_eq!(secret.source(), &SecretSource::File(dir.0.join("jwt")));
    }
    dir.write("jwt", b"\n");
    assert_has(
        &parse_in(&text, &[], &dir.0).unwrap_err().errors,
        "auth.issuers[0].secret",
        "only a newline",
    );
    let errors = parse_in(&text.replace("\"jwt\"", "\"nope\""), &[], &dir.0)
        .unwrap_err()
        .errors;
    assert_has(
        &errors,
        "auth.issuers[0].secret",
        &format!("cannot read file {}", dir.0.join("nope").display()),
    );
}

#[test]
fn literal_secrets_work_with_a_warning() {
    let text = MINIMAL.replace(r#"{ env = "JWT_SECRET" }"#, &format!("{SECRET:?}"));
    let config = parse_env(&text, &[]).unwrap();
    assert_eq!(config.warnings.len(), 1);
    assert!(config.warnings[0].contains("auth.issuers[0].secret is a literal"));
    assert!(config.warnings[0].contains("{ env = \"VAR\" }"));
    assert!(!config.warnings[0].contains(SECRET));
}

#[test]
fn issuer_names_are_labels_and_unique() {
    let text = format!(
        "{MINIMAL}\n[[auth.issuers]]\nname = \"primary\"\nissuer = \"https://other\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\nsecret = {{ env = \"JWT_SECRET\" }}\n[[auth.issuers]]\nname = \"Has Space\"\nissuer = \"https://auth.example.com\"\nalgorithms = [\"HS256\"]\nsecret = {{ env = \"JWT_SECRET\" }}"
    );
    let errors = parse_env(&text, &[("JWT_SECRET", SECRET)])
        .unwrap_err()
        .errors;
    assert_has(&errors, "auth.issuers[1].name", "unique");
    assert_has(&errors, "auth.issuers[2].name", "a-z, 0-9");
}

#[test]
fn two_enabled_issuers_cannot_share_an_iss() {
    let text = format!(
        "{MINIMAL}\n[[auth.issuers]]\nname = \"second\"\nissuer = \"https://auth.example.com\"\naudiences = [\"a\"]\nalgorithms = [\"HS512\"]\nsecret = {{ env = \"JWT_SECRET\" }}"
    );
    let errors = parse_env(&text, &[("JWT_SECRET", SECRET)])
        .unwrap_err()
        .errors;
    assert_has(&errors, "auth.issuers[1].issuer", "\"primary\"");
    // Scoped to another environment, the same iss is fine.
    parse(&format!("{text}\nenvironments = [\"production\"]"));
}

#[test]
fn issuers_scoped_elsewhere_are_disabled_and_not_loaded() {
    let text = format!(
        "{MINIMAL}environments = [\"production\"]\n[[routes]]\npath = \"/\"\nauth = \"none\""
    );
    let config = parse_env(&text, &[]).unwrap();
    let issuer = &config.auth.issuers[0];
    assert!(!issuer.enabled);
    assert_eq!(issuer.environments, ["production"]);
    assert_eq!(config.enabled_issuers().count(), 0);
}
