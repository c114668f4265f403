//! TCP: accepting connections and the two shapes of line handler.
//!
//! - [`acceptor`]: the accept loop every model shares (limits, back-off,
//!   shutdown), which hands each admitted connection to the model.
//! - [`blocking`]: the textbook handler — `BufReader`, uppercase,
//!   `write_all` — for models where a thread may block on one client.
//! - [`evented`]: the same protocol as a non-blocking state machine, for the
//!   `pool` model, where a connection is parked on a poller between reads.

pub mod acceptor;
pub mod blocking;
pub mod evented;

use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The most bytes read in one `read` call (and so decoded in one go).
pub const READ_CHUNK: usize = 64 * 1024;

/// After an error reply, how long the server keeps reading (and discarding)
/// what the client still sends before closing. Closing with unread input
/// makes the kernel send a reset, which can destroy the error reply before
/// the client reads it.
pub const LINGER: Duration = Duration::from_millis(500);

/// The most bytes discarded while lingering.
pub const LINGER_BYTES: usize = 1 << 20;

/// Why a connection ended, for the log line at `debug`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The client closed its side and every reply was sent.
    ClientClosed,
    /// A line was longer than `--max-line`.
    LineTooLong,
    /// No complete line for `--idle-timeout`.
    IdleTimeout,
    /// The server is shutting down.
    ShutDown,
}

/// Tracks `--idle-timeout`: the time since the last complete line.
#[derive(Debug, Clone, Copy)]
pub struct IdleClock {
    timeout: Option<Duration>,
    deadline: Option<Instant>,
}

impl IdleClock {
    /// Starts the clock; `None` never expires.
    pub fn start(timeout: Option<Duration>) -> IdleClock {
        IdleClock {
            timeout,
            deadline: timeout.map(|t| Instant::now() + t),
        }
    }

    /// A complete line arrived: the client gets a full timeout again.
    pub fn reset(&mut self) {
        self.deadline = self.timeout.map(|t| Instant::now() + t);
    }

    /// Whether the client has gone a whole timeout without a line.
    pub fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|deadline| now >= deadline)
    }

    /// Time left before expiry (`None`: never expires).
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(now))
    }
}

/// Whether an I/O error means "try again later", not "the connection failed".
pub fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// Sets the socket's blocking mode and disables Nagle's algorithm, so a
/// short reply leaves at once instead of waiting for an acknowledgement.
pub fn prepare(socket: &TcpStream, nonblocking: bool) -> io::Result<()> {
    socket.set_nonblocking(nonblocking)?;
    socket.set_nodelay(true)
}
