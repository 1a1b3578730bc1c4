//! `check`'s rendering: secrets as fingerprints, defaults filled in, computed policy noted,
//! and the output still TOML of the same shape.

use super::render;
use crate::config::secret::fingerprint;
use crate::config::{Config, KeySource};

const SECRET: &str = "k3Jx9vQ2mW7pL5tR8nB4cF6hD1gS0aZeYuIoP-_.~Xq";
const BYPASS_KEY: &str = "e2e-Vb7Nq3Lk9Xw2Jr5Tz8Mc4Hf6Gd1Sa0PyQu";

/// A staging policy: secrets from env vars, an issuer scoped to production, the bypass.
const TEXT: &str = include_str!("../../../tests/fixtures/config/render.toml");

fn config() -> Config {
    let env = |name: &str| match name {
        "JWT_SECRET" => Some(SECRET.to_owned()),
        "E2E_KEY" => Some(BYPASS_KEY.to_owned()),
        _ => None,
    };
    Config::parse(TEXT, "test.toml", &env, std::path::Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn shows_fingerprints_and_sources_never_secrets() {
    let shown = render(&config());
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(!shown.contains(BYPASS_KEY), "{shown}");
    let jwt = format!("{} from env var JWT_SECRET", fingerprint(SECRET.as_bytes()));
    assert!(shown.contains(&jwt), "{shown}");
    let key = format!(
        "{} from env var E2E_KEY",
        fingerprint(BYPASS_KEY.as_bytes())
    );
    assert!(shown.contains(&key), "{shown}");
}

#[test]
fn fills_defaults_and_notes_computed_policy() {
    let shown = render(&config());
    for expected in [
        "environment = \"staging\"",
        "listen = \"0.0.0.0:8080\"",
        "handshake_timeout = \"10s\"",
        "max_session_duration = \"none\"  # unlimited",
        "idle_timeout = \"10m\"",
        "send_timeout = \"none\"  # unlimited",
        "max_pings_per_second = 1000",
        "url = \"ws://127.0.0.1:8000/app\"",
        "token_sources = [\"header:authorization\", \"query:access_token\"]",
        "allowed_origins = []  # Origin is not checked",
        "kid = \"2024\"",
        "# DISABLED in environment \"staging\"; enabled in: production",
        "secret = \"env var PROD_SECRET\"  # not read while disabled",
        "audiences = []  # aud is not checked",
        "\"x-auth-email\" = \"email\"",
        "[e2e_bypass]  # ACTIVE in environment \"staging\"",
        "claims = { \"scope\" = \"chat\" }",
        "[[routes]]  # implicit catch-all: no configured route has path \"/\"",
        "# warnings:",
        "query:access_token: tokens in URLs",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }
}

#[test]
fn the_output_is_toml_with_the_same_shape() {
    let shown = render(&config());
    let parsed: toml::Table = toml::from_str(&shown).unwrap_or_else(|e| panic!("{e}\n{shown}"));
    assert_eq!(parsed["auth"]["issuers"].as_array().unwrap().len(), 2);
    assert_eq!(parsed["routes"].as_array().unwrap().len(), 2);
}

#[test]
fn remote_key_sets_show_their_url_and_timing() {
    let text = include_str!("../../../tests/fixtures/config/render-remote-keys.toml");
    let config = Config::parse(text, "test.toml", &|_| None, std::path::Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}"));
    let shown = render(&config);
    for expected in [
        "discovery_url = \"https://idp.example.com/.well-known/openid-configuration\"  # fetched while serving",
        "jwks_refresh = \"10m\"",
        "jwks_cooldown = \"1m\"",
        "jwks_max_stale = \"1day\"",
        "jwks_timeout = \"5s\"",
    ] {
        assert!(
            shown.contains(expected),
            "missing {expected:?} in:\n{shown}"
        );
    }
    let reparsed = Config::parse(&shown, "shown.toml", &|_| None, std::path::Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}\n{shown}"));
    assert!(matches!(
        reparsed.auth.issuers[0].keys,
        KeySource::Remote(_)
    ));
}

#[test]
fn a_private_ca_for_a_key_set_is_shown() {
    let ca = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/tls/localhost.crt.pem"
    );
    let text = format!(
        "environment = \"staging\"\n[upstream]\nurl = \"ws://127.0.0.1:8000\"\n\
         [[auth.issuers]]\nname = \"idp\"\nissuer = \"https://idp\"\naudiences = [\"a\"]\n\
         algorithms = [\"RS256\"]\njwks_url = \"https://idp.internal/jwks\"\njwks_ca_file = {ca:?}\n"
    );
    let config = Config::parse(&text, "test.toml", &|_| None, std::path::Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}"));
    let shown = render(&config);
    assert!(
        shown.contains(&format!(
            "jwks_ca_file = {ca:?}  # trusted instead of the public roots"
        )),
        "{shown}"
    );
}
