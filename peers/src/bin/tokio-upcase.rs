//! The tokio peer: a multi-thread runtime (a worker per CPU), one task per
//! connection reading lines through a `BufReader` and answering through a
//! `BufWriter` flushed whenever no further complete line is buffered; UDP
//! on one task. With `--tls ADDR --tls-cert FILE --tls-key FILE`, the same
//! session over tokio-rustls on a third listener: the yardstick for
//! upcase's TLS.

use anyhow::{bail, Context as _};
use std::process::ExitCode;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, crypto::ring};
use tokio_rustls::TlsAcceptor;

async fn serve(
    reader: impl AsyncRead + Unpin,
    writer: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut writer = BufWriter::with_capacity(16 * 1024, writer);
    let (mut line, mut reply) = (Vec::with_capacity(256), Vec::with_capacity(256));
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            // shutdown: over TLS, close_notify after the last reply.
            return writer.shutdown().await;
        }
        reply.clear();
        upcase_peers::upcase_into(&line, &mut reply);
        writer.write_all(&reply).await?;
        if !reader.buffer().contains(&b'\n') {
            writer.flush().await?;
        }
    }
}

async fn serve_plain(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (reader, writer) = stream.into_split();
    serve(reader, writer).await
}

async fn serve_tls(stream: TcpStream, acceptor: TlsAcceptor) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (reader, writer) = tokio::io::split(acceptor.accept(stream).await?);
    serve(reader, writer).await
}

async fn serve_udp(socket: UdpSocket) {
    let (mut datagram, mut reply) = (vec![0u8; 65536], Vec::with_capacity(65536));
    while let Ok((n, from)) = socket.recv_from(&mut datagram).await {
        reply.clear();
        upcase_peers::upcase_into(&datagram[..n], &mut reply);
        let _ = socket.send_to(&reply, from).await;
    }
}

/// The acceptor for `--tls-cert` and `--tls-key` (PEM).
fn acceptor() -> anyhow::Result<TlsAcceptor> {
    let (Some(cert), Some(key)) = (
        upcase_peers::flag("tls-cert"),
        upcase_peers::flag("tls-key"),
    ) else {
        bail!("--tls needs --tls-cert FILE and --tls-key FILE");
    };
    let chain = CertificateDer::pem_file_iter(&cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read the certificate {cert}"))?;
    let key =
        PrivateKeyDer::from_pem_file(&key).with_context(|| format!("cannot read the key {key}"))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_no_client_auth().with_single_cert(chain, key))
        .context("TLS")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn accept_tls(listener: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _ = serve_tls(stream, acceptor).await;
        });
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    upcase_peers::finish("tokio-upcase", run().await)
}

async fn run() -> anyhow::Result<()> {
    let (tcp, udp) = upcase_peers::addresses();
    let tls = match upcase_peers::flag("tls") {
        Some(addr) => {
            let acceptor = acceptor()?;
            let listener = TcpListener::bind(&addr)
                .await
                .with_context(|| format!("cannot bind {addr} (tls)"))?;
            Some((listener, acceptor))
        }
        None => None,
    };
    let listener = TcpListener::bind(&tcp)
        .await
        .with_context(|| format!("cannot bind {tcp} (tcp)"))?;
    let socket = UdpSocket::bind(&udp)
        .await
        .with_context(|| format!("cannot bind {udp} (udp)"))?;
    println!("tcp listening on {}", listener.local_addr()?);
    println!("udp listening on {}", socket.local_addr()?);
    if let Some((tls_listener, acceptor)) = tls {
        println!("tls listening on {}", tls_listener.local_addr()?);
        tokio::spawn(accept_tls(tls_listener, acceptor));
    }
    tokio::spawn(serve_udp(socket));
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = serve_plain(stream).await;
        });
    }
}
