//! The comparison's measurements, each repeated: every point is the
//! median of [`Plan::reps`] runs with their range ([`Spread`]). The timed
//! runs are interleaved (run 1 of every model, then run 2 of every model,
//! ...), so a machine that slows down for a few seconds slows every model
//! alike instead of one. The TLS section's pairs of runs, plain beside
//! TLS, are [`tls`]'s (`paired.rs`).

mod paired;

pub(super) use paired::{tls, Paired, TlsResults};

use super::spread::Spread;
use super::{CompareOptions, Plan, PIPELINED_LINES, WORKERS};
use crate::error::ReportError;
use crate::flood::run as flood;
use crate::report::Report;
use crate::reports::transports;
use crate::run::{Options, Target, Transport};
use crate::server_process::ServerProcess;
use indicatif::ProgressBar;
use std::net::TcpStream;
use std::time::{Duration, Instant};
use upcase::config::Model;

/// Ping-pong at one client count.
pub(super) struct Ping {
    pub clients: usize,
    /// Round trips per second inside the timed window, all clients.
    pub per_sec: Spread,
    /// The slowest client's round trips per second inside the window.
    pub slowest_per_sec: Spread,
    pub p50_us: Spread,
    pub p99_us: Spread,
    /// The most clients left with no reply inside the window in one run.
    pub starved: usize,
    /// In how many runs some client was left with no reply.
    pub starved_runs: usize,
    pub runs: usize,
}

/// A new client while `idle` clients sit silent.
pub(super) struct Idle {
    pub idle: usize,
    /// The new client's p50 latency, over the runs that answered it.
    pub p50_us: Option<Spread>,
    /// Runs in which the new client got no reply.
    pub unanswered_runs: usize,
    pub runs: usize,
}

impl Idle {
    /// Answered in every run.
    pub fn answered(&self) -> bool {
        self.unanswered_runs == 0 && self.p50_us.is_some()
    }
}

/// One model's results.
pub(super) struct ModelResults {
    pub model: Model,
    pub ping: Vec<Ping>,
    pub pipelined_mb_per_sec: Spread,
    pub connections_per_sec: Spread,
    pub idle: Vec<Idle>,
    pub rss_per_idle_connection: Option<f64>,
}

/// One carrier's cost of a request/reply.
pub(super) struct Carrier {
    pub name: &'static str,
    pub micros: Spread,
}

/// One transport under the flood.
pub(super) struct Flooded {
    pub transport: Transport,
    pub sent_per_sec: Spread,
    pub answered_per_sec: Spread,
    pub lost_pct: Spread,
    pub reordered: Spread,
    pub p99_us: Spread,
}

fn start(options: &CompareOptions, model: Model) -> Result<ServerProcess, ReportError> {
    start_with(options, model, &[])
}

/// [`start`] with `extra` flags.
fn start_with(
    options: &CompareOptions,
    model: Model,
    extra: &[String],
) -> Result<ServerProcess, ReportError> {
    let mut args = vec![
        "--model",
        model.name(),
        "--workers",
        WORKERS,
        "--max-connections",
        "100000",
    ];
    args.extend(extra.iter().map(String::as_str));
    ServerProcess::start(&options.server, &args).map_err(|source| ReportError::Start {
        server: model.name().to_string(),
        source,
    })
}

fn flood_or_fail(options: Options) -> Result<Report, ReportError> {
    flood(options).map_err(|source| ReportError::Flood {
        during: "a timed run".to_string(),
        source,
    })
}

/// Clients a model cannot serve at once wait past the window until this
/// bound (then count as lost): long enough for every served client's last
/// reply, short enough that a starving model does not stretch the run.
fn bounded(duration: Duration) -> Duration {
    duration + Duration::from_millis(300)
}

/// A timed run. Its ping-pong clients are driven by one thread: the server
/// and the clients share the CPUs here, and with a client thread per CPU
/// the clients of a thread that waited for a CPU fell behind together,
/// in every model alike, so "the slowest client" measured the load
/// generator instead of the server (`docs/performance.md`, "Fairness").
fn timed(target: Target, plan: &Plan) -> Options {
    Options {
        target,
        duration: Some(plan.timed),
        timeout: bounded(plan.timed),
        threads: Some(1),
        ..Options::default()
    }
}

/// The timed runs of every model (ping-pong, pipelined, connect-per-line),
/// interleaved, then each model's idle and memory runs.
pub(super) fn models(
    plan: &Plan,
    options: &CompareOptions,
    bar: &ProgressBar,
) -> Result<Vec<ModelResults>, ReportError> {
    let servers: Vec<ServerProcess> = Model::ALL
        .iter()
        .map(|&model| start(options, model))
        .collect::<Result<_, _>>()?;
    // runs[model][point][rep]; points: each client count, pipelined, churn.
    let points = plan.ping_clients.len() + 2;
    let mut runs: Vec<Vec<Vec<Report>>> = (0..servers.len())
        .map(|_| (0..points).map(|_| Vec::new()).collect())
        .collect();
    for rep in 0..plan.reps {
        for (index, (model, server)) in Model::ALL.iter().zip(&servers).enumerate() {
            bar.set_message(format!("{model}: timed runs, {} of {}", rep + 1, plan.reps));
            let tcp = Target::Tcp(server.tcp);
            for (point, &clients) in plan.ping_clients.iter().enumerate() {
                runs[index][point].push(flood_or_fail(Options {
                    clients,
                    ..timed(tcp, plan)
                })?);
            }
            runs[index][points - 2].push(flood_or_fail(Options {
                clients: 1,
                pipeline: PIPELINED_LINES,
                line_bytes: 128,
                ..timed(tcp, plan)
            })?);
            runs[index][points - 1].push(flood_or_fail(Options {
                clients: 1,
                connect_per_line: true,
                ..timed(tcp, plan)
            })?);
            bar.inc(1);
        }
    }
    drop(servers);
    let mut results = Vec::new();
    for (model, mut runs) in Model::ALL.into_iter().zip(runs) {
        let churn = runs.pop().unwrap_or_default();
        let pipelined = runs.pop().unwrap_or_default();
        let ping = plan
            .ping_clients
            .iter()
            .zip(&runs)
            .map(|(&clients, reports)| ping_of(clients, reports))
            .collect();
        bar.set_message(format!("{model}: a new client among idle ones"));
        let idle = idle(model, plan, options)?;
        let rss = {
            let server = start(options, model)?;
            rss_per_idle_connection(&server, plan)
        };
        bar.inc(1);
        results.push(ModelResults {
            model,
            ping,
            pipelined_mb_per_sec: spread(&pipelined, Report::mb_per_sec),
            connections_per_sec: spread(&churn, Report::lines_per_sec),
            idle,
            rss_per_idle_connection: rss,
        });
    }
    Ok(results)
}

fn spread(reports: &[Report], value: impl Fn(&Report) -> f64) -> Spread {
    Spread::of(&reports.iter().map(value).collect::<Vec<_>>())
}

fn ping_of(clients: usize, reports: &[Report]) -> Ping {
    Ping {
        clients,
        per_sec: spread(reports, Report::window_rate),
        slowest_per_sec: spread(reports, Report::slowest_client_rate),
        p50_us: spread(reports, |r| r.percentile_us(50.0) as f64),
        p99_us: spread(reports, |r| r.percentile_us(99.0) as f64),
        starved: reports
            .iter()
            .map(Report::starved_clients)
            .max()
            .unwrap_or(0),
        starved_runs: reports.iter().filter(|r| r.starved_clients() > 0).count(),
        runs: reports.len(),
    }
}

/// Whether a new client is answered while N clients sit idle, for each N,
/// each [`Plan::reps`] times; one server per model (each run's idle
/// connections close before the next).
fn idle(model: Model, plan: &Plan, options: &CompareOptions) -> Result<Vec<Idle>, ReportError> {
    let server = start(options, model)?;
    let mut results = Vec::new();
    for &idle in &plan.idle_counts {
        let mut answered = Vec::new();
        for _ in 0..plan.reps {
            // A model that stops accepting cannot even take all the idle
            // connections (the listen backlog fills up): not answered either.
            let p50 = flood(Options {
                target: Target::Tcp(server.tcp),
                clients: 1,
                lines: 50,
                idle,
                timeout: plan.idle_patience,
                ..Options::default()
            })
            .ok()
            .filter(|report| report.tally.ok == 50)
            .map(|report| report.percentile_us(50.0) as f64);
            answered.extend(p50);
        }
        results.push(Idle {
            idle,
            p50_us: (!answered.is_empty()).then(|| Spread::of(&answered)),
            unanswered_runs: plan.reps - answered.len(),
            runs: plan.reps,
        });
    }
    Ok(results)
}

/// What one more idle connection costs the server: its memory growth
/// from a second batch of idle connections, divided by their number. The
/// first batch is not counted: it pays for what the first connections
/// touch once (a worker's read buffer, the allocator's first pages), which
/// with a hundred connections outweighs the connections themselves and
/// made the figure change tenfold between two runs. Models that do not
/// accept them all at once report what they hold.
fn rss_per_idle_connection(server: &ServerProcess, plan: &Plan) -> Option<f64> {
    let count = plan.idle_counts.last().copied().unwrap_or(100).max(100);
    let warm_up = connect_idle(server, count);
    let before = settled_rss_kib(server)?;
    let idle = connect_idle(server, count);
    let grown = settled_rss_kib(server)?.saturating_sub(before) as f64 * 1024.0;
    let per_connection = (!idle.is_empty()).then(|| grown / idle.len() as f64);
    drop((warm_up, idle));
    per_connection
}

/// Up to `count` idle connections to the server, aborted when dropped: no
/// port left in TIME_WAIT (see the flood's idle connections).
fn connect_idle(server: &ServerProcess, count: usize) -> Vec<TcpStream> {
    // A model that stops accepting fills its listen backlog, and then a
    // connect would wait for SYN retries: stop at the first that fails.
    (0..count)
        .map_while(|_| TcpStream::connect_timeout(&server.tcp, Duration::from_secs(1)).ok())
        .inspect(|stream| {
            let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
        })
        .collect()
}

/// The server's resident memory once it has stopped changing (it has
/// accepted what was connected), or after 3 s.
fn settled_rss_kib(server: &ServerProcess) -> Option<u64> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut last = server.rss_kib()?;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = server.rss_kib()?;
        if now == last {
            break;
        }
        last = now;
    }
    Some(last)
}

/// Every carrier's request/reply cost, [`Plan::reps`] times.
pub(super) fn carriers(plan: &Plan) -> Result<Vec<Carrier>, ReportError> {
    let mut runs: Vec<(&'static str, Vec<f64>)> = Vec::new();
    for _ in 0..plan.reps {
        let costs = transports::measure_all(plan.transport_round_trips)
            .map_err(ReportError::io("measuring the transports"))?;
        for cost in costs {
            let micros = cost.nanos_per_round_trip / 1000.0;
            match runs.iter_mut().find(|(name, _)| *name == cost.carrier) {
                Some((_, values)) => values.push(micros),
                None => runs.push((cost.carrier, vec![micros])),
            }
        }
    }
    Ok(runs
        .into_iter()
        .map(|(name, values)| Carrier {
            name,
            micros: Spread::of(&values),
        })
        .collect())
}

/// UDP and TCP under the same flood (4 clients, 64 in flight each), on the
/// default model, interleaved [`Plan::reps`] times.
pub(super) fn floods(options: &CompareOptions, plan: &Plan) -> Result<Vec<Flooded>, ReportError> {
    let server = start(options, Model::default())?;
    let targets = [Target::Udp(server.udp), Target::Tcp(server.tcp)];
    let mut runs: Vec<Vec<Report>> = targets.iter().map(|_| Vec::new()).collect();
    for _ in 0..plan.reps {
        for (target, reports) in targets.iter().zip(&mut runs) {
            reports.push(flood_or_fail(Options {
                clients: 4,
                pipeline: 64,
                timeout: plan.timed + Duration::from_secs(5),
                ..timed(*target, plan)
            })?);
        }
    }
    Ok(targets
        .iter()
        .zip(&runs)
        .map(|(target, reports)| {
            let per_sec = |count: fn(&Report) -> u64| {
                move |r: &Report| count(r) as f64 / plan.timed.as_secs_f64()
            };
            Flooded {
                transport: target.transport(),
                sent_per_sec: spread(reports, per_sec(|r| r.tally.sent)),
                answered_per_sec: spread(reports, per_sec(|r| r.tally.ok)),
                lost_pct: spread(reports, Report::loss_pct),
                reordered: spread(reports, |r| r.tally.reordered as f64),
                p99_us: spread(reports, |r| r.percentile_us(99.0) as f64),
            }
        })
        .collect())
}
