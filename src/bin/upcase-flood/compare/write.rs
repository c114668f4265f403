//! What a comparison leaves behind: `report.md`, its tables, and the SVG
//! charts it shows. Kept apart from the measuring so that the wording and
//! layout of the report can change without touching how anything is measured.

use super::{ModelResults, Plan, WORKERS};
use crate::chart::{self, Series};
use crate::report::Report;
use crate::transports::TransportCost;
use std::fmt::Write as _;
use std::path::Path;

/// Draws the throughput, p99, idle and carrier charts into `out`.
pub(super) fn draw_charts(
    out: &Path,
    results: &[ModelResults],
    transports: &[TransportCost],
) -> Result<(), String> {
    let per_model = |value: &dyn Fn(&ModelResults) -> Vec<(f64, f64)>| -> Vec<Series> {
        results
            .iter()
            .map(|r| Series {
                name: r.model.name().to_string(),
                points: value(r),
            })
            .collect()
    };
    chart::line_chart(
        &out.join("throughput.svg"),
        "Ping-pong throughput by model",
        "concurrent clients",
        "round trips per second",
        &per_model(&|r| {
            r.ping
                .iter()
                .map(|p| (p.clients as f64, p.per_sec))
                .collect()
        }),
    )?;
    chart::line_chart(
        &out.join("latency_p99.svg"),
        "Ping-pong p99 latency by model",
        "concurrent clients",
        "p99 latency (µs)",
        &per_model(&|r| {
            r.ping
                .iter()
                .filter(|p| p.lost == 0)
                .map(|p| (p.clients as f64, p.p99_us as f64))
                .collect()
        }),
    )?;
    chart::line_chart(
        &out.join("idle.svg"),
        "A new client's answer time while N clients sit idle",
        "idle connections (0 drawn at 1; no point: never answered)",
        "new client's p50 latency (µs)",
        &per_model(&|r| {
            r.idle
                .iter()
                .filter_map(|(n, p50)| p50.map(|p| ((*n).max(1) as f64, p as f64)))
                .collect()
        }),
    )?;
    let bars: Vec<(String, f64)> = transports
        .iter()
        .map(|t| (t.carrier.to_string(), t.nanos_per_round_trip / 1000.0))
        .collect();
    chart::bar_chart(
        &out.join("transports.svg"),
        "Cost of one request/reply, by carrier",
        "µs per round trip",
        &bars,
    )
}

/// The text of `report.md`.
pub(super) fn write_report(
    plan: &Plan,
    quick: bool,
    results: &[ModelResults],
    transports: &[TransportCost],
    floods: &[Report],
) -> String {
    let mut md = String::new();
    let cpus = num_cpus::get();
    let _ = writeln!(md, "# upcase: threading models and transports compared\n");
    let _ = writeln!(
        md,
        "Measured by `upcase-flood compare{}` on a machine with {cpus} CPUs; every server \
         ran with `--workers {WORKERS}`, on 127.0.0.1. Each timed run lasted {:.1} s. \
         Every reply was checked byte for byte.\n",
        if quick { " --quick" } else { "" },
        plan.timed.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "## Ping-pong: round trips per second (p50 and p99 latency; the longest wait)\n"
    );
    let _ = writeln!(
        md,
        "![throughput](throughput.svg) ![p99](latency_p99.svg)\n"
    );
    let header: Vec<String> = plan
        .ping_clients
        .iter()
        .map(|c| format!("{c} clients"))
        .collect();
    table_header(&mut md, "model", &header);
    for r in results {
        let cells: Vec<String> = r
            .ping
            .iter()
            .map(|p| {
                if p.lost > 0 {
                    format!("{:.0} ({} clients never answered)", p.per_sec, p.lost)
                } else {
                    format!(
                        "{:.0} (p50 {} µs, p99 {} µs; {:.1} ms)",
                        p.per_sec,
                        p.p50_us,
                        p.p99_us,
                        p.max_us as f64 / 1000.0
                    )
                }
            })
            .collect();
        table_row(&mut md, r.model.name(), &cells);
    }
    let _ = writeln!(md, "\n## Throughput and connection set-up\n");
    table_header(
        &mut md,
        "model",
        &[
            "pipelined, 1 connection (MB/s)".into(),
            "connect-per-line (connections/s)".into(),
            "memory per idle connection".into(),
        ],
    );
    for r in results {
        let accepts_idle = r.idle.last().is_some_and(|(_, p50)| p50.is_some());
        let memory = match r.rss_per_idle_connection {
            Some(bytes) if accepts_idle => format!("{:.1} KiB", bytes / 1024.0),
            Some(_) => "— (not accepted: they wait in the listen backlog)".into(),
            None => "n/a".into(),
        };
        table_row(
            &mut md,
            r.model.name(),
            &[
                format!("{:.1}", r.pipelined_mb_per_sec),
                format!("{:.0}", r.connections_per_sec),
                memory,
            ],
        );
    }
    let _ = writeln!(
        md,
        "\n## Is a new client answered while N clients sit idle?\n"
    );
    let _ = writeln!(md, "![idle](idle.svg)\n");
    let header: Vec<String> = plan
        .idle_counts
        .iter()
        .map(|n| format!("N = {n}"))
        .collect();
    table_header(&mut md, "model", &header);
    for r in results {
        let cells: Vec<String> = r
            .idle
            .iter()
            .map(|(_, p50)| p50.map_or("**never answered**".into(), |p| format!("yes, p50 {p} µs")))
            .collect();
        table_row(&mut md, r.model.name(), &cells);
    }
    let _ = writeln!(
        md,
        "\n## Threads vs sockets: one request/reply, by carrier\n"
    );
    let _ = writeln!(md, "![transports](transports.svg)\n");
    table_header(
        &mut md,
        "carrier",
        &["µs per round trip".into(), "round trips/s".into()],
    );
    for t in transports {
        table_row(
            &mut md,
            t.carrier,
            &[
                format!("{:.2}", t.nanos_per_round_trip / 1000.0),
                format!("{:.0}", t.per_sec()),
            ],
        );
    }
    let _ = writeln!(
        md,
        "\n## Under a flood (4 clients, 64 messages in flight each)\n"
    );
    table_header(
        &mut md,
        "transport",
        &[
            "sent".into(),
            "answered".into(),
            "lost".into(),
            "reordered".into(),
            "p99 (µs)".into(),
        ],
    );
    for f in floods {
        let t = &f.tally;
        let lost_pct = 100.0 * t.lost as f64 / t.sent.max(1) as f64;
        table_row(
            &mut md,
            f.transport,
            &[
                t.sent.to_string(),
                t.ok.to_string(),
                format!("{} ({lost_pct:.1}%)", t.lost),
                t.reordered.to_string(),
                f.percentile_us(99.0).to_string(),
            ],
        );
    }
    let _ = writeln!(md, "\n## What it shows\n");
    let _ = writeln!(
        md,
        "- `fixed-pool` and `iterative` stop answering new clients once every worker (or \
         the one thread) is held by a connection: the Rust Book pool's limit.\n\
         - `pool` answers new clients however many sit idle, at a few hundred bytes per \
         idle connection; `thread-per-connection` does too, at the price of a thread each.\n\
         - A channel between threads is the cheapest carrier; every socket adds the kernel. \
         UDP is not much cheaper than TCP per message on one machine, and under a flood \
         it drops what the receiver cannot keep up with, while TCP slows the sender down."
    );
    md
}

fn table_header(md: &mut String, first: &str, columns: &[String]) {
    let _ = writeln!(md, "| {first} | {} |", columns.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(columns.len()));
}

fn table_row(md: &mut String, first: &str, cells: &[String]) {
    let _ = writeln!(md, "| {first} | {} |", cells.join(" | "));
}
