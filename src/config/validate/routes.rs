//! `[[routes]]`: each route's path, auth and claims, the implicit catch-all, and the
//! checks that span routes (order, certificates, whether a route can authenticate at all).

use super::Validator;
use crate::config::raw::RawRoute;
use crate::config::{IdentityConfig, RouteAuth, RouteConfig, ServerConfig, UserFrom};

impl Validator<'_> {
    pub(super) fn routes(&mut self, raw: Vec<RawRoute>) -> Option<Vec<RouteConfig>> {
        let mark = self.errors.len();
        let mut routes: Vec<RouteConfig> = Vec::with_capacity(raw.len() + 1);
        for (index, raw) in raw.into_iter().enumerate() {
            let key = format!("routes[{index}]");
            let path = match raw.path {
                None => self.error(format!("{key}.path"), r#"is required, e.g. path = "/ws""#),
                Some(path) if !path.starts_with('/') => self.error(
                    format!("{key}.path"),
                    format!("{path:?} must start with \"/\""),
                ),
                Some(path) if path.contains(['?', '#']) || path.contains(char::is_whitespace) => {
                    self.error(
                        format!("{key}.path"),
                        format!(
                            "{path:?} must be a plain path prefix (no query, fragment or spaces)"
                        ),
                    )
                }
                Some(path) => match crate::http::path::normalize(&path) {
                    Ok(normal) if normal == path => Some(path),
                    // Requests are matched in normalized form: this prefix could never match.
                    Ok(normal) => self.error(
                        format!("{key}.path"),
                        format!("{path:?} is matched in normalized form: write {normal:?}"),
                    ),
                    Err(_) => self.error(
                        format!("{key}.path"),
                        format!(
                            "{path:?} is a path wsgate refuses to route (dot or empty segments, ';', '\\', encoded '/', '\\', '.' or control bytes)"
                        ),
                    ),
                },
            };
            let auth = match raw.auth.as_deref() {
                None | Some("required") => Some(RouteAuth::Required),
                Some("optional") => Some(RouteAuth::Optional),
                Some("none") => Some(RouteAuth::None),
                Some(other) => self.error(
                    format!("{key}.auth"),
                    format!(r#"{other:?} is not one of "required", "optional", "none""#),
                ),
            };
            let claims = raw.claims.map(|pairs| pairs.0).unwrap_or_default();
            for (claim, _) in &claims {
                if claim.is_empty() {
                    self.error::<()>(format!("{key}.claims"), "a claim name is empty");
                }
            }
            if auth == Some(RouteAuth::None) && !claims.is_empty() {
                self.error::<()>(
                    format!("{key}.claims"),
                    r#"claims need a verified token, which an auth = "none" route never has; use auth = "required""#,
                );
            }
            let client_cert_required = match raw.client_cert.as_deref() {
                None | Some("none") => Some(false),
                Some("required") => Some(true),
                Some(other) => self.error(
                    format!("{key}.client_cert"),
                    format!(r#"{other:?} is not one of "required", "none""#),
                ),
            };
            let (Some(path), Some(auth), Some(client_cert_required)) =
                (path, auth, client_cert_required)
            else {
                continue;
            };
            if let Some(earlier) = routes.iter().position(|r| r.path == path) {
                self.error::<()>(
                    format!("{key}.path"),
                    format!("{path:?} duplicates routes[{earlier}].path; merge the two routes"),
                );
            } else if let Some(earlier) = routes.iter().position(|r| r.matches(&path)) {
                self.error::<()>(
                    format!("{key}.path"),
                    format!(
                        "{path:?} is never reached: routes[{earlier}] ({:?}) matches it first; list more specific paths first",
                        routes[earlier].path
                    ),
                );
            }
            routes.push(RouteConfig {
                path,
                auth,
                claims,
                client_cert_required,
                implicit: false,
            });
        }
        if self.errors.len() > mark {
            return None;
        }
        if !routes.iter().any(|r| r.path == "/") {
            routes.push(RouteConfig {
                path: "/".to_owned(),
                auth: RouteAuth::Required,
                claims: Vec::new(),
                client_cert_required: false,
                implicit: true,
            });
        }
        self.warn_stricter_children(&routes);
        Some(routes)
    }

    /// A route stricter than the route that catches its neighbours is only as strong as
    /// the agreement between wsgate and the upstream on what a path is: anything the
    /// upstream serves as the child but wsgate sees under another path gets the parent's
    /// (weaker) treatment. wsgate normalizes what it can (`path.rs`); `check` says what
    /// is left to the upstream.
    fn warn_stricter_children(&mut self, routes: &[RouteConfig]) {
        let rank = |auth: RouteAuth| match auth {
            RouteAuth::None => 0,
            RouteAuth::Optional => 1,
            RouteAuth::Required => 2,
        };
        let auth_name = |auth: RouteAuth| match auth {
            RouteAuth::None => "none",
            RouteAuth::Optional => "optional",
            RouteAuth::Required => "required",
        };
        for (index, child) in routes.iter().enumerate() {
            let Some(parent) = routes[index + 1..].iter().find(|r| r.matches(&child.path)) else {
                continue;
            };
            let more_claims = child
                .claims
                .iter()
                .any(|claim| !parent.claims.contains(claim));
            let stricter = rank(child.auth) > rank(parent.auth)
                || (child.auth == parent.auth && child.auth != RouteAuth::None && more_claims);
            if !stricter {
                continue;
            }
            let example = bypass_example(&child.path);
            self.warn(format!(
                "route {child:?} (auth = {}{}) is stricter than {parent:?} (auth = {}{}), which catches the paths around it: \
                 a request the upstream serves as {child:?} but wsgate sees under another path is judged by {parent:?}. \
                 wsgate judges and forwards the normalized path (percent-encoded letters decoded, so {example:?} is judged as {child:?}; \
                 encoded '/', '\\', '.', dot segments, \"//\" and ';' refused) and judges {upper:?} by {child:?} too, \
                 for upstreams that ignore case; but an upstream that ignores a trailing dot ({dot:?}) or a file extension ({ext:?}), \
                 or rewrites paths itself, would still serve {child:?} to a request judged by {parent:?}: \
                 make the parent at least as strict and list the open paths as their own routes",
                auth_name(child.auth),
                if child.claims.is_empty() { "" } else { ", with claims" },
                auth_name(parent.auth),
                if parent.claims.is_empty() { "" } else { ", with claims" },
                child = child.path,
                parent = parent.path,
                upper = child.path.to_ascii_uppercase(),
                dot = format!("{}.", child.path.trim_end_matches('/')),
                ext = format!("{}.json", child.path.trim_end_matches('/')),
            ));
        }
    }

    /// Client certificates need a CA to verify them against, on a TLS listener.
    pub(super) fn check_client_certificates(
        &mut self,
        routes: &[RouteConfig],
        server: &ServerConfig,
        identity: &IdentityConfig,
    ) {
        let verifies = server
            .tls
            .as_ref()
            .is_some_and(|tls| tls.client_ca_file.is_some());
        if verifies {
            return;
        }
        for (index, route) in routes.iter().enumerate() {
            if route.client_cert_required {
                self.error::<()>(
                    format!("routes[{index}].client_cert"),
                    "needs server.tls.client_ca_file to verify client certificates against",
                );
            }
        }
        if identity.user_from == UserFrom::ClientCert {
            self.error::<()>(
                "identity.user_from",
                r#""client_cert" needs server.tls.client_ca_file and routes with client_cert = "required""#,
            );
        }
    }

    /// A route that wants a caller's identity needs something that can provide one.
    pub(super) fn check_routes_can_authenticate(
        &mut self,
        routes: &[RouteConfig],
        environment: &str,
        by_certificate: bool,
    ) {
        for (index, route) in routes.iter().enumerate() {
            if route.auth == RouteAuth::None || (by_certificate && route.client_cert_required) {
                continue;
            }
            let which = if route.implicit {
                r#"the implicit catch-all route "/" (added because no route has path "/")"#
                    .to_owned()
            } else {
                format!("route {:?}", route.path)
            };
            let key = if route.implicit {
                "routes".to_owned()
            } else {
                format!("routes[{index}].auth")
            };
            self.error::<()>(
                key,
                format!(
                    "{which} needs authentication but no issuer is enabled in environment {environment:?} and the E2E bypass is off; add an [[auth.issuers]] for this environment or set auth = \"none\""
                ),
            );
        }
    }
}

/// `path` with its last letter percent-encoded: how a route bypass through encoding looks.
fn bypass_example(path: &str) -> String {
    match path
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_ascii_alphanumeric())
    {
        Some((at, c)) => format!("{}%{:02X}{}", &path[..at], c as u32, &path[at + 1..]),
        None => path.to_owned(),
    }
}
