//! [`Policy`]: everything a reload replaces at once.

use super::names::SharedNames;
use crate::assertion::Assertion;
use crate::auth::Gate;
use crate::net::tls::ListenerTls;
use crate::telemetry::metrics::CertificateLabel;
use crate::upstream::Upstream;

/// What a reload replaces as one unit: the decision policy, the upstream it guards (with
/// its TLS material) and the assertion signer. A request takes one `Arc<Policy>` at its
/// start and uses it to the end, so no handshake ever sees half of an old config and half
/// of a new one. Built from a `Config` in one place only: `server::runtime`.
pub struct Policy {
    pub gate: Gate,
    pub upstream: Upstream,
    pub assertion: Option<Assertion>,
    /// The client-facing listener's TLS material, when `server.tls` is set.
    pub tls: Option<ListenerTls>,
    /// The gate's route paths and issuer names, shared by the records that keep them.
    pub names: SharedNames,
}

impl Policy {
    /// The `notAfter` of every certificate wsgate presents, for
    /// `wsgate_tls_certificate_expiry_timestamp_seconds`; `None` where there is none.
    pub fn certificate_expiry(&self) -> [(CertificateLabel, Option<u64>); 3] {
        [
            (
                CertificateLabel::Listener,
                self.tls.as_ref().and_then(|tls| tls.expires_at),
            ),
            (
                CertificateLabel::UpstreamClient,
                self.upstream.client_cert_expires_at,
            ),
            (
                CertificateLabel::Assertion,
                self.assertion
                    .as_ref()
                    .and_then(|a| a.certificate_expires_at),
            ),
        ]
    }
}
