//! What the server is doing *right now*, for the admin page and metrics:
//! which worker serves which connection, how many connections wait in the
//! queue or sit parked on a poller, how often event loops wake.
//!
//! Each worker writes only its own cache-padded slot (a relaxed store, no
//! contention on the hot path); a scrape reads and sums them.

use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};

/// One worker's slot.
#[derive(Debug, Default)]
struct WorkerSlot {
    /// The id of the connection being served; zero when idle.
    serving: AtomicU64,
    /// `pool`: connections owned by this worker's event loop.
    owned: AtomicU64,
    /// `pool`: poller wake-ups and the readiness events they brought.
    wakeups: AtomicU64,
    events: AtomicU64,
}

/// Live gauges, shared by every thread.
#[derive(Debug)]
pub struct Activity {
    workers: Vec<CachePadded<WorkerSlot>>,
    /// Connections accepted and waiting for a worker (`fixed-pool`).
    queued: CachePadded<AtomicI64>,
    /// Threads serving one connection each (`thread-per-connection`).
    connection_threads: CachePadded<AtomicI64>,
    draining: AtomicBool,
}

/// One worker as the page draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerView {
    /// The connection it is serving, if any.
    pub serving: Option<u64>,
    /// Connections its event loop owns (`pool`).
    pub owned: u64,
}

impl Activity {
    /// Slots for `workers` workers.
    pub fn new(workers: usize) -> Activity {
        Activity {
            workers: (0..workers.max(1))
                .map(|_| CachePadded::default())
                .collect(),
            queued: CachePadded::default(),
            connection_threads: CachePadded::default(),
            draining: AtomicBool::new(false),
        }
    }

    /// Worker `id` starts (`Some`) or stops (`None`) serving a connection.
    pub fn serving(&self, id: usize, connection: Option<u64>) {
        if let Some(slot) = self.workers.get(id) {
            slot.serving.store(connection.unwrap_or(0), Relaxed);
        }
    }

    /// Worker `id`'s event loop owns `connections` now.
    pub fn owned(&self, id: usize, connections: usize) {
        if let Some(slot) = self.workers.get(id) {
            slot.owned.store(connections as u64, Relaxed);
        }
    }

    /// Worker `id`'s poller woke with `events` readiness events.
    pub fn woke(&self, id: usize, events: usize) {
        if let Some(slot) = self.workers.get(id) {
            slot.wakeups.fetch_add(1, Relaxed);
            slot.events.fetch_add(events as u64, Relaxed);
        }
    }

    /// A connection joined (`+1`) or left (`-1`) the queue.
    pub fn queue(&self, change: i64) {
        self.queued.fetch_add(change, Relaxed);
    }

    /// A connection thread started (`+1`) or ended (`-1`).
    pub fn connection_thread(&self, change: i64) {
        self.connection_threads.fetch_add(change, Relaxed);
    }

    /// Shutdown began.
    pub fn start_draining(&self) {
        self.draining.store(true, Relaxed);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Relaxed)
    }

    /// Every worker's state.
    pub fn workers(&self) -> Vec<WorkerView> {
        self.workers
            .iter()
            .map(|slot| WorkerView {
                serving: match slot.serving.load(Relaxed) {
                    0 => None,
                    id => Some(id),
                },
                owned: slot.owned.load(Relaxed),
            })
            .collect()
    }

    /// Connections waiting for a worker.
    pub fn queued(&self) -> u64 {
        self.queued.load(Relaxed).max(0) as u64
    }

    /// Threads serving one connection each.
    pub fn connection_threads(&self) -> u64 {
        self.connection_threads.load(Relaxed).max(0) as u64
    }

    /// Poller wake-ups and events, summed over workers.
    pub fn wakeups_and_events(&self) -> (u64, u64) {
        self.workers.iter().fold((0, 0), |(w, e), slot| {
            (
                w + slot.wakeups.load(Relaxed),
                e + slot.events.load(Relaxed),
            )
        })
    }
}
