//! The client TLS settings wsgate dials out with: toward the upstream and toward remote
//! key sets (JWKS). One builder, so both sides share protocol versions and roots.

use std::io;
use std::sync::Arc;

use crate::config::CertificateFiles;

/// The client TLS settings wsgate dials out with (the upstream, remote key sets): ring,
/// safe default protocol versions, the webpki roots, no client certificate.
pub fn tls_client_config() -> io::Result<Arc<rustls::ClientConfig>> {
    tls_client_config_with(public_roots(), None)
}

pub fn public_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots
}

/// Like [`tls_client_config`], trusting exactly the certificates in `ca_file` (PEM); `key`
/// names the setting in errors (`upstream.ca_file`, `…jwks_ca_file`).
pub fn tls_client_config_trusting(
    key: &str,
    ca_file: &std::path::Path,
) -> io::Result<Arc<rustls::ClientConfig>> {
    tls_client_config_with(roots_from(key, ca_file)?, None)
}

/// Exactly the certificates in `ca_file` (PEM); `key` names the setting in errors.
pub fn roots_from(key: &str, ca_file: &std::path::Path) -> io::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in super::read_certificates(key, ca_file)? {
        roots.add(cert).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{key} {}: {e}", ca_file.display()),
            )
        })?;
    }
    Ok(roots)
}

/// wsgate's client certificate toward the upstream: the chain and its key.
pub type ClientIdentity = (
    Vec<rustls_pki_types::CertificateDer<'static>>,
    rustls_pki_types::PrivateKeyDer<'static>,
);

pub fn client_identity(files: &CertificateFiles) -> io::Result<ClientIdentity> {
    let certs = super::read_certificates("upstream.client_cert_file", &files.cert_file)?;
    let key = super::read_key("upstream.client_key_file", &files.key_file)?;
    Ok((certs, key))
}

pub fn tls_client_config_with(
    roots: rustls::RootCertStore,
    client: Option<ClientIdentity>,
) -> io::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots);
    let client = match client {
        None => builder.with_no_client_auth(),
        Some((certs, key)) => builder.with_client_auth_cert(certs, key).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("upstream.client_cert_file / client_key_file: {e}"),
            )
        })?,
    };
    Ok(Arc::new(client))
}
