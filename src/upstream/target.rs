//! Where the rewritten request goes: the upstream's base path, then the client's path
//! and query with every query-token parameter removed, and the authority an
//! absolute-form request target names.

use std::borrow::Cow;

use http::header::HeaderValue;

use crate::config::{Config, TokenSource};

/// The path and query sent upstream: the upstream URL's base path, then the client's
/// path, with every configured query-token parameter removed (query tokens never travel
/// further, RFC 6750 §5.3).
///
/// Borrowed from `path` when there is nothing to add or take away (no base path, no
/// query): no copy on the usual handshake.
pub fn upstream_path<'a>(config: &Config, path: &'a str, query: Option<&str>) -> Cow<'a, str> {
    let base = &config.upstream.base_path;
    if base.is_empty() && query.is_none() {
        return Cow::Borrowed(if path.is_empty() { "/" } else { path });
    }
    let mut out = String::with_capacity(base.len() + path.len() + query.map_or(0, str::len) + 1);
    out.push_str(base);
    out.push_str(if path.is_empty() { "/" } else { path });
    let is_token = |key: &str| {
        let sources = &config.auth.token_sources;
        sources
            .iter()
            .any(|s| matches!(s, TokenSource::Query(name) if name == key))
    };
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| {
                if pair.is_empty() {
                    return false;
                }
                let raw_key = pair.split_once('=').map_or(*pair, |(k, _)| k);
                let key: String = url::form_urlencoded::parse(raw_key.as_bytes())
                    .next()
                    .map(|(k, _)| k.into_owned())
                    .unwrap_or_default();
                !is_token(&key)
            })
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    Cow::Owned(out)
}

/// `host[:port]` of an absolute-form request target, without userinfo; `None` for the
/// origin form.
pub fn target_host(uri: &http::Uri) -> Option<HeaderValue> {
    let authority = uri.authority()?;
    let host = match authority.port() {
        Some(port) => format!("{}:{port}", authority.host()),
        None => authority.host().to_owned(),
    };
    HeaderValue::from_str(&host).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(upstream: &str) -> Config {
        let text = format!(
            r#"
environment = "test"
[upstream]
url = "{upstream}"
[auth]
token_sources = ["header:authorization", "query:access_token"]
[[auth.issuers]]
name = "primary"
issuer = "https://auth.example.com"
audiences = ["chat"]
algorithms = ["HS256"]
secret = "k3Jx9vQ2mW7pL5tR8nB4cF6hD1gS0aZeYuIoP-_.~Xq"
"#
        );
        Config::parse(&text, "test.toml", &|_| None, std::path::Path::new("/"))
            .unwrap_or_else(|errors| panic!("{errors}"))
    }

    #[test]
    fn the_path_is_borrowed_only_when_nothing_is_added_or_removed() {
        let root = config("ws://backend.internal:8080/");
        let path = upstream_path(&root, "/ws", None);
        assert!(matches!(path, Cow::Borrowed("/ws")));
        assert!(matches!(upstream_path(&root, "", None), Cow::Borrowed("/")));
        assert_eq!(upstream_path(&root, "/ws", Some("")), "/ws");
        assert_eq!(
            upstream_path(&root, "/ws", Some("room=1&&access_token=t&x")),
            "/ws?room=1&x"
        );
        assert_eq!(upstream_path(&root, "/ws", Some("access_token=t")), "/ws");

        let based = config("ws://backend.internal:8080/api/");
        assert_eq!(upstream_path(&based, "/ws", None), "/api/ws");
        assert_eq!(upstream_path(&based, "", None), "/api/");
        assert_eq!(upstream_path(&based, "/ws", Some("a=1")), "/api/ws?a=1");
    }
}
