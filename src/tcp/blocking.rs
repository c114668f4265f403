//! The textbook line handler: one thread, one connection, blocking I/O.
//!
//! Read a chunk through a `BufReader`, uppercase every complete line in it,
//! `write_all` the replies, repeat. Used by the `fixed-pool`,
//! `thread-per-connection` and `iterative` models. Blocking is what makes
//! this simple, and also what makes a slow or idle client hold the thread;
//! the `pool` model's [`evented`](super::evented) handler removes that.
//!
//! Limits still hold: socket timeouts enforce `--idle-timeout` (and cut a
//! client that stops reading its replies), and at shutdown the registry's
//! read shutdown turns a blocked `read` into end-of-file.

use super::{is_transient, prepare, Ending, IdleClock, LINGER, LINGER_BYTES};
use crate::codec::{LineCodec, IDLE_TIMEOUT_REPLY};
use crate::context::Context;
use crate::registry::TrackedStream;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown as Half, TcpStream};
use std::time::Instant;

/// Bytes buffered per connection. Smaller than the evented handler's shared
/// read buffer because every blocked connection keeps its own.
const BUFFER: usize = 16 * 1024;

/// Serves one connection until it ends, then logs how it ended.
pub fn serve(connection: TrackedStream, ctx: &Context) {
    match serve_lines(connection.socket(), ctx) {
        Ok(ending) => log::debug!("{connection:?} closed: {ending:?}"),
        Err(error) => log::warn!("{connection:?} failed: {error}"),
    }
}

fn serve_lines(socket: &TcpStream, ctx: &Context) -> io::Result<Ending> {
    prepare(socket, false)?;
    let mut idle = IdleClock::start(ctx.config.idle_timeout);
    // The write timeout bounds how long a client that never reads its
    // replies can hold this thread.
    socket.set_read_timeout(ctx.config.idle_timeout)?;
    socket.set_write_timeout(ctx.config.idle_timeout)?;
    let mut reader = BufReader::with_capacity(BUFFER, socket);
    let mut writer = socket;
    let mut codec = LineCodec::new(ctx.config.max_line);
    let mut replies = Vec::new();
    loop {
        let chunk = match reader.fill_buf() {
            Ok([]) => break,
            Ok(chunk) => chunk,
            Err(error) if is_transient(&error) => {
                if idle.expired(Instant::now()) {
                    return reply_and_close(socket, IDLE_TIMEOUT_REPLY, Ending::IdleTimeout);
                }
                socket.set_read_timeout(idle.remaining(Instant::now()))?;
                continue;
            }
            Err(error) => return Err(error),
        };
        let received = chunk.len();
        let decoded = codec.decode(chunk, &mut replies);
        reader.consume(received);
        let lines = *decoded.as_ref().unwrap_or(&0);
        ctx.stats.received(received, lines);
        if lines > 0 {
            idle.reset();
        }
        writer.write_all(&replies)?;
        ctx.stats.sent(replies.len());
        replies.clear();
        if let Err(too_long) = decoded {
            return reply_and_close(socket, &too_long.reply(), Ending::LineTooLong);
        }
        if idle.expired(Instant::now()) {
            // Bytes keep arriving, but never a whole line (a trickle).
            return reply_and_close(socket, IDLE_TIMEOUT_REPLY, Ending::IdleTimeout);
        }
    }
    // End of input. At shutdown it is the registry's doing, and the line the
    // client had not finished is dropped rather than answered half.
    if ctx.shutdown.is_triggered() {
        return Ok(Ending::ShutDown);
    }
    if codec.finish(&mut replies) {
        writer.write_all(&replies)?;
        ctx.stats.sent(replies.len());
    }
    Ok(Ending::ClientClosed)
}

/// Sends a final error line, then closes without resetting the connection.
fn reply_and_close(mut socket: &TcpStream, reply: &[u8], ending: Ending) -> io::Result<Ending> {
    socket.write_all(reply)?;
    linger(socket);
    Ok(ending)
}

/// Half-closes, then reads and discards what the client still sends, for a
/// bounded time and amount, so that closing does not reset the connection.
fn linger(mut socket: &TcpStream) {
    let _ = socket.shutdown(Half::Write);
    let deadline = Instant::now() + LINGER;
    let mut discarded = 0;
    let mut sink = [0u8; 4096];
    while discarded < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || socket.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match socket.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => discarded += n,
        }
    }
}
