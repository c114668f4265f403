//! The stream session (TCP, plain or TLS): three threads, so that nothing
//! ever waits on the wrong thing.
//!
//! ```text
//! stdin ──(reader thread)──> channel ──(writer thread)──> socket
//!                                                            │
//! stdout <───────────(this thread: replies, see replies.rs)──┘
//! ```
//!
//! - Sending and receiving overlap, so piped input of any size cannot
//!   deadlock (it would if we sent everything first while the server,
//!   unable to send its replies, stopped reading). The channel is bounded:
//!   stdin is read only as fast as the server takes it.
//! - Bytes move with plain `read`/`write`: `std::io::copy` between a
//!   socket and a pipe becomes `splice(2)` on Linux, and a splice blocked
//!   on the socket holds the pipe's lock, freezing a parent that reads our
//!   stdout from the thread that also writes our stdin.
//! - The writer remembers every line sent and not yet answered. When the
//!   server ends the connection with lines unanswered, that is an error,
//!   or with `--reconnect`, the client connects again and resends exactly
//!   those lines, in order (the protocol's rule: an unanswered line was
//!   not processed, and uppercasing is idempotent anyway).
//! - What is printed is whole replies only (`replies.rs` decides
//!   what is whole): a reply cut by the connection's end is never shown.

use super::link::{Link, TlsClient};
use super::replies::ReplyReader;
use super::{Backoff, ClientError};
use crate::codec::{DEFAULT_MAX_LINE, MAX_GROWTH};
use crate::recover::lock;
use crossbeam_channel::{Receiver, Sender};
use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How a TCP session behaves.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// Prompt before each line and print each reply as it comes.
    pub interactive: bool,
    /// How long a reply that is due may keep silent.
    pub timeout: Duration,
    /// Reconnect and resend unanswered lines when the connection ends.
    pub reconnect: bool,
    /// The most bytes one reply may hold, its newline included.
    pub max_reply: usize,
    /// Speak TLS (`--tls`): whom to trust and the name to check.
    pub tls: Option<TlsClient>,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            interactive: false,
            timeout: DEFAULT_TIMEOUT,
            reconnect: false,
            max_reply: DEFAULT_MAX_REPLY,
            tls: None,
        }
    }
}

/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default `--max-reply`: the longest line the server answers by
/// default, grown as much as uppercasing can grow it, and its newline.
pub const DEFAULT_MAX_REPLY: usize = DEFAULT_MAX_LINE * MAX_GROWTH + 1;

/// How many lines read from stdin may wait for the writer.
const QUEUED_LINES: usize = 256;

/// How often the reply reader wakes to check the timeout.
pub(super) const TICK: Duration = Duration::from_millis(100);

/// What the stdin reader hands the writer.
enum Outgoing {
    Line(Vec<u8>),
    EndOfInput,
}

/// What the writer does next.
enum Next {
    Fresh(Link),
    Input(Outgoing),
    SessionOver,
}

/// Lines sent and not yet answered, shared by the writer and the reader.
#[derive(Default)]
pub(super) struct Unanswered {
    pub(super) lines: VecDeque<Vec<u8>>,
    pub(super) input_done: bool,
}

pub(super) type Shared = Arc<Mutex<Unanswered>>;

/// Connects (trying every address `addrs` holds, in order) and relays
/// `input` to the server and the replies to `output`.
pub fn run_tcp(
    addrs: &[SocketAddr],
    input: impl BufRead + Send + 'static,
    output: impl Write,
    options: &TcpOptions,
) -> Result<(), ClientError> {
    let name = addrs.first().map_or_else(String::new, ToString::to_string);
    let transport = if options.tls.is_some() { "tls" } else { "tcp" };
    let failed = |e| ClientError::connection(&name, transport, e);
    let stream = connect(addrs, options).map_err(failed)?;
    let shared = Shared::default();
    let (lines, to_writer) = crossbeam_channel::bounded(QUEUED_LINES);
    let (reconnected, fresh_streams) = crossbeam_channel::unbounded();
    spawn_stdin_reader(input, lines);
    spawn_writer(
        stream.try_clone().map_err(failed)?,
        to_writer,
        fresh_streams,
        &shared,
    );
    ReplyReader {
        name,
        addrs: addrs.to_vec(),
        options: options.clone(),
        shared,
        reconnected,
        output,
        backoff: Backoff::default(),
    }
    .run(stream)
}

/// Connects, and over TLS finishes the handshake (within `--timeout`).
pub(super) fn connect(addrs: &[SocketAddr], options: &TcpOptions) -> io::Result<Link> {
    let stream = TcpStream::connect(addrs)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(TICK))?;
    Link::open(stream, options.tls.as_ref(), options.timeout)
}

fn spawn_stdin_reader(mut input: impl BufRead + Send + 'static, lines: Sender<Outgoing>) {
    thread::spawn(move || {
        loop {
            let mut line = Vec::new();
            match input.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    // A line without its newline was cut by the end of
                    // input. A terminal's end (Ctrl-D) is not sticky: read
                    // on, and the next line typed would join this one.
                    let last = !line.ends_with(b"\n");
                    if lines.send(Outgoing::Line(line)).is_err() {
                        return;
                    }
                    if last {
                        break;
                    }
                }
            }
        }
        let _ = lines.send(Outgoing::EndOfInput);
    });
}

/// Sends each line from stdin, and on a reconnection (a fresh stream from
/// the reply reader) resends every unanswered line first.
fn spawn_writer(
    mut stream: Link,
    lines: Receiver<Outgoing>,
    fresh_streams: Receiver<Link>,
    shared: &Shared,
) {
    let shared = Arc::clone(shared);
    thread::spawn(move || {
        let mut ended = false;
        loop {
            // A reconnection first: lines still queued follow the resent.
            let next = if ended {
                fresh_streams.recv().map_or(Next::SessionOver, Next::Fresh)
            } else {
                crossbeam_channel::select_biased! {
                    recv(fresh_streams) -> fresh => fresh.map_or(Next::SessionOver, Next::Fresh),
                    recv(lines) -> line => Next::Input(line.unwrap_or(Outgoing::EndOfInput)),
                }
            };
            match next {
                // The reply reader is gone.
                Next::SessionOver => return,
                Next::Fresh(fresh) => {
                    stream = fresh;
                    let resend: Vec<Vec<u8>> = lock(&shared).lines.iter().cloned().collect();
                    for line in resend {
                        if stream.write_all(&line).is_err() {
                            break;
                        }
                    }
                    if ended {
                        stream.finish_sending();
                    }
                }
                Next::Input(Outgoing::Line(line)) => {
                    lock(&shared).lines.push_back(line.clone());
                    // A failed write is the reader's to notice (the
                    // connection ended); the line stays unanswered.
                    let _ = stream.write_all(&line);
                }
                Next::Input(Outgoing::EndOfInput) => {
                    lock(&shared).input_done = true;
                    ended = true;
                    stream.finish_sending();
                }
            }
        }
    });
}
