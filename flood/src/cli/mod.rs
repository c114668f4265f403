//! `upcase-flood`'s command line: its clap definitions, and (in
//! [`options`]) the flags turned into the options of the flood and of each
//! report, every bad flag a [`UsageError`]. In the library, not in
//! `src/bin/`, so the man page and shell completions (`gen-docs/`, for the
//! .deb) are generated from these definitions; the binary runs what they
//! say and prints the one line an error makes.

use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;

use crate::payload::Text;

pub mod options;

pub use crate::error::UsageError;

/// upcase-flood: floods an upcase server with concurrent clients and
/// checks every reply byte for byte.
#[derive(Parser, Debug)]
#[command(name = "upcase-flood", version = upcase::version!(), about, long_about = None)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(args_override_self = true)]
pub struct Cli {
    // A report, or none: the flood itself.
    #[command(subcommand)]
    pub command: Option<Command>,
    // The flood's flags.
    #[command(flatten)]
    pub flood: FloodArgs,
}

// The reports.
#[derive(Subcommand, Debug)]
pub enum Command {
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

// `bench`'s flags (a doc comment would become clap's text).
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Repetitions (every workload against every server in each).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = count(1..=100))]
    reps: usize,
    /// Seconds per timed run.
    #[arg(long, value_name = "SECS", default_value_t = 1.5)]
    secs: f64,
    /// Idle connections in the memory row.
    #[arg(long, value_name = "N", default_value_t = 5000, value_parser = count(1..=100_000))]
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

// `soak`'s flags.
#[derive(Args, Debug)]
pub struct SoakArgs {
    /// Seconds of traffic per model.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    seconds: f64,
    /// The upcase-server binary [default: the one beside this program].
    #[arg(long, value_name = "PATH")]
    server: Option<PathBuf>,
}

// `compare`'s and `lab`'s flags.
#[derive(Args, Debug)]
pub struct CompareArgs {
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
// The flood's flags.
pub struct FloodArgs {
    /// Flood the TCP server at ADDR.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<String>,
    /// Flood the UDP server at ADDR.
    #[arg(long, value_name = "ADDR")]
    udp: Option<String>,
    /// Concurrent clients.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = count(1..=100_000))]
    clients: usize,
    /// Lines each client sends (unless --duration is given).
    #[arg(long, value_name = "M", default_value_t = 1000)]
    lines: u64,
    /// Approximate bytes per line, newline included (16 to 65536; over
    /// UDP at most 65507, one datagram).
    #[arg(long, value_name = "B", default_value_t = 64, value_parser = count(16..=65_536))]
    line_bytes: usize,
    /// UDP: the most loss, in percent of datagrams sent, that still passes.
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    max_loss: f64,
    /// Send for SECS seconds instead of a number of lines.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Lines in flight per client (1 = ping-pong, measuring latency).
    #[arg(long, value_name = "K", default_value_t = 1, value_parser = count(1..=1_000_000))]
    pipeline: usize,
    /// What the lines say: `mixed` exercises the server's full Unicode
    /// path, `ascii` its fast path (and matches the simplest bulk client).
    #[arg(long, value_enum, default_value_t = Text::Mixed)]
    text: Text,
    /// Threads driving the ping-pong clients, each a poller over its
    /// share (default: one per CPU). One thread serves every client in
    /// turn, so no client is behind only because its thread waited for a
    /// CPU (what `compare` uses where server and clients share the CPUs).
    #[arg(long, value_name = "N", value_parser = count(1..=1024))]
    threads: Option<usize>,
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
    pub json: bool,
    /// Hard limit on the whole run, in seconds [default: 300, or --duration + 30].
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
}

/// A count flag's parser: a whole number in `range`, else a usage error.
fn count(range: std::ops::RangeInclusive<u64>) -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(range)
}
