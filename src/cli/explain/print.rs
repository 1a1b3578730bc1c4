//! `explain`'s output: every step and the verdict, as text for a terminal or as one JSON
//! document (`--json`).

use crate::auth::trace::{Outcome, Step};
use crate::auth::{Denial, Grant};
use crate::config::Config;
use crate::ws::handshake::HandshakeError;

pub(super) fn explanation(
    steps: &[Step],
    verdict: &Result<Grant, Denial>,
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
                "route": config.route(grant.route).path,
                "issuer": grant.issuer.map(|i| config.auth.issuer(i).name.clone()),
            }),
            Err(denial) => serde_json::json!({
                "allowed": false,
                "reason": denial.reason.as_str(),
                "message": denial.reason.message(),
                "status": denial.reason.status().as_u16(),
                "close_code": denial.reason.close_code(),
                "route": config.route(denial.route).path,
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

/// A request the proxy refuses before any decision (400 `ambiguous_path`, 426
/// `unsupported_websocket_version`, ...): the failing check and the verdict.
pub(super) fn refusal(target: &str, error: HandshakeError, json: bool) {
    // A path problem is the path step's, as when the path is judged normalized.
    let (step, detail) = match error {
        HandshakeError::AmbiguousPath => ("path", format!("{target}: {}", error.message())),
        _ => ("handshake", error.message().to_owned()),
    };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "steps": [{"step": step, "outcome": "fail", "reason": error.as_str(), "detail": detail}],
                "verdict": {
                    "allowed": false,
                    "reason": error.as_str(),
                    "message": error.message(),
                    "status": error.status().as_u16(),
                }
            })
        );
    } else {
        println!("FAIL {step:<13} {detail}");
        println!(
            "verdict: DENIED {} — refused before any decision (HTTP {})",
            error.as_str(),
            error.status().as_u16()
        );
    }
}
