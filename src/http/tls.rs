//! Native TLS (rustls 0.23, ring provider): `--tls-cert` (PEM chain) and `--tls-key` (PEM
//! PKCS#8, PKCS#1 or SEC1 key). TLS 1.2 and 1.3 only, rustls's default cipher suites.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("{what} {}: {e}", path.display()))
}

/// A rustls server configuration from PEM files.
pub fn server_config(cert: &Path, key: &Path) -> std::io::Result<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| io_err("cannot read the TLS certificate", cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| io_err("cannot parse the TLS certificate", cert, e))?;
    if certs.is_empty() {
        return Err(io_err("no certificate in", cert, "empty PEM"));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| io_err("cannot read the TLS private key", key, e))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(std::io::Error::other)
}
