//! `iterative`: the lecture's first server. One thread accepts a client,
//! serves it until it leaves, then accepts the next.
//!
//! ```text
//! accept A -> serve A ... A leaves -> accept B -> serve B ...
//!             (B, C wait in the listen backlog meanwhile)
//! ```
//!
//! It cannot serve two clients at once; it is here so the others have
//! something to be compared with.

use crate::context::Context;
use crate::recover::run_catching_panics;
use crate::registry::Connection;
use crate::tcp::acceptor;
use crate::tcp::blocking;
use crate::tcp::Listener;
use std::io;
use std::sync::Arc;

/// Serves one connection at a time on the calling thread.
pub fn run(listeners: Vec<Listener>, ctx: Arc<Context>) -> io::Result<()> {
    acceptor::run(&listeners, &ctx, |connection: Connection| {
        ctx.activity.serving(0, Some(connection.id()));
        run_catching_panics("iterative server", || blocking::serve(connection, &ctx));
        ctx.activity.serving(0, None);
    })
}
