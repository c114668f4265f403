//! What every server thread shares: settings, open connections, counters
//! and the shutdown trigger. One `Arc<Context>` is handed to each thread.

use crate::activity::Activity;
use crate::certificates::Certificates;
use crate::config::ServerConfig;
use crate::memory::MemoryBudget;
use crate::registry::Registry;
use crate::shutdown::ShutdownSignal;
use crate::stats::Stats;
use std::sync::{Arc, OnceLock};

/// The server-wide state shared by the acceptor, the workers and UDP.
pub struct Context {
    /// The settings the server was started with.
    pub config: ServerConfig,
    /// Every open TCP connection.
    pub registry: Arc<Registry>,
    /// What the server may hold on its clients' behalf.
    pub memory: Arc<MemoryBudget>,
    /// Totals for the shutdown summary and the metrics.
    pub stats: Stats,
    /// What the workers are doing now, for the admin page.
    pub activity: Activity,
    /// Pulled to stop the server.
    pub shutdown: ShutdownSignal,
    /// Pulled once the TCP side accepts: its threads and pollers exist
    /// (a one-way switch, of the same type as the shutdown trigger).
    pub accepting: ShutdownSignal,
    /// The `--tls` listener's certificate, for its expiry metric.
    pub certificates: OnceLock<Arc<Certificates>>,
    /// The socket inodes of this server's TCP listeners: `/stats.json`'s
    /// backlog counts their accept queues and no one else's (a process
    /// may hold other listeners, or run several servers, as the tests do).
    pub listening: OnceLock<Vec<u64>>,
}

impl Context {
    /// Shared state for a server with `config`, stopped by `shutdown`.
    pub fn new(config: ServerConfig, shutdown: ShutdownSignal) -> Arc<Context> {
        let memory = MemoryBudget::new(config.memory_budget);
        let registry = Registry::with_memory(
            config.max_connections,
            config.max_connections_per_ip,
            Arc::clone(&memory),
            crate::memory::connection_cost(config.model),
            config.evictable_after,
        );
        let activity = Activity::new(config.workers);
        Arc::new(Context {
            config,
            registry,
            memory,
            stats: Stats::default(),
            activity,
            shutdown,
            accepting: ShutdownSignal::new(),
            certificates: OnceLock::new(),
            listening: OnceLock::new(),
        })
    }
}
