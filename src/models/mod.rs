//! The five threading models: the same protocol, five ways of mapping
//! connections onto threads. Each model's `run` takes the listeners and the
//! shared [`Context`], accepts until shutdown, and returns once every
//! thread it started has been joined.
//!
//! | model | threads | an idle client costs |
//! | --- | --- | --- |
//! | [`iterative`] | one | the whole server |
//! | [`thread_per_connection`] | an acceptor, one per connection | a whole thread |
//! | [`fixed_pool`] | an acceptor, N workers (the Rust Book) | a whole worker |
//! | [`pool`] (the default) | an acceptor, N workers, each with a readiness poller | no thread, no buffer |
//! | [`event_loops`] | N event loops, each accepting for itself (nginx) | no thread, no buffer |
//!
//! `fixed_pool` and `pool` share the acceptor, the channel and the
//! `ThreadPool`; they differ only in what a worker does when its client
//! goes quiet (block, or park). `pool` and `event_loops` share
//! [`Parked`](crate::tcp::parked::Parked), the turn that serves parked
//! connections; they differ in who accepts.

pub mod event_loops;
pub mod fixed_pool;
pub mod iterative;
pub mod pool;
pub mod thread_per_connection;

use crate::config::Model;
use crate::context::Context;
use crate::tcp::Listener;
use std::io;
use std::sync::Arc;

/// Serves TCP on every listener with the configured model until shutdown.
pub fn run(listeners: Vec<Listener>, ctx: Arc<Context>) -> io::Result<()> {
    match ctx.config.model {
        Model::Pool => pool::run(listeners, ctx),
        Model::EventLoops => event_loops::run(listeners, ctx),
        Model::FixedPool => fixed_pool::run(listeners, ctx),
        Model::ThreadPerConnection => thread_per_connection::run(listeners, ctx),
        Model::Iterative => iterative::run(listeners, ctx),
    }
}

/// The name of the thread [`run`] is called on: it accepts connections,
/// except in `event-loops`, where the loops accept and it only waits.
pub fn thread_name(model: Model) -> &'static str {
    match model {
        Model::EventLoops => "tcp",
        _ => "acceptor",
    }
}
