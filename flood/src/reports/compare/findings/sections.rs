//! The sections after ping-pong: throughput and memory, idle clients, TLS
//! (its own module), the carriers, and the flood. Every sentence is
//! computed from the numbers.

use super::{clients_phrase, micros, per_sec, ping, ranking, tls, Section, Table};
use crate::reports::compare::measure::{Carrier, Flooded, ModelResults, TlsResults};
use crate::reports::compare::spread::{human, Spread};
use crate::reports::compare::{Plan, PIPELINED_LINES, WORKERS};
use crate::run::Transport;

/// Every section of the report, in order.
pub(in crate::reports::compare) fn sections(
    plan: &Plan,
    results: &[ModelResults],
    tls: &[TlsResults],
    carriers: &[Carrier],
    floods: &[Flooded],
) -> Vec<Section> {
    vec![
        ping::section(plan, results),
        throughput_and_memory(results),
        idle(plan, results),
        tls::section(plan, tls),
        carriers_section(carriers),
        flood(floods),
    ]
}

fn mb_per_sec(value: f64) -> String {
    format!("{} MB/s", human(value))
}

/// Whether the model answered a new client among the most idle ones.
fn accepts_idle(r: &ModelResults) -> bool {
    r.idle.last().is_some_and(|i| i.answered())
}

pub(super) fn throughput_and_memory(results: &[ModelResults]) -> Section {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let memory = match r.rss_per_idle_connection {
                Some(bytes) if accepts_idle(r) => format!("{:.1} KiB", bytes / 1024.0),
                Some(_) => "— (not accepted: they wait in the listen backlog)".into(),
                None => "n/a".into(),
            };
            vec![
                r.model.name().to_string(),
                r.pipelined_mb_per_sec.show(human),
                r.connections_per_sec.show(human),
                memory,
            ]
        })
        .collect();
    let named = |value: fn(&ModelResults) -> Spread| {
        results
            .iter()
            .map(|r| (r.model.name(), value(r)))
            .collect::<Vec<_>>()
    };
    let mut findings = vec![
        format!(
            "Pipelined on one connection: {}",
            ranking(
                named(|r| r.pipelined_mb_per_sec),
                true,
                "moved the most",
                &mb_per_sec
            )
        ),
        format!(
            "A new connection per line: {}",
            ranking(
                named(|r| r.connections_per_sec),
                true,
                "set up the most connections",
                &per_sec
            )
        ),
    ];
    for r in results.iter().filter(|r| accepts_idle(r)) {
        if let Some(bytes) = r.rss_per_idle_connection {
            findings.push(format!(
                "An idle connection costs `{}` about {:.1} KiB of memory.",
                r.model.name(),
                bytes / 1024.0
            ));
        }
    }
    Section {
        title: "Throughput, connection set-up and memory".into(),
        intro: format!(
            "One client keeps {PIPELINED_LINES} lines of 128 bytes in flight (pipelined MB/s); \
             one client opens a new connection for every line (connections/s); what one more \
             idle connection costs: the server's memory growth from a second batch of idle \
             connections, divided by their number (the first batch pays what is allocated \
             once)."
        ),
        charts: vec!["pipelined.svg", "connections.svg"],
        table: Table {
            header: vec![
                "model".into(),
                "pipelined, 1 connection (MB/s)".into(),
                "connect-per-line (connections/s)".into(),
                "memory per idle connection".into(),
            ],
            rows,
        },
        findings,
        limits: vec![
            "One connection uses one of the server's threads: this is not the server's \
             total capacity. The client shares the machine's CPUs with the server; \
             `scripts/bench.sh` pins them apart and checks the load generator against the \
             simplest bulk client."
                .into(),
        ],
    }
}

pub(super) fn idle(plan: &Plan, results: &[ModelResults]) -> Section {
    let header = std::iter::once("model".to_string())
        .chain(plan.idle_counts.iter().map(|n| format!("N = {n}")))
        .collect();
    let rows = results
        .iter()
        .map(|r| {
            std::iter::once(r.model.name().to_string())
                .chain(r.idle.iter().map(|i| match (&i.p50_us, i.unanswered_runs) {
                    (Some(p50), 0) => format!("yes, p50 {}", p50.show(micros)),
                    (_, never) => format!("**never answered** in {never} of {} runs", i.runs),
                }))
                .collect()
        })
        .collect();
    let most = plan.idle_counts.last().copied().unwrap_or(0);
    let (answered, never): (Vec<&ModelResults>, Vec<&ModelResults>) =
        results.iter().partition(|r| accepts_idle(r));
    let names = |rs: &[&ModelResults]| {
        rs.iter()
            .map(|r| format!("`{}`", r.model.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut findings = vec![format!(
        "With {most} clients sitting idle, a new client was answered in every run by {}.",
        if answered.is_empty() {
            "no model".into()
        } else {
            names(&answered)
        }
    )];
    if !never.is_empty() {
        findings.push(format!(
            "{} did not answer it in some run: every worker (or the one thread) was held by \
             an idle connection.",
            names(&never)
        ));
    }
    Section {
        title: "Is a new client answered while N clients sit idle?".into(),
        intro: format!(
            "N connections are opened and left silent; then one more client sends 50 lines \
             and waits at most {:.1} s. A model whose threads are all held by idle clients \
             never answers it.",
            plan.idle_patience.as_secs_f64()
        ),
        charts: vec!["idle.svg"],
        table: Table { header, rows },
        findings,
        limits: vec![format!(
            "Every model was given {WORKERS} workers; more workers move the point where \
             `fixed-pool` stops answering, not the fact that it does."
        )],
    }
}

pub(super) fn carriers_section(carriers: &[Carrier]) -> Section {
    let rows = carriers
        .iter()
        .map(|c| {
            vec![
                c.name.to_string(),
                c.micros.show(|v| format!("{v:.2}")),
                human(1e6 / c.micros.median.max(1e-9)),
            ]
        })
        .collect();
    let find = |prefix: &str| {
        carriers
            .iter()
            .find(|c| c.name.starts_with(prefix))
            .map(|c| (c.name, c.micros))
    };
    let two_decimals = |v: f64| format!("{v:.2} µs");
    let mut findings = Vec::new();
    if let (Some(channel), Some(tcp)) = (find("crossbeam"), find("tcp")) {
        findings.push(format!(
            "Threads against sockets: {}",
            ranking(vec![channel, tcp], false, "was quicker", &two_decimals)
        ));
    }
    if let (Some(udp), Some(tcp)) = (find("udp"), find("tcp")) {
        findings.push(format!(
            "UDP against TCP on loopback, one request at a time: {}",
            ranking(vec![udp, tcp], false, "was quicker", &two_decimals)
        ));
    }
    Section {
        title: "Threads vs sockets: one request/reply, by carrier".into(),
        intro: "The same line, uppercased and sent back, one at a time, over each carrier.".into(),
        charts: vec!["transports.svg"],
        table: Table {
            header: vec![
                "carrier".into(),
                "µs per round trip".into(),
                "round trips/s".into(),
            ],
            rows,
        },
        findings,
        limits: vec![
            "On one machine no carrier leaves the host; on a network the wire adds its own \
             latency to every socket row."
                .into(),
        ],
    }
}

pub(super) fn flood(floods: &[Flooded]) -> Section {
    let rows = floods
        .iter()
        .map(|f| {
            vec![
                f.transport.to_string(),
                f.sent_per_sec.show(human),
                f.answered_per_sec.show(human),
                f.lost_pct.show(|v| format!("{v:.1} %")),
                human(f.reordered.median),
                f.p99_us.show(human),
            ]
        })
        .collect();
    let mut findings = Vec::new();
    for f in floods {
        let lost = f.lost_pct.show(|v| format!("{v:.1} %"));
        findings.push(
            match (f.transport, f.lost_pct.max == 0.0, f.lost_pct.min > 0.0) {
                (Transport::Udp, true, _) => {
                    "UDP: no datagram went unanswered in any run (loopback's \
                                 queues kept up)."
                        .into()
                }
                (Transport::Udp, _, true) => format!(
                    "UDP: {lost} of the datagrams got no reply in every run: a queue overflowed, \
                 and UDP neither resends nor slows the sender."
                ),
                (Transport::Udp, _, _) => {
                    format!("UDP: {lost} of the datagrams got no reply (some runs none).")
                }
                (_, true, _) => format!(
                    "TCP: no line lost in any run ({} answered): TCP slows the sender down \
                 instead of dropping.",
                    per_sec(f.answered_per_sec.median)
                ),
                (_, _, _) => format!("TCP: {lost} of the lines lost."),
            },
        );
    }
    let sent: Vec<(&str, Spread)> = floods
        .iter()
        .map(|f| (f.transport.name(), f.sent_per_sec))
        .collect();
    if sent.len() == 2 {
        findings.push(format!(
            "Sending pace: {}",
            ranking(sent, true, "sent the most", &per_sec)
        ));
    }
    Section {
        title: format!(
            "Under a flood: {}, 64 messages in flight each",
            clients_phrase(4)
        ),
        intro: "Each client keeps 64 lines (TCP) or datagrams (UDP) in flight, on the default \
                model. A datagram without a reply for 500 ms counts as lost; it stops holding \
                a send slot after 10 ms. Counts are per second of the timed window."
            .into(),
        charts: vec!["flood.svg"],
        table: Table {
            header: vec![
                "transport".into(),
                "sent/s".into(),
                "answered/s".into(),
                "lost".into(),
                "reordered".into(),
                "p99 (µs)".into(),
            ],
            rows,
        },
        findings,
        limits: vec![
            "The load generator sends both: its own pace is part of each row.".into(),
            "Loopback loses datagrams only to full queues, never on a wire: `upcase-flood lab` \
             measures both transports with real packet loss."
                .into(),
        ],
    }
}
