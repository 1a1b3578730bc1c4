//! The TLS material built from the configuration: the client-facing listener's acceptor
//! (its certificate, and the CAs client certificates are verified against) and the
//! expiry of every certificate wsgate presents.
//!
//! All of it lives in the reloadable [`crate::proxy::Policy`]: a reload re-reads every
//! file, new handshakes use the new material and live sessions keep theirs; a file that
//! does not load refuses the whole reload, so the old material stays.
//!
//! Client certificates are checked in two steps so a refusal can say why. During the
//! handshake, [`DeferredClientVerifier`] asks for a certificate, never requires one, and
//! checks only that the client holds its key (the handshake signature); after it,
//! [`ListenerTls::client_certificate`] verifies the chain against `client_ca_file` with
//! webpki and the decision turns the result into `client_cert_missing` or
//! `client_cert_invalid` (HTTP 403, or 101 + 1008 in close mode), not a bare TLS alert.

mod certificate;
mod client;
mod client_certificate;
mod verifier;

use std::io;
use std::sync::Arc;

use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::TlsAcceptor;

pub use certificate::{identity, not_after};
pub use client::{
    ClientIdentity, client_identity, public_roots, roots_from, tls_client_config,
    tls_client_config_trusting, tls_client_config_with,
};
pub use client_certificate::ClientCertificate;
use verifier::DeferredClientVerifier;

use crate::config::TlsFiles;

/// The client-facing TLS listener's material.
#[derive(Clone)]
pub struct ListenerTls {
    pub acceptor: TlsAcceptor,
    /// The chain verifier for client certificates (`client_ca_file`), if configured.
    clients: Option<Arc<dyn ClientCertVerifier>>,
    /// The listener certificate's `notAfter` (unix seconds).
    pub expires_at: Option<u64>,
}

impl ListenerTls {
    /// Reads and checks every file; errors name the config key.
    pub fn new(files: &TlsFiles) -> io::Result<ListenerTls> {
        let certs = read_certificates("server.tls.cert_file", &files.cert_file)?;
        let key = read_key("server.tls.key_file", &files.key_file)?;
        let expires_at = certs.first().and_then(|cert| not_after(cert));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?;
        let (builder, clients) = match &files.client_ca_file {
            None => (builder.with_no_client_auth(), None),
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in read_certificates("server.tls.client_ca_file", path)? {
                    roots
                        .add(cert)
                        .map_err(|e| invalid("server.tls.client_ca_file", path, &e))?;
                }
                let chain = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .map_err(|e| invalid("server.tls.client_ca_file", path, &e))?;
                let deferred = Arc::new(DeferredClientVerifier::new(chain.clone()));
                (builder.with_client_cert_verifier(deferred), Some(chain))
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("server.tls: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ListenerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            clients,
            expires_at,
        })
    }

    /// What the client presented on `connection`, judged against `client_ca_file`.
    pub fn client_certificate(&self, connection: &rustls::ServerConnection) -> ClientCertificate {
        self.judge(connection.peer_certificates().unwrap_or_default())
    }

    /// A presented chain (leaf first; empty when none was presented), judged against
    /// `client_ca_file` now. `wsgate explain --client-cert` uses it too.
    pub fn judge(&self, presented: &[CertificateDer<'_>]) -> ClientCertificate {
        let Some(chain) = &self.clients else {
            return ClientCertificate::NotRequested;
        };
        let Some((end_entity, intermediates)) = presented.split_first() else {
            return ClientCertificate::Missing;
        };
        match chain.verify_client_cert(end_entity, intermediates, UnixTime::now()) {
            Ok(_) => ClientCertificate::Verified {
                identity: identity(end_entity),
            },
            Err(error) => ClientCertificate::Invalid {
                problem: error.to_string(),
            },
        }
    }
}

/// Every certificate in a PEM file (at least one).
pub fn read_certificates(
    key: &str,
    path: &std::path::Path,
) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(key, path, &e))?;
    if certs.is_empty() {
        return Err(invalid(key, path, &"holds no PEM certificate"));
    }
    Ok(certs)
}

/// The private key in a PEM file.
pub fn read_key(key: &str, path: &std::path::Path) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| invalid(key, path, &e))
}

fn invalid(key: &str, path: &std::path::Path, error: &dyn std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{key} {}: {error}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn every_tls_and_assertion_file_is_watched_for_reloads() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let dir = std::env::temp_dir().join(format!("wsgate-tls-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = |from: &str, to: &str| {
            std::fs::copy(fixtures.join(from), dir.join(to)).unwrap();
        };
        copy("tls/localhost.crt.pem", "listener.crt");
        copy("tls/localhost.key.pem", "listener.key");
        copy("tls/localhost.crt.pem", "clients-ca.pem");
        copy("tls/localhost.crt.pem", "upstream-ca.pem");
        copy("tls/localhost.crt.pem", "upstream-client.crt");
        copy("tls/localhost.key.pem", "upstream-client.key");
        copy("ec256.key.pem", "assertion.key");
        copy("ec256-next.key.pem", "assertion-next.key");
        let text = r#"
environment = "staging"
[server.tls]
cert_file = "listener.crt"
key_file = "listener.key"
client_ca_file = "clients-ca.pem"
[upstream]
url = "wss://localhost:8443"
ca_file = "upstream-ca.pem"
client_cert_file = "upstream-client.crt"
client_key_file = "upstream-client.key"
[[routes]]
path = "/"
auth = "none"
[identity.assertion]
audience = "app"
key_file = "assertion.key"
next_key_file = "assertion-next.key"
"#;
        let config = Config::parse(text, "test", &|_| None, &dir).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<String> = config
            .files()
            .iter()
            .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            names,
            [
                "assertion-next.key",
                "assertion.key",
                "clients-ca.pem",
                "listener.crt",
                "listener.key",
                "upstream-ca.pem",
                "upstream-client.crt",
                "upstream-client.key",
            ]
        );
    }
}
