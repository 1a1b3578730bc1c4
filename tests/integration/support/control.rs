//! Session control from outside: the admin API (`/admin/revoke`, `/admin/sessions`) and
//! the refresh endpoint, as raw HTTP/1.1 requests.

use std::net::SocketAddr;

use super::raw::{self, RawResponse};

/// The admin token the session-control scenarios configure.
pub(crate) const ADMIN_TOKEN: &str = "wsgate-admin-token-for-tests-5e1d";
/// The env var it is read from.
pub(crate) const ADMIN_TOKEN_ENV: &str = "WSGATE_TEST_ADMIN_TOKEN";

/// `[admin]` with the test token.
pub(crate) fn admin_table() -> String {
    format!("[admin]\ntoken = {{ env = \"{ADMIN_TOKEN_ENV}\" }}")
}

/// `POST /admin/revoke` with `body`, bearer `token` (`None`: no Authorization).
pub(crate) async fn revoke(admin: SocketAddr, token: Option<&str>, body: &str) -> RawResponse {
    request(admin, "POST", "/admin/revoke", token, &[], body).await
}

/// `GET /admin/sessions{query}` with bearer `token`.
pub(crate) async fn sessions(admin: SocketAddr, token: Option<&str>, query: &str) -> RawResponse {
    request(
        admin,
        "GET",
        &format!("/admin/sessions{query}"),
        token,
        &[],
        "",
    )
    .await
}

/// `POST /.wsgate/refresh` on the client listener for `session`, the new token as a
/// bearer.
pub(crate) async fn refresh(proxy: SocketAddr, session: &str, token: &str) -> RawResponse {
    request(
        proxy,
        "POST",
        "/.wsgate/refresh",
        Some(token),
        &[("X-Wsgate-Session", session)],
        "",
    )
    .await
}

/// One request with `Connection: close`.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> RawResponse {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = bearer {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(body);
    raw::exchange(addr, head.as_bytes()).await
}
