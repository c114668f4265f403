//! The TCP client: three threads, so that nothing ever waits on the wrong
//! thing.
//!
//! ```text
//! stdin ──(reader thread)──> channel ──(writer thread)──> socket
//!                                                            │
//! stdout <──────────────(this thread: replies)───────────────┘
//! ```
//!
//! - Sending and receiving overlap, so piped input of any size cannot
//!   deadlock (it would if we sent everything first while the server,
//!   unable to send its replies, stopped reading).
//! - Bytes move with plain `read`/`write`: `std::io::copy` between a
//!   socket and a pipe becomes `splice(2)` on Linux, and a splice blocked
//!   on the socket holds the pipe's lock, freezing a parent that reads our
//!   stdout from the thread that also writes our stdin.
//! - The writer remembers every line sent and not yet answered. When the
//!   server ends the connection with lines unanswered, that is an error,
//!   or with `--reconnect`, the client connects again and resends exactly
//!   those lines, in order (the protocol's rule: an unanswered line was
//!   not processed, and uppercasing is idempotent anyway).
//! - A reply that is due but silent for `--timeout` is an error; time a
//!   person spends typing is not silence.
//! - When the replies end (or stdout closes), this thread returns at once:
//!   it never waits for stdin's end or for a writer blocked on the server.

use super::{explain, ClientError, PROMPT};
use crossbeam_channel::{Receiver, Sender};
use std::collections::VecDeque;
use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How a TCP session behaves.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    /// Prompt before each line and print each reply as it comes.
    pub interactive: bool,
    /// How long a reply that is due may keep silent.
    pub timeout: Duration,
    /// Reconnect and resend unanswered lines when the connection ends.
    pub reconnect: bool,
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions {
            interactive: false,
            timeout: DEFAULT_TIMEOUT,
            reconnect: false,
        }
    }
}

/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Reconnection attempts before giving up (with back-off, about 30 s).
const RECONNECT_ATTEMPTS: u32 = 12;

/// How often the reply reader wakes to check the timeout.
const TICK: Duration = Duration::from_millis(100);

/// What the stdin reader hands the writer.
enum Outgoing {
    Line(Vec<u8>),
    EndOfInput,
    /// A new connection after the old one ended: resend what is unanswered.
    Reconnected(TcpStream),
}

/// Lines sent and not yet answered, shared by the writer and the reader.
#[derive(Default)]
struct Unanswered {
    lines: VecDeque<Vec<u8>>,
    input_done: bool,
}

type Shared = Arc<Mutex<Unanswered>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Unanswered> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Connects (trying every address `addrs` holds, in order) and relays
/// `input` to the server and the replies to `output`.
pub fn run_tcp(
    addrs: &[SocketAddr],
    input: impl BufRead + Send + 'static,
    output: impl Write,
    options: &TcpOptions,
) -> Result<(), ClientError> {
    let name = addrs.first().map_or_else(String::new, ToString::to_string);
    let stream = connect(addrs).map_err(|e| explain(&name, "tcp", &e))?;
    let shared = Shared::default();
    let (outgoing, to_writer) = crossbeam_channel::unbounded();
    spawn_stdin_reader(input, outgoing.clone());
    spawn_writer(
        stream.try_clone().map_err(|e| explain(&name, "tcp", &e))?,
        to_writer,
        &shared,
    );
    let mut replies = ReplyReader {
        name,
        addrs: addrs.to_vec(),
        options: options.clone(),
        shared,
        outgoing,
        output,
    };
    replies.run(stream)
}

fn connect(addrs: &[SocketAddr]) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addrs)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(TICK))?;
    Ok(stream)
}

fn spawn_stdin_reader(mut input: impl BufRead + Send + 'static, outgoing: Sender<Outgoing>) {
    thread::spawn(move || {
        loop {
            let mut line = Vec::new();
            match input.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if outgoing.send(Outgoing::Line(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = outgoing.send(Outgoing::EndOfInput);
    });
}

fn spawn_writer(mut stream: TcpStream, messages: Receiver<Outgoing>, shared: &Shared) {
    let shared = Arc::clone(shared);
    thread::spawn(move || {
        let mut ended = false;
        for message in messages {
            match message {
                Outgoing::Line(line) => {
                    lock(&shared).lines.push_back(line.clone());
                    // A failed write is the reader's to notice (the
                    // connection ended); the line stays unanswered.
                    let _ = stream.write_all(&line);
                }
                Outgoing::EndOfInput => {
                    lock(&shared).input_done = true;
                    ended = true;
                    let _ = stream.shutdown(Shutdown::Write);
                }
                Outgoing::Reconnected(fresh) => {
                    stream = fresh;
                    let resend: Vec<Vec<u8>> = lock(&shared).lines.iter().cloned().collect();
                    for line in resend {
                        if stream.write_all(&line).is_err() {
                            break;
                        }
                    }
                    if ended {
                        let _ = stream.shutdown(Shutdown::Write);
                    }
                }
            }
        }
    });
}

struct ReplyReader<W> {
    name: String,
    addrs: Vec<SocketAddr>,
    options: TcpOptions,
    shared: Shared,
    outgoing: Sender<Outgoing>,
    output: W,
}

/// How one connection's replies ended.
enum Ended {
    /// Every line was answered and input is over (with the unterminated
    /// last reply, if any).
    Complete(Vec<u8>),
    /// The server closed or reset with lines unanswered.
    Cut(ClientError),
}

impl<W: Write> ReplyReader<W> {
    fn run(&mut self, mut stream: TcpStream) -> Result<(), ClientError> {
        if self.options.interactive {
            self.prompt()?;
        }
        let mut attempts = 0;
        loop {
            match self.read_replies(&stream)? {
                Ended::Complete(last) => return self.finish(&last),
                Ended::Cut(error) if !self.options.reconnect => return Err(error),
                Ended::Cut(error) => {
                    attempts += 1;
                    if attempts > RECONNECT_ATTEMPTS {
                        return Err(error);
                    }
                    stream = self.reconnect(attempts, &error)?;
                }
            }
        }
    }

    fn reconnect(&mut self, attempt: u32, why: &ClientError) -> Result<TcpStream, ClientError> {
        let backoff = Duration::from_millis(100 << attempt.min(5)).min(Duration::from_secs(3));
        let unanswered = lock(&self.shared).lines.len();
        eprintln!(
            "upcase-client: {why}; reconnecting in {} ms to resend {unanswered} unanswered {}",
            backoff.as_millis(),
            if unanswered == 1 { "line" } else { "lines" }
        );
        thread::sleep(backoff);
        let fresh = connect(&self.addrs).map_err(|e| explain(&self.name, "tcp", &e))?;
        let writer = fresh
            .try_clone()
            .map_err(|e| explain(&self.name, "tcp", &e))?;
        self.outgoing
            .send(Outgoing::Reconnected(writer))
            .map_err(|_| ClientError("the sending thread ended".into()))?;
        Ok(fresh)
    }

    fn finish(&mut self, partial_reply: &[u8]) -> Result<(), ClientError> {
        if self.options.interactive {
            // An unterminated last reply, then end the prompt line.
            self.write(partial_reply)?;
            self.write(b"\n")?;
        }
        self.output.flush().map_err(|e| self.stdout_failed(&e))
    }

    /// Reads replies from one connection until it ends.
    fn read_replies(&mut self, mut stream: &TcpStream) -> Result<Ended, ClientError> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut partial = Vec::new();
        let mut last_progress = Instant::now();
        let mut last_error_line: Option<String> = None;
        loop {
            let received = match stream.read(&mut buf) {
                Ok(0) => return Ok(self.end_of_replies(&partial, last_error_line)),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    // Only a reply that is due can be late.
                    let due = !lock(&self.shared).lines.is_empty();
                    if !due {
                        last_progress = Instant::now();
                    } else if last_progress.elapsed() >= self.options.timeout {
                        let _ = stream.shutdown(Shutdown::Both);
                        return Err(ClientError(format!(
                            "no reply from {} within {} s (--timeout)",
                            self.name,
                            self.options.timeout.as_secs_f64()
                        )));
                    }
                    continue;
                }
                Err(e) => {
                    return Ok(Ended::Cut(explain(&self.name, "tcp", &e)));
                }
            };
            last_progress = Instant::now();
            let chunk = &buf[..received];
            if !self.options.interactive {
                self.write(chunk)?;
            }
            let mut rest = chunk;
            while let Some(newline) = memchr::memchr(b'\n', rest) {
                partial.extend_from_slice(&rest[..=newline]);
                rest = &rest[newline + 1..];
                if partial.starts_with(b"error: ") {
                    last_error_line = Some(String::from_utf8_lossy(&partial).trim().to_string());
                }
                lock(&self.shared).lines.pop_front();
                if self.options.interactive {
                    // Each reply on the screen, then the next prompt.
                    self.output
                        .write_all(&partial)
                        .map_err(|e| self.stdout_failed(&e))?;
                    self.prompt()?;
                }
                partial.clear();
            }
            partial.extend_from_slice(rest);
            self.output.flush().map_err(|e| self.stdout_failed(&e))?;
        }
    }

    /// The server closed its side: complete, or cut short?
    fn end_of_replies(&mut self, partial: &[u8], error_line: Option<String>) -> Ended {
        let mut state = lock(&self.shared);
        if !partial.is_empty() && state.lines.len() == 1 && state.input_done {
            // The unterminated last line's reply ends at end of input.
            state.lines.pop_front();
        }
        if let Some(error) = error_line {
            return Ended::Cut(ClientError(format!(
                "the server at {} said {error}",
                self.name
            )));
        }
        if state.lines.is_empty() && state.input_done {
            return Ended::Complete(partial.to_vec());
        }
        let unanswered = state.lines.len();
        if unanswered == 0 {
            return Ended::Cut(ClientError(format!(
                "the server at {} closed the connection before the input ended",
                self.name
            )));
        }
        Ended::Cut(ClientError(format!(
            "the server at {} closed the connection with {unanswered} {} unanswered",
            self.name,
            if unanswered == 1 { "line" } else { "lines" }
        )))
    }

    fn prompt(&mut self) -> Result<(), ClientError> {
        self.write(PROMPT.as_bytes())?;
        self.output.flush().map_err(|e| self.stdout_failed(&e))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.output
            .write_all(bytes)
            .map_err(|e| self.stdout_failed(&e))
    }

    fn stdout_failed(&self, error: &io::Error) -> ClientError {
        ClientError(format!("cannot write the replies to stdout: {error}"))
    }
}
