//! The one path normalization: what routes are matched against and what is forwarded.
//!
//! wsgate judges a request by its path and the upstream serves it by its path; if the
//! two read different paths, a request judged under a weak route can be served by a
//! strict one (`GET /%77s` judged under `/`, served by a decoding upstream as `/ws`). So
//! the path is normalized once, before route matching, and that normalized path is the
//! one forwarded upstream: both sides see the same bytes.
//!
//! The normalization is RFC 3986 §6.2.2: percent-encoded unreserved characters (ALPHA,
//! DIGIT, `-`, `_`, `~`) are decoded and the hex digits of every other percent-encoding
//! are uppercased. What a backend could resolve differently from wsgate's route match is
//! refused instead ([`AmbiguousPath`], 400 `ambiguous_path`): dot segments, empty segments
//! (`//`), `;` parameters, `\`, and the percent-encodings that would change routing once
//! decoded: `%2F` (`/`), `%5C` (`\`), `%2E` (`.`, only ever used to smuggle a dot segment),
//! and control bytes (`%00`–`%1F`, `%7F`). A `%` not followed by two hex digits is sent
//! as `%25`, so it can never combine with what follows into another encoding.

use std::borrow::Cow;

use http::Uri;
use http::uri::{Parts, PathAndQuery};

/// A path wsgate refuses to judge: a backend could resolve it to another route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmbiguousPath;

/// The normalized form of `path` (origin-form, starting with `/`), or `*` unchanged.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, AmbiguousPath> {
    if path == "*" {
        return Ok(Cow::Borrowed(path));
    }
    if !path.starts_with('/') || path.contains('\\') || path.contains("//") || path.contains(';') {
        return Err(AmbiguousPath);
    }
    let normalized = if path.contains('%') {
        Cow::Owned(decode_unreserved(path)?)
    } else {
        Cow::Borrowed(path)
    };
    if normalized
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(AmbiguousPath);
    }
    Ok(normalized)
}

/// `uri` with its path normalized ([`normalize`]); scheme, authority and query are kept.
/// Returns the same `Uri` (a cheap clone) when the path is already normal.
pub fn normalize_uri(uri: &Uri) -> Result<Uri, AmbiguousPath> {
    let Cow::Owned(path) = normalize(uri.path())? else {
        return Ok(uri.clone());
    };
    let path_and_query = match uri.query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = Parts::from(uri.clone());
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).map_err(|_| AmbiguousPath)?);
    Uri::from_parts(parts).map_err(|_| AmbiguousPath)
}

/// Decodes `%XX` of unreserved characters, uppercases the others, refuses the encodings
/// that change routing.
fn decode_unreserved(path: &str) -> Result<String, AmbiguousPath> {
    let bytes = path.as_bytes();
    // Bytes, not chars: a path's non-ASCII bytes are copied as they are.
    let mut out = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let (Some(high), Some(low)) = (
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) else {
            // A `%` that starts no encoding is sent as `%25`: left bare, it could join
            // with what follows into an encoding a second decoder reads (`%2%66` → `%2f`).
            out.extend_from_slice(b"%25");
            i += 1;
            continue;
        };
        let decoded = high << 4 | low;
        match decoded {
            b'/' | b'\\' | b'.' | 0x00..=0x1f | 0x7f => return Err(AmbiguousPath),
            c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'~') => {
                out.push(c);
            }
            _ => {
                out.push(b'%');
                out.push(bytes[i + 1].to_ascii_uppercase());
                out.push(bytes[i + 2].to_ascii_uppercase());
            }
        }
        i += 3;
    }
    // Only ASCII was added to a copy of a `str`'s other bytes.
    String::from_utf8(out).map_err(|_| AmbiguousPath)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_unreserved_characters_are_judged_decoded() {
        for (raw, normal) in [
            ("/%77s", "/ws"),
            ("/w%73", "/ws"),
            ("/%57%53", "/WS"),
            ("/api/%61dmin", "/api/admin"),
            ("/%61pi/admin", "/api/admin"),
            ("/a%2db%5fc%7Ed", "/a-b_c~d"),
            ("/a%20b", "/a%20b"),
            ("/a%3fb%3Bc", "/a%3Fb%3Bc"),
            ("/a%e9", "/a%E9"),
            ("/ws", "/ws"),
            ("/", "/"),
            ("*", "*"),
            ("/a.b/c..d", "/a.b/c..d"),
            ("/%2", "/%252"),
            ("/a%", "/a%25"),
            ("/%2%66", "/%252f"),
            ("/%%77s", "/%25ws"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok(normal), "{raw}");
        }
    }

    #[test]
    fn encodings_that_change_routing_are_refused() {
        for path in [
            "/public/../ws",
            "/ws/./x",
            "/x/..",
            "//ws",
            "/ws;x=1",
            "/a\\b",
            "/a%2e%2e/ws",
            "/a%2Fws",
            "/a%2f",
            "/a%2E/ws",
            "/a%5cb",
            "/a%5Cb",
            "/a%00b",
            "/a%0d%0a",
            "/a%7f",
            "ws",
            "",
        ] {
            assert_eq!(normalize(path), Err(AmbiguousPath), "{path}");
        }
    }

    #[test]
    fn normalization_is_idempotent() {
        for raw in ["/%77s/%e9", "/a%20b", "/%2%66", "/a%"] {
            let once = normalize(raw).unwrap().into_owned();
            assert_eq!(normalize(&once).unwrap(), once);
        }
    }

    #[test]
    fn the_uri_keeps_its_query_scheme_and_authority() {
        let uri: Uri = "http://example.com/%77s?token=a%77&x=1".parse().unwrap();
        let normal = normalize_uri(&uri).unwrap();
        assert_eq!(normal.path(), "/ws");
        assert_eq!(normal.query(), Some("token=a%77&x=1"));
        assert_eq!(normal.authority().unwrap().as_str(), "example.com");
        assert_eq!(normal.scheme_str(), Some("http"));
        let plain: Uri = "/ws?x=1".parse().unwrap();
        assert_eq!(normalize_uri(&plain).unwrap(), plain);
    }
}
