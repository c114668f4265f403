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
//! `recvmmsg`/`sendmmsg` answered more datagrams but its bursts of replies
//! overflowed the clients' receive queues (`docs/performance.md`, "UDP").
//!
//! A datagram's source address is only a claim, so a reply can be aimed at
//! whoever the sender names. Four rules keep upcase from being a weapon:
//! replies are rate-limited per source network ([`rate_limit`]), never much
//! larger than their request ([`ReplyBound`]), never sent to a port where
//! a service that answers datagrams listens ([`blocked_port`]), and never
//! sent on and on to a source that sends each reply straight back
//! ([`loop_guard`]): the last two stop two servers answering each other
//! forever.

pub mod loop_guard;
pub mod rate_limit;

use crate::busy_poll::BusyPoll;
use crate::codec::{datagram_reply, max_datagram, DatagramReply, ReplyBound};
use crate::context::Context;
use crate::poller::Poller;
use crate::shutdown::ShutdownSignal;
use crate::stats::DatagramOutcome;
use crate::throttle::LogThrottle;
use loop_guard::LoopGuard;
use mio::{Events, Interest, Token};
use rate_limit::RateLimiter;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

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
    /// The port this service answers on: never a reply's destination.
    port: u16,
}

impl UdpService {
    /// Prepares `socket` for serving; `shutdown` will wake it.
    pub fn new(socket: UdpSocket, shutdown: &ShutdownSignal) -> io::Result<UdpService> {
        socket.set_nonblocking(true)?;
        let poller = Poller::woken_by(shutdown)?;
        poller.watch(socket.as_raw_fd(), SOCKET, Interest::READABLE)?;
        let local = socket.local_addr()?;
        Ok(UdpService {
            socket,
            poller,
            max_reply: max_datagram(local.is_ipv6()),
            port: local.port(),
        })
    }

    /// Answers datagrams until the shutdown trigger is pulled.
    pub fn run(mut self, ctx: &Context) -> io::Result<()> {
        let limit = ctx.config.udp_rate_limit;
        let mut answerer = Answerer {
            // 64 KiB holds the largest datagram IPv4 or IPv6 can deliver here.
            payload: vec![0u8; 64 * 1024],
            reply: Vec::with_capacity(64 * 1024),
            bound: ReplyBound {
                max_bytes: self.max_reply,
                max_amplification: ctx.config.udp_max_amplification,
            },
            port: self.port,
            limiter: (limit.per_second > 0)
                .then(|| RateLimiter::new(limit.per_second, limit.exempt_loopback)),
            loop_guard: LoopGuard::new(),
            too_large_log: LogThrottle::new(Duration::from_secs(1)),
            loop_log: LogThrottle::new(Duration::from_secs(1)),
            rate_limited_log: LogThrottle::new(Duration::from_secs(1)),
            blocked_log: LogThrottle::new(Duration::from_secs(1)),
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

/// The UDP thread's buffers, limits and quiet logs.
struct Answerer {
    payload: Vec<u8>,
    reply: Vec<u8>,
    bound: ReplyBound,
    port: u16,
    limiter: Option<RateLimiter>,
    loop_guard: LoopGuard,
    too_large_log: LogThrottle,
    loop_log: LogThrottle,
    rate_limited_log: LogThrottle,
    blocked_log: LogThrottle,
    failure_log: LogThrottle,
}

/// Whether a reply to source port `port` could start a loop or reflect
/// traffic at a service, upcase on `own_port` included.
///
/// Port 0 is no real sender's. The rest are the services that answer any
/// datagram (the echo/chargen loop of CERT CA-1996-01) or whose replies
/// are larger than the request (the amplification vectors of US-CERT
/// TA14-017A): a datagram "from" one of them is forged, and answering it
/// would hit that service, which may answer back. Clients send from
/// ephemeral ports, far above these.
pub fn blocked_port(port: u16, own_port: u16) -> bool {
    const ANSWERING_SERVICES: [u16; 17] = [
        0,     // no sender's port
        7,     // echo
        13,    // daytime
        17,    // quote of the day
        19,    // chargen
        37,    // time
        53,    // DNS
        111,   // portmapper
        123,   // NTP
        137,   // NetBIOS name service
        161,   // SNMP
        389,   // CLDAP
        520,   // RIP
        1900,  // SSDP
        5353,  // multicast DNS
        7878,  // upcase's default port
        11211, // memcached
    ];
    port == own_port || ANSWERING_SERVICES.contains(&port)
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
            answered = true;
            let (outcome, send) = self.decide(received, client);
            // A full send buffer drops the reply, as UDP may: counted as not sent.
            if send {
                match socket.send_to(&self.reply, client) {
                    Ok(sent) => {
                        self.loop_guard.sent(client, &self.reply, Instant::now());
                        ctx.stats.datagram_sent(sent);
                    }
                    Err(error) => {
                        if self.failure_log.allow().is_some() {
                            log::warn!("udp reply to {client} failed: {error}");
                        }
                    }
                }
            }
            // Counted after the reply went out, so that whoever sees the
            // count also sees any reply the datagram got.
            ctx.stats.datagram_received(received, outcome);
        }
        answered
    }

    /// What becomes of the `received`-byte datagram from `client` in
    /// `self.payload`, and whether `self.reply` now holds a reply to send.
    fn decide(&mut self, received: usize, client: SocketAddr) -> (DatagramOutcome, bool) {
        if blocked_port(client.port(), self.port) {
            if let Some(held_back) = self.blocked_log.allow() {
                log::warn!(
                    "udp datagram from {client} not answered: a reply to that port could \
                     reflect at a service or start a loop{}",
                    LogThrottle::held_back_note(held_back)
                );
            }
            return (DatagramOutcome::BlockedPort, false);
        }
        let request = &self.payload[..received];
        if self.loop_guard.is_loop(client, request, Instant::now()) {
            if let Some(held_back) = self.loop_log.allow() {
                log::warn!(
                    "udp datagram from {client} not answered: it sent back the last {} replies \
                     as they came, as a service that answers datagrams does (a loop){}",
                    loop_guard::MAX_ECHOES,
                    LogThrottle::held_back_note(held_back)
                );
            }
            return (DatagramOutcome::Loop, false);
        }
        // Checked before the reply is built, so a flood costs no uppercasing.
        if let Some(limiter) = &mut self.limiter {
            if !limiter.allow(client.ip(), Instant::now()) {
                if let Some(held_back) = self.rate_limited_log.allow() {
                    log::warn!(
                        "udp replies to {} rate-limited (--udp-rate-limit){}",
                        rate_limit::network(client.ip()),
                        LogThrottle::held_back_note(held_back)
                    );
                }
                return (DatagramOutcome::RateLimited, false);
            }
        }
        let reply = datagram_reply(&self.payload[..received], &mut self.reply, self.bound);
        if reply == DatagramReply::Uppercased {
            return (DatagramOutcome::Answered, true);
        }
        if let Some(held_back) = self.too_large_log.allow() {
            log::warn!(
                "udp reply to {client} would exceed {} bytes or {}x the request's {received}; {}{}",
                self.bound.max_bytes,
                self.bound.max_amplification,
                if reply == DatagramReply::TooLarge {
                    "sent an error instead"
                } else {
                    "not answered (the error would exceed it too)"
                },
                LogThrottle::held_back_note(held_back)
            );
        }
        (
            DatagramOutcome::ReplyTooLarge,
            reply == DatagramReply::TooLarge,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_never_go_to_services_that_answer_or_to_upcase() {
        for port in [0, 7, 13, 19, 53, 123, 161, 1900, 7878, 11211] {
            assert!(blocked_port(port, 40000), "{port}");
        }
        assert!(blocked_port(40000, 40000), "its own port");
        for port in [1024, 8080, 32768, 40001, 60999, 65535] {
            assert!(!blocked_port(port, 40000), "{port}");
        }
    }
}
