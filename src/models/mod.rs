//! The four threading models: the same protocol, four ways of mapping
//! connections onto threads. Each model's `run` takes the listener and the
//! shared [`Context`], accepts until shutdown, and returns once every
//! thread it started has been joined.
//!
//! | model | threads | an idle client costs |
//! | --- | --- | --- |
//! | [`event_loops`] (`pool`, the default) | N workers, each with a readiness poller | no thread, no buffer |
//! | [`fixed_pool`] | N workers (the Rust Book) | a whole worker |
//! | [`thread_per_connection`] | one per connection | a whole thread |
//! | [`iterative`] | one | the whole server |

pub mod event_loops;
pub mod fixed_pool;
pub mod iterative;
pub mod thread_per_connection;

use crate::config::Model;
use crate::context::Context;
use std::io;
use std::net::TcpListener;
use std::sync::Arc;

/// Serves TCP on `listener` with the configured model until shutdown.
pub fn run(listener: TcpListener, ctx: Arc<Context>) -> io::Result<()> {
    match ctx.config.model {
        Model::Pool => event_loops::run(listener, ctx),
        Model::FixedPool => fixed_pool::run(listener, ctx),
        Model::ThreadPerConnection => thread_per_connection::run(listener, ctx),
        Model::Iterative => iterative::run(listener, ctx),
    }
}
