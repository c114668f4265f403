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
use crate::codec::{datagram_reply, max_datagram};
use crate::context::Context;
use crate::poller::Poller;
use crate::shutdown::ShutdownSignal;
use crate::throttle::LogThrottle;
use mio::{Events, Interest, Token};
use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::Duration;

const SOCKET: Token = Token(0);

/// The UDP socket with its poller, ready to serve.
///
/// Built before any thread starts serving, so that a server that is short
/// of file descriptors fails at start-up, not when TCP clients have taken
/// the last ones.
pub struct UdpService {
    socket: UdpSocket,
    poller: Poller,
    /// The largest reply one datagram carries on this socket's family.
    max_reply: usize,
}

impl UdpService {
    /// Prepares `socket` for serving; `shutdown` will wake it.
    pub fn new(socket: UdpSocket, shutdown: &ShutdownSignal) -> io::Result<UdpService> {
        socket.set_nonblocking(true)?;
        let poller = Poller::woken_by(shutdown)?;
        poller.watch(socket.as_raw_fd(), SOCKET, Interest::READABLE)?;
        let max_reply = max_datagram(socket.local_addr()?.is_ipv6());
        Ok(UdpService {
            socket,
            poller,
            max_reply,
        })
    }

    /// Answers datagrams until the shutdown trigger is pulled.
    pub fn run(mut self, ctx: &Context) -> io::Result<()> {
        let mut answerer = Answerer {
            // 64 KiB holds the largest datagram IPv4 or IPv6 can deliver here.
            payload: vec![0u8; 64 * 1024],
            reply: Vec::with_capacity(64 * 1024),
            max_reply: self.max_reply,
            too_large_log: LogThrottle::new(Duration::from_secs(1)),
            failure_log: LogThrottle::new(Duration::from_secs(1)),
        };
        let mut events = Events::with_capacity(4);
        let mut busy = BusyPoll::new(ctx.config.busy_poll);
        while !ctx.shutdown.is_triggered() {
            answerer.answer_queued(&self.socket, ctx);
            // More is often microseconds away: look again before sleeping.
            // Shutdown ends the looking (the closure returns true) and the
            // loop (its own condition), so a trigger never reads as more work.
            while !ctx.shutdown.is_triggered()
                && busy.look(|| {
                    ctx.shutdown.is_triggered() || answerer.answer_queued(&self.socket, ctx)
                })
            {}
            if ctx.shutdown.is_triggered() {
                break;
            }
            let poller = &mut self.poller;
            if let Err(error) = busy.sleep(|| poller.poll(&mut events, None)) {
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
    max_reply: usize,
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
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    // E.g. an ICMP error from an earlier reply: not fatal.
                    if self.failure_log.allow().is_some() {
                        log::warn!("udp receive failed: {error}");
                    }
                    continue;
                }
            };
            if !datagram_reply(&self.payload[..received], &mut self.reply, self.max_reply) {
                ctx.stats.datagram_too_large();
                if let Some(held_back) = self.too_large_log.allow() {
                    log::warn!(
                        "udp reply to {client} would exceed {} bytes; sent an error instead{}",
                        self.max_reply,
                        LogThrottle::held_back_note(held_back)
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
