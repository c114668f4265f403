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
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certificates>, String> {
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
    pub fn reload(&self) -> Result<i64, String> {
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

fn load_pair(cert: &Path, key: &Path) -> Result<Loaded, String> {
    let chain = read_chain(cert)?;
    let not_after = not_after(&chain[0]).ok_or_else(|| {
        format!(
            "cannot read the expiry date of the certificate {}",
            cert.display()
        )
    })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if not_after <= now {
        return Err(format!(
            "the certificate {} expired on {}",
            cert.display(),
            utc_date(not_after)
        ));
    }
    let config = config_for(chain, cert, key)?;
    Ok(Loaded { config, not_after })
}

/// The rustls server settings for the certificate chain in `cert` and the
/// private key in `key` (PEM; the chain's first certificate is the
/// server's own). Fails with one line naming the file and the cause: a
/// file that cannot be read, holds no certificate or key, or a key that
/// does not belong to the certificate.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    config_for(read_chain(cert)?, cert, key)
}

fn read_chain(cert: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("no certificate in {}", cert.display()));
    }
    Ok(chain)
}

fn config_for(
    chain: Vec<CertificateDer<'static>>,
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, String> {
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

/// A certificate's notAfter as unix time, read from its DER.
///
/// rustls checks no expiry of the server's own certificate, and the only
/// crate here that reads X.509 fields (x509-parser, behind rcgen's
/// optional feature) would bring nom, asn1-rs, der-parser and an OID
/// registry into the server for one date. The walk needs five fields of
/// RFC 5280's fixed order: Certificate { tbsCertificate { `[0]` version,
/// serialNumber, signature, issuer, validity { notBefore, notAfter } } }.
pub fn not_after(certificate: &[u8]) -> Option<i64> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = der(certificate)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der(certificate)? else {
        return None;
    };
    let (mut tag, _, mut rest) = der(tbs)?;
    if tag == 0xa0 {
        // The explicit version; the serial number follows.
        (tag, _, rest) = der(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    let (SEQUENCE, _, rest) = der(rest)? else {
        return None; // signature algorithm
    };
    let (SEQUENCE, _, rest) = der(rest)? else {
        return None; // issuer
    };
    let (SEQUENCE, validity, _) = der(rest)? else {
        return None;
    };
    let (_, _, after) = der(validity)?;
    let (tag, time, _) = der(after)?;
    parse_time(tag, time)
}

/// One DER element: its tag, its contents and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |len, &byte| (len << 8) | usize::from(byte))
    };
    (rest.len() >= len).then(|| {
        let (contents, after) = rest.split_at(len);
        (tag, contents, after)
    })
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime
/// (`YYYYMMDDHHMMSSZ`, tag 0x18) as unix time.
fn parse_time(tag: u8, time: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(time).ok()?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = text.get(..2)?.parse().ok()?;
            // RFC 5280 4.1.2.5.1: 50-99 are 19xx, 00-49 are 20xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    if rest.len() != 11 || !rest.ends_with('Z') {
        return None;
    }
    let field = |at: usize| rest.get(at..at + 2)?.parse::<i64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `YYYY-MM-DD HH:MM:SS UTC` of a unix time (Hinnant's `civil_from_days`).
pub fn utc_date(unix: i64) -> String {
    let (days, seconds) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
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
        assert_eq!(
            error,
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
        assert!(certificates.reload().unwrap_err().contains("expired"));
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
