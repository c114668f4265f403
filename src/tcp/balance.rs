//! How many connections each thread of an evented model holds, so that a
//! new connection goes to the least busy thread.
//!
//! Why this exists: whoever looks first for a new connection (a busy
//! thread, whose turns are short, or the first thread the kernel wakes)
//! would otherwise take a whole burst of them, and one thread would serve
//! most clients while the others idle. Both evented models share it: a
//! `pool` worker takes a queued job only while it may, and an
//! `event-loops` loop watches the listener only while it may.

use crossbeam_utils::CachePadded;
use mio::Waker;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// How many connections each thread of a model holds, so that new ones go
/// to the least busy: whoever looks first for a new connection (a busy
/// thread, whose turns are short, or the first thread the kernel wakes)
/// would otherwise take a whole burst of them. It also holds each
/// thread's waker, to wake the thread that should take the next one.
pub struct Balance {
    held: Vec<CachePadded<AtomicUsize>>,
    wakers: Vec<OnceLock<Arc<Waker>>>,
}

impl Balance {
    /// Counts for `threads` threads, all holding none.
    pub fn new(threads: usize) -> Balance {
        Balance {
            held: (0..threads).map(|_| CachePadded::default()).collect(),
            wakers: (0..threads).map(|_| OnceLock::new()).collect(),
        }
    }

    /// How many connections thread `id` holds.
    pub fn held(&self, id: usize) -> usize {
        self.held.get(id).map_or(0, |held| held.load(Relaxed))
    }

    /// Whether thread `id` may take a new connection now: while it holds
    /// at most an eighth (and one) more than the least busy thread. The
    /// least busy thread always may.
    pub fn may_take(&self, id: usize) -> bool {
        let least = self.held.iter().map(|held| held.load(Relaxed)).min();
        let least = least.unwrap_or(0);
        self.held(id) <= least + 1 + least / 8
    }

    /// The thread holding the fewest connections among those `among` picks.
    pub fn least_busy(&self, among: impl Fn(usize) -> bool) -> Option<usize> {
        (0..self.held.len())
            .filter(|&id| among(id))
            .min_by_key(|&id| self.held(id))
    }

    /// Wakes thread `id` from its poller.
    pub fn wake(&self, id: usize) {
        if let Some(waker) = self.wakers.get(id).and_then(OnceLock::get) {
            if let Err(error) = waker.wake() {
                log::warn!("cannot wake thread {id}: {error}");
            }
        }
    }

    /// Records the waker of thread `id`'s poller (once).
    pub(super) fn set_waker(&self, id: usize, waker: Arc<Waker>) {
        if let Some(slot) = self.wakers.get(id) {
            let _ = slot.set(waker);
        }
    }

    /// Publishes that thread `id` holds `connections`.
    pub(super) fn set(&self, id: usize, connections: usize) {
        if let Some(held) = self.held.get(id) {
            held.store(connections, Relaxed);
        }
    }
}
