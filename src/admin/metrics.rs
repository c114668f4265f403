//! The numbers an operator scrapes, named the Prometheus way (`upcase_`
//! prefix, `_total` for counters, base units), encoded by the
//! `prometheus-client` crate; and the same numbers as JSON.

use crate::context::Context;
use crate::process_stats::ProcessStats;
use crate::stats::DatagramOutcome;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `Content-Type` of `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

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
    }
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let metric: Counter = Counter::default();
    metric.inc_by(value);
    registry.register(name, help, metric);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let metric: Gauge = Gauge::default();
    metric.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, metric);
}

type Labels = Vec<(String, String)>;

/// `/metrics` in the Prometheus text format (0.0.4).
pub fn prometheus(ctx: &Context) -> String {
    let s = snapshot(ctx);
    let t = &s.summary;
    let mut r = Registry::with_prefix("upcase");
    gauge(
        &mut r,
        "connections_active",
        "TCP connections open now",
        s.open,
    );
    counter(
        &mut r,
        "connections_accepted",
        "TCP connections accepted",
        t.connections,
    );
    let rejected = Family::<Labels, Counter>::default();
    rejected
        .get_or_create(&vec![("reason".into(), "max_connections".into())])
        .inc_by(t.refused - t.refused_per_ip);
    rejected
        .get_or_create(&vec![("reason".into(), "max_connections_per_ip".into())])
        .inc_by(t.refused_per_ip);
    r.register(
        "connections_rejected",
        "TCP connections refused, by limit",
        rejected,
    );
    let closed = Family::<Labels, Counter>::default();
    for (reason, value) in [
        ("line_too_long", t.lines_too_long),
        ("idle_timeout", t.idle_timeouts),
        ("error", t.failed),
    ] {
        closed
            .get_or_create(&vec![("reason".into(), reason.into())])
            .inc_by(value);
    }
    r.register(
        "connections_closed_by_server",
        "TCP connections the server ended early, by reason",
        closed,
    );
    counter(&mut r, "lines", "TCP lines answered", t.lines);
    counter(
        &mut r,
        "received_bytes",
        "Bytes received over TCP and UDP",
        t.bytes_in,
    );
    counter(
        &mut r,
        "sent_bytes",
        "Bytes sent over TCP and UDP",
        t.bytes_out,
    );
    let datagrams = Family::<Labels, Counter>::default();
    for outcome in DatagramOutcome::ALL {
        datagrams
            .get_or_create(&vec![("result".into(), outcome.label().into())])
            .inc_by(t.datagrams_with(outcome));
    }
    r.register(
        "udp_datagrams",
        "UDP datagrams received, by what became of them",
        datagrams,
    );
    let workers = Family::<Labels, Gauge>::default();
    workers
        .get_or_create(&vec![("state".into(), "busy".into())])
        .set(s.busy as i64);
    workers
        .get_or_create(&vec![("state".into(), "idle".into())])
        .set(s.idle as i64);
    r.register("workers", "Pool workers, by state", workers);
    gauge(
        &mut r,
        "queued_connections",
        "Connections accepted and waiting for a worker (fixed-pool)",
        s.queued,
    );
    gauge(
        &mut r,
        "parked_connections",
        "Connections parked on a poller, holding no thread (pool)",
        s.parked,
    );
    gauge(
        &mut r,
        "connection_threads",
        "Threads serving one connection each (thread-per-connection)",
        s.connection_threads,
    );
    counter(
        &mut r,
        "event_loop_wakeups",
        "Event-loop poller wake-ups (pool)",
        s.wakeups,
    );
    counter(
        &mut r,
        "event_loop_events",
        "Readiness events those wake-ups brought (pool)",
        s.events,
    );
    counter(
        &mut r,
        "event_loop_restarts",
        "Event loops restarted after a panic (pool)",
        t.event_loop_restarts,
    );
    counter(
        &mut r,
        "log_lines_dropped",
        "Log lines dropped because stderr was not being read",
        crate::log_sink::lines_dropped(),
    );
    gauge(
        &mut r,
        "draining",
        "1 while shutting down (answering what was received)",
        u64::from(s.draining),
    );
    gauge(&mut r, "open_fds", "Open file descriptors", s.process.fds);
    gauge(
        &mut r,
        "threads",
        "Threads of the server process",
        s.process.threads,
    );
    gauge(
        &mut r,
        "resident_memory_bytes",
        "Resident memory",
        s.process.rss_kib * 1024,
    );
    let mut text = String::new();
    if prometheus_text::encode(&mut text, &r).is_err() {
        text.clear();
    }
    text
}

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
        "event_loop_wakeups": s.wakeups,
        "event_loop_events": s.events,
        "draining": s.draining,
        "open_fds": s.process.fds,
        "threads": s.process.threads,
        "resident_memory_bytes": s.process.rss_kib * 1024,
    })
    .to_string()
}
