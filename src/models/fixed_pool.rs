//! `fixed-pool`: the Rust Book's final chapter, exactly its shape.
//!
//! ```text
//! acceptor --(bounded channel)--> [worker 1: client A .............]
//!                                 [worker 2: client B .............]
//!                       client C waits in the channel, then the backlog
//! ```
//!
//! A job is "serve this connection", and the worker serves it to the end,
//! blocking in `read` whenever its client is quiet. So a connection holds
//! one worker for its whole life, and with N workers the N+1th interactive
//! client is answered only when one of the first N leaves. That limit is
//! the point of the model: `pool` (diff the two files) has the same
//! acceptor, channel and `ThreadPool`, and removes it by parking a quiet
//! connection instead of blocking on it.

use crate::context::Context;
use crate::registry::Connection;
use crate::tcp::acceptor;
use crate::tcp::blocking;
use crate::tcp::Listener;
use crate::thread_pool::{current_worker, ThreadPool};
use std::io;
use std::sync::Arc;

/// Serves with `--workers` threads, one connection each at a time.
pub fn run(listeners: Vec<Listener>, ctx: Arc<Context>) -> io::Result<()> {
    let workers = ctx.config.workers;
    // The queue holds one waiting connection per worker; past that the
    // acceptor waits and the kernel's listen backlog holds the rest.
    let pool = ThreadPool::new(workers, workers, "worker")?;
    acceptor::yield_to_workers();
    acceptor::run(&listeners, &ctx, |connection: Connection| {
        let job_ctx = Arc::clone(&ctx);
        let id = connection.id();
        let job = move |_: &mut ()| {
            let worker = current_worker().unwrap_or(0);
            job_ctx.activity.queue(-1);
            job_ctx.activity.serving(worker, Some(id));
            blocking::serve(connection, &job_ctx);
            job_ctx.activity.serving(worker, None);
        };
        ctx.activity.queue(1);
        if pool.execute_unless_shutdown(job, &ctx.shutdown).is_err() {
            ctx.activity.queue(-1);
            log::debug!("shutting down: a queued connection was closed unserved");
        }
    })
    // Dropping `pool` joins the workers once their connections end.
}
