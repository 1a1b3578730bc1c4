//! Hop-by-hop headers (RFC 9110 §7.6.1): the one list of fields that describe a single
//! connection and never cross wsgate, plus the names a message's `Connection` header
//! declares hop-by-hop. Used for the upstream request, for an upstream's refusal of the
//! upgrade, for plain-HTTP responses, and by config validation to refuse such names as
//! identity headers.

use std::collections::HashSet;

use http::HeaderMap;
use http::header;

/// The fields that apply to one connection only: `Connection` and the ones RFC 9110
/// §7.6.1 names (`Proxy-Connection`, `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`),
/// `Trailer`, and the proxy credentials, meant for the next hop alone (RFC 9110 §11.7).
/// Lowercase, as `HeaderName::as_str` spells names.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` (lowercase) is one of [`HOP_BY_HOP`].
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.contains(&name)
}

/// The names `Connection` lists (hop-by-hop by declaration, RFC 9110 §7.6.1), lowercase,
/// other than `upgrade` and `keep-alive`, which [`is_hop_by_hop`] drops anyway: for the
/// usual `Upgrade` / `keep-alive, Upgrade` the set is empty and nothing is allocated.
/// Built once per message, so a long list costs one pass, not one per header.
pub fn connection_named(headers: &HeaderMap) -> HashSet<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| {
            !t.is_empty()
                && !t.eq_ignore_ascii_case("upgrade")
                && !t.eq_ignore_ascii_case("keep-alive")
        })
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Removes from `headers` every hop-by-hop field: those `Connection` names, then
/// [`HOP_BY_HOP`].
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in connection_named(headers) {
        headers.remove(name.as_str());
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn only_the_listed_names_are_hop_by_hop() {
        for name in [
            "host",
            "content-length",
            "authorization",
            "trailers",
            "x-te",
        ] {
            assert!(!is_hop_by_hop(name), "{name}");
        }
    }

    #[test]
    fn connection_names_its_own_hop_by_hop_fields() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Drop-Me ,Upgrade"),
        );
        headers.append(header::CONNECTION, HeaderValue::from_static("x-also, ,"));
        let named = connection_named(&headers);
        let mut named: Vec<&str> = named.iter().map(String::as_str).collect();
        named.sort_unstable();
        assert_eq!(named, ["x-also", "x-drop-me"]);
    }

    #[test]
    fn stripping_keeps_end_to_end_fields() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "close, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authenticate", "Basic"),
            ("transfer-encoding", "chunked"),
            ("content-type", "text/plain"),
            ("set-cookie", "a=b"),
        ] {
            headers.append(name, HeaderValue::from_static(value));
        }
        strip_hop_by_hop(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "set-cookie"]);
    }
}
