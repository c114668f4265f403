//! The Rust Book's `ThreadPool`, hardened.
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
//!   caller reports, not a crash.

use crate::shutdown::ShutdownSignal;
use crossbeam_channel::{Receiver, Sender};
use std::any::Any;
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

/// A unit of work for the pool: any closure that runs once on some worker.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of worker threads fed through a bounded channel.
pub struct ThreadPool {
    workers: Vec<Worker>,
    sender: Option<Sender<Job>>,
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
    /// Starts `size` workers (at least one) sharing a queue of `queue_capacity` jobs.
    pub fn new(size: usize, queue_capacity: usize, name: &str) -> io::Result<ThreadPool> {
        let (sender, receiver) = crossbeam_channel::bounded(queue_capacity);
        let mut workers = Vec::with_capacity(size.max(1));
        for id in 0..size.max(1) {
            // If a spawn fails, returning drops `sender`, which closes the
            // channel, so the workers already started exit on their own.
            workers.push(Worker::new(id, format!("{name}-{id}"), receiver.clone())?);
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

    /// Queues `f` to run on the next free worker, waiting while the queue is full.
    pub fn execute<F>(&self, f: F) -> Result<(), PoolClosed>
    where
        F: FnOnce() + Send + 'static,
    {
        let sender = self.sender.as_ref().ok_or(PoolClosed)?;
        sender.send(Box::new(f)).map_err(|_| PoolClosed)
    }

    /// Like [`execute`](Self::execute), but gives up (dropping the job) if
    /// `shutdown` is triggered while waiting for room in the queue.
    pub fn execute_unless_shutdown<F>(
        &self,
        f: F,
        shutdown: &ShutdownSignal,
    ) -> Result<(), PoolClosed>
    where
        F: FnOnce() + Send + 'static,
    {
        let sender = self.sender.as_ref().ok_or(PoolClosed)?;
        let job: Job = Box::new(f);
        shutdown
            .send_unless_triggered(sender, job)
            .map_err(|_| PoolClosed)
    }
}

impl Drop for ThreadPool {
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
    fn new(id: usize, name: String, receiver: Receiver<Job>) -> io::Result<Worker> {
        let thread = thread::Builder::new().name(name).spawn(move || {
            WORKER_ID.with(|slot| slot.set(Some(id)));
            // `recv` fails only once the pool has dropped its sender and the
            // queue is empty: that is the signal to exit.
            while let Ok(job) = receiver.recv() {
                run_catching_panics(&format!("worker {id}"), job);
            }
        })?;
        Ok(Worker {
            id,
            thread: Some(thread),
        })
    }
}

/// Runs `f`; if it panics, logs the panic (naming `who`) instead of
/// unwinding further, so the calling thread lives on. Returns `None` then.
pub fn run_catching_panics<T>(who: &str, f: impl FnOnce() -> T) -> Option<T> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            log::error!(
                "{who}: a handler panicked ({}); carrying on",
                panic_message(payload.as_ref())
            );
            None
        }
    }
}

/// The text of a panic payload, for a log line.
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "non-text panic payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

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

    #[test]
    fn execute_unless_shutdown_gives_up_when_the_queue_stays_full() {
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
        let shutdown = ShutdownSignal::new();
        shutdown.trigger();
        assert!(pool.execute_unless_shutdown(|| {}, &shutdown).is_err());
        drop(release);
    }
}
