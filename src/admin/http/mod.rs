//! One admin HTTP connection, driven by readiness, with every limit that
//! keeps a client from wedging the endpoint.
//!
//! The admin endpoint runs on one thread with a poller ([`super`]); this
//! file is what that thread does for one connection when its socket is
//! ready. A connection never blocks the thread, and holds at most
//! [`MAX_HEAD`] bytes of request and one response:
//! - the request head is parsed by `httparse` once it is complete; a head
//!   longer than [`MAX_HEAD`] (or with more than [`MAX_HEADERS`] headers)
//!   is answered 431 and the connection closed;
//! - a head must arrive within [`READ_DEADLINE`] of the connection being
//!   ready for it (a byte a second is not progress), a response must be
//!   taken within [`WRITE_DEADLINE`]; past either the connection is closed;
//! - HTTP/1.1 keep-alive with requests answered one at a time, in order:
//!   nothing more is read while a response is unsent, so a client that
//!   pipelines and never reads stops being read, then is cut at the write
//!   deadline;
//! - every response has a `Content-Length`; after one that ends the
//!   connection (errors, HTTP/1.0, `Connection: close`, a request with a
//!   body we do not read) the server sends FIN and drains what the client
//!   still sends ([`drain`]) so that the response is not
//!   destroyed by a reset.

mod message;

pub use message::{Request, Response};

use crate::tcp::drain::{self, Drain, DRAIN_GRACE};
use message::Meta;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The longest request head (request line and headers) read.
pub const MAX_HEAD: usize = 8 * 1024;
/// The most headers in one request.
pub const MAX_HEADERS: usize = 32;
/// How long a request head may take to arrive, counted from the moment the
/// connection is ready for it (accepted, or its last response sent).
pub const READ_DEADLINE: Duration = Duration::from_secs(5);
/// How long the client may take to read one response.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// How often a drain looks again when no event will tell (see [`Drain::Recheck`]).
const RECHECK: Duration = Duration::from_millis(5);
/// Requests answered in one turn before the other connections get theirs.
const REQUESTS_PER_TURN: usize = 8;

/// Writes `response` to a socket that was just accepted (its send buffer
/// is empty, so a short response cannot block), with `Connection: close`,
/// and closes without waiting: for refusing a connection over the limit.
pub fn refuse(mut socket: TcpStream, response: &Response) {
    let mut bytes = Vec::new();
    response.encode(false, true, &mut bytes);
    let _ = socket.set_nonblocking(true);
    let _ = socket.write_all(&bytes);
    drain::finish_replies(&socket);
    let _ = drain::discard_input(&socket, &mut [0u8; 1024]);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head.
    Reading,
    /// Sending the outbox; `close` once it is sent.
    Writing { close: bool },
    /// The last response is sent and FIN with it: discarding input until
    /// the client has closed and acknowledged it.
    Draining,
}

/// What the event loop does with a connection after a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Wait for the socket to be ready (or the deadline).
    Wait,
    /// Serve it again soon without waiting for an event (its turn's budget
    /// ran out, or a drain must look again).
    Again,
    /// Finished: drop it.
    Closed,
}

/// One admin connection (non-blocking).
pub struct HttpConnection {
    socket: TcpStream,
    head: Vec<u8>,
    outbox: Vec<u8>,
    sent: usize,
    phase: Phase,
    deadline: Instant,
}

impl HttpConnection {
    /// Takes over an accepted connection.
    pub fn new(socket: TcpStream) -> io::Result<HttpConnection> {
        socket.set_nonblocking(true)?;
        socket.set_nodelay(true)?;
        Ok(HttpConnection {
            socket,
            head: Vec::new(),
            outbox: Vec::new(),
            sent: 0,
            phase: Phase::Reading,
            deadline: Instant::now() + READ_DEADLINE,
        })
    }

    /// The socket, for the poller.
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// When the connection is cut unless it makes the progress it owes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Since when it has been waiting for a request head (`None`: it is
    /// answering or closing).
    pub fn waiting_since(&self) -> Option<Instant> {
        (self.phase == Phase::Reading).then(|| self.deadline - READ_DEADLINE)
    }

    /// Does all the work possible without blocking; `route` answers each
    /// complete request.
    pub fn serve(&mut self, route: &mut impl FnMut(&Request) -> Response) -> Turn {
        let mut answered = 0;
        loop {
            let step = match self.phase {
                Phase::Writing { close } => self.write(close),
                Phase::Draining => return self.drain(),
                Phase::Reading if answered == REQUESTS_PER_TURN => return Turn::Again,
                Phase::Reading => {
                    let step = self.read(route);
                    if matches!(self.phase, Phase::Writing { .. }) {
                        answered += 1;
                    }
                    step
                }
            };
            match step {
                Ok(true) => continue,
                Ok(false) => return Turn::Wait,
                Err(_) => return Turn::Closed,
            }
        }
    }

    /// Answers a request already buffered (pipelined), else reads more.
    /// `Ok(true)`: the phase moved on; `Ok(false)`: wait for input.
    fn read(&mut self, route: &mut impl FnMut(&Request) -> Response) -> io::Result<bool> {
        if self.answer_buffered(route) {
            return Ok(true);
        }
        let mut chunk = [0u8; 4096];
        loop {
            let room = (MAX_HEAD - self.head.len()).min(chunk.len());
            match (&self.socket).read(&mut chunk[..room]) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    self.head.extend_from_slice(&chunk[..n]);
                    if self.answer_buffered(route) {
                        return Ok(true);
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) => return Err(error),
            }
        }
    }

    /// Parses the buffered head; once it is complete (or cannot be), puts
    /// the response in the outbox. Returns whether it did.
    fn answer_buffered(&mut self, route: &mut impl FnMut(&Request) -> Response) -> bool {
        if self.head.is_empty() {
            return false;
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        let (response, head_only, close, used) = match parsed.parse(&self.head) {
            Ok(httparse::Status::Complete(used)) => {
                let meta = Meta::of(&parsed);
                let request = Request {
                    method: parsed.method.unwrap_or(""),
                    path: parsed.path.unwrap_or("").split('?').next().unwrap_or(""),
                    authorization: meta.authorization,
                };
                let response = route(&request);
                (response, request.method == "HEAD", meta.close, used)
            }
            Ok(httparse::Status::Partial) if self.head.len() < MAX_HEAD => return false,
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => (
                Response::text(431, "request head too large\n"),
                false,
                true,
                self.head.len(),
            ),
            Err(_) => (
                Response::text(400, "bad request\n"),
                false,
                true,
                self.head.len(),
            ),
        };
        self.head.drain(..used);
        self.outbox.clear();
        self.sent = 0;
        response.encode(head_only, close, &mut self.outbox);
        self.phase = Phase::Writing { close };
        self.deadline = Instant::now() + WRITE_DEADLINE;
        true
    }

    /// Sends the outbox. `Ok(true)`: all sent and the phase moved on.
    fn write(&mut self, close: bool) -> io::Result<bool> {
        while self.sent < self.outbox.len() {
            match (&self.socket).write(&self.outbox[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(error) => return Err(error),
            }
        }
        // Give a large response's memory back; keep a small buffer.
        self.outbox.clear();
        self.outbox.shrink_to(MAX_HEAD);
        if close {
            drain::finish_replies(&self.socket);
            self.head = Vec::new();
            self.phase = Phase::Draining;
            self.deadline = Instant::now() + DRAIN_GRACE;
        } else {
            self.phase = Phase::Reading;
            self.deadline = Instant::now() + READ_DEADLINE;
        }
        Ok(true)
    }

    fn drain(&mut self) -> Turn {
        match drain::discard_input(&self.socket, &mut [0u8; 4096]) {
            Drain::Done => Turn::Closed,
            Drain::AwaitingInput => Turn::Wait,
            Drain::Recheck => Turn::Again,
        }
    }

    /// When to look again at a connection that answered [`Turn::Again`]
    /// because its drain cannot be told by an event.
    pub fn recheck_at(&self, now: Instant) -> Instant {
        if self.phase == Phase::Draining {
            now + RECHECK
        } else {
            now
        }
    }
}

#[cfg(test)]
mod tests;
