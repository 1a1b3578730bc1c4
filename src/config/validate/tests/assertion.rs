//! `[identity.assertion]` and the client-certificate keys.

use super::*;
use crate::config::{AssertionAlgorithm, ClientAuth, UserFrom};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// An `[identity.assertion]` table with an audience and `fields`.
fn table(fields: &str) -> String {
    format!("[identity.assertion]\naudience = \"chat-backend\"\n{fields}")
}

fn with_assertion(fields: &str) -> String {
    format!("{MINIMAL}\n{}", table(fields))
}

#[test]
fn an_assertion_table_is_on_with_defaults() {
    let config = parse(&with_assertion(&format!(
        "key_file = {:?}",
        fixture("ec256.key.pem")
    )));
    let assertion = config.identity.assertion.expect("enabled");
    assert_eq!(assertion.header.as_str(), "x-auth-assertion");
    assert_eq!(assertion.issuer, "wsgate");
    assert_eq!(assertion.ttl, Duration::from_secs(60));
    assert_eq!(assertion.algorithm, AssertionAlgorithm::Es256);
    assert!(assertion.next_key.is_none());

    let several = parse(&format!(
        "{MINIMAL}\n[identity.assertion]\naudience = [\"chat\", \"billing\"]"
    ));
    assert_eq!(
        several.identity.assertion.expect("on").audience,
        ["chat", "billing"]
    );

    let off = parse(&with_assertion("enabled = false"));
    assert!(off.identity.assertion.is_none());
    // The header is stripped from clients either way.
    assert_eq!(off.identity.assertion_header.as_str(), "x-auth-assertion");
}

#[test]
fn assertion_mistakes_are_all_named() {
    let errors = problems(&format!(
        "[identity.assertion]\nttl = \"10m\"\nalgorithm = \"RS256\"\nkey_file = {:?}\nclaims = [\"sub\", \"email\", \"email\"]\nheader = \"X_Auth_User\"",
        fixture("ec256.key.pem")
    ));
    assert_has(&errors, "identity.assertion.audience", "is required");
    assert_has(&errors, "identity.assertion.ttl", "longer than 5m");
    assert_has(&errors, "identity.assertion.algorithm", "\"RS256\"");
    assert_has(&errors, "identity.assertion.claims[0]", "written by wsgate");
    assert_has(&errors, "identity.assertion.claims[2]", "listed twice");
    assert_has(&errors, "identity.assertion.header", "identity.user_header");
}

#[test]
fn assertion_keys_are_checked_at_load_and_named() {
    let errors = problems(&table(&format!(
        "algorithm = \"EdDSA\"\nkey_file = {:?}\nnext_key_file = \"/nonexistent/next.pem\"",
        fixture("ec256.key.pem")
    )));
    assert_has(
        &errors,
        "identity.assertion.key_file",
        "but algorithm is EdDSA",
    );
    assert_has(
        &errors,
        "identity.assertion.next_key_file",
        "cannot read file",
    );

    let errors = problems(&table(&format!(
        "key_file = {:?}",
        fixture("rsa2048.key.pem")
    )));
    assert_has(&errors, "identity.assertion.key_file", "rsa2048.key.pem");

    let errors = problems(&table(&format!(
        "next_key_file = {:?}",
        fixture("ec256.key.pem")
    )));
    assert_has(
        &errors,
        "identity.assertion.next_key_file",
        "needs identity.assertion.key_file",
    );
}

#[test]
fn a_generated_assertion_key_warns_and_production_refuses_it() {
    let config = parse(&with_assertion(""));
    assert!(config.identity.assertion.expect("on").key.is_none());
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("identity.assertion.key_file is not set")),
        "{:?}",
        config.warnings
    );

    let text = with_assertion("").replace("\"staging\"", "\"production\"");
    let errors = parse_env(&text, &[("JWT_SECRET", SECRET)])
        .unwrap_err()
        .errors;
    assert_has(
        &errors,
        "identity.assertion.key_file",
        "is required in environment \"production\"",
    );
}

#[test]
fn client_certificates_need_a_ca() {
    let errors = problems(
        "[identity]\nuser_from = \"client_cert\"\n[[routes]]\npath = \"/m\"\nclient_cert = \"required\"",
    );
    assert_has(
        &errors,
        "routes[0].client_cert",
        "server.tls.client_ca_file",
    );
    assert_has(&errors, "identity.user_from", "server.tls.client_ca_file");
    let errors = problems("[[routes]]\npath = \"/x\"\nclient_cert = \"maybe\"");
    assert_has(&errors, "routes[0].client_cert", "\"maybe\"");

    let errors = problems(&format!(
        "[server.tls]\ncert_file = {:?}\nkey_file = {:?}\nclient_auth = \"optional\"",
        fixture("tls/localhost.crt.pem"),
        fixture("tls/localhost.key.pem")
    ));
    assert_has(
        &errors,
        "server.tls.client_auth",
        "needs server.tls.client_ca_file",
    );

    let config = parse(&format!(
        "{MINIMAL}\n[server.tls]\ncert_file = {cert:?}\nkey_file = {key:?}\nclient_ca_file = {cert:?}\nclient_auth = \"optional\"\n[identity]\nuser_from = \"client_cert\"\n[[routes]]\npath = \"/m\"\nclient_cert = \"required\"",
        cert = fixture("tls/localhost.crt.pem"),
        key = fixture("tls/localhost.key.pem")
    ));
    let tls = config.server.tls.expect("tls");
    assert_eq!(tls.client_auth, ClientAuth::Optional);
    assert_eq!(config.identity.user_from, UserFrom::ClientCert);
    assert!(config.routes[0].client_cert_required);
}

#[test]
fn upstream_client_certificates_come_in_pairs() {
    let text = MINIMAL.replace(
        "url = \"ws://127.0.0.1:8000\"",
        &format!(
            "url = \"wss://127.0.0.1:8000\"\nclient_cert_file = {:?}",
            fixture("tls/localhost.crt.pem")
        ),
    );
    let errors = parse_env(&text, &[("JWT_SECRET", SECRET)])
        .unwrap_err()
        .errors;
    assert_has(&errors, "upstream.client_key_file", "is required");
}
