//! Certificates made by rcgen at test time and a rustls client that
//! trusts only them, for the tests of `--tls` (the server's and the
//! client's). A certificate is for `localhost` and 127.0.0.1; its files
//! live in a directory of the test's own, removed on drop.

use super::connect_to;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConnection, StreamOwned};
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A directory of certificates for one test, removed on drop.
pub struct CertDir {
    pub dir: PathBuf,
}

impl CertDir {
    pub fn new(name: &str) -> CertDir {
        let dir = std::env::temp_dir().join(format!("upcase-tls-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        CertDir { dir }
    }

    /// A self-signed certificate valid until the middle of `year`, and its
    /// key: (cert, key) paths named after `name`.
    pub fn pair(&self, name: &str, year: i32) -> (PathBuf, PathBuf) {
        let names = vec!["localhost".into(), "127.0.0.1".into()];
        let mut params = rcgen::CertificateParams::new(names).unwrap();
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(year, 6, 30);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (cert_file, key_file) = (
            self.dir.join(format!("{name}.crt")),
            self.dir.join(format!("{name}.key")),
        );
        fs::write(&cert_file, cert.pem()).unwrap();
        fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }

    /// `pair("server", 2049)`: a pair good for the life of the test.
    pub fn server(&self) -> (PathBuf, PathBuf) {
        self.pair("server", 2049)
    }
}

impl Drop for CertDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A rustls server configuration for `cert` and `key` (the server's own
/// loader).
pub fn server_config(cert: &Path, key: &Path) -> Arc<rustls::ServerConfig> {
    upcase::certificates::server_config(cert, key).expect("a usable certificate pair")
}

pub type TlsClient = StreamOwned<ClientConnection, TcpStream>;

/// A rustls client trusting only `ca`, connected to `server` (the
/// handshake happens on the first read or write).
pub fn tls_client(server: SocketAddr, ca: &Path) -> TlsClient {
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(der.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connection =
        ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    StreamOwned::new(connection, connect_to(server))
}

/// Sends `line` and returns the reply line.
pub fn ask(client: &mut TlsClient, line: &str) -> std::io::Result<String> {
    client.write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(client).read_line(&mut reply)?;
    Ok(reply)
}
