//! `upcase-flood --tls` against the real server's `--tls` listener, with a
//! certificate rcgen makes at test time: every mode's counts add up and
//! every reply is checked; a certificate the flood does not trust fails
//! the run at the handshake.

mod common;

use common::*;
use serde_json::Value;
use std::fs;
use std::path::PathBuf;

struct Certificate {
    dir: PathBuf,
}

impl Certificate {
    fn new(name: &str) -> Certificate {
        let dir =
            std::env::temp_dir().join(format!("upcase-flood-tls-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap();
        fs::write(dir.join("server.crt"), pair.cert.pem()).unwrap();
        fs::write(dir.join("server.key"), pair.signing_key.serialize_pem()).unwrap();
        Certificate { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn tls_server(certificate: &Certificate) -> (ServerProcess, String) {
    tls_server_with(certificate, &[])
}

fn tls_server_with(certificate: &Certificate, extra: &[&str]) -> (ServerProcess, String) {
    let (cert, key) = (
        certificate.path("server.crt"),
        certificate.path("server.key"),
    );
    let mut args = vec![
        "--tls",
        "127.0.0.1:0",
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];
    args.extend_from_slice(extra);
    let server = start_server(&args);
    let tls = server
        .tls
        .expect("the server announced its tls address")
        .to_string();
    (server, tls)
}

#[test]
fn tls_counts_add_up_in_every_mode() {
    let certificate = Certificate::new("modes");
    let (_server, tls) = tls_server(&certificate);
    let ca = certificate.path("server.crt");
    for mode in [
        &[][..],
        &["--pipeline", "32"],
        &["--connect-per-line"],
        &["--reconnect"],
    ] {
        let mut args = vec![
            "--tcp",
            &tls,
            "--tls",
            "--ca",
            &ca,
            "--clients",
            "4",
            "--lines",
            "300",
            "--json",
        ];
        args.extend_from_slice(mode);
        let output = flood(&args);
        assert!(
            output.status.success(),
            "{mode:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        let report: Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(report["lines_sent"], 1200, "{mode:?}");
        assert_eq!(report["replies_ok"], 1200, "{mode:?}");
        assert_eq!(report["mismatches"], 0, "{mode:?}");
        assert_eq!(report["lost"], 0, "{mode:?}");
    }
}

#[test]
fn an_untrusted_certificate_fails_the_run_at_the_handshake() {
    let certificate = Certificate::new("untrusted");
    let (_server, tls) = tls_server(&certificate);
    for mode in [&[][..], &["--pipeline", "8"], &["--connect-per-line"]] {
        let mut args = vec!["--tcp", &tls, "--tls", "--clients", "2", "--lines", "10"];
        args.extend_from_slice(mode);
        let output = flood(&args);
        assert!(!output.status.success(), "{mode:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains("invalid peer certificate"),
            "{mode:?}: {text}"
        );
    }
}

#[test]
fn ping_pong_handshakes_do_not_wait_on_each_other() {
    // The iterative model serves one connection at a time: a group of
    // evented clients whose second handshake blocked the first client's
    // lines would wait on each other until the reply timeout.
    let certificate = Certificate::new("iterative");
    let (_server, tls) = tls_server_with(&certificate, &["--model", "iterative"]);
    let ca = certificate.path("server.crt");
    let output = flood(&[
        "--tcp",
        &tls,
        "--tls",
        "--ca",
        &ca,
        "--clients",
        "4",
        "--lines",
        "200",
        "--json",
        "--timeout",
        "8",
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    let report: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(report["replies_ok"], 800, "{text}");
}
