//! `/metrics` in the Prometheus text format, encoded by the
//! `prometheus-client` crate: upcase's own numbers named the Prometheus way
//! (`upcase_` prefix, `_total` for counters, base units), the standard
//! `process_*` metrics every Prometheus client library exports (so existing
//! dashboards and alerts work), and `upcase_build_info`. Labelled series
//! come out in a fixed order (`Series`), scrape after scrape.

use super::{snapshot, Snapshot};
use crate::context::Context;
use crate::stats::{DatagramOutcome, Handshake};
use prometheus_client::encoding::{prometheus_text, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
// prometheus-client's registry of metric families, not the crate's own
// connection registry (`crate::registry`).
use prometheus_client::registry::Registry as MetricFamilies;
use std::sync::atomic::AtomicU64;

/// The commit this binary was built from (`build.rs`), or `unknown`.
pub const COMMIT: &str = match crate::cli::COMMIT {
    Some(commit) => commit,
    None => "unknown",
};

/// The `Content-Type` of `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

fn counter(families: &mut MetricFamilies, name: &str, help: &str, value: u64) {
    families.register(name, help, counter_of(value));
}

fn gauge(families: &mut MetricFamilies, name: &str, help: &str, value: u64) {
    families.register(name, help, gauge_of(value));
}

type Labels = Vec<(String, String)>;

/// A labelled family whose series are encoded in the order given
/// (`prometheus-client`'s `Family` keeps them in a hash map, whose order
/// changes from one scrape to the next).
struct Series<M> {
    series: Vec<(Labels, M)>,
}

impl<M> Series<M> {
    /// One series per `(label value, metric)`, all under label `name`.
    fn by(name: &str, values: impl IntoIterator<Item = (&'static str, M)>) -> Series<M> {
        Series {
            series: values
                .into_iter()
                .map(|(value, metric)| (vec![(name.to_string(), value.to_string())], metric))
                .collect(),
        }
    }
}

impl<M: EncodeMetric + TypedMetric> EncodeMetric for Series<M> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, metric) in &self.series {
            metric.encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }
}

impl<M> std::fmt::Debug for Series<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("len", &self.series.len())
            .finish()
    }
}

fn counter_of(value: u64) -> Counter {
    let metric = Counter::default();
    metric.inc_by(value);
    metric
}

fn gauge_of(value: u64) -> Gauge {
    let metric = Gauge::default();
    metric.set(i64::try_from(value).unwrap_or(i64::MAX));
    metric
}

/// The standard process metrics, named as every Prometheus client library
/// names them (no `upcase_` prefix).
fn process_metrics(r: &mut MetricFamilies, s: &Snapshot) {
    gauge(
        r,
        "process_open_fds",
        "Number of open file descriptors",
        s.process.fds,
    );
    gauge(
        r,
        "process_max_fds",
        "Maximum number of open file descriptors",
        s.max_fds,
    );
    gauge(
        r,
        "process_resident_memory_bytes",
        "Resident memory size in bytes",
        s.process.rss_kib * 1024,
    );
    let start: Gauge<f64, AtomicU64> = Gauge::default();
    start.set(s.times.start_time_seconds);
    r.register(
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds",
        start,
    );
    let cpu: Counter<f64, AtomicU64> = Counter::default();
    cpu.inc_by(s.times.cpu_seconds);
    r.register(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds",
        cpu,
    );
}

/// `/metrics` in the Prometheus text format (0.0.4).
pub fn prometheus(ctx: &Context) -> String {
    let s = snapshot(ctx);
    let t = &s.summary;
    let mut root = MetricFamilies::default();
    process_metrics(&mut root, &s);
    let r = root.sub_registry_with_prefix("upcase");
    let build = Series {
        series: vec![(
            vec![
                ("version".to_string(), env!("CARGO_PKG_VERSION").to_string()),
                ("commit".to_string(), COMMIT.to_string()),
            ],
            gauge_of(1),
        )],
    };
    r.register(
        "build_info",
        "The version and commit this server was built from (always 1)",
        build,
    );
    gauge(r, "connections_active", "TCP connections open now", s.open);
    counter(
        r,
        "connections_accepted",
        "TCP connections accepted",
        t.connections,
    );
    let rejected = Series::by(
        "reason",
        [
            (
                "max_connections",
                counter_of(t.refused - t.refused_per_ip - t.refused_memory),
            ),
            ("max_connections_per_ip", counter_of(t.refused_per_ip)),
            ("memory_budget", counter_of(t.refused_memory)),
        ],
    );
    r.register(
        "connections_rejected",
        "TCP connections refused, by limit",
        rejected,
    );
    let closed = Series::by(
        "reason",
        [
            ("line_too_long", counter_of(t.lines_too_long)),
            ("idle_timeout", counter_of(t.idle_timeouts)),
            ("idle_at_capacity", counter_of(t.idle_evictions)),
            ("error", counter_of(t.failed)),
        ],
    );
    r.register(
        "connections_closed_by_server",
        "TCP connections the server ended early, by reason (error: a failure on the server's side)",
        closed,
    );
    let by_client = Series::by(
        "reason",
        [
            ("reset", counter_of(t.client_resets)),
            ("health_check", counter_of(t.health_checks)),
        ],
    );
    r.register(
        "connections_closed_by_client",
        "TCP connections the client ended abnormally: reset or abandoned after sending \
         (reset), or closed without sending a byte, as a balancer's health check does \
         (health_check)",
        by_client,
    );
    counter(r, "lines", "TCP lines answered", t.lines);
    counter(
        r,
        "received_bytes",
        "Bytes received over TCP and UDP",
        t.bytes_in,
    );
    counter(r, "sent_bytes", "Bytes sent over TCP and UDP", t.bytes_out);
    let handshakes = Series {
        series: Handshake::ALL
            .iter()
            .map(|&outcome| {
                let labels = match outcome.reason() {
                    None => vec![("result".to_string(), "ok".to_string())],
                    Some(reason) => vec![
                        ("result".to_string(), "failed".to_string()),
                        ("reason".to_string(), reason.to_string()),
                    ],
                };
                (labels, counter_of(t.handshakes(outcome)))
            })
            .collect(),
    };
    r.register(
        "tls_handshakes",
        "TLS handshakes, by result (failed: by reason: alert, bad_message, incompatible, \
         closed by the client, timeout or closed by the server, other)",
        handshakes,
    );
    if let Some(certificates) = ctx.certificates.get() {
        gauge(
            r,
            "tls_certificate_expiry_seconds",
            "The --tls certificate's notAfter, as unix time",
            u64::try_from(certificates.not_after()).unwrap_or(0),
        );
    }
    let datagrams = Series::by(
        "result",
        DatagramOutcome::ALL
            .iter()
            .map(|&outcome| (outcome.label(), counter_of(t.datagrams_with(outcome)))),
    );
    r.register(
        "udp_datagrams",
        "UDP datagrams received, by what became of them",
        datagrams,
    );
    let workers = Series::by(
        "state",
        [("busy", gauge_of(s.busy)), ("idle", gauge_of(s.idle))],
    );
    r.register("workers", "Pool workers, by state", workers);
    gauge(
        r,
        "queued_connections",
        "Connections accepted and waiting for a worker (fixed-pool)",
        s.queued,
    );
    gauge(
        r,
        "parked_connections",
        "Connections parked on a poller, holding no thread (pool)",
        s.parked,
    );
    gauge(
        r,
        "connection_threads",
        "Threads serving one connection each (thread-per-connection)",
        s.connection_threads,
    );
    counter(
        r,
        "event_loop_wakeups",
        "Event-loop poller wake-ups (pool)",
        s.wakeups,
    );
    counter(
        r,
        "event_loop_events",
        "Readiness events those wake-ups brought (pool)",
        s.events,
    );
    counter(
        r,
        "event_loop_restarts",
        "Event loops restarted after a panic (pool)",
        t.event_loop_restarts,
    );
    counter(
        r,
        "log_lines_dropped",
        "Log lines dropped because stderr was not being read",
        crate::log_sink::lines_dropped(),
    );
    gauge(
        r,
        "draining",
        "1 while shutting down (answering what was received)",
        u64::from(s.draining),
    );
    gauge(r, "open_fds", "Open file descriptors", s.process.fds);
    gauge(
        r,
        "threads",
        "Threads of the server process",
        s.process.threads,
    );
    gauge(
        r,
        "resident_memory_bytes",
        "Resident memory",
        s.process.rss_kib * 1024,
    );
    let mut text = String::new();
    if prometheus_text::encode(&mut text, &root).is_err() {
        text.clear();
    }
    text
}
