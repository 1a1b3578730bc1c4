//! `wsgate explain`: the proxy's own checks and decision code on a request described on
//! the command line (a token, headers, a path), every step printed. Exit 0 allowed, 1
//! denied, 2 usage or config error.
//!
//! The configuration is loaded as `run` loads it (`server::runtime`); the request is put
//! together and put through the proxy's handshake checks in `request.rs`; the decision is
//! `auth::Gate::decide`; `print.rs` writes the result.

mod print;
mod request;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::auth::RequestView;
use crate::auth::token::describe_source;
use crate::auth::trace::{Outcome, Step};
use crate::config::Config;
use crate::net::tls::{ClientCertificate, ListenerTls};
use crate::server::runtime;

use request::Unjudged;

#[derive(clap::Args)]
pub struct ExplainArgs {
    /// Config file (TOML): the same one the proxy runs with.
    #[arg(long, env = "WSGATE_CONFIG")]
    pub config: PathBuf,
    /// The token; `-` reads it from stdin. Placed in the first configured token source.
    #[arg(long)]
    pub token: Option<String>,
    /// Extra request header, `Name: value` (repeatable), e.g. the bypass header. Replaces
    /// the one explain assumes of that name (Host, Upgrade, Connection,
    /// Sec-WebSocket-Version, Sec-WebSocket-Key): the proxy's handshake checks run first.
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
    listener: Option<&ListenerTls>,
    config: &Config,
    file: Option<&std::path::Path>,
) -> Result<ClientCertificate, String> {
    let asks = config
        .server
        .tls
        .as_ref()
        .is_some_and(|t| t.client_ca_file.is_some());
    let (Some(listener), true) = (listener, asks) else {
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
    Ok(listener.judge(&chain))
}

/// `wsgate explain`: exit 0 allowed, 1 denied, 2 usage or config error.
pub fn explain(args: &ExplainArgs) -> ExitCode {
    let usage = |message: String| {
        eprintln!("wsgate explain: {message}");
        ExitCode::from(2)
    };
    let policy = match runtime::load(&args.config) {
        Ok(policy) => policy,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(2);
        }
    };
    let config = policy.gate.config().clone();
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
    let mut request = match request::build(args, &config, token.as_deref()) {
        Ok(request) => request,
        Err(Unjudged::Usage(message)) => return usage(message),
        Err(Unjudged::Refused { target, error }) => {
            print::refusal(&target, error, args.json);
            return ExitCode::FAILURE;
        }
    };
    let client_cert =
        match client_certificate(policy.tls.as_ref(), &config, args.client_cert.as_deref()) {
            Ok(judged) => judged,
            Err(message) => return usage(message),
        };
    let view = RequestView {
        path: request.uri.path(),
        query: request.uri.query(),
        headers: &request.headers,
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
    steps.append(&mut request.steps);
    if let Some(source) = config.auth.token_sources.first()
        && token.is_some()
    {
        steps.push(Step {
            name: "input",
            outcome: Outcome::Info,
            detail: format!("token placed in {}", describe_source(source)),
        });
    }
    // The decision may fetch a remote key set, which needs a runtime.
    let executor = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(executor) => executor,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let mut verdict = executor.block_on(policy.gate.decide(&view, now, &mut steps));
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
    print::explanation(&steps, &verdict, &config, args.json);
    match verdict {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
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
