//! `upcase-flood compare`: one command that starts the server in every
//! threading model, runs the same workloads against each, measures the
//! carriers of a message (threads vs sockets), and writes a report with
//! tables and charts that a student can read in a minute.

use super::chart::{self, Series};
use super::report::Report;
use super::spawn::ServerProcess;
use super::transports::{self, TransportCost};
use super::{run as flood, Options, Target};
use crate::config::Model;
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What `compare` does.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The `upcase-server` binary to start.
    pub server: PathBuf,
    /// Where `report.md` and the charts go.
    pub out: PathBuf,
    /// A short run (seconds, not minutes), for tests and a first look.
    pub quick: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// The sizes of one comparison run.
struct Plan {
    ping_clients: Vec<usize>,
    idle_counts: Vec<usize>,
    timed: Duration,
    transport_round_trips: u64,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                ping_clients: vec![1, 4, 16],
                idle_counts: vec![0, 100],
                timed: Duration::from_millis(300),
                transport_round_trips: 5_000,
            }
        } else {
            Plan {
                ping_clients: vec![1, 4, 16, 64, 256],
                idle_counts: vec![0, 100, 1000, 5000],
                timed: Duration::from_secs(2),
                transport_round_trips: 100_000,
            }
        }
    }
}

/// One ping-pong measurement.
struct Ping {
    clients: usize,
    per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    /// The longest any client waited for a reply: shows clients that were
    /// made to wait for a worker even when all were answered in the end.
    max_us: u64,
    lost: u64,
}

/// One model's results.
struct ModelResults {
    model: Model,
    ping: Vec<Ping>,
    pipelined_mb_per_sec: f64,
    connections_per_sec: f64,
    /// (idle connections, new client's p50 µs if answered).
    idle: Vec<(usize, Option<u64>)>,
    rss_per_idle_connection: Option<f64>,
}

/// Workers every model is given, so they are compared on equal terms.
const WORKERS: &str = "2";

/// Runs the whole comparison and writes the report. Returns the report's path.
pub fn run(options: &CompareOptions) -> Result<PathBuf, String> {
    // Many idle connections need many descriptors: use the whole allowance.
    crate::net::raise_fd_limit();
    let plan = Plan::new(options.quick);
    let steps = Model::ALL.len() * (plan.ping_clients.len() + plan.idle_counts.len() + 3) + 2;
    let bar = progress_bar(options.progress, steps as u64);
    let mut results = Vec::new();
    for model in Model::ALL {
        results.push(measure_model(model, &plan, options, &bar)?);
    }
    bar.set_message("threads vs sockets");
    let transports = transports::measure_all(plan.transport_round_trips)
        .map_err(|e| format!("measuring the transports: {e}"))?;
    bar.inc(1);
    bar.set_message("udp and tcp under a flood");
    let floods = measure_floods(options, &plan)?;
    bar.inc(1);
    bar.finish_and_clear();
    std::fs::create_dir_all(&options.out)
        .map_err(|e| format!("cannot create {}: {e}", options.out.display()))?;
    draw_charts(&options.out, &results, &transports)?;
    let report = write_report(&plan, options.quick, &results, &transports, &floods);
    let path = options.out.join("report.md");
    std::fs::write(&path, report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn progress_bar(visible: bool, steps: u64) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    ProgressBar::new(steps).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

fn start(options: &CompareOptions, model: Model) -> Result<ServerProcess, String> {
    let args = [
        "--model",
        model.name(),
        "--workers",
        WORKERS,
        "--max-connections",
        "100000",
    ];
    ServerProcess::start(&options.server, &args).map_err(|e| e.to_string())
}

fn flood_or_fail(options: Options) -> Result<Report, String> {
    flood(options).map_err(|e| e.to_string())
}

fn measure_model(
    model: Model,
    plan: &Plan,
    options: &CompareOptions,
    bar: &ProgressBar,
) -> Result<ModelResults, String> {
    let server = start(options, model)?;
    let tcp = Target::Tcp(server.tcp);
    // Clients that a model cannot serve at once wait until the run's
    // deadline, then count as lost: the model's limit, shown as a number.
    let bounded = |duration: Duration| duration + Duration::from_secs(2);
    let mut results = ModelResults {
        model,
        ping: Vec::new(),
        pipelined_mb_per_sec: 0.0,
        connections_per_sec: 0.0,
        idle: Vec::new(),
        rss_per_idle_connection: None,
    };
    for &clients in &plan.ping_clients {
        bar.set_message(format!("{model}: ping-pong, {clients} clients"));
        let report = flood_or_fail(Options {
            target: tcp,
            clients,
            duration: Some(plan.timed),
            timeout: bounded(plan.timed),
            ..Options::default()
        })?;
        results.ping.push(Ping {
            clients,
            per_sec: report.lines_per_sec(),
            p50_us: report.percentile_us(50.0),
            p99_us: report.percentile_us(99.0),
            max_us: report.tally.latency.max(),
            lost: report.tally.lost,
        });
        bar.inc(1);
    }
    bar.set_message(format!("{model}: pipelined throughput"));
    let pipelined = flood_or_fail(Options {
        target: tcp,
        clients: 1,
        pipeline: 256,
        line_bytes: 128,
        duration: Some(plan.timed),
        timeout: bounded(plan.timed),
        ..Options::default()
    })?;
    results.pipelined_mb_per_sec = pipelined.mb_per_sec();
    bar.inc(1);
    bar.set_message(format!("{model}: connection set-up"));
    let churn = flood_or_fail(Options {
        target: tcp,
        clients: 1,
        connect_per_line: true,
        duration: Some(plan.timed),
        timeout: bounded(plan.timed),
        ..Options::default()
    })?;
    results.connections_per_sec = churn.lines_per_sec();
    bar.inc(1);
    drop(server);
    for &idle in &plan.idle_counts {
        bar.set_message(format!("{model}: a new client with {idle} idle ones"));
        // A fresh server each time, so earlier idle clients do not linger.
        let server = start(options, model)?;
        // A model that stops accepting cannot even take all the idle
        // connections (the listen backlog fills up): not answered either.
        let answered_p50 = flood(Options {
            target: Target::Tcp(server.tcp),
            clients: 1,
            lines: 50,
            idle,
            timeout: Duration::from_secs(3),
            ..Options::default()
        })
        .ok()
        .filter(|report| report.tally.ok > 0)
        .map(|report| report.percentile_us(50.0));
        results.idle.push((idle, answered_p50));
        bar.inc(1);
    }
    bar.set_message(format!("{model}: memory per idle connection"));
    let server = start(options, model)?;
    results.rss_per_idle_connection = rss_per_idle_connection(&server, plan);
    bar.inc(1);
    Ok(results)
}

/// Opens idle connections and divides the server's memory growth by their
/// number. Models that do not accept them all at once report what they hold.
fn rss_per_idle_connection(server: &ServerProcess, plan: &Plan) -> Option<f64> {
    let count = plan.idle_counts.last().copied().unwrap_or(100).max(100);
    let before = server.rss_kib()?;
    // A model that stops accepting fills its listen backlog, and then a
    // connect would wait for SYN retries: stop at the first that fails.
    let idle: Vec<TcpStream> = (0..count)
        .map_while(|_| TcpStream::connect_timeout(&server.tcp, Duration::from_secs(1)).ok())
        .collect();
    // Let the server accept them: its memory stops changing.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = server.rss_kib()?;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        let now = server.rss_kib()?;
        if now == last {
            break;
        }
        last = now;
    }
    let grown = last.saturating_sub(before) as f64 * 1024.0;
    let per_connection = grown / idle.len().max(1) as f64;
    drop(idle);
    Some(per_connection)
}

/// UDP's loss under a flood, with TCP's (none) beside it.
fn measure_floods(options: &CompareOptions, plan: &Plan) -> Result<Vec<Report>, String> {
    let server = start(options, Model::Pool)?;
    let mut reports = Vec::new();
    for target in [Target::Udp(server.udp), Target::Tcp(server.tcp)] {
        reports.push(flood_or_fail(Options {
            target,
            clients: 4,
            pipeline: 64,
            duration: Some(plan.timed),
            timeout: plan.timed + Duration::from_secs(5),
            ..Options::default()
        })?);
    }
    Ok(reports)
}

fn draw_charts(
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

fn write_report(
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
