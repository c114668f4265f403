//! `upcase-client`: send lines, print the replies.
//!
//! Two ways to drive it, chosen by whether stdin is a terminal:
//! - interactive: a `> ` prompt, one line sent, its reply printed, repeat;
//! - piped: a sender thread streams stdin to the socket while this thread
//!   streams replies to stdout. Sending and receiving overlap, so a large
//!   input cannot deadlock (which it would if we sent everything first and
//!   the server, unable to send its replies, stopped reading).
//!
//! Over UDP each line is one datagram (without its line terminator) and
//! each reply is printed on a line of its own. A missing reply is retried
//! a few times before the client gives up with a clear message.

use std::fmt;
use std::io::{self, BufRead, BufReader, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::thread;
use std::time::Duration;

/// How long a UDP reply is awaited before the datagram is sent again.
pub const UDP_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How many times a UDP datagram is sent before giving up (about 5 s in all).
pub const UDP_ATTEMPTS: u32 = 5;

/// The prompt shown when stdin is a terminal.
pub const PROMPT: &str = "> ";

/// Why the client stopped, as one line for stderr.
#[derive(Debug)]
pub struct ClientError(String);

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClientError {}

/// Describes an I/O failure on the connection to `addr` in words.
fn explain(addr: &str, transport: &str, error: &io::Error) -> ClientError {
    let what = match error.kind() {
        ErrorKind::ConnectionRefused => format!("nothing is listening on {addr} ({transport})"),
        ErrorKind::ConnectionReset => format!("the connection to {addr} was reset by the server"),
        ErrorKind::BrokenPipe => format!("the server at {addr} closed the connection"),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => format!("{addr} did not answer in time"),
        _ => format!("{transport} {addr}: {error}"),
    };
    ClientError(what)
}

/// Connects over TCP and relays `input` to the server and replies to `output`.
pub fn run_tcp(
    addr: SocketAddr,
    input: impl BufRead + Send + 'static,
    output: impl Write,
    interactive: bool,
) -> Result<(), ClientError> {
    let name = addr.to_string();
    let stream = TcpStream::connect(addr).map_err(|e| explain(&name, "tcp", &e))?;
    let _ = stream.set_nodelay(true);
    if interactive {
        tcp_interactive(&name, stream, input, output)
    } else {
        tcp_piped(&name, stream, input, output)
    }
}

fn tcp_interactive(
    name: &str,
    stream: TcpStream,
    mut input: impl BufRead,
    mut output: impl Write,
) -> Result<(), ClientError> {
    let fail = |e: io::Error| explain(name, "tcp", &e);
    let mut replies = BufReader::new(stream.try_clone().map_err(fail)?);
    let mut writer = &stream;
    let (mut line, mut reply) = (Vec::new(), Vec::new());
    loop {
        output.write_all(PROMPT.as_bytes()).map_err(fail)?;
        output.flush().map_err(fail)?;
        line.clear();
        if input.read_until(b'\n', &mut line).map_err(fail)? == 0 {
            // Ctrl-D: end the prompt line, then say goodbye properly.
            output.write_all(b"\n").map_err(fail)?;
            let _ = stream.shutdown(Shutdown::Write);
            return Ok(());
        }
        writer.write_all(&line).map_err(fail)?;
        reply.clear();
        replies.read_until(b'\n', &mut reply).map_err(fail)?;
        output.write_all(&reply).map_err(fail)?;
        if !reply.ends_with(b"\n") {
            output.write_all(b"\n").map_err(fail)?;
        }
        output.flush().map_err(fail)?;
        if reply.is_empty() || !line.ends_with(b"\n") {
            return Err(ClientError(format!(
                "the server at {name} closed the connection"
            )));
        }
    }
}

fn tcp_piped(
    name: &str,
    stream: TcpStream,
    mut input: impl BufRead + Send + 'static,
    mut output: impl Write,
) -> Result<(), ClientError> {
    let fail = |e: io::Error| explain(name, "tcp", &e);
    let mut writer = stream.try_clone().map_err(fail)?;
    let sender = thread::spawn(move || -> io::Result<()> {
        io::copy(&mut input, &mut writer)?;
        writer.shutdown(Shutdown::Write)
    });
    let received = io::copy(&mut &stream, &mut output).and_then(|_| output.flush());
    let sent = sender
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the sending thread panicked")));
    received.map_err(fail)?;
    // The server closing early (an error reply) shows up as a failed send.
    sent.map_err(fail)
}

/// Sends each line of `input` as a UDP datagram and prints each reply.
pub fn run_udp(
    addr: SocketAddr,
    mut input: impl BufRead,
    mut output: impl Write,
    interactive: bool,
) -> Result<(), ClientError> {
    let name = addr.to_string();
    let fail = |e: io::Error| explain(&name, "udp", &e);
    let local: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal address")
    } else {
        "[::]:0".parse().expect("literal address")
    };
    let socket = UdpSocket::bind(local).map_err(fail)?;
    socket.connect(addr).map_err(fail)?;
    let mut line = Vec::new();
    let mut reply = vec![0u8; 65536];
    loop {
        if interactive {
            output.write_all(PROMPT.as_bytes()).map_err(fail)?;
            output.flush().map_err(fail)?;
        }
        line.clear();
        if input.read_until(b'\n', &mut line).map_err(fail)? == 0 {
            if interactive {
                output.write_all(b"\n").map_err(fail)?;
            }
            return Ok(());
        }
        let payload = strip_terminator(&line);
        let received = ask_udp(&socket, payload, &mut reply).map_err(|e| match e.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => ClientError(format!(
                "no reply from {name} (udp) after {UDP_ATTEMPTS} tries over {} s",
                UDP_ATTEMPTS as u64 * UDP_RETRY_AFTER.as_secs()
            )),
            _ => fail(e),
        })?;
        output.write_all(&reply[..received]).map_err(fail)?;
        output.write_all(b"\n").map_err(fail)?;
        output.flush().map_err(fail)?;
    }
}

/// Sends `payload` and waits for one reply, resending on silence.
fn ask_udp(socket: &UdpSocket, payload: &[u8], reply: &mut [u8]) -> io::Result<usize> {
    discard_stale_replies(socket, reply)?;
    socket.set_read_timeout(Some(UDP_RETRY_AFTER))?;
    let mut last_error = io::Error::from(ErrorKind::TimedOut);
    for _ in 0..UDP_ATTEMPTS {
        socket.send(payload)?;
        match socket.recv(reply) {
            Ok(n) => return Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                last_error = e;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_error)
}

/// Drops late replies to earlier, resent datagrams, so that they are not
/// taken for the answer to the next line.
fn discard_stale_replies(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<()> {
    socket.set_nonblocking(true)?;
    while socket.recv(buf).is_ok() {}
    socket.set_nonblocking(false)
}

fn strip_terminator(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
