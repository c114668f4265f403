//! Why a certificate, a key or a trust store cannot be used: one variant
//! per cause, each naming the file, as the one line an operator reads at
//! start-up or in the reload's log line.

use super::expiry::utc_date;
use rustls::pki_types::pem;
use std::path::PathBuf;

/// What is wrong with the TLS files or names. `Display` is the whole
/// line (its cause included); `source()` is the cause.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file cannot be read or is not PEM.
    #[error("cannot read the certificate {}: {source}", path.display())]
    UnreadableCertificate {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("no certificate in {}", .0.display())]
    NoCertificate(PathBuf),
    /// The server certificate's validity cannot be read.
    #[error("cannot read the expiry date of the certificate {}", .0.display())]
    NoExpiry(PathBuf),
    /// The server certificate's notAfter has passed.
    #[error("the certificate {} expired on {}", path.display(), utc_date(*.not_after))]
    Expired {
        /// The file.
        path: PathBuf,
        /// Its notAfter, as unix time.
        not_after: i64,
    },
    /// The private key file cannot be read or holds no key.
    #[error("cannot read the private key {}: {source}", path.display())]
    UnreadableKey {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: pem::Error,
    },
    /// The key is not the certificate's, or rustls refuses the pair.
    #[error(
        "the certificate {} and the key {} cannot be used together: {source}",
        cert.display(),
        key.display()
    )]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// The `--ca` file cannot be read or is not PEM.
    #[error("cannot read the CA certificates {}: {source}", path.display())]
    UnreadableCa {
        /// The file.
        path: PathBuf,
        /// What reading it said.
        source: pem::Error,
    },
    /// The `--ca` file holds no certificate rustls can use.
    #[error("no usable CA certificate in {}", .0.display())]
    NoUsableCa(PathBuf),
    /// No `--ca`, and the system's store holds no root certificate.
    #[error("no trusted root certificate found on this system (name one with --ca FILE)")]
    NoSystemRoots,
    /// The crypto provider offers no protocol version rustls accepts.
    #[error("TLS: {0}")]
    Provider(#[source] rustls::Error),
    /// `--server-name` (or the host of ADDR) is no DNS name or IP address.
    #[error("{0:?} is not a name or address a certificate can carry")]
    BadServerName(String),
}
