//! The TCP line protocol's rules, once, with no I/O.
//!
//! Both handlers — the blocking one ([`blocking`](super::blocking)) and the
//! evented one ([`evented`](super::evented)) — only move bytes: they hand
//! what they read to a [`LineSession`], send the replies it appends, and do
//! what it answers next ([`Next`]). So every rule lives here:
//! - each complete line is answered at once, in order (the codec);
//! - totals are counted (lines and bytes in, bytes out);
//! - `--idle-timeout` counts time without *progress*: a complete line
//!   received or reply bytes taken by the client (a slow reader draining its
//!   replies is not idle). The progress is also shown to the registry
//!   ([`Liveness`]), which may ask the connection to leave early when the
//!   server is full; it then ends exactly as at its idle timeout;
//! - a line over `--max-line` is answered with the error line, then the
//!   connection closes;
//! - at end of input the unterminated last line is answered as it is,
//!   except at shutdown, when it is dropped (it was not complete, so it is
//!   safe for the client to send again);
//! - how each ending closes: after an error or at shutdown the client may
//!   still be sending, so the connection is drained
//!   ([`drain`](super::drain)), never reset.

use crate::codec::{LineCodec, IDLE_TIMEOUT_REPLY};
use crate::config::ServerConfig;
use crate::registry::{Connection, Liveness};
use crate::stats::Stats;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The client closed its side and every reply was sent.
    ClientClosed,
    /// A line was longer than `--max-line`.
    LineTooLong,
    /// No progress for `--idle-timeout`.
    IdleTimeout,
    /// The server is shutting down.
    ShutDown,
}

impl Ending {
    /// Whether the client may still be sending when the server closes, so
    /// that closing must wait for its end of input (or a grace period)
    /// instead of resetting the connection.
    pub fn must_drain(self) -> bool {
        self != Ending::ClientClosed
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ending::ClientClosed => "the client closed the connection",
            Ending::LineTooLong => "a line exceeded --max-line",
            Ending::IdleTimeout => "idle timeout",
            Ending::ShutDown => "server shutdown",
        })
    }
}

/// What a handler does after feeding the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send the replies, keep reading.
    Continue,
    /// Send the replies, read nothing more, and close for this reason
    /// (draining first if [`Ending::must_drain`]).
    Close(Ending),
}

/// Tracks `--idle-timeout`: the time since the last progress.
///
/// A timeout so long that its deadline is past what the clock can
/// represent (`--idle-timeout 18446744073709551615`) never expires, the
/// same as no timeout: it could not expire in the process's lifetime
/// anyway, and `Instant + Duration` would panic on it.
#[derive(Debug, Clone)]
pub struct IdleClock {
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    /// Where the registry sees this connection's progress, if it does.
    liveness: Option<Arc<Liveness>>,
}

impl IdleClock {
    /// Starts the clock; `None` never expires.
    pub fn start(timeout: Option<Duration>) -> IdleClock {
        let mut clock = IdleClock {
            timeout,
            deadline: None,
            liveness: None,
        };
        clock.reset();
        clock
    }

    /// Progress was made: a full timeout again.
    pub fn reset(&mut self) {
        let now = Instant::now();
        self.deadline = self.timeout.and_then(|t| now.checked_add(t));
        if let Some(liveness) = &self.liveness {
            liveness.progressed(now);
        }
    }

    /// Whether a whole timeout passed without progress, or the registry
    /// asked the connection to leave.
    pub fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline) || self.evicted()
    }

    /// Whether the registry asked the connection to leave.
    fn evicted(&self) -> bool {
        self.liveness.as_ref().is_some_and(|l| l.is_evicted())
    }

    /// Time left before expiry (`None`: never expires).
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        if self.evicted() {
            return Some(Duration::ZERO);
        }
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(now))
    }
}

/// Uppercasing makes a byte sequence at most this many times longer
/// (`ΐ`, two bytes, becomes three two-byte characters).
pub const MAX_GROWTH: usize = 3;

/// One connection's protocol state: the partial line and the idle clock.
#[derive(Debug)]
pub struct LineSession {
    codec: LineCodec,
    idle: IdleClock,
}

impl LineSession {
    /// A session under `config`, not seen by any registry (for tests).
    pub fn new(config: &ServerConfig) -> LineSession {
        LineSession {
            codec: LineCodec::new(config.max_line),
            idle: IdleClock::start(config.idle_timeout),
        }
    }

    /// The session of `connection`: its progress is shown to the registry.
    pub fn for_connection(config: &ServerConfig, connection: &Connection) -> LineSession {
        let mut session = LineSession::new(config);
        session.idle.liveness = Some(Arc::clone(connection.liveness()));
        session
    }

    /// `input` arrived: appends the replies to `out` (and the error line if
    /// a line was too long) and says what to do next.
    pub fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>, stats: &Stats) -> Next {
        let decoded = self.codec.decode(input, out);
        stats.received(input.len(), decoded.lines);
        if decoded.lines > 0 {
            self.idle.reset();
        }
        if let Some(too_long) = decoded.too_long {
            stats.line_too_long();
            out.extend_from_slice(&too_long.reply());
            return Next::Close(Ending::LineTooLong);
        }
        // Bytes keep arriving but never a whole line (a trickle).
        self.on_tick(Instant::now(), out, stats)
    }

    /// The client took `bytes` of replies: counted, and it is progress.
    pub fn on_sent(&mut self, bytes: usize, stats: &Stats) {
        if bytes > 0 {
            stats.sent(bytes);
            self.idle.reset();
        }
    }

    /// The most heap memory this session's replies and partial line can
    /// take once `read` more bytes arrive: every byte held or read may be
    /// answered (grown [`MAX_GROWTH`] times) or kept in a partial line
    /// (whose buffer grows by doubling), plus an error line.
    pub fn held_after(&self, read: usize) -> usize {
        let input = self.codec.partial_len().saturating_add(read);
        input.saturating_mul(MAX_GROWTH + 2).saturating_add(128)
    }

    /// Heap memory the session holds now (its partial line).
    pub fn held_now(&self) -> usize {
        self.codec.held_bytes()
    }

    /// The read side ended. Outside shutdown, the unterminated last line is
    /// answered as it is; at shutdown (the handler stopped reading, the
    /// client may still be sending it) it is dropped.
    pub fn on_end_of_input(&mut self, shutting_down: bool, out: &mut Vec<u8>) -> Next {
        if shutting_down {
            self.codec.discard_partial_line();
            return Next::Close(Ending::ShutDown);
        }
        self.codec.finish(out);
        Next::Close(Ending::ClientClosed)
    }

    /// Time passed: after `--idle-timeout` without progress the connection
    /// gets the idle error line and closes.
    pub fn on_tick(&mut self, now: Instant, out: &mut Vec<u8>, stats: &Stats) -> Next {
        if !self.idle.expired(now) {
            return Next::Continue;
        }
        self.count_idle_close(stats);
        out.extend_from_slice(IDLE_TIMEOUT_REPLY);
        Next::Close(Ending::IdleTimeout)
    }

    /// Counts a close for lack of progress: an idle timeout, or an
    /// eviction by a full server.
    pub fn count_idle_close(&self, stats: &Stats) {
        if self.idle.evicted() {
            stats.idle_eviction();
        } else {
            stats.idle_timeout();
        }
    }

    /// Whether a whole `--idle-timeout` has passed without progress (or
    /// the registry asked the connection to leave).
    pub fn is_idle(&self, now: Instant) -> bool {
        self.idle.expired(now)
    }

    /// How long until the idle timeout (`None`: never).
    pub fn idle_remaining(&self, now: Instant) -> Option<Duration> {
        self.idle.remaining(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(max_line: usize, idle: Option<Duration>) -> LineSession {
        LineSession::new(&ServerConfig {
            max_line,
            idle_timeout: idle,
            ..ServerConfig::default()
        })
    }

    #[test]
    fn complete_lines_are_answered_and_counted() {
        let stats = Stats::default();
        let mut s = session(100, None);
        let mut out = Vec::new();
        assert_eq!(s.on_input(b"ab\ncd", &mut out, &stats), Next::Continue);
        assert_eq!(out, b"AB\n");
        assert_eq!(s.on_input(b"\n", &mut out, &stats), Next::Continue);
        assert_eq!(out, b"AB\nCD\n");
        let summary = stats.summary();
        assert_eq!((summary.lines, summary.bytes_in), (2, 6));
    }

    #[test]
    fn a_too_long_line_closes_after_the_earlier_replies_and_they_count() {
        let stats = Stats::default();
        let mut s = session(4, None);
        let mut out = Vec::new();
        let next = s.on_input(b"one\ntwo\ntoolong\nlost\n", &mut out, &stats);
        assert_eq!(next, Next::Close(Ending::LineTooLong));
        assert_eq!(out, b"ONE\nTWO\nerror: line exceeds 4 bytes\n");
        assert_eq!(stats.summary().lines, 2);
        assert!(Ending::LineTooLong.must_drain());
    }

    #[test]
    fn end_of_input_answers_the_last_line_except_at_shutdown() {
        let stats = Stats::default();
        let mut out = Vec::new();
        let mut s = session(100, None);
        s.on_input(b"x\ntail", &mut out, &stats);
        assert_eq!(
            s.on_end_of_input(false, &mut out),
            Next::Close(Ending::ClientClosed)
        );
        assert_eq!(out, b"X\nTAIL");
        assert!(!Ending::ClientClosed.must_drain());

        let mut out = Vec::new();
        let mut s = session(100, None);
        s.on_input(b"half", &mut out, &stats);
        assert_eq!(
            s.on_end_of_input(true, &mut out),
            Next::Close(Ending::ShutDown)
        );
        assert!(out.is_empty());
        assert!(Ending::ShutDown.must_drain());
    }

    #[test]
    fn idle_time_ends_with_the_error_line_but_progress_resets_it() {
        let stats = Stats::default();
        let mut out = Vec::new();
        let mut s = session(100, Some(Duration::from_secs(10)));
        let later = Instant::now() + Duration::from_secs(11);
        assert_eq!(s.on_tick(Instant::now(), &mut out, &stats), Next::Continue);
        assert!(s.is_idle(later));
        s.on_sent(5, &stats);
        assert!(!s.is_idle(Instant::now() + Duration::from_secs(9)));
        assert_eq!(
            s.on_tick(later + Duration::from_secs(10), &mut out, &stats),
            Next::Close(Ending::IdleTimeout)
        );
        assert_eq!(out, IDLE_TIMEOUT_REPLY);
        assert_eq!(stats.summary().bytes_out, 5);
    }

    #[test]
    fn no_timeout_never_expires() {
        let s = session(100, None);
        assert!(!s.is_idle(Instant::now() + Duration::from_secs(1 << 30)));
        assert_eq!(s.idle_remaining(Instant::now()), None);
    }

    #[test]
    fn held_after_bounds_what_a_read_can_make_the_session_hold() {
        let stats = Stats::default();
        let mut s = session(1 << 20, None);
        let mut out = Vec::new();
        // A partial line, then a read that completes it with the text
        // that grows most.
        let grows = "\u{390}".repeat(1000);
        s.on_input(grows.as_bytes(), &mut out, &stats);
        let bound = s.held_after(grows.len() + 1);
        out.clear();
        let mut rest = grows.clone().into_bytes();
        rest.push(b'\n');
        s.on_input(&rest, &mut out, &stats);
        assert!(out.len() + s.held_now() <= bound, "{} > {bound}", out.len());
        assert_eq!(out.len(), 6 * 2000 + 1);
    }

    #[test]
    fn a_timeout_past_the_clocks_range_never_expires_and_never_panics() {
        let stats = Stats::default();
        for secs in [u64::MAX, i64::MAX as u64] {
            let mut s = session(100, Some(Duration::from_secs(secs)));
            let mut out = Vec::new();
            assert_eq!(s.on_input(b"x\n", &mut out, &stats), Next::Continue);
            s.on_sent(out.len(), &stats);
            assert!(!s.is_idle(Instant::now() + Duration::from_secs(1 << 30)));
            assert_eq!(s.idle_remaining(Instant::now()), None);
        }
    }
}
