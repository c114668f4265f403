//! `/stats.json`: the numbers of `/metrics` as one JSON object, plus each
//! worker's state and the listeners' accept queues, for scripts (`soak`,
//! the tests) and the live page.

use super::snapshot;
use crate::context::Context;
use crate::stats::DatagramOutcome;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

/// `/stats.json`: the same numbers, plus each worker's state.
pub fn json(ctx: &Context) -> String {
    let s = snapshot(ctx);
    let t = &s.summary;
    let workers: Vec<_> = ctx
        .activity
        .workers()
        .iter()
        .enumerate()
        .map(|(id, w)| {
            serde_json::json!({ "id": id, "busy": w.serving.is_some(), "connection": w.serving, "owned": w.owned })
        })
        .collect();
    serde_json::json!({
        "model": ctx.config.model.name(),
        "workers": workers,
        "queued": s.queued,
        "backlog": listen_backlog(ctx),
        "parked": s.parked,
        "connection_threads": s.connection_threads,
        "connections_active": s.open,
        "connections_accepted": t.connections,
        "connections_rejected": t.refused,
        "lines": t.lines,
        "bytes_in": t.bytes_in,
        "bytes_out": t.bytes_out,
        "udp_datagrams": t.datagrams,
        "udp_datagrams_by_result": DatagramOutcome::ALL
            .iter()
            .map(|&o| (o.label().to_string(), t.datagrams_with(o).into()))
            .collect::<serde_json::Map<_, _>>(),
        "lines_too_long": t.lines_too_long,
        "idle_timeouts": t.idle_timeouts,
        "idle_evictions": t.idle_evictions,
        "connections_rejected_memory": t.refused_memory,
        "memory_budget_bytes": ctx.memory.limit(),
        "memory_budget_used_bytes": ctx.memory.used(),
        "event_loop_wakeups": s.wakeups,
        "event_loop_events": s.events,
        "draining": s.draining,
        "open_fds": s.process.fds,
        "threads": s.process.threads,
        "resident_memory_bytes": s.process.rss_kib * 1024,
    })
    .to_string()
}

/// Clients the kernel has connected and nobody has accepted yet: the
/// accept queues of this server's listening TCP sockets (for a listener,
/// `/proc/net/tcp`'s `rx_queue` is its accept-queue length). They are
/// waiting too, before the pool's queue, and no counter of ours sees them.
fn listen_backlog(ctx: &Context) -> u64 {
    let Some(mine) = ctx.listening.get() else {
        return 0;
    };
    let tcp = procfs::net::tcp().unwrap_or_default();
    let tcp6 = procfs::net::tcp6().unwrap_or_default();
    tcp.iter()
        .chain(tcp6.iter())
        .filter(|e| e.state == procfs::net::TcpState::Listen && mine.contains(&e.inode))
        .map(|e| u64::from(e.rx_queue))
        .sum()
}

/// The inode `/proc/net/tcp` names `socket` by (its `/proc/self/fd`
/// entry's); `None` without `/proc`.
pub fn socket_inode(socket: &impl AsRawFd) -> Option<u64> {
    let entry = format!("/proc/self/fd/{}", socket.as_raw_fd());
    std::fs::metadata(entry).ok().map(|meta| meta.ino())
}
