//! The throwaway certificate the reports' TLS runs use (bench's rows,
//! compare's section): made at run time by rcgen, self-signed for
//! 127.0.0.1, so no report needs `openssl` or a file from outside; its
//! directory is removed when it is dropped.

use crate::error::ReportError;
use std::path::PathBuf;
use std::sync::Arc;

/// A self-signed certificate for 127.0.0.1 and its key, in a directory of
/// their own, with a client that trusts it.
pub(crate) struct Certificate {
    dir: PathBuf,
    /// A client that trusts this certificate, with rustls's defaults (a
    /// client that reconnects resumes its session).
    pub client: upcase::client::TlsClient,
}

impl Certificate {
    /// Makes one for the report named `purpose` ("bench", "compare").
    pub fn make(purpose: &str) -> Result<Certificate, ReportError> {
        let dir = std::env::temp_dir().join(format!("upcase-{purpose}-tls-{}", std::process::id()));
        let pair = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()])
            .map_err(ReportError::Certificate)?;
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("server.crt"), pair.cert.pem()))
            .and_then(|()| {
                std::fs::write(dir.join("server.key"), pair.signing_key.serialize_pem())
            });
        let certificate = Certificate {
            client: upcase::client::TlsClient {
                config: upcase::certificates::client_config(Some(&dir.join("server.crt")))
                    .map_err(ReportError::Tls)?,
                server_name: upcase::certificates::server_name(None, "127.0.0.1:0")
                    .map_err(ReportError::Tls)?,
            },
            dir,
        };
        written.map_err(ReportError::file(
            "write",
            certificate.dir.join("server.crt"),
        ))?;
        Ok(certificate)
    }

    /// [`Certificate::client`] with session resumption off: every
    /// connection a full handshake (the server signs, the client verifies).
    pub fn client_without_resumption(&self) -> upcase::client::TlsClient {
        let mut config = rustls::ClientConfig::clone(&self.client.config);
        config.resumption = rustls::client::Resumption::disabled();
        upcase::client::TlsClient {
            config: Arc::new(config),
            server_name: self.client.server_name.clone(),
        }
    }

    /// The flags that start a server's TLS listener with this certificate.
    pub fn server_flags(&self) -> Vec<String> {
        let path = |name: &str| self.dir.join(name).to_string_lossy().into_owned();
        vec![
            "--tls".into(),
            "127.0.0.1:0".into(),
            "--tls-cert".into(),
            path("server.crt"),
            "--tls-key".into(),
            path("server.key"),
        ]
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
