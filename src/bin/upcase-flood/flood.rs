//! `upcase-flood`: many concurrent clients, every reply checked byte for
//! byte, and a report of throughput, latency percentiles and loss.
//!
//! - [`payload`]: the lines sent and the replies expected;
//! - [`tcp`] and [`udp`]: one function per client thread and mode;
//! - [`report`]: per-client tallies merged into the final report;
//! - [`compare`]: `upcase-flood compare`, every model and carrier measured
//!   side by side ([`server_process`] starts the servers, [`transports`] measures
//!   threads vs sockets, [`chart`] draws the SVG charts);
//! - [`soak`]: `upcase-flood soak`, every model under good and hostile
//!   traffic, checked for wrong replies and leaks.
//!
//! Every run is bounded: by `--lines` per client or by `--duration`, and in
//! any case by `--timeout`, after which clients stop and what is missing is
//! counted as lost. Every blocking read has a timeout, so it never hangs.

use crate::payload::Text;
use crate::report::{Report, Tally};
use crate::{ping_pong, pipelined, tcp, udp};
use indicatif::{ProgressBar, ProgressStyle};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Which transport to flood, and where.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The TCP line protocol.
    Tcp(SocketAddr),
    /// The UDP datagram protocol.
    Udp(SocketAddr),
}

/// What a flood run does.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server.
    pub target: Target,
    /// Concurrent clients.
    pub clients: usize,
    /// Lines per client (ignored when `duration` is set).
    pub lines: u64,
    /// Approximate bytes per line, newline included.
    pub line_bytes: usize,
    /// Send for this long instead of a number of lines.
    pub duration: Option<Duration>,
    /// Lines in flight per client (1 = ping-pong).
    pub pipeline: usize,
    /// What the lines say.
    pub text: Text,
    /// A new TCP connection for every line.
    pub connect_per_line: bool,
    /// When a connection ends with a line unanswered, reconnect and send
    /// it again (ping-pong).
    pub reconnect: bool,
    /// Extra idle TCP connections held open during the run.
    pub idle: usize,
    /// UDP: the most loss, in percent of datagrams sent, that still passes.
    pub max_loss_pct: f64,
    /// Hard limit on the whole run.
    pub timeout: Duration,
    /// Show a progress bar (only sensible on a terminal).
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            target: Target::Tcp(SocketAddr::from(([127, 0, 0, 1], 7878))),
            clients: 4,
            lines: 1000,
            line_bytes: 64,
            duration: None,
            pipeline: 1,
            text: Text::Mixed,
            connect_per_line: false,
            reconnect: false,
            idle: 0,
            max_loss_pct: 5.0,
            timeout: Duration::from_secs(300),
            progress: false,
        }
    }
}

/// The run could not start: the server is not there.
#[derive(Debug)]
pub struct FloodError(pub String);

impl std::fmt::Display for FloodError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FloodError {}

/// What every client thread shares: the options, the clock, the progress.
pub struct RunState {
    /// The options of this run.
    pub options: Options,
    started: Instant,
    stop_sending_at: Option<Instant>,
    deadline: Instant,
    /// Replies received so far, for the progress bar.
    pub progress: AtomicU64,
}

/// The longest a client waits for one reply before counting it lost.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

impl RunState {
    fn new(options: Options) -> RunState {
        let started = Instant::now();
        RunState {
            stop_sending_at: options.duration.map(|d| started + d),
            deadline: started + options.timeout,
            started,
            options,
            progress: AtomicU64::new(0),
        }
    }

    /// Whether line number `seq` (counting from 0) should still be sent.
    pub fn should_send(&self, seq: u64) -> bool {
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        match self.stop_sending_at {
            Some(stop) => now < stop,
            None => seq < self.options.lines,
        }
    }

    /// How long a read may wait now: the reply timeout, or less near the deadline.
    pub fn read_timeout(&self) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        left.clamp(Duration::from_millis(1), REPLY_TIMEOUT)
    }

    /// Whether the hard deadline has passed.
    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// One more good reply arrived for the client keeping `tally`: counted
    /// for the progress bar, and as in the timed window if it still is.
    pub fn replied(&self, tally: &mut Tally) {
        self.replied_many(tally, 1);
    }

    /// [`RunState::replied`] for `lines` good replies at once.
    pub fn replied_many(&self, tally: &mut Tally, lines: u64) {
        self.progress.fetch_add(lines, Ordering::Relaxed);
        if self
            .stop_sending_at
            .is_none_or(|stop| Instant::now() < stop)
        {
            tally.in_window += lines;
        }
    }
}

/// Floods the target as `options` say and reports what happened.
pub fn run(options: Options) -> Result<Report, FloodError> {
    let (transport, address) = match options.target {
        Target::Tcp(addr) => ("tcp", addr),
        Target::Udp(addr) => ("udp", addr),
    };
    match options.target {
        Target::Tcp(addr) => tcp::probe(addr),
        Target::Udp(addr) => udp::probe(addr),
    }
    .map_err(FloodError)?;
    let idle = open_idle_connections(&options)?;
    let run = Arc::new(RunState::new(options.clone()));
    let progress = ProgressDisplay::start(&run);
    let groups = client_groups(&options);
    let threads: Vec<_> = groups
        .iter()
        .map(|ids| {
            let (run, ids) = (Arc::clone(&run), ids.clone());
            thread::Builder::new()
                .name(format!("clients-{}", ids[0]))
                .stack_size(256 * 1024)
                .spawn(move || clients(&ids, &run))
        })
        .collect();
    let mut tally = Tally::new();
    let mut per_client = Vec::with_capacity(options.clients.max(1));
    for (ids, spawned) in groups.iter().zip(threads) {
        let tallies = match spawned {
            Ok(thread) => thread.join().unwrap_or_else(|_| {
                ids.iter()
                    .map(|id| {
                        let mut t = Tally::new();
                        t.error(format!("client {id} panicked"));
                        t
                    })
                    .collect()
            }),
            Err(error) => ids
                .iter()
                .map(|id| {
                    let mut t = Tally::new();
                    t.error(format!("cannot start client {id}: {error}"));
                    t
                })
                .collect(),
        };
        for client in tallies {
            per_client.push(client.in_window);
            tally.merge(client);
        }
    }
    let seconds = run.started.elapsed().as_secs_f64();
    progress.finish();
    drop(idle);
    Ok(Report {
        transport,
        address: address.to_string(),
        mode: mode_name(&options),
        clients: options.clients.max(1),
        idle: options.idle,
        seconds,
        max_loss_pct: options.max_loss_pct,
        window: options.duration,
        per_client,
        tally,
    })
}

/// Whether the TCP clients are ping-pong clients driven from pollers,
/// several per thread (see `ping_pong.rs`).
fn evented_ping_pong(options: &Options) -> bool {
    matches!(options.target, Target::Tcp(_))
        && options.pipeline <= 1
        && !options.connect_per_line
        && !options.reconnect
}

/// Which clients share a thread: evented ping-pong clients are split in a
/// group per CPU; every other kind of client has a thread of its own.
fn client_groups(options: &Options) -> Vec<Vec<usize>> {
    let clients = options.clients.max(1);
    if !evented_ping_pong(options) {
        return (0..clients).map(|id| vec![id]).collect();
    }
    let threads = thread::available_parallelism()
        .map_or(1, usize::from)
        .min(clients);
    (0..threads)
        .map(|group| (group..clients).step_by(threads).collect())
        .collect()
}

/// Runs the clients `ids` on this thread; one tally each, in order.
fn clients(ids: &[usize], run: &RunState) -> Vec<Tally> {
    match run.options.target {
        Target::Tcp(addr) if evented_ping_pong(&run.options) => {
            ping_pong::ping_pong_group(ids, addr, run)
        }
        _ => ids.iter().map(|&id| client(id, run)).collect(),
    }
}

fn client(id: usize, run: &RunState) -> Tally {
    match run.options.target {
        Target::Tcp(addr) if run.options.connect_per_line => tcp::connect_per_line(id, addr, run),
        Target::Tcp(addr) if run.options.pipeline > 1 => pipelined::pipelined(id, addr, run),
        Target::Tcp(addr) => tcp::ping_pong(id, addr, run),
        Target::Udp(addr) => udp::client(id, addr, run),
    }
}

fn mode_name(options: &Options) -> String {
    let how = if options.connect_per_line {
        "connect-per-line".to_string()
    } else if options.pipeline > 1 {
        format!("pipeline {}", options.pipeline)
    } else {
        "ping-pong".to_string()
    };
    match options.duration {
        Some(d) => format!("{how}, {:.1} s", d.as_secs_f64()),
        None => format!("{how}, {} lines each", options.lines),
    }
}

/// Opens the `--idle` connections that sit silent through the run.
fn open_idle_connections(options: &Options) -> Result<Vec<TcpStream>, FloodError> {
    if options.idle == 0 {
        return Ok(Vec::new());
    }
    let addr = match options.target {
        Target::Tcp(addr) | Target::Udp(addr) => addr,
    };
    (0..options.idle)
        .map(|i| {
            TcpStream::connect_timeout(&addr, REPLY_TIMEOUT).map_err(|e| {
                FloodError(format!(
                    "opened {i} of {} idle connections to {addr}, then: {e}",
                    options.idle
                ))
            })
        })
        .collect()
}

/// A progress bar on stderr, fed from the shared reply counter.
struct ProgressDisplay {
    ticker: Option<(thread::JoinHandle<()>, Arc<std::sync::atomic::AtomicBool>)>,
}

impl ProgressDisplay {
    fn start(run: &Arc<RunState>) -> ProgressDisplay {
        if !run.options.progress {
            return ProgressDisplay { ticker: None };
        }
        let total = match run.options.duration {
            Some(_) => None,
            None => Some(run.options.lines * run.options.clients.max(1) as u64),
        };
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{bar:40} {human_pos}/{human_len} replies, {msg}, eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {human_pos} replies, {msg}, {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (run, stop) = (Arc::clone(run), Arc::clone(&done));
        let ticker = thread::spawn(move || {
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let replies = run.progress.load(Ordering::Relaxed);
                bar.set_position(replies);
                let rate = replies as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!("{} replies/s", indicatif::HumanCount(rate as u64)));
                bar.tick();
                thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        });
        ProgressDisplay {
            ticker: Some((ticker, done)),
        }
    }

    fn finish(self) {
        if let Some((ticker, done)) = self.ticker {
            done.store(true, Ordering::Relaxed);
            let _ = ticker.join();
        }
    }
}

/// Describes an I/O failure of client `id` in a few words.
pub(crate) fn describe(id: usize, what: &str, error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("client {id}: {what}: timed out (no answer in time)")
        }
        _ => format!("client {id}: {what}: {error}"),
    }
}
