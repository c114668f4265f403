//! `upcase-client --tls` against TLS servers written here with rustls and
//! certificates made by rcgen at test time: the client's rules (whole
//! replies only, `--reconnect`, `--max-reply`, `--timeout`) hold over TLS,
//! and a certificate it must not trust is one clear line, exit 1.

mod common;

use common::tls::{server_config, CertDir};
use common::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ServerConnection, StreamOwned};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

/// A certificate pair (`common::tls`) and the paths the client is given.
struct Certificate {
    files: CertDir,
    cert: PathBuf,
    key: PathBuf,
}

impl Certificate {
    fn new(name: &str) -> Certificate {
        let files = CertDir::new(&format!("client-{name}"));
        let (cert, key) = files.server();
        Certificate { files, cert, key }
    }

    fn cert_arg(&self) -> &str {
        self.cert.to_str().unwrap()
    }

    fn config(&self) -> Arc<rustls::ServerConfig> {
        server_config(&self.cert, &self.key)
    }
}

type Tls = StreamOwned<ServerConnection, TcpStream>;

/// A TLS server on 127.0.0.1:0 running `script` on each of the first
/// `connections` connections, after its handshake; returns its address.
fn tls_server(
    config: Arc<rustls::ServerConfig>,
    connections: usize,
    script: impl Fn(usize, Tls) + Send + Sync + 'static,
) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let script = Arc::new(script);
    let handle = thread::spawn(move || {
        let mut served = Vec::new();
        for n in 0..connections {
            let Ok((socket, _)) = listener.accept() else {
                return;
            };
            socket.set_read_timeout(Some(PATIENCE)).unwrap();
            let session = ServerConnection::new(Arc::clone(&config)).unwrap();
            let script = Arc::clone(&script);
            served.push(thread::spawn(move || {
                script(n, StreamOwned::new(session, socket))
            }));
        }
        for one in served {
            let _ = one.join();
        }
    });
    (addr, handle)
}

/// Answers up to `limit` lines with their uppercase, then ends the
/// session with `close_notify` and a clean close.
fn answer(mut tls: Tls, limit: usize) {
    let mut lines = BufReader::new(&mut tls);
    let mut replies = Vec::new();
    for _ in 0..limit {
        let mut line = Vec::new();
        match lines.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => replies.push(upcase::codec::uppercase(&line)),
        }
        if lines.buffer().is_empty() {
            let stream = lines.get_mut();
            if stream.write_all(&replies.concat()).is_err() {
                return;
            }
            replies.clear();
        }
    }
    let _ = tls.write_all(&replies.concat());
    tls.conn.send_close_notify();
    let _ = tls.flush();
    close_without_reset(tls);
}

/// Ends the TCP connection as a careful server does: FIN, then whatever
/// the client still sends is read and dropped until it closes. Closing
/// with its input unread would reset the connection, and the client would
/// rightly report the reset instead of what the test is about.
fn close_without_reset(tls: Tls) {
    let socket = tls.sock;
    let _ = socket.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 4096];
    while matches!((&socket).read(&mut sink), Ok(read) if read > 0) {}
}

#[test]
fn piped_input_over_tls_comes_back_exactly() {
    let certificate = Certificate::new("piped");
    let (addr, server) = tls_server(certificate.config(), 1, |_, tls| answer(tls, usize::MAX));
    let mut input = Vec::new();
    for i in 0..50_000 {
        input.extend_from_slice(format!("line {i} over tls, ß and ﬁ\n").as_bytes());
    }
    input.extend_from_slice(b"no newline at the end");
    let expected = String::from_utf8(input.clone()).unwrap().to_uppercase();
    let output = run_client(&["--tls", "--ca", certificate.cert_arg(), &addr], input);
    server.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout.len(), expected.len());
    assert!(output.stdout == expected.as_bytes());
}

#[test]
fn the_server_name_defaults_to_the_host_of_the_address() {
    let certificate = Certificate::new("name");
    // "localhost" is on the certificate: checked by name, not by address.
    let (addr, server) = tls_server(certificate.config(), 1, |_, tls| answer(tls, usize::MAX));
    let port = addr.rsplit_once(':').unwrap().1;
    let by_name = format!("localhost:{port}");
    let output = run_client(
        &["--tls", "--ca", certificate.cert_arg(), &by_name],
        b"hi\n".to_vec(),
    );
    server.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, b"HI\n");
}

/// Runs the client against a server whose handshake it must refuse and
/// returns its one line of stderr.
fn refused(args: &[&str], certificate: &Certificate) -> String {
    let (addr, server) = tls_server(certificate.config(), 1, |_, mut tls| {
        // The handshake fails on the client's side; nothing to answer.
        let _ = tls.read(&mut [0u8; 1]);
    });
    let mut all = args.to_vec();
    all.push(&addr);
    let output = run_client(&all, b"secret\n".to_vec());
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
    stderr
}

#[test]
fn a_certificate_the_system_does_not_trust_is_one_clear_line() {
    let certificate = Certificate::new("untrusted");
    let stderr = refused(&["--tls"], &certificate);
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
}

#[test]
fn a_certificate_for_another_name_is_one_clear_line() {
    let certificate = Certificate::new("othername");
    let stderr = refused(
        &[
            "--tls",
            "--ca",
            certificate.cert_arg(),
            "--server-name",
            "elsewhere.example",
        ],
        &certificate,
    );
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(stderr.contains("not valid for name"), "{stderr}");
}

#[test]
fn an_unreadable_ca_file_is_one_clear_line() {
    let output = run_client(
        &["--tls", "--ca", "/nonexistent/ca.pem", "127.0.0.1:1"],
        b"x\n".to_vec(),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/nonexistent/ca.pem"), "{stderr}");
}

#[test]
fn reconnect_over_tls_resends_exactly_the_unanswered_lines() {
    let certificate = Certificate::new("reconnect");
    // The first connection answers three lines and ends; the second the rest.
    let (addr, server) = tls_server(certificate.config(), 2, |n, tls| {
        answer(tls, if n == 0 { 3 } else { usize::MAX })
    });
    let input: String = (0..10).map(|i| format!("line {i}\n")).collect();
    let output = run_client(
        &[
            "--tls",
            "--ca",
            certificate.cert_arg(),
            "--reconnect",
            &addr,
        ],
        input.clone().into_bytes(),
    );
    server.join().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        input.to_uppercase()
    );
}

#[test]
fn a_cut_reply_over_tls_is_never_printed() {
    let certificate = Certificate::new("cut");
    let (addr, server) = tls_server(certificate.config(), 1, |_, mut tls| {
        let mut line = Vec::new();
        let _ = BufReader::new(&mut tls).read_until(b'\n', &mut line);
        // Half a reply, then the end of the session.
        let _ = tls.write_all(b"ONE\nTW");
        tls.conn.send_close_notify();
        let _ = tls.flush();
        close_without_reset(tls);
    });
    let output = run_client(
        &["--tls", "--ca", certificate.cert_arg(), &addr],
        b"one\ntwo\n".to_vec(),
    );
    server.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(output.stdout, b"ONE\n");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("in the middle of a reply"), "{stderr}");
}

#[test]
fn max_reply_and_timeout_hold_over_tls() {
    let certificate = Certificate::new("limits");
    // The server holds each connection open until the test is done with it.
    let (done, held) = std::sync::mpsc::channel::<()>();
    let held = std::sync::Mutex::new(held);
    let (addr, server) = tls_server(certificate.config(), 2, move |n, mut tls| {
        let mut line = Vec::new();
        let _ = BufReader::new(&mut tls).read_until(b'\n', &mut line);
        if n == 0 {
            // A reply that never ends.
            let _ = tls.write_all(&[b'A'; 4096]);
            let _ = tls.flush();
        }
        // Then silence, the connection open, until the test says.
        let _ = held.lock().unwrap().recv_timeout(PATIENCE);
    });
    let ca = certificate.cert_arg();
    let output = run_client(
        &["--tls", "--ca", ca, "--max-reply", "1000", &addr],
        b"x\n".to_vec(),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--max-reply"), "{stderr}");
    let output = run_client(
        &["--tls", "--ca", ca, "--timeout", "2", &addr],
        b"x\n".to_vec(),
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("--timeout"), "{stderr}");
    drop(done);
    server.join().unwrap();
}

#[test]
fn the_ca_file_is_what_the_client_trusts() {
    // The library half: a CA file with no certificate is refused.
    let certificate = Certificate::new("emptyca");
    let empty = certificate.files.dir.join("empty.pem");
    fs::write(&empty, "").unwrap();
    let error = upcase::certificates::client_config(Some(&empty)).unwrap_err();
    assert!(
        matches!(error, upcase::certificates::TlsError::NoUsableCa(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("empty.pem"), "{error}");
    assert!(CertificateDer::pem_file_iter(&certificate.cert).is_ok());
    assert!(upcase::certificates::client_config(Some(&certificate.cert)).is_ok());
}
