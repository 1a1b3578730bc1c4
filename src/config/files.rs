//! Every file a loaded configuration was built from, in one place, so the reload watcher
//! follows them all: a key that names a file and is added here is watched with no other
//! change. The config file itself is the caller's (a `Config` does not know its path).

use std::path::{Path, PathBuf};

use super::{Config, KeySource, Secret, SecretSource};

impl Config {
    /// The files this configuration read: `{ file = ... }` secrets (issuer and bypass
    /// keys), `public_key_file`, `jwks_file`, `upstream.ca_file`, `client_cert_file` and
    /// `client_key_file`, `server.tls.cert_file`, `key_file` and `client_ca_file`, and
    /// `identity.assertion.key_file` and `next_key_file`. Issuers not enabled in this
    /// environment read nothing and are left out. Sorted, without repeats.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<&Path> = Vec::new();
        for issuer in self.enabled_issuers() {
            match &issuer.keys {
                KeySource::Secret { secret, .. } => files.extend(secret_file(secret)),
                KeySource::PublicKeyFile { path, .. } | KeySource::JwksFile { path, .. } => {
                    files.push(path);
                }
                KeySource::Remote(_) => {}
            }
        }
        files.extend(
            self.e2e_bypass
                .keys
                .iter()
                .filter_map(|k| secret_file(&k.secret)),
        );
        files.extend(self.upstream.ca_file.as_deref());
        if let Some(client) = &self.upstream.client_cert {
            files.push(&client.cert_file);
            files.push(&client.key_file);
        }
        if let Some(tls) = &self.server.tls {
            files.push(&tls.cert_file);
            files.push(&tls.key_file);
            files.extend(tls.client_ca_file.as_deref());
        }
        if let Some(assertion) = &self.identity.assertion {
            for key in assertion.key.iter().chain(&assertion.next_key) {
                files.push(&key.path);
            }
        }
        let mut files: Vec<PathBuf> = files.into_iter().map(Path::to_path_buf).collect();
        files.sort();
        files.dedup();
        files
    }
}

fn secret_file(secret: &Secret) -> Option<&Path> {
    match secret.source() {
        SecretSource::File(path) => Some(path),
        SecretSource::Env(_) | SecretSource::Literal => None,
    }
}
