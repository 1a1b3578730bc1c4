//! Log lines and the metrics they move, together; the formatter's and the writer's own
//! tests are in `tests/format.rs` and `tests/writer.rs`.

use std::sync::{Arc, Mutex};

use prometheus::Registry;
use serde_json::Value;

use super::*;
use crate::telemetry::metrics::tests::changes;

mod direct_lines;
mod format;
mod legacy;
mod record_lines;
mod writer;

/// A `MakeWriter` appending to a shared buffer.
#[derive(Clone, Default)]
pub(super) struct Buffer(Arc<Mutex<Vec<u8>>>);

impl io::Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .expect("no test panicked while logging")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    pub(super) fn text(&self) -> String {
        let bytes = self
            .0
            .lock()
            .expect("no test panicked while logging")
            .clone();
        String::from_utf8(bytes).expect("log output is UTF-8")
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

/// Runs `action` under the JSON subscriber and returns the lines it logged, parsed.
fn captured(filter: &str, action: impl FnOnce()) -> Vec<serde_json::Map<String, Value>> {
    let buffer = Buffer::default();
    let subscriber = json_subscriber(EnvFilter::new(filter), buffer.clone());
    tracing::subscriber::with_default(subscriber, action);
    buffer
        .text()
        .lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(Value::Object(map)) => map,
            other => panic!("not a JSON object: {line:?} ({other:?})"),
        })
        .collect()
}

fn client() -> SocketAddr {
    "203.0.113.7:51234".parse().expect("literal address")
}

fn denial() -> Decision<'static> {
    Decision {
        // Leaked: a `'static` decision; each test has its own, as each has its own
        // registry (a route's handles belong to the metrics that first used them).
        route: Box::leak(Box::new(RouteSeries::from("/ws"))),
        client: client(),
        websocket: true,
        issuer: Some("primary"),
        duration: Duration::from_micros(1500),
        verdict: Verdict::Denied(Refusal::TokenExpired),
    }
}

#[test]
fn denial_logs_one_cloud_logging_line_and_counts() {
    let registry = Registry::new();
    let metrics = Metrics::new(&registry);
    let mut lines = Vec::new();
    let moved = changes(&registry, || {
        lines = captured("info", || record_decision(&metrics, &denial()));
    });

    assert_eq!(lines.len(), 1, "{lines:?}");
    let line = &lines[0];
    assert_eq!(line["severity"], "INFO");
    assert_eq!(line["message"], "request denied");
    assert_eq!(line["reason"], "token_expired");
    assert_eq!(line["route"], "/ws");
    assert_eq!(line["client"], "203.0.113.7:51234");
    assert_eq!(line["issuer"], "primary");
    assert_eq!(line["websocket"], true);
    assert_eq!(line["status"], 403);
    assert_eq!(line["duration_ms"], 1.5);
    assert_eq!(line["target"], "wsgate::telemetry");
    assert!(
        !line.contains_key("user"),
        "absent user is omitted: {line:?}"
    );
    assert!(
        !line.contains_key("fields"),
        "fields are flattened: {line:?}"
    );
    let time = line["time"].as_str().expect("time is a string");
    humantime::parse_rfc3339(time).expect("time is RFC 3339");
    assert!(time.ends_with('Z') && time.len() == 24, "{time}");
    assert!(
        !line.contains_key("timestamp"),
        "Cloud Logging reads a `timestamp` field as an object, never a string: {line:?}"
    );

    assert_eq!(
        moved.get("wsgate_auth_denied_total{reason=\"token_expired\",route=\"/ws\"}"),
        Some(&1.0)
    );
    assert_eq!(
        moved.get("wsgate_handshake_duration_seconds{outcome=\"denied\",route=\"/ws\"}"),
        Some(&1.0)
    );
    assert_eq!(moved.len(), 2, "{moved:?}");
}

#[test]
fn server_side_denials_are_warnings() {
    let registry = Registry::new();
    let metrics = Metrics::new(&registry);
    let decision = Decision {
        verdict: Verdict::Denied(Refusal::KeysUnavailable),
        ..denial()
    };
    let lines = captured("info", || record_decision(&metrics, &decision));
    assert_eq!(lines[0]["severity"], "WARNING");
    assert_eq!(lines[0]["status"], 503);
}

#[test]
fn allowed_logs_and_counts_method() {
    let registry = Registry::new();
    let metrics = Metrics::new(&registry);
    let decision = Decision {
        verdict: Verdict::Allowed(Caller {
            method: AuthMethod::Jwt,
            user: Some("alice"),
        }),
        ..denial()
    };
    let mut lines = Vec::new();
    let moved = changes(&registry, || {
        lines = captured("info", || record_decision(&metrics, &decision));
    });
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "request allowed");
    assert_eq!(lines[0]["method"], "jwt");
    assert_eq!(lines[0]["user"], "alice");
    assert!(!lines[0].contains_key("reason"));
    assert_eq!(
        moved,
        [(
            "wsgate_auth_allowed_total{method=\"jwt\",route=\"/ws\"}".to_owned(),
            1.0
        )]
        .into()
    );
}

#[test]
fn session_closed_logs_totals_and_counts_close_code() {
    let registry = Registry::new();
    let metrics = Metrics::new(&registry);
    metrics.session_opened(&"/ws".into());
    let session = SessionId::parse("0123456789abcdef0123456789abcdef").expect("valid id");
    let summary = SessionSummary {
        route: &RouteSeries::from("/ws"),
        client: client(),
        session,
        user: Some("alice"),
        initiator: Initiator::Client,
        code: Some(4001),
        reason: None,
        duration: Duration::from_secs(2),
        frames_to_upstream: 3,
        frames_to_client: 4,
        bytes_to_upstream: 30,
        bytes_to_client: 40,
    };
    let mut lines = Vec::new();
    let moved = changes(&registry, || {
        lines = captured("info", || record_session_closed(&metrics, &summary));
    });
    let line = &lines[0];
    assert_eq!(line["message"], "session closed");
    assert_eq!(line["session"], "0123456789abcdef0123456789abcdef");
    assert_eq!(line["code"], 4001);
    assert_eq!(line["initiator"], "client");
    assert_eq!(line["frames_to_client"], 4);
    assert_eq!(line["bytes_to_upstream"], 30);
    assert_eq!(line["duration_ms"], 2000.0);
    assert_eq!(
        moved
            .get("wsgate_sessions_closed_total{code=\"other\",initiator=\"client\",reason=\"none\",route=\"/ws\"}"),
        Some(&1.0)
    );
    assert_eq!(
        moved.get("wsgate_sessions_active{route=\"/ws\"}"),
        Some(&-1.0)
    );
}

#[test]
fn upstream_error_logs_reason_and_counts_kind() {
    let registry = Registry::new();
    let metrics = Metrics::new(&registry);
    let mut lines = Vec::new();
    let moved = changes(&registry, || {
        lines = captured("info", || {
            record_upstream_error(
                &metrics,
                UpstreamErrorKind::Timeout,
                "/ws",
                client(),
                "connect timed out after 5s",
            )
        });
    });
    let line = &lines[0];
    assert_eq!(line["severity"], "WARNING");
    assert_eq!(line["message"], "upstream error");
    assert_eq!(line["kind"], "timeout");
    assert_eq!(line["reason"], "upstream_unavailable");
    assert_eq!(line["detail"], "connect timed out after 5s");
    assert_eq!(
        moved,
        [(
            "wsgate_upstream_errors_total{kind=\"timeout\"}".to_owned(),
            1.0
        )]
        .into()
    );
}

#[test]
fn an_upstream_failure_is_its_detail_then_a_denial_of_the_admitted_caller() {
    let registry = Registry::new();
    let metrics = Metrics::new(&registry);
    let decision = Decision {
        verdict: Verdict::UpstreamFailed {
            caller: Caller {
                method: AuthMethod::Jwt,
                user: Some("alice"),
            },
            kind: UpstreamErrorKind::Rejected,
            detail: "Sec-WebSocket-Accept does not match",
        },
        ..denial()
    };
    let mut lines = Vec::new();
    let moved = changes(&registry, || {
        lines = captured("info", || record_decision(&metrics, &decision));
    });
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["message"], "upstream error");
    assert_eq!(lines[0]["kind"], "rejected");
    assert_eq!(lines[0]["reason"], "upstream_rejected");
    assert_eq!(lines[1]["message"], "request denied");
    assert_eq!(lines[1]["severity"], "WARNING");
    assert_eq!(lines[1]["reason"], "upstream_rejected");
    assert_eq!(lines[1]["status"], 502);
    assert_eq!(lines[1]["method"], "jwt");
    assert_eq!(lines[1]["user"], "alice");
    assert_eq!(
        moved,
        [
            (
                "wsgate_auth_denied_total{reason=\"upstream_rejected\",route=\"/ws\"}".to_owned(),
                1.0
            ),
            (
                "wsgate_handshake_duration_seconds{outcome=\"upstream_rejected\",route=\"/ws\"}"
                    .to_owned(),
                1.0
            ),
            (
                "wsgate_upstream_errors_total{kind=\"rejected\"}".to_owned(),
                1.0
            ),
        ]
        .into()
    );
}

#[test]
fn span_fields_are_flattened_and_reserved_names_kept_apart() {
    let lines = captured("debug", || {
        let span = tracing::info_span!("connection", conn = 7_u64);
        let _entered = span.enter();
        tracing::debug!(severity = "spoofed", n = 1.25, "hello");
    });
    let line = &lines[0];
    assert_eq!(line["severity"], "DEBUG");
    assert_eq!(line["message"], "hello");
    assert_eq!(line["conn"], 7);
    assert_eq!(line["n"], 1.25);
    assert_eq!(line["fields.severity"], "spoofed");
}

#[test]
fn the_filter_applies() {
    let lines = captured("warn", || {
        tracing::info!("dropped");
        tracing::warn!("kept");
    });
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["message"], "kept");
}

#[test]
fn filter_spec_falls_back_to_info() {
    assert!(filter_from(None).1.is_none());
    assert!(filter_from(Some("  ")).1.is_none());
    assert!(filter_from(Some("wsgate=debug,info")).1.is_none());
    assert!(filter_from(Some("wsgate=[")).1.is_some());
}

#[test]
fn installing_twice_is_harmless() {
    // `TestWriter` goes through libtest's output capture, unlike stdout.
    install(tracing_subscriber::fmt::TestWriter::new);
    install(tracing_subscriber::fmt::TestWriter::new);
    tracing::info!("logging still works");
}

#[test]
fn a_refused_config_is_one_json_line_listing_every_problem() {
    use crate::config::{ConfigError, ConfigErrors};
    let errors = ConfigErrors {
        origin: "/etc/wsgate/wsgate.toml".to_owned(),
        errors: vec![
            ConfigError::new(
                "auth.issuers[0].secret",
                "environment variable JWT_SECRET is not set",
            ),
            ConfigError::new("", "line 3: \"quoted\"\nand a newline"),
        ],
    };
    let now = std::time::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    let line = super::refused::config_refused_line(
        std::path::Path::new("/etc/wsgate/wsgate.toml"),
        &errors,
        now,
    );
    assert!(
        line.ends_with('\n') && line.matches('\n').count() == 1,
        "{line:?}"
    );
    let parsed: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
    let keys: Vec<&str> = parsed
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.contains(&"time") && !keys.contains(&"timestamp"),
        "{keys:?}"
    );
    assert_eq!(parsed["message"], CONFIG_REFUSED);
    assert_eq!(parsed["severity"], "ERROR");
    assert_eq!(parsed["time"], "2023-11-14T22:13:20.123Z");
    assert_eq!(parsed["config"], "/etc/wsgate/wsgate.toml");
    assert_eq!(parsed["problem_count"], 2);
    assert_eq!(
        parsed["problems"],
        serde_json::json!([
            {"key": "auth.issuers[0].secret", "message": "environment variable JWT_SECRET is not set"},
            {"key": "", "message": "line 3: \"quoted\"\nand a newline"},
        ])
    );
    assert!(
        line.starts_with("{\"message\":\"configuration refused; not starting\",\"severity\":\"ERROR\",\"target\":\"wsgate::cli\",\"time\":"),
        "the fixed keys first, as on every line: {line}"
    );
}

/// The raw output of `action` under the legacy (serde_json) formatter.
fn legacy_text(action: impl FnOnce()) -> String {
    let buffer = Buffer::default();
    let layer = tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(legacy::LegacyFormat)
        .with_writer(buffer.clone());
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("trace"))
        .with(layer);
    tracing::subscriber::with_default(subscriber, action);
    buffer.text()
}
