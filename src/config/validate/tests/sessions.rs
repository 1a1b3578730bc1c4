//! `[sessions]` and `[admin]`.

use super::*;
use crate::config::{OnStoreError, SessionStore};

const ADMIN: &str = "admin-token-0123456789abcdef";

#[test]
fn defaults_are_one_replica_in_memory_without_caps() {
    let config = parse(MINIMAL);
    let sessions = &config.sessions;
    assert!(matches!(sessions.store, SessionStore::Memory));
    assert_eq!(sessions.max_per_user, None);
    assert_eq!(sessions.max_per_client_ip, None);
    assert_eq!(sessions.refresh_path, "/.wsgate/refresh");
    assert_eq!(sessions.on_store_error, OnStoreError::Deny);
    assert_eq!(sessions.store_timeout, Duration::from_millis(250));
    assert!(config.admin.token.is_none());
}

#[test]
fn every_sessions_problem_is_reported_with_its_key() {
    let errors =
        problems("[sessions]\nstore = \"etcd\"\nmax_per_user = -1\nmax_per_client_ip = \"3\"");
    // A string where an integer belongs is a TOML type error, reported alone.
    assert!(!errors.is_empty());
    let errors = problems(
        "[sessions]\nstore = \"etcd\"\nmax_per_user = -1\nrefresh_path = \"refresh\"\non_store_error = \"maybe\"\nstore_timeout = \"0s\"",
    );
    assert_has(&errors, "sessions.store", "\"etcd\"");
    assert_has(&errors, "sessions.max_per_user", "out of range");
    assert_has(&errors, "sessions.refresh_path", "not a path");
    assert_has(&errors, "sessions.on_store_error", "\"maybe\"");
    assert_has(&errors, "sessions.store_timeout", "longer than zero");
    assert_has(
        &problems("[sessions]\nmaxperuser = 1"),
        "sessions.maxperuser",
        "unknown field",
    );
}

#[test]
fn a_redis_store_needs_a_redis_url_from_a_secret() {
    assert_has(
        &problems("[sessions]\nstore = \"redis\""),
        "sessions.redis_url",
        "is required",
    );
    let with_url = |url: &str| {
        parse_env(
            &format!("{MINIMAL}\n[sessions]\nstore = \"redis\"\nredis_url = {{ env = \"REDIS\" }}"),
            &[("JWT_SECRET", SECRET), ("REDIS", url)],
        )
    };
    for bad in ["http://cache:6379", "redis://", "not a url"] {
        let errors = with_url(bad).expect_err(bad).errors;
        assert_has(&errors, "sessions.redis_url", "env var REDIS");
        assert!(
            bad == "redis://" || errors.iter().all(|e| !e.message.contains(bad)),
            "the URL may hold a password: never echoed"
        );
    }
    let plain = with_url("redis://:hunter2@cache:6379/2").expect("redis://");
    let SessionStore::Redis(url) = &plain.sessions.store else {
        panic!("redis store");
    };
    assert!(!url.tls);
    let rendered = crate::config::render::render(&plain);
    assert!(!rendered.contains("hunter2"), "{rendered}");
    assert!(rendered.contains("redis_url = \"sha256:"), "{rendered}");
    let tls = with_url("rediss://cache:6380").expect("rediss://");
    assert!(matches!(&tls.sessions.store, SessionStore::Redis(url) if url.tls));
}

#[test]
fn caps_and_admin_token_are_read() {
    let config = parse_env(
        &format!(
            "{MINIMAL}\n[sessions]\nmax_per_user = 3\nmax_per_client_ip = 0\non_store_error = \"allow\"\n[admin]\ntoken = {{ env = \"ADMIN\" }}"
        ),
        &[("JWT_SECRET", SECRET), ("ADMIN", ADMIN)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.sessions.max_per_user, Some(3));
    assert_eq!(config.sessions.max_per_client_ip, None);
    assert_eq!(config.sessions.on_store_error, OnStoreError::Allow);
    let token = config.admin.token.as_ref().expect("token");
    assert_eq!(token.expose(), ADMIN.as_bytes());
    let rendered = crate::config::render::render(&config);
    assert!(!rendered.contains(ADMIN), "{rendered}");
    assert!(
        rendered.contains("[admin]\ntoken = \"sha256:"),
        "{rendered}"
    );
}

#[test]
fn a_short_admin_token_is_refused() {
    let errors = errors_with(
        "[admin]\ntoken = { env = \"ADMIN\" }",
        &[("JWT_SECRET", SECRET), ("ADMIN", "short")],
    );
    assert_has(&errors, "admin.token", "at least 16");
}
