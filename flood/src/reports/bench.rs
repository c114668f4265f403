//! `upcase-flood bench`: `upcase-server` beside its peers (`peers/`: a
//! tokio server, a thread-per-connection std server, and the kernel's floor
//! — one thread of raw epoll), every workload run by the flood (which
//! checks every reply), so that the repository alone shows how each server
//! compares with what a user would pick instead and how close it is to the
//! limit. It is part of the flood crate so that the servers are started by
//! the one launcher ([`crate::server_process`]) and measured by the one
//! client kit, not by a script's copy of them.
//!
//! Servers are rotated within each repetition (a slow spell of the machine
//! touches them alike) and, on two or more CPUs, kept on one CPU with the
//! load on another. The output is Markdown, to be pasted as it comes out
//! into `docs/performance.md` and the README.

use crate::flood;
use crate::payload::Text;
use crate::reports::certificate::Certificate;
use crate::reports::compare::spread::Spread;
use crate::run::{Options, Target};
use crate::server_process::{self, ServerProcess};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// One server to measure: a name for the table, a binary and its flags.
#[derive(Debug, Clone)]
pub struct Server {
    /// Its column in the tables.
    pub name: String,
    /// The program.
    pub binary: PathBuf,
    /// Flags after `--tcp 127.0.0.1:0 --udp 127.0.0.1:0`.
    pub args: Vec<String>,
    /// It serves `--tls ADDR --tls-cert FILE --tls-key FILE` (upcase-server,
    /// tokio-upcase): the TLS rows run against it.
    pub tls: bool,
}

/// What `bench` runs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The servers, in the tables' order.
    pub servers: Vec<Server>,
    /// The server every other is divided by (`tokio`).
    pub reference: String,
    /// The kernel's floor (`floor`), if among the servers.
    pub floor: String,
    /// `peers/`'s bulk client, the yardstick for the flood's bulk rows.
    pub bulk_client: PathBuf,
    /// Repetitions (each runs every workload against every server).
    pub reps: usize,
    /// Seconds per timed run.
    pub secs: f64,
    /// Idle connections in the memory row.
    pub idle: usize,
    /// Workload name prefixes to run (empty: all).
    pub only: Vec<String>,
    /// Keep servers and load on CPUs of their own.
    pub pin: bool,
    /// The command line, for the table's preface.
    pub command: String,
}

/// What one run yields, by metric name.
type Sample = BTreeMap<&'static str, f64>;

/// How a workload loads the server.
#[derive(Debug, Clone)]
enum Load {
    /// A flood run; its target is filled in per server.
    Flood(Options),
    /// A flood run over TLS, against the servers that speak it.
    TlsFlood(Options),
    /// `peers/`'s bulk client.
    BulkClient { line_bytes: usize },
    /// Idle connections held open: the server's memory per connection.
    Idle,
}

#[derive(Debug, Clone)]
struct Workload {
    name: String,
    load: Load,
    metrics: &'static [&'static str],
}

/// Metrics where more is better (the rest are latency, loss, memory).
const HIGHER_IS_BETTER: [&str; 2] = ["lines_per_sec", "mb_per_sec"];

fn workloads(secs: f64, idle: usize) -> Vec<Workload> {
    let window = Duration::from_secs_f64(secs);
    let tcp = |clients: usize| Options {
        clients,
        duration: Some(window),
        timeout: window + Duration::from_secs(30),
        ..Options::default()
    };
    let udp = |pipeline: usize| Options {
        target: Target::Udp(([127, 0, 0, 1], 0).into()),
        pipeline,
        max_loss_pct: 100.0,
        ..tcp(4)
    };
    let bulk = |text: Text| Options {
        pipeline: 4096,
        line_bytes: 128,
        text,
        ..tcp(1)
    };
    let workload = |name: &str, load: Load, metrics: &'static [&'static str]| Workload {
        name: name.to_string(),
        load,
        metrics,
    };
    vec![
        workload(
            "pingpong C=1",
            Load::Flood(tcp(1)),
            &["lines_per_sec", "p50_us", "p99_us", "p999_us"],
        ),
        workload(
            "pingpong C=16",
            Load::Flood(tcp(16)),
            &["lines_per_sec", "p99_us", "p999_us"],
        ),
        workload(
            "pingpong C=128",
            Load::Flood(tcp(128)),
            &["lines_per_sec", "p99_us", "p999_us"],
        ),
        // ASCII, so that the yardstick below does the same work per byte;
        // the Unicode row shows each server's full case mapping.
        workload(
            "bulk ascii",
            Load::Flood(bulk(Text::Ascii)),
            &["mb_per_sec"],
        ),
        workload(
            "bulk-client",
            Load::BulkClient { line_bytes: 128 },
            &["mb_per_sec"],
        ),
        workload(
            "bulk unicode",
            Load::Flood(bulk(Text::Mixed)),
            &["mb_per_sec"],
        ),
        workload(
            "churn C=4",
            Load::Flood(Options {
                connect_per_line: true,
                ..tcp(4)
            }),
            &["lines_per_sec"],
        ),
        // TLS (issue 25): the same loads through each server's --tls
        // listener; churn is then the handshake's cost.
        workload(
            "tls pingpong C=1",
            Load::TlsFlood(tcp(1)),
            &["lines_per_sec", "p50_us", "p99_us"],
        ),
        workload(
            "tls pingpong C=16",
            Load::TlsFlood(tcp(16)),
            &["lines_per_sec", "p99_us"],
        ),
        workload(
            "tls pingpong C=128",
            Load::TlsFlood(tcp(128)),
            &["lines_per_sec", "p99_us"],
        ),
        workload(
            "tls bulk ascii",
            Load::TlsFlood(bulk(Text::Ascii)),
            &["mb_per_sec"],
        ),
        workload(
            "tls churn C=4",
            Load::TlsFlood(Options {
                connect_per_line: true,
                ..tcp(4)
            }),
            &["lines_per_sec"],
        ),
        workload("udp C=4", Load::Flood(udp(1)), &["lines_per_sec", "p99_us"]),
        workload(
            "udp flood C=4",
            Load::Flood(udp(64)),
            &["lines_per_sec", "loss_pct"],
        ),
        workload(
            &format!("idle N={idle}"),
            Load::Idle,
            &["bytes_per_idle", "p50_us"],
        ),
    ]
}

/// The CPUs the servers and the load run on, when pinned.
struct Placement {
    server: Option<usize>,
    load: Option<usize>,
    /// The CPUs this process could run on before it pinned itself.
    cpus: usize,
}

impl Placement {
    fn choose(pin: bool) -> Result<Placement, String> {
        let cpus = server_process::allowed_cpus();
        if !pin || cpus.len() < 2 {
            return Ok(Placement {
                server: None,
                load: None,
                cpus: cpus.len(),
            });
        }
        // This thread starts every client thread and every server: what
        // it is pinned to, they inherit (the servers then move to theirs).
        server_process::pin_this_thread(cpus[1])
            .map_err(|e| format!("cannot pin the load to CPU {}: {e}", cpus[1]))?;
        Ok(Placement {
            server: Some(cpus[0]),
            load: Some(cpus[1]),
            cpus: cpus.len(),
        })
    }

    fn describe(&self) -> String {
        match (self.server, self.load) {
            (Some(server), Some(load)) => {
                format!("servers on CPU {server} and the load on CPU {load}")
            }
            _ => "unpinned".to_string(),
        }
    }
}

/// Runs every chosen workload against every server, `reps` times, and
/// returns the Markdown tables. Progress goes to stderr.
pub fn run(options: &BenchOptions) -> Result<String, String> {
    let chosen: Vec<Workload> = workloads(options.secs, options.idle)
        .into_iter()
        .filter(|w| options.only.is_empty() || options.only.iter().any(|p| w.name.starts_with(p)))
        .collect();
    if chosen.is_empty() {
        return Err(format!(
            "no workload matches --only {}",
            options.only.join(",")
        ));
    }
    raise_descriptor_limit();
    let certificate = Certificate::make("bench")?;
    let placement = Placement::choose(options.pin)?;
    let servers = &options.servers;
    // results[workload][server]: one sample per repetition, in order.
    let mut results = vec![vec![Vec::<Sample>::new(); servers.len()]; chosen.len()];
    for rep in 0..options.reps {
        for (w, workload) in chosen.iter().enumerate() {
            for turn in 0..servers.len() {
                let s = (turn + rep) % servers.len();
                let server = &servers[s];
                let sample = measure(server, workload, options, &placement, &certificate)?;
                let shown: Vec<String> = workload
                    .metrics
                    .iter()
                    .map(|m| format!("{m}={:.0}", sample.get(m).copied().unwrap_or(0.0)))
                    .collect();
                eprintln!(
                    "  rep {}: {:16} {:12} {}",
                    rep + 1,
                    workload.name,
                    server.name,
                    shown.join(" ")
                );
                results[w][s].push(sample);
            }
        }
    }
    Ok(render(options, &placement, &chosen, &results))
}

fn measure(
    server: &Server,
    workload: &Workload,
    options: &BenchOptions,
    placement: &Placement,
    certificate: &Certificate,
) -> Result<Sample, String> {
    let mut args: Vec<String> = server.args.clone();
    if let Load::TlsFlood(_) = workload.load {
        if !server.tls {
            // No TLS listener: an empty sample, shown as "—".
            return Ok(Sample::new());
        }
        args.extend(certificate.server_flags());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let process = ServerProcess::start_on_cpu(&server.binary, &args, placement.server)
        .map_err(|e| format!("{}: {e}", server.name))?;
    let sample = match &workload.load {
        Load::Flood(flood_options) => {
            let mut flood_options = flood_options.clone();
            flood_options.target = match flood_options.target {
                Target::Tcp(_) => Target::Tcp(process.tcp),
                Target::Udp(_) => Target::Udp(process.udp),
            };
            flood_sample(flood_options, &server.name, &workload.name)?
        }
        Load::TlsFlood(flood_options) => {
            let tls = process
                .tls
                .ok_or_else(|| format!("{}: no tls listening line", server.name))?;
            let flood_options = Options {
                target: Target::Tcp(tls),
                tls: Some(certificate.client.clone()),
                ..flood_options.clone()
            };
            flood_sample(flood_options, &server.name, &workload.name)?
        }
        Load::BulkClient { line_bytes } => bulk_client(options, &process, *line_bytes)
            .map_err(|e| format!("{}: {e}", server.name))?,
        Load::Idle => idle(&process, options.idle).map_err(|e| format!("{}: {e}", server.name))?,
    };
    drop(process);
    Ok(sample)
}

/// One flood run; a wrong or missing reply fails the bench.
fn flood_sample(options: Options, server: &str, workload: &str) -> Result<Sample, String> {
    let report = flood::run(options).map_err(|e| format!("{server}, {workload}: {e}"))?;
    if !report.passed() {
        return Err(format!(
            "{server}, {workload}: a wrong or missing reply: {}",
            report.tally.errors.join("; ")
        ));
    }
    Ok(Sample::from([
        ("lines_per_sec", report.lines_per_sec()),
        ("mb_per_sec", report.mb_per_sec()),
        ("p50_us", report.percentile_us(50.0) as f64),
        ("p99_us", report.percentile_us(99.0) as f64),
        ("p999_us", report.percentile_us(99.9) as f64),
        ("loss_pct", report.loss_pct()),
    ]))
}

/// The yardstick for the flood's bulk rows: `peers/`'s bulk client, the
/// simplest verifying bulk client, against the same server.
fn bulk_client(
    options: &BenchOptions,
    server: &ServerProcess,
    line_bytes: usize,
) -> Result<Sample, String> {
    let done = Command::new(&options.bulk_client)
        .args(["--tcp", &server.tcp.to_string()])
        .args(["--secs", &options.secs.to_string()])
        .args(["--line-bytes", &line_bytes.to_string()])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", options.bulk_client.display()))?;
    if !done.status.success() {
        return Err(format!(
            "bulk-client failed: {}",
            String::from_utf8_lossy(&done.stderr).trim()
        ));
    }
    let report: serde_json::Value = serde_json::from_slice(&done.stdout)
        .map_err(|e| format!("bulk-client printed no report: {e}"))?;
    let mb_per_sec = report["mb_per_sec"]
        .as_f64()
        .ok_or("bulk-client's report has no mb_per_sec")?;
    Ok(Sample::from([("mb_per_sec", mb_per_sec)]))
}

/// `count` connections, each answered once (so the server has taken and
/// served every one) and then quiet; the server's resident memory grown
/// per connection, and a probe's latency while they are held. The first
/// connection is served before the memory is read, so that buffers a
/// server touches on its first read are not counted per connection.
fn idle(server: &ServerProcess, count: usize) -> Result<Sample, String> {
    let mut held = Vec::with_capacity(count + 1);
    let mut before = None;
    for _ in 0..=count {
        let mut stream =
            TcpStream::connect(server.tcp).map_err(|e| format!("idle connect: {e}"))?;
        stream
            .write_all(b"idle\n")
            .map_err(|e| format!("idle write: {e}"))?;
        held.push(stream);
        if before.is_none() {
            answered(&mut held[..1])?;
            before = Some(server.rss_kib().ok_or("cannot read the server's memory")?);
        }
    }
    answered(&mut held[1..])?;
    let before = before.unwrap_or_default();
    let after = server.rss_kib().ok_or("cannot read the server's memory")?;
    let probe = flood_sample(
        Options {
            target: Target::Tcp(server.tcp),
            clients: 1,
            lines: 200,
            ..Options::default()
        },
        "idle probe",
        "idle",
    )?;
    drop(held);
    Ok(Sample::from([
        (
            "bytes_per_idle",
            after.saturating_sub(before) as f64 * 1024.0 / count.max(1) as f64,
        ),
        ("p50_us", probe["p50_us"]),
    ]))
}

/// Reads the reply to `idle` on every stream.
fn answered(streams: &mut [TcpStream]) -> Result<(), String> {
    for stream in streams {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reply = [0u8; 5];
        stream
            .read_exact(&mut reply)
            .map_err(|e| format!("idle read: {e}"))?;
        if &reply != b"IDLE\n" {
            return Err(format!(
                "idle: wrong reply {:?}",
                String::from_utf8_lossy(&reply)
            ));
        }
    }
    Ok(())
}

/// Thousands of idle connections: this process's descriptor limit raised
/// to its hard limit (the servers it starts inherit it). A failure leaves
/// the limit as it was; the idle row then says what went wrong.
fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: limit is a valid rlimit for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A value as the tables print it: grouped thousands, two decimals below 1.
fn number(value: f64) -> String {
    if value.abs() < 1.0 {
        return format!("{value:.2}");
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// Each repetition's own ratio of `server` to `reference` (runs seconds
/// apart), skipping repetitions where the reference measured zero.
fn ratios(server: &[Sample], reference: &[Sample], metric: &str) -> Vec<f64> {
    server
        .iter()
        .zip(reference)
        .filter_map(|(s, r)| {
            let (s, r) = (s.get(metric)?, r.get(metric)?);
            (*r > 0.0).then(|| s / r)
        })
        .collect()
}

/// "1.02× (0.98 1.01 1.02 1.03 1.05)": the median of the repetitions'
/// ratios, then each in run order.
fn ratio_cell(per_rep: &[f64]) -> String {
    if per_rep.is_empty() {
        return "—".to_string();
    }
    let median = Spread::of(per_rep).median;
    if per_rep.len() == 1 {
        return format!("{median:.2}×");
    }
    let each: Vec<String> = per_rep.iter().map(|r| format!("{r:.2}")).collect();
    format!("{median:.2}× ({})", each.join(" "))
}

fn render(
    options: &BenchOptions,
    placement: &Placement,
    chosen: &[Workload],
    results: &[Vec<Vec<Sample>>],
) -> String {
    let servers = &options.servers;
    let index = |name: &str| servers.iter().position(|s| s.name == name);
    let reference = index(&options.reference);
    let floor = index(&options.floor);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured {} on {} CPUs, Linux {}, by `{}`: {} repetition{} of {} s, servers \
         rotated within each, {}. Medians (min–max) of the repetitions.\n",
        today(),
        placement.cpus,
        kernel(),
        options.command,
        options.reps,
        if options.reps == 1 { "" } else { "s" },
        options.secs,
        placement.describe(),
    );
    let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
    let _ = writeln!(out, "| workload | metric | {} |", names.join(" | "));
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(names.len()));
    for (w, workload) in chosen.iter().enumerate() {
        for metric in workload.metrics {
            let cells: Vec<String> = results[w]
                .iter()
                .map(|samples| {
                    let values: Vec<f64> = samples
                        .iter()
                        .filter_map(|s| s.get(metric).copied())
                        .collect();
                    if values.is_empty() {
                        // Not measured (a server without TLS).
                        return "—".to_string();
                    }
                    Spread::of(&values).show(number)
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} | {metric} | {} |",
                workload.name,
                cells.join(" | ")
            );
        }
    }
    // The ratio columns: each server over the reference (tokio) and over
    // the floor, repetition by repetition.
    let mut columns: Vec<(usize, usize)> = Vec::new();
    for s in 0..servers.len() {
        if let Some(r) = reference.filter(|&r| r != s && Some(s) != floor) {
            columns.push((s, r));
        }
        if let Some(f) = floor.filter(|&f| f != s) {
            columns.push((s, f));
        }
    }
    if !columns.is_empty() {
        let _ = writeln!(
            out,
            "\nSame-run ratios: the median of each repetition's own ratio, then \
             each repetition's in run order. Above 1× is better for {}, below 1× \
             for the latencies, loss and memory.\n",
            HIGHER_IS_BETTER.join(" and ")
        );
        let heads: Vec<String> = columns
            .iter()
            .map(|&(s, by)| format!("{} ÷ {}", servers[s].name, servers[by].name))
            .collect();
        let _ = writeln!(out, "| workload | metric | {} |", heads.join(" | "));
        let _ = writeln!(out, "|---|---|{}", "---|".repeat(heads.len()));
        for (w, workload) in chosen.iter().enumerate() {
            for metric in workload.metrics {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|&(s, by)| ratio_cell(&ratios(&results[w][s], &results[w][by], metric)))
                    .collect();
                let _ = writeln!(
                    out,
                    "| {} | {metric} | {} |",
                    workload.name,
                    cells.join(" | ")
                );
            }
        }
    }
    yardstick(&mut out, servers, chosen, results);
    out
}

/// Whether the flood measures the server and not itself: its bulk MB/s
/// against the simplest bulk client's, same server, same run.
fn yardstick(
    out: &mut String,
    servers: &[Server],
    chosen: &[Workload],
    results: &[Vec<Vec<Sample>>],
) {
    let find = |name: &str| chosen.iter().position(|w| w.name == name);
    let (Some(ours), Some(theirs)) = (find("bulk ascii"), find("bulk-client")) else {
        return;
    };
    let median = |samples: &[Sample]| {
        let values: Vec<f64> = samples
            .iter()
            .filter_map(|s| s.get("mb_per_sec").copied())
            .collect();
        Spread::of(&values).median
    };
    let _ = writeln!(
        out,
        "\nThe load generator against the simplest bulk client \
         (`peers/src/bin/bulk-client.rs`), same server, same run; medians of mb_per_sec:\n"
    );
    let _ = writeln!(
        out,
        "| server | upcase-flood (bulk ascii) | bulk-client | upcase-flood ÷ bulk-client |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    for (s, server) in servers.iter().enumerate() {
        let (a, b) = (median(&results[ours][s]), median(&results[theirs][s]));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2}× |",
            server.name,
            number(a),
            number(b),
            a / b.max(1e-9)
        );
    }
}

/// Today's date (UTC), for the preface.
fn today() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d").to_string()
}

/// The running kernel's release.
fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|text| text.trim().to_string())
        .unwrap_or_else(|_| "(unknown)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(number(1234567.4), "1,234,567");
        assert_eq!(number(999.0), "999");
        assert_eq!(number(0.25), "0.25");
    }

    #[test]
    fn a_ratio_per_repetition_skips_a_zero_reference() {
        let of = |v: f64| Sample::from([("lines_per_sec", v)]);
        let ours = [of(10.0), of(30.0), of(5.0)];
        let theirs = [of(5.0), of(0.0), of(10.0)];
        assert_eq!(ratios(&ours, &theirs, "lines_per_sec"), vec![2.0, 0.5]);
        assert_eq!(ratio_cell(&[2.0, 0.5, 1.0]), "1.00× (2.00 0.50 1.00)");
        assert_eq!(ratio_cell(&[]), "—");
    }

    #[test]
    fn every_server_is_divided_by_the_reference_and_the_floor() {
        let server = |name: &str| Server {
            name: name.to_string(),
            binary: PathBuf::from(name),
            args: Vec::new(),
            tls: false,
        };
        let options = BenchOptions {
            servers: vec![server("tokio"), server("floor"), server("pool")],
            reference: "tokio".into(),
            floor: "floor".into(),
            bulk_client: PathBuf::from("bulk-client"),
            reps: 2,
            secs: 1.0,
            idle: 10,
            only: Vec::new(),
            pin: false,
            command: "scripts/bench.sh".into(),
        };
        let chosen: Vec<Workload> = workloads(1.0, 10)
            .into_iter()
            .filter(|w| w.name == "churn C=4")
            .collect();
        let of = |v: f64| Sample::from([("lines_per_sec", v)]);
        let results = vec![vec![
            vec![of(100.0), of(200.0)],
            vec![of(400.0), of(400.0)],
            vec![of(100.0), of(100.0)],
        ]];
        let placement = Placement {
            server: None,
            load: None,
            cpus: 2,
        };
        let table = render(&options, &placement, &chosen, &results);
        assert!(
            table.contains("| workload | metric | tokio ÷ floor | pool ÷ tokio | pool ÷ floor |"),
            "{table}"
        );
        assert!(
            table.contains("| churn C=4 | lines_per_sec | 0.38× (0.25 0.50) | 0.75× (1.00 0.50) | 0.25× (0.25 0.25) |"),
            "{table}"
        );
        assert!(
            table.contains("| churn C=4 | lines_per_sec | 150 (100–200) | 400 | 100 |"),
            "{table}"
        );
    }
}
