//! `wsgate explain`: the proxy's own decision code on a token given on the command line,
//! every step printed. Exit 0 allowed, 1 denied, 2 usage or config error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::auth::trace::{Outcome, Step};
use crate::auth::{RequestView, describe_source};
use crate::config::{Config, TokenSource};
use crate::net::tls::ClientCertificate;

use super::load_gate;

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
    /// Client certificate chain (PEM, leaf first), judged against server.tls.client_ca_file
    /// as the TLS listener would (at the current time).
    #[arg(long, value_name = "FILE")]
    pub client_cert: Option<PathBuf>,
    /// Judge at this time: RFC 3339 (`2026-01-02T03:04:05Z`) or unix seconds.
    #[arg(long)]
    pub at: Option<String>,
    /// Explain a session refresh instead of a handshake: the session is held by this
    /// configured issuer name and subject (`primary:alice`); the token is the new one.
    #[arg(long, value_name = "ISSUER:SUBJECT")]
    pub refresh: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// What the TLS listener would make of `--client-cert`: nothing asked without
/// `client_ca_file`, missing without the option, else the chain judged against the CA.
fn client_certificate(
    config: &Config,
    file: Option<&std::path::Path>,
) -> Result<ClientCertificate, String> {
    let Some(files) = config
        .server
        .tls
        .as_ref()
        .filter(|t| t.client_ca_file.is_some())
    else {
        if file.is_some() {
            return Err("--client-cert needs server.tls.client_ca_file in the config".into());
        }
        return Ok(ClientCertificate::NotRequested);
    };
    let Some(file) = file else {
        return Ok(ClientCertificate::Missing);
    };
    let chain =
        crate::net::tls::read_certificates("--client-cert", file).map_err(|e| e.to_string())?;
    let listener = crate::net::tls::ListenerTls::new(files).map_err(|e| e.to_string())?;
    Ok(listener.judge(&chain))
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
        Ok(at) => at.unwrap_or_else(crate::domain::clock::unix_now),
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
    let mut steps_before: Vec<Step> = Vec::new();
    let path = args
        .path
        .clone()
        .or_else(|| config.routes.first().map(|r| r.path.clone()))
        .unwrap_or_else(|| "/".into());
    // `--path /ws?x=1`: the query is the request's query, as the proxy splits it.
    let (path, query) = match path.split_once('?') {
        Some((path, given)) => {
            let query = match query {
                Some(token) if !given.is_empty() => format!("{given}&{token}"),
                Some(token) => token,
                None => given.to_owned(),
            };
            (path.to_owned(), Some(query))
        }
        None => (path, query),
    };
    // The proxy judges the normalized path (`path.rs`); so does explain.
    let path = match crate::http::path::normalize(&path) {
        Ok(normal) => {
            if normal != path {
                steps_before.push(Step {
                    name: "path",
                    outcome: Outcome::Info,
                    detail: format!("{path} is judged (and forwarded) as {normal}"),
                });
            }
            normal.into_owned()
        }
        Err(_) => {
            print_path_refusal(&path, args.json);
            return ExitCode::FAILURE;
        }
    };
    let client_cert = match client_certificate(&config, args.client_cert.as_deref()) {
        Ok(judged) => judged,
        Err(message) => return usage(message),
    };
    let view = RequestView {
        path: &path,
        query: query.as_deref(),
        headers: &headers,
        client_cert: &client_cert,
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
    steps.append(&mut steps_before);
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
    let mut verdict = runtime.block_on(gate.decide(&view, now, &mut steps));
    if let Some(holder) = &args.refresh {
        let Some((issuer, subject)) = holder.split_once(':') else {
            return usage(format!("--refresh {holder:?} is not ISSUER:SUBJECT"));
        };
        verdict = verdict.and_then(|grant| {
            match crate::sessions::same_holder(&config, &grant, Some(issuer), Some(subject)) {
                Ok(_) => {
                    steps.push(Step {
                        name: "refresh",
                        outcome: Outcome::Pass,
                        detail: format!(
                            "same issuer {issuer:?} and subject {subject:?}: the session's expiry would become the new exp (revocations in force are only known to the running replicas)"
                        ),
                    });
                    Ok(grant)
                }
                Err((reason, detail)) => {
                    steps.push(Step {
                        name: "refresh",
                        outcome: Outcome::Fail(reason),
                        detail,
                    });
                    Err(crate::auth::Denial {
                        route: grant.route,
                        reason,
                        issuer: grant.issuer,
                    })
                }
            }
        });
    }
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

/// A path the proxy refuses before any decision (400 `ambiguous_path`).
fn print_path_refusal(path: &str, json: bool) {
    let error = crate::ws::handshake::HandshakeError::AmbiguousPath;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "steps": [{"step": "path", "outcome": "fail", "reason": error.as_str(), "detail": format!("{path}: {}", error.message())}],
                "verdict": {
                    "allowed": false,
                    "reason": error.as_str(),
                    "message": error.message(),
                    "status": error.status().as_u16(),
                }
            })
        );
    } else {
        println!("FAIL {:<13} {path}: {}", "path", error.message());
        println!(
            "verdict: DENIED {} — refused before any decision (HTTP {})",
            error.as_str(),
            error.status().as_u16()
        );
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
