//! How long to wait between reconnection attempts during one outage, and
//! when to give up: one rule for `upcase-client --reconnect` and
//! `upcase-flood --reconnect`, so that both come back as soon as a restarted
//! server is back, never hammer one that is down, and wait a bounded time.
//!
//! The wait starts short (a restart under socket activation is back at
//! once), doubles up to [`BACKOFF_CAP`] (a server that takes a while is
//! found within a second of its return), and the whole outage may last
//! [`OUTAGE_LIMIT`]. Progress (a reply) ends the outage: the next one gets
//! the whole budget again, so a long pipe survives any number of restarts.

use std::time::{Duration, Instant};

/// The first wait after a connection is lost.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(50);

/// The longest wait between two attempts.
pub const BACKOFF_CAP: Duration = Duration::from_secs(1);

/// How long one outage may last before the client gives up.
pub const OUTAGE_LIMIT: Duration = Duration::from_secs(30);

/// The reconnection schedule of one client: call [`Backoff::next_delay`]
/// before each attempt and [`Backoff::reset`] on progress.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    limit: Duration,
    next: Duration,
    outage_began: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(BACKOFF_FIRST, BACKOFF_CAP, OUTAGE_LIMIT)
    }
}

impl Backoff {
    /// Waits from `first` doubling to `cap`, for at most `limit` per outage.
    pub fn new(first: Duration, cap: Duration, limit: Duration) -> Backoff {
        Backoff {
            first,
            cap,
            limit,
            next: first,
            outage_began: None,
        }
    }

    /// How long to wait before the next attempt, or `None` when this
    /// outage has lasted its limit. The first call begins an outage.
    pub fn next_delay(&mut self) -> Option<Duration> {
        self.next_delay_at(Instant::now())
    }

    fn next_delay_at(&mut self, now: Instant) -> Option<Duration> {
        let began = *self.outage_began.get_or_insert(now);
        let left = self
            .limit
            .checked_sub(now.saturating_duration_since(began))?;
        if left.is_zero() {
            return None;
        }
        let delay = self.next.min(left);
        self.next = self.next.saturating_mul(2).min(self.cap);
        Some(delay)
    }

    /// Whether an outage is under way (a delay was asked for since the
    /// last [`Backoff::reset`]).
    pub fn in_outage(&self) -> bool {
        self.outage_began.is_some()
    }

    /// The connection made progress: the outage, if any, is over.
    pub fn reset(&mut self) {
        self.next = self.first;
        self.outage_began = None;
    }

    /// The most one outage may last.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn waits_double_up_to_the_cap() {
        let mut backoff = Backoff::default();
        let now = Instant::now();
        let waits: Vec<_> = (0..8)
            .map(|_| backoff.next_delay_at(now).unwrap())
            .collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000, 1000].map(ms));
    }

    #[test]
    fn an_outage_ends_at_its_limit_and_the_last_wait_reaches_it_exactly() {
        let mut backoff = Backoff::new(ms(50), ms(1000), ms(3000));
        let began = Instant::now();
        assert_eq!(backoff.next_delay_at(began), Some(ms(50)));
        assert_eq!(backoff.next_delay_at(began + ms(2900)), Some(ms(100)));
        assert_eq!(backoff.next_delay_at(began + ms(2950)), Some(ms(50)));
        assert_eq!(backoff.next_delay_at(began + ms(3000)), None);
        assert_eq!(backoff.next_delay_at(began + ms(9000)), None);
    }

    #[test]
    fn progress_gives_the_next_outage_the_whole_budget_again() {
        let mut backoff = Backoff::new(ms(50), ms(1000), ms(3000));
        let began = Instant::now();
        for _ in 0..5 {
            backoff.next_delay_at(began);
        }
        assert!(backoff.in_outage());
        backoff.reset();
        assert!(!backoff.in_outage());
        // Far past the first outage's end: a new outage, a short wait.
        assert_eq!(backoff.next_delay_at(began + ms(60_000)), Some(ms(50)));
        assert_eq!(backoff.next_delay_at(began + ms(62_000)), Some(ms(100)));
    }
}
