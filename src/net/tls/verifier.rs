//! [`DeferredClientVerifier`]: asks clients for a certificate during the TLS handshake,
//! checks that they hold its private key, and leaves the chain to
//! [`super::ListenerTls::client_certificate`], after the handshake, so that a missing or
//! untrusted certificate becomes a refusal with a reason code instead of a TLS alert.

use std::sync::Arc;

use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

#[derive(Debug)]
pub(super) struct DeferredClientVerifier {
    /// webpki's verifier over `client_ca_file`: its CA names are offered to clients and
    /// its signature checks prove key possession.
    chain: Arc<dyn ClientCertVerifier>,
}

impl DeferredClientVerifier {
    pub(super) fn new(chain: Arc<dyn ClientCertVerifier>) -> DeferredClientVerifier {
        DeferredClientVerifier { chain }
    }
}

impl ClientCertVerifier for DeferredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    /// Accepted here, judged after the handshake (see the module doc). The handshake
    /// signature below is still checked, so a client cannot present a certificate whose
    /// key it does not hold.
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}
