//! Renders the effective policy for `wsgate check`, secrets as fingerprints.
//!
//! The output reads like the config file with every default filled in, plus comments for
//! what was computed (issuers disabled in this environment, the implicit catch-all route,
//! whether the bypass is active) and the warnings. It never contains secret material:
//! secrets appear as `sha256:<12 hex> from env var NAME`.

mod auth;
mod routes;
mod tls;

use std::fmt::Write;
use std::time::Duration;

use super::{Config, Secret};

/// The effective configuration as TOML-like text.
pub fn render(config: &Config) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_config(&mut out, config);
    out
}

fn write_config(out: &mut String, config: &Config) -> std::fmt::Result {
    writeln!(
        out,
        "# effective wsgate configuration (defaults filled in, secrets as fingerprints)"
    )?;
    writeln!(out, "environment = {}", quote(&config.environment))?;

    let server = &config.server;
    writeln!(out, "\n[server]")?;
    writeln!(out, "listen = {}", quote(&server.listen.to_string()))?;
    writeln!(
        out,
        "admin_listen = {}",
        quote(&server.admin_listen.to_string())
    )?;
    writeln!(out, "max_connections = {}", server.max_connections)?;
    writeln!(
        out,
        "handshake_timeout = {}",
        duration(server.handshake_timeout)
    )?;
    writeln!(out, "drain_timeout = {}", duration(server.drain_timeout))?;
    writeln!(
        out,
        "max_session_duration = {}",
        optional_duration(server.max_session_duration)
    )?;
    writeln!(
        out,
        "idle_timeout = {}",
        optional_duration(server.idle_timeout)
    )?;
    writeln!(out, "max_frame_bytes = {}", server.max_frame_bytes)?;
    writeln!(out, "max_message_bytes = {}", server.max_message_bytes)?;
    writeln!(
        out,
        "send_timeout = {}",
        optional_duration(server.send_timeout)
    )?;
    writeln!(
        out,
        "max_pings_per_second = {}",
        server.max_pings_per_second
    )?;
    match &server.tls {
        Some(files) => tls::write_listener(out, files)?,
        None => writeln!(
            out,
            "# tls: off (plain HTTP; terminate TLS in front of wsgate)"
        )?,
    }

    writeln!(
        out,
        "trust_forwarded_headers = {}",
        server.trust_forwarded_headers
    )?;

    let upstream = &config.upstream;
    writeln!(out, "\n[upstream]")?;
    writeln!(out, "url = {}", quote(upstream.url.as_str()))?;
    writeln!(
        out,
        "connect_timeout = {}",
        duration(upstream.connect_timeout)
    )?;
    writeln!(
        out,
        "response_timeout = {}",
        duration(upstream.response_timeout)
    )?;
    writeln!(out, "preserve_host = {}", upstream.preserve_host)?;
    if let Some(ca_file) = &upstream.ca_file {
        writeln!(
            out,
            "ca_file = {}  # trusted instead of the public roots",
            quote(&ca_file.display().to_string())
        )?;
    }
    tls::write_upstream(out, upstream)?;

    auth::write(out, config)?;

    let identity = &config.identity;
    writeln!(out, "\n[identity]")?;
    writeln!(
        out,
        "user_header = {}",
        quote(identity.user_header.as_str())
    )?;
    writeln!(out, "user_claim = {}", quote(&identity.user_claim))?;
    writeln!(
        out,
        "method_header = {}",
        quote(identity.method_header.as_str())
    )?;
    tls::write_user_from(out, config)?;
    writeln!(out, "[identity.claim_headers]")?;
    if identity.claim_headers.is_empty() {
        writeln!(out, "# none")?;
    }
    for (header, claim) in &identity.claim_headers {
        writeln!(out, "{} = {}", quote(header.as_str()), quote(claim))?;
    }
    tls::write_assertion(out, config)?;

    routes::write_bypass(out, config)?;
    for route in &config.routes {
        routes::write_route(out, route)?;
    }

    super::sessions::render(out, &config.sessions, &config.admin)?;

    if !config.warnings.is_empty() {
        writeln!(out, "\n# warnings:")?;
        for warning in &config.warnings {
            writeln!(out, "#  - {warning}")?;
        }
    }
    Ok(())
}

fn secret(secret: &Secret) -> String {
    format!("{} from {}", secret.fingerprint(), secret.source())
}

fn duration(duration: Duration) -> String {
    quote(&humantime::format_duration(duration).to_string())
}

fn optional_duration(duration: Option<Duration>) -> String {
    match duration {
        Some(d) => self::duration(d),
        None => "\"none\"  # unlimited".to_owned(),
    }
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| quote(item)).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests;
