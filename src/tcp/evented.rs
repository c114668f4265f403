//! The line protocol as a non-blocking state machine, for the `pool` model.
//!
//! An event loop calls [`Connection::serve`] when the poller says the
//! socket is ready; `serve` does all the work it can without blocking and
//! answers what to wait for next ([`Wait`]). Everything that must survive
//! between turns travels with the `Connection`: the partial line (inside the
//! codec) and replies the client has not taken yet (the outbox).
//!
//! Backpressure: when the client stops reading and a reply cannot be sent
//! in full, the rest goes to the outbox and the connection waits for
//! *writability* only; nothing more is read from it until the outbox is
//! empty. So one read's worth of replies is the most a slow reader costs.
//!
//! Memory: read and reply buffers belong to the event loop ([`Scratch`]),
//! not to connections. An idle connection holds no buffer at all.

use super::{is_transient, prepare, Ending, IdleClock, LINGER, LINGER_BYTES, READ_CHUNK};
use crate::codec::{LineCodec, IDLE_TIMEOUT_REPLY};
use crate::context::Context;
use crate::registry::TrackedStream;
use std::io::{self, Read, Write};
use std::net::{Shutdown as Half, TcpStream};
use std::time::Instant;

/// At most this many reads per turn, so one busy client cannot starve the
/// other connections of the same event loop.
const READS_PER_TURN: usize = 16;

/// What a connection waits for next.
///
/// The poller is edge-triggered: it reports *changes* (new input arrived,
/// room appeared to send), so a connection must never stop while input it
/// could read is still queued, unless it asks to be served [`Wait::Again`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Input from the client: every queued byte has been read.
    Readable,
    /// Room to send the outbox (reading is paused until it is empty).
    Writable,
    /// Work is left (its turn's budget ran out, or its state changed):
    /// serve it again soon, without waiting for an event.
    Again,
    /// Nothing: the connection is finished and should be dropped.
    Done(Ending),
}

/// Buffers an event loop lends to whichever connection it is serving.
pub struct Scratch {
    read: Box<[u8]>,
    replies: Vec<u8>,
}

impl Scratch {
    /// Buffers for one event loop.
    pub fn new() -> Scratch {
        Scratch {
            read: vec![0; READ_CHUNK].into_boxed_slice(),
            replies: Vec::with_capacity(READ_CHUNK),
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading lines and answering them.
    Serving,
    /// No more input will be read: send the outbox, then end.
    Finishing { ending: Ending, linger: bool },
    /// The last reply is sent and our side is closed; discarding what the
    /// client still sends until it closes too, or `until`.
    Lingering {
        ending: Ending,
        until: Instant,
        discarded: usize,
    },
}

/// One client connection, owned by one event loop at a time.
pub struct Connection {
    stream: TrackedStream,
    codec: LineCodec,
    outbox: Vec<u8>,
    idle: IdleClock,
    phase: Phase,
    /// The poller reported the client's end-of-input (or our own read
    /// shutdown): reads must go on until they return end-of-file.
    peer_closed: bool,
}

impl Connection {
    /// Takes over an accepted connection, switching it to non-blocking mode.
    pub fn new(stream: TrackedStream, ctx: &Context) -> io::Result<Connection> {
        prepare(stream.socket(), true)?;
        Ok(Connection {
            stream,
            codec: LineCodec::new(ctx.config.max_line),
            outbox: Vec::new(),
            idle: IdleClock::start(ctx.config.idle_timeout),
            phase: Phase::Serving,
            peer_closed: false,
        })
    }

    /// The socket, for registering with a poller.
    pub fn socket(&self) -> &TcpStream {
        self.stream.socket()
    }

    /// The accepted connection, for log lines.
    pub fn stream(&self) -> &TrackedStream {
        &self.stream
    }

    /// Records that the poller saw the read side close: end-of-file is
    /// queued behind whatever input is left.
    pub fn peer_closed(&mut self) {
        self.peer_closed = true;
    }

    /// Does every bit of work possible without blocking.
    pub fn serve(&mut self, scratch: &mut Scratch, ctx: &Context) -> io::Result<Wait> {
        if !self.flush_outbox(ctx)? {
            return Ok(Wait::Writable);
        }
        match self.phase {
            Phase::Serving => self.serve_lines(scratch, ctx),
            Phase::Finishing { ending, linger } => Ok(self.finish(ending, linger)),
            Phase::Lingering { .. } => Ok(self.discard_input(scratch)),
        }
    }

    /// Called periodically: ends the connection if `--idle-timeout` passed
    /// without a complete line, or if lingering has gone on long enough.
    pub fn check_timers(&mut self, now: Instant) -> Option<Wait> {
        match self.phase {
            Phase::Serving if self.idle.expired(now) => {
                if !self.outbox.is_empty() {
                    // A client that does not even read gets no more time.
                    return Some(Wait::Done(Ending::IdleTimeout));
                }
                self.outbox.extend_from_slice(IDLE_TIMEOUT_REPLY);
                self.phase = Phase::Finishing {
                    ending: Ending::IdleTimeout,
                    linger: true,
                };
                Some(Wait::Again)
            }
            Phase::Finishing { ending, .. } if self.idle.expired(now) => Some(Wait::Done(ending)),
            Phase::Lingering { ending, until, .. } if now >= until => Some(Wait::Done(ending)),
            _ => None,
        }
    }

    fn serve_lines(&mut self, scratch: &mut Scratch, ctx: &Context) -> io::Result<Wait> {
        for _ in 0..READS_PER_TURN {
            let received = match self.stream.socket().read(&mut scratch.read) {
                Ok(received) => received,
                Err(error) if is_transient(&error) => return Ok(Wait::Readable),
                Err(error) => return Err(error),
            };
            scratch.replies.clear();
            if received == 0 {
                return Ok(self.end_of_input(scratch, ctx));
            }
            let decoded = self
                .codec
                .decode(&scratch.read[..received], &mut scratch.replies);
            let lines = *decoded.as_ref().unwrap_or(&0);
            ctx.stats.received(received, lines);
            if lines > 0 {
                self.idle.reset();
            }
            if let Err(too_long) = decoded {
                scratch.replies.extend_from_slice(&too_long.reply());
                self.phase = Phase::Finishing {
                    ending: Ending::LineTooLong,
                    linger: true,
                };
            }
            if !self.send(&scratch.replies, ctx)? {
                return Ok(Wait::Writable);
            }
            if let Phase::Finishing { ending, linger } = self.phase {
                return Ok(self.finish(ending, linger));
            }
            if received < scratch.read.len() && !self.peer_closed {
                // A short read took everything queued, and no end-of-file
                // is pending: skip the read that would only say "nothing
                // more". New input, or a close, raises a new event.
                return Ok(Wait::Readable);
            }
        }
        // Still more input: yield to the other connections, come back soon.
        Ok(Wait::Again)
    }

    fn end_of_input(&mut self, scratch: &mut Scratch, ctx: &Context) -> Wait {
        let ending = if ctx.shutdown.is_triggered() {
            // The registry shut our read side: an unfinished line is
            // dropped, not answered in half.
            self.codec.discard_partial_line();
            Ending::ShutDown
        } else {
            self.codec.finish(&mut scratch.replies);
            Ending::ClientClosed
        };
        self.phase = Phase::Finishing {
            ending,
            linger: false,
        };
        match self.send(&scratch.replies, ctx) {
            Ok(true) => Wait::Done(ending),
            Ok(false) => Wait::Writable,
            Err(_) => Wait::Done(ending),
        }
    }

    /// No more input is wanted and the outbox is empty.
    fn finish(&mut self, ending: Ending, linger: bool) -> Wait {
        if !linger {
            return Wait::Done(ending);
        }
        let _ = self.stream.socket().shutdown(Half::Write);
        self.phase = Phase::Lingering {
            ending,
            until: Instant::now() + LINGER,
            discarded: 0,
        };
        // Input may already be queued, and no new event would report it.
        Wait::Again
    }

    fn discard_input(&mut self, scratch: &mut Scratch) -> Wait {
        let Phase::Lingering {
            ending, discarded, ..
        } = &mut self.phase
        else {
            return Wait::Readable;
        };
        loop {
            match self.stream.socket().read(&mut scratch.read) {
                Ok(0) => return Wait::Done(*ending),
                Ok(n) => {
                    *discarded += n;
                    if *discarded >= LINGER_BYTES {
                        return Wait::Done(*ending);
                    }
                }
                Err(error) if is_transient(&error) => return Wait::Readable,
                Err(_) => return Wait::Done(*ending),
            }
        }
    }

    /// Writes `replies` directly from the caller's buffer; what the socket
    /// does not take is kept in the outbox. Returns whether all was sent.
    fn send(&mut self, replies: &[u8], ctx: &Context) -> io::Result<bool> {
        let sent = write_some(self.stream.socket(), replies)?;
        ctx.stats.sent(sent);
        if sent < replies.len() {
            self.outbox.extend_from_slice(&replies[sent..]);
            return Ok(false);
        }
        Ok(true)
    }

    /// Sends what the outbox holds. Returns whether it is now empty (and
    /// then gives its memory back).
    fn flush_outbox(&mut self, ctx: &Context) -> io::Result<bool> {
        if self.outbox.is_empty() {
            return Ok(true);
        }
        let sent = write_some(self.stream.socket(), &self.outbox)?;
        ctx.stats.sent(sent);
        self.outbox.drain(..sent);
        if self.outbox.is_empty() {
            self.outbox = Vec::new();
            return Ok(true);
        }
        Ok(false)
    }
}

/// Writes as much of `bytes` as the socket takes without blocking.
fn write_some(mut socket: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < bytes.len() {
        match socket.write(&bytes[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(error) if is_transient(&error) => break,
            Err(error) => return Err(error),
        }
    }
    Ok(sent)
}
