//! `--tls`: the line protocol over TLS in every model, checked with a
//! rustls client and certificates made by rcgen at test time: a line
//! answered, `close_notify` at shutdown, a handshake never finished closed
//! at the idle timeout (and counted), a full server evicting an unfinished
//! handshake. These run in-process (`server::run_with_admin` with a TLS
//! listener); SIGUSR1 re-reading the pair and bad files refused at start
//! with one line need the binary.

mod common;

use common::tls::*;
use common::*;
use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use upcase::admin::Access;
use upcase::config::ServerConfig;

/// A server in `model` serving TLS with `cert` and `key` beside clear
/// text, its admin endpoint open to loopback callers.
fn start_tls(
    model: &str,
    cert: &Path,
    key: &Path,
    adjust: impl FnOnce(&mut ServerConfig),
) -> InProcess {
    InProcess::start_tls(model, (cert, key), Some(Access::open()), adjust)
}

/// A line over TLS and one in clear text beside it; at shutdown the TLS
/// client gets `close_notify` (rustls reports end of data only for it)
/// and the server stops cleanly.
fn answers_a_line_over_tls_and_ends_with_close_notify(model: &str) {
    let files = CertDir::new(&format!("line-{model}"));
    let (cert, key) = files.server();
    let server = start_tls(model, &cert, &key, |_| {});
    // Clear text first: `iterative` serves one client at a time.
    let mut plain = server.connect();
    round_trip(&mut plain, b"beside it\n", b"BESIDE IT\n");
    drop(plain);
    let mut client = tls_client(server.tls.unwrap(), &cert);
    assert_eq!(ask(&mut client, "over tls\n").unwrap(), "OVER TLS\n");
    server.trigger();
    let mut rest = Vec::new();
    let end = client.read_to_end(&mut rest);
    assert!(
        end.is_ok() && rest.is_empty(),
        "{model}: expected close_notify, got {end:?} after {rest:?}"
    );
    drop(client);
    let summary = server.stop();
    assert_eq!(
        (summary.connections, summary.lines),
        (2, 2),
        "{model}: {summary}"
    );
}

/// A client that connects and never sends its hello is closed at the idle
/// timeout, counted as a failed handshake (reason timeout); a finished one
/// as ok; the certificate's expiry is exported.
fn an_unfinished_handshake_is_closed_at_the_idle_timeout(model: &str) {
    let files = CertDir::new(&format!("idle-{model}"));
    let (cert, key) = files.server();
    let server = start_tls(model, &cert, &key, |config| {
        config.idle_timeout = Some(Duration::from_secs(2))
    });
    let tls = server.tls.unwrap();
    let mut silent = connect_to(tls);
    // Closed by the server (its FIN, or a reset), not by the read timeout.
    assert!(
        read_to_close_or_reset(&mut silent),
        "{model}: not closed within {PATIENCE:?}"
    );
    // Closing it too ends the server's drain of it at once.
    drop(silent);
    let mut client = tls_client(tls, &cert);
    assert_eq!(ask(&mut client, "done\n").unwrap(), "DONE\n");
    let metrics = http_get(server.admin(), "/metrics");
    for series in [
        "upcase_tls_handshakes_total{result=\"ok\"} 1",
        "upcase_tls_handshakes_total{result=\"failed\",reason=\"timeout\"} 1",
        // 2049-06-30 00:00:00 UTC
        "upcase_tls_certificate_expiry_seconds 2508624000",
    ] {
        assert!(
            metrics.contains(series),
            "{model}: no {series} in {metrics}"
        );
    }
    drop(client);
    server.stop();
}

/// Reads until the server ends the connection; false if it did not within
/// the read timeout.
fn read_to_close_or_reset(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(error) => {
                return !matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

for_every_model!(
    answers_a_line_over_tls_and_ends_with_close_notify,
    an_unfinished_handshake_is_closed_at_the_idle_timeout,
);

#[test]
fn sigusr1_gives_new_connections_the_new_pair_and_a_bad_file_keeps_the_old() {
    let files = CertDir::new("reload");
    let (cert, key) = files.server();
    let (first_cert, _) = files.pair("first", 2049);
    fs::copy(&cert, &first_cert).unwrap();
    let server = start_binary(&cert, &key);
    let tls = server.tls.unwrap();
    let mut before = tls_client(tls, &first_cert);
    assert_eq!(ask(&mut before, "before\n").unwrap(), "BEFORE\n");

    // A new pair in the same files, then SIGUSR1.
    let (new_cert, new_key) = files.pair("new", 2050);
    fs::copy(&new_cert, &cert).unwrap();
    fs::copy(&new_key, &key).unwrap();
    send_signal(server.pid(), libc::SIGUSR1);
    assert!(
        server.wait_for_log("SIGUSR1: re-read"),
        "{}",
        server.stderr()
    );
    let mut after = tls_client(tls, &new_cert);
    assert_eq!(ask(&mut after, "after\n").unwrap(), "AFTER\n");
    // A client trusting only the old certificate refuses the new one.
    let mut stale = tls_client(tls, &first_cert);
    assert!(ask(&mut stale, "stale\n").is_err());
    // The connection opened before the reload is served as it was.
    assert_eq!(ask(&mut before, "still\n").unwrap(), "STILL\n");

    // A bad file: the pair in use stays, and the log says why.
    fs::write(&cert, "not a certificate\n").unwrap();
    send_signal(server.pid(), libc::SIGUSR1);
    assert!(
        server.wait_for_log("SIGUSR1: keeping the certificate in use"),
        "{}",
        server.stderr()
    );
    let mut kept = tls_client(tls, &new_cert);
    assert_eq!(ask(&mut kept, "kept\n").unwrap(), "KEPT\n");
    drop((before, after, kept));
    let (status, log) = server.stop_with(libc::SIGTERM);
    assert!(status.success(), "{log}");
}

#[test]
fn a_full_server_closes_an_unfinished_handshake_for_a_newcomer() {
    // One place; a client holds it and never sends its hello. Once it has
    // been quiet long enough to be evictable (300 ms here), a newcomer
    // gets it.
    let files = CertDir::new("full");
    let (cert, key) = files.server();
    let server = start_tls("pool", &cert, &key, |config| {
        config.max_connections = 1;
        config.evictable_after = Duration::from_millis(300);
    });
    let tls = server.tls.unwrap();
    let mut silent = connect_to(tls);
    let deadline = std::time::Instant::now() + PATIENCE;
    let answered = loop {
        let mut newcomer = tls_client(tls, &cert);
        if let Ok(reply) = ask(&mut newcomer, "newcomer\n") {
            break Some(reply);
        }
        if std::time::Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(answered.as_deref(), Some("NEWCOMER\n"));
    assert!(
        read_to_close_or_reset(&mut silent),
        "the silent one was closed"
    );
    drop(silent);
    let metrics = http_get(server.admin(), "/metrics");
    for series in [
        "upcase_tls_handshakes_total{result=\"failed\",reason=\"timeout\"} 1",
        "upcase_connections_closed_by_server_total{reason=\"idle_at_capacity\"} 1",
    ] {
        assert!(metrics.contains(series), "no {series} in {metrics}");
    }
    let summary = server.stop();
    assert_eq!(summary.idle_evictions, 1, "{summary}");
}

/// The binary serving TLS with `cert` and `key`, for what only a process
/// shows (SIGUSR1).
fn start_binary(cert: &Path, key: &Path) -> Server {
    Server::start(&[
        "--no-udp",
        "--tls",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
}

/// Runs the server with `args` and expects it to exit at once with
/// `code` and one line on stderr; returns that line.
fn refused(args: &[&str], code: i32) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_upcase-server"))
        .args(["--tcp", "127.0.0.1:0", "--no-udp"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "{args:?}: nothing may be announced"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn bad_files_are_one_line_and_exit_1_and_missing_ones_a_usage_error() {
    let files = CertDir::new("bad");
    let (cert, key) = files.server();
    let (_, other_key) = files.pair("other", 2049);
    let (expired, expired_key) = files.pair("expired", 2020);
    let (cert, key, other_key) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        other_key.to_str().unwrap(),
    );
    let missing = files.dir.join("missing.crt");
    let cases: [(&[&str], &str); 3] = [
        (
            &["--tls-cert", missing.to_str().unwrap(), "--tls-key", key],
            "cannot read the certificate",
        ),
        (
            &["--tls-cert", cert, "--tls-key", other_key],
            "cannot be used together",
        ),
        (
            &[
                "--tls-cert",
                expired.to_str().unwrap(),
                "--tls-key",
                expired_key.to_str().unwrap(),
            ],
            "expired on 2020-06-30 00:00:00 UTC",
        ),
    ];
    for (files_args, expected) in cases {
        let mut args = vec!["--tls", "127.0.0.1:0"];
        args.extend_from_slice(files_args);
        let stderr = refused(&args, 1);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("upcase-server: "), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
    let stderr = refused(&["--tls", "127.0.0.1:0"], 2);
    assert!(stderr.contains("--tls-cert"), "{stderr}");
    let stderr = refused(&["--tls", "127.0.0.1:0", "--tls-cert", cert], 2);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}
