//! The Rust Book's `ThreadPool`, hardened, and given a place for what a
//! worker owns.
//!
//! Same shape and names as the book's final chapter: a `ThreadPool` owns
//! `Worker`s, each a thread that takes `Job`s from a shared channel and runs
//! them; dropping the pool closes the channel and joins every worker. What
//! changed, and why:
//! - the channel is a *bounded* crossbeam channel (the CS:APP prethreaded
//!   server's `sbuf`): when every worker is busy and the queue is full, the
//!   producer waits and the kernel's listen backlog holds new clients,
//!   instead of an unbounded queue growing with every connection;
//! - a panicking job is caught and logged, and its worker lives on;
//! - nothing `unwrap`s: a thread that cannot be spawned is an error the
//!   caller reports, not a crash;
//! - a worker may own something besides its thread ([`WorkerState`]), and
//!   that decides how it waits for its next job. The Book's worker owns
//!   nothing (`()`) and blocks in `recv`: that is `fixed-pool`. A `pool`
//!   worker owns the connections it has parked on its own poller, and
//!   waits on them and the channel together. Each job is handed the state
//!   of the worker that runs it.

use crate::recover::{panic_message, run_catching_panics};
use crate::shutdown::ShutdownSignal;
use crossbeam_channel::{Receiver, Sender};
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::thread::{self, JoinHandle};

thread_local! {
    /// Which worker of its pool this thread is, if it is one.
    static WORKER_ID: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// The id (0..size) of the pool worker running the caller, if it is one.
pub fn current_worker() -> Option<usize> {
    WORKER_ID.with(|id| id.get())
}

/// A unit of work for the pool: a closure that runs once on some worker,
/// given that worker's state (`()` for the Book's workers).
pub type Job<S = ()> = Box<dyn FnOnce(&mut S) + Send + 'static>;

/// What a worker owns besides its thread, and so how it waits for a job.
pub trait WorkerState: Sized + Send + 'static {
    /// Waits for the next job and returns it; `None` once the pool has
    /// closed its channel and this worker has nothing left to finish.
    fn next_job(&mut self, jobs: &Receiver<Job<Self>>) -> Option<Job<Self>>;

    /// `next_job` panicked (a bug outside any job): put the state back in
    /// order so the worker can carry on.
    fn recover(&mut self, panic: &str) {
        log::error!("a worker panicked between jobs ({panic}); carrying on");
    }
}

/// The Book's worker owns nothing: it blocks in `recv` until a job comes.
impl WorkerState for () {
    fn next_job(&mut self, jobs: &Receiver<Job>) -> Option<Job> {
        jobs.recv().ok()
    }
}

/// A fixed set of worker threads fed through a bounded channel.
pub struct ThreadPool<S: WorkerState = ()> {
    workers: Vec<Worker>,
    sender: Option<Sender<Job<S>>>,
}

/// One thread of a [`ThreadPool`].
struct Worker {
    id: usize,
    thread: Option<JoinHandle<()>>,
}

/// The pool's channel is closed: it is shutting down.
#[derive(Debug)]
pub struct PoolClosed;

impl ThreadPool {
    /// Starts `size` of the Book's workers (at least one) sharing a queue
    /// of `queue_capacity` jobs.
    pub fn new(size: usize, queue_capacity: usize, name: &str) -> io::Result<ThreadPool> {
        ThreadPool::with_states((0..size.max(1)).map(|_| ()), queue_capacity, name)
    }

    /// Queues `f` to run on the next free worker, waiting while the queue is full.
    pub fn execute<F>(&self, f: F) -> Result<(), PoolClosed>
    where
        F: FnOnce() + Send + 'static,
    {
        let sender = self.sender.as_ref().ok_or(PoolClosed)?;
        sender
            .send(Box::new(move |_: &mut ()| f()))
            .map_err(|_| PoolClosed)
    }
}

impl<S: WorkerState> ThreadPool<S> {
    /// Starts one worker per state (at least one state is expected),
    /// sharing a queue of `queue_capacity` jobs; worker `id` is named `{name}-{id}`.
    pub fn with_states(
        states: impl IntoIterator<Item = S>,
        queue_capacity: usize,
        name: &str,
    ) -> io::Result<ThreadPool<S>> {
        let (sender, receiver) = crossbeam_channel::bounded(queue_capacity);
        let mut workers = Vec::new();
        for (id, state) in states.into_iter().enumerate() {
            // If a spawn fails, returning drops `sender`, which closes the
            // channel, so the workers already started exit on their own.
            workers.push(Worker::new(
                id,
                format!("{name}-{id}"),
                state,
                receiver.clone(),
            )?);
        }
        Ok(ThreadPool {
            workers,
            sender: Some(sender),
        })
    }

    /// How many workers the pool has.
    pub fn size(&self) -> usize {
        self.workers.len()
    }

    /// Queues `f` to run on the next worker that takes a job, waiting while
    /// the queue is full, but gives up (dropping the job) if `shutdown` is
    /// triggered while waiting for room in the queue.
    pub fn execute_unless_shutdown<F>(
        &self,
        f: F,
        shutdown: &ShutdownSignal,
    ) -> Result<(), PoolClosed>
    where
        F: FnOnce(&mut S) + Send + 'static,
    {
        let sender = self.sender.as_ref().ok_or(PoolClosed)?;
        if shutdown.is_triggered() {
            return Err(PoolClosed);
        }
        let job: Job<S> = Box::new(f);
        // Whichever comes first: room in the queue, or the trigger (which
        // disconnects its channel, so its `recv` completes).
        crossbeam_channel::select! {
            send(sender, job) -> sent => sent.map_err(|_| PoolClosed),
            recv(shutdown.channel()) -> _ => Err(PoolClosed),
        }
    }
}

impl<S: WorkerState> Drop for ThreadPool<S> {
    /// Closes the channel, lets the workers finish the queued jobs, and joins them.
    fn drop(&mut self) {
        drop(self.sender.take());
        for worker in &mut self.workers {
            log::debug!("shutting down worker {}", worker.id);
            if let Some(thread) = worker.thread.take() {
                if thread.join().is_err() {
                    log::error!("worker {} ended with a panic", worker.id);
                }
            }
        }
    }
}

impl Worker {
    fn new<S: WorkerState>(
        id: usize,
        name: String,
        mut state: S,
        receiver: Receiver<Job<S>>,
    ) -> io::Result<Worker> {
        let thread = thread::Builder::new().name(name).spawn(move || {
            WORKER_ID.with(|slot| slot.set(Some(id)));
            let who = format!("worker {id}");
            loop {
                // `None` once the pool has dropped its sender, the queue is
                // empty and the state has finished its own work: exit.
                match panic::catch_unwind(AssertUnwindSafe(|| state.next_job(&receiver))) {
                    Ok(Some(job)) => {
                        run_catching_panics(&who, || job(&mut state));
                    }
                    Ok(None) => break,
                    Err(payload) => state.recover(panic_message(payload.as_ref())),
                }
            }
        })?;
        Ok(Worker {
            id,
            thread: Some(thread),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn runs_every_job_before_drop_returns() {
        let done = Arc::new(AtomicUsize::new(0));
        let pool = ThreadPool::new(3, 4, "test").unwrap();
        assert_eq!(pool.size(), 3);
        for _ in 0..100 {
            let done = Arc::clone(&done);
            pool.execute(move || {
                done.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        drop(pool);
        assert_eq!(done.load(Ordering::SeqCst), 100);
    }

    #[test]
    fn a_panicking_job_does_not_kill_its_worker() {
        let pool = ThreadPool::new(1, 1, "test").unwrap();
        pool.execute(|| panic!("handler bug")).unwrap();
        let (tx, rx) = crossbeam_channel::bounded(1);
        pool.execute(move || tx.send(thread::current().name().map(String::from)).unwrap())
            .unwrap();
        let ran_on = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(ran_on.as_deref(), Some("test-0"));
    }

    /// A pool of one worker, busy until `release` is dropped, with its
    /// one-job queue full.
    fn full_pool() -> (ThreadPool, crossbeam_channel::Sender<()>) {
        let pool = ThreadPool::new(1, 1, "test").unwrap();
        let (release, blocked) = crossbeam_channel::bounded::<()>(0);
        let (started_tx, started) = crossbeam_channel::bounded(1);
        pool.execute(move || {
            started_tx.send(()).unwrap();
            let _ = blocked.recv();
        })
        .unwrap();
        started.recv().unwrap();
        pool.execute(|| {}).unwrap(); // fills the queue
        (pool, release)
    }

    #[test]
    fn execute_unless_shutdown_gives_up_when_the_queue_stays_full() {
        let (pool, release) = full_pool();
        let shutdown = ShutdownSignal::new();
        shutdown.trigger();
        assert!(pool.execute_unless_shutdown(|_| {}, &shutdown).is_err());
        drop(release);
    }

    #[test]
    fn execute_unless_shutdown_waiting_for_room_is_woken_by_the_trigger() {
        let (pool, release) = full_pool();
        let shutdown = ShutdownSignal::new();
        let (gave_up_tx, gave_up) = crossbeam_channel::bounded(1);
        thread::scope(|scope| {
            scope.spawn(|| {
                let outcome = pool.execute_unless_shutdown(|_| {}, &shutdown);
                gave_up_tx.send(outcome.is_err()).unwrap();
            });
            // Still waiting for room: nothing has come back.
            assert!(gave_up.recv_timeout(Duration::from_millis(100)).is_err());
            shutdown.trigger();
            assert_eq!(gave_up.recv_timeout(Duration::from_secs(10)), Ok(true));
        });
        drop(release);
    }
}
