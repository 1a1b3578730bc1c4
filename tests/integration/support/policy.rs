//! `Policy`: the configuration of the staging incidents, as a team would write it: an
//! environment label, a primary issuer trusted everywhere, a staging-only test issuer with
//! its own secret, and the keyed E2E bypass with named keys. Rendered as TOML for both the
//! in-process proxy ([`Policy::start`]) and the binary ([`Policy::write`]).
//!
//! Also: the secrets it names, an independent SHA-256 fingerprint (so `check`/`explain`
//! output is compared with a value the product did not compute), and helpers for the
//! binary's output.

use std::net::SocketAddr;

use jsonwebtoken::Algorithm;
use sha2::{Digest, Sha256};

use super::tokens::{Claims, ISSUER, SECRET, SECRET_ENV};
use super::{TempDir, TestProxy};

/// The variable the staging bypass key was supposed to come from (the incident's name).
pub(crate) const BYPASS_ENV: &str = "E2E_OAUTH_SIMULATION_KEY";
/// The current bypass key (≥ 32 bytes, random-looking).
pub(crate) const BYPASS_KEY: &str = "e2e-ci-key-4f9c2a7d1b8e6035a1b2c3d4e5f60718";
/// A second key, for rotation.
pub(crate) const NEXT_BYPASS_ENV: &str = "E2E_KEY_NEXT";
pub(crate) const NEXT_BYPASS_KEY: &str = "e2e-next-key-9d8c7b6a5f4e3d2c1a2b3c4d5e6f7081";
/// The staging-only test issuer's secret and `iss`.
pub(crate) const STAGING_SECRET_ENV: &str = "STAGING_TEST_JWT_SECRET";
pub(crate) const STAGING_SECRET: &str = "staging-tests-secret-9a8b7c6d5e4f3a2b1c0d";
pub(crate) const STAGING_ISSUER: &str = "https://ci.wsgate.test";
/// The bypass's default test identity in every policy.
pub(crate) const DEFAULT_USER: &str = "e2e-test-user";

/// Every secret any policy names, set.
pub(crate) fn all_secrets() -> Vec<(&'static str, &'static str)> {
    vec![
        (SECRET_ENV, SECRET),
        (STAGING_SECRET_ENV, STAGING_SECRET),
        (BYPASS_ENV, BYPASS_KEY),
        (NEXT_BYPASS_ENV, NEXT_BYPASS_KEY),
    ]
}

/// [`all_secrets`] without the named variables.
pub(crate) fn secrets_without(names: &[&str]) -> Vec<(&'static str, &'static str)> {
    all_secrets()
        .into_iter()
        .filter(|(name, _)| !names.contains(name))
        .collect()
}

/// [`all_secrets`] with `name` set to `value` instead.
pub(crate) fn secrets_with(
    name: &'static str,
    value: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let mut env = secrets_without(&[name]);
    env.push((name, value));
    env
}

/// `sha256:` + the first 12 hex digits of SHA-256 over `material`, computed here rather
/// than by the product, as docs/e2e-testing.md defines the fingerprint.
pub(crate) fn fingerprint(material: &str) -> String {
    let digest = Sha256::digest(material.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{}", &hex[..12])
}

/// A token from the staging-only test issuer, valid for ten minutes.
pub(crate) fn staging_token(sub: &str) -> String {
    Claims::valid_for(sub)
        .set("iss", STAGING_ISSUER)
        .sign_with(Algorithm::HS256, STAGING_SECRET)
}

/// Routes of every policy, first match wins: `/ws` required, `/chat` required with
/// `scope` containing `chat`, `/public` none.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    environment: String,
    deny: &'static str,
    listen: String,
    admin_listen: String,
    upstream: String,
    token_sources: Vec<String>,
    allowed_origins: Vec<String>,
    primary_environments: Option<Vec<String>>,
    staging_issuer: bool,
    bypass_enabled: bool,
    /// `keys = [...]` as (name, secret as inline TOML); ignored when `bypass_shorthand`
    /// is set.
    bypass_keys: Vec<(String, String)>,
    /// `key = { env = ... }`.
    bypass_shorthand: Option<String>,
    allowed_environments: Option<Vec<String>>,
}

impl Policy {
    /// `environment = "staging"`, bypass enabled with key `ci` from [`BYPASS_ENV`], the
    /// staging-only issuer scoped to `["staging", "test"]`.
    pub(crate) fn staging() -> Policy {
        Policy {
            environment: "staging".to_owned(),
            deny: "http",
            listen: "127.0.0.1:0".to_owned(),
            admin_listen: "127.0.0.1:0".to_owned(),
            upstream: "ws://127.0.0.1:9".to_owned(),
            token_sources: vec!["header:authorization".to_owned()],
            allowed_origins: Vec::new(),
            primary_environments: None,
            staging_issuer: true,
            bypass_enabled: true,
            bypass_keys: vec![("ci".to_owned(), format!("{{ env = {BYPASS_ENV:?} }}"))],
            bypass_shorthand: None,
            allowed_environments: None,
        }
    }

    /// The same file with `environment = "production"` and the bypass switched off, as
    /// production's config would have it.
    pub(crate) fn production() -> Policy {
        Policy::staging()
            .environment("production")
            .bypass_enabled(false)
    }

    pub(crate) fn environment(mut self, label: &str) -> Policy {
        label.clone_into(&mut self.environment);
        self
    }

    /// `"http"` or `"close"`.
    pub(crate) fn deny(mut self, mode: &'static str) -> Policy {
        self.deny = mode;
        self
    }

    pub(crate) fn upstream(mut self, url: &str) -> Policy {
        url.clone_into(&mut self.upstream);
        self
    }

    pub(crate) fn listen(mut self, addr: SocketAddr) -> Policy {
        self.listen = addr.to_string();
        self
    }

    pub(crate) fn admin_listen(mut self, addr: SocketAddr) -> Policy {
        self.admin_listen = addr.to_string();
        self
    }

    pub(crate) fn bypass_enabled(mut self, enabled: bool) -> Policy {
        self.bypass_enabled = enabled;
        self
    }

    /// Named keys, each `(name, env var)`.
    pub(crate) fn bypass_keys(mut self, keys: &[(&str, &str)]) -> Policy {
        self.bypass_keys = keys
            .iter()
            .map(|(n, e)| ((*n).to_owned(), format!("{{ env = {e:?} }}")))
            .collect();
        self.bypass_shorthand = None;
        self
    }

    /// One key named `ci` read from `path` (`secret = { file = PATH }`).
    pub(crate) fn bypass_key_file(mut self, path: &std::path::Path) -> Policy {
        let path = path.display().to_string();
        self.bypass_keys = vec![("ci".to_owned(), format!("{{ file = {path:?} }}"))];
        self.bypass_shorthand = None;
        self
    }

    /// The `key = { env = VAR }` shorthand (one key named `default`).
    pub(crate) fn bypass_shorthand(mut self, env: &str) -> Policy {
        self.bypass_shorthand = Some(env.to_owned());
        self
    }

    pub(crate) fn allowed_environments(mut self, environments: &[&str]) -> Policy {
        self.allowed_environments = Some(environments.iter().map(|e| (*e).to_owned()).collect());
        self
    }

    /// Scopes the primary issuer too (it is unscoped by default).
    pub(crate) fn primary_environments(mut self, environments: &[&str]) -> Policy {
        self.primary_environments = Some(environments.iter().map(|e| (*e).to_owned()).collect());
        self
    }

    pub(crate) fn without_staging_issuer(mut self) -> Policy {
        self.staging_issuer = false;
        self
    }

    /// Adds `cookie:access_token` to the token sources, leaving `allowed_origins` as is.
    pub(crate) fn cookie_source(mut self) -> Policy {
        self.token_sources.push("cookie:access_token".to_owned());
        self
    }

    pub(crate) fn allowed_origins(mut self, origins: &[&str]) -> Policy {
        self.allowed_origins = origins.iter().map(|o| (*o).to_owned()).collect();
        self
    }

    pub(crate) fn toml(&self) -> String {
        let list = |items: &[String]| {
            items
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let primary_environments = self
            .primary_environments
            .as_ref()
            .map(|e| format!("environments = [{}]\n", list(e)))
            .unwrap_or_default();
        let staging_issuer = if self.staging_issuer {
            format!(
                r#"
[[auth.issuers]]
name = "staging-tests"
issuer = "{STAGING_ISSUER}"
audiences = ["chat"]
algorithms = ["HS256"]
secret = {{ env = "{STAGING_SECRET_ENV}" }}
environments = ["staging", "test"]
"#
            )
        } else {
            String::new()
        };
        let keys = match &self.bypass_shorthand {
            Some(env) => format!("key = {{ env = {env:?} }}"),
            None => format!(
                "keys = [{}]",
                self.bypass_keys
                    .iter()
                    .map(|(name, secret)| format!("{{ name = {name:?}, secret = {secret} }}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let allowed_environments = self
            .allowed_environments
            .as_ref()
            .map(|e| format!("allowed_environments = [{}]\n", list(e)))
            .unwrap_or_default();
        format!(
            r#"environment = "{environment}"

[server]
listen = "{listen}"
admin_listen = "{admin_listen}"
drain_timeout = "3s"

[upstream]
url = "{upstream}"
connect_timeout = "2s"

[auth]
deny = "{deny}"
token_sources = [{sources}]
allowed_origins = [{origins}]
leeway = "30s"

[[auth.issuers]]
name = "primary"
issuer = "{ISSUER}"
audiences = ["chat"]
algorithms = ["HS256"]
secret = {{ env = "{SECRET_ENV}" }}
{primary_environments}{staging_issuer}
[identity]
user_header = "X-Auth-User"
method_header = "X-Auth-Method"

[e2e_bypass]
enabled = {enabled}
header = "X-E2E-Bypass-Key"
{keys}
{allowed_environments}user_header = "X-E2E-User"
default_user = "{DEFAULT_USER}"

[[routes]]
path = "/ws"
auth = "required"

[[routes]]
path = "/chat"
auth = "required"
claims = {{ scope = "chat" }}

[[routes]]
path = "/public"
auth = "none"
"#,
            environment = self.environment,
            listen = self.listen,
            admin_listen = self.admin_listen,
            upstream = self.upstream,
            deny = self.deny,
            sources = list(&self.token_sources),
            origins = list(&self.allowed_origins),
            enabled = self.bypass_enabled,
        )
    }

    /// Writes the TOML to `name` in `dir`; returns the path as text for `--config`.
    pub(crate) fn write(&self, dir: &TempDir, name: &str) -> String {
        dir.write(name, &self.toml()).display().to_string()
    }

    /// `wsgate::run` in-process on this policy, with `env` as the process environment.
    pub(crate) async fn start_with(&self, env: &[(&str, &str)]) -> TestProxy {
        TestProxy::start(&self.toml(), env).await
    }

    /// `wsgate::run` in-process with every secret set.
    pub(crate) async fn start(&self) -> TestProxy {
        self.start_with(&all_secrets()).await
    }
}

/// Runs `wsgate ARGS` to completion (bounded) with exactly the secrets in `env` (every
/// variable a policy names is removed from the inherited environment first, so "unset"
/// means unset even on a CI runner that has them) and `stdin` as input, if any. Returns
/// the exit code, stdout and stderr.
pub(crate) async fn wsgate(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Exit {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(super::process::WSGATE);
    command
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (name, _) in all_secrets() {
        command.env_remove(name);
    }
    for name in ["PORT", "WSGATE_CONFIG", "WSGATE_LOG"] {
        command.env_remove(name);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("spawn wsgate");
    let mut input = child.stdin.take().expect("piped stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.expect("write stdin");
    }
    drop(input);
    let output = super::within("wsgate to exit", child.wait_with_output())
        .await
        .expect("run wsgate");
    Exit {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// How a finished `wsgate` command went.
#[derive(Debug, Clone)]
pub(crate) struct Exit {
    /// `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Exit {
    /// Both streams, for assertions that do not care which one a message went to.
    pub(crate) fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Fails the test (showing the output) unless the exit code is `code`.
    pub(crate) fn expect_code(&self, code: i32, what: &str) -> &Exit {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Fails the test unless the output (either stream) contains every one of `needles`.
    pub(crate) fn expect_mentions(&self, needles: &[&str]) -> &Exit {
        let output = self.output();
        for needle in needles {
            assert!(
                output.contains(needle),
                "output should mention {needle:?}:\n{output}"
            );
        }
        self
    }
}
