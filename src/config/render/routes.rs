//! `check`'s rendering of who is admitted where: `[e2e_bypass]` (its keys as
//! fingerprints) and every `[[routes]]`, the implicit catch-all included.

use std::fmt::Write;

use super::{list, quote, secret, tls};
use crate::config::{Config, RouteAuth, RouteConfig};

/// `[e2e_bypass]`, saying whether it is active in this environment.
pub(super) fn write_bypass(out: &mut String, config: &Config) -> std::fmt::Result {
    let bypass = &config.e2e_bypass;
    let state = if bypass.active {
        format!("ACTIVE in environment {}", quote(&config.environment))
    } else {
        "off".to_owned()
    };
    writeln!(out, "\n[e2e_bypass]  # {state}")?;
    writeln!(out, "enabled = {}", bypass.enabled)?;
    writeln!(out, "header = {}", quote(bypass.header.as_str()))?;
    if bypass.keys.is_empty() {
        let why = if bypass.enabled {
            ""
        } else {
            "  # not loaded while disabled"
        };
        writeln!(out, "keys = []{why}")?;
    } else {
        writeln!(out, "keys = [")?;
        for key in &bypass.keys {
            writeln!(
                out,
                "  {{ name = {}, secret = {} }},",
                quote(&key.name),
                quote(&secret(&key.secret))
            )?;
        }
        writeln!(out, "]")?;
    }
    writeln!(
        out,
        "allowed_environments = {}",
        list(&bypass.allowed_environments)
    )?;
    writeln!(out, "user_header = {}", quote(bypass.user_header.as_str()))?;
    writeln!(out, "default_user = {}", quote(&bypass.default_user))?;
    Ok(())
}

pub(super) fn write_route(out: &mut String, route: &RouteConfig) -> std::fmt::Result {
    write!(out, "\n[[routes]]")?;
    if route.implicit {
        write!(
            out,
            "  # implicit catch-all: no configured route has path \"/\""
        )?;
    }
    writeln!(out)?;
    writeln!(out, "path = {}", quote(&route.path))?;
    let auth = match route.auth {
        RouteAuth::Required => "required",
        RouteAuth::Optional => "optional",
        RouteAuth::None => "none",
    };
    writeln!(out, "auth = {}", quote(auth))?;
    if !route.claims.is_empty() {
        let claims: Vec<String> = route
            .claims
            .iter()
            .map(|(claim, value)| format!("{} = {}", quote(claim), quote(value)))
            .collect();
        writeln!(out, "claims = {{ {} }}", claims.join(", "))?;
    }
    tls::write_route(out, route)
}
