//! What one client saw, counted: lines sent, good and wrong replies,
//! lost lines, latency. Per-client tallies merge into the run's report.

use hdrhistogram::Histogram;

/// Error messages kept per run (the count of all of them is kept too).
pub const ERRORS_KEPT: usize = 5;

/// What one client thread saw.
pub struct Tally {
    /// Lines (or datagrams) sent.
    pub sent: u64,
    /// Replies that arrived and matched byte for byte.
    pub ok: u64,
    /// Replies that arrived but were wrong.
    pub mismatches: u64,
    /// Lines that never got a reply (set once, when the client ends:
    /// [`RunState::finish`](crate::run::RunState::finish)).
    pub lost: u64,
    /// UDP replies that arrived after a later one.
    pub reordered: u64,
    /// Lines sent again on a new connection after the old one ended
    /// without answering them (`--reconnect`).
    pub resent: u64,
    /// TCP connections that ended (reset or closed) with a line
    /// unanswered: each outage the clients met, counted.
    pub connections_cut: u64,
    /// Good replies received while the timed window (`--duration`) was
    /// open: a client starved by the model answered only afterwards.
    pub in_window: u64,
    /// Payload bytes sent.
    pub bytes: u64,
    /// Failures (connect, reset, timeout...), as messages.
    pub errors: Vec<String>,
    /// How many failures there were in all.
    pub error_count: u64,
    /// Round-trip times in microseconds.
    pub latency: Histogram<u64>,
}

impl Tally {
    /// An empty tally.
    pub fn new() -> Tally {
        Tally {
            sent: 0,
            ok: 0,
            mismatches: 0,
            lost: 0,
            reordered: 0,
            resent: 0,
            connections_cut: 0,
            in_window: 0,
            bytes: 0,
            errors: Vec::new(),
            error_count: 0,
            // 1 µs to 1 hour at 3 significant digits: bounds are fixed, so
            // this cannot fail.
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        }
    }

    /// Records a failure.
    pub fn error(&mut self, message: String) {
        self.error_count += 1;
        if self.errors.len() < ERRORS_KEPT {
            self.errors.push(message);
        }
    }

    /// Compares a reply with the expected one and records the outcome;
    /// returns whether it was right. Clients call
    /// [`RunState::record`](crate::run::RunState::record), which also
    /// decides what counts as answered.
    pub(crate) fn check(&mut self, reply: &[u8], expected: &[u8], micros: u64) -> bool {
        if reply == expected {
            self.ok += 1;
            self.latency.saturating_record(micros.max(1));
            true
        } else {
            self.mismatches += 1;
            if self.mismatches == 1 {
                self.error(format!(
                    "mismatch: expected {}, got {}",
                    excerpt(expected),
                    excerpt(reply)
                ));
                self.error_count -= 1; // a mismatch is counted as such, not as an error
            }
            false
        }
    }

    /// Records `lines` replies that were all right and waited `micros`
    /// (a pipelined batch checked at once).
    pub(crate) fn ok_many(&mut self, lines: u64, micros: u64) {
        self.ok += lines;
        self.latency.saturating_record_n(micros.max(1), lines);
    }

    /// Adds another client's tally to this one.
    pub fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.mismatches += other.mismatches;
        self.lost += other.lost;
        self.reordered += other.reordered;
        self.resent += other.resent;
        self.connections_cut += other.connections_cut;
        self.in_window += other.in_window;
        self.bytes += other.bytes;
        self.error_count += other.error_count;
        for message in other.errors {
            if self.errors.len() < ERRORS_KEPT {
                self.errors.push(message);
            }
        }
        let _ = self.latency.add(&other.latency);
    }
}

impl Default for Tally {
    fn default() -> Self {
        Tally::new()
    }
}

/// At most 60 bytes of `bytes`, quoted, with the full length when cut.
pub fn excerpt(bytes: &[u8]) -> String {
    const SHOWN: usize = 60;
    if bytes.len() <= SHOWN {
        format!("{:?}", String::from_utf8_lossy(bytes))
    } else {
        format!(
            "{:?}… ({} bytes)",
            String::from_utf8_lossy(&bytes[..SHOWN]),
            bytes.len()
        )
    }
}
