//! Whether a datagram is this server's own reply coming back: the sign that
//! its source answers datagrams too, and that the two are in a loop.
//!
//! Uppercasing an uppercase line gives the same line, so two upcase
//! servers (or upcase and any echo service) that a single forged datagram
//! has pointed at each other answer each other forever. The port rule
//! ([`blocked_port`](super::blocked_port)) stops that on the well-known
//! ports; on any other port the peer looks like a client, and on loopback
//! no rate limit applies. What tells a peer in a loop from a client is
//! what it sends: a client sends its own lines (the flood tags each with a
//! sequence number), a reflector sends back exactly the reply it got, at
//! once. So the server remembers, per source address and port, a hash of
//! the last reply it sent there; a datagram that is that reply again,
//! within a second of it, is an echo, and after [`MAX_ECHOES`] echoes in a
//! row the source is not answered. One datagram unanswered ends the loop:
//! it only ever had one in flight.
//!
//! A client that repeats one uppercase line is answered [`MAX_ECHOES`]
//! times in a row before it is refused once, and any other line, a pause of
//! a second, or a new socket (a new port) starts its count again.
//!
//! The table has a fixed size, one entry per slot, and a source hashes to a
//! slot with a key chosen at random per process: a newcomer takes the slot
//! over. A flood of sources aimed at evicting one loop's entry only resets
//! its count; off loopback the rate limit ([`rate_limit`](super::rate_limit))
//! bounds such a loop as well.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Echoes in a row answered before the next one is not.
pub const MAX_ECHOES: u32 = 8;

/// How soon after a reply its echo must come to count: a loop answers at
/// once, a person or a health check repeating a line does not.
const WINDOW: Duration = Duration::from_secs(1);

/// Slots in the table (a power of two).
const SLOTS: usize = 4096;

/// One source's last reply. `source == 0` is a free slot.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    source: u64,
    reply: u64,
    /// Nanoseconds since the guard started at which the reply went out.
    sent_at: u64,
    echoes: u32,
}

/// The last reply sent to each recent source, and how often it came back.
#[derive(Debug)]
pub struct LoopGuard {
    hasher: RandomState,
    start: Instant,
    entries: Box<[Entry]>,
}

impl Default for LoopGuard {
    fn default() -> Self {
        LoopGuard::new()
    }
}

impl LoopGuard {
    /// An empty guard.
    pub fn new() -> LoopGuard {
        LoopGuard {
            hasher: RandomState::new(),
            start: Instant::now(),
            entries: vec![Entry::default(); SLOTS].into_boxed_slice(),
        }
    }

    /// Whether `request` from `source` at `now` is the reply last sent
    /// there, coming back more than [`MAX_ECHOES`] times in a row: a loop,
    /// not to be answered.
    pub fn is_loop(&mut self, source: SocketAddr, request: &[u8], now: Instant) -> bool {
        let key = self.source_key(source);
        let request = self.hasher.hash_one(request);
        let now = self.nanos(now);
        let entry = &mut self.entries[key as usize % SLOTS];
        if entry.source != key {
            return false;
        }
        let echo =
            entry.reply == request && now.saturating_sub(entry.sent_at) <= WINDOW.as_nanos() as u64;
        if !echo {
            entry.echoes = 0;
            return false;
        }
        entry.echoes += 1;
        if entry.echoes > MAX_ECHOES {
            // Refused once; the loop is over, and the source starts afresh.
            *entry = Entry::default();
            return true;
        }
        false
    }

    /// Remembers that `reply` went to `source` at `now`.
    pub fn sent(&mut self, source: SocketAddr, reply: &[u8], now: Instant) {
        let key = self.source_key(source);
        let reply = self.hasher.hash_one(reply);
        let sent_at = self.nanos(now);
        let entry = &mut self.entries[key as usize % SLOTS];
        let echoes = if entry.source == key { entry.echoes } else { 0 };
        *entry = Entry {
            source: key,
            reply,
            sent_at,
            echoes,
        };
    }

    /// The source's key, never 0 (a free slot).
    fn source_key(&self, source: SocketAddr) -> u64 {
        let canonical = SocketAddr::new(source.ip().to_canonical(), source.port());
        self.hasher.hash_one(canonical).max(1)
    }

    fn nanos(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_nanos() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Plays a peer that sends back every reply: how many are answered.
    fn answered_in_a_loop(guard: &mut LoopGuard, peer: SocketAddr, now: Instant) -> u32 {
        let line = b"PING-PONG";
        let mut answered = 0;
        for _ in 0..100 {
            if guard.is_loop(peer, line, now) {
                return answered;
            }
            guard.sent(peer, line, now);
            answered += 1;
        }
        answered
    }

    #[test]
    fn a_peer_that_sends_every_reply_back_is_refused_after_the_allowed_echoes() {
        let mut guard = LoopGuard::new();
        let now = Instant::now();
        // The first datagram is not an echo; then MAX_ECHOES are answered.
        assert_eq!(
            answered_in_a_loop(&mut guard, addr("127.0.0.1:40000"), now),
            MAX_ECHOES + 1
        );
        // Refused once, it starts afresh (the loop had ended).
        assert!(!guard.is_loop(addr("127.0.0.1:40000"), b"PING-PONG", now));
    }

    #[test]
    fn a_client_sending_its_own_lines_is_never_refused() {
        let mut guard = LoopGuard::new();
        let (client, now) = (addr("[::1]:50000"), Instant::now());
        for i in 0..10_000 {
            let line = format!("c0 s{i} hello");
            assert!(!guard.is_loop(client, line.as_bytes(), now), "{i}");
            guard.sent(client, line.to_uppercase().as_bytes(), now);
        }
    }

    #[test]
    fn a_repeated_line_is_refused_only_when_it_comes_back_at_once() {
        let mut guard = LoopGuard::new();
        let (client, start) = (addr("10.0.0.1:40000"), Instant::now());
        // A health check sending "PING" every two seconds: never an echo.
        for i in 0..100u64 {
            let now = start + Duration::from_secs(2 * i);
            assert!(!guard.is_loop(client, b"PING", now), "{i}");
            guard.sent(client, b"PING", now);
        }
    }

    #[test]
    fn another_line_or_another_port_starts_the_count_again() {
        let mut guard = LoopGuard::new();
        let now = Instant::now();
        let peer = addr("127.0.0.1:40000");
        for _ in 0..MAX_ECHOES {
            assert!(!guard.is_loop(peer, b"X", now));
            guard.sent(peer, b"X", now);
        }
        assert!(!guard.is_loop(peer, b"something else", now));
        guard.sent(peer, b"SOMETHING ELSE", now);
        assert!(!guard.is_loop(addr("127.0.0.1:40001"), b"SOMETHING ELSE", now));
        assert_eq!(answered_in_a_loop(&mut guard, peer, now), MAX_ECHOES + 1);
    }
}
