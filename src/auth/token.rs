//! Finding the bearer token in the configured sources (RFC 6750 §2).
//!
//! Every configured source is inspected, so a second credential anywhere is noticed:
//! two different tokens are `multiple_credentials`, and so is a source that carries more
//! than one value (two `Authorization` headers, a repeated query parameter), because the
//! request is ambiguous whichever copy we would pick.

use std::borrow::Cow;

use http::HeaderMap;
use http::header::{AUTHORIZATION, COOKIE, SEC_WEBSOCKET_PROTOCOL};

use crate::config::TokenSource;
use crate::domain::refusal::Refusal;

/// A token and the source it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    pub token: Cow<'a, str>,
    /// The configured source (one of `token_sources`).
    pub source: &'a TokenSource,
}

/// Looks in every source. `Ok(None)`: no credential anywhere.
pub fn extract<'a>(
    sources: &'a [TokenSource],
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> Result<Option<Found<'a>>, Refusal> {
    let mut found: Option<Found<'a>> = None;
    for source in sources {
        let Some(token) = from_source(source, headers, query)? else {
            continue;
        };
        match &found {
            None => found = Some(Found { token, source }),
            Some(first) if first.token == token => {}
            Some(_) => return Err(Refusal::MultipleCredentials),
        }
    }
    Ok(found)
}

fn from_source<'a>(
    source: &TokenSource,
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> Result<Option<Cow<'a, str>>, Refusal> {
    match source {
        TokenSource::Header(name) if name == AUTHORIZATION => bearer(headers),
        TokenSource::Header(name) => {
            let mut values = headers.get_all(name).iter();
            let Some(value) = values.next() else {
                return Ok(None);
            };
            if values.next().is_some() {
                return Err(Refusal::MultipleCredentials);
            }
            let text = value.to_str().map_err(|_| Refusal::TokenMalformed)?.trim();
            Ok((!text.is_empty()).then_some(Cow::Borrowed(text)))
        }
        TokenSource::Protocol(marker) => {
            single(protocol_tokens(headers, marker).map(Cow::Borrowed))
        }
        TokenSource::Query(name) => single(query_values(query, name)),
        TokenSource::Cookie(name) => single(cookie_values(headers, name).map(Cow::Borrowed)),
    }
}

/// `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110 §11.1).
/// Other schemes and empty tokens are not credentials for us.
fn bearer(headers: &HeaderMap) -> Result<Option<Cow<'_, str>>, Refusal> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Refusal::MultipleCredentials);
    }
    let Ok(text) = first.to_str() else {
        return Ok(None);
    };
    let text = text.trim();
    let (scheme, rest) = text.split_once([' ', '\t']).unwrap_or((text, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = rest.trim();
    Ok((!token.is_empty()).then_some(Cow::Borrowed(token)))
}

/// The element after each `marker` in the client's offered subprotocols: more than one
/// (`bearer, A, bearer, B`) is as ambiguous as two `Authorization` headers.
fn protocol_tokens<'a, 'm>(
    headers: &'a HeaderMap,
    marker: &'m str,
) -> impl Iterator<Item = &'a str> + use<'a, 'm> {
    let mut offered = offered_protocols(headers);
    std::iter::from_fn(move || {
        while let Some(item) = offered.next() {
            if item == marker {
                return Some(offered.next());
            }
        }
        None
    })
    .flatten()
}

/// Every subprotocol the client offered, in order, across repeated headers.
pub fn offered_protocols(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
}

fn query_values<'a>(query: Option<&'a str>, name: &str) -> std::vec::IntoIter<Cow<'a, str>> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value)
        .filter(|v| !v.trim().is_empty())
        .collect::<Vec<_>>()
        .into_iter()
}

/// Values of cookie `name` across every `Cookie` header.
pub fn cookie_values<'a, 'n>(
    headers: &'a HeaderMap,
    name: &'n str,
) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| {
            let (key, value) = pair.trim().split_once('=')?;
            let value = value.trim().trim_matches('"');
            (key.trim() == name && !value.is_empty()).then_some(value)
        })
}

/// One value, or none; several values in one source make the request ambiguous.
fn single<'a>(
    mut values: impl Iterator<Item = Cow<'a, str>>,
) -> Result<Option<Cow<'a, str>>, Refusal> {
    let Some(first) = values.next() else {
        return Ok(None);
    };
    for other in values {
        if other != first {
            return Err(Refusal::MultipleCredentials);
        }
    }
    Ok(Some(first))
}

/// `header:authorization, query:access_token, ...` for explain and logs.
pub fn describe_sources(sources: &[TokenSource]) -> String {
    sources
        .iter()
        .map(describe_source)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn describe_source(source: &TokenSource) -> String {
    match source {
        TokenSource::Header(name) => format!("header:{name}"),
        TokenSource::Protocol(marker) => format!("protocol:{marker}"),
        TokenSource::Query(name) => format!("query:{name}"),
        TokenSource::Cookie(name) => format!("cookie:{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::header_map as headers;

    fn all_sources() -> &'static [TokenSource] {
        static SOURCES: std::sync::LazyLock<Vec<TokenSource>> = std::sync::LazyLock::new(|| {
            vec![
                TokenSource::Header(AUTHORIZATION),
                TokenSource::Protocol("bearer".into()),
                TokenSource::Query("access_token".into()),
                TokenSource::Cookie("access_token".into()),
            ]
        });
        &SOURCES
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let h = headers(&[("authorization", "bEaReR abc.def.ghi")]);
        let found = extract(all_sources(), &h, None).unwrap().unwrap();
        assert_eq!(found.token, "abc.def.ghi");
        assert_eq!(found.source, &all_sources()[0]);
    }

    #[test]
    fn empty_bearer_and_other_schemes_are_no_credential() {
        for value in ["Bearer", "Bearer    ", "Basic dXNlcjpwYXNz", "Token abc"] {
            let h = headers(&[("authorization", value)]);
            assert_eq!(extract(all_sources(), &h, None), Ok(None), "{value}");
        }
    }

    #[test]
    fn two_authorization_headers_are_multiple_credentials() {
        let h = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer a")]);
        assert_eq!(
            extract(all_sources(), &h, None),
            Err(Refusal::MultipleCredentials)
        );
    }

    #[test]
    fn different_tokens_in_two_sources_are_multiple_credentials() {
        let h = headers(&[("authorization", "Bearer a")]);
        assert_eq!(
            extract(all_sources(), &h, Some("access_token=b")),
            Err(Refusal::MultipleCredentials)
        );
        // The same token twice is one credential.
        let found = extract(all_sources(), &h, Some("access_token=a"))
            .unwrap()
            .unwrap();
        assert_eq!(found.token, "a");
    }

    #[test]
    fn protocol_pair_yields_the_element_after_the_marker() {
        let h = headers(&[("sec-websocket-protocol", "bearer, tok.en.x, chat")]);
        let found = extract(all_sources(), &h, None).unwrap().unwrap();
        assert_eq!(found.token, "tok.en.x");
        assert_eq!(found.source, &all_sources()[1]);
        let h = headers(&[("sec-websocket-protocol", "chat, bearer")]);
        assert_eq!(extract(all_sources(), &h, None), Ok(None));
    }

    #[test]
    fn two_protocol_pairs_with_different_tokens_are_multiple_credentials() {
        for offer in [
            vec!["bearer, a.b.c, bearer, d.e.f"],
            vec!["bearer, a.b.c, chat", "bearer, d.e.f"],
        ] {
            let pairs: Vec<(&str, &str)> = offer
                .iter()
                .map(|v| ("sec-websocket-protocol", *v))
                .collect();
            assert_eq!(
                extract(all_sources(), &headers(&pairs), None),
                Err(Refusal::MultipleCredentials),
                "{offer:?}"
            );
        }
        let h = headers(&[(
            "sec-websocket-protocol",
            "bearer, a.b.c, chat, bearer, a.b.c",
        )]);
        assert_eq!(
            extract(all_sources(), &h, None).unwrap().unwrap().token,
            "a.b.c"
        );
    }

    #[test]
    fn query_and_cookie_values_are_decoded() {
        let h = headers(&[("cookie", "a=1; access_token=c.d.e; b=2")]);
        let found = extract(all_sources(), &h, None).unwrap().unwrap();
        assert_eq!(found.token, "c.d.e");
        let empty = HeaderMap::new();
        let found = extract(all_sources(), &empty, Some("x=1&access_token=q%2Ev"))
            .unwrap()
            .unwrap();
        assert_eq!(found.token, "q.v");
    }
}
