//! The certificate files' checks and the expiry date, against certificates
//! rcgen makes.

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
    let error = server_config(&cert, &other_key).unwrap_err().to_string();
    assert!(
        error.contains("one.crt") && error.contains("two.key"),
        "{error}"
    );
    assert!(error.contains("cannot be used together"), "{error}");
    fs::remove_dir_all(&dir).unwrap();
}

/// A certificate for `localhost` valid until `not_after` (a unix
/// time), as PEM files.
fn certificate_until(dir: &Path, name: &str, year: i32) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2000, 1, 1);
    params.not_after = rcgen::date_time_ymd(year, 6, 30);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_file, key_file) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    fs::write(&cert_file, cert.pem()).unwrap();
    fs::write(&key_file, key.serialize_pem()).unwrap();
    (cert_file, key_file)
}

#[test]
fn the_expiry_date_is_read_from_the_certificate() {
    let dir = scratch("expiry");
    // 2049: UTCTime; 2051: GeneralizedTime (RFC 5280 4.1.2.5).
    for (year, unix) in [(2049, 2_508_624_000), (2051, 2_571_696_000)] {
        let (cert, key) = certificate_until(&dir, &format!("y{year}"), year);
        let certificates = Certificates::load(&cert, &key).unwrap();
        assert_eq!(certificates.not_after(), unix, "{year}");
        assert_eq!(utc_date(unix), format!("{year}-06-30 00:00:00 UTC"));
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_expired_certificate_is_refused_and_a_reload_keeps_the_old_pair() {
    let dir = scratch("expired");
    let (cert, key) = certificate_until(&dir, "old", 2020);
    let error = Certificates::load(&cert, &key).map(|_| ()).unwrap_err();
    assert!(matches!(error, TlsError::Expired { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "the certificate {} expired on 2020-06-30 00:00:00 UTC",
            cert.display()
        )
    );
    // A good pair in place, then an expired one written over it.
    let (good_cert, good_key) = certificate_until(&dir, "good", 2049);
    let certificates = Certificates::load(&good_cert, &good_key).unwrap();
    fs::copy(&cert, &good_cert).unwrap();
    fs::copy(&key, &good_key).unwrap();
    assert!(matches!(
        certificates.reload(),
        Err(TlsError::Expired { .. })
    ));
    assert_eq!(certificates.not_after(), 2_508_624_000);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncated_or_foreign_der_has_no_expiry_and_no_panic() {
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der = pair.cert.der().to_vec();
    assert!(not_after(&der).is_some());
    for len in 0..der.len() {
        let _ = not_after(&der[..len]);
    }
    assert_eq!(not_after(b"not der at all"), None);
}

#[test]
fn unreadable_empty_or_garbage_files_are_one_clear_error() {
    let dir = scratch("bad");
    let (cert, key) = certificate(&dir, "server");
    let missing = dir.join("missing.crt");
    let error = server_config(&missing, &key).unwrap_err();
    // The cause is the system's, kept for a caller that asks for it.
    let cause = std::error::Error::source(&error).map(ToString::to_string);
    assert!(
        cause.is_some_and(|cause| cause.contains("No such file")),
        "{error:?}"
    );
    let error = error.to_string();
    assert!(error.starts_with("cannot read the certificate"), "{error}");
    assert!(error.contains("missing.crt"), "{error}");
    let garbage = dir.join("garbage.pem");
    fs::write(&garbage, "not a certificate\n").unwrap();
    let error = server_config(&garbage, &key).unwrap_err().to_string();
    assert!(error.starts_with("no certificate in"), "{error}");
    let error = server_config(&cert, &garbage).unwrap_err().to_string();
    assert!(error.starts_with("cannot read the private key"), "{error}");
    assert!(!error.contains('\n'), "{error}");
    fs::remove_dir_all(&dir).unwrap();
}
