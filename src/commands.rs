//! The subcommands behind `main.rs`: `run`, `check`, `explain`, `mint`.
//!
//! Each returns the process exit code; nothing here panics on bad input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use jsonwebtoken::{EncodingKey, Header};

use crate::auth::trace::{Outcome, Step};
use crate::auth::{Gate, RequestView, describe_source};
use crate::config::{Config, ConfigErrors, KeySource, PRODUCTION, TokenSource};
use crate::metrics::Metrics;
use crate::server::{self, Listeners};

/// EX_CONFIG from sysexits.h: the configuration is unusable.
pub const EXIT_CONFIG: u8 = 78;
/// EX_SOFTWARE: the startup self-test failed (a broken build, not a bad config).
pub const EXIT_SOFTWARE: u8 = 70;

/// `wsgate run`: refuse a bad config before binding anything, then serve until SIGTERM.
pub fn run(path: &Path) -> ExitCode {
    crate::telemetry::init_logging();
    let gate = match load_gate(path) {
        Ok(gate) => gate,
        Err(errors) => {
            eprint!("{errors}");
            tracing::error!(config = %path.display(), problems = errors.errors.len(), "configuration refused; not starting");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if let Err(error) = crate::auth::jwt::self_test() {
        eprintln!("startup self-test failed: {error}");
        tracing::error!(%error, "startup self-test failed: the JWT crypto backend does not work");
        return ExitCode::from(EXIT_SOFTWARE);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let config = gate.config().clone();
        let shutdown = shutdown_signal();
        let listeners = match bind(&config).await {
            Ok(listeners) => listeners,
            Err(error) => {
                eprintln!("{error}");
                tracing::error!(%error, "cannot bind");
                return ExitCode::FAILURE;
            }
        };
        let registry = prometheus::Registry::new();
        let metrics = Arc::new(Metrics::new(&registry));
        let (reload_tx, reloads) = tokio::sync::mpsc::channel(1);
        tokio::spawn(watch_config(path.to_owned(), reload_tx, metrics.clone()));
        let result = server::serve(gate, listeners, registry, metrics, shutdown, reloads).await;
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(%error, "server failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// Config, keys and TLS material: everything that can be wrong with the files.
fn load_gate(path: &Path) -> Result<Gate, ConfigErrors> {
    let config = Config::load(path)?;
    let gate = Gate::new(Arc::new(config)).map_err(|mut errors| {
        errors.origin = path.display().to_string();
        errors
    })?;
    if let Some(files) = &gate.config().server.tls {
        if let Err(error) = server::tls_acceptor(files) {
            return Err(ConfigErrors {
                origin: path.display().to_string(),
                errors: vec![crate::config::ConfigError::new(
                    "server.tls",
                    error.to_string(),
                )],
            });
        }
    }
    Ok(gate)
}

async fn bind(config: &Config) -> std::io::Result<Listeners> {
    let proxy = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("server.listen {}: {e}", config.server.listen),
            )
        })?;
    let admin = tokio::net::TcpListener::bind(config.server.admin_listen)
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("server.admin_listen {}: {e}", config.server.admin_listen),
            )
        })?;
    tracing::info!(
        listen = %proxy.local_addr()?,
        admin_listen = %admin.local_addr()?,
        "listening"
    );
    Ok(Listeners { proxy, admin })
}

/// How often the config file is compared with what was loaded (catches edits and
/// Kubernetes' ConfigMap symlink swap, which inotify on the file itself misses).
const CONFIG_POLL: Duration = Duration::from_secs(2);

/// Reloads on SIGHUP and whenever the file's content changes. An invalid new file keeps
/// the old policy; the log line and `wsgate_config_reloads_total{result="error"}` say why.
async fn watch_config(
    path: PathBuf,
    reloads: tokio::sync::mpsc::Sender<Gate>,
    metrics: Arc<Metrics>,
) {
    let mut last = std::fs::read(&path).ok();
    let mut tick = tokio::time::interval(CONFIG_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let forced = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
        };
        #[cfg(not(unix))]
        let forced = {
            tick.tick().await;
            false
        };
        let current = std::fs::read(&path).ok();
        if !forced && current == last {
            continue;
        }
        last = current;
        tracing::info!(config = %path.display(), signal = forced, "reloading configuration");
        match load_gate(&path) {
            Ok(gate) => {
                if reloads.send(gate).await.is_err() {
                    return;
                }
            }
            Err(errors) => {
                let problems: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
                crate::telemetry::record_config_reload(
                    &metrics,
                    crate::metrics::ReloadResult::Error,
                    Some(&problems.join("; ")),
                );
            }
        }
    }
}

/// Registers SIGTERM/SIGINT handlers now (so a signal that arrives right after the
/// "listening" line is never lost to the default action) and returns a future that
/// completes on the first one; a second one exits at once.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let mut signals = Signals::register();
    async move {
        signals.recv().await;
        tracing::info!("shutdown signal received; a second signal exits immediately");
        tokio::spawn(async move {
            signals.recv().await;
            tracing::warn!("second shutdown signal: exiting without waiting for the drain");
            std::process::exit(1);
        });
    }
}

struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn register() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot install SIGTERM/SIGINT handlers");
                    None
                }
            };
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        match &mut self.streams {
            Some((term, int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            // Without handlers we cannot drain on request: never complete.
            None => std::future::pending::<()>().await,
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `wsgate check`: exit 0 and print the effective policy, or exit 1 listing every problem.
pub fn check(path: &Path) -> ExitCode {
    let gate = match load_gate(path) {
        Ok(gate) => gate,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let config = gate.config().clone();
    print!("{}", crate::config::render::render(&config));
    println!();
    println!("# verification keys");
    for (issuer, keys) in config.auth.issuers.iter().zip(gate.keys()) {
        if let (KeySource::Remote(remote), true) = (&issuer.keys, issuer.enabled) {
            println!(
                "# issuer {:?}: keys are fetched from {} when serving (check does not contact it)",
                issuer.name,
                remote.location.url()
            );
        }
        for key in &keys.keys {
            println!(
                "# issuer {:?}: {:?} kid={} {} ({})",
                issuer.name,
                key.algorithm,
                key.kid.as_deref().unwrap_or("-"),
                key.fingerprint,
                key.description
            );
        }
        for warning in &keys.warnings {
            println!("# warning: issuer {:?}: {warning}", issuer.name);
        }
    }
    println!("# configuration OK: {}", path.display());
    ExitCode::SUCCESS
}

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// Config file (TOML): the same one the proxy runs with.
    #[arg(long, env = "WSGATE_CONFIG")]
    pub config: PathBuf,
    /// The token; `-` reads it from stdin. Placed in the first configured token source.
    #[arg(long)]
    pub token: Option<String>,
    /// Extra request header, `Name: value` (repeatable), e.g. the bypass header.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Request path (default: the first route's path).
    #[arg(long)]
    pub path: Option<String>,
    /// Origin header.
    #[arg(long)]
    pub origin: Option<String>,
    /// Judge at this time: RFC 3339 (`2026-01-02T03:04:05Z`) or unix seconds.
    #[arg(long)]
    pub at: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// `wsgate explain`: exit 0 allowed, 1 denied, 2 usage or config error.
pub fn explain(args: &ExplainArgs) -> ExitCode {
    let usage = |message: String| {
        eprintln!("wsgate explain: {message}");
        ExitCode::from(2)
    };
    let gate = match load_gate(&args.config) {
        Ok(gate) => gate,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    let config = gate.config().clone();
    let now = match args.at.as_deref().map(parse_time).transpose() {
        Ok(at) => at.unwrap_or_else(crate::proxy::unix_now),
        Err(message) => return usage(message),
    };
    let token = match args.token.as_deref() {
        Some("-") => {
            let mut text = String::new();
            if let Err(error) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
                return usage(format!("cannot read the token from stdin: {error}"));
            }
            Some(text.trim().to_owned())
        }
        Some(token) => Some(token.trim().to_owned()),
        None => None,
    };
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::HOST,
        HeaderValue::from_static("wsgate.explain"),
    );
    for line in &args.headers {
        let Some((name, value)) = line.split_once(':') else {
            return usage(format!("--header {line:?} is not `Name: value`"));
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            return usage(format!("--header {line:?} is not a valid header"));
        };
        headers.append(name, value);
    }
    if let Some(origin) = &args.origin {
        match HeaderValue::from_str(origin) {
            Ok(value) => {
                headers.insert(http::header::ORIGIN, value);
            }
            Err(_) => return usage("--origin is not a valid header value".into()),
        }
    }
    let mut query = None;
    if let Some(token) = &token {
        let source = config.auth.token_sources.first();
        let placed = match source {
            Some(TokenSource::Header(name)) if name == http::header::AUTHORIZATION => {
                HeaderValue::from_str(&format!("Bearer {token}"))
                    .map(|v| headers.insert(name.clone(), v))
            }
            Some(TokenSource::Header(name)) => {
                HeaderValue::from_str(token).map(|v| headers.insert(name.clone(), v))
            }
            Some(TokenSource::Protocol(marker)) => {
                HeaderValue::from_str(&format!("{marker}, {token}"))
                    .map(|v| headers.insert(http::header::SEC_WEBSOCKET_PROTOCOL, v))
            }
            Some(TokenSource::Cookie(name)) => HeaderValue::from_str(&format!("{name}={token}"))
                .map(|v| headers.insert(http::header::COOKIE, v)),
            Some(TokenSource::Query(name)) => {
                query = Some(
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair(name, token)
                        .finish(),
                );
                Ok(None)
            }
            None => Ok(None),
        };
        if placed.is_err() {
            return usage("the token contains bytes that cannot travel in a header".into());
        }
    }
    let path = args
        .path
        .clone()
        .or_else(|| config.routes.first().map(|r| r.path.clone()))
        .unwrap_or_else(|| "/".into());
    let view = RequestView {
        path: &path,
        query: query.as_deref(),
        headers: &headers,
    };
    let mut steps: Vec<Step> = Vec::new();
    steps.push(Step {
        name: "clock",
        outcome: Outcome::Info,
        detail: format!(
            "judging at {now} ({}), leeway {}s, environment {:?}",
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(now)),
            config.auth.leeway.as_secs(),
            config.environment
        ),
    });
    if let Some(source) = config.auth.token_sources.first() {
        if token.is_some() {
            steps.push(Step {
                name: "input",
                outcome: Outcome::Info,
                detail: format!("token placed in {}", describe_source(source)),
            });
        }
    }
    // The decision may fetch a remote key set, which needs a runtime.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let verdict = runtime.block_on(gate.decide(&view, now, &mut steps));
    print_explanation(&steps, &verdict, &config, args.json);
    match verdict {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn print_explanation(
    steps: &[Step],
    verdict: &Result<crate::auth::Grant, crate::auth::Denial>,
    config: &Config,
    json: bool,
) {
    if json {
        let steps: Vec<serde_json::Value> = steps
            .iter()
            .map(|s| {
                let (outcome, reason) = match &s.outcome {
                    Outcome::Pass => ("pass", None),
                    Outcome::Info => ("info", None),
                    Outcome::Fail(r) => ("fail", Some(r.as_str())),
                };
                serde_json::json!({"step": s.name, "outcome": outcome, "reason": reason, "detail": s.detail})
            })
            .collect();
        let verdict = match verdict {
            Ok(grant) => serde_json::json!({
                "allowed": true,
                "method": grant.method.header_value(),
                "user": grant.user,
                "route": config.routes[grant.route].path,
                "issuer": grant.issuer.map(|i| config.auth.issuers[i].name.clone()),
            }),
            Err(denial) => serde_json::json!({
                "allowed": false,
                "reason": denial.reason.as_str(),
                "message": denial.reason.message(),
                "status": denial.reason.status().as_u16(),
                "close_code": denial.reason.close_code(),
                "route": config.routes[denial.route].path,
            }),
        };
        println!(
            "{}",
            serde_json::json!({"steps": steps, "verdict": verdict})
        );
        return;
    }
    for step in steps {
        let mark = match &step.outcome {
            Outcome::Pass => "ok  ".to_owned(),
            Outcome::Info => "    ".to_owned(),
            Outcome::Fail(_) => "FAIL".to_owned(),
        };
        println!("{mark} {:<13} {}", step.name, step.detail);
    }
    match verdict {
        Ok(grant) => println!(
            "verdict: ALLOWED ({}, user {})",
            grant.method.header_value(),
            grant.user.as_deref().unwrap_or("-")
        ),
        Err(denial) => println!(
            "verdict: DENIED {} — {} (HTTP {}, close {})",
            denial.reason.as_str(),
            denial.reason.message(),
            denial.reason.status().as_u16(),
            denial.reason.close_code()
        ),
    }
}

fn parse_time(text: &str) -> Result<u64, String> {
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .ok_or_else(|| format!("--at {text:?} is neither RFC 3339 nor unix seconds"))
}

#[derive(clap::Args)]
pub struct MintArgs {
    /// Config file (TOML).
    #[arg(long, env = "WSGATE_CONFIG")]
    pub config: PathBuf,
    /// The configured issuer name (`[[auth.issuers]] name`).
    #[arg(long)]
    pub issuer: String,
    #[arg(long)]
    pub sub: String,
    /// Lifetime, e.g. `15m`, `1h`.
    #[arg(long, default_value = "15m")]
    pub ttl: String,
    /// Audience (default: the issuer's first configured audience).
    #[arg(long)]
    pub aud: Option<String>,
    /// Extra claim `name=value`; a JSON value is used as JSON, anything else as a string.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    pub claims: Vec<String>,
    /// PEM private key for RS*/PS*/ES*/EdDSA issuers.
    #[arg(long)]
    pub private_key: Option<PathBuf>,
}

/// `wsgate mint`: prints a signed test token; refused when `environment = "production"`.
pub fn mint(args: &MintArgs) -> ExitCode {
    let fail = |message: String| {
        eprintln!("wsgate mint: {message}");
        ExitCode::from(2)
    };
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    if config.environment == PRODUCTION {
        eprintln!(
            "wsgate mint: refused: environment is \"production\"; mint signs test tokens only"
        );
        return ExitCode::FAILURE;
    }
    let Some(issuer) = config.auth.issuers.iter().find(|i| i.name == args.issuer) else {
        let names: Vec<&str> = config
            .auth
            .issuers
            .iter()
            .map(|i| i.name.as_str())
            .collect();
        return fail(format!(
            "no issuer named {:?}; configured: {names:?}",
            args.issuer
        ));
    };
    if !issuer.enabled {
        // Its secret was never read here: signing would use an empty key, and the proxy
        // would answer issuer_unknown anyway.
        return fail(format!(
            "issuer {:?} is not enabled in environment {:?} (environments {:?}); its tokens would get issuer_unknown here",
            issuer.name, config.environment, issuer.environments
        ));
    }
    let ttl = match humantime::parse_duration(&args.ttl) {
        Ok(ttl) => ttl,
        Err(error) => return fail(format!("--ttl {:?}: {error}", args.ttl)),
    };
    let Some(&algorithm) = issuer.algorithms.first() else {
        return fail(format!("issuer {:?} has no algorithms", issuer.name));
    };
    let (key, kid) = match (&issuer.keys, &args.private_key) {
        (KeySource::Secret { secret, kid }, _) => {
            (EncodingKey::from_secret(secret.expose()), kid.clone())
        }
        (KeySource::PublicKeyFile { kid, .. }, Some(path)) => match private_key(path, algorithm) {
            Ok(key) => (key, kid.clone()),
            Err(message) => return fail(message),
        },
        (KeySource::JwksFile { .. } | KeySource::Remote(_), Some(path)) => {
            match private_key(path, algorithm) {
                Ok(key) => (key, None),
                Err(message) => return fail(message),
            }
        }
        (_, None) => {
            return fail(format!(
                "issuer {:?} verifies with a public key; pass --private-key FILE to sign",
                issuer.name
            ));
        }
    };
    let now = crate::proxy::unix_now();
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), issuer.issuer.clone().into());
    claims.insert("sub".into(), args.sub.clone().into());
    if let Some(aud) = args
        .aud
        .clone()
        .or_else(|| issuer.audiences.first().cloned())
    {
        claims.insert("aud".into(), aud.into());
    }
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), (now + ttl.as_secs()).into());
    for claim in &args.claims {
        let Some((name, value)) = claim.split_once('=') else {
            return fail(format!("--claim {claim:?} is not name=value"));
        };
        let value = serde_json::from_str(value)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_owned()));
        claims.insert(name.to_owned(), value);
    }
    let mut header = Header::new(algorithm);
    header.kid = kid;
    if let Some(typ) = &issuer.typ {
        header.typ = Some(typ.clone());
    }
    match jsonwebtoken::encode(&header, &claims, &key) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(format!("signing failed: {error}")),
    }
}

fn private_key(path: &Path, algorithm: jsonwebtoken::Algorithm) -> Result<EncodingKey, String> {
    use jsonwebtoken::{Algorithm, AlgorithmFamily};
    let pem = std::fs::read(path).map_err(|e| format!("--private-key {}: {e}", path.display()))?;
    let family = match algorithm {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => AlgorithmFamily::Rsa,
        Algorithm::ES256 | Algorithm::ES384 => AlgorithmFamily::Ec,
        Algorithm::EdDSA => AlgorithmFamily::Ed,
        _ => AlgorithmFamily::Hmac,
    };
    let key = match family {
        AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(&pem),
        AlgorithmFamily::Ec => EncodingKey::from_ec_pem(&pem),
        AlgorithmFamily::Ed => EncodingKey::from_ed_pem(&pem),
        AlgorithmFamily::Hmac => {
            return Err("an HMAC issuer signs with its configured secret".into());
        }
    };
    key.map_err(|e| {
        format!(
            "--private-key {}: not a {family:?} private key PEM: {e}",
            path.display()
        )
    })
}
