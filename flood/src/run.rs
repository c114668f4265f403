//! What every flood client shares and obeys: the run's options, its clock
//! (when to stop sending, how long a read may wait, the hard deadline) and
//! the rule for what a failure was. The clients (`clients/`) and the
//! orchestration (`flood.rs`) import this; it imports neither.

use crate::payload::Text;
use crate::tally::Tally;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Which transport to flood, and where.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The TCP line protocol.
    Tcp(SocketAddr),
    /// The UDP datagram protocol.
    Udp(SocketAddr),
}

impl Target {
    /// The transport, without the address.
    pub fn transport(&self) -> Transport {
        match self {
            Target::Tcp(_) => Transport::Tcp,
            Target::Udp(_) => Transport::Udp,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        match *self {
            Target::Tcp(addr) | Target::Udp(addr) => addr,
        }
    }
}

/// TCP or UDP: what a report says it flooded, and judges by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Lines over TCP: nothing may be lost.
    Tcp,
    /// Datagrams: loss up to `--max-loss` passes.
    Udp,
}

impl Transport {
    /// `tcp` or `udp`, as the reports and the JSON write it.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
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
    /// TCP over TLS (`--tls`): every connection's handshake is done
    /// before its first line, and counted in connect-per-line's time.
    pub tls: Option<upcase::client::TlsClient>,
    /// Threads that drive the ping-pong clients (each a poller over its
    /// share of them); `None`: one per CPU.
    pub threads: Option<usize>,
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
            tls: None,
            threads: None,
        }
    }
}

/// What every client thread shares: the options, the clock, the progress.
pub struct RunState {
    /// The options of this run.
    pub options: Options,
    /// When the run started.
    pub started: Instant,
    stop_sending_at: Option<Instant>,
    deadline: Instant,
    /// Replies received so far, for the progress bar.
    pub progress: AtomicU64,
}

/// The longest a client waits for one reply before counting it lost.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

impl RunState {
    /// The state of a run starting now.
    pub fn new(options: Options) -> RunState {
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
        self.time_left()
            .clamp(Duration::from_millis(1), REPLY_TIMEOUT)
    }

    /// How long until the hard deadline.
    pub fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Whether the hard deadline has passed.
    pub fn past_deadline(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// A reply to one line arrived, `micros` after the line was sent:
    /// checked byte for byte against `want`. This decides what counts: a
    /// right reply is answered (the progress bar, and the timed window if
    /// it is still open); a wrong one is a mismatch and never answered.
    /// Returns whether it was right.
    pub fn record(&self, tally: &mut Tally, reply: &[u8], want: &[u8], micros: u64) -> bool {
        let right = tally.check(reply, want, micros);
        if right {
            self.answered(tally, 1);
        }
        right
    }

    /// [`RunState::record`] for `lines` replies already compared together
    /// and all right (a pipelined batch), each `micros` after sending.
    pub fn record_right(&self, tally: &mut Tally, lines: u64, micros: u64) {
        tally.ok_many(lines, micros);
        self.answered(tally, lines);
    }

    /// The other half of [`RunState::record`]: a client has ended, and
    /// every line it sent that got no reply (right or wrong) was lost,
    /// whatever ended it (timeout, close, reset, the deadline, UDP loss).
    pub fn finish(&self, mut tally: Tally) -> Tally {
        tally.lost = tally.sent.saturating_sub(tally.ok + tally.mismatches);
        tally
    }

    fn answered(&self, tally: &mut Tally, lines: u64) {
        self.progress.fetch_add(lines, Ordering::Relaxed);
        if self
            .stop_sending_at
            .is_none_or(|stop| Instant::now() < stop)
        {
            tally.in_window += lines;
        }
    }
}

/// Describes an I/O failure of client `id` in a few words.
pub fn describe(id: usize, what: &str, error: &io::Error) -> String {
    if is_timeout(error) {
        format!("client {id}: {what}: timed out (no answer in time)")
    } else {
        format!("client {id}: {what}: {error}")
    }
}

/// Whether `error` is a read or write that ran out of time (a socket
/// timeout reads as `WouldBlock` on Unix, `TimedOut` elsewhere), as
/// opposed to a connection that failed.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}
