//! `pool` (the default): the Rust Book's shape with its flaw fixed. The
//! same acceptor, crossbeam channel and [`ThreadPool`] as `fixed-pool`,
//! but a worker does not block on a quiet client: it parks the connection
//! on its own readiness poller and serves whatever is ready.
//!
//! ```text
//! acceptor --(bounded channel)--> [worker 0: serves A until A goes quiet; poller { A, C, E ... }]
//!                                 [worker 1: serves B until B goes quiet; poller { B, D ... }]
//!                   each worker serves its parked connections when they are ready
//! ```
//!
//! memcached's shape: connections dispatched over a queue to per-worker
//! event loops. A job is "serve this connection": the worker that takes
//! it answers every line the client has sent, and when a read would block
//! it parks the connection ([`Parked`]) instead of waiting, then goes back
//! to its channel and its poller. From then on that worker owns it, so an
//! idle client holds no worker and no buffer, and a line costs no hand-off
//! between threads: the worker its poller wakes is the one that answers.
//!
//! Compared with `fixed-pool` (diff the two files), the only difference is
//! what a worker does when its client goes quiet: there it blocks in
//! `read`, here it parks. Which is why a `pool` worker owns something
//! besides its thread ([`Parking`]), and waits on both its channel and its
//! poller: a sleeping worker announces it, and once the acceptor has
//! queued a batch it wakes one such worker for each connection in it (a
//! busy worker takes the next job between turns without being woken). A
//! worker takes one job per turn, so it never starves its parked
//! connections, and a burst of new connections is shared among the
//! workers instead of taken by the first.

use crate::context::Context;
use crate::registry::Connection;
use crate::tcp::acceptor::{self, HandOver};
use crate::tcp::balance::Balance;
use crate::tcp::parked::{Elsewhere, Parked};
use crate::tcp::Listener;
use crate::thread_pool::{Job, ThreadPool, WorkerState};
use crossbeam_channel::{Receiver, TryRecvError};
use crossbeam_utils::CachePadded;
use mio::Events;
use std::io;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;

/// Connections that may wait in the channel for a worker to take them.
/// Taking one costs a worker a turn, so a queue is cheap; past it, the
/// acceptor waits and the kernel's listen backlog holds the rest.
const QUEUE: usize = 1024;

/// Serves with `--workers` workers until shutdown; returns once every
/// worker has closed its last connection.
pub fn run(listeners: Vec<Listener>, ctx: Arc<Context>) -> io::Result<()> {
    let workers = ctx.config.workers.max(1);
    let balance = Arc::new(Balance::new(workers));
    let mut parkings = Vec::with_capacity(workers);
    for id in 0..workers {
        let name = format!("worker {id}");
        let parked = Parked::new(id, name, &ctx, &balance).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot start the poller of worker {id} of {workers}: {error}"),
            )
        })?;
        parkings.push(parked);
    }
    let roster = Arc::new(Roster::new(workers, Arc::clone(&balance)));
    let parkings = parkings
        .into_iter()
        .enumerate()
        .map(|(id, parked)| Parking {
            id,
            parked,
            roster: Arc::clone(&roster),
            events: Events::with_capacity(1024),
            ctx: Arc::clone(&ctx),
        });
    let pool = ThreadPool::with_states(parkings, QUEUE, "worker")?;
    let queue = Queue {
        pool: &pool,
        roster: &roster,
        ctx: &ctx,
        queued: 0,
    };
    acceptor::yield_to_workers();
    acceptor::run(&listeners, &ctx, queue)
    // Dropping `pool` closes the channel and joins the workers once their
    // connections end.
}

/// The acceptor's side of the channel: queues each connection as it is
/// admitted, and wakes sleeping workers once a batch is queued.
struct Queue<'a> {
    pool: &'a ThreadPool<Parking>,
    roster: &'a Roster,
    ctx: &'a Context,
    /// Connections queued since the last wake-up.
    queued: usize,
}

impl HandOver for Queue<'_> {
    fn connection(&mut self, connection: Connection) {
        let job = move |parking: &mut Parking| parking.serve(connection);
        self.ctx.activity.queue(1);
        if self
            .pool
            .execute_unless_shutdown(job, &self.ctx.shutdown)
            .is_err()
        {
            self.ctx.activity.queue(-1);
            log::debug!("shutting down: a queued connection was closed unserved");
            return;
        }
        self.queued += 1;
    }

    /// One sleeping worker per connection queued (the least busy first):
    /// a worker that is awake looks at the channel after its turn.
    fn batch_taken(&mut self) {
        self.roster.wake(std::mem::take(&mut self.queued));
    }
}

/// A `pool` worker's own state: the connections it has parked.
pub struct Parking {
    id: usize,
    parked: Parked,
    roster: Arc<Roster>,
    events: Events,
    ctx: Arc<Context>,
}

impl Parking {
    /// The job: serve a connection the acceptor handed over while it has
    /// input, then park it here.
    fn serve(&mut self, connection: Connection) {
        self.ctx.activity.queue(-1);
        self.parked.serve_new(connection);
    }

    /// Serves the parked connections that are ready (waiting for them,
    /// unless a job is queued).
    fn turn(&mut self, jobs: &Receiver<Job<Parking>>) {
        let elsewhere = QueuedJobs {
            jobs,
            roster: &self.roster,
            id: self.id,
        };
        if let Err(error) = self.parked.wait(&mut self.events, &elsewhere) {
            if error.kind() != io::ErrorKind::Interrupted {
                log::error!("{}: poller failed: {error}", self.parked.name());
                self.ctx.shutdown.trigger();
                // Its connections can no longer be served: close them.
                self.parked.reset();
                return;
            }
        }
        for event in self.events.iter() {
            self.parked.ready(event);
        }
        self.parked.finish_turn();
    }
}

impl WorkerState for Parking {
    /// One turn over the parked connections, then the next job if one is
    /// queued; at shutdown, with nothing parked, the Book's blocking `recv`
    /// (which ends when the pool closes its channel).
    fn next_job(&mut self, jobs: &Receiver<Job<Parking>>) -> Option<Job<Parking>> {
        loop {
            if self.ctx.shutdown.is_triggered() && self.parked.is_empty() {
                return jobs.recv().ok();
            }
            self.turn(jobs);
            if !self.parked.may_take() {
                continue;
            }
            match jobs.try_recv() {
                Ok(job) => return Some(job),
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) if self.parked.is_empty() => return None,
                Err(TryRecvError::Disconnected) => {}
            }
        }
    }

    fn recover(&mut self, panic: &str) {
        log::error!(
            "{} panicked between jobs ({panic}); closing its {} connections",
            self.parked.name(),
            self.parked.len()
        );
        self.ctx.stats.event_loop_restarted();
        self.parked.reset();
    }
}

/// Which workers are asleep in their poller, and how many connections
/// each holds.
struct Roster {
    asleep: Vec<CachePadded<AtomicBool>>,
    balance: Arc<Balance>,
}

impl Roster {
    fn new(workers: usize, balance: Arc<Balance>) -> Roster {
        Roster {
            asleep: (0..workers).map(|_| CachePadded::default()).collect(),
            balance,
        }
    }

    /// Wakes up to `jobs` sleeping workers, those holding the fewest
    /// connections first, to take the jobs just queued (a worker that is
    /// awake looks at the channel after its turn).
    fn wake(&self, jobs: usize) {
        for _ in 0..jobs {
            if !self.wake_one_but(None) {
                break;
            }
        }
    }

    /// Wakes the sleeping worker holding the fewest connections, never
    /// `but` (the worker asking); returns whether one was asleep.
    fn wake_one_but(&self, but: Option<usize>) -> bool {
        // Pairs with the fence in `going_to_sleep`: either the worker sees
        // the job before it sleeps, or this sees the worker asleep.
        fence(Ordering::SeqCst);
        let sleeper = self
            .balance
            .least_busy(|id| Some(id) != but && self.asleep[id].load(Ordering::SeqCst));
        let Some(id) = sleeper else {
            return false;
        };
        self.asleep[id].store(false, Ordering::SeqCst);
        self.balance.wake(id);
        true
    }
}

/// A worker's view of its pool's channel, while it waits on its poller.
struct QueuedJobs<'a> {
    jobs: &'a Receiver<Job<Parking>>,
    roster: &'a Roster,
    id: usize,
}

impl Elsewhere for QueuedJobs<'_> {
    /// A queued job this worker may take.
    fn pending(&self) -> bool {
        !self.jobs.is_empty() && self.roster.balance.may_take(self.id)
    }

    fn going_to_sleep(&self) -> bool {
        self.roster.asleep[self.id].store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.pending() {
            return true;
        }
        if !self.jobs.is_empty() {
            // Jobs wait that the balance keeps this worker from taking: the
            // acceptor woke someone when it queued them, but that one may
            // have taken its share and gone back to sleep. Pass them on, or
            // they wait for a timer tick.
            let _ = self.roster.wake_one_but(Some(self.id));
        }
        false
    }

    fn awake(&self) {
        self.roster.asleep[self.id].store(false, Ordering::Relaxed);
    }
}
