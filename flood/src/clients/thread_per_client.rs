//! The thread-per-client TCP clients on blocking sockets: ping-pong with
//! `--reconnect` (a client that outlives a server restart, resending the
//! line left unanswered) and connect-per-line (connection set-up and
//! tear-down measured with every line). Both are about surviving and
//! churning, not speed; the fast ping-pong is [`super::ping_pong`].

use super::connect::connect;
use crate::payload::LineMaker;
use crate::run::{describe, is_timeout, RunState};
use crate::tally::Tally;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};
use upcase::client::link::{self, Link};
use upcase::client::Backoff;

/// Reads one reply line, at most `limit` bytes. `Ok(false)`: the server
/// closed the connection first.
fn read_reply(reader: &mut impl BufRead, reply: &mut Vec<u8>, limit: usize) -> io::Result<bool> {
    reply.clear();
    reader.take(limit as u64).read_until(b'\n', reply)?;
    Ok(!reply.is_empty())
}

/// Records how waiting for one reply ended (through
/// [`RunState::record`]; an unanswered line is counted lost when the
/// client finishes). Returns whether the client can go on (a closed or
/// failed connection ends it).
fn record_reply(
    id: usize,
    run: &RunState,
    tally: &mut Tally,
    outcome: io::Result<bool>,
    reply: &[u8],
    want: &[u8],
    started: Instant,
) -> bool {
    match outcome {
        Ok(true) => {
            run.record(tally, reply, want, started.elapsed().as_micros() as u64);
            true
        }
        Ok(false) => {
            tally.error(format!("client {id}: the server closed the connection"));
            false
        }
        Err(error) => {
            tally.error(describe(id, "waiting for a reply", &error));
            false
        }
    }
}

/// One line in flight at a time: send, wait for the reply, check, repeat.
/// With `--reconnect`, a connection that ends (EOF or reset) with the line
/// unanswered is replaced and the line sent again, backing off as
/// `upcase-client --reconnect` does ([`Backoff`]); a good reply ends the
/// outage. Every cut connection is counted.
pub fn ping_pong(id: usize, addr: SocketAddr, run: &RunState) -> Tally {
    let mut tally = Tally::new();
    let Some(mut stream) = connect(id, addr, run, &mut tally) else {
        return tally;
    };
    let Some(mut reader) = reader_for(id, &stream, &mut tally) else {
        return tally;
    };
    let mut reply = Vec::new();
    let mut lines = LineMaker::new(id, run.options.line_bytes, run.options.text);
    let mut backoff = Backoff::default();
    let mut seq = 0;
    while run.should_send(seq) {
        let (line, want) = lines.make(seq);
        tally.sent += 1;
        tally.bytes += line.len() as u64;
        // Until the line is answered, or its connection ends for good.
        let (outcome, started) = loop {
            let started = Instant::now();
            let outcome = stream.write_all(line).and_then(|()| {
                stream.socket().set_read_timeout(Some(run.read_timeout()))?;
                read_reply(&mut reader, &mut reply, want.len() + 1)
            });
            if !connection_ended(&outcome) {
                break (outcome, started);
            }
            tally.connections_cut += 1;
            if !run.options.reconnect {
                break (outcome, started);
            }
            match reconnect(addr, run, &mut backoff) {
                Ok(fresh) => {
                    let Some(fresh_reader) = reader_for(id, &fresh, &mut tally) else {
                        return tally;
                    };
                    stream = fresh;
                    reader = fresh_reader;
                    tally.resent += 1;
                }
                Err(why) => {
                    let cut = tally.connections_cut;
                    let last = outcome
                        .err()
                        .map_or_else(|| "closed".into(), |e| e.to_string());
                    let why = format!("{cut} connections cut (last: {last}), {why}");
                    break (Err(io::Error::other(why)), started);
                }
            }
        };
        if !record_reply(id, run, &mut tally, outcome, &reply, want, started) {
            break;
        }
        backoff.reset();
        seq += 1;
    }
    tally
}

/// Whether waiting for a reply ended with the connection (EOF, reset),
/// not with a reply or a timeout.
fn connection_ended(outcome: &io::Result<bool>) -> bool {
    match outcome {
        Ok(replied) => !replied,
        Err(error) => !is_timeout(error),
    }
}

/// A buffered reader over its own handle to `stream`.
fn reader_for(id: usize, stream: &Link, tally: &mut Tally) -> Option<BufReader<Link>> {
    match stream.try_clone() {
        Ok(handle) => Some(BufReader::new(handle)),
        Err(error) => {
            tally.error(describe(id, "socket", &error));
            None
        }
    }
}

/// Connects again after each of `backoff`'s waits, until a connection is
/// made, the outage has lasted its limit, or the run's deadline comes
/// first. `Err`: why it gave up.
fn reconnect(addr: SocketAddr, run: &RunState, backoff: &mut Backoff) -> Result<Link, GaveUp> {
    loop {
        let Some(delay) = backoff.next_delay() else {
            return Err(GaveUp::Outage(backoff.limit()));
        };
        if delay >= run.time_left() {
            return Err(GaveUp::Timeout);
        }
        thread::sleep(delay);
        // A refused or failed connect is one more try of the same outage.
        if let Ok(stream) = TcpStream::connect_timeout(&addr, run.read_timeout()) {
            let _ = stream.set_nodelay(true);
            match Link::open(stream, run.options.tls.as_ref(), run.read_timeout()) {
                Ok(link) => return Ok(link),
                // The same certificate would come back: no use retrying.
                Err(e) if e.kind() == link::TLS_FAILURE => return Err(GaveUp::Tls(e)),
                Err(_) => {}
            }
        }
    }
}

/// Why `--reconnect` stopped trying.
#[derive(Debug, thiserror::Error)]
enum GaveUp {
    /// The outage lasted the back-off's limit.
    #[error("gave up reconnecting after {} s", .0.as_secs())]
    Outage(Duration),
    /// The run's deadline came first.
    #[error("the run's --timeout ended the outage")]
    Timeout,
    /// The handshake failed: the same certificate would come back.
    #[error("{0}")]
    Tls(io::Error),
}

/// A fresh connection per line: connect (and with `--tls` shake hands),
/// send, half-close (after `close_notify`), read the reply. Measures
/// connection set-up and tear-down as much as the line itself.
pub fn connect_per_line(id: usize, addr: SocketAddr, run: &RunState) -> Tally {
    let mut tally = Tally::new();
    let mut reply = Vec::new();
    let mut lines = LineMaker::new(id, run.options.line_bytes, run.options.text);
    let mut seq = 0;
    while run.should_send(seq) {
        let (line, want) = lines.make(seq);
        let started = Instant::now();
        let connected = connect_from(addr, source_for(addr, id, seq), run)
            .and_then(|socket| Link::open(socket, run.options.tls.as_ref(), run.read_timeout()));
        let mut stream = match connected {
            Ok(stream) => stream,
            Err(error) => {
                tally.error(describe(id, "connect", &error));
                break;
            }
        };
        tally.sent += 1;
        tally.bytes += line.len() as u64;
        let exchange = stream
            .write_all(line)
            .map(|()| stream.finish_sending())
            .and_then(|()| {
                reply.clear();
                (&mut stream)
                    .take(want.len() as u64 + 1)
                    .read_to_end(&mut reply)
            });
        let outcome = exchange.map(|_| !reply.is_empty());
        if !record_reply(id, run, &mut tally, outcome, &reply, want, started) {
            break;
        }
        seq += 1;
    }
    tally
}

/// Distinct loopback source addresses the connect-per-line clients use
/// in turn (127.0.1.0 up to 127.0.1.255, then 127.0.2.0 ...).
const LOOPBACK_SOURCES: u32 = 1024;

/// The address a connect-per-line client binds before connecting: on
/// loopback, one of [`LOOPBACK_SOURCES`] addresses in turn; elsewhere
/// none (the kernel's choice).
///
/// Why: the client closes first, so each connection leaves a TIME_WAIT
/// socket behind on the client's side; from one source address, tens of
/// thousands of them crowd the ephemeral ports and the kernel's port
/// search limits the client, whatever the server (`docs/performance.md`,
/// "Churn"). Many sources is also what real connection churn looks like.
fn source_for(addr: SocketAddr, client: usize, seq: u64) -> Option<SocketAddr> {
    let SocketAddr::V4(v4) = addr else {
        return None;
    };
    if !v4.ip().is_loopback() {
        return None;
    }
    let index = (client as u64).wrapping_mul(7919).wrapping_add(seq) % u64::from(LOOPBACK_SOURCES);
    let host = u32::from(std::net::Ipv4Addr::new(127, 0, 1, 0)) + index as u32;
    Some(SocketAddr::from((std::net::Ipv4Addr::from(host), 0)))
}

/// A blocking connection from `source` (if any) to `addr`, its reads and
/// writes (and so the connect itself) bounded by the run's timeout.
fn connect_from(
    addr: SocketAddr,
    source: Option<SocketAddr>,
    run: &RunState,
) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    let timeout = Some(run.read_timeout());
    socket.set_read_timeout(timeout)?;
    socket.set_write_timeout(timeout)?;
    if let Some(source) = source {
        socket.bind(&source.into())?;
    }
    socket.connect(&addr.into())?;
    Ok(socket.into())
}
