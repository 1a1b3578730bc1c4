//! Parsing from `&str` with a map for the environment; files only in per-test temp dirs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jsonwebtoken::Algorithm;

use crate::config::{
    Config, ConfigError, ConfigErrors, DenyMode, KeySource, RemoteLocation, RemoteSource,
    RouteAuth, RouteConfig, SecretSource, SessionExpiry, TokenSource,
};

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

// ---- defaults and the example -----------------------------------------------------------

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

// ---- file-level errors ------------------------------------------------------------------

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

// ---- server -----------------------------------------------------------------------------

#[test]
fn port_env_var_overrides_the_listen_port() {
    let config = parse_env(MINIMAL, &[("JWT_SECRET", SECRET), ("PORT", "3000")]).unwrap();
    assert_eq!(config.server.listen, "0.0.0.0:3000".parse().unwrap());
    assert_eq!(config.server.admin_listen.port(), 9090);

    let errors = parse_env(MINIMAL, &[("JWT_SECRET", SECRET), ("PORT", "eighty")])
        .unwrap_err()
        .errors;
    assert_has(&errors, "server.listen", "env var PORT");
}

#[test]
fn listen_and_admin_listen_must_differ() {
    let errors = problems("[server]\nlisten = \"0.0.0.0:8080\"\nadmin_listen = \"127.0.0.1:8080\"");
    assert_has(&errors, "server.admin_listen", "overlaps server.listen");
    // PORT moving listen onto the admin port is caught too.
    let errors = parse_env(MINIMAL, &[("JWT_SECRET", SECRET), ("PORT", "9090")])
        .unwrap_err()
        .errors;
    assert_has(&errors, "server.admin_listen", "overlaps");
}

#[test]
fn durations_parse_and_unlimited_is_none() {
    let config = parse(&format!(
        "{MINIMAL}\n[server]\nmax_session_duration = \"none\"\nidle_timeout = \"0s\"\ndrain_timeout = \"1m 30s\""
    ));
    assert_eq!(config.server.max_session_duration, None);
    assert_eq!(config.server.idle_timeout, None);
    assert_eq!(config.server.drain_timeout, Duration::from_secs(90));

    let errors = problems("[server]\nidle_timeout = \"ten minutes\"\nhandshake_timeout = \"0s\"");
    assert_has(&errors, "server.idle_timeout", "not a duration");
    assert_has(&errors, "server.handshake_timeout", "longer than zero");
}

#[test]
fn sizes_are_range_checked() {
    let errors = problems(
        "[server]\nmax_connections = 0\nmax_frame_bytes = 2000000\nmax_message_bytes = 1000000",
    );
    assert_has(&errors, "server.max_connections", "out of range");
    assert_has(
        &errors,
        "server.max_frame_bytes",
        "exceeds server.max_message_bytes",
    );
    let errors = problems("[auth]\nmax_token_bytes = 100");
    assert_has(&errors, "auth.max_token_bytes", "256..=65536");
}

#[test]
fn tls_files_must_be_readable() {
    let errors = problems("[server.tls]\ncert_file = \"cert.pem\"");
    assert_has(
        &errors,
        "server.tls.cert_file",
        "/nonexistent-base/cert.pem",
    );
    assert_has(&errors, "server.tls.key_file", "is required");

    let dir = TempDir::new();
    dir.write("cert.pem", b"cert");
    dir.write("key.pem", b"key");
    let text = format!("{MINIMAL}\n[server.tls]\ncert_file = \"cert.pem\"\nkey_file = \"key.pem\"");
    let config = parse_in(&text, &[("JWT_SECRET", SECRET)], &dir.0).unwrap();
    assert_eq!(config.server.tls.unwrap().key_file, dir.0.join("key.pem"));
}

// ---- upstream ---------------------------------------------------------------------------

#[test]
fn upstream_url_is_split_into_parts() {
    let text = MINIMAL.replace("ws://127.0.0.1:8000", "wss://App.internal/api/");
    let upstream = parse(&text).upstream;
    assert!(upstream.tls);
    assert_eq!(
        (upstream.host.as_str(), upstream.port),
        ("app.internal", 443)
    );
    assert_eq!(upstream.base_path, "/api");
}

#[test]
fn upstream_url_problems_are_named() {
    for (url, needle) in [
        ("ftp://x", "scheme \"ftp\""),
        ("ws://user:pw@x", "credentials"),
        ("ws://x/?a=1", "query"),
        ("not a url", "not a URL"),
    ] {
        let text = MINIMAL.replace("ws://127.0.0.1:8000", url);
        let errors = parse_env(&text, &[("JWT_SECRET", SECRET)])
            .unwrap_err()
            .errors;
        assert_has(&errors, "upstream.url", needle);
    }
    let text = MINIMAL.replace("[upstream]\nurl = \"ws://127.0.0.1:8000\"", "");
    let errors = parse_env(&text, &[("JWT_SECRET", SECRET)])
        .unwrap_err()
        .errors;
    assert_has(&errors, "upstream.url", "is required");
}

// ---- auth: sources and origins ----------------------------------------------------------

#[test]
fn token_sources_parse_and_reject_duplicates() {
    let config = parse(&format!(
        "{MINIMAL}\n[auth]\ntoken_sources = [\"header:X-Token\", \"protocol:bearer\", \"query:access_token\"]"
    ));
    assert_eq!(
        config.auth.token_sources,
        [
            TokenSource::Header(http::HeaderName::from_static("x-token")),
            TokenSource::Protocol("bearer".into()),
            TokenSource::Query("access_token".into()),
        ]
    );
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("query:access_token"))
    );

    let errors = problems(
        "[auth]\ntoken_sources = [\"header:Authorization\", \"header:authorization\", \"bearer\", \"form:x\", \"protocol:a b\", \"header:cookie\", \"header:Upgrade\"]",
    );
    assert_has(&errors, "auth.token_sources[1]", "listed twice");
    assert_has(&errors, "auth.token_sources[2]", "has no kind");
    assert_has(&errors, "auth.token_sources[3]", "unknown kind");
    assert_has(&errors, "auth.token_sources[4]", "HTTP tokens");
    assert_has(&errors, "auth.token_sources[5]", "use cookie:NAME");
    assert_has(&errors, "auth.token_sources[6]", "cannot carry a token");
    assert_has(
        &problems("[auth]\ntoken_sources = []"),
        "auth.token_sources",
        "is empty",
    );
}

#[test]
fn origins_are_normalised() {
    let config = parse(&format!(
        "{MINIMAL}\n[auth]\nallowed_origins = [\"HTTPS://App.Example.com:443\", \"http://localhost:3000/\", \"https://app.example.com\"]"
    ));
    assert_eq!(
        config.auth.allowed_origins,
        ["https://app.example.com", "http://localhost:3000"]
    );
}

#[test]
fn wildcard_null_and_path_origins_are_refused() {
    let errors = problems(
        "[auth]\nallowed_origins = [\"*\", \"null\", \"https://a.example/app\", \"nohost\"]",
    );
    assert_has(&errors, "auth.allowed_origins[0]", "every site");
    assert_has(&errors, "auth.allowed_origins[1]", "sandboxed");
    assert_has(&errors, "auth.allowed_origins[2]", "not a bare origin");
    assert_has(&errors, "auth.allowed_origins[3]", "not an origin");
}

#[test]
fn cookie_tokens_need_allowed_origins() {
    let errors = problems("[auth]\ntoken_sources = [\"cookie:session\"]");
    assert_has(&errors, "auth.allowed_origins", "hijacking");
    parse(&format!(
        "{MINIMAL}\n[auth]\ntoken_sources = [\"cookie:session\"]\nallowed_origins = [\"https://app.example.com\"]"
    ));
}

#[test]
fn leeway_and_enums_are_checked() {
    let errors =
        problems("[auth]\nleeway = \"10m\"\nsession_expiry = \"drop\"\nmax_lifetime = \"0s\"");
    assert_has(&errors, "auth.leeway", "longer than 5m");
    assert_has(&errors, "auth.session_expiry", "\"drop\"");
    assert_has(&errors, "auth.max_lifetime", "longer than zero");
    let config = parse(&format!(
        "{MINIMAL}\n[auth]\ndeny = \"close\"\nsession_expiry = \"keep\"\nmax_lifetime = \"1h\""
    ));
    assert_eq!(config.auth.deny, DenyMode::Close);
    assert_eq!(config.auth.session_expiry, SessionExpiry::Keep);
    assert_eq!(config.auth.max_lifetime, Some(Duration::from_secs(3600)));
}

// ---- issuers ----------------------------------------------------------------------------

fn issuer_errors(fields: &str, vars: &[(&str, &str)]) -> Vec<ConfigError> {
    let text = format!(
        "environment = \"staging\"\n[upstream]\nurl = \"ws://u\"\n[[auth.issuers]]\nname = \"i\"\nissuer = \"https://i\"\naudiences = [\"a\"]\n{fields}"
    );
    match parse_env(&text, vars) {
        Ok(_) => panic!("expected errors for {fields}"),
        Err(errors) => errors.errors,
    }
}

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

// ---- remote key sets ----------------------------------------------------------------------

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

#[test]
fn disabled_remote_issuer_is_still_shape_checked() {
    let config = parse_env(
        "environment = \"production\"\n[upstream]\nurl = \"ws://u\"\n\
         [[auth.issuers]]\nname = \"p\"\nissuer = \"https://p\"\naudiences = [\"a\"]\nalgorithms = [\"HS256\"]\nsecret = { env = \"S\" }\n\
         [[auth.issuers]]\nname = \"t\"\nissuer = \"https://t\"\naudiences = [\"a\"]\nalgorithms = [\"ES256\"]\n\
         jwks_url = \"https://t/jwks\"\nenvironments = [\"staging\"]",
        &[("S", SECRET)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!config.auth.issuers[1].enabled);
    assert!(matches!(config.auth.issuers[1].keys, KeySource::Remote(_)));
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

// ---- identity ---------------------------------------------------------------------------

#[test]
fn identity_headers_keep_order_and_refuse_reserved_names() {
    let config = parse(&format!(
        "{MINIMAL}\n[identity.claim_headers]\n\"X-Auth-Email\" = \"email\"\n\"X-Auth-Tenant\" = \"tid\""
    ));
    let names: Vec<_> = config
        .identity
        .claim_headers
        .iter()
        .map(|(h, c)| (h.as_str(), c.as_str()))
        .collect();
    assert_eq!(names, [("x-auth-email", "email"), ("x-auth-tenant", "tid")]);

    let errors = problems(
        "[identity]\nuser_header = \"X-Forwarded-User\"\nmethod_header = \"Sec-WebSocket-Key\"\n[identity.claim_headers]\n\"Authorization\" = \"sub\"\n\"Bad Header\" = \"x\"\n\"X_Forwarded_Host\" = \"h\"",
    );
    assert_has(&errors, "identity.user_header", "reserved");
    assert_has(&errors, "identity.method_header", "reserved");
    assert_has(
        &errors,
        "identity.claim_headers.\"Authorization\"",
        "reserved",
    );
    assert_has(
        &errors,
        "identity.claim_headers.\"Bad Header\"",
        "not a valid HTTP header name",
    );
    assert_has(
        &errors,
        "identity.claim_headers.\"X_Forwarded_Host\"",
        "reserved",
    );
}

#[test]
fn identity_headers_collide_after_alias_folding() {
    let errors = problems(
        "[identity.claim_headers]\n\"x_auth_user\" = \"email\"\n\"X.Auth.Method\" = \"amr\"",
    );
    assert_has(
        &errors,
        "identity.claim_headers.\"x_auth_user\"",
        "identity.user_header",
    );
    assert_has(
        &errors,
        "identity.claim_headers.\"X.Auth.Method\"",
        "identity.method_header",
    );
}

#[test]
fn inbound_headers_cannot_be_identity_headers() {
    let errors = problems(
        "[e2e_bypass]\nuser_header = \"X-Auth-User\"\n[auth]\ntoken_sources = [\"header:X_Auth_Method\"]",
    );
    assert_has(&errors, "e2e_bypass.user_header", "identity.user_header");
    assert_has(&errors, "auth.token_sources[0]", "identity.method_header");
}

// ---- E2E bypass -------------------------------------------------------------------------

const BYPASS: &str =
    "[e2e_bypass]\nenabled = true\nkeys = [{ name = \"ci\", secret = { env = \"E2E_KEY\" } }]";

#[test]
fn bypass_loads_its_keys_when_enabled() {
    let text = format!("{MINIMAL}\n{BYPASS}");
    let config = parse_env(&text, &[("JWT_SECRET", SECRET), ("E2E_KEY", KEY)]).unwrap();
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
    let errors = parse_env(&text, &[("JWT_SECRET", SECRET), ("E2E_KEY", KEY)])
        .unwrap_err()
        .errors;
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
    let errors = parse_env(&text, &[("JWT_SECRET", SECRET), ("E2E_KEY", KEY)])
        .unwrap_err()
        .errors;
    assert_has(
        &errors,
        "e2e_bypass.enabled",
        "not in e2e_bypass.allowed_environments",
    );
}

#[test]
fn bypass_key_shapes() {
    let key = "[e2e_bypass]\nenabled = true\nkey = { env = \"E2E_KEY\" }";
    let config = parse_env(
        &format!("{MINIMAL}\n{key}"),
        &[("JWT_SECRET", SECRET), ("E2E_KEY", KEY)],
    )
    .unwrap();
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

// ---- routes -----------------------------------------------------------------------------

#[test]
fn implicit_catch_all_route_is_appended() {
    let config = parse(&format!(
        "{MINIMAL}\n[[routes]]\npath = \"/ws\"\nauth = \"optional\"\nclaims = {{ scope = \"chat\" }}"
    ));
    assert_eq!(config.routes.len(), 2);
    assert_eq!(config.routes[0].auth, RouteAuth::Optional);
    assert_eq!(
        config.routes[0].claims,
        [("scope".to_owned(), "chat".to_owned())]
    );
    let implicit = &config.routes[1];
    assert_eq!(
        (implicit.path.as_str(), implicit.auth, implicit.implicit),
        ("/", RouteAuth::Required, true)
    );
    assert_eq!(config.route("/api/x").unwrap().path, "/");

    let config = parse(&format!(
        "{MINIMAL}\n[[routes]]\npath = \"/ws\"\n[[routes]]\npath = \"/\"\nauth = \"none\""
    ));
    assert_eq!(config.routes.len(), 2);
    assert!(!config.routes[1].implicit);
}

#[test]
fn route_problems_are_named() {
    let errors = problems(
        "[[routes]]\npath = \"/ws\"\n[[routes]]\npath = \"/ws\"\n[[routes]]\npath = \"/ws/chat\"\n[[routes]]\npath = \"api\"\n[[routes]]\npath = \"/x\"\nauth = \"maybe\"\n[[routes]]\npath = \"/y\"\nauth = \"none\"\nclaims = { a = \"b\" }\n[[routes]]\nauth = \"none\"",
    );
    assert_has(&errors, "routes[1].path", "duplicates routes[0]");
    assert_has(&errors, "routes[2].path", "never reached");
    assert_has(&errors, "routes[3].path", "must start with \"/\"");
    assert_has(&errors, "routes[4].auth", "\"maybe\"");
    assert_has(&errors, "routes[5].claims", "auth = \"none\"");
    assert_has(&errors, "routes[6].path", "is required");
}

#[test]
fn routes_needing_auth_need_an_issuer_or_the_bypass() {
    let no_issuer = "environment = \"test\"\n[upstream]\nurl = \"ws://u\"\n[[routes]]\npath = \"/ws\"\n[[routes]]\npath = \"/open\"\nauth = \"none\"";
    let errors = parse_env(no_issuer, &[]).unwrap_err().errors;
    assert_has(
        &errors,
        "routes[0].auth",
        "route \"/ws\" needs authentication",
    );
    assert_has(&errors, "routes", "implicit catch-all");
    assert!(!errors.iter().any(|e| e.key == "routes[1].auth"));

    let with_bypass = format!("{no_issuer}\n{BYPASS}");
    parse_env(&with_bypass, &[("E2E_KEY", KEY)]).unwrap();
}

#[test]
fn route_matching_respects_segments() {
    let route = |path: &str| RouteConfig {
        path: path.to_owned(),
        auth: RouteAuth::Required,
        claims: Vec::new(),
        implicit: false,
    };
    let ws = route("/ws");
    assert!(ws.matches("/ws"));
    assert!(ws.matches("/ws/room/1"));
    assert!(!ws.matches("/wsx"));
    assert!(!ws.matches("/w"));
    assert!(!ws.matches("/api/ws"));
    let dir = route("/api/");
    assert!(dir.matches("/api/x"));
    assert!(!dir.matches("/api"));
    assert!(route("/").matches("/anything"));

    let config = parse(&format!(
        "{MINIMAL}\n[[routes]]\npath = \"/ws\"\nauth = \"none\""
    ));
    assert_eq!(config.route("/ws/1").unwrap().auth, RouteAuth::None);
    assert_eq!(config.route("/wsx").unwrap().auth, RouteAuth::Required);
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
