//! Where the rewritten request goes: the upstream's base path, then the client's path
//! and query with every query-token parameter removed, and the authority an
//! absolute-form request target names.

use http::header::HeaderValue;

use crate::config::{Config, TokenSource};

/// The path and query sent upstream: the upstream URL's base path, then the client's
/// path, with every configured query-token parameter removed (query tokens never travel
/// further, RFC 6750 §5.3).
pub fn upstream_path(config: &Config, path: &str, query: Option<&str>) -> String {
    let base = &config.upstream.base_path;
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
    out
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
