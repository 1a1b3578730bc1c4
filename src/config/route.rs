//! Routes: which configured route a request path is judged under ([`RouteId`]), and how
//! a route's prefix matches a path.

use super::Config;
use super::id::{self, RouteId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAuth {
    Required,
    Optional,
    None,
}

#[derive(Debug, Clone)]
pub struct RouteConfig {
    /// Prefix, starting with `/`. Matches at a segment boundary or exactly.
    pub path: String,
    pub auth: RouteAuth,
    /// claim -> required value: equals, or an array / space-separated list that contains it.
    pub claims: Vec<(String, String)>,
    /// `client_cert = "required"`: a client certificate that verifies against
    /// `server.tls.client_ca_file` is needed here.
    pub client_cert_required: bool,
    /// The catch-all `/` (auth required) appended when no configured route has path `/`.
    pub implicit: bool,
}

impl Config {
    /// The route `id` names. `id` must come from this configuration ([`Config::route_id`]).
    pub fn route(&self, id: RouteId) -> &RouteConfig {
        id::resolve(&self.routes, id)
    }

    /// The first route whose prefix matches `path` (exact case, no stricter-route rule).
    #[cfg(test)]
    pub(crate) fn first_route(&self, path: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.matches(path))
    }

    /// The route a request path (already normalized, `path.rs`) is judged under: the
    /// first exact prefix match, unless a lax match ([`RouteConfig::matches_ignoring_case`]:
    /// ASCII case ignored, a trailing `/` optional) is stricter.
    /// Many upstreams route without regard to case (Express and ASP.NET by default), so
    /// `/WS` is served as `/ws` there: it must not get the weaker treatment of the route
    /// that catches it by exact case. A case-sensitive upstream loses nothing: the
    /// stricter route is never weaker than the one it would have had. Stricter: a
    /// stronger `auth`, then more required claims. The catch-all is last, so there is
    /// always a route.
    pub fn route_id(&self, path: &str) -> RouteId {
        let last = self.routes.len().saturating_sub(1);
        let exact = self
            .routes
            .iter()
            .position(|r| r.matches(path))
            .unwrap_or(last);
        let folded = self
            .routes
            .iter()
            .position(|r| r.matches_ignoring_case(path))
            .unwrap_or(last);
        let strictness = |index: usize| {
            self.routes.get(index).map(|route| {
                let rank = match route.auth {
                    RouteAuth::None => 0,
                    RouteAuth::Optional => 1,
                    RouteAuth::Required => 2,
                };
                (rank, route.claims.len())
            })
        };
        id::at(if strictness(folded) > strictness(exact) {
            folded
        } else {
            exact
        })
    }
}

impl RouteConfig {
    /// Prefix match at a path-segment boundary: `/ws` matches `/ws`, `/ws/x`, `/ws?x`
    /// (query already removed) but not `/wsx`. A prefix ending in `/` matches anything below.
    pub fn matches(&self, path: &str) -> bool {
        if self.path == "/" {
            return true;
        }
        match path.strip_prefix(self.path.as_str()) {
            Some(rest) => self.ends_at_boundary(rest),
            None => false,
        }
    }

    /// [`RouteConfig::matches`] as an upstream that is lax about paths would read it: ASCII
    /// case ignored (`/WS/x` matches `/ws`), and a prefix ending in `/` also matches the
    /// path without that slash (`/admin` matches `/admin/`, served alike by most
    /// frameworks). Used only to find a stricter route ([`Config::route_id`]).
    pub fn matches_ignoring_case(&self, path: &str) -> bool {
        if self.path == "/" {
            return true;
        }
        if self
            .path
            .strip_suffix('/')
            .is_some_and(|bare| bare.eq_ignore_ascii_case(path))
        {
            return true;
        }
        let prefix = self.path.as_bytes();
        let starts = path
            .as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix));
        match path.get(prefix.len()..) {
            Some(rest) if starts => self.ends_at_boundary(rest),
            _ => false,
        }
    }

    fn ends_at_boundary(&self, rest: &str) -> bool {
        rest.is_empty() || rest.starts_with('/') || self.path.ends_with('/')
    }
}
