//! E2E bypass.

use super::*;

/// The environment with both the issuer's secret and the bypass key set.
const DEPLOYED: &[(&str, &str)] = &[("JWT_SECRET", SECRET), ("E2E_KEY", KEY)];

/// The problems found in a whole config text under `DEPLOYED`.
fn refused(text: &str) -> Vec<ConfigError> {
    parse_env(text, DEPLOYED).unwrap_err().errors
}

#[test]
fn bypass_loads_its_keys_when_enabled() {
    let text = format!("{MINIMAL}\n{BYPASS}");
    let config = parse_env(&text, DEPLOYED).unwrap();
    let bypass = &config.e2e_bypass;
    assert!(bypass.active && bypass.enabled);
    assert_eq!(bypass.keys.len(), 1);
    assert_eq!(bypass.keys[0].name, "ci");
    assert_eq!(bypass.keys[0].secret.expose(), KEY.as_bytes());
}

#[test]
fn bypass_with_an_undeployed_key_names_the_variable() {
    let errors = problems(BYPASS);
    assert_has(
        &errors,
        "e2e_bypass.keys[0].secret",
        "env var E2E_KEY is not set",
    );
}

#[test]
fn bypass_keys_must_be_long() {
    let errors = errors_with(BYPASS, &[("JWT_SECRET", SECRET), ("E2E_KEY", "short-key")]);
    assert_has(
        &errors,
        "e2e_bypass.keys[0].secret",
        "is 9 bytes; at least 32",
    );
    assert!(!format!("{errors:?}").contains("short-key"));
}

#[test]
fn bypass_is_refused_in_production() {
    let text = format!("{MINIMAL}\n{BYPASS}").replace("\"staging\"", "\"production\"");
    let errors = refused(&text);
    assert_has(
        &errors,
        "e2e_bypass.enabled",
        "is true but environment \"production\"",
    );

    let errors = problems("[e2e_bypass]\nallowed_environments = [\"staging\", \"production\"]");
    assert_has(
        &errors,
        "e2e_bypass.allowed_environments",
        "contains \"production\"",
    );
}

#[test]
fn bypass_only_in_allowed_environments() {
    let text = format!("{MINIMAL}\n{BYPASS}\nallowed_environments = [\"test\"]");
    let errors = refused(&text);
    assert_has(
        &errors,
        "e2e_bypass.enabled",
        "not in e2e_bypass.allowed_environments",
    );
}

#[test]
fn bypass_key_shapes() {
    let key = "[e2e_bypass]\nenabled = true\nkey = { env = \"E2E_KEY\" }";
    let config = parse_env(&format!("{MINIMAL}\n{key}"), DEPLOYED).unwrap();
    assert_eq!(config.e2e_bypass.keys[0].name, "default");

    assert_has(
        &problems(&format!("{BYPASS}\nkey = {{ env = \"X\" }}")),
        "e2e_bypass.key",
        "not both",
    );
    assert_has(
        &problems("[e2e_bypass]\nenabled = true"),
        "e2e_bypass.keys",
        "no key is configured",
    );
    assert_has(
        &problems("[e2e_bypass]\nkey = \"literal-key-in-the-file-0123456789\""),
        "e2e_bypass.key",
        "cannot be a literal",
    );
    let dup = "[e2e_bypass]\nkeys = [{ name = \"ci\", secret = { env = \"A\" } }, { name = \"ci\", secret = { env = \"B\" } }, { secret = { env = \"C\" } }]";
    let errors = problems(dup);
    assert_has(&errors, "e2e_bypass.keys[1].name", "unique");
    assert_has(&errors, "e2e_bypass.keys[2].name", "is required");
}

#[test]
fn disabled_bypass_does_not_read_its_keys() {
    let text = format!(
        "{MINIMAL}\n[e2e_bypass]\nenabled = false\nkeys = [{{ name = \"ci\", secret = {{ env = \"UNSET\" }} }}]"
    );
    let config = parse_env(&text, &[("JWT_SECRET", SECRET)]).unwrap();
    assert!(!config.e2e_bypass.active);
    assert!(config.e2e_bypass.keys.is_empty());
}
