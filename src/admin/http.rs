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

use crate::tcp::drain::{self, Drain, DRAIN_GRACE};
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

/// A request as the router sees it.
#[derive(Debug)]
pub struct Request<'a> {
    /// `GET`, `HEAD`, ...
    pub method: &'a str,
    /// The path, without the query string.
    pub path: &'a str,
    /// The `Authorization` header, if sent.
    pub authorization: Option<&'a [u8]>,
}

/// A response, before encoding.
#[derive(Debug)]
pub struct Response {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with `status` and a body of type `content_type`.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A short plain-text response.
    pub fn text(status: u16, body: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Response {
        self.headers.push((name, value));
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The HTTP/1.1 bytes, the body left out for `HEAD` (its length kept).
    fn encode(&self, head_only: bool, close: bool, out: &mut Vec<u8>) {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        out.extend_from_slice(head.as_bytes());
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    }
}

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

/// What the headers say about the connection and the caller.
struct Meta<'a> {
    close: bool,
    authorization: Option<&'a [u8]>,
}

impl<'a> Meta<'a> {
    fn of(request: &httparse::Request<'_, 'a>) -> Meta<'a> {
        // HTTP/1.0 closes unless told otherwise; keep-alive for 1.0 is not
        // worth its rules here.
        let mut close = request.version != Some(1);
        let mut authorization = None;
        for header in request.headers.iter() {
            let value = header.value;
            if header.name.eq_ignore_ascii_case("connection") {
                close |= value
                    .split(|&b| b == b',')
                    .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"));
            } else if header.name.eq_ignore_ascii_case("content-length") {
                // A body is never read: after answering, close instead of
                // taking the body for the next request.
                close |= value.trim_ascii() != b"0";
            } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
                close = true;
            } else if header.name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value);
            }
        }
        Meta {
            close,
            authorization,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, HttpConnection) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, HttpConnection::new(server).unwrap())
    }

    fn ok(request: &Request) -> Response {
        Response::text(200, &format!("{} {}\n", request.method, request.path))
    }

    /// Serves until the connection waits with nothing more to read.
    fn serve_all(connection: &mut HttpConnection) -> Turn {
        let mut route = ok;
        loop {
            match connection.serve(&mut route) {
                Turn::Again => continue,
                other => return other,
            }
        }
    }

    fn read_available(client: &mut TcpStream) -> String {
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = vec![0u8; 65536];
        let n = client.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn pipelined_requests_are_answered_in_order_with_lengths() {
        let (mut client, mut connection) = pair();
        client
            .write_all(b"GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\nHEAD /b HTTP/1.1\r\n\r\n")
            .unwrap();
        // Both requests may not have arrived in one read; serve until both
        // responses are out.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut got = String::new();
        while got.matches("HTTP/1.1 200").count() < 2 && Instant::now() < deadline {
            assert_eq!(serve_all(&mut connection), Turn::Wait);
            got.push_str(&read_available(&mut client));
        }
        let first = got.find("GET /a\n").expect("the first body");
        assert!(got[..first].contains("Content-Length: 7\r\n"), "{got}");
        assert!(!got.contains("HEAD /b\n"), "HEAD has no body: {got}");
        assert!(
            got.ends_with("Content-Length: 8\r\nCache-Control: no-store\r\n\r\n"),
            "{got}"
        );
        assert!(!got.contains("Connection: close"));
    }

    #[test]
    fn an_oversized_head_gets_431_and_the_connection_closes() {
        let (mut client, mut connection) = pair();
        client.write_all(b"GET / HTTP/1.1\r\nX: ").unwrap();
        client.write_all(&vec![b'a'; MAX_HEAD]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while connection.phase == Phase::Reading && Instant::now() < deadline {
            serve_all(&mut connection);
        }
        assert!(read_available(&mut client).starts_with("HTTP/1.1 431 "));
        assert!(connection.head.capacity() <= MAX_HEAD);
    }

    #[test]
    fn http_1_0_and_garbage_close_after_the_response() {
        for (request, status) in [
            (&b"GET / HTTP/1.0\r\n\r\n"[..], "200"),
            (b"\x01\x02 nonsense\r\n\r\n", "400"),
        ] {
            let (mut client, mut connection) = pair();
            client.write_all(request).unwrap();
            client.shutdown(std::net::Shutdown::Write).unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while serve_all(&mut connection) != Turn::Closed && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let mut response = String::new();
            client.read_to_string(&mut response).unwrap();
            assert!(
                response.starts_with(&format!("HTTP/1.1 {status} ")),
                "{response}"
            );
            assert!(response.contains("Connection: close\r\n"), "{response}");
        }
    }
}
