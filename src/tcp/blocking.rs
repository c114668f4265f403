//! The textbook line handler: one thread, one connection, blocking I/O.
//!
//! Read a chunk through a `BufReader`, let the [`LineSession`] answer every
//! complete line in it, `write_all` the replies, repeat: the lecture's
//! `BufReader` / lines / uppercase / `write_all` loop, with the protocol's
//! rules kept in the session. Used by the `fixed-pool`,
//! `thread-per-connection` and `iterative` models. Blocking is what makes
//! this simple, and also what makes a slow or idle client hold the thread;
//! the `pool` model's [`evented`](super::evented) handler removes that.
//!
//! Limits still hold: the read timeout wakes the thread for
//! `--idle-timeout` (and every 100 ms to notice a shutdown), and the write
//! timeout cuts a client that stops reading its replies.

use super::drain::drain_before_close;
use super::session::{Ending, LineSession, Next};
use super::{is_timeout, prepare, ConnectionEnd};
use crate::context::Context;
use crate::registry::Connection;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Bytes buffered per connection. Smaller than the evented handler's shared
/// read buffer because every blocked connection keeps its own.
const BUFFER: usize = 16 * 1024;

/// Serves one connection until it ends, then logs how it ended.
pub fn serve(connection: Connection, ctx: &Context) {
    let result = serve_lines(connection.socket(), ctx);
    ConnectionEnd::log(&connection, result, ctx);
}

fn serve_lines(socket: &TcpStream, ctx: &Context) -> io::Result<Ending> {
    prepare(socket, false)?;
    let mut session = LineSession::new(&ctx.config);
    // The write timeout bounds how long a client that never reads its
    // replies can hold this thread.
    socket.set_write_timeout(ctx.config.idle_timeout)?;
    set_read_timeout(socket, &session)?;
    let mut reader = BufReader::with_capacity(BUFFER, socket);
    let mut writer = socket;
    let mut replies = Vec::new();
    let ending = loop {
        // At shutdown, answer what was already read, then read no more:
        // a client that keeps sending must not keep the server running.
        let stopping = ctx.shutdown.is_triggered() && reader.buffer().is_empty();
        let next = match if stopping {
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
        };
        writer.write_all(&replies)?;
        session.on_sent(replies.len(), &ctx.stats);
        replies.clear();
        if let Next::Close(ending) = next {
            break ending;
        }
    };
    if ending.must_drain() && !drain_before_close(socket) {
        log::debug!("the client was still sending when the drain's grace period ended");
    }
    Ok(ending)
}

/// How often a blocked reader wakes to see whether shutdown has begun.
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
