//! The textbook line handler: one thread, one connection, blocking I/O.
//!
//! Read a chunk through a `BufReader`, let the [`LineSession`] answer every
//! complete line in it, `write_all` the replies, repeat: the lecture's
//! `BufReader` / lines / uppercase / `write_all` loop, with the protocol's
//! rules kept in the session. Used by the `fixed-pool`,
//! `thread-per-connection` and `iterative` models. Blocking is what makes
//! this simple, and also what makes a slow or idle client hold the thread;
//! the `pool` model's [`evented`](super::evented) handler removes that.
//! Over TLS the same loop reads and writes through a
//! [`Transport`]: the session never knows.
//!
//! Limits still hold: the read and write timeouts wake the thread every
//! 100 ms, to notice a shutdown, `--idle-timeout`, or the registry asking
//! the connection to leave; a client that takes no reply for a whole idle
//! timeout is cut.

use super::drain::{drain_before_close, DRAIN_GRACE};
use super::session::{Ending, LineSession, Next};
use super::tls::{TlsLayer, Transport};
use super::{is_timeout, ConnectionEnd};
use crate::context::Context;
use crate::memory::Held;
use crate::registry::Connection;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes buffered per connection. Smaller than the evented handler's shared
/// read buffer because every blocked connection keeps its own.
pub const BUFFER: usize = 16 * 1024;

/// Serves one connection until it ends, then logs how it ended.
pub fn serve(connection: Connection, ctx: &Context) {
    let result = serve_lines(&connection, ctx);
    ConnectionEnd::log(&connection, result, ctx);
}

fn serve_lines(connection: &Connection, ctx: &Context) -> io::Result<Ending> {
    let socket = connection.socket();
    // Accepted non-blocking (`Listener::accept`); this handler blocks, with timeouts.
    socket.set_nonblocking(false)?;
    let mut session = LineSession::for_connection(&ctx.config, connection);
    socket.set_write_timeout(Some(SHUTDOWN_TICK))?;
    set_read_timeout(socket, &session)?;
    let mut tls = match connection.tls() {
        Some(config) => Some(TlsLayer::new(Arc::clone(config))?),
        None => None,
    };
    let transport = match &mut tls {
        Some(tls) => Transport::Tls(socket, tls, &ctx.stats),
        None => Transport::Plain(socket),
    };
    let mut reader = BufReader::with_capacity(BUFFER, transport);
    let mut replies = Vec::new();
    // The replies and partial line, beyond the fixed cost the registry took.
    let mut held = Held::none(&ctx.memory);
    let ending = loop {
        // At shutdown, answer what was already read, then read no more:
        // a client that keeps sending must not keep the server running.
        let stopping = ctx.shutdown.is_triggered() && reader.buffer().is_empty();
        let starved = !stopping
            && reader.buffer().is_empty()
            && !held.ensure(replies.capacity() + session.held_after(BUFFER));
        let next = if starved {
            // The budget cannot take what this read may cost: read nothing
            // until memory is given back (a quiet client holding the most
            // is asked to leave), still noticing shutdown and idleness.
            ctx.registry.evict_for_memory();
            ctx.shutdown.sleep(SHUTDOWN_TICK);
            session.on_tick(Instant::now(), &mut replies, &ctx.stats)
        } else {
            match if stopping {
                Ok(&[][..])
            } else {
                reader.fill_buf()
            } {
                Ok([]) => session.on_end_of_input(ctx.shutdown.is_triggered(), &mut replies),
                Ok(chunk) => {
                    let received = chunk.len();
                    let next = session.on_input(chunk, &mut replies, &ctx.stats);
                    reader.consume(received);
                    next
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if is_timeout(&error) => {
                    let next = session.on_tick(Instant::now(), &mut replies, &ctx.stats);
                    set_read_timeout(socket, &session)?;
                    next
                }
                Err(error) => return Err(error),
            }
        };
        let all_sent = send(reader.get_mut(), &replies, &mut session, ctx)?;
        replies.clear();
        if replies.capacity() > 4 * BUFFER {
            // A long line's replies: give the memory back.
            replies = Vec::new();
        }
        held.settle(replies.capacity() + session.held_now());
        connection.liveness().holds(held.bytes());
        if !all_sent {
            // No reply taken for a whole idle timeout, or asked to leave:
            // the error line could not reach this client either.
            session.count_idle_close(&ctx.stats);
            break Ending::IdleTimeout;
        }
        if let Next::Close(ending) = next {
            break ending;
        }
    };
    if let Transport::Tls(_, tls, stats) = reader.get_mut() {
        close_tls(socket, tls, stats);
    }
    if ending.must_drain() && !drain_before_close(socket) {
        log::debug!("the client was still sending when the drain's grace period ended");
    }
    Ok(ending)
}

/// Ends TLS before the usual close: `close_notify` after the last reply,
/// for up to the drain's grace period. A handshake never finished is
/// counted as abandoned instead.
fn close_tls(socket: &TcpStream, tls: &mut TlsLayer, stats: &crate::stats::Stats) {
    if tls.is_handshaking() {
        tls.abandoned(stats);
        return;
    }
    let deadline = Instant::now() + DRAIN_GRACE;
    while let Ok(false) = tls.close_notify(socket) {
        if Instant::now() >= deadline {
            break;
        }
    }
}

/// Writes `replies`, counting each part the client takes as progress.
/// Returns false, with some unsent, when the session went idle first.
fn send(
    writer: &mut impl Write,
    replies: &[u8],
    session: &mut LineSession,
    ctx: &Context,
) -> io::Result<bool> {
    let mut sent = 0;
    while sent < replies.len() {
        match writer.write(&replies[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                sent += n;
                session.on_sent(n, &ctx.stats);
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => {
                if session.is_idle(Instant::now()) {
                    return Ok(false);
                }
            }
            Err(error) => return Err(error),
        }
    }
    // What a TLS layer still holds goes out too (a no-op in clear text).
    loop {
        match writer.flush() {
            Ok(()) => return Ok(true),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => {
                if session.is_idle(Instant::now()) {
                    return Ok(false);
                }
            }
            Err(error) => return Err(error),
        }
    }
}

/// How often a blocked reader or writer wakes to see whether shutdown has
/// begun, or the connection has been idle too long.
const SHUTDOWN_TICK: Duration = Duration::from_millis(100);

/// Wakes the reader when the idle timeout is due, and at least every
/// [`SHUTDOWN_TICK`] to notice a shutdown.
fn set_read_timeout(socket: &TcpStream, session: &LineSession) -> io::Result<()> {
    let due = session
        .idle_remaining(Instant::now())
        .map_or(SHUTDOWN_TICK, |left| {
            left.clamp(Duration::from_millis(1), SHUTDOWN_TICK)
        });
    socket.set_read_timeout(Some(due))
}
