//! `upcase-flood`'s command line: parses flags, runs the flood or one of
//! the reports, prints the result. In the library, not in `src/bin/`, so
//! the man page and shell completions (`gen-docs/`, for the .deb) are generated from these
//! clap definitions.

use clap::{ArgGroup, Args, Parser, Subcommand};
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::payload::Text;
use crate::reports::compare::{self, CompareOptions};
use crate::reports::{lab, soak};
use crate::run::{Options, Target};

/// upcase-flood: floods an upcase server with concurrent clients and
/// checks every reply byte for byte.
#[derive(Parser, Debug)]
#[command(name = "upcase-flood", version = upcase::version!(), about, long_about = None)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    flood: FloodArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the server in every threading model, measure each, and write
    /// report.md with SVG charts (also threads vs sockets, TCP vs UDP).
    Compare(CompareArgs),
    /// Soak every threading model with good and hostile traffic, then check
    /// for wrong replies, memory growth and leaked descriptors or threads.
    Soak(SoakArgs),
    /// Measure TCP and UDP under real packet loss between two network
    /// namespaces, what an eavesdropper reads and what a forged source reflects (needs root,
    /// `ip`, `nft` and `tcpdump`); writes lab.md, lab.svg and lab-*.pcap.
    Lab(CompareArgs),
    /// Benchmark upcase-server beside its peers (peers/: tokio, std
    /// threads, the kernel's floor) and print Markdown tables
    /// (scripts/bench.sh).
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Repetitions (every workload against every server in each).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100))]
    reps: usize,
    /// Seconds per timed run.
    #[arg(long, value_name = "SECS", default_value_t = 1.5)]
    secs: f64,
    /// Idle connections in the memory row.
    #[arg(long, value_name = "N", default_value_t = 5000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    idle: usize,
    /// Comma-separated workload name prefixes (e.g. `pingpong,churn`).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    only: Vec<String>,
    /// Do not pin the servers and the load to CPUs of their own.
    #[arg(long)]
    no_pin: bool,
    /// A server to measure, `NAME=PATH [FLAGS]`; repeat for several
    /// [default: tokio, floor, std from peers/, pool and event-loops
    /// (upcase-server with its defaults, and --model event-loops), all
    /// beside this program].
    #[arg(long = "server", value_name = "NAME=COMMAND")]
    servers: Vec<String>,
    /// The command line to print in the table's preface.
    #[arg(long, value_name = "TEXT", default_value = "upcase-flood bench")]
    command: String,
}

#[derive(Args, Debug)]
struct SoakArgs {
    /// Seconds of traffic per model.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    seconds: f64,
    /// The upcase-server binary [default: the one beside this program].
    #[arg(long, value_name = "PATH")]
    server: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct CompareArgs {
    /// A short run (seconds instead of minutes; lab: 0 and 5 % loss only).
    #[arg(long)]
    quick: bool,
    /// Where to write the report and its charts.
    #[arg(long, value_name = "DIR", default_value = "target/upcase-compare")]
    out: PathBuf,
    /// The upcase-server binary [default: the one beside this program].
    #[arg(long, value_name = "PATH")]
    server: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("target").required(true).args(["tcp", "udp"])))]
struct FloodArgs {
    /// Flood the TCP server at ADDR.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<String>,
    /// Flood the UDP server at ADDR.
    #[arg(long, value_name = "ADDR")]
    udp: Option<String>,
    /// Concurrent clients.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    clients: usize,
    /// Lines each client sends (unless --duration is given).
    #[arg(long, value_name = "M", default_value_t = 1000)]
    lines: u64,
    /// Approximate bytes per line, newline included (16 to 65536; over
    /// UDP at most 65507, one datagram).
    #[arg(long, value_name = "B", default_value_t = 64,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(16..=65_536))]
    line_bytes: usize,
    /// UDP: the most loss, in percent of datagrams sent, that still passes.
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    max_loss: f64,
    /// Send for SECS seconds instead of a number of lines.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Lines in flight per client (1 = ping-pong, measuring latency).
    #[arg(long, value_name = "K", default_value_t = 1,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pipeline: usize,
    /// What the lines say: `mixed` exercises the server's full Unicode
    /// path, `ascii` its fast path (and matches the simplest bulk client).
    #[arg(long, value_enum, default_value_t = Text::Mixed)]
    text: Text,
    /// Open a new TCP connection for every line.
    #[arg(long, conflicts_with_all = ["pipeline", "udp"])]
    connect_per_line: bool,
    /// TCP ping-pong: when a connection ends with the line in flight
    /// unanswered, reconnect (with the client's back-off) and send it
    /// again. Cut connections and resends are counted; every reply is
    /// still checked.
    #[arg(long, conflicts_with_all = ["pipeline", "udp", "connect_per_line"])]
    reconnect: bool,
    /// Speak TLS to --tcp ADDR (every mode): the certificate must chain to
    /// the system's roots or to --ca and carry the name in --server-name.
    #[arg(long, requires = "tcp")]
    tls: bool,
    /// TLS: trust the CA certificates in this PEM file instead of the
    /// system's roots.
    #[arg(long, value_name = "FILE", requires = "tls")]
    ca: Option<PathBuf>,
    /// TLS: the name the server's certificate must carry (default: the
    /// host part of --tcp ADDR).
    #[arg(long, value_name = "NAME", requires = "tls")]
    server_name: Option<String>,
    /// Hold N extra idle TCP connections open during the run.
    #[arg(long, value_name = "N", default_value_t = 0)]
    idle: usize,
    /// Print one JSON object instead of the summary.
    #[arg(long)]
    json: bool,
    /// Hard limit on the whole run, in seconds [default: 300, or --duration + 30].
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
}

fn seconds(value: f64, flag: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("{flag} must be a positive number"))
}

impl FloodArgs {
    /// The TLS settings `--tls --ca --server-name` ask for, if any.
    fn tls_client(&self) -> Result<Option<upcase::client::TlsClient>, String> {
        let (true, Some(addr)) = (self.tls, &self.tcp) else {
            return Ok(None);
        };
        Ok(Some(upcase::client::TlsClient {
            config: upcase::certificates::client_config(self.ca.as_deref())
                .map_err(|e| e.to_string())?,
            server_name: upcase::certificates::server_name(self.server_name.as_deref(), addr)
                .map_err(|e| e.to_string())?,
        }))
    }

    fn options(&self) -> Result<Options, String> {
        if !(0.0..=100.0).contains(&self.max_loss) {
            return Err("--max-loss is a percentage from 0 to 100".into());
        }
        if self.udp.is_some() && self.line_bytes > upcase::codec::MAX_DATAGRAM {
            return Err(format!(
                "--line-bytes {} does not fit in one UDP datagram (at most {})",
                self.line_bytes,
                upcase::codec::MAX_DATAGRAM
            ));
        }
        let target = match (&self.tcp, &self.udp) {
            (Some(addr), _) => Target::Tcp(resolve(addr)?),
            (None, Some(addr)) => Target::Udp(resolve(addr)?),
            (None, None) => return Err("give --tcp ADDR or --udp ADDR".into()),
        };
        let duration = self
            .duration
            .map(|d| seconds(d, "--duration"))
            .transpose()?;
        let timeout = match self.timeout {
            Some(t) => seconds(t, "--timeout")?,
            None => duration.map_or(Duration::from_secs(300), |d| d + Duration::from_secs(30)),
        };
        Ok(Options {
            target,
            clients: self.clients,
            lines: self.lines,
            line_bytes: self.line_bytes,
            duration,
            pipeline: self.pipeline,
            text: self.text,
            connect_per_line: self.connect_per_line,
            reconnect: self.reconnect,
            idle: self.idle,
            max_loss_pct: self.max_loss,
            timeout,
            progress: !self.json && io::stderr().is_terminal(),
            tls: self.tls_client()?,
        })
    }
}

fn resolve(addr: &str) -> Result<std::net::SocketAddr, String> {
    upcase::net::resolve(addr).map_err(|e| format!("cannot use address {addr}: {e}"))
}

/// The program: flags, then the flood or report; the exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Compare(args)) => run_compare(args),
        Some(Command::Soak(args)) => run_soak(args),
        Some(Command::Lab(args)) => run_lab(args),
        Some(Command::Bench(args)) => run_bench(args),
        None => run_flood(&cli.flood),
    }
}

/// The server binary to start: the one given, or the one beside this program.
fn server_binary(given: Option<PathBuf>) -> Result<PathBuf, ExitCode> {
    match given {
        Some(path) => Ok(path),
        None => match crate::server_process::server_beside_this_program() {
            Ok(path) => Ok(path),
            Err(error) => {
                eprintln!("upcase-flood: cannot find upcase-server: {error}; give --server PATH");
                Err(ExitCode::from(2))
            }
        },
    }
}

fn run_soak(args: SoakArgs) -> ExitCode {
    let server = match server_binary(args.server) {
        Ok(path) => path,
        Err(code) => return code,
    };
    let options = soak::SoakOptions {
        server,
        seconds: args.seconds,
    };
    match soak::run(&options) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("upcase-flood soak: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_lab(args: CompareArgs) -> ExitCode {
    if let Err(missing) = lab::check_requirements() {
        eprintln!("upcase-flood lab: {missing}");
        return ExitCode::from(2);
    }
    let server = match server_binary(args.server) {
        Ok(path) => path,
        Err(code) => return code,
    };
    eprintln!(
        "upcase-flood lab: about {} s of floods under packet loss...",
        lab::expected_duration(args.quick).as_secs()
    );
    let options = lab::LabOptions {
        server,
        out: args.out,
        quick: args.quick,
    };
    match lab::run(&options) {
        Ok(report) => {
            println!("wrote {}", report.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("upcase-flood lab: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `NAME=PATH [FLAGS]` as a bench server.
fn bench_server(given: &str) -> Result<crate::reports::bench::Server, String> {
    let (name, command) = given
        .split_once('=')
        .ok_or_else(|| format!("--server {given}: give NAME=PATH [FLAGS]"))?;
    let mut words = command.split_whitespace().map(str::to_string);
    let binary = words
        .next()
        .ok_or_else(|| format!("--server {given}: no program"))?;
    let binary = PathBuf::from(binary);
    // The two programs that serve --tls (the TLS rows skip the others).
    let tls = binary
        .file_name()
        .is_some_and(|file| file == "upcase-server" || file == "tokio-upcase");
    Ok(crate::reports::bench::Server {
        name: name.to_string(),
        binary,
        args: words.collect(),
        tls,
    })
}

/// The bench's default servers: the peers and upcase-server beside this program.
fn default_bench_servers() -> Result<Vec<crate::reports::bench::Server>, String> {
    let dir = beside_this_program()?;
    let server = |name: &str, binary: &str, args: &[&str]| crate::reports::bench::Server {
        name: name.to_string(),
        binary: dir.join(binary),
        args: args.iter().map(|a| a.to_string()).collect(),
        tls: binary == "upcase-server" || binary == "tokio-upcase",
    };
    Ok(vec![
        server("tokio", "tokio-upcase", &[]),
        server("floor", "floor-epoll", &[]),
        server("std", "std-threads", &[]),
        server("pool", "upcase-server", &[]),
        server("event-loops", "upcase-server", &["--model", "event-loops"]),
    ])
}

fn beside_this_program() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    me.parent()
        .map(PathBuf::from)
        .ok_or_else(|| "this program has no directory".to_string())
}

fn run_bench(args: BenchArgs) -> ExitCode {
    if !(args.secs.is_finite() && args.secs > 0.0) {
        eprintln!("upcase-flood bench: --secs must be a positive number");
        return ExitCode::from(2);
    }
    let servers = if args.servers.is_empty() {
        default_bench_servers()
    } else {
        args.servers.iter().map(|s| bench_server(s)).collect()
    };
    let servers = match servers {
        Ok(servers) => servers,
        Err(message) => {
            eprintln!("upcase-flood bench: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(missing) = servers.iter().find(|s| !s.binary.is_file()) {
        eprintln!(
            "upcase-flood bench: no {} for {} (build it: cargo build --release --workspace)",
            missing.binary.display(),
            missing.name
        );
        return ExitCode::from(2);
    }
    let bulk_client = match beside_this_program() {
        Ok(dir) => dir.join("bulk-client"),
        Err(message) => {
            eprintln!("upcase-flood bench: {message}");
            return ExitCode::FAILURE;
        }
    };
    let options = crate::reports::bench::BenchOptions {
        servers,
        reference: "tokio".to_string(),
        floor: "floor".to_string(),
        bulk_client,
        reps: args.reps,
        secs: args.secs,
        idle: args.idle,
        only: args.only,
        pin: !args.no_pin,
        command: args.command,
    };
    match crate::reports::bench::run(&options) {
        Ok(tables) => {
            print!("{tables}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("upcase-flood bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_compare(args: CompareArgs) -> ExitCode {
    let server = match server_binary(args.server) {
        Ok(path) => path,
        Err(code) => return code,
    };
    let options = CompareOptions {
        server,
        out: args.out,
        quick: args.quick,
        progress: io::stderr().is_terminal(),
    };
    match compare::run(&options) {
        Ok(report) => {
            println!("wrote {}", report.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("upcase-flood compare: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_flood(args: &FloodArgs) -> ExitCode {
    let options = match args.options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("upcase-flood: {message}");
            return ExitCode::from(2);
        }
    };
    let report = match crate::flood::run(options) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("upcase-flood: {error}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        println!("{}", report.to_json());
    } else if let Err(error) = report.print_human(io::stdout().lock()) {
        eprintln!("upcase-flood: cannot print the report: {error}");
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
