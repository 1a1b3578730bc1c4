//! JSON logging, and the outcome events that log and count together.
//!
//! Every decision and every closed session is recorded by exactly one function here,
//! which writes one JSON log line and moves the matching metrics, so the log and
//! `/metrics` cannot disagree (vector's `internal_events` pattern). The log format is
//! one JSON object per line with Cloud Logging's field names (`severity`, `message`,
//! `time`, an RFC 3339 string the Cloud Logging agent takes as the entry's time) and the event's own fields at the top level, so `jq` and Cloud Logging
//! queries see `reason`, `route`, … directly. Nothing here receives a token or a secret.
//!
//! `format` writes the lines (without building `serde_json` values), `writer` batches
//! them to stdout from a background thread; both are on every handshake's path. The
//! handshake's own lines ("request allowed", "request denied", "session closed") are
//! written by `format/direct.rs` straight into that writer once tracing says they are
//! enabled, when the installed subscriber is the production one (else through
//! `tracing::event!` like every other line).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tracing::metadata::Kind;
use tracing::{Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::domain::auth_method::AuthMethod;
use crate::domain::close_reason::CloseReason;
use crate::domain::initiator::Initiator;
use crate::domain::refusal::Refusal;
use crate::domain::session_id::SessionId;
use crate::telemetry::metrics::{
    HandshakeOutcome, JwksRefreshResult, Metrics, ReloadResult, RouteSeries, UpstreamErrorKind,
};

mod format;
pub mod health;
pub mod metrics;
mod refused;
mod writer;

use format::CloudLoggingFormat;
use format::client_addr::ClientAddr;
use format::direct::{self, json_key};
pub use refused::{CONFIG_REFUSED, record_config_refused};
pub use writer::{LogGuard, flush as flush_logs};

/// The environment variable holding the log filter (`EnvFilter` syntax).
pub const LOG_FILTER_ENV: &str = "WSGATE_LOG";

/// Installs the JSON logger on stdout as the global subscriber.
///
/// The filter comes from `WSGATE_LOG` (default `info`). Calling it again is harmless: a
/// second call leaves the first subscriber in place.
///
/// Lines go to stdout through a background writer that batches them (one `write(2)` per
/// burst instead of one per line: on the handshake path this was a third of wsgate's own
/// CPU, docs/performance.md): a log call only appends its line to a shared buffer, and the
/// "wsgate-log" thread writes what gathered a few milliseconds later. Keep the returned
/// guard alive until exit: dropping it writes what is still queued. Paths that end the
/// process with `std::process::exit` call [`flush_logs`] first.
#[must_use = "dropping the guard stops the log writer"]
pub fn init_logging() -> LogGuard {
    let (writer, guard) = writer::coalescing(Box::new(io::stdout()), writer::Limits::DEFAULT);
    if install(writer.clone()) {
        writer::set_installed(writer);
    }
    guard
}

/// Installs the JSON logger writing to `writer` as the global subscriber, unless one is
/// already installed; returns whether it was.
fn install<W>(writer: W) -> bool
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let spec = std::env::var(LOG_FILTER_ENV).ok();
    let (filter, problem) = filter_from(spec.as_deref());
    let installed = json_subscriber(filter, writer).try_init().is_ok();
    if let (true, Some(problem)) = (installed, problem) {
        tracing::warn!(
            variable = LOG_FILTER_ENV,
            problem = %problem,
            "invalid log filter, using \"info\""
        );
    }
    installed
}

/// The one decision made about one request.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    /// The configured route (never the request path), with its series.
    pub route: &'a RouteSeries,
    pub client: SocketAddr,
    /// Whether the request was a WebSocket upgrade (else a plain HTTP request).
    pub websocket: bool,
    /// The configured issuer name (never the token's own `iss`).
    pub issuer: Option<&'a str>,
    /// Time from the request's arrival to the decision.
    pub duration: Duration,
    pub verdict: Verdict<'a>,
}

/// What was decided: let in, refused by wsgate, or let in by the auth decision and then
/// refused because the upstream failed. A refusal always carries its reason.
#[derive(Debug, Clone)]
pub enum Verdict<'a> {
    Allowed(Caller<'a>),
    Denied(Refusal),
    /// The upstream could not be reached or answered an invalid 101: the caller the auth
    /// decision let in gets `kind`'s refusal (`upstream_unavailable`, `upstream_rejected`).
    UpstreamFailed {
        caller: Caller<'a>,
        kind: UpstreamErrorKind,
        /// An error description chosen by the caller; never contains a secret.
        detail: &'a str,
    },
}

/// Who the auth decision let in.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub method: AuthMethod,
    pub user: Option<&'a str>,
}

/// What one ended WebSocket session looked like.
#[derive(Debug, Clone)]
pub struct SessionSummary<'a> {
    /// The configured route, with its series.
    pub route: &'a RouteSeries,
    pub client: SocketAddr,
    pub session: SessionId,
    pub user: Option<&'a str>,
    pub initiator: Initiator,
    /// The close code of the first close frame; `None` when the connection just ended.
    pub code: Option<u16>,
    /// Why wsgate ended the session, when it did.
    pub reason: Option<CloseReason>,
    pub duration: Duration,
    pub frames_to_upstream: u64,
    pub frames_to_client: u64,
    pub bytes_to_upstream: u64,
    pub bytes_to_client: u64,
}

/// Records a decision: its log line(s) and the metrics they match.
///
/// - Allowed: counts it under its method and logs "request allowed". The handshake
///   histogram is not observed here: the handshake is not over until the upstream
///   answers, and its outcome (`allowed`, `upstream_declined`) is observed then with
///   [`Metrics::handshake`].
/// - Denied: counts the denial, observes the handshake duration under `denied`, and logs
///   "request denied" (WARNING for 5xx reasons such as `keys_unavailable`, which point at
///   wsgate's side, else INFO).
/// - Upstream failed: the failure's detail first ("upstream error",
///   `wsgate_upstream_errors_total{kind}`), then the refusal the client gets, recorded as
///   every other refusal (with the outcome `upstream_error` or `upstream_rejected`), so
///   `wsgate_auth_denied_total` counts every `upstream_unavailable` 502 a client saw. The
///   auth decision's "request allowed" was recorded before.
pub fn record_decision(metrics: &Metrics, d: &Decision<'_>) {
    match d.verdict {
        Verdict::Allowed(caller) => record_allowed(metrics, d, caller),
        Verdict::Denied(reason) => {
            record_denied(metrics, d, reason, HandshakeOutcome::Denied, None);
        }
        Verdict::UpstreamFailed {
            caller,
            kind,
            detail,
        } => {
            record_upstream_error(metrics, kind, d.route.path(), d.client, detail);
            record_denied(metrics, d, kind.reason(), kind.outcome(), Some(caller));
        }
    }
}

/// A request was refused for `reason`, ending its handshake with `outcome`; `caller` is
/// who the auth decision had let in, when it was a later step that refused.
fn record_denied(
    metrics: &Metrics,
    d: &Decision<'_>,
    reason: Refusal,
    outcome: HandshakeOutcome,
    caller: Option<Caller<'_>>,
) {
    metrics.denied(d.route.path(), reason);
    metrics.handshake(d.route, outcome, d.duration.as_secs_f64());

    let mut client = ClientAddr::buffer();
    macro_rules! denied {
        ($level:ident) => {{
            if !tracing::enabled!(
                kind: Kind::EVENT,
                target: direct::TARGET,
                Level::$level,
                message,
                reason,
                route,
                client,
                websocket,
                method,
                user,
                issuer,
                status,
                duration_ms
            ) {
                return;
            }
            let client = ClientAddr(d.client).text(&mut client);
            let written = direct::write_line(direct::line_head!($level, "request denied"), |line| {
                line.plain(json_key!("reason"), reason.as_str());
                line.str(json_key!("route"), d.route.path());
                line.plain(json_key!("client"), &client);
                line.bool(json_key!("websocket"), d.websocket);
                if let Some(caller) = caller {
                    line.plain(json_key!("method"), caller.method.label());
                    line.opt_str(json_key!("user"), caller.user);
                }
                line.opt_str(json_key!("issuer"), d.issuer);
                line.u64(json_key!("status"), u64::from(reason.status().as_u16()));
                line.millis(json_key!("duration_ms"), d.duration);
            });
            if !written {
                tracing::event!(
                    Level::$level,
                    message = "request denied",
                    reason = reason.as_str(),
                    route = d.route.path(),
                    client = &*client,
                    websocket = d.websocket,
                    method = caller.map(|c| c.method.label()),
                    user = caller.and_then(|c| c.user),
                    issuer = d.issuer,
                    status = reason.status().as_u16(),
                    duration_ms = millis(d.duration)
                );
            }
        }};
    }
    if reason.status().is_server_error() {
        denied!(WARN);
    } else {
        denied!(INFO);
    }
}

/// A request was let through: counts it under its method and logs "request allowed".
fn record_allowed(metrics: &Metrics, d: &Decision<'_>, caller: Caller<'_>) {
    metrics.allowed(d.route, caller.method);
    if !tracing::enabled!(
        kind: Kind::EVENT,
        target: direct::TARGET,
        Level::INFO,
        message,
        route,
        client,
        websocket,
        method,
        user,
        issuer,
        duration_ms
    ) {
        return;
    }
    let mut client = ClientAddr::buffer();
    let client = ClientAddr(d.client).text(&mut client);
    let written = direct::write_line(direct::line_head!(INFO, "request allowed"), |line| {
        line.str(json_key!("route"), d.route.path());
        line.plain(json_key!("client"), &client);
        line.bool(json_key!("websocket"), d.websocket);
        line.plain(json_key!("method"), caller.method.label());
        line.opt_str(json_key!("user"), caller.user);
        line.opt_str(json_key!("issuer"), d.issuer);
        line.millis(json_key!("duration_ms"), d.duration);
    });
    if !written {
        tracing::info!(
            message = "request allowed",
            route = d.route.path(),
            client = &*client,
            websocket = d.websocket,
            method = caller.method.label(),
            user = caller.user,
            issuer = d.issuer,
            duration_ms = millis(d.duration)
        );
    }
}

/// A WebSocket session ended: decrements the active gauge, counts the close, and logs
/// "session closed" with the relayed totals.
pub fn record_session_closed(metrics: &Metrics, s: &SessionSummary<'_>) {
    metrics.session_closed(s.route, s.initiator, s.code, s.reason);
    if !tracing::enabled!(
        kind: Kind::EVENT,
        target: direct::TARGET,
        Level::INFO,
        message,
        route,
        client,
        session,
        user,
        initiator,
        code,
        reason,
        duration_ms,
        frames_to_upstream,
        frames_to_client,
        bytes_to_upstream,
        bytes_to_client
    ) {
        return;
    }
    let (mut client, mut session) = (ClientAddr::buffer(), [0; 32]);
    let (client, session) = (
        ClientAddr(s.client).text(&mut client),
        s.session.hex(&mut session),
    );
    let written = direct::write_line(direct::line_head!(INFO, "session closed"), |line| {
        line.str(json_key!("route"), s.route.path());
        line.plain(json_key!("client"), &client);
        line.plain(json_key!("session"), session);
        line.opt_str(json_key!("user"), s.user);
        line.plain(json_key!("initiator"), s.initiator.as_str());
        if let Some(code) = s.code {
            line.u64(json_key!("code"), u64::from(code));
        }
        if let Some(reason) = s.reason {
            line.plain(json_key!("reason"), reason.as_str());
        }
        line.millis(json_key!("duration_ms"), s.duration);
        line.u64(json_key!("frames_to_upstream"), s.frames_to_upstream);
        line.u64(json_key!("frames_to_client"), s.frames_to_client);
        line.u64(json_key!("bytes_to_upstream"), s.bytes_to_upstream);
        line.u64(json_key!("bytes_to_client"), s.bytes_to_client);
    });
    if !written {
        tracing::info!(
            message = "session closed",
            route = s.route.path(),
            client = &*client,
            session,
            user = s.user,
            initiator = s.initiator.as_str(),
            code = s.code,
            reason = s.reason.map(CloseReason::as_str),
            duration_ms = millis(s.duration),
            frames_to_upstream = s.frames_to_upstream,
            frames_to_client = s.frames_to_client,
            bytes_to_upstream = s.bytes_to_upstream,
            bytes_to_client = s.bytes_to_client
        );
    }
}

/// An upstream connection failed: counts it by kind and logs "upstream error" with the
/// reason code the client gets. `detail` is an error description chosen by the caller and
/// must not contain secrets.
fn record_upstream_error(
    metrics: &Metrics,
    kind: UpstreamErrorKind,
    route: &str,
    client: SocketAddr,
    detail: &str,
) {
    metrics.upstream_error(kind);
    tracing::warn!(
        kind = kind.as_str(),
        reason = kind.reason().as_str(),
        route,
        client = %ClientAddr(client),
        detail,
        "upstream error"
    );
}

/// A connection over `max_connections` was closed unanswered (the pool that answers
/// such connections was full too): counts it and logs "connection rejected". No request
/// was read, so no route is known and `wsgate_auth_denied_total` is not touched; a
/// connection that did get its `overloaded` answer is recorded by [`record_decision`].
pub fn record_connection_rejected_overloaded(metrics: &Metrics, client: SocketAddr) {
    metrics.connection_rejected_overloaded();
    tracing::warn!(
        reason = Refusal::Overloaded.as_str(),
        client = %ClientAddr(client),
        "connection rejected"
    );
}

/// A config reload finished; `problem` says why it failed (the old policy stays), or which
/// keys need a restart.
pub fn record_config_reload(metrics: &Metrics, result: ReloadResult, problem: Option<&str>) {
    metrics.config_reload(result);
    match result {
        ReloadResult::Success => tracing::info!(result = result.as_str(), "config reloaded"),
        ReloadResult::RestartRequired => tracing::warn!(
            result = result.as_str(),
            restart_required = problem,
            "config reloaded, but these keys changed and take effect only after a restart; their running values stay"
        ),
        ReloadResult::Error => tracing::error!(
            result = result.as_str(),
            problem,
            "config reload failed, keeping the previous policy"
        ),
    }
}

/// A JWKS fetch for the configured issuer `issuer` finished; on success `keys` is the
/// number of usable keys now held, on failure `problem` says why (cached keys stay).
pub fn record_jwks_refresh(
    metrics: &Metrics,
    issuer: &str,
    result: JwksRefreshResult,
    keys: Option<usize>,
    problem: Option<&str>,
) {
    metrics.jwks_refreshed(issuer, result);
    if let Some(keys) = keys {
        metrics.jwks_keys(issuer, keys);
    }
    match result {
        JwksRefreshResult::Success => {
            tracing::debug!(issuer, keys, result = result.as_str(), "jwks refreshed");
        }
        JwksRefreshResult::Error | JwksRefreshResult::Invalid => tracing::warn!(
            issuer,
            keys,
            result = result.as_str(),
            problem,
            "jwks refresh failed; keeping the cached keys"
        ),
    }
}

/// The configured issuer `issuer`'s cached keys were dropped: no successful fetch for
/// longer than `jwks_max_stale`. Handshakes for it now get `keys_unavailable`.
pub fn record_jwks_expired(metrics: &Metrics, issuer: &str, max_stale: Duration) {
    metrics.jwks_keys(issuer, 0);
    tracing::error!(
        issuer,
        max_stale_s = max_stale.as_secs(),
        "jwks keys dropped: no successful fetch within jwks_max_stale; refusing with keys_unavailable"
    );
}

/// Milliseconds with microsecond precision, for `duration_ms` fields.
fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

/// Parses a filter spec; an absent or empty spec means `info`, an invalid one falls back
/// to `info` and returns the parse problem so it can be logged once logging works.
fn filter_from(spec: Option<&str>) -> (EnvFilter, Option<String>) {
    match spec.map(str::trim).filter(|spec| !spec.is_empty()) {
        None => (EnvFilter::new("info"), None),
        Some(spec) => match EnvFilter::try_new(spec) {
            Ok(filter) => (filter, None),
            Err(problem) => (EnvFilter::new("info"), Some(problem.to_string())),
        },
    }
}

/// The JSON-lines subscriber, writing to `writer` (stdout in production, a buffer in
/// tests).
fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(CloudLoggingFormat)
        .with_writer(writer);
    tracing_subscriber::registry().with(filter).with(layer)
}

#[cfg(test)]
mod tests;
