//! Counters: the one-line summary printed at shutdown, and the totals the
//! admin endpoint exports.
//!
//! Handlers add to them once per read, not per line, so the counters cost
//! next to nothing on the hot path.

use crate::throttle::LogThrottle;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Server-wide totals, shared by every thread.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU64,
    refused: AtomicU64,
    refused_per_ip: AtomicU64,
    refused_memory: AtomicU64,
    lines: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    datagrams: AtomicU64,
    datagram_outcomes: [AtomicU64; DatagramOutcome::ALL.len()],
    lines_too_long: AtomicU64,
    idle_timeouts: AtomicU64,
    idle_evictions: AtomicU64,
    failed: AtomicU64,
    client_resets: AtomicU64,
    health_checks: AtomicU64,
    event_loop_restarts: AtomicU64,
    tls_handshakes: [AtomicU64; Handshake::ALL.len()],
    // Closes a client causes are logged, but at most once a second each:
    // a flood of them must not become a flood of log lines.
    too_long_log: Mutex<LogThrottle>,
    idle_log: Mutex<LogThrottle>,
}

/// A copy of the [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// TCP connections accepted and served.
    pub connections: u64,
    /// TCP connections turned away by a connection limit.
    pub refused: u64,
    /// Of those, turned away by `--max-connections-per-ip`.
    pub refused_per_ip: u64,
    /// Of those, turned away because the memory budget was used up.
    pub refused_memory: u64,
    /// TCP lines answered.
    pub lines: u64,
    /// Bytes received over TCP and UDP.
    pub bytes_in: u64,
    /// Bytes sent over TCP and UDP.
    pub bytes_out: u64,
    /// UDP replies sent.
    pub datagrams: u64,
    /// UDP datagrams received, by what became of them (indexed by
    /// [`DatagramOutcome`] as `usize`).
    pub datagram_outcomes: [u64; DatagramOutcome::ALL.len()],
    /// TCP connections closed for a line over `--max-line`.
    pub lines_too_long: u64,
    /// TLS handshakes, by how they ended (indexed by [`Handshake`] as
    /// `usize`).
    pub tls_handshakes: [u64; Handshake::ALL.len()],
    /// TCP connections closed by `--idle-timeout`.
    pub idle_timeouts: u64,
    /// TCP connections closed early, with the idle-timeout line, because
    /// the server was full and they had made no progress for longest.
    pub idle_evictions: u64,
    /// TCP connections that ended with an I/O error (reset and the like).
    pub failed: u64,
    /// TCP connections the client reset or abandoned after sending data.
    pub client_resets: u64,
    /// TCP connections that closed (or reset) without sending a byte: a
    /// balancer's health check, a port scan.
    pub health_checks: u64,
    /// `pool` event loops restarted after a panic.
    pub event_loop_restarts: u64,
}

/// What became of one UDP datagram received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramOutcome {
    /// Its payload, uppercased, was the reply.
    Answered,
    /// Its reply was over the size or amplification bound: answered with
    /// `error: reply too large`, or not at all when even that was over.
    ReplyTooLarge,
    /// Not answered: its source network had used up its replies for now.
    RateLimited,
    /// Not answered: its source port is 0 or a port where a service that
    /// answers datagrams listens (a reflection or a loop in the making).
    BlockedPort,
    /// Not answered: its source had sent back each of its last replies at
    /// once, as a service that answers datagrams does (two in a loop).
    Loop,
}

impl DatagramOutcome {
    /// Every outcome, in the order the metrics list them.
    pub const ALL: [DatagramOutcome; 5] = [
        DatagramOutcome::Answered,
        DatagramOutcome::ReplyTooLarge,
        DatagramOutcome::RateLimited,
        DatagramOutcome::BlockedPort,
        DatagramOutcome::Loop,
    ];

    /// The `result` label of `upcase_udp_datagrams_total`.
    pub fn label(self) -> &'static str {
        match self {
            DatagramOutcome::Answered => "answered",
            DatagramOutcome::ReplyTooLarge => "reply_too_large",
            DatagramOutcome::RateLimited => "rate_limited",
            DatagramOutcome::BlockedPort => "blocked_port",
            DatagramOutcome::Loop => "loop",
        }
    }
}

/// How a TLS handshake ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// Done: the connection speaks lines.
    Ok,
    /// The client sent an alert (it did not trust the certificate, say).
    Alert,
    /// The client's bytes were not TLS, or not valid TLS (a plain client
    /// on the TLS port).
    BadMessage,
    /// No protocol version or cipher suite both sides support.
    Incompatible,
    /// The client closed or reset the connection before finishing.
    Closed,
    /// No handshake finished within the idle timeout, or the connection
    /// was closed to make room (a quiet one at capacity, shutdown).
    Timeout,
    /// Any other failure.
    Other,
}

impl Handshake {
    /// Every outcome, in the order the metrics list them.
    pub const ALL: [Handshake; 7] = [
        Handshake::Ok,
        Handshake::Alert,
        Handshake::BadMessage,
        Handshake::Incompatible,
        Handshake::Closed,
        Handshake::Timeout,
        Handshake::Other,
    ];

    /// The `reason` label of a failed handshake (`None` for [`Handshake::Ok`]).
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Handshake::Ok => None,
            Handshake::Alert => Some("alert"),
            Handshake::BadMessage => Some("bad_message"),
            Handshake::Incompatible => Some("incompatible"),
            Handshake::Closed => Some("closed"),
            Handshake::Timeout => Some("timeout"),
            Handshake::Other => Some("other"),
        }
    }
}

impl Summary {
    /// How many TLS handshakes ended as `outcome`.
    pub fn handshakes(&self, outcome: Handshake) -> u64 {
        self.tls_handshakes[outcome as usize]
    }

    /// How many UDP datagrams had `outcome`.
    pub fn datagrams_with(&self, outcome: DatagramOutcome) -> u64 {
        self.datagram_outcomes[outcome as usize]
    }
}

impl Stats {
    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    /// A connection was turned away at a limit (`per_ip`: the per-address one).
    pub fn connection_refused(&self, per_ip: bool) {
        self.refused.fetch_add(1, Relaxed);
        if per_ip {
            self.refused_per_ip.fetch_add(1, Relaxed);
        }
    }

    /// The refused connection was turned away by the memory budget.
    pub fn refused_for_memory(&self) {
        self.refused_memory.fetch_add(1, Relaxed);
    }

    /// A connection ended with an I/O error.
    pub fn connection_failed(&self) {
        self.failed.fetch_add(1, Relaxed);
    }

    /// The client reset or abandoned a connection it had sent data on.
    pub fn client_reset(&self) {
        self.client_resets.fetch_add(1, Relaxed);
    }

    /// A connection ended without the client sending a byte.
    pub fn health_check(&self) {
        self.health_checks.fetch_add(1, Relaxed);
    }

    /// `bytes` arrived and `lines` of them were answered.
    pub fn received(&self, bytes: usize, lines: usize) {
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
        if lines > 0 {
            self.lines.fetch_add(lines as u64, Relaxed);
        }
    }

    /// `bytes` were sent.
    pub fn sent(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Relaxed);
    }

    /// A connection sent a line over `--max-line`.
    pub fn line_too_long(&self) {
        let total = self.lines_too_long.fetch_add(1, Relaxed) + 1;
        if let Some(held_back) = LogThrottle::allow_shared(&self.too_long_log) {
            log::info!(
                "closed a connection for a line over --max-line ({total} so far){}",
                LogThrottle::held_back_note(held_back)
            );
        }
    }

    /// A connection reached `--idle-timeout`.
    pub fn idle_timeout(&self) {
        let total = self.idle_timeouts.fetch_add(1, Relaxed) + 1;
        if let Some(held_back) = LogThrottle::allow_shared(&self.idle_log) {
            log::info!(
                "closed a connection at --idle-timeout ({total} so far){}",
                LogThrottle::held_back_note(held_back)
            );
        }
    }

    /// A full server closed the connection that had been quiet longest.
    pub fn idle_eviction(&self) {
        self.idle_evictions.fetch_add(1, Relaxed);
    }

    /// A `bytes`-byte UDP datagram arrived and had `outcome`.
    pub fn datagram_received(&self, bytes: usize, outcome: DatagramOutcome) {
        self.bytes_in.fetch_add(bytes as u64, Relaxed);
        self.datagram_outcomes[outcome as usize].fetch_add(1, Relaxed);
    }

    /// A `bytes`-byte UDP reply was sent.
    pub fn datagram_sent(&self, bytes: usize) {
        self.datagrams.fetch_add(1, Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Relaxed);
    }

    /// A TLS handshake ended as `outcome`.
    pub fn handshake(&self, outcome: Handshake) {
        self.tls_handshakes[outcome as usize].fetch_add(1, Relaxed);
    }

    /// An event loop was restarted after a panic.
    pub fn event_loop_restarted(&self) {
        self.event_loop_restarts.fetch_add(1, Relaxed);
    }

    /// The totals so far.
    pub fn summary(&self) -> Summary {
        Summary {
            connections: self.connections.load(Relaxed),
            refused: self.refused.load(Relaxed),
            refused_per_ip: self.refused_per_ip.load(Relaxed),
            refused_memory: self.refused_memory.load(Relaxed),
            lines: self.lines.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            datagrams: self.datagrams.load(Relaxed),
            datagram_outcomes: std::array::from_fn(|i| self.datagram_outcomes[i].load(Relaxed)),
            lines_too_long: self.lines_too_long.load(Relaxed),
            tls_handshakes: std::array::from_fn(|i| self.tls_handshakes[i].load(Relaxed)),
            idle_timeouts: self.idle_timeouts.load(Relaxed),
            idle_evictions: self.idle_evictions.load(Relaxed),
            failed: self.failed.load(Relaxed),
            client_resets: self.client_resets.load(Relaxed),
            health_checks: self.health_checks.load(Relaxed),
            event_loop_restarts: self.event_loop_restarts.load(Relaxed),
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connections ({} refused), {} lines, {} udp datagrams, {} bytes in, {} bytes out",
            self.connections,
            self.refused,
            self.lines,
            self.datagrams,
            self.bytes_in,
            self.bytes_out
        )
    }
}
