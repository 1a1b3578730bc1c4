//! [`SharedNames`]: the configured route paths and issuer names as shared strings, for
//! what keeps them beyond a request (a session's record in the registry, the session's
//! metrics and log line): a reference count instead of a copy per handshake. Each route
//! comes with its [`RouteSeries`], the metric handles its handshakes and sessions use.

use std::sync::Arc;

use crate::config::{Config, IssuerId, RouteId};
use crate::telemetry::metrics::RouteSeries;

/// Each route's path and each issuer's name, in the configuration's order; built with the
/// policy, so an id from the policy's configuration always finds its entry.
pub struct SharedNames {
    routes: Vec<Arc<RouteSeries>>,
    issuers: Vec<Arc<str>>,
}

impl SharedNames {
    pub fn new(config: &Config) -> SharedNames {
        SharedNames {
            routes: config
                .routes
                .iter()
                .map(|r| Arc::new(RouteSeries::new(Arc::from(r.path.as_str()))))
                .collect(),
            issuers: config
                .auth
                .issuer_ids()
                .map(|(_, issuer)| Arc::from(issuer.name.as_str()))
                .collect(),
        }
    }

    /// The configured path of `route` (`config` is the policy's own).
    pub fn route(&self, config: &Config, route: RouteId) -> Arc<str> {
        match route.slot(&self.routes) {
            Some(series) => series.shared_path().clone(),
            None => Arc::from(config.route(route).path.as_str()),
        }
    }

    /// `route` with its metric handles (`config` is the policy's own).
    pub fn series(&self, config: &Config, route: RouteId) -> Arc<RouteSeries> {
        match route.slot(&self.routes) {
            Some(series) => series.clone(),
            None => Arc::new(RouteSeries::new(Arc::from(
                config.route(route).path.as_str(),
            ))),
        }
    }

    /// The configured name of the issuer a decision names, if any.
    pub fn issuer(&self, config: &Config, issuer: Option<IssuerId>) -> Option<Arc<str>> {
        let issuer = issuer?;
        Some(match issuer.slot(&self.issuers) {
            Some(name) => name.clone(),
            None => Arc::from(config.auth.issuer(issuer).name.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
environment = "test"
[upstream]
url = "ws://backend.internal:8080"
[[auth.issuers]]
name = "primary"
issuer = "https://auth.example.com"
audiences = ["chat"]
algorithms = ["HS256"]
secret = "k3Jx9vQ2mW7pL5tR8nB4cF6hD1gS0aZeYuIoP-_.~Xq"
[[auth.issuers]]
name = "second"
issuer = "https://other.example.com"
audiences = ["chat"]
algorithms = ["HS256"]
secret = "k3Jx9vQ2mW7pL5tR8nB4cF6hD1gS0aZeYuIoP-_.~Xr"
[[routes]]
path = "/ws"
auth = "required"
[[routes]]
path = "/open"
auth = "none"
"#;

    #[test]
    fn every_route_and_issuer_has_its_configured_name() {
        let config = Config::parse(CONFIG, "test.toml", &|_| None, std::path::Path::new("/"))
            .unwrap_or_else(|errors| panic!("{errors}"));
        assert!(config.routes.len() >= 2);
        assert_eq!(config.auth.issuer_ids().count(), 2);
        let names = SharedNames::new(&config);
        for (index, route) in config.routes.iter().enumerate() {
            assert_eq!(&*names.route(&config, RouteId::nth(index)), route.path);
            assert_eq!(
                names.series(&config, RouteId::nth(index)).path(),
                route.path
            );
        }
        for (id, issuer) in config.auth.issuer_ids() {
            assert_eq!(
                names.issuer(&config, Some(id)).as_deref(),
                Some(issuer.name.as_str())
            );
        }
        assert_eq!(names.issuer(&config, None), None);
    }
}
