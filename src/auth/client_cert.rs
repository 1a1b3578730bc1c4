//! The client certificate's part of the decision: whether this request needs a verified
//! certificate (`server.tls.client_auth = "required"`, or the route's
//! `client_cert = "required"`), and, with `identity.user_from = "client_cert"`, the
//! caller it names.
//!
//! The chain itself is verified once per TLS connection, after the handshake
//! (`tls::ListenerTls::client_certificate`); this step only reads that verdict, so
//! `explain` and the proxy judge it the same way.

use http::HeaderValue;

use super::identity::is_safe_value;
use super::trace::{Outcome, Trace, step};
use crate::config::{ClientAuth, Config, RouteConfig, UserFrom};
use crate::domain::refusal::Refusal;
use crate::net::tls::ClientCertificate;

/// `Ok(Some(user))` when the certificate alone admits the caller on this route,
/// `Ok(None)` when the decision goes on to tokens, or the refusal.
pub(super) fn check(
    config: &Config,
    route: &RouteConfig,
    certificate: &ClientCertificate,
    trace: &mut dyn Trace,
) -> Result<Option<HeaderValue>, Refusal> {
    let listener_requires =
        config.server.tls.as_ref().is_some_and(|tls| {
            tls.client_ca_file.is_some() && tls.client_auth == ClientAuth::Required
        });
    let required = listener_requires || route.client_cert_required;
    match certificate {
        ClientCertificate::NotRequested | ClientCertificate::Missing if required => {
            step(
                trace,
                "client_cert",
                Outcome::Fail(Refusal::ClientCertMissing),
                || {
                    if route.client_cert_required {
                        format!(
                            "route {:?} needs a client certificate; none was presented",
                            route.path
                        )
                    } else {
                        "server.tls.client_auth = \"required\": every request needs a client certificate; none was presented".into()
                    }
                },
            );
            Err(Refusal::ClientCertMissing)
        }
        ClientCertificate::NotRequested => Ok(None),
        ClientCertificate::Missing => {
            step(trace, "client_cert", Outcome::Info, || {
                "no client certificate (optional here)".into()
            });
            Ok(None)
        }
        ClientCertificate::Invalid { problem } => {
            // Refused even where a certificate is optional: a presented certificate that
            // does not verify is never ignored.
            step(
                trace,
                "client_cert",
                Outcome::Fail(Refusal::ClientCertInvalid),
                || {
                    format!(
                        "the client certificate does not verify against server.tls.client_ca_file: {problem}"
                    )
                },
            );
            Err(Refusal::ClientCertInvalid)
        }
        ClientCertificate::Verified { identity } => {
            let by_certificate =
                route.client_cert_required && config.identity.user_from == UserFrom::ClientCert;
            if !by_certificate {
                step(trace, "client_cert", Outcome::Pass, || {
                    format!(
                        "client certificate verified ({})",
                        identity.as_deref().unwrap_or("no subject name")
                    )
                });
                return Ok(None);
            }
            let user = identity
                .as_deref()
                .filter(|name| is_safe_value(name))
                .and_then(|name| HeaderValue::from_str(name).ok());
            match user {
                Some(user) => {
                    step(trace, "client_cert", Outcome::Pass, || {
                        format!(
                            "client certificate verified; identity.user_from = \"client_cert\": user {:?}",
                            identity.as_deref().unwrap_or_default()
                        )
                    });
                    Ok(Some(user))
                }
                None => {
                    step(
                        trace,
                        "client_cert",
                        Outcome::Fail(Refusal::ClientCertInvalid),
                        || {
                            "the verified client certificate names no usable identity (no subject CN, no DNS, URI or email SAN, or one that is not a valid header value)".into()
                        },
                    );
                    Err(Refusal::ClientCertInvalid)
                }
            }
        }
    }
}
