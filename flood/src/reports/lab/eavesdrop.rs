//! The eavesdropper: what anyone on the path between client and server
//! reads of a connection.
//!
//! `tcpdump` (the tool an administrator, or an intruder, would use) listens
//! on the server's end of the client's link while one client sends a line
//! and reads its reply; the lab then looks for the line's bytes in what was
//! captured. In plain TCP they are there, as sent; over TLS they must not
//! be. The captures are kept beside the report (`lab-*.pcap`, for
//! Wireshark or `tcpdump -r`).
//!
//! The TLS certificate is made at run time by `openssl req` (the lab already
//! runs the operator's tools; a crate would add nothing), and the TLS client
//! is `upcase-client --tls`, which must trust it (`--ca`) and find the name
//! it carries: a connection an eavesdropper can neither read nor pose as
//! the server to.

use super::hosts::{in_namespace, Namespaces, SERVER_ADDR};
use crate::error::ReportError;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the client sends: something nobody else should read.
pub(super) const SECRET: &str = "my password is hunter2";

/// The server's plain and TLS ports.
const PLAIN_PORT: u16 = 7878;
const TLS_PORT: u16 = 7879;
/// The name the lab's certificate carries.
const SERVER_NAME: &str = "upcase-lab";

/// The server's TLS flags, with a certificate and key made in `out` for
/// this run; `Err` says why there is none.
pub(super) fn tls_flags(out: &Path) -> Result<Vec<String>, ReportError> {
    let (cert, key) = (out.join("lab-cert.pem"), out.join("lab-key.pem"));
    let output = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={SERVER_NAME}")])
        .args(["-addext", &format!("subjectAltName=DNS:{SERVER_NAME}")])
        // The server's own certificate, not a CA's (rustls refuses a CA
        // certificate presented as the server's).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .map_err(|e| ReportError::Command {
            command: "cannot run `openssl req` (openssl) to make a certificate".into(),
            detail: e.to_string(),
        })?;
    if !output.status.success() {
        return Err(ReportError::Command {
            command: "`openssl req` made no certificate".into(),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(vec![
        "--tls".into(),
        format!("{SERVER_ADDR}:{TLS_PORT}"),
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ])
}

/// One connection's capture.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Capture {
    /// How the connection was made (`plain TCP`, `TLS`).
    pub(super) transport: &'static str,
    /// The capture file, beside the report.
    pub(super) file: PathBuf,
    /// Packets and bytes tcpdump wrote.
    pub(super) bytes: usize,
    /// Where the line's bytes were found in the capture, if they were.
    pub(super) found_at: Option<usize>,
    /// A hex and ASCII dump of the capture around the line (or of the
    /// first payload bytes when it was not found).
    pub(super) excerpt: String,
}

/// What the eavesdropper saw of a plain connection, and of a TLS one (or
/// why that one could not be made).
pub(super) struct Eavesdropping {
    pub(super) plain: Capture,
    pub(super) tls: Result<Capture, ReportError>,
}

/// Captures a plain connection and, unless `tls` says why not (the
/// server's TLS flags could not be made), a TLS one made by `client`
/// (`upcase-client`).
pub(super) fn capture(
    names: &Namespaces,
    out: &Path,
    tls: Result<(), ReportError>,
    client: &Path,
) -> Result<Eavesdropping, ReportError> {
    let plain = capture_one(
        names,
        "plain TCP",
        PLAIN_PORT,
        &out.join("lab-plain.pcap"),
        plain_round_trip,
    )?;
    let tls = tls.and_then(|()| {
        let (client, ca) = (client.to_path_buf(), out.join("lab-cert.pem"));
        capture_one(
            names,
            "TLS",
            TLS_PORT,
            &out.join("lab-tls.pcap"),
            move || tls_round_trip(&client, &ca),
        )
    });
    Ok(Eavesdropping { plain, tls })
}

/// One line over TLS from the client's host (a child inherits the
/// thread's namespace), by `upcase-client --tls` trusting only the lab's
/// certificate.
fn tls_round_trip(client: &Path, ca: &Path) -> Result<(), ReportError> {
    let mut child = Command::new(client)
        .arg("--tls")
        .arg("--ca")
        .arg(ca)
        .args(["--server-name", SERVER_NAME])
        .arg(format!("{SERVER_ADDR}:{TLS_PORT}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ReportError::io(format!(
            "cannot start {}",
            client.display()
        )))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{SECRET}\n").as_bytes())
            .map_err(ReportError::io("cannot send the line to upcase-client"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(ReportError::io("upcase-client"))?;
    let reply = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || reply.trim_end() != SECRET.to_uppercase() {
        return Err(ReportError::Command {
            command: format!("upcase-client --tls got {reply:?}"),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// One line over plain TCP from the client's host; the reply read whole.
fn plain_round_trip() -> Result<(), ReportError> {
    let address = format!("{SERVER_ADDR}:{PLAIN_PORT}");
    let mut stream = TcpStream::connect(&address)
        .map_err(ReportError::io(format!("cannot connect to {address}")))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(ReportError::io("SO_RCVTIMEO"))?;
    stream
        .write_all(format!("{SECRET}\n").as_bytes())
        .map_err(ReportError::io("cannot send the line"))?;
    let mut reply = String::new();
    BufReader::new(&stream)
        .read_line(&mut reply)
        .map_err(ReportError::io("no reply"))?;
    if reply.trim_end() != SECRET.to_uppercase() {
        return Err(ReportError::Check(format!("a wrong reply: {reply:?}")));
    }
    // Closed both ways, so the capture ends with both FINs.
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = (&stream).read_to_end(&mut Vec::new());
    Ok(())
}

/// Runs `round_trip` on the client's host while tcpdump captures on the
/// server's link into `file`.
fn capture_one(
    names: &Namespaces,
    transport: &'static str,
    port: u16,
    file: &Path,
    round_trip: impl FnOnce() -> Result<(), ReportError> + Send + 'static,
) -> Result<Capture, ReportError> {
    let link = Namespaces::server_link();
    let mut tcpdump = Command::new("ip")
        .args(["netns", "exec", &names.server, "tcpdump"])
        // Each packet handed over and written as it comes (--immediate-mode,
        // -U), and a line for it on stdout (--print -l), so that the lab
        // knows when the connection's last packets are in the file; -Z root:
        // keep writing where root may (tcpdump would drop to its own user).
        .args(["-i", &link, "-n", "--immediate-mode", "-U", "--print", "-l"])
        .args(["-Z", "root", "-w"])
        .arg(file)
        .args(["tcp", "port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ReportError::io("cannot start tcpdump"))?;
    let no_pipe = |which: &str| ReportError::Check(format!("no {which} from tcpdump"));
    let stdout = tcpdump.stdout.take().ok_or_else(|| no_pipe("stdout"))?;
    let (packets, packet_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if packets.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = tcpdump.stderr.take().ok_or_else(|| no_pipe("stderr"))?;
    let mut lines = BufReader::new(stderr).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|line| line.contains("listening on"));
    let result = if listening {
        in_namespace(&names.client, round_trip)
            .join()
            .map_err(|_| ReportError::Panicked("client's"))
            .and_then(|r| r)
    } else {
        Err(ReportError::Check("tcpdump did not start listening".into()))
    };
    if result.is_ok() {
        // Until tcpdump has printed both FINs (the data came before them).
        let (mut from_client, mut from_server) = (false, false);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !(from_client && from_server) {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = packet_lines.recv_timeout(left) else {
                break;
            };
            if line.contains("Flags [F") {
                if line.contains(&format!("{SERVER_ADDR}.{port} >")) {
                    from_server = true;
                } else {
                    from_client = true;
                }
            }
        }
    }
    // SAFETY: kill(2) on the tcpdump this function started (`ip netns
    // exec` runs it in its own process); SIGINT makes it flush and exit.
    unsafe { libc::kill(tcpdump.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while tcpdump.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if tcpdump.try_wait().ok().flatten().is_none() {
        let _ = tcpdump.kill();
        let _ = tcpdump.wait();
    }
    result?;
    let mut captured = Vec::new();
    std::fs::File::open(file)
        .and_then(|mut f| f.read_to_end(&mut captured))
        .map_err(ReportError::file("read", file))?;
    Ok(look_for_the_line(transport, file, &captured))
}

/// Looks for [`SECRET`] in `captured` (a pcap file: headers, then each
/// packet as it crossed the link).
fn look_for_the_line(transport: &'static str, file: &Path, captured: &[u8]) -> Capture {
    let found_at = memchr::memmem::find(captured, SECRET.as_bytes());
    // When absent, show what was there instead: the first TLS record of
    // application data (type 23, version 3.3), or else the bytes past
    // pcap's own header (24), the record header (16) and Ethernet, IP and
    // TCP (~66).
    let start = found_at
        .or_else(|| memchr::memmem::find(captured, &[0x17, 0x03, 0x03]))
        .unwrap_or(24 + 16 + 66)
        .min(captured.len());
    let end = (start + 32).min(captured.len());
    Capture {
        transport,
        file: file.to_path_buf(),
        bytes: captured.len(),
        found_at,
        excerpt: hex_dump(&captured[start..end]),
    }
}

/// `xx xx …  |ascii|` in rows of 16, as `tcpdump -X` prints them.
pub(super) fn hex_dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|row| {
            let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = row
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!("{:<47}  |{ascii}|", hex.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `lab.md`'s section on what the eavesdropper read.
pub(super) fn render(seen: &Eavesdropping) -> String {
    use std::fmt::Write as _;
    let mut md = String::from("## What an eavesdropper on the path reads\n\n");
    let _ = writeln!(
        md,
        "`tcpdump` on the server's end of the link, while one client sends `{SECRET}` and \
         reads the reply (the captures are beside this report).\n"
    );
    for (capture, error) in [
        (Some(&seen.plain), None),
        (seen.tls.as_ref().ok(), seen.tls.as_ref().err()),
    ] {
        if let Some(error) = error {
            let error = crate::error::one_line(error);
            let _ = writeln!(md, "- **TLS**: not captured: {error}.\n");
            continue;
        }
        let Some(c) = capture else { continue };
        let name = c
            .file
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        match c.found_at {
            Some(at) => {
                let _ = writeln!(
                    md,
                    "- **{}**: the line is in the capture (`{name}`, {} bytes), in clear, at \
                     byte {at}: anyone on the path reads it, and could change it.\n\n```\n{}\n```\n",
                    c.transport, c.bytes, c.excerpt
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "- **{}**: the line's bytes are nowhere in the capture (`{name}`, {} bytes); \
                     what crossed the link instead:\n\n```\n{}\n```\n",
                    c.transport, c.bytes, c.excerpt
                );
            }
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_is_found_where_it_is_and_shown_in_clear() {
        let mut captured = vec![0u8; 120];
        captured.extend_from_slice(SECRET.as_bytes());
        captured.extend_from_slice(b"\n");
        let capture = look_for_the_line("plain TCP", Path::new("x.pcap"), &captured);
        assert_eq!(capture.found_at, Some(120));
        assert!(
            capture.excerpt.contains("|my password is h|"),
            "{}",
            capture.excerpt
        );
        assert!(
            capture.excerpt.starts_with("6d 79 20 70"),
            "{}",
            capture.excerpt
        );
    }

    #[test]
    fn the_section_says_found_in_clear_and_why_tls_is_missing() {
        let mut captured = vec![0u8; 120];
        captured.extend_from_slice(SECRET.as_bytes());
        let seen = Eavesdropping {
            plain: look_for_the_line("plain TCP", Path::new("out/lab-plain.pcap"), &captured),
            tls: Err(ReportError::Check("needs `--tls`".into())),
        };
        let md = render(&seen);
        assert!(md.contains("- **plain TCP**: the line is in the capture (`lab-plain.pcap`, 142 bytes), in clear, at byte 120"), "{md}");
        assert!(
            md.contains("- **TLS**: not captured: needs `--tls`."),
            "{md}"
        );
    }

    #[test]
    fn ciphertext_does_not_contain_the_line() {
        let captured: Vec<u8> = (0..400u32).map(|i| (i * 7919 % 251) as u8).collect();
        let capture = look_for_the_line("TLS", Path::new("x.pcap"), &captured);
        assert_eq!(capture.found_at, None);
        assert_eq!(capture.excerpt.lines().count(), 2);
    }
}
