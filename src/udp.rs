//! The UDP service: one datagram in, one uppercased datagram back.
//!
//! UDP has no connections, so there is nothing to pool: one thread
//! receives, uppercases and replies, in every threading model. The socket
//! is non-blocking: the thread answers every datagram already queued,
//! looks again for a few microseconds while that pays
//! ([`busy_poll`](crate::busy_poll)), then waits on a poller, which the
//! shutdown trigger wakes at once.
//!
//! One `recvfrom` and one `sendto` per datagram, on purpose: batching with
//! `recvmmsg`/`sendmmsg` was measured (README, Performance) and, under a
//! flood, its bursts of replies overflowed the clients' receive queues.

use crate::busy_poll::BusyPoll;
use crate::codec::{uppercase_into, MAX_DATAGRAM, REPLY_TOO_LARGE};
use crate::context::Context;
use crate::shutdown::Shutdown;
use crate::tcp::is_transient;
use crate::throttle::LogThrottle;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

const SOCKET: Token = Token(0);
const WAKE: Token = Token(1);

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

/// The UDP socket with its poller, ready to serve.
///
/// Built before any thread starts serving, so that a server that is short
/// of file descriptors fails at start-up, not when TCP clients have taken
/// the last ones.
pub struct UdpService {
    socket: UdpSocket,
    poll: Poll,
}

impl UdpService {
    /// Prepares `socket` for serving; `shutdown` will wake it.
    pub fn new(socket: UdpSocket, shutdown: &Shutdown) -> io::Result<UdpService> {
        socket.set_nonblocking(true)?;
        let poll = Poll::new()?;
        let fd = socket.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), SOCKET, Interest::READABLE)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        shutdown.on_trigger(move || {
            let _ = waker.wake();
        });
        Ok(UdpService { socket, poll })
    }

    /// Answers datagrams until the shutdown trigger is pulled.
    pub fn run(mut self, ctx: &Context) -> io::Result<()> {
        let mut answerer = Answerer {
            // 64 KiB holds the largest datagram IPv4 or IPv6 can deliver here.
            payload: vec![0u8; 64 * 1024],
            reply: Vec::with_capacity(64 * 1024),
            too_large_log: LogThrottle::new(Duration::from_secs(1)),
            failure_log: LogThrottle::new(Duration::from_secs(1)),
        };
        let mut events = Events::with_capacity(4);
        let mut busy = BusyPoll::new(ctx.config.busy_poll);
        while !ctx.shutdown.is_triggered() {
            answerer.answer_queued(&self.socket, ctx);
            // More is often microseconds away: look again before sleeping.
            while busy
                .look(|| ctx.shutdown.is_triggered() || answerer.answer_queued(&self.socket, ctx))
            {
            }
            let poll = &mut self.poll;
            if let Err(error) = busy.sleep(|| poll.poll(&mut events, None)) {
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
        Ok(())
    }
}

/// The UDP thread's buffers and quiet logs.
struct Answerer {
    payload: Vec<u8>,
    reply: Vec<u8>,
    too_large_log: LogThrottle,
    failure_log: LogThrottle,
}

impl Answerer {
    /// Answers every datagram queued on the (edge-triggered) socket.
    /// Returns whether there was any.
    fn answer_queued(&mut self, socket: &UdpSocket, ctx: &Context) -> bool {
        let mut answered = false;
        while !ctx.shutdown.is_triggered() {
            let (received, client) = match socket.recv_from(&mut self.payload) {
                Ok(datagram) => datagram,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if is_transient(&error) => continue,
                Err(error) => {
                    // E.g. an ICMP error from an earlier reply: not fatal.
                    if self.failure_log.allow().is_some() {
                        log::warn!("udp receive failed: {error}");
                    }
                    continue;
                }
            };
            if !datagram_reply(&self.payload[..received], &mut self.reply) {
                if let Some(held_back) = self.too_large_log.allow() {
                    log::warn!(
                        "udp reply to {client} would exceed {MAX_DATAGRAM} bytes; sent an error \
                         instead ({held_back} more since the last warning)"
                    );
                }
            }
            answered = true;
            // A full send buffer drops the reply, as UDP may: counted as not sent.
            match socket.send_to(&self.reply, client) {
                Ok(sent) => ctx.stats.datagram(received, sent),
                Err(error) => {
                    if self.failure_log.allow().is_some() {
                        log::warn!("udp reply to {client} failed: {error}");
                    }
                }
            }
        }
        answered
    }
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
