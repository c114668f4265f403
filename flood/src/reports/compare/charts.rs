//! The comparison's charts: throughput, the slowest client, p99 latency,
//! idle clients and the carriers. A model's run that left clients
//! unanswered is drawn apart, as a labelled red cross, never on its line.

use super::{ModelResults, Ping, Plan};
use crate::reports::chart::{self, Axes, Point, Series};
use crate::reports::transports::TransportCost;
use std::path::Path;

fn model_points(results: &[ModelResults], point: impl Fn(&Ping) -> Point) -> Vec<Series> {
    results
        .iter()
        .map(|r| Series {
            name: r.model.name().to_string(),
            points: r.ping.iter().map(&point).collect(),
        })
        .collect()
}

fn starved_mark(p: &Ping) -> String {
    format!("{} of {} never answered", p.starved, p.clients)
}

/// Draws every chart the sections show into `out`.
pub(super) fn draw_all(
    out: &Path,
    plan: &Plan,
    results: &[ModelResults],
    transports: &[TransportCost],
) -> Result<(), String> {
    let clients: Vec<f64> = plan.ping_clients.iter().map(|&c| c as f64).collect();
    let axes = |y_label| Axes {
        x_label: "concurrent clients",
        y_label,
        x_ticks: &clients,
    };
    chart::line_chart(
        &out.join("throughput.svg"),
        "Ping-pong: round trips per second (red: clients left unanswered)",
        &axes("round trips per second, all clients"),
        &model_points(results, |p| match p.starved {
            0 => Point::at(p.clients as f64, p.per_sec),
            _ => Point::marked(p.clients as f64, p.per_sec, starved_mark(p)),
        }),
    )?;
    chart::line_chart(
        &out.join("slowest_client.svg"),
        "Ping-pong: the slowest client's round trips per second",
        &axes("round trips per second, slowest client"),
        &model_points(results, |p| match p.starved {
            0 => Point::at(p.clients as f64, p.slowest_per_sec),
            _ => Point::marked(p.clients as f64, 0.0, starved_mark(p)),
        }),
    )?;
    chart::line_chart(
        &out.join("latency_p99.svg"),
        "Ping-pong: p99 latency of the replies that came",
        &axes("p99 latency (µs)"),
        &model_points(results, |p| match p.starved {
            0 => Point::at(p.clients as f64, p.p99_us as f64),
            _ => Point::marked(p.clients as f64, p.p99_us as f64, starved_mark(p)),
        }),
    )?;
    let idle_counts: Vec<f64> = plan.idle_counts.iter().map(|&n| n.max(1) as f64).collect();
    let idle_series: Vec<Series> = results
        .iter()
        .map(|r| Series {
            name: r.model.name().to_string(),
            points: r
                .idle
                .iter()
                .map(|(n, p50)| match p50 {
                    Some(p) => Point::at((*n).max(1) as f64, *p as f64),
                    None => Point::marked((*n).max(1) as f64, 0.0, "never answered"),
                })
                .collect(),
        })
        .collect();
    chart::line_chart(
        &out.join("idle.svg"),
        "A new client's answer time while N clients sit idle",
        &Axes {
            x_label: "idle connections (0 drawn at 1)",
            y_label: "new client's p50 latency (µs)",
            x_ticks: &idle_counts,
        },
        &idle_series,
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
