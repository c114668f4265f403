//! The UDP client: each line is one datagram (without its terminator) and
//! each reply is printed on a line of its own. A missing reply is retried
//! a few times before the client gives up with a clear message.
//!
//! An empty reply to a non-empty datagram is no reply: the server never
//! sends one (the uppercase of a non-empty payload is not empty), but a
//! proxy does — nginx answers an empty datagram when the server behind it
//! is down. It is retried like silence (the proxy's next pick may be up).

use super::{ClientError, PROMPT};
use std::io::{self, BufRead, ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// How long a UDP reply is awaited before the datagram is sent again.
pub const UDP_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How many times a UDP datagram is sent before giving up (about 5 s in all).
pub const UDP_ATTEMPTS: u32 = 5;

/// Sends each line of `input` as a UDP datagram and prints each reply.
pub fn run_udp(
    addr: SocketAddr,
    mut input: impl BufRead,
    mut output: impl Write,
    interactive: bool,
) -> Result<(), ClientError> {
    let name = addr.to_string();
    let fail = |e| ClientError::connection(&name, "udp", e);
    let local: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).map_err(fail)?;
    socket.connect(addr).map_err(fail)?;
    let mut line = Vec::new();
    let mut reply = vec![0u8; 65536];
    loop {
        if interactive {
            output
                .write_all(PROMPT.as_bytes())
                .map_err(ClientError::Stdout)?;
            output.flush().map_err(ClientError::Stdout)?;
        }
        line.clear();
        if input.read_until(b'\n', &mut line).map_err(fail)? == 0 {
            if interactive {
                output.write_all(b"\n").map_err(ClientError::Stdout)?;
            }
            return Ok(());
        }
        let payload = strip_terminator(&line);
        let received = ask_udp(&socket, payload, &mut reply).map_err(|e| match e {
            NoAnswer::Silence { empty: 0 } => ClientError::UdpSilence { addr: name.clone() },
            NoAnswer::Silence { empty } => ClientError::UdpEmptyReplies {
                addr: name.clone(),
                empty,
            },
            NoAnswer::Failed(e) => fail(e),
        })?;
        output
            .write_all(&reply[..received])
            .map_err(ClientError::Stdout)?;
        output.write_all(b"\n").map_err(ClientError::Stdout)?;
        output.flush().map_err(ClientError::Stdout)?;
        // A line without its newline ended the input (on a terminal,
        // Ctrl-D after text): reading on would wait for more typing.
        if !line.ends_with(b"\n") {
            return Ok(());
        }
    }
}

/// Why a datagram got no answer.
enum NoAnswer {
    /// Every try met silence, or an empty reply (`empty` of them).
    Silence {
        empty: u32,
    },
    Failed(io::Error),
}

impl From<io::Error> for NoAnswer {
    fn from(error: io::Error) -> Self {
        NoAnswer::Failed(error)
    }
}

/// Sends `payload` and waits for one reply, resending on silence (and on
/// an empty reply to a non-empty payload).
fn ask_udp(socket: &UdpSocket, payload: &[u8], reply: &mut [u8]) -> Result<usize, NoAnswer> {
    discard_stale_replies(socket, reply)?;
    socket.set_read_timeout(Some(UDP_RETRY_AFTER))?;
    let mut empty = 0;
    for _ in 0..UDP_ATTEMPTS {
        socket.send(payload)?;
        match socket.recv(reply) {
            Ok(0) if !payload.is_empty() => empty += 1,
            Ok(n) => return Ok(n),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(NoAnswer::Silence { empty })
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
