//! `check`'s rendering of the signed identity assertion and the TLS keys around client
//! certificates (both sides). Key files are named, never shown: the `kid` identifies a key.

use std::fmt::Write;

use super::{duration, list, quote};
use crate::config::{ClientAuth, Config, RouteConfig, TlsFiles, UpstreamConfig, UserFrom};

/// `tls = { ... }` in `[server]`.
pub(super) fn write_listener(out: &mut String, tls: &TlsFiles) -> std::fmt::Result {
    write!(
        out,
        "tls = {{ cert_file = {}, key_file = {}",
        quote(&tls.cert_file.display().to_string()),
        quote(&tls.key_file.display().to_string())
    )?;
    if let Some(ca) = &tls.client_ca_file {
        let auth = match tls.client_auth {
            ClientAuth::Required => "required",
            ClientAuth::Optional => "optional",
        };
        write!(
            out,
            ", client_ca_file = {}, client_auth = {}",
            quote(&ca.display().to_string()),
            quote(auth)
        )?;
    }
    writeln!(out, " }}")
}

/// `client_cert_file` / `client_key_file` in `[upstream]`.
pub(super) fn write_upstream(out: &mut String, upstream: &UpstreamConfig) -> std::fmt::Result {
    if let Some(files) = &upstream.client_cert {
        writeln!(
            out,
            "client_cert_file = {}",
            quote(&files.cert_file.display().to_string())
        )?;
        writeln!(
            out,
            "client_key_file = {}",
            quote(&files.key_file.display().to_string())
        )?;
    }
    Ok(())
}

/// `user_from` in `[identity]` (before its subtables).
pub(super) fn write_user_from(out: &mut String, config: &Config) -> std::fmt::Result {
    let from = match config.identity.user_from {
        UserFrom::Token => "token",
        UserFrom::ClientCert => "client_cert",
    };
    writeln!(out, "user_from = {}", quote(from))
}

/// `[identity.assertion]`, with the `kid` of each key.
pub(super) fn write_assertion(out: &mut String, config: &Config) -> std::fmt::Result {
    writeln!(out, "[identity.assertion]")?;
    let Some(assertion) = &config.identity.assertion else {
        writeln!(out, "enabled = false")?;
        return writeln!(
            out,
            "# {} is still stripped from clients",
            config.identity.assertion_header
        );
    };
    writeln!(out, "enabled = true")?;
    writeln!(out, "header = {}", quote(assertion.header.as_str()))?;
    writeln!(out, "issuer = {}", quote(&assertion.issuer))?;
    match assertion.audience.as_slice() {
        [one] => writeln!(out, "audience = {}", quote(one))?,
        many => writeln!(out, "audience = {}", list(many))?,
    }
    writeln!(out, "ttl = {}", duration(assertion.ttl))?;
    writeln!(out, "algorithm = {}", quote(assertion.algorithm.as_str()))?;
    let kid = |file: &crate::config::KeyFile| {
        crate::jose::signing_key::SigningKey::from_pem(&file.pem, assertion.algorithm)
            .map(|key| format!("kid {}", key.kid()))
            .unwrap_or_else(|problem| problem)
    };
    match &assertion.key {
        Some(file) => writeln!(
            out,
            "key_file = {}  # {}",
            quote(&file.path.display().to_string()),
            kid(file)
        )?,
        None => writeln!(
            out,
            "# key_file: not set; a key is generated at start, so replicas (and restarts) disagree"
        )?,
    }
    if let Some(file) = &assertion.next_key {
        writeln!(
            out,
            "next_key_file = {}  # {}, published, not signing yet",
            quote(&file.path.display().to_string()),
            kid(file)
        )?;
    }
    writeln!(out, "claims = {}", list(&assertion.claims))
}

/// `client_cert` on a route, when required.
pub(super) fn write_route(out: &mut String, route: &RouteConfig) -> std::fmt::Result {
    if route.client_cert_required {
        writeln!(out, "client_cert = \"required\"")?;
    }
    Ok(())
}
