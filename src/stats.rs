//! Counters for the one-line summary printed at shutdown.
//!
//! Handlers add to them once per read, not per line, so the counters cost
//! next to nothing on the hot path.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Server-wide totals, shared by every thread.
#[derive(Debug, Default)]
pub struct Stats {
    connections: AtomicU64,
    refused: AtomicU64,
    lines: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    datagrams: AtomicU64,
}

/// A copy of the [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// TCP connections accepted and served.
    pub connections: u64,
    /// TCP connections turned away by `--max-connections`.
    pub refused: u64,
    /// TCP lines answered.
    pub lines: u64,
    /// Bytes received over TCP and UDP.
    pub bytes_in: u64,
    /// Bytes sent over TCP and UDP.
    pub bytes_out: u64,
    /// UDP datagrams answered.
    pub datagrams: u64,
}

impl Stats {
    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Relaxed);
    }

    /// A connection was turned away at the limit.
    pub fn connection_refused(&self) {
        self.refused.fetch_add(1, Relaxed);
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

    /// One UDP datagram was answered.
    pub fn datagram(&self, bytes_in: usize, bytes_out: usize) {
        self.datagrams.fetch_add(1, Relaxed);
        self.bytes_in.fetch_add(bytes_in as u64, Relaxed);
        self.bytes_out.fetch_add(bytes_out as u64, Relaxed);
    }

    /// The totals so far.
    pub fn summary(&self) -> Summary {
        Summary {
            connections: self.connections.load(Relaxed),
            refused: self.refused.load(Relaxed),
            lines: self.lines.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            datagrams: self.datagrams.load(Relaxed),
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
