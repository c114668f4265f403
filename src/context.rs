//! What every server thread shares: settings, open connections, counters
//! and the shutdown trigger. One `Arc<Context>` is handed to each thread.

use crate::config::ServerConfig;
use crate::registry::Registry;
use crate::shutdown::Shutdown;
use crate::stats::Stats;
use std::sync::Arc;

/// The server-wide state shared by the acceptor, the workers and UDP.
pub struct Context {
    /// The settings the server was started with.
    pub config: ServerConfig,
    /// Every open TCP connection.
    pub registry: Arc<Registry>,
    /// Totals for the shutdown summary.
    pub stats: Stats,
    /// Pulled to stop the server.
    pub shutdown: Shutdown,
}

impl Context {
    /// Shared state for a server with `config`, stopped by `shutdown`.
    ///
    /// Pulling the trigger at once stops every connection from receiving
    /// more, so a worker blocked reading an idle client wakes up.
    pub fn new(config: ServerConfig, shutdown: Shutdown) -> Arc<Context> {
        let registry = Registry::new(config.max_connections);
        let on_shutdown = Arc::clone(&registry);
        shutdown.on_trigger(move || on_shutdown.stop_reading_all());
        Arc::new(Context {
            config,
            registry,
            stats: Stats::default(),
            shutdown,
        })
    }
}
