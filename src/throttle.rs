//! Rate-limited warnings: a flood of bad traffic must not become a flood of
//! log lines (which would cost more than the traffic itself).

use std::time::{Duration, Instant};

/// Lets one warning through per interval and counts the ones held back.
#[derive(Debug)]
pub struct LogThrottle {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogThrottle {
    /// A throttle that lets one warning through per `interval`.
    pub fn new(interval: Duration) -> LogThrottle {
        LogThrottle {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Returns `Some(n)` when a warning may be logged now, `n` being how
    /// many were held back since the last one; `None` to stay quiet.
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < self.interval) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }

    /// Like [`allow`](Self::allow), for a throttle shared by threads: a
    /// poisoned lock (a thread panicked while holding it) still throttles.
    pub fn allow_shared(shared: &std::sync::Mutex<LogThrottle>) -> Option<u64> {
        crate::recover::lock(shared).allow()
    }

    /// The end of a warning that says how many were held back: nothing
    /// when none were, else ` (N more since the last warning)`.
    pub fn held_back_note(held_back: u64) -> String {
        match held_back {
            0 => String::new(),
            n => format!(" ({n} more since the last warning)"),
        }
    }
}

impl Default for LogThrottle {
    /// One line a second.
    fn default() -> Self {
        LogThrottle::new(Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lets_one_through_then_counts_the_rest() {
        let mut throttle = LogThrottle::new(Duration::from_secs(3600));
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!(throttle.allow(), None);
        assert_eq!(throttle.allow(), None);
        throttle.last = Some(Instant::now() - Duration::from_secs(7200));
        assert_eq!(throttle.allow(), Some(2));
        assert_eq!(LogThrottle::held_back_note(0), "");
        assert_eq!(
            LogThrottle::held_back_note(2),
            " (2 more since the last warning)"
        );
    }
}
