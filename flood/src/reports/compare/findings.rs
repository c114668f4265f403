//! What a comparison found: the report's sections — each a table, the
//! charts it shows (drawn by [`super::charts`]), sentences *computed from
//! this run's numbers*, and what the measurement cannot show on this
//! machine. The
//! same sections become `report.md` and `index.html` ([`super::render`]).
//!
//! One rule runs through it: a model that left clients unanswered is never
//! ranked by its throughput. Its points are drawn apart and labelled, and
//! the sentences compare only models that served every client.

use super::{ModelResults, Ping, Plan, PIPELINED_LINES, WORKERS};
use crate::report::Report;
use crate::reports::transports::TransportCost;

/// Results closer than this are called "within noise" (these machines
/// vary by more than 10 % between runs).
const NOISE: f64 = 0.10;

/// A table: a header row and rows of cells.
pub(super) struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// One section of the report.
pub(super) struct Section {
    pub title: String,
    /// What is measured and how, before the numbers.
    pub intro: String,
    /// SVG files (in the output folder) this section shows.
    pub charts: Vec<&'static str>,
    pub table: Table,
    /// Sentences computed from the numbers above.
    pub findings: Vec<String>,
    /// What this measurement cannot show here.
    pub limits: Vec<String>,
}

/// The opening: how the run was made, and what each model and carrier is.
pub(super) fn preface(plan: &Plan, quick: bool) -> Vec<String> {
    vec![
        format!(
            "Measured by `upcase-flood compare{}` on a machine with {} CPUs; every server ran \
             with `--workers {WORKERS}` on 127.0.0.1, and each timed run lasted {:.1} s. Every \
             reply was checked byte for byte. Absolute numbers vary 2–3× between machines and \
             runs; compare within one run.",
            if quick { " --quick" } else { "" },
            num_cpus::get(),
            plan.timed.as_secs_f64()
        ),
        "**pool** (the default): a fixed set of worker threads, each with a readiness poller; \
         a connection is served only while it has input, and an idle one is parked on the \
         poller, holding no thread."
            .into(),
        "**fixed-pool**: the Rust Book's thread pool exactly: a connection holds one worker \
         for its whole life, so with 2 workers a third client waits."
            .into(),
        "**thread-per-connection**: one operating-system thread per client.".into(),
        "**iterative**: one thread serves one client at a time, the lecture's first server.".into(),
        "**Carriers**: a crossbeam channel carries a message between two threads of one \
         process; a Unix domain socket, TCP and UDP loopback carry it between sockets through \
         the kernel."
            .into(),
    ]
}

/// Every section of the report, in order.
pub(super) fn sections(
    plan: &Plan,
    results: &[ModelResults],
    transports: &[TransportCost],
    floods: &[Report],
) -> Vec<Section> {
    vec![
        ping_pong(plan, results),
        throughput_and_memory(results),
        idle(plan, results),
        carriers(transports),
        flood(floods),
    ]
}

/// "1 client", "16 clients".
fn clients_phrase(clients: usize) -> String {
    format!(
        "{clients} {}",
        if clients == 1 { "client" } else { "clients" }
    )
}

fn within_noise(a: f64, b: f64) -> bool {
    a.max(b) > 0.0 && (a - b).abs() / a.max(b) < NOISE
}

fn ping_pong(plan: &Plan, results: &[ModelResults]) -> Section {
    let header = std::iter::once("model".to_string())
        .chain(plan.ping_clients.iter().map(|&c| clients_phrase(c)))
        .collect();
    let rows = results
        .iter()
        .map(|r| {
            std::iter::once(r.model.name().to_string())
                .chain(r.ping.iter().map(|p| {
                    if p.starved > 0 {
                        format!(
                            "**{} of {} never answered** ({:.0}/s from the others)",
                            p.starved, p.clients, p.per_sec
                        )
                    } else {
                        format!(
                            "{:.0}/s; slowest client {:.0}/s; p50 {} µs, p99 {} µs",
                            p.per_sec, p.slowest_per_sec, p.p50_us, p.p99_us
                        )
                    }
                }))
                .collect()
        })
        .collect();
    let mut findings = Vec::new();
    for (index, &clients) in plan.ping_clients.iter().enumerate() {
        fn at(r: &ModelResults, index: usize) -> Option<(&'static str, &Ping)> {
            r.ping.get(index).map(|p| (r.model.name(), p))
        }
        let mut served: Vec<_> = results
            .iter()
            .filter_map(|r| at(r, index))
            .filter(|(_, p)| p.starved == 0)
            .collect();
        served.sort_by(|a, b| b.1.per_sec.total_cmp(&a.1.per_sec));
        let starving: Vec<String> = results
            .iter()
            .filter_map(|r| at(r, index))
            .filter(|(_, p)| p.starved > 0)
            .map(|(name, p)| format!("`{name}` left {} of {clients} unanswered", p.starved))
            .collect();
        let at_n = format!("At {}", clients_phrase(clients));
        let mut sentence = match served.as_slice() {
            [] => format!("{at_n} no model served every client."),
            [(best, p)] => format!(
                "{at_n} only `{best}` served every client ({:.0}/s).",
                p.per_sec
            ),
            [(best, p), (second, q), ..] if within_noise(p.per_sec, q.per_sec) => format!(
                "{at_n} `{best}` ({:.0}/s) and `{second}` ({:.0}/s) served every client and \
                 are within noise of each other.",
                p.per_sec, q.per_sec
            ),
            [(best, p), (second, q), ..] => format!(
                "{at_n} `{best}` served every client fastest ({:.0}/s, {:.1}× `{second}`).",
                p.per_sec,
                p.per_sec / q.per_sec.max(1e-9)
            ),
        };
        if !starving.is_empty() {
            sentence.push_str(&format!(
                " {} during the run, so {} throughput is not a ranking.",
                starving.join("; "),
                if starving.len() == 1 { "its" } else { "their" }
            ));
        }
        findings.push(sentence);
    }
    Section {
        title: "Ping-pong: every client sends a line and waits for its reply".into(),
        intro: format!(
            "N clients each send a line, wait for the reply, and repeat, for {:.1} s. The table \
             gives the round trips per second of all clients together, of the slowest client, \
             and the p50/p99 latency; a client that got no reply inside the run is counted as \
             never answered.",
            plan.timed.as_secs_f64()
        ),
        charts: vec!["throughput.svg", "slowest_client.svg", "latency_p99.svg"],
        table: Table { header, rows },
        findings,
        limits: vec![
            "The load generator runs on the same CPUs as the server: at many clients it is \
             part of what is measured."
                .into(),
            "Loopback has one path and never loses a packet; see `upcase-flood lab` for a \
             lossy link."
                .into(),
        ],
    }
}

fn throughput_and_memory(results: &[ModelResults]) -> Section {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let accepts_idle = r.idle.last().is_some_and(|(_, p50)| p50.is_some());
            let memory = match r.rss_per_idle_connection {
                Some(bytes) if accepts_idle => format!("{:.1} KiB", bytes / 1024.0),
                Some(_) => "— (not accepted: they wait in the listen backlog)".into(),
                None => "n/a".into(),
            };
            vec![
                r.model.name().to_string(),
                format!("{:.1}", r.pipelined_mb_per_sec),
                format!("{:.0}", r.connections_per_sec),
                memory,
            ]
        })
        .collect();
    let mut findings = Vec::new();
    let memory: Vec<(&str, f64)> = results
        .iter()
        .filter(|r| r.idle.last().is_some_and(|(_, p50)| p50.is_some()))
        .filter_map(|r| r.rss_per_idle_connection.map(|b| (r.model.name(), b)))
        .collect();
    for (name, bytes) in &memory {
        findings.push(format!(
            "An idle connection costs `{name}` about {:.1} KiB of memory.",
            bytes / 1024.0
        ));
    }
    if let Some(best) = results
        .iter()
        .max_by(|a, b| a.pipelined_mb_per_sec.total_cmp(&b.pipelined_mb_per_sec))
    {
        findings.push(format!(
            "Pipelined on one connection, `{}` moved the most: {:.1} MB/s.",
            best.model.name(),
            best.pipelined_mb_per_sec
        ));
    }
    Section {
        title: "Throughput, connection set-up and memory".into(),
        intro: format!(
            "One client keeps {PIPELINED_LINES} lines of 128 bytes in flight (pipelined MB/s); \
             one client opens a new connection for every line (connections/s); the server's \
             memory growth divided by the idle connections it holds."
        ),
        charts: vec![],
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

fn idle(plan: &Plan, results: &[ModelResults]) -> Section {
    let header = std::iter::once("model".to_string())
        .chain(plan.idle_counts.iter().map(|n| format!("N = {n}")))
        .collect();
    let rows = results
        .iter()
        .map(|r| {
            std::iter::once(r.model.name().to_string())
                .chain(r.idle.iter().map(|(_, p50)| {
                    p50.map_or("**never answered**".into(), |p| format!("yes, p50 {p} µs"))
                }))
                .collect()
        })
        .collect();
    let most = plan.idle_counts.last().copied().unwrap_or(0);
    let (answered, never): (Vec<&ModelResults>, Vec<&ModelResults>) = results
        .iter()
        .partition(|r| r.idle.last().is_some_and(|(_, p50)| p50.is_some()));
    let names = |rs: &[&ModelResults]| {
        rs.iter()
            .map(|r| format!("`{}`", r.model.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut findings = vec![format!(
        "With {most} clients sitting idle, a new client was answered by {}.",
        if answered.is_empty() {
            "no model".into()
        } else {
            names(&answered)
        }
    )];
    if !never.is_empty() {
        findings.push(format!(
            "{} never answered it: every worker (or the one thread) was held by an idle \
             connection.",
            names(&never)
        ));
    }
    Section {
        title: "Is a new client answered while N clients sit idle?".into(),
        intro: "N connections are opened and left silent; then one more client sends 50 lines. \
                A model whose threads are all held by idle clients never answers it."
            .into(),
        charts: vec!["idle.svg"],
        table: Table { header, rows },
        findings,
        limits: vec![format!(
            "Every model was given {WORKERS} workers; more workers move the point where \
             `fixed-pool` stops answering, not the fact that it does."
        )],
    }
}

fn carriers(transports: &[TransportCost]) -> Section {
    let rows = transports
        .iter()
        .map(|t| {
            vec![
                t.carrier.to_string(),
                format!("{:.2}", t.nanos_per_round_trip / 1000.0),
                format!("{:.0}", t.per_sec()),
            ]
        })
        .collect();
    let cost = |prefix: &str| {
        transports
            .iter()
            .find(|t| t.carrier.starts_with(prefix))
            .map(|t| t.nanos_per_round_trip / 1000.0)
    };
    let mut findings = Vec::new();
    if let (Some(channel), Some(tcp)) = (cost("crossbeam"), cost("tcp")) {
        findings.push(format!(
            "A round trip between two threads over a channel took {channel:.2} µs; over TCP \
             loopback {tcp:.2} µs, {:.1}× as long: every socket message goes through the kernel.",
            tcp / channel.max(1e-9)
        ));
    }
    if let (Some(udp), Some(tcp)) = (cost("udp"), cost("tcp")) {
        findings.push(if within_noise(udp, tcp) {
            format!(
                "UDP ({udp:.2} µs) and TCP ({tcp:.2} µs) loopback are within noise of each other."
            )
        } else {
            format!(
                "UDP loopback took {udp:.2} µs and TCP {tcp:.2} µs per round trip ({:.2}×).",
                udp / tcp.max(1e-9)
            )
        });
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

fn flood(floods: &[Report]) -> Section {
    let rows = floods
        .iter()
        .map(|f| {
            let t = &f.tally;
            vec![
                f.transport.to_string(),
                t.sent.to_string(),
                t.ok.to_string(),
                format!("{} ({:.1} %)", t.lost, f.loss_pct()),
                t.reordered.to_string(),
                f.percentile_us(99.0).to_string(),
            ]
        })
        .collect();
    let mut findings = Vec::new();
    for f in floods {
        findings.push(match f.transport {
            "udp" => format!(
                "UDP: {:.1} % of {} datagrams got no reply — the receiver's queue overflowed, and \
                 UDP does not resend or slow the sender.",
                f.loss_pct(),
                f.tally.sent
            ),
            _ => format!(
                "TCP: {} of {} lines answered, {} lost — TCP slows the sender down instead of \
                 dropping.",
                f.tally.ok, f.tally.sent, f.tally.lost
            ),
        });
    }
    Section {
        title: "Under a flood: 4 clients, 64 messages in flight each".into(),
        intro: "Each client keeps 64 lines (TCP) or datagrams (UDP) in flight. A datagram \
                without a reply for 500 ms counts as lost; it stops holding a send slot after \
                10 ms, so both transports send at the same pace."
            .into(),
        charts: vec![],
        table: Table {
            header: vec![
                "transport".into(),
                "sent".into(),
                "answered".into(),
                "lost".into(),
                "reordered".into(),
                "p99 (µs)".into(),
            ],
            rows,
        },
        findings,
        limits: vec![
            "The counts are the load generator's: how fast it sends limits both rows, so the \
             rows compare loss, not the transports' speed."
                .into(),
            "Loopback loses datagrams only to full queues, never on a wire: `upcase-flood lab` \
             measures both transports with real packet loss."
                .into(),
        ],
    }
}
