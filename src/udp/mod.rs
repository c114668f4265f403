//! The UDP service: one datagram in, one uppercased datagram back.
//!
//! UDP has no connections, so there is nothing to pool: one thread
//! receives, uppercases and replies, in every threading model. The socket
//! is non-blocking: the thread answers every datagram already queued, a
//! batch per system call each way ([`batch`]), then waits on a poller,
//! which the shutdown trigger wakes at once.

pub mod batch;

use self::batch::{Inbox, Outbox, BATCH};
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
use std::time::{Duration, Instant};

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
            inbox: Inbox::default(),
            outbox: Outbox::default(),
            reply: Vec::with_capacity(MAX_DATAGRAM),
            too_large_log: LogThrottle::new(Duration::from_secs(1)),
            failure_log: LogThrottle::new(Duration::from_secs(1)),
        };
        let mut events = Events::with_capacity(4);
        let mut busy = BusyPoll::default();
        while !ctx.shutdown.is_triggered() {
            answerer.answer_queued(&self.socket, ctx);
            // More is often microseconds away: look again before sleeping.
            while busy
                .look(|| ctx.shutdown.is_triggered() || answerer.answer_queued(&self.socket, ctx))
            {
            }
            let asleep = Instant::now();
            if let Err(error) = self.poll.poll(&mut events, None) {
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            busy.slept(asleep.elapsed());
        }
        Ok(())
    }
}

/// The UDP thread's buffers and quiet logs.
struct Answerer {
    inbox: Inbox,
    outbox: Outbox,
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
            match self.inbox.receive(socket) {
                Ok(_) => {
                    self.answer_inbox(socket, ctx);
                    answered = true;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if is_transient(&error) => continue,
                Err(error) => {
                    if self.failure_log.allow().is_some() {
                        log::warn!("udp receive failed: {error}");
                    }
                    continue;
                }
            };
            // A short batch means the queue ran dry; the next datagram
            // raises a new edge, so there is no need to ask again now.
            if self.inbox.len() < BATCH {
                break;
            }
        }
        answered
    }

    /// Replies to every datagram in the inbox with one send.
    fn answer_inbox(&mut self, socket: &UdpSocket, ctx: &Context) {
        for index in 0..self.inbox.len() {
            let payload = self.inbox.payload(index);
            let sender = self.inbox.sender(index);
            if !datagram_reply(payload, &mut self.reply) {
                if let Some(held_back) = self.too_large_log.allow() {
                    log::warn!(
                        "udp reply to {} would exceed {MAX_DATAGRAM} bytes; sent an error \
                         instead ({held_back} more since the last warning)",
                        display(sender.socket_addr())
                    );
                }
            }
            self.outbox.push(sender, &self.reply);
        }
        let (inbox, failure_log) = (&self.inbox, &mut self.failure_log);
        self.outbox
            .send(socket, |index, peer, result| match result {
                Ok(sent) => ctx.stats.datagram(inbox.payload(index).len(), sent),
                Err(error) => {
                    if failure_log.allow().is_some() {
                        log::warn!(
                            "udp reply to {} failed: {error}",
                            display(peer.socket_addr())
                        );
                    }
                }
            });
    }
}

/// A peer's address for a log line.
fn display(address: Option<std::net::SocketAddr>) -> String {
    address.map_or_else(
        || "an unknown peer".to_string(),
        |address| address.to_string(),
    )
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
