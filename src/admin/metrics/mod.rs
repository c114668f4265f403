//! The numbers an operator scrapes, read once per request from the
//! server's shared state and written two ways: [`prometheus`] for
//! Prometheus (`text.rs`), [`json`] for scripts and the live page
//! (`json.rs`). One `Snapshot` feeds both, so they never disagree.

mod json;
mod text;

pub use json::{json, socket_inode};
pub use text::{prometheus, COMMIT, CONTENT_TYPE};

use crate::context::Context;
use crate::process_stats::{ProcessStats, ProcessTimes};

/// Everything exported, read at one moment.
struct Snapshot {
    summary: crate::stats::Summary,
    open: u64,
    busy: u64,
    idle: u64,
    queued: u64,
    parked: u64,
    connection_threads: u64,
    wakeups: u64,
    events: u64,
    draining: bool,
    process: ProcessStats,
    times: ProcessTimes,
    max_fds: u64,
}

fn snapshot(ctx: &Context) -> Snapshot {
    let workers = ctx.activity.workers();
    let busy = workers.iter().filter(|w| w.serving.is_some()).count() as u64;
    let owned: u64 = workers.iter().map(|w| w.owned).sum();
    let (wakeups, events) = ctx.activity.wakeups_and_events();
    Snapshot {
        summary: ctx.stats.summary(),
        open: ctx.registry.open_count() as u64,
        busy,
        idle: workers.len() as u64 - busy,
        queued: ctx.activity.queued(),
        // Owned by an event loop and not being served right now.
        parked: owned.saturating_sub(busy),
        connection_threads: ctx.activity.connection_threads(),
        wakeups,
        events,
        draining: ctx.activity.is_draining(),
        process: ProcessStats::of_self().unwrap_or_default(),
        times: ProcessTimes::of_self().unwrap_or_default(),
        max_fds: crate::process_stats::max_fds(),
    }
}
