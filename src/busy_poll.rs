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
//! loaded server never spins.
//!
//! Looking pays only while this CPU would otherwise go idle. When another
//! thread wants it (a client on the same core, another worker, someone
//! else's build), sleeping is cheap, since the CPU stays busy, and looking
//! takes time from the thread that wants it (with `--busy-poll 0`, `pool`
//! was fairer to its clients: `docs/performance.md`, "Fairness").
//! The signal is the kernel's own count of the times this thread lost its
//! CPU without blocking (preempted, or a yield that ran another thread:
//! `getrusage(RUSAGE_THREAD)`'s `ru_nivcsw`). A thread preempted since it
//! last woke does not look at all; one that looks yields between looks and
//! stops at the first yield that ran someone else.
//! `upcase-server --busy-poll 0` turns it off, to see the difference.

use std::thread;
use std::time::{Duration, Instant};

/// The longest a thread keeps looking before it sleeps, unless configured:
/// about two cross-CPU wake-ups (`docs/performance.md`).
pub const DEFAULT_MAX_WINDOW: Duration = Duration::from_micros(50);

/// The window a first short wait opens; it doubles from there.
const FIRST_WINDOW: Duration = Duration::from_micros(10);

/// One thread's current looking window.
#[derive(Debug)]
pub struct BusyPoll {
    window: Duration,
    max: Duration,
    /// [`involuntary_switches`] when the thread last woke (from a sleep or
    /// a look that found work).
    switches_at_wake: Option<libc::c_long>,
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
            switches_at_wake: None,
        }
    }

    /// Calls `look`, yielding the CPU between calls, until `look` finds
    /// work (returns `true`) or the window has passed. Returns whether work
    /// was found; `false` means: sleep now, then report how long with
    /// [`slept`](BusyPoll::slept).
    ///
    /// Yielding matters when the peer shares this CPU: it is the peer,
    /// given the CPU, that produces the work the next look finds. Once it
    /// has (the yield ran another thread), or if another thread took the
    /// CPU since this one last woke, this CPU is wanted: stop looking.
    pub fn look(&mut self, mut look: impl FnMut() -> bool) -> bool {
        if self.window.is_zero() {
            return false;
        }
        let mut switches = involuntary_switches();
        if others_ran(self.switches_at_wake, switches) {
            return false;
        }
        let deadline = Instant::now() + self.window;
        loop {
            if look() {
                self.switches_at_wake = switches;
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::yield_now();
            let before = switches;
            switches = involuntary_switches();
            if others_ran(before, switches) {
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
        self.switches_at_wake = involuntary_switches();
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

/// How many times the calling thread has lost its CPU without blocking:
/// preempted, or a `sched_yield` that ran another thread. `None` if the
/// kernel does not say.
fn involuntary_switches() -> Option<libc::c_long> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer on success,
    // and the result is read only then.
    let done = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    // SAFETY: checked that getrusage succeeded (and it was zeroed anyway).
    (done == 0).then(|| unsafe { usage.assume_init() }.ru_nivcsw)
}

/// Whether another thread took this one's CPU between the two counts.
fn others_ran(before: Option<libc::c_long>, after: Option<libc::c_long>) -> bool {
    matches!((before, after), (Some(before), Some(after)) if after > before)
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

    /// Pins the calling thread to `cpu`.
    fn pin_to(cpu: usize) {
        // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays in it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            let size = std::mem::size_of::<libc::cpu_set_t>();
            assert_eq!(libc::sched_setaffinity(0, size, &set), 0);
        }
    }

    #[test]
    fn a_yield_that_runs_another_thread_is_counted() {
        // SAFETY: sched_getcpu has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        assert!(cpu >= 0);
        let cpu = cpu as usize;
        pin_to(cpu);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let rival = {
            let stop = std::sync::Arc::clone(&stop);
            thread::spawn(move || {
                pin_to(cpu);
                let until = Instant::now() + Duration::from_secs(10);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until {
                    std::hint::spin_loop();
                }
            })
        };
        let before = involuntary_switches();
        assert!(before.is_some(), "the kernel counts switches");
        let mut yields = 0;
        while !others_ran(before, involuntary_switches()) && yields < 100_000 {
            thread::yield_now();
            yields += 1;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        rival.join().unwrap();
        assert!(
            others_ran(before, involuntary_switches()),
            "{yields} yields to a runnable thread on the same CPU never ran it"
        );
    }

    #[test]
    fn a_thread_that_lost_its_cpu_since_it_woke_does_not_look() {
        let mut busy = BusyPoll::default();
        busy.slept(Duration::ZERO);
        busy.switches_at_wake = involuntary_switches().map(|now| now - 1);
        let mut looks = 0;
        assert!(!busy.look(|| {
            looks += 1;
            true
        }));
        assert_eq!(looks, 0, "another thread wants this CPU: sleep instead");
        assert_eq!(busy.window(), FIRST_WINDOW, "the window itself stays open");
    }

    #[test]
    fn counts_that_did_not_grow_say_nobody_else_ran() {
        assert!(others_ran(Some(3), Some(4)));
        assert!(!others_ran(Some(4), Some(4)));
        assert!(!others_ran(None, Some(4)));
        assert!(!others_ran(Some(4), None));
    }
}
