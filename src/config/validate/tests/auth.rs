//! Auth: token sources, origins, leeway and enums.

use super::*;

#[test]
fn token_sources_parse_and_reject_duplicates() {
    let config = parse(&format!(
        "{MINIMAL}\n[auth]\ntoken_sources = [\"header:X-Token\", \"protocol:bearer\", \"query:access_token\"]"
    ));
    assert_eq!(
        config.auth.token_sources,
        [
            TokenSource::Header(http::HeaderName::from_static("x-token")),
            TokenSource::Protocol("bearer".into()),
            TokenSource::Query("access_token".into()),
        ]
    );
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("query:access_token"))
    );

    let errors = problems(
        "[auth]\ntoken_sources = [\"header:Authorization\", \"header:authorization\", \"bearer\", \"form:x\", \"protocol:a b\", \"header:cookie\", \"header:Upgrade\"]",
    );
    assert_has(&errors, "auth.token_sources[1]", "listed twice");
    assert_has(&errors, "auth.token_sources[2]", "has no kind");
    assert_has(&errors, "auth.token_sources[3]", "unknown kind");
    assert_has(&errors, "auth.token_sources[4]", "HTTP tokens");
    assert_has(&errors, "auth.token_sources[5]", "use cookie:NAME");
    assert_has(&errors, "auth.token_sources[6]", "cannot carry a token");
    assert_has(
        &problems("[auth]\ntoken_sources = []"),
        "auth.token_sources",
        "is empty",
    );
}

#[test]
fn origins_are_normalised() {
    let config = parse(&format!(
        "{MINIMAL}\n[auth]\nallowed_origins = [\"HTTPS://App.Example.com:443\", \"http://localhost:3000/\", \"https://app.example.com\"]"
    ));
    assert_eq!(
        config.auth.allowed_origins,
        ["https://app.example.com", "http://localhost:3000"]
    );
}

#[test]
fn wildcard_null_and_path_origins_are_refused() {
    let errors = problems(
        "[auth]\nallowed_origins = [\"*\", \"null\", \"https://a.example/app\", \"nohost\"]",
    );
    assert_has(&errors, "auth.allowed_origins[0]", "every site");
    assert_has(&errors, "auth.allowed_origins[1]", "sandboxed");
    assert_has(&errors, "auth.allowed_origins[2]", "not a bare origin");
    assert_has(&errors, "auth.allowed_origins[3]", "not an origin");
}

#[test]
fn cookie_tokens_need_allowed_origins() {
    let errors = problems("[auth]\ntoken_sources = [\"cookie:session\"]");
    assert_has(&errors, "auth.allowed_origins", "hijacking");
    parse(&format!(
        "{MINIMAL}\n[auth]\ntoken_sources = [\"cookie:session\"]\nallowed_origins = [\"https://app.example.com\"]"
    ));
}

#[test]
fn leeway_and_enums_are_checked() {
    let errors =
        problems("[auth]\nleeway = \"10m\"\nsession_expiry = \"drop\"\nmax_lifetime = \"0s\"");
    assert_has(&errors, "auth.leeway", "longer than 5m");
    assert_has(&errors, "auth.session_expiry", "\"drop\"");
    assert_has(&errors, "auth.max_lifetime", "longer than zero");
    let config = parse(&format!(
        "{MINIMAL}\n[auth]\ndeny = \"close\"\nsession_expiry = \"keep\"\nmax_lifetime = \"1h\""
    ));
    assert_eq!(config.auth.deny, DenyMode::Close);
    assert_eq!(config.auth.session_expiry, SessionExpiry::Keep);
    assert_eq!(config.auth.max_lifetime, Some(Duration::from_secs(3600)));
}
