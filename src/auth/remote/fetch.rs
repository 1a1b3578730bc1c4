//! One fetch of a remote key set: an HTTP/1.1 GET per document, nothing more.
//!
//! What a fetch refuses, and why:
//! - redirects: a 3xx is a failed fetch (a key set that moves is a configuration change,
//!   and following `Location` would let whoever answers choose where wsgate connects);
//! - any status but 200, a body over [`MAX_BODY_BYTES`], anything slower than
//!   `jwks_timeout` for the whole exchange (discovery document included);
//! - a discovery document whose `issuer` is not the configured `issuer` exactly
//!   (OpenID Connect Discovery §4.3), or whose `jwks_uri` is not https;
//! - a body that is not a JWKS with at least one usable key ([`keys::from_jwks`] applies
//!   the same rules as `jwks_file`).
//!
//! No cookies are kept, no connection is reused, and nothing from a token is ever used to
//! choose a URL (its `jku`/`x5u` headers are ignored, docs/security-cases.md J12).

use std::fmt;
use std::io;

use bytes::Bytes;
use http::header::{ACCEPT, HOST, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_util::task::AbortOnDropHandle;
use url::{Host, Url};

use crate::auth::keys::{self, IssuerKeys};
use crate::config::{IssuerConfig, RemoteLocation, RemoteSource, is_allowed_key_url};
use crate::net::stream::Stream;
use crate::net::tls::{tls_client_config, tls_client_config_trusting};
use crate::telemetry::metrics::JwksRefreshResult;

/// The largest JWKS or discovery document accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// Why a fetch failed; the variant is the `result` metric label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Connect, TLS, timeout, or a status other than 200.
    Error(String),
    /// An answer arrived but is not a usable key set (or discovery document).
    Invalid(String),
}

impl Failure {
    pub fn result(&self) -> JwksRefreshResult {
        match self {
            Failure::Error(_) => JwksRefreshResult::Error,
            Failure::Invalid(_) => JwksRefreshResult::Invalid,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Error(message) | Failure::Invalid(message) => message,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Fetches key sets over HTTPS (webpki roots, or the issuer's `jwks_ca_file`) or, for
/// loopback URLs, plain HTTP.
pub struct Fetcher {
    tls: tokio_rustls::TlsConnector,
}

impl Fetcher {
    pub fn new() -> io::Result<Fetcher> {
        Ok(Fetcher {
            tls: tokio_rustls::TlsConnector::from(tls_client_config()?),
        })
    }

    /// Fetches and parses `issuer`'s key set, all within `source.timeout`.
    pub async fn fetch(
        &self,
        issuer: &IssuerConfig,
        source: &RemoteSource,
    ) -> Result<IssuerKeys, Failure> {
        match tokio::time::timeout(source.timeout, self.fetch_unbounded(issuer, source)).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Error(format!(
                "{}: no complete answer within jwks_timeout ({})",
                source.location.url(),
                humantime::format_duration(source.timeout)
            ))),
        }
    }

    async fn fetch_unbounded(
        &self,
        issuer: &IssuerConfig,
        source: &RemoteSource,
    ) -> Result<IssuerKeys, Failure> {
        // A private CA is read at each fetch (every jwks_refresh at most), so a renewed CA
        // file (a re-mounted Secret) is picked up without a restart.
        let private;
        let tls = match &source.ca_file {
            None => &self.tls,
            Some(ca_file) => {
                let key = format!("auth.issuers.{}.jwks_ca_file", issuer.name);
                let config = tls_client_config_trusting(&key, ca_file)
                    .map_err(|e| Failure::Error(e.to_string()))?;
                private = tokio_rustls::TlsConnector::from(config);
                &private
            }
        };
        let url = match &source.location {
            RemoteLocation::Jwks(url) => url.clone(),
            RemoteLocation::Discovery(url) => self.discover(tls, issuer, url).await?,
        };
        let body = self.get(tls, &url).await?;
        keys::from_jwks(issuer, &body, &format!("JWKS {url}"))
            .map_err(|problems| Failure::Invalid(format!("{url}: {}", problems.join("; "))))
    }

    /// The `jwks_uri` of the OpenID Provider configuration at `url`.
    async fn discover(
        &self,
        tls: &tokio_rustls::TlsConnector,
        issuer: &IssuerConfig,
        url: &Url,
    ) -> Result<Url, Failure> {
        let body = self.get(tls, url).await?;
        let invalid = |why: String| Failure::Invalid(format!("{url}: {why}"));
        let document: Value = serde_json::from_slice(&body)
            .map_err(|e| invalid(format!("discovery document is not JSON ({e})")))?;
        match document.get("issuer") {
            Some(Value::String(named)) if *named == issuer.issuer => {}
            Some(Value::String(named)) => {
                return Err(invalid(format!(
                    "discovery document names issuer {}, not the configured {:?}",
                    shown(named),
                    issuer.issuer
                )));
            }
            _ => {
                return Err(invalid(
                    "discovery document has no \"issuer\" string".into(),
                ));
            }
        }
        let Some(jwks_uri) = document.get("jwks_uri").and_then(Value::as_str) else {
            return Err(invalid(
                "discovery document has no \"jwks_uri\" string".into(),
            ));
        };
        match Url::parse(jwks_uri) {
            // Plain http (loopback, tests) only when the document itself came that way: a
            // provider's https document never sends wsgate to a local plain-http port.
            Ok(jwks) if jwks.scheme() == "http" && url.scheme() != "http" => Err(invalid(format!(
                "jwks_uri {} is not an https URL",
                shown(jwks_uri)
            ))),
            Ok(jwks) if is_allowed_key_url(&jwks) => Ok(jwks),
            _ => Err(invalid(format!(
                "jwks_uri {} is not an https URL",
                shown(jwks_uri)
            ))),
        }
    }

    /// One GET on a fresh connection: 200 and at most [`MAX_BODY_BYTES`], or a failure.
    async fn get(&self, tls: &tokio_rustls::TlsConnector, url: &Url) -> Result<Bytes, Failure> {
        let failed = |why: String| Failure::Error(format!("{url}: {why}"));
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return Err(failed("no host or port".into()));
        };
        let tcp = match host {
            Host::Domain(name) => TcpStream::connect((name, port)).await,
            Host::Ipv4(ip) => TcpStream::connect((ip, port)).await,
            Host::Ipv6(ip) => TcpStream::connect((ip, port)).await,
        }
        .map_err(|e| failed(format!("cannot connect ({e})")))?;
        let _ = tcp.set_nodelay(true);
        let stream = if url.scheme() == "https" {
            let name = match host {
                Host::Domain(name) => rustls_pki_types::ServerName::try_from(name.to_owned())
                    .map_err(|e| failed(format!("not a TLS server name ({e})")))?,
                Host::Ipv4(ip) => rustls_pki_types::ServerName::IpAddress(ip.into()),
                Host::Ipv6(ip) => rustls_pki_types::ServerName::IpAddress(ip.into()),
            };
            let tls = tls
                .connect(name, tcp)
                .await
                .map_err(|e| failed(format!("TLS handshake failed ({e})")))?;
            Stream::Tls(Box::new(tls))
        } else {
            Stream::Plain(tcp)
        };
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(format!("HTTP handshake failed ({e})")))?;
        // Aborted when this fetch ends or is cancelled (timeout), so nothing lingers.
        let _connection = AbortOnDropHandle::new(tokio::spawn(connection));

        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let request = Request::get(target)
            .header(
                HOST,
                &url[url::Position::BeforeHost..url::Position::AfterPort],
            )
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("wsgate/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| failed(format!("cannot build the request ({e})")))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| failed(format!("no HTTP answer ({e})")))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(failed(format!(
                "HTTP {status}: redirects are not followed; configure the final URL"
            )));
        }
        if status != StatusCode::OK {
            return Err(failed(format!("HTTP {status}, expected 200")));
        }
        match Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
        {
            Ok(body) => Ok(body.to_bytes()),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(Failure::Invalid(
                format!("{url}: body larger than {MAX_BODY_BYTES} bytes"),
            )),
            Err(e) => Err(failed(format!("body not received ({e})"))),
        }
    }
}

/// Text from a remote document, quoted and cut short for logs.
fn shown(text: &str) -> String {
    const LIMIT: usize = 96;
    let mut end = text.len().min(LIMIT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end < text.len() {
        format!("{:?}…", &text[..end])
    } else {
        format!("{text:?}")
    }
}
