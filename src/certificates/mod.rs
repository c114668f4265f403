//! TLS's certificate and key: read from PEM files and checked before the
//! server serves anything, so that a bad file is one clear line at start-up
//! (and, on a reload, a reason to keep the old pair) instead of a handshake
//! failure every client sees. And the clients' side (`upcase-client --tls`,
//! `upcase-flood --tls`): whom they trust, decided in one place.
//!
//! The cryptography is rustls with its `ring` provider: `ring` builds with
//! only a C compiler, which is all this project's machines have (rustls's
//! default, `aws-lc-rs`, needs cmake to build).

mod error;
mod expiry;

pub use error::TlsError;
pub use expiry::{not_after, utc_date};

use rustls::crypto::ring;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The certificate and key a `--tls` listener serves, re-read on request
/// (SIGUSR1): a connection takes the pair current when it is accepted, so
/// a reload changes what new connections get and never an open one's.
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Loaded>,
}

/// One pair, checked and ready.
#[derive(Clone)]
struct Loaded {
    config: Arc<rustls::ServerConfig>,
    /// The server certificate's notAfter, as unix time.
    not_after: i64,
}

impl Certificates {
    /// Reads and checks the pair (see [`server_config`]), and refuses a
    /// certificate that has expired.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certificates>, TlsError> {
        let loaded = load_pair(cert, key)?;
        Ok(Arc::new(Certificates {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(loaded),
        }))
    }

    /// The settings for a connection accepted now.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.read().config)
    }

    /// When the certificate in use expires (its notAfter, unix time).
    pub fn not_after(&self) -> i64 {
        self.read().not_after
    }

    /// The files, for log lines.
    pub fn files(&self) -> String {
        format!("{} and {}", self.cert.display(), self.key.display())
    }

    /// Reads the files again: on success new connections get the new
    /// pair (and its notAfter is returned); on failure the pair in use
    /// stays, and the reason is returned.
    pub fn reload(&self) -> Result<i64, TlsError> {
        let loaded = load_pair(&self.cert, &self.key)?;
        let not_after = loaded.not_after;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(not_after)
    }

    fn read(&self) -> Loaded {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn load_pair(cert: &Path, key: &Path) -> Result<Loaded, TlsError> {
    let chain = read_chain(cert)?;
    let not_after = not_after(&chain[0]).ok_or_else(|| TlsError::NoExpiry(cert.to_path_buf()))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if not_after <= now {
        return Err(TlsError::Expired {
            path: cert.to_path_buf(),
            not_after,
        });
    }
    let config = config_for(chain, cert, key)?;
    Ok(Loaded { config, not_after })
}

/// The rustls server settings for the certificate chain in `cert` and the
/// private key in `key` (PEM; the chain's first certificate is the
/// server's own). Fails with one line naming the file and the cause: a
/// file that cannot be read, holds no certificate or key, or a key that
/// does not belong to the certificate.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    config_for(read_chain(cert)?, cert, key)
}

/// Every certificate in a PEM file.
fn pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, pem::Error> {
    CertificateDer::pem_file_iter(path).and_then(|certs| certs.collect())
}

fn read_chain(cert: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let chain = pem_certificates(cert).map_err(|source| TlsError::UnreadableCertificate {
        path: cert.to_path_buf(),
        source,
    })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_path_buf()));
    }
    Ok(chain)
}

fn config_for(
    chain: Vec<CertificateDer<'static>>,
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let private_key =
        PrivateKeyDer::from_pem_file(key).map_err(|source| TlsError::UnreadableKey {
            path: key.to_path_buf(),
            source,
        })?;
    rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Provider)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map(Arc::new)
        .map_err(|source| TlsError::Mismatch {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            source,
        })
}

/// The rustls client settings: trusting the CA certificates in `ca` (PEM)
/// or, without it, the system's roots. Fails with one line when `ca`
/// cannot be read or holds no certificate, or the system has no root.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(ca) => {
            let certs = pem_certificates(ca).map_err(|source| TlsError::UnreadableCa {
                path: ca.to_path_buf(),
                source,
            })?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsError::NoUsableCa(ca.to_path_buf()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(TlsError::NoSystemRoots);
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Provider)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name a server's certificate must carry, from `--server-name` or
/// else the host part of `addr` (`host:port`, `[v6]:port`).
pub fn server_name(
    explicit: Option<&str>,
    addr: &str,
) -> Result<rustls::pki_types::ServerName<'static>, TlsError> {
    let host = match explicit {
        Some(name) => name,
        None => {
            let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
            host.trim_start_matches('[').trim_end_matches(']')
        }
    };
    rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| TlsError::BadServerName(host.to_string()))
}

#[cfg(test)]
mod tests;
