//! [`RouteSeries`]: one configured route's series that every admitted handshake touches,
//! resolved once per route instead of by a label lookup per event.
//!
//! `with_label_values` hashes the label values, takes the vector's read lock, looks the
//! hash up and clones the child out (a reference count up, then down): about 110
//! instructions, and on several worker threads a lock word every handshake writes. An
//! admitted handshake made five such lookups (`allowed`, the `allowed` handshake
//! histogram, the active-sessions gauge up and down, the close counter); four are now a
//! load of a handle resolved at the route's first use. Resolved lazily, so a series still
//! appears in `/metrics` only once something happened on it, exactly as before.

use std::sync::{Arc, OnceLock};

use prometheus::{Histogram, IntCounter, IntGauge};

use super::{HandshakeOutcome, Metrics};
use crate::domain::auth_method::AuthMethod;

/// A configured route's path and the handles of its per-handshake series. Built with the
/// policy (one per configured route) and shared by the sessions on the route; its handles
/// belong to the [`Metrics`] that first used them, the server's one.
#[derive(Debug)]
pub struct RouteSeries {
    path: Arc<str>,
    allowed: [OnceLock<IntCounter>; AuthMethod::ALL.len()],
    handshake_allowed: OnceLock<Histogram>,
    sessions_active: OnceLock<IntGauge>,
}

impl RouteSeries {
    pub fn new(path: Arc<str>) -> RouteSeries {
        RouteSeries {
            path,
            allowed: Default::default(),
            handshake_allowed: OnceLock::new(),
            sessions_active: OnceLock::new(),
        }
    }

    /// The configured route path: the `route` label and log field.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path as the shared string records keep.
    pub fn shared_path(&self) -> &Arc<str> {
        &self.path
    }
}

impl From<&str> for RouteSeries {
    fn from(path: &str) -> RouteSeries {
        RouteSeries::new(Arc::from(path))
    }
}

impl Metrics {
    /// `wsgate_auth_allowed_total{route, method}` for `route`.
    pub(super) fn allowed_series<'r>(
        &self,
        route: &'r RouteSeries,
        method: AuthMethod,
    ) -> &'r IntCounter {
        route.allowed[method.index()].get_or_init(|| {
            self.auth_allowed
                .with_label_values(&[route.path(), method.label()])
        })
    }

    /// `wsgate_handshake_duration_seconds{route, outcome="allowed"}` for `route`.
    pub(super) fn handshake_allowed_series<'r>(&self, route: &'r RouteSeries) -> &'r Histogram {
        route.handshake_allowed.get_or_init(|| {
            self.handshake_duration
                .with_label_values(&[route.path(), HandshakeOutcome::Allowed.as_str()])
        })
    }

    /// `wsgate_sessions_active{route}` for `route`.
    pub(super) fn sessions_active_series<'r>(&self, route: &'r RouteSeries) -> &'r IntGauge {
        route
            .sessions_active
            .get_or_init(|| self.sessions_active.with_label_values(&[route.path()]))
    }
}
