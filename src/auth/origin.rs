//! The `Origin` check (`auth.allowed_origins`): a browser's cross-site WebSocket is
//! refused before any credential is looked at.

use http::HeaderMap;
use http::header::ORIGIN;

use super::Gate;
use super::trace::{Outcome, Trace, step};
use crate::domain::refusal::Refusal;

impl Gate {
    pub(super) fn check_origin(
        &self,
        headers: &HeaderMap,
        trace: &mut dyn Trace,
    ) -> Result<(), Refusal> {
        let allowed = &self.config.auth.allowed_origins;
        if allowed.is_empty() {
            step(trace, "origin", Outcome::Info, || {
                "auth.allowed_origins is empty: Origin is not checked".into()
            });
            return Ok(());
        }
        let mut values = headers.get_all(ORIGIN).iter();
        let Some(origin) = values.next() else {
            step(trace, "origin", Outcome::Info, || {
                "no Origin header (not a browser): allowed".into()
            });
            return Ok(());
        };
        // Browsers send the RFC 6454 serialization, the allow-list's form: byte for byte.
        let exact = values
            .next()
            .is_none()
            .then(|| origin.to_str().ok())
            .flatten();
        match exact {
            Some(o) if allowed.iter().any(|a| a == o) => {
                step(trace, "origin", Outcome::Pass, || {
                    format!("Origin {o} is allowed")
                });
                Ok(())
            }
            _ => {
                step(
                    trace,
                    "origin",
                    Outcome::Fail(Refusal::OriginNotAllowed),
                    || format!("Origin is not one of {allowed:?}"),
                );
                Err(Refusal::OriginNotAllowed)
            }
        }
    }
}
