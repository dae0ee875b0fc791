//! TLS client configuration shared by IMAP (tokio-rustls) and the database edge.
//! Trust comes from a configured CA file, or else from the system's certificate store.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("CA-Datei {path} nicht lesbar: {message}")]
    CaFile { path: String, message: String },
    #[error("keine brauchbaren Stammzertifikate im Zertifikatsspeicher des Systems")]
    NoRoots,
    #[error("ungültiger TLS-Servername {0:?}")]
    ServerName(String),
    #[error("TLS-Einrichtung: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Installs ring as the process-wide rustls crypto provider. Must run before any TLS use;
/// a second call is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |message: String| TlsError::CaFile {
        path: path.display().to_string(),
        message,
    };
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("kein PEM-Zertifikat in der Datei".into()));
    }
    Ok(certs)
}

pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in load_ca_file(path)? {
                roots.add(cert)?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(TlsError::NoRoots);
            }
        }
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.trim_matches(|c| c == '[' || c == ']').to_string())
        .map_err(|_| TlsError::ServerName(host.to_string()))
}
