//! Remote key sets: JWKS and discovery URLs and their timing.

use super::*;

/// One RS256 issuer with `fields` (a key source and timing keys); the parse result.
fn remote_issuer(fields: &str) -> Result<Config, ConfigErrors> {
    parse_env(
        &format!(
            "environment = \"staging\"\n[upstream]\nurl = \"ws://u\"\n[[auth.issuers]]\nname = \"i\"\nissuer = \"https://i\"\naudiences = [\"a\"]\nalgorithms = [\"RS256\"]\n{fields}"
        ),
        &[],
    )
}

fn remote_source(fields: &str) -> RemoteSource {
    let config = remote_issuer(fields).unwrap_or_else(|e| panic!("{e}"));
    match &config.auth.issuers[0].keys {
        KeySource::Remote(remote) => remote.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn jwks_url_gets_default_timing() {
    let remote = remote_source("jwks_url = \"https://auth.example.com/.well-known/jwks.json\"");
    assert_eq!(
        remote.location,
        RemoteLocation::Jwks(
            "https://auth.example.com/.well-known/jwks.json"
                .parse()
                .unwrap()
        )
    );
    assert_eq!(remote.refresh, Duration::from_secs(600));
    assert_eq!(remote.cooldown, Duration::from_secs(30));
    assert_eq!(remote.max_stale, Duration::from_secs(24 * 3600));
    assert_eq!(remote.timeout, Duration::from_secs(5));
}

#[test]
fn discovery_url_and_timing_keys_are_read() {
    let remote = remote_source(
        "discovery_url = \"https://auth.example.com/.well-known/openid-configuration\"\n\
         jwks_refresh = \"5m\"\njwks_cooldown = \"10s\"\njwks_max_stale = \"1h\"\njwks_timeout = \"2s\"",
    );
    assert_eq!(remote.location.key(), "discovery_url");
    assert_eq!(
        remote.location.url().as_str(),
        "https://auth.example.com/.well-known/openid-configuration"
    );
    assert_eq!(
        (
            remote.refresh,
            remote.cooldown,
            remote.max_stale,
            remote.timeout
        ),
        (
            Duration::from_secs(300),
            Duration::from_secs(10),
            Duration::from_secs(3600),
            Duration::from_secs(2)
        )
    );
}

#[test]
fn plain_http_key_urls_only_for_loopback() {
    for url in [
        "http://127.0.0.1:8080/jwks",
        "http://localhost/jwks",
        "http://[::1]:9000/jwks",
        "http://127.10.0.1/jwks",
    ] {
        remote_source(&format!("jwks_url = \"{url}\""));
    }
    for (field, url) in [
        ("jwks_url", "http://auth.example.com/jwks"),
        ("jwks_url", "http://10.0.0.1/jwks"),
        (
            "discovery_url",
            "http://auth.example.com/.well-known/openid-configuration",
        ),
    ] {
        let errors = remote_issuer(&format!("{field} = \"{url}\""))
            .unwrap_err()
            .errors;
        assert_has(&errors, &format!("auth.issuers[0].{field}"), "uses http");
    }
}

#[test]
fn bad_key_urls_name_the_key() {
    let key = "auth.issuers[0].jwks_url";
    let errors = |url: &str| {
        remote_issuer(&format!("jwks_url = \"{url}\""))
            .unwrap_err()
            .errors
    };
    assert_has(&errors("not a url"), key, "is not a URL");
    assert_has(
        &errors("ftp://auth.example.com/jwks"),
        key,
        "must be an https URL",
    );
    assert_has(
        &errors("file:///etc/jwks.json"),
        key,
        "must be an https URL",
    );
    assert_has(
        &errors("https://user:pw@auth.example.com/jwks"),
        key,
        "credentials",
    );
    assert_has(&errors("https://auth.example.com/jwks#x"), key, "fragment");
}

#[test]
fn remote_timing_is_checked() {
    let url = "jwks_url = \"https://auth.example.com/jwks\"";
    let errors = |extra: &str| {
        remote_issuer(&format!("{url}\n{extra}"))
            .unwrap_err()
            .errors
    };
    assert_has(
        &errors("jwks_refresh = \"0s\""),
        "auth.issuers[0].jwks_refresh",
        "longer than zero",
    );
    assert_has(
        &errors("jwks_cooldown = \"soon\""),
        "auth.issuers[0].jwks_cooldown",
        "not a duration",
    );
    assert_has(
        &errors("jwks_refresh = \"2h\"\njwks_max_stale = \"1h\""),
        "auth.issuers[0].jwks_max_stale",
        "shorter than jwks_refresh",
    );
    assert_has(
        &errors("jwks_timeout = \"2m\""),
        "auth.issuers[0].jwks_timeout",
        "longer than 60s",
    );
}

#[test]
fn remote_keys_rules_shared_with_jwks_file() {
    assert_has(
        &remote_issuer("jwks_url = \"https://i/jwks\"\nkid = \"k1\"")
            .unwrap_err()
            .errors,
        "auth.issuers[0].kid",
        "names its own kids",
    );
    assert_has(
        &issuer_errors(
            "algorithms = [\"HS256\"]\njwks_url = \"https://i/jwks\"",
            &[],
        ),
        "auth.issuers[0].jwks_url",
        "shared secret",
    );
}

#[test]
fn timing_keys_need_a_remote_source() {
    let errors = issuer_errors(
        "algorithms = [\"HS256\"]\nsecret = { env = \"S\" }\njwks_refresh = \"5m\"\njwks_timeout = \"1s\"",
        &[("S", SECRET)],
    );
    assert_has(
        &errors,
        "auth.issuers[0].jwks_refresh",
        "applies only to jwks_url and discovery_url",
    );
    assert_has(
        &errors,
        "auth.issuers[0].jwks_timeout",
        "applies only to jwks_url and discovery_url",
    );
}

/// A production config whose second issuer, `t`, fetches its keys from `jwks_url` and is
/// enabled only in staging; `extra` is added to that issuer's fields.
fn staging_only_remote_issuer(extra: &str) -> Config {
    parse_env(
        &format!(
            "environment = \"production\"\n[upstream]\nurl = \"ws://u\"\n\
             [[auth.issuers]]\nname = \"p\"\nissuer = \"https://p\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\nsecret = {{ env = \"S\" }}\n\
             [[auth.issuers]]\nname = \"t\"\nissuer = \"https://t\"\naudiences = [\"a\"]\nalgorithms = [\"ES256\"]\n\
             jwks_url = \"https://t/jwks\"\n{extra}environments = [\"staging\"]"
        ),
        &[("S", SECRET)],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn disabled_remote_issuer_is_still_shape_checked() {
    let config = staging_only_remote_issuer("");
    assert!(!config.auth.issuers[1].enabled);
    assert!(matches!(config.auth.issuers[1].keys, KeySource::Remote(_)));
}

fn tls_fixture(name: &str) -> String {
    format!("{}/tests/fixtures/tls/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn jwks_ca_file_is_read_for_a_private_identity_provider() {
    let ca = tls_fixture("localhost.crt.pem");
    for source in [
        "jwks_url = \"https://idp.internal/jwks\"",
        "discovery_url = \"https://idp.internal/.well-known/openid-configuration\"",
    ] {
        let remote = remote_source(&format!("{source}\njwks_ca_file = {ca:?}"));
        assert_eq!(
            remote.ca_file.as_deref(),
            Some(std::path::Path::new(&ca)),
            "{source}"
        );
    }
    assert_eq!(
        remote_source("jwks_url = \"https://idp.internal/jwks\"").ca_file,
        None
    );
}

#[test]
fn jwks_ca_file_must_hold_certificates_and_an_https_key_set() {
    let ca = tls_fixture("localhost.crt.pem");
    let key = "auth.issuers[0].jwks_ca_file";
    let errors = |fields: &str| remote_issuer(fields).unwrap_err().errors;
    assert_has(
        &errors("jwks_url = \"https://i/jwks\"\njwks_ca_file = \"/nonexistent/ca.pem\""),
        key,
        "cannot read file",
    );
    assert_has(
        &errors(&format!(
            "jwks_url = \"https://i/jwks\"\njwks_ca_file = {:?}",
            tls_fixture("localhost.key.pem")
        )),
        key,
        "holds no PEM certificate",
    );
    assert_has(
        &errors(&format!(
            "jwks_url = \"http://127.0.0.1:9/jwks\"\njwks_ca_file = {ca:?}"
        )),
        key,
        "only used for https",
    );
    assert_has(
        &errors(&format!(
            "jwks_file = {:?}\njwks_ca_file = {ca:?}",
            format!("{}/tests/fixtures/jwks.json", env!("CARGO_MANIFEST_DIR"))
        )),
        key,
        "applies only to jwks_url and discovery_url",
    );
}

#[test]
fn a_disabled_issuers_ca_file_is_not_read() {
    let config = staging_only_remote_issuer("jwks_ca_file = \"/only/in/staging/ca.pem\"\n");
    let KeySource::Remote(remote) = &config.auth.issuers[1].keys else {
        panic!("{:?}", config.auth.issuers[1].keys);
    };
    assert_eq!(
        remote.ca_file.as_deref(),
        Some(std::path::Path::new("/only/in/staging/ca.pem"))
    );
}
