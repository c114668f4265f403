//! `thread-per-connection`: every accepted connection gets its own OS thread.
//!
//! ```text
//! acceptor --spawn--> [thread: client A]
//!          --spawn--> [thread: client B]
//!          --spawn--> [thread: client C]   ... up to --max-connections
//! ```
//!
//! Simple and fair, and fast at low counts; the cost is a thread (stack,
//! scheduler work) per client, idle or not. `--max-connections` bounds how
//! many threads it can start.

use crate::context::Context;
use crate::recover::run_catching_panics;
use crate::registry::Connection;
use crate::tcp::acceptor;
use crate::tcp::blocking;
use crate::tcp::Listener;
use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// Stack size for connection threads: the handler needs little, and a
/// smaller stack lets more threads fit.
pub const STACK_SIZE: usize = 256 * 1024;

/// Serves each connection on a thread of its own.
pub fn run(listeners: Vec<Listener>, ctx: Arc<Context>) -> io::Result<()> {
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let result = acceptor::run(&listeners, &ctx, |connection: Connection| {
        join_finished(&mut threads);
        let peer = connection.to_string();
        let thread_ctx = Arc::clone(&ctx);
        let spawned = thread::Builder::new()
            .name("connection".into())
            .stack_size(STACK_SIZE)
            .spawn(move || {
                thread_ctx.activity.connection_thread(1);
                run_catching_panics("connection thread", || {
                    blocking::serve(connection, &thread_ctx)
                });
                thread_ctx.activity.connection_thread(-1);
            });
        match spawned {
            Ok(thread) => threads.push(thread),
            // The closure, and with it the connection, is dropped: closed.
            Err(error) => log::warn!("cannot start a thread for {peer}: {error}; closed it"),
        }
    });
    for thread in threads {
        let _ = thread.join();
    }
    result
}

/// Joins threads whose connection has ended, so the list stays short.
fn join_finished(threads: &mut Vec<JoinHandle<()>>) {
    let mut index = 0;
    while index < threads.len() {
        if threads[index].is_finished() {
            let _ = threads.swap_remove(index).join();
        } else {
            index += 1;
        }
    }
}
