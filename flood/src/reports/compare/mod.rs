//! `upcase-flood compare`: one command that starts the server in every
//! threading model, runs the same workloads against each, measures the
//! carriers of a message (threads vs sockets), and writes a report with
//! tables and charts that a student can read in a minute.
//!
//! This file measures; `findings` turns the results into sections (tables,
//! charts and sentences computed from the numbers), and `render` writes them
//! as `report.md` and a self-contained `index.html`.

mod charts;
mod findings;
mod render;

use crate::flood::run as flood;
use crate::report::Report;
use crate::reports::transports;
use crate::run::{Options, Target};
use crate::server_process::ServerProcess;
use indicatif::{ProgressBar, ProgressStyle};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use upcase::config::Model;

/// Lines one client keeps in flight for the throughput column: enough
/// (512 KiB of 128-byte lines) that the client never waits on a round
/// trip, so the column measures the server.
pub const PIPELINED_LINES: usize = 4096;

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
    /// Round trips per second inside the timed window, all clients.
    per_sec: f64,
    /// The slowest client's round trips per second inside the window.
    slowest_per_sec: f64,
    /// Clients that got no reply at all inside the window.
    starved: usize,
    p50_us: u64,
    p99_us: u64,
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
    upcase::process_stats::raise_fd_limit();
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
    charts::draw_all(&options.out, &plan, &results, &transports)?;
    let sections = findings::sections(&plan, &results, &transports, &floods);
    let preface = findings::preface(&plan, options.quick);
    let write = |name: &str, text: String| {
        let path = options.out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok::<_, String>(path)
    };
    write(
        "index.html",
        render::html(&options.out, &preface, &sections),
    )?;
    write("report.md", render::markdown(&preface, &sections))
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
    let ping = measure_ping_pong(model, Target::Tcp(server.tcp), plan, bar)?;
    let (pipelined_mb_per_sec, connections_per_sec) =
        measure_throughput(model, Target::Tcp(server.tcp), plan, bar)?;
    drop(server);
    let idle = measure_idle(model, plan, options, bar)?;
    bar.set_message(format!("{model}: memory per idle connection"));
    let server = start(options, model)?;
    let rss_per_idle_connection = rss_per_idle_connection(&server, plan);
    bar.inc(1);
    Ok(ModelResults {
        model,
        ping,
        pipelined_mb_per_sec,
        connections_per_sec,
        idle,
        rss_per_idle_connection,
    })
}

/// Clients that a model cannot serve at once wait until the run's deadline
/// (then count as lost): a model's limit, shown as a number.
fn bounded(duration: Duration) -> Duration {
    duration + Duration::from_secs(2)
}

/// Ping-pong at every client count of the plan.
fn measure_ping_pong(
    model: Model,
    tcp: Target,
    plan: &Plan,
    bar: &ProgressBar,
) -> Result<Vec<Ping>, String> {
    let mut ping = Vec::new();
    for &clients in &plan.ping_clients {
        bar.set_message(format!("{model}: ping-pong, {clients} clients"));
        let report = flood_or_fail(Options {
            target: tcp,
            clients,
            duration: Some(plan.timed),
            timeout: bounded(plan.timed),
            ..Options::default()
        })?;
        ping.push(Ping {
            clients,
            per_sec: report.window_rate(),
            slowest_per_sec: report.slowest_client_rate(),
            starved: report.starved_clients(),
            p50_us: report.percentile_us(50.0),
            p99_us: report.percentile_us(99.0),
        });
        bar.inc(1);
    }
    Ok(ping)
}

/// Pipelined MB/s on one connection, and connections per second.
fn measure_throughput(
    model: Model,
    tcp: Target,
    plan: &Plan,
    bar: &ProgressBar,
) -> Result<(f64, f64), String> {
    bar.set_message(format!("{model}: pipelined throughput"));
    let pipelined = flood_or_fail(Options {
        target: tcp,
        clients: 1,
        pipeline: PIPELINED_LINES,
        line_bytes: 128,
        duration: Some(plan.timed),
        timeout: bounded(plan.timed),
        ..Options::default()
    })?;
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
    bar.inc(1);
    Ok((pipelined.mb_per_sec(), churn.lines_per_sec()))
}

/// Whether a new client is answered while N clients sit idle, for each N.
fn measure_idle(
    model: Model,
    plan: &Plan,
    options: &CompareOptions,
    bar: &ProgressBar,
) -> Result<Vec<(usize, Option<u64>)>, String> {
    let mut idle_results = Vec::new();
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
        idle_results.push((idle, answered_p50));
        bar.inc(1);
    }
    Ok(idle_results)
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
