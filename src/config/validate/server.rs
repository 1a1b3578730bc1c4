//! `[server]` and `[upstream]`: listeners (with the `PORT` override), limits, timeouts,
//! TLS files, and the upstream URL.

use std::net::SocketAddr;

use super::Validator;
use crate::config::raw::{RawServer, RawUpstream};
use crate::config::{CertificateFiles, ClientAuth, ServerConfig, TlsFiles, UpstreamConfig};

impl Validator<'_> {
    pub(super) fn server(&mut self, raw: RawServer) -> Option<ServerConfig> {
        let mark = self.errors.len();
        let listen = self.listen(raw.listen.as_deref());
        let admin_listen = self.socket_addr(
            "server.admin_listen",
            raw.admin_listen.as_deref().unwrap_or("0.0.0.0:9090"),
        );
        if let (Some(listen), Some(admin)) = (listen, admin_listen) {
            let same_ip = listen.ip() == admin.ip()
                || listen.ip().is_unspecified()
                || admin.ip().is_unspecified();
            if listen.port() != 0 && listen.port() == admin.port() && same_ip {
                self.error::<()>(
                    "server.admin_listen",
                    format!(
                        "{admin} overlaps server.listen ({listen}); give the admin endpoints their own port"
                    ),
                );
            }
        }
        let max_connections = self.integer(
            "server.max_connections",
            raw.max_connections,
            10_000,
            1,
            10_000_000,
        );
        let handshake_timeout = self.duration(
            "server.handshake_timeout",
            raw.handshake_timeout.as_deref(),
            "10s",
        );
        let drain_timeout = self.duration_allow_zero(
            "server.drain_timeout",
            raw.drain_timeout.as_deref().unwrap_or("25s"),
        );
        let max_session_duration = self.optional_duration(
            "server.max_session_duration",
            raw.max_session_duration.as_deref().unwrap_or("55m"),
        );
        let idle_timeout = self.optional_duration(
            "server.idle_timeout",
            raw.idle_timeout.as_deref().unwrap_or("10m"),
        );
        let max_frame_bytes = self.integer(
            "server.max_frame_bytes",
            raw.max_frame_bytes,
            1 << 20,
            125,
            1 << 30,
        );
        let max_message_bytes = self.integer(
            "server.max_message_bytes",
            raw.max_message_bytes,
            16 << 20,
            125,
            1 << 32,
        );
        if let (Some(frame), Some(message)) = (max_frame_bytes, max_message_bytes)
            && frame > message
        {
            self.error::<()>(
                "server.max_frame_bytes",
                format!(
                    "{frame} exceeds server.max_message_bytes ({message}); a frame is part of a message, so lower it or raise max_message_bytes"
                ),
            );
        }
        let send_timeout = self.optional_duration(
            "server.send_timeout",
            raw.send_timeout.as_deref().unwrap_or("none"),
        );
        let max_pings_per_second = self.integer(
            "server.max_pings_per_second",
            raw.max_pings_per_second,
            1000,
            1,
            1_000_000,
        );
        let tls = match raw.tls {
            None => Some(None),
            Some(tls) => {
                let cert_file =
                    self.readable_file("server.tls.cert_file", tls.cert_file.as_deref());
                let key_file = self.readable_file("server.tls.key_file", tls.key_file.as_deref());
                let client_ca_file = match tls.client_ca_file.as_deref() {
                    None => Some(None),
                    Some(path) => self.ca_file("server.tls.client_ca_file", path).map(Some),
                };
                let client_auth = match (tls.client_auth.as_deref(), &tls.client_ca_file) {
                    (Some(_), None) => self.error(
                        "server.tls.client_auth",
                        "needs server.tls.client_ca_file: client certificates are verified against it",
                    ),
                    (None | Some("required"), _) => Some(ClientAuth::Required),
                    (Some("optional"), _) => Some(ClientAuth::Optional),
                    (Some(other), _) => self.error(
                        "server.tls.client_auth",
                        format!(r#"{other:?} is not one of "required", "optional""#),
                    ),
                };
                Some(Some(TlsFiles {
                    cert_file: cert_file?,
                    key_file: key_file?,
                    client_ca_file: client_ca_file?,
                    client_auth: client_auth?,
                }))
            }
        };
        if self.errors.len() > mark {
            return None;
        }
        Some(ServerConfig {
            listen: listen?,
            admin_listen: admin_listen?,
            max_connections: usize::try_from(max_connections?).ok()?,
            handshake_timeout: handshake_timeout?,
            drain_timeout: drain_timeout?,
            max_session_duration: max_session_duration?,
            idle_timeout: idle_timeout?,
            max_frame_bytes: max_frame_bytes?,
            max_message_bytes: max_message_bytes?,
            send_timeout: send_timeout?,
            max_pings_per_second: u32::try_from(max_pings_per_second?).ok()?,
            tls: tls?,
            trust_forwarded_headers: raw.trust_forwarded_headers.unwrap_or(false),
        })
    }

    /// `server.listen`, with the port replaced by the `PORT` env var when it is set
    /// (Cloud Run and Heroku-style platforms choose the port).
    pub(super) fn listen(&mut self, raw: Option<&str>) -> Option<SocketAddr> {
        let mut addr = self.socket_addr("server.listen", raw.unwrap_or("0.0.0.0:8080"));
        if let Some(port) = (self.env)("PORT") {
            match port.trim().parse::<u16>() {
                Ok(port) => {
                    if let Some(addr) = &mut addr {
                        addr.set_port(port);
                    }
                }
                Err(_) => addr = self.error(
                    "server.listen",
                    format!(
                        "env var PORT ({port:?}) is not a port number (0-65535); fix or unset PORT"
                    ),
                ),
            }
        }
        addr
    }

    pub(super) fn upstream(&mut self, raw: Option<RawUpstream>) -> Option<UpstreamConfig> {
        let Some(raw) = raw else {
            return self.error(
                "upstream.url",
                r#"is required: the backend to relay to, e.g. [upstream] url = "ws://127.0.0.1:8000""#,
            );
        };
        let connect_timeout = self.duration(
            "upstream.connect_timeout",
            raw.connect_timeout.as_deref(),
            "5s",
        );
        let response_timeout = self.duration(
            "upstream.response_timeout",
            raw.response_timeout.as_deref(),
            "60s",
        );
        let Some(text) = raw.url else {
            return self.error(
                "upstream.url",
                r#"is required, e.g. url = "ws://127.0.0.1:8000""#,
            );
        };
        let url = match url::Url::parse(&text) {
            Ok(url) => url,
            Err(err) => {
                // The text is not quoted: a malformed URL may still carry credentials.
                return self.error(
                    "upstream.url",
                    format!("is not a URL ({err}); write e.g. \"ws://127.0.0.1:8000\""),
                );
            }
        };
        let mut problems = Vec::new();
        let tls = match url.scheme() {
            "ws" | "http" => false,
            "wss" | "https" => true,
            other => {
                problems.push(format!(
                    "scheme {other:?} is not supported; use ws, wss, http or https"
                ));
                false
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            problems.push(
                "must not carry credentials (user:password@); the upstream trusts wsgate's identity headers instead"
                    .to_owned(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            problems.push(
                "must not have a query or fragment; the client's query is forwarded".to_owned(),
            );
        }
        let host = url.host_str().filter(|h| !h.is_empty());
        if host.is_none() {
            problems.push("has no host".to_owned());
        }
        if !problems.is_empty() {
            for problem in problems {
                // Never quote the URL itself: it may carry a password.
                self.error::<()>("upstream.url", problem);
            }
            return None;
        }
        let ca_file = match raw.ca_file.as_deref() {
            None => Some(None),
            Some(_) if !tls => self.error(
                "upstream.ca_file",
                "is only used for a wss or https upstream; remove it or change upstream.url",
            ),
            Some(path) => self.ca_file("upstream.ca_file", path).map(Some),
        };
        let client_cert = match (
            raw.client_cert_file.as_deref(),
            raw.client_key_file.as_deref(),
        ) {
            (None, None) => Some(None),
            (Some(_), Some(_)) if !tls => self.error(
                "upstream.client_cert_file",
                "is only used for a wss or https upstream; remove it or change upstream.url",
            ),
            (Some(cert), Some(key)) => {
                let cert_file = self.readable_file("upstream.client_cert_file", Some(cert));
                let key_file = self.readable_file("upstream.client_key_file", Some(key));
                Some(Some(CertificateFiles {
                    cert_file: cert_file?,
                    key_file: key_file?,
                }))
            }
            (Some(_), None) => self.error(
                "upstream.client_key_file",
                "is required with upstream.client_cert_file",
            ),
            (None, Some(_)) => self.error(
                "upstream.client_cert_file",
                "is required with upstream.client_key_file",
            ),
        };
        let host = host?.to_owned();
        let port = url.port_or_known_default()?;
        let base_path = url.path().trim_end_matches('/').to_owned();
        Some(UpstreamConfig {
            tls,
            host,
            port,
            base_path,
            url,
            connect_timeout: connect_timeout?,
            response_timeout: response_timeout?,
            preserve_host: raw.preserve_host.unwrap_or(false),
            ca_file: ca_file?,
            client_cert: client_cert?,
        })
    }
}
