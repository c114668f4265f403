//! The shutdown trigger, passed *into* the server instead of read from a
//! global signal handler.
//!
//! `upcase-server` pulls the trigger from its Ctrl-C / SIGTERM handler; tests
//! pull it directly, so they can stop a server without sending signals.
//! Threads learn about it three ways, whichever suits how they block:
//! - polling [`ShutdownSignal::is_triggered`] between units of work;
//! - sleeping with [`ShutdownSignal::sleep`], which wakes early when triggered;
//! - registering a wake-up with [`ShutdownSignal::on_trigger`] (a poller's
//!   `notify`), for threads parked in a readiness poller;
//! - selecting on [`ShutdownSignal::channel`] beside a channel operation.

use crate::recover::lock;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Wake = Box<dyn Fn() + Send + Sync>;

/// A cloneable, one-way switch: once triggered it stays triggered.
#[derive(Clone)]
pub struct ShutdownSignal {
    inner: Arc<Inner>,
}

struct Inner {
    triggered: AtomicBool,
    /// Dropped on trigger, which disconnects `signal` and so wakes every
    /// thread sleeping in [`ShutdownSignal::sleep`].
    keep_open: Mutex<Option<Sender<()>>>,
    signal: Receiver<()>,
    wakers: Mutex<Vec<Wake>>,
}

impl ShutdownSignal {
    /// A trigger that has not been pulled.
    pub fn new() -> ShutdownSignal {
        let (keep_open, signal) = crossbeam_channel::bounded(0);
        ShutdownSignal {
            inner: Arc::new(Inner {
                triggered: AtomicBool::new(false),
                keep_open: Mutex::new(Some(keep_open)),
                signal,
                wakers: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Pulls the trigger: every sleeper and registered wake-up is woken.
    /// Pulling it again does nothing.
    pub fn trigger(&self) {
        if self.inner.triggered.swap(true, Ordering::SeqCst) {
            return;
        }
        drop(lock(&self.inner.keep_open).take());
        for wake in lock(&self.inner.wakers).iter() {
            wake();
        }
    }

    /// Whether the trigger has been pulled.
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::SeqCst)
    }

    /// Sleeps for `duration` or until the trigger is pulled, whichever
    /// comes first. Returns whether the trigger has been pulled.
    pub fn sleep(&self, duration: Duration) -> bool {
        match self.inner.signal.recv_timeout(duration) {
            Err(RecvTimeoutError::Timeout) => self.is_triggered(),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        }
    }

    /// Blocks until the trigger is pulled.
    pub fn wait(&self) {
        while !self.sleep(Duration::from_secs(3600)) {}
    }

    /// A channel that disconnects when the trigger is pulled (it never
    /// carries a message): `recv` on it in a [`crossbeam_channel::select!`]
    /// beside another operation to give that up at shutdown.
    pub fn channel(&self) -> &Receiver<()> {
        &self.inner.signal
    }

    /// Runs `wake` when the trigger is pulled (at once if it already was).
    pub fn on_trigger(&self, wake: impl Fn() + Send + Sync + 'static) {
        let mut wakers = lock(&self.inner.wakers);
        if self.is_triggered() {
            wake();
        } else {
            wakers.push(Box::new(wake));
        }
    }
}

impl Default for ShutdownSignal {
    fn default() -> Self {
        ShutdownSignal::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    #[test]
    fn sleep_times_out_while_not_triggered() {
        let shutdown = ShutdownSignal::new();
        assert!(!shutdown.sleep(Duration::from_millis(10)));
        assert!(!shutdown.is_triggered());
    }

    #[test]
    fn trigger_wakes_a_sleeper_early() {
        let shutdown = ShutdownSignal::new();
        let sleeper = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || {
                let start = Instant::now();
                (shutdown.sleep(Duration::from_secs(60)), start.elapsed())
            })
        };
        shutdown.trigger();
        let (woken, slept) = sleeper.join().unwrap();
        assert!(woken);
        assert!(slept < Duration::from_secs(60));
    }

    #[test]
    fn wakers_run_once_even_if_registered_late() {
        let shutdown = ShutdownSignal::new();
        let count = Arc::new(AtomicUsize::new(0));
        let early = Arc::clone(&count);
        shutdown.on_trigger(move || {
            early.fetch_add(1, Ordering::SeqCst);
        });
        shutdown.trigger();
        shutdown.trigger();
        let late = Arc::clone(&count);
        shutdown.on_trigger(move || {
            late.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }
}
