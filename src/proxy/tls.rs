//! HTTPS on the listener, for load balancers that talk TLS to their
//! targets: the certificate and key from `proxy.tls`, loaded once at
//! start-up, with HTTP/2 and HTTP/1.1 offered through ALPN.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::TlsSpec;

/// Why the certificate or key could not be used.
#[derive(Debug)]
pub enum TlsError {
    /// A PEM file could not be read or held nothing usable.
    Pem {
        path: PathBuf,
        what: &'static str,
        error: rustls::pki_types::pem::Error,
    },
    /// rustls refused the pair (a key that does not match, say).
    Config(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Pem { path, what, .. } => {
                write!(f, "cannot read a PEM {what} from {}", path.display())
            }
            TlsError::Config(_) => f.write_str("the TLS certificate and key cannot be used"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Pem { error, .. } => Some(error),
            TlsError::Config(error) => Some(error),
        }
    }
}

/// Builds the acceptor for `spec`'s certificate chain and key.
pub fn acceptor(spec: &TlsSpec) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates(&spec.cert)?;
    let key = PrivateKeyDer::from_pem_file(&spec.key)
        .map_err(|error| pem(&spec.key, "private key", error))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|error| pem(path, "certificate", error))?
        .collect();
    let chain = chain.map_err(|error| pem(path, "certificate", error))?;
    if chain.is_empty() {
        let error = rustls::pki_types::pem::Error::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            "no CERTIFICATE section",
        ));
        return Err(pem(path, "certificate", error));
    }
    Ok(chain)
}

fn pem(path: &Path, what: &'static str, error: rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        what,
        error,
    }
}
