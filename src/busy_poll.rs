//! Adaptive busy-polling: look again for a few microseconds before sleeping.
//!
//! Why this exists: a thread that sleeps lets its CPU go idle, and waking
//! an idle CPU (on a virtual machine, the hypervisor reschedules the
//! virtual CPU) is the slowest thing a ping-pong round trip does, slower
//! than answering the line (numbers: `docs/performance.md`, "Waking up is
//! the expensive part"). When the next request is only microseconds away,
//! it is cheaper to keep looking for it than to sleep.
//!
//! Looking costs CPU, so the window adapts the way Linux KVM's halt-polling
//! does: it grows while waits are short enough for a look to have caught
//! them, and collapses to nothing when waits are long, so an idle or lightly
//! loaded server never spins. Between looks the thread yields, and if the
//! yield handed the CPU to another thread (a client on the same core, say),
//! it stops looking: that CPU is not about to go idle, so sleeping is cheap,
//! and looking would only take time from the thread that wants it.
//! `upcase-server --busy-poll 0` turns it off, to see the difference.

use std::thread;
use std::time::{Duration, Instant};

/// The longest a thread keeps looking before it sleeps, unless configured:
/// about two cross-CPU wake-ups (`docs/performance.md`).
pub const DEFAULT_MAX_WINDOW: Duration = Duration::from_micros(50);

/// A yield that took longer than this gave the CPU to another thread (an
/// uncontended `sched_yield` returns in well under a microsecond).
const OTHERS_RAN: Duration = Duration::from_micros(5);

/// The window a first short wait opens; it doubles from there.
const FIRST_WINDOW: Duration = Duration::from_micros(10);

/// One thread's current looking window.
#[derive(Debug)]
pub struct BusyPoll {
    window: Duration,
    max: Duration,
}

impl Default for BusyPoll {
    fn default() -> Self {
        BusyPoll::new(DEFAULT_MAX_WINDOW)
    }
}

impl BusyPoll {
    /// A thread that looks for at most `max` before sleeping; zero never looks.
    pub fn new(max: Duration) -> BusyPoll {
        BusyPoll {
            window: Duration::ZERO,
            max,
        }
    }

    /// Calls `look`, yielding the CPU between calls, until `look` finds
    /// work (returns `true`) or the window has passed. Returns whether work
    /// was found; `false` means: sleep now, then report how long with
    /// [`slept`](BusyPoll::slept).
    ///
    /// Yielding matters when the peer shares this CPU: it is the peer,
    /// given the CPU, that produces the work the next look finds.
    pub fn look(&mut self, mut look: impl FnMut() -> bool) -> bool {
        if self.window.is_zero() {
            return false;
        }
        let deadline = Instant::now() + self.window;
        loop {
            if look() {
                return true;
            }
            let yielded = Instant::now();
            if yielded >= deadline {
                return false;
            }
            thread::yield_now();
            if yielded.elapsed() > OTHERS_RAN {
                // Another thread had the CPU: it is not going idle, so a
                // sleep is cheap, and looking only takes time from others.
                return false;
            }
        }
    }

    /// Runs `sleep` (a blocking wait), and adapts the window to how long
    /// it took. Returns what `sleep` returned.
    pub fn sleep<T>(&mut self, sleep: impl FnOnce() -> T) -> T {
        let asleep = Instant::now();
        let result = sleep();
        self.slept(asleep.elapsed());
        result
    }

    /// Adapts the window to a sleep that just ended after `how_long`.
    /// A sleep a full window would have covered means looking pays: the
    /// window grows. A longer one means it did not: the window shrinks.
    pub fn slept(&mut self, how_long: Duration) {
        let first = FIRST_WINDOW.min(self.max);
        self.window = if how_long <= self.max && !self.max.is_zero() {
            (self.window * 2).clamp(first, self.max)
        } else if self.window / 2 < first {
            Duration::ZERO
        } else {
            self.window / 2
        };
    }

    /// The current window, for tests and diagnostics.
    pub fn window(&self) -> Duration {
        self.window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_poller_does_not_look_at_all() {
        let mut busy = BusyPoll::default();
        let mut looks = 0;
        assert!(!busy.look(|| {
            looks += 1;
            true
        }));
        assert_eq!(looks, 0);
    }

    #[test]
    fn short_sleeps_open_the_window_up_to_the_maximum() {
        let mut busy = BusyPoll::default();
        busy.slept(Duration::from_micros(5));
        assert_eq!(busy.window(), FIRST_WINDOW);
        for _ in 0..10 {
            busy.slept(Duration::from_micros(5));
        }
        assert_eq!(busy.window(), DEFAULT_MAX_WINDOW);
    }

    #[test]
    fn a_zero_maximum_never_looks() {
        let mut busy = BusyPoll::new(Duration::ZERO);
        for _ in 0..10 {
            busy.slept(Duration::ZERO);
        }
        assert_eq!(busy.window(), Duration::ZERO);
        assert!(!busy.look(|| true));
    }

    #[test]
    fn a_small_maximum_caps_the_first_window_too() {
        let max = Duration::from_micros(3);
        let mut busy = BusyPoll::new(max);
        busy.slept(Duration::from_micros(1));
        assert_eq!(busy.window(), max);
        busy.slept(Duration::from_micros(4));
        assert_eq!(busy.window(), Duration::ZERO);
    }

    #[test]
    fn a_timed_sleep_returns_its_result_and_adapts_the_window() {
        let mut busy = BusyPoll::default();
        busy.slept(Duration::ZERO);
        assert_eq!(busy.window(), FIRST_WINDOW);
        let slept = busy.sleep(|| {
            thread::sleep(Duration::from_millis(1));
            7
        });
        assert_eq!(slept, 7);
        assert_eq!(
            busy.window(),
            Duration::ZERO,
            "a long sleep closes the window"
        );
    }

    #[test]
    fn long_sleeps_close_the_window() {
        let mut busy = BusyPoll::default();
        for _ in 0..10 {
            busy.slept(Duration::from_micros(1));
        }
        let mut closes = 0;
        while !busy.window().is_zero() {
            busy.slept(Duration::from_millis(5));
            closes += 1;
            assert!(closes < 10, "the window never closed");
        }
        assert!(!busy.look(|| true), "a closed window looks no more");
    }

    #[test]
    fn looking_stops_at_the_first_find_or_when_the_window_ends() {
        let mut busy = BusyPoll::default();
        busy.slept(Duration::ZERO);
        let mut looks = 0;
        assert!(busy.look(|| {
            looks += 1;
            true
        }));
        assert_eq!(looks, 1, "a find ends the looking");
        // It gives up at the window's end, or sooner if another thread
        // took the CPU while it yielded: either way, after looking.
        let mut looks = 0;
        assert!(!busy.look(|| {
            looks += 1;
            false
        }));
        assert!(looks >= 1);
    }
}
