//! Parsing from `&str` with a map for the environment; files only in per-test temp dirs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::config::{
    Config, ConfigError, ConfigErrors, DenyMode, KeySource, RemoteLocation, RemoteSource,
    RouteAuth, RouteConfig, SecretSource, SessionExpiry, TokenSource,
};

mod assertion;
mod auth;
mod bypass;
mod defaults;
mod errors;
mod files;
mod identity;
mod issuers;
mod remote_keys;
mod routes;
mod server;
mod sessions;

/// 43 bytes of varied characters: passes every strength rule.
const SECRET: &str = "k3Jx9vQ2mW7pL5tR8nB4cF6hD1gS0aZeYuIoP-_.~Xq";
const KEY: &str = "e2e-Vb7Nq3Lk9Xw2Jr5Tz8Mc4Hf6Gd1Sa0PyQu";

const MINIMAL: &str = r#"
environment = "staging"
[upstream]
url = "ws://127.0.0.1:8000"
[[auth.issuers]]
name = "primary"
issuer = "https://auth.example.com"
audiences = ["chat"]
algorithms = ["HS256"]
secret = { env = "JWT_SECRET" }
"#;

fn parse_env(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
    parse_in(text, vars, Path::new("/nonexistent-base"))
}

fn parse_in(text: &str, vars: &[(&str, &str)], base: &Path) -> Result<Config, ConfigErrors> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Config::parse(text, "test.toml", &env, base)
}

fn parse(text: &str) -> Config {
    match parse_env(text, &[("JWT_SECRET", SECRET)]) {
        Ok(config) => config,
        Err(errors) => panic!("{errors}"),
    }
}

/// `MINIMAL` with `extra` appended; the errors, which must exist.
fn errors_with(extra: &str, vars: &[(&str, &str)]) -> Vec<ConfigError> {
    match parse_env(&format!("{MINIMAL}\n{extra}"), vars) {
        Ok(_) => panic!("expected errors for:\n{extra}"),
        Err(errors) => errors.errors,
    }
}

fn problems(extra: &str) -> Vec<ConfigError> {
    errors_with(extra, &[("JWT_SECRET", SECRET)])
}

#[track_caller]
fn assert_has(errors: &[ConfigError], key: &str, needle: &str) {
    assert!(
        errors
            .iter()
            .any(|e| e.key == key && e.message.contains(needle)),
        "no error at {key} containing {needle:?}; got:\n{errors:#?}"
    );
}

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wsgate-config-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn issuer_errors(fields: &str, vars: &[(&str, &str)]) -> Vec<ConfigError> {
    let text = format!(
        "environment = \"staging\"\n[upstream]\nurl = \"ws://u\"\n[[auth.issuers]]\nname = \"i\"\nissuer = \"https://i\"\naudiences = [\"a\"]\n{fields}"
    );
    match parse_env(&text, vars) {
        Ok(_) => panic!("expected errors for {fields}"),
        Err(errors) => errors.errors,
    }
}

const BYPASS: &str =
    "[e2e_bypass]\nenabled = true\nkeys = [{ name = \"ci\", secret = { env = \"E2E_KEY\" } }]";
