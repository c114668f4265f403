//! The UDP service: one datagram in, one uppercased datagram back.
//!
//! UDP has no connections, so there is nothing to pool: one thread
//! receives, uppercases and replies, in every threading model. It blocks in
//! `recv_from` (one system call per datagram) with a short timeout so it
//! notices the shutdown trigger promptly.

use crate::codec::{uppercase_into, MAX_DATAGRAM, REPLY_TOO_LARGE};
use crate::context::Context;
use crate::tcp::is_transient;
use crate::throttle::LogThrottle;
use std::io;
use std::net::UdpSocket;
use std::time::Duration;

/// How often a waiting UDP thread checks for shutdown.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(100);

/// Builds the reply to one datagram into `reply` (cleared first). Returns
/// `false` when the uppercased payload would not fit in one datagram and
/// `reply` holds `error: reply too large` instead.
pub fn datagram_reply(payload: &[u8], reply: &mut Vec<u8>) -> bool {
    reply.clear();
    uppercase_into(payload, reply);
    if reply.len() > MAX_DATAGRAM {
        reply.clear();
        reply.extend_from_slice(REPLY_TOO_LARGE);
        return false;
    }
    true
}

/// Answers datagrams on `socket` until the shutdown trigger is pulled.
pub fn serve(socket: UdpSocket, ctx: &Context) -> io::Result<()> {
    socket.set_read_timeout(Some(SHUTDOWN_CHECK))?;
    // 64 KiB holds the largest datagram IPv4 or IPv6 can deliver here.
    let mut payload = vec![0u8; 64 * 1024];
    let mut reply = Vec::with_capacity(payload.len());
    let mut too_large_log = LogThrottle::new(Duration::from_secs(1));
    let mut failure_log = LogThrottle::new(Duration::from_secs(1));
    while !ctx.shutdown.is_triggered() {
        let (received, client) = match socket.recv_from(&mut payload) {
            Ok(datagram) => datagram,
            Err(error) if is_transient(&error) => continue,
            Err(error) => {
                // E.g. an ICMP error from an earlier reply: not fatal.
                if failure_log.allow().is_some() {
                    log::warn!("udp receive failed: {error}");
                }
                continue;
            }
        };
        if !datagram_reply(&payload[..received], &mut reply) {
            if let Some(held_back) = too_large_log.allow() {
                log::warn!(
                    "udp reply to {client} would exceed {MAX_DATAGRAM} bytes; sent an error \
                     instead ({held_back} more since the last warning)"
                );
            }
        }
        match socket.send_to(&reply, client) {
            Ok(sent) => ctx.stats.datagram(received, sent),
            Err(error) => {
                if failure_log.allow().is_some() {
                    log::warn!("udp reply to {client} failed: {error}");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_that_fits_is_the_uppercased_payload() {
        let mut reply = Vec::new();
        assert!(datagram_reply("straße".as_bytes(), &mut reply));
        assert_eq!(reply, "STRASSE".as_bytes());
        assert!(datagram_reply(b"", &mut reply));
        assert!(reply.is_empty());
    }

    #[test]
    fn a_reply_that_grows_past_one_datagram_becomes_an_error() {
        // 'ß' is 2 bytes and uppercases to 'SS' (2 bytes); 'ŉ' is 2 bytes and
        // uppercases to 3 ('ʼN'): 30,000 of them grow 60,000 bytes to 90,000.
        let payload = "ŉ".repeat(30_000);
        let mut reply = Vec::new();
        assert!(!datagram_reply(payload.as_bytes(), &mut reply));
        assert_eq!(reply, REPLY_TOO_LARGE);
    }
}
