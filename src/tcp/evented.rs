//! The line protocol driven by readiness, for the `pool` model.
//!
//! An event loop calls [`EventedConnection::serve`] when the poller says
//! the socket is ready; `serve` does all the work it can without blocking
//! and answers what to wait for next ([`Wait`]). The protocol's rules are
//! the [`LineSession`]'s; this file only moves bytes. Everything that must
//! survive between turns travels with the connection: the session (with
//! its partial line) and replies the client has not taken yet (the outbox).
//!
//! ## What it relies on from the poller (epoll, edge-triggered)
//! - A readiness edge is raised whenever new input arrives, the peer
//!   half-closes (`EPOLLRDHUP`, reported as read-closed), or room appears
//!   in the send buffer after it was full. So a connection may stop
//!   reading only at would-block, or after a *short read* when no
//!   half-close was reported: a read that returned less than asked took
//!   everything queued, and anything later raises a new edge. (tokio's
//!   readiness model relies on the same epoll behaviour.)
//! - An interrupted read (`EINTR`) is not "would block": it is retried at
//!   once, because no new edge would report the input still queued.
//!
//! Over TLS the reads and writes go through a [`TlsLayer`]; since a short
//! read then says nothing about what the socket still holds, such a
//! connection reads until it would block, and records rustls could not
//! send yet make it wait for writability like a full outbox.
//!
//! Backpressure: when the client stops reading and a reply cannot be sent
//! in full, the rest goes to the outbox and the connection waits for
//! *writability* only; nothing more is read from it until the outbox is
//! empty. So one read's worth of replies is the most a slow reader costs.
//!
//! Memory: read and reply buffers belong to the event loop ([`Scratch`]),
//! not to connections. An idle connection holds no buffer at all. What a
//! read may leave a connection holding (its outbox, its partial line) is
//! taken from the [memory budget](crate::memory) before the read; when
//! that does not fit, the connection reads less ([`MIN_READ`]), then
//! nothing until memory is given back.

use super::drain::{self, Drain, DRAIN_GRACE};
use super::session::{Ending, LineSession, Next};
use super::tls::{TlsLayer, Transport};
use super::READ_CHUNK;
use crate::context::Context;
use crate::memory::Held;
use crate::registry::Connection;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

/// The smallest read worth making when the memory budget is short.
pub const MIN_READ: usize = 1024;

/// At most this many reads per turn, so one busy client cannot starve the
/// other connections of the same event loop.
const READS_PER_TURN: usize = 16;

/// What a connection waits for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// An event from the poller: more input (every queued byte has been
    /// read), or room to send the outbox (reading is paused until it is
    /// empty). One wait for both: the socket is registered once,
    /// edge-triggered, for reading and writing.
    Event,
    /// Work is left (its turn's budget ran out, or its state changed):
    /// serve it again soon, without waiting for an event.
    Again,
    /// Closing: waiting for what no event reports (the client's
    /// acknowledgement of the last replies): look again shortly.
    Recheck,
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
    /// No more input will be answered: send the outbox, then close.
    Finishing(Ending),
    /// The last reply is sent and our side is closed (FIN); discarding
    /// what the client still sends until it is safe to close, or `until`.
    Draining { ending: Ending, until: Instant },
}

/// One client connection, owned by one event loop at a time.
pub struct EventedConnection {
    connection: Connection,
    session: LineSession,
    outbox: Vec<u8>,
    phase: Phase,
    /// The poller reported the client's end-of-input (its FIN): reads must
    /// go on until they return end-of-file.
    peer_closed: bool,
    /// The outbox and partial line's share of the memory budget.
    held: Held,
    /// TLS under the session, if its listener serves TLS.
    tls: Option<Box<TlsLayer>>,
}

impl EventedConnection {
    /// Takes over an accepted connection (non-blocking already: see
    /// [`Listener::accept`](super::Listener::accept)).
    pub fn new(connection: Connection, ctx: &Context) -> io::Result<EventedConnection> {
        let tls = match connection.tls() {
            Some(config) => Some(Box::new(TlsLayer::new(Arc::clone(config))?)),
            None => None,
        };
        Ok(EventedConnection {
            tls,
            session: LineSession::for_connection(&ctx.config, &connection),
            connection,
            outbox: Vec::new(),
            phase: Phase::Serving,
            peer_closed: false,
            held: Held::none(&ctx.memory),
        })
    }

    /// The socket, for registering with a poller.
    pub fn socket(&self) -> &TcpStream {
        self.connection.socket()
    }

    /// The connection as the registry admitted it (id, peer, socket), for
    /// log lines.
    pub fn registered(&self) -> &Connection {
        &self.connection
    }

    /// Records that the poller saw the read side close: end-of-file is
    /// queued behind whatever input is left.
    pub fn peer_closed(&mut self) {
        self.peer_closed = true;
    }

    /// Does every bit of work possible without blocking.
    pub fn serve(&mut self, scratch: &mut Scratch, ctx: &Context) -> io::Result<Wait> {
        let wait = self.serve_turn(scratch, ctx);
        // Whatever the turn did, the budget is told what is held now.
        self.held
            .settle(self.outbox.capacity() + self.session.held_now());
        self.connection.liveness().holds(self.held.bytes());
        wait
    }

    fn serve_turn(&mut self, scratch: &mut Scratch, ctx: &Context) -> io::Result<Wait> {
        if !self.flush_outbox(ctx)? {
            return Ok(Wait::Event);
        }
        match self.phase {
            Phase::Serving => self.serve_lines(scratch, ctx),
            Phase::Finishing(ending) => Ok(self.finish(ending, ctx)),
            Phase::Draining { ending, .. } => Ok(self.drain(ending, scratch)),
        }
    }

    /// How much the next read may take, once the memory budget holds what
    /// it may leave behind; `None`: the budget cannot take even a small
    /// read now.
    fn reserve_read(&mut self) -> Option<usize> {
        let held_now = self.outbox.capacity();
        [READ_CHUNK, MIN_READ]
            .into_iter()
            .find(|&read| self.held.ensure(held_now + self.session.held_after(read)))
    }

    /// Called periodically: applies `--idle-timeout`, and ends a drain
    /// that has gone on long enough.
    pub fn check_timers(&mut self, now: Instant, ctx: &Context) -> Option<Wait> {
        match self.phase {
            Phase::Serving if self.session.is_idle(now) => {
                if !self.outbox.is_empty() {
                    // The kernel reports a socket writable only once much of
                    // its send buffer is free, so a client that reads slowly
                    // but steadily can go a whole timeout without a writable
                    // event: offer it the replies once more, and what it
                    // takes is progress.
                    let held = self.outbox.len();
                    if self.flush_outbox(ctx).is_ok() && self.outbox.len() < held {
                        return Some(Wait::Again);
                    }
                    // The client took no reply for a whole timeout: the
                    // error line could not reach it either.
                    self.session.count_idle_close(&ctx.stats);
                    return Some(Wait::Done(Ending::IdleTimeout));
                }
                let mut reply = Vec::new();
                if let Next::Close(ending) = self.session.on_tick(now, &mut reply, &ctx.stats) {
                    self.outbox = reply;
                    self.phase = Phase::Finishing(ending);
                }
                Some(Wait::Again)
            }
            Phase::Finishing(ending) if self.session.is_idle(now) => Some(Wait::Done(ending)),
            Phase::Draining { ending, until } if now >= until => {
                log::debug!(
                    "{}: still sending after the {DRAIN_GRACE:?} drain; closed",
                    self.connection
                );
                Some(Wait::Done(ending))
            }
            _ => None,
        }
    }

    fn serve_lines(&mut self, scratch: &mut Scratch, ctx: &Context) -> io::Result<Wait> {
        let mut read_limit = scratch.read.len();
        for _ in 0..READS_PER_TURN {
            // At shutdown, what was read is answered and no more is read:
            // a client that keeps sending must not keep the server running.
            let read = if ctx.shutdown.is_triggered() {
                Ok(0)
            } else {
                let Some(room) = self.reserve_read() else {
                    // Read nothing until memory is given back; a quiet
                    // client holding the most is asked to leave.
                    ctx.registry.evict_for_memory();
                    return Ok(Wait::Recheck);
                };
                read_limit = room;
                transport(&self.connection, &mut self.tls, ctx).read(&mut scratch.read[..room])
            };
            let received = match read {
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    // TLS records (a handshake flight) may wait for room.
                    if self.tls.as_ref().is_some_and(|tls| tls.has_pending()) {
                        return Ok(Wait::Event);
                    }
                    return Ok(Wait::Event);
                }
                Err(error) => return Err(error),
            };
            scratch.replies.clear();
            let next = if received == 0 {
                let shutting_down = ctx.shutdown.is_triggered();
                self.session
                    .on_end_of_input(shutting_down, &mut scratch.replies)
            } else {
                self.session
                    .on_input(&scratch.read[..received], &mut scratch.replies, &ctx.stats)
            };
            if let Next::Close(ending) = next {
                self.phase = Phase::Finishing(ending);
            }
            if !self.send(&scratch.replies, ctx)? {
                return Ok(Wait::Event);
            }
            if let Phase::Finishing(ending) = self.phase {
                return Ok(self.finish(ending, ctx));
            }
            // Over TLS a short read says nothing about the socket (rustls
            // may hold more, or the socket more records): read on until
            // it would block.
            if received < read_limit && !self.peer_closed && self.tls.is_none() {
                // A short read took everything queued, and no end-of-file
                // is pending: skip the read that would only say "nothing
                // more". New input, or a close, raises a new edge.
                return Ok(Wait::Event);
            }
        }
        // Still more input: yield to the other connections, come back soon.
        Ok(Wait::Again)
    }

    /// No more input is answered and the outbox is empty.
    fn finish(&mut self, ending: Ending, ctx: &Context) -> Wait {
        if let Some(tls) = &mut self.tls {
            if tls.is_handshaking() {
                tls.abandoned(&ctx.stats);
            } else {
                // close_notify first; until it is on the socket, wait
                // for room (this phase comes back here).
                match tls.close_notify(self.connection.socket()) {
                    Ok(true) => {}
                    Ok(false) => return Wait::Event,
                    Err(_) => return Wait::Done(ending),
                }
            }
        }
        if !ending.must_drain() {
            return Wait::Done(ending);
        }
        drain::finish_replies(self.connection.socket());
        self.phase = Phase::Draining {
            ending,
            until: Instant::now() + DRAIN_GRACE,
        };
        // Input may already be queued, and no new edge would report it.
        Wait::Again
    }

    fn drain(&mut self, ending: Ending, scratch: &mut Scratch) -> Wait {
        match drain::discard_input(self.connection.socket(), &mut scratch.read) {
            Drain::Done => Wait::Done(ending),
            Drain::AwaitingInput => Wait::Event,
            Drain::Recheck => Wait::Recheck,
        }
    }

    /// Writes `replies` directly from the caller's buffer; what the socket
    /// does not take is kept in the outbox. Returns whether all was sent.
    fn send(&mut self, replies: &[u8], ctx: &Context) -> io::Result<bool> {
        let sent = write_some(
            &mut transport(&self.connection, &mut self.tls, ctx),
            replies,
        )?;
        self.session.on_sent(sent, &ctx.stats);
        if sent < replies.len() {
            self.outbox.extend_from_slice(&replies[sent..]);
            return Ok(false);
        }
        Ok(true)
    }

    /// Sends what the outbox holds. Returns whether it is now empty (and
    /// then gives its memory back).
    fn flush_outbox(&mut self, ctx: &Context) -> io::Result<bool> {
        if let Some(tls) = &mut self.tls {
            if !tls.flush(self.connection.socket())? {
                return Ok(false);
            }
        }
        if self.outbox.is_empty() {
            return Ok(true);
        }
        let sent = write_some(
            &mut transport(&self.connection, &mut self.tls, ctx),
            &self.outbox,
        )?;
        self.session.on_sent(sent, &ctx.stats);
        self.outbox.drain(..sent);
        if self.outbox.is_empty() {
            self.outbox = Vec::new();
            return Ok(true);
        }
        Ok(false)
    }
}

/// The connection's socket, through TLS if it is served so.
fn transport<'a>(
    connection: &'a Connection,
    tls: &'a mut Option<Box<TlsLayer>>,
    ctx: &'a Context,
) -> Transport<'a> {
    match tls {
        Some(tls) => Transport::Tls(connection.socket(), tls, &ctx.stats),
        None => Transport::Plain(connection.socket()),
    }
}

/// Writes as much of `bytes` as `socket` takes without blocking.
fn write_some(socket: &mut impl Write, bytes: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < bytes.len() {
        match socket.write(&bytes[sent..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
            Err(error) => return Err(error),
        }
    }
    Ok(sent)
}
