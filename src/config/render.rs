//! Renders the effective policy for `wsgate check`, secrets as fingerprints.
//!
//! The output reads like the config file with every default filled in, plus comments for
//! what was computed (issuers disabled in this environment, the implicit catch-all route,
//! whether the bypass is active) and the warnings. It never contains secret material:
//! secrets appear as `sha256:<12 hex> from env var NAME`.

mod tls;

use std::fmt::Write;
use std::time::Duration;

use super::secret::fingerprint;
use super::{
    Config, DenyMode, IssuerConfig, KeySource, RouteAuth, RouteConfig, Secret, SessionExpiry,
    TokenSource,
};

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

    let auth = &config.auth;
    writeln!(out, "\n[auth]")?;
    let deny = match auth.deny {
        DenyMode::Http => "http",
        DenyMode::Close => "close",
    };
    writeln!(out, "deny = {}", quote(deny))?;
    let sources: Vec<String> = auth.token_sources.iter().map(token_source).collect();
    writeln!(out, "token_sources = {}", list(&sources))?;
    writeln!(out, "leeway = {}", duration(auth.leeway))?;
    let expiry = match auth.session_expiry {
        SessionExpiry::Close => "close",
        SessionExpiry::Keep => "keep",
    };
    writeln!(out, "session_expiry = {}", quote(expiry))?;
    writeln!(out, "max_token_bytes = {}", auth.max_token_bytes)?;
    write!(out, "token_cache_size = {}", auth.token_cache_size)?;
    if auth.token_cache_size == 0 {
        write!(out, "  # no verified-token cache")?;
    }
    writeln!(out)?;
    write!(out, "allowed_origins = {}", list(&auth.allowed_origins))?;
    if auth.allowed_origins.is_empty() {
        write!(out, "  # Origin is not checked")?;
    }
    writeln!(out)?;
    writeln!(out, "forward_token = {}", auth.forward_token)?;
    match auth.max_lifetime {
        Some(max) => writeln!(out, "max_lifetime = {}", duration(max))?,
        None => writeln!(
            out,
            "# max_lifetime: not set (token lifetime is not limited)"
        )?,
    }
    if auth.issuers.is_empty() {
        writeln!(
            out,
            "# no issuers: only the E2E bypass or auth = \"none\" routes admit callers"
        )?;
    }
    for issuer in &auth.issuers {
        write_issuer(out, issuer, &config.environment)?;
    }

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

    for route in &config.routes {
        write_route(out, route)?;
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

fn write_issuer(out: &mut String, issuer: &IssuerConfig, environment: &str) -> std::fmt::Result {
    write!(out, "\n[[auth.issuers]]")?;
    if !issuer.enabled {
        write!(
            out,
            "  # DISABLED in environment {}; enabled in: {}",
            quote(environment),
            issuer.environments.join(", ")
        )?;
    } else if !issuer.environments.is_empty() {
        write!(
            out,
            "  # enabled here; scoped to: {}",
            issuer.environments.join(", ")
        )?;
    }
    writeln!(out)?;
    writeln!(out, "name = {}", quote(&issuer.name))?;
    writeln!(out, "issuer = {}", quote(&issuer.issuer))?;
    write!(out, "audiences = {}", list(&issuer.audiences))?;
    if issuer.audiences.is_empty() {
        write!(out, "  # aud is not checked")?;
    }
    writeln!(out)?;
    let algorithms: Vec<String> = issuer.algorithms.iter().map(|a| format!("{a:?}")).collect();
    writeln!(out, "algorithms = {}", list(&algorithms))?;
    match &issuer.keys {
        KeySource::Secret { secret: key, kid } if !issuer.enabled => {
            writeln!(
                out,
                "secret = {}  # not read while disabled",
                quote(&key.source().to_string())
            )?;
            if let Some(kid) = kid {
                writeln!(out, "kid = {}", quote(kid))?;
            }
        }
        KeySource::Secret { secret: key, kid } => {
            writeln!(out, "secret = {}", quote(&secret(key)))?;
            if let Some(kid) = kid {
                writeln!(out, "kid = {}", quote(kid))?;
            }
        }
        KeySource::PublicKeyFile { path, pem, kid } => {
            writeln!(
                out,
                "public_key_file = {}  # {}",
                quote(&path.display().to_string()),
                material(issuer, pem)
            )?;
            if let Some(kid) = kid {
                writeln!(out, "kid = {}", quote(kid))?;
            }
        }
        KeySource::JwksFile { path, json } => writeln!(
            out,
            "jwks_file = {}  # {}",
            quote(&path.display().to_string()),
            material(issuer, json)
        )?,
        KeySource::Remote(remote) => {
            let note = if issuer.enabled {
                "fetched while serving"
            } else {
                "not fetched while disabled"
            };
            writeln!(
                out,
                "{} = {}  # {note}",
                remote.location.key(),
                quote(remote.location.url().as_str())
            )?;
            writeln!(out, "jwks_refresh = {}", duration(remote.refresh))?;
            writeln!(out, "jwks_cooldown = {}", duration(remote.cooldown))?;
            writeln!(out, "jwks_max_stale = {}", duration(remote.max_stale))?;
            writeln!(out, "jwks_timeout = {}", duration(remote.timeout))?;
            if let Some(ca_file) = &remote.ca_file {
                writeln!(
                    out,
                    "jwks_ca_file = {}  # trusted instead of the public roots",
                    quote(&ca_file.display().to_string())
                )?;
            }
        }
    }
    if let Some(typ) = &issuer.typ {
        writeln!(out, "typ = {}", quote(typ))?;
    }
    writeln!(out, "environments = {}", list(&issuer.environments))
}

fn write_route(out: &mut String, route: &RouteConfig) -> std::fmt::Result {
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

/// Public key material: not secret, but a fingerprint is enough to compare deployments.
fn material(issuer: &IssuerConfig, bytes: &[u8]) -> String {
    if issuer.enabled {
        format!("{}, {} bytes", fingerprint(bytes), bytes.len())
    } else {
        "not read while disabled".to_owned()
    }
}

fn secret(secret: &Secret) -> String {
    format!("{} from {}", secret.fingerprint(), secret.source())
}

fn token_source(source: &TokenSource) -> String {
    match source {
        TokenSource::Header(name) => format!("header:{name}"),
        TokenSource::Protocol(marker) => format!("protocol:{marker}"),
        TokenSource::Query(name) => format!("query:{name}"),
        TokenSource::Cookie(name) => format!("cookie:{name}"),
    }
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
mod tests {
    use super::*;

    const SECRET: &str = "k3Jx9vQ2mW7pL5tR8nB4cF6hD1gS0aZeYuIoP-_.~Xq";
    const BYPASS_KEY: &str = "e2e-Vb7Nq3Lk9Xw2Jr5Tz8Mc4Hf6Gd1Sa0PyQu";

    const TEXT: &str = r#"
        environment = "staging"
        [server]
        max_session_duration = "none"
        [upstream]
        url = "ws://127.0.0.1:8000/app"
        [auth]
        token_sources = ["header:authorization", "query:access_token"]
        [[auth.issuers]]
        name = "primary"
        issuer = "https://auth.example.com"
        audiences = ["chat"]
        algorithms = ["HS256"]
        secret = { env = "JWT_SECRET" }
        kid = "2024"
        [[auth.issuers]]
        name = "prod-only"
        issuer = "https://prod.example.com"
        algorithms = ["HS256"]
        secret = { env = "PROD_SECRET" }
        environments = ["production"]
        [identity.claim_headers]
        "X-Auth-Email" = "email"
        [e2e_bypass]
        enabled = true
        keys = [{ name = "ci", secret = { env = "E2E_KEY" } }]
        [[routes]]
        path = "/ws"
        claims = { scope = "chat" }
    "#;

    fn config() -> Config {
        let env = |name: &str| match name {
            "JWT_SECRET" => Some(SECRET.to_owned()),
            "E2E_KEY" => Some(BYPASS_KEY.to_owned()),
            _ => None,
        };
        Config::parse(TEXT, "test.toml", &env, std::path::Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn shows_fingerprints_and_sources_never_secrets() {
        let shown = render(&config());
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(!shown.contains(BYPASS_KEY), "{shown}");
        let jwt = format!("{} from env var JWT_SECRET", fingerprint(SECRET.as_bytes()));
        assert!(shown.contains(&jwt), "{shown}");
        let key = format!(
            "{} from env var E2E_KEY",
            fingerprint(BYPASS_KEY.as_bytes())
        );
        assert!(shown.contains(&key), "{shown}");
    }

    #[test]
    fn fills_defaults_and_notes_computed_policy() {
        let shown = render(&config());
        for expected in [
            "environment = \"staging\"",
            "listen = \"0.0.0.0:8080\"",
            "handshake_timeout = \"10s\"",
            "max_session_duration = \"none\"  # unlimited",
            "idle_timeout = \"10m\"",
            "send_timeout = \"none\"  # unlimited",
            "max_pings_per_second = 1000",
            "url = \"ws://127.0.0.1:8000/app\"",
            "token_sources = [\"header:authorization\", \"query:access_token\"]",
            "allowed_origins = []  # Origin is not checked",
            "kid = \"2024\"",
            "# DISABLED in environment \"staging\"; enabled in: production",
            "secret = \"env var PROD_SECRET\"  # not read while disabled",
            "audiences = []  # aud is not checked",
            "\"x-auth-email\" = \"email\"",
            "[e2e_bypass]  # ACTIVE in environment \"staging\"",
            "claims = { \"scope\" = \"chat\" }",
            "[[routes]]  # implicit catch-all: no configured route has path \"/\"",
            "# warnings:",
            "query:access_token: tokens in URLs",
        ] {
            assert!(
                shown.contains(expected),
                "missing {expected:?} in:\n{shown}"
            );
        }
    }

    #[test]
    fn the_output_is_toml_with_the_same_shape() {
        let shown = render(&config());
        let parsed: toml::Table = toml::from_str(&shown).unwrap_or_else(|e| panic!("{e}\n{shown}"));
        assert_eq!(parsed["auth"]["issuers"].as_array().unwrap().len(), 2);
        assert_eq!(parsed["routes"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn remote_key_sets_show_their_url_and_timing() {
        let text = r#"
            environment = "staging"
            [upstream]
            url = "ws://127.0.0.1:8000"
            [[auth.issuers]]
            name = "idp"
            issuer = "https://idp.example.com"
            audiences = ["chat"]
            algorithms = ["RS256"]
            discovery_url = "https://idp.example.com/.well-known/openid-configuration"
            jwks_cooldown = "1m"
        "#;
        let config = Config::parse(text, "test.toml", &|_| None, std::path::Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}"));
        let shown = render(&config);
        for expected in [
            "discovery_url = \"https://idp.example.com/.well-known/openid-configuration\"  # fetched while serving",
            "jwks_refresh = \"10m\"",
            "jwks_cooldown = \"1m\"",
            "jwks_max_stale = \"1day\"",
            "jwks_timeout = \"5s\"",
        ] {
            assert!(
                shown.contains(expected),
                "missing {expected:?} in:\n{shown}"
            );
        }
        let reparsed = Config::parse(&shown, "shown.toml", &|_| None, std::path::Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}\n{shown}"));
        assert!(matches!(
            reparsed.auth.issuers[0].keys,
            KeySource::Remote(_)
        ));
    }

    #[test]
    fn a_private_ca_for_a_key_set_is_shown() {
        let ca = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tls/localhost.crt.pem"
        );
        let text = format!(
            "environment = \"staging\"\n[upstream]\nurl = \"ws://127.0.0.1:8000\"\n\
             [[auth.issuers]]\nname = \"idp\"\nissuer = \"https://idp\"\naudiences = [\"a\"]\n\
             algorithms = [\"RS256\"]\njwks_url = \"https://idp.internal/jwks\"\njwks_ca_file = {ca:?}\n"
        );
        let config = Config::parse(&text, "test.toml", &|_| None, std::path::Path::new("/"))
            .unwrap_or_else(|e| panic!("{e}"));
        let shown = render(&config);
        assert!(
            shown.contains(&format!(
                "jwks_ca_file = {ca:?}  # trusted instead of the public roots"
            )),
            "{shown}"
        );
    }
}
