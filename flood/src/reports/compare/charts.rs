//! The comparison's charts: ping-pong throughput, the slowest client, p99
//! latency, idle clients, throughput and connection set-up per model, TLS
//! as a share of plain, the carriers, and the flood. Every point is a
//! median with its range; a run that left clients unanswered is drawn in a
//! band outside the plotted range, never at a value. A model keeps its
//! colour and marker on every chart (its place in `Model::ALL`).

use super::measure::{Carrier, Flooded, ModelResults, Paired, Ping, TlsResults};
use super::spread::Spread;
use super::Plan;
use crate::error::ReportError;
use crate::reports::chart::{self, Axes, Band, Bar, Point, Series};
use std::path::Path;

fn ranged(x: f64, s: &Spread) -> Point {
    Point::ranged(x, s.median, s.min, s.max)
}

fn unanswered(p: &Ping) -> String {
    format!("{} of {} never answered", p.starved, p.clients)
}

fn ping_series(
    results: &[ModelResults],
    band: Band,
    value: impl Fn(&Ping) -> &Spread,
) -> Vec<Series> {
    results
        .iter()
        .map(|r| Series {
            name: r.model.name().to_string(),
            points: r
                .ping
                .iter()
                .map(|p| match p.starved_runs {
                    0 => ranged(p.clients as f64, value(p)),
                    _ => Point::apart(p.clients as f64, band, unanswered(p)),
                })
                .collect(),
        })
        .collect()
}

fn model_bars(results: &[ModelResults], value: impl Fn(&ModelResults) -> &Spread) -> Vec<Bar> {
    results
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let s = value(r);
            Bar {
                name: r.model.name().to_string(),
                value: s.median,
                range: Some((s.min, s.max)),
                color: index,
                note: None,
            }
        })
        .collect()
}

/// Draws every chart the sections show into `out`.
pub(super) fn draw_all(
    out: &Path,
    plan: &Plan,
    results: &[ModelResults],
    carriers: &[Carrier],
    floods: &[Flooded],
) -> Result<(), ReportError> {
    let clients: Vec<f64> = plan.ping_clients.iter().map(|&c| c as f64).collect();
    let axes = |y_label| Axes {
        x_label: "concurrent clients",
        y_label,
        x_ticks: &clients,
    };
    chart::line_chart(
        &out.join("throughput.svg"),
        "Ping-pong: round trips per second, all clients",
        &axes("round trips per second"),
        &ping_series(results, Band::Below, |p| &p.per_sec),
    )?;
    chart::line_chart(
        &out.join("slowest_client.svg"),
        "Ping-pong: the slowest client's round trips per second",
        &axes("round trips per second"),
        &ping_series(results, Band::Below, |p| &p.slowest_per_sec),
    )?;
    chart::line_chart(
        &out.join("latency_p99.svg"),
        "Ping-pong: p99 latency (lower is better)",
        &axes("p99 latency (µs)"),
        &ping_series(results, Band::Above, |p| &p.p99_us),
    )?;
    let idle_counts: Vec<f64> = plan.idle_counts.iter().map(|&n| n as f64).collect();
    let idle_series: Vec<Series> = results
        .iter()
        .map(|r| Series {
            name: r.model.name().to_string(),
            points: r
                .idle
                .iter()
                .map(|i| match (&i.p50_us, i.unanswered_runs) {
                    (Some(p50), 0) => ranged(i.idle as f64, p50),
                    (_, never) => Point::apart(
                        i.idle as f64,
                        Band::Above,
                        format!("never answered in {never} of {} runs", i.runs),
                    ),
                })
                .collect(),
        })
        .collect();
    chart::line_chart(
        &out.join("idle.svg"),
        "A new client's p50 latency while N clients sit idle",
        &Axes {
            x_label: "idle connections",
            y_label: "new client's p50 latency (µs)",
            x_ticks: &idle_counts,
        },
        &idle_series,
    )?;
    chart::bar_chart(
        &out.join("pipelined.svg"),
        "Pipelined throughput on one connection",
        "MB/s",
        &model_bars(results, |r| &r.pipelined_mb_per_sec),
    )?;
    chart::bar_chart(
        &out.join("connections.svg"),
        "Connection set-up: a new connection per line",
        "connections per second",
        &model_bars(results, |r| &r.connections_per_sec),
    )?;
    let bars: Vec<Bar> = carriers
        .iter()
        .enumerate()
        .map(|(index, c)| Bar {
            name: c.name.replace(" (threads)", ""),
            value: c.micros.median,
            range: Some((c.micros.min, c.micros.max)),
            color: index,
            note: Some(" µs".into()),
        })
        .collect();
    chart::bar_chart(
        &out.join("transports.svg"),
        "Cost of one request/reply, by carrier (lower is better)",
        "µs per round trip",
        &bars,
    )?;
    let bars: Vec<Bar> = floods
        .iter()
        .enumerate()
        .flat_map(|(index, f)| {
            let lost = format!("/s, {:.1} % lost", f.lost_pct.median);
            [
                Bar {
                    name: format!("{} sent", f.transport),
                    value: f.sent_per_sec.median,
                    range: Some((f.sent_per_sec.min, f.sent_per_sec.max)),
                    color: index,
                    note: Some("/s".into()),
                },
                Bar {
                    name: format!("{} answered", f.transport),
                    value: f.answered_per_sec.median,
                    range: Some((f.answered_per_sec.min, f.answered_per_sec.max)),
                    color: index,
                    note: Some(lost),
                },
            ]
        })
        .collect();
    chart::bar_chart(
        &out.join("flood.svg"),
        "Under a flood: sent and answered per second",
        "messages per second",
        &bars,
    )
}

/// The TLS section's charts: TLS as a percentage of plain, each
/// repetition's TLS run over the plain run beside it.
pub(super) fn draw_tls(out: &Path, plan: &Plan, results: &[TlsResults]) -> Result<(), ReportError> {
    let clients: Vec<f64> = plan.tls_clients.iter().map(|&c| c as f64).collect();
    let series: Vec<Series> = results
        .iter()
        .map(|r| Series {
            name: r.model.name().to_string(),
            points: r
                .ping
                .iter()
                .map(|(clients, p)| match p.served() {
                    true => ranged(*clients as f64, &p.tls_pct),
                    false => Point::apart(
                        *clients as f64,
                        Band::Below,
                        format!("{} of {clients} never answered", p.starved),
                    ),
                })
                .collect(),
        })
        .collect();
    chart::line_chart(
        &out.join("tls_ping.svg"),
        "Ping-pong over TLS: round trips/s as % of plain",
        &Axes {
            x_label: "concurrent clients",
            y_label: "TLS as % of plain",
            x_ticks: &clients,
        },
        &series,
    )?;
    let bars = |value: fn(&TlsResults) -> &Paired| -> Vec<Bar> {
        results
            .iter()
            .enumerate()
            .map(|(index, r)| {
                let p = value(r);
                // The bar is of the runs that answered every line; the
                // others are named beside it, never drawn as a value.
                let note = match p.starved_runs {
                    0 => " %".to_string(),
                    never => format!(" %, never answered in {never} of {} runs", p.runs),
                };
                Bar {
                    name: r.model.name().to_string(),
                    value: p.tls_pct.median,
                    range: Some((p.tls_pct.min, p.tls_pct.max)),
                    color: index,
                    note: Some(note),
                }
            })
            .collect()
    };
    chart::bar_chart(
        &out.join("tls_bulk.svg"),
        "Bulk over TLS: pipelined MB/s as % of plain",
        "TLS as % of plain",
        &bars(|r| &r.bulk),
    )?;
    chart::bar_chart(
        &out.join("tls_connections.svg"),
        "A new connection per line over TLS: connections/s as % of plain",
        "TLS as % of plain",
        &bars(|r| &r.churn),
    )
}
