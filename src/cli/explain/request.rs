//! The request `explain` judges, put together from the command line as a client would
//! send it, and the checks the proxy runs on a request before any decision.
//!
//! The checks are the proxy's own functions (`ws::handshake::classify`, then
//! `ws::handshake::normalized_uri`), not a copy: a request the proxy refuses with 400
//! `ambiguous_path` or 426 `unsupported_websocket_version` is refused here with the same
//! code. What the command line does not say is assumed as a browser sends it: a GET over
//! HTTP/1.1 with `Host`, `Upgrade: websocket`, `Connection: Upgrade`,
//! `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key`; a `--header` replaces the
//! assumed value of its name.

use http::header::{CONNECTION, HOST, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, Version};

use crate::auth::trace::{Outcome, Step};
use crate::config::{Config, TokenSource};
use crate::ws::handshake::{self, HandshakeError};

use super::ExplainArgs;

/// The headers explain assumes unless a `--header` names them.
const ASSUMED: [(HeaderName, &str); 5] = [
    (HOST, "wsgate.explain"),
    (UPGRADE, "websocket"),
    (CONNECTION, "Upgrade"),
    (SEC_WEBSOCKET_VERSION, "13"),
    // RFC 6455's sample nonce: 16 bytes of base64, like any client's.
    (SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ=="),
];

/// A request as the proxy's decision sees it: past the handshake checks, its path
/// normalized.
pub(super) struct Request {
    pub uri: Uri,
    pub headers: HeaderMap,
    /// What the checks noted (a path judged in its normalized form).
    pub steps: Vec<Step>,
}

/// Why there is no request to decide on.
pub(super) enum Unjudged {
    /// The command line does not describe a request: a usage error.
    Usage(String),
    /// The proxy refuses this request before any decision.
    Refused {
        target: String,
        error: HandshakeError,
    },
}

/// The request `args` describe with `token` placed in the first configured token source,
/// checked as the proxy checks it.
pub(super) fn build(
    args: &ExplainArgs,
    config: &Config,
    token: Option<&str>,
) -> Result<Request, Unjudged> {
    let usage = |message: String| Unjudged::Usage(message);
    let mut headers = HeaderMap::new();
    for line in &args.headers {
        let Some((name, value)) = line.split_once(':') else {
            return Err(usage(format!("--header {line:?} is not `Name: value`")));
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            return Err(usage(format!("--header {line:?} is not a valid header")));
        };
        headers.append(name, value);
    }
    for (name, value) in ASSUMED {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if let Some(origin) = &args.origin {
        let value = HeaderValue::from_str(origin)
            .map_err(|_| usage("--origin is not a valid header value".into()))?;
        headers.insert(http::header::ORIGIN, value);
    }
    let query = match token {
        Some(token) => place_token(config.auth.token_sources.first(), token, &mut headers)
            .map_err(|()| {
                usage("the token contains bytes that cannot travel in a header".into())
            })?,
        None => None,
    };
    let target = target(args, config, query);
    let uri: Uri = target
        .parse()
        .map_err(|_| usage(format!("--path {target:?} is not a request target")))?;
    let refused = |error| Unjudged::Refused {
        target: uri.path().to_owned(),
        error,
    };
    // The proxy's checks, in the proxy's order (`proxy::Proxy::handle`).
    handshake::classify(&Method::GET, Version::HTTP_11, uri.path(), &headers).map_err(refused)?;
    let normal = handshake::normalized_uri(&uri).map_err(refused)?;
    let mut steps = Vec::new();
    if normal.path() != uri.path() {
        steps.push(Step {
            name: "path",
            outcome: Outcome::Info,
            detail: format!(
                "{} is judged (and forwarded) as {}",
                uri.path(),
                normal.path()
            ),
        });
    }
    Ok(Request {
        uri: normal,
        headers,
        steps,
    })
}

/// Puts `token` where `source` reads it; a query token is returned as the query pair.
fn place_token(
    source: Option<&TokenSource>,
    token: &str,
    headers: &mut HeaderMap,
) -> Result<Option<String>, ()> {
    let header = |text: String| HeaderValue::from_str(&text).map_err(|_| ());
    match source {
        Some(TokenSource::Header(name)) if name == http::header::AUTHORIZATION => {
            headers.insert(name.clone(), header(format!("Bearer {token}"))?);
        }
        Some(TokenSource::Header(name)) => {
            headers.insert(name.clone(), header(token.to_owned())?);
        }
        Some(TokenSource::Protocol(marker)) => {
            let value = header(format!("{marker}, {token}"))?;
            headers.insert(http::header::SEC_WEBSOCKET_PROTOCOL, value);
        }
        Some(TokenSource::Cookie(name)) => {
            headers.insert(http::header::COOKIE, header(format!("{name}={token}"))?);
        }
        Some(TokenSource::Query(name)) => {
            return Ok(Some(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair(name, token)
                    .finish(),
            ));
        }
        None => {}
    }
    Ok(None)
}

/// `--path` (default: the first route's path) with the token's query pair appended to
/// the query it may carry (`--path /ws?x=1`).
fn target(args: &ExplainArgs, config: &Config, token_query: Option<String>) -> String {
    let path = args
        .path
        .clone()
        .or_else(|| config.routes.first().map(|r| r.path.clone()))
        .unwrap_or_else(|| "/".into());
    let Some(token) = token_query else {
        return path;
    };
    match path.split_once('?') {
        Some((path, given)) if !given.is_empty() => format!("{path}?{given}&{token}"),
        Some((path, _)) => format!("{path}?{token}"),
        None => format!("{path}?{token}"),
    }
}
