//! TLS's certificate and key: read from PEM files and checked before the
//! server serves anything, so that a bad file is one clear line at start-up
//! (and, on a reload, a reason to keep the old pair) instead of a handshake
//! failure every client sees. And the clients' side (`upcase-client --tls`,
//! `upcase-flood --tls`): whom they trust, decided in one place.
//!
//! The cryptography is rustls with its `ring` provider: `ring` builds with
//! only a C compiler, which is all this project's machines have (rustls's
//! default, `aws-lc-rs`, needs cmake to build).

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// The rustls server settings for the certificate chain in `cert` and the
/// private key in `key` (PEM; the chain's first certificate is the
/// server's own). Fails with one line naming the file and the cause: a
/// file that cannot be read, holds no certificate or key, or a key that
/// does not belong to the certificate.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    let private_key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map(Arc::new)
        .map_err(|e| {
            format!(
                "the certificate {} and the key {} cannot be used together: {e}",
                cert.display(),
                key.display()
            )
        })
}

/// The rustls client settings: trusting the CA certificates in `ca` (PEM)
/// or, without it, the system's roots. Fails with one line when `ca`
/// cannot be read or holds no certificate, or the system has no root.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(ca) => {
            let certs = CertificateDer::pem_file_iter(ca)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read the CA certificates {}: {e}", ca.display()))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("no usable CA certificate in {}", ca.display()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(
                    "no trusted root certificate found on this system (name one with --ca FILE)"
                        .into(),
                );
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The name a server's certificate must carry, from `--server-name` or
/// else the host part of `addr` (`host:port`, `[v6]:port`).
pub fn server_name(
    explicit: Option<&str>,
    addr: &str,
) -> Result<rustls::pki_types::ServerName<'static>, String> {
    let host = match explicit {
        Some(name) => name,
        None => {
            let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
            host.trim_start_matches('[').trim_end_matches(']')
        }
    };
    rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| format!("{host:?} is not a name or address a certificate can carry"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::{Read, Write};
    use std::path::PathBuf;

    /// A fresh directory for one test's files.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("upcase-tls-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A self-signed certificate for `localhost` and its key, as PEM files.
    fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        fs::write(&cert, pair.cert.pem()).unwrap();
        fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn a_certificate_and_its_key_serve_a_handshake() {
        let dir = scratch("good");
        let (cert, key) = certificate(&dir, "server");
        let config = server_config(&cert, &key).unwrap();
        // A real rustls client trusting that certificate, over memory.
        let mut roots = rustls::RootCertStore::empty();
        for der in CertificateDer::pem_file_iter(&cert).unwrap() {
            roots.add(der.unwrap()).unwrap();
        }
        let client_config =
            rustls::ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        let mut client =
            rustls::ClientConnection::new(Arc::new(client_config), "localhost".try_into().unwrap())
                .unwrap();
        let mut server = rustls::ServerConnection::new(config).unwrap();
        client.writer().write_all(b"hello\n").unwrap();
        let mut wire = Vec::new();
        for _ in 0..10 {
            while client.wants_write() {
                client.write_tls(&mut wire).unwrap();
            }
            server.read_tls(&mut wire.as_slice()).unwrap();
            wire.clear();
            server.process_new_packets().unwrap();
            while server.wants_write() {
                server.write_tls(&mut wire).unwrap();
            }
            client.read_tls(&mut wire.as_slice()).unwrap();
            wire.clear();
            client.process_new_packets().unwrap();
        }
        assert!(!server.is_handshaking() && !client.is_handshaking());
        let mut line = [0u8; 6];
        server.reader().read_exact(&mut line).unwrap();
        assert_eq!(&line, b"hello\n");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_with_both_files_named() {
        let dir = scratch("mismatch");
        let (cert, _) = certificate(&dir, "one");
        let (_, other_key) = certificate(&dir, "two");
        let error = server_config(&cert, &other_key).unwrap_err();
        assert!(
            error.contains("one.crt") && error.contains("two.key"),
            "{error}"
        );
        assert!(error.contains("cannot be used together"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_empty_or_garbage_files_are_one_clear_error() {
        let dir = scratch("bad");
        let (cert, key) = certificate(&dir, "server");
        let missing = dir.join("missing.crt");
        let error = server_config(&missing, &key).unwrap_err();
        assert!(error.starts_with("cannot read the certificate"), "{error}");
        assert!(error.contains("missing.crt"), "{error}");
        let garbage = dir.join("garbage.pem");
        fs::write(&garbage, "not a certificate\n").unwrap();
        let error = server_config(&garbage, &key).unwrap_err();
        assert!(error.starts_with("no certificate in"), "{error}");
        let error = server_config(&cert, &garbage).unwrap_err();
        assert!(error.starts_with("cannot read the private key"), "{error}");
        assert!(!error.contains('\n'), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
