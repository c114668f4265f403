//! The ping-pong TCP clients, many per thread: each client keeps one line
//! in flight on its own connection, and one thread drives a group of them
//! from a readiness poller.
//!
//! Why not a thread per client: a thread costs a context switch per line,
//! and with many clients those switches limit the load generator and put
//! its own scheduler into the latency tail it reports (`docs/performance.md`,
//! "Many clients"). A poller answers whichever connection has its reply,
//! in one system call for all of them. (`--reconnect` keeps the simple
//! thread-per-client loop of [`super::thread_per_client`]: it is about
//! surviving a restart, not about speed.)
//!
//! With `--tls` each client's rustls session is driven by the same
//! readiness: records are read when the socket is readable and written
//! when it is writable, the handshake included (so the first line's
//! latency holds it).

use crate::clients::connect;
use crate::payload::LineMaker;
use crate::run::{describe, RunState, REPLY_TIMEOUT};
use crate::tally::Tally;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use rustls::ClientConnection;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the clients waiting for a reply are checked for time-outs.
const TICK: Duration = Duration::from_millis(50);

/// One client: its connection, its line in flight and its tally.
struct Pinger {
    id: usize,
    /// `None` once the client has finished (or never connected).
    stream: Option<TcpStream>,
    /// The TLS session over `stream` (`--tls`).
    tls: Option<ClientConnection>,
    lines: LineMaker,
    tally: Tally,
    seq: u64,
    /// Bytes of the current line written so far.
    written: usize,
    sent_at: Instant,
    reply: Vec<u8>,
}

/// Runs clients `ids` against `addr` on this thread; one tally per client,
/// in the order of `ids`.
pub fn ping_pong_group(ids: &[usize], addr: SocketAddr, run: &RunState) -> Vec<Tally> {
    let mut pingers: Vec<Pinger> = ids.iter().map(|&id| Pinger::new(id, run)).collect();
    let mut poll = match Poll::new() {
        Ok(poll) => poll,
        Err(error) => {
            for pinger in &mut pingers {
                pinger
                    .tally
                    .error(describe(pinger.id, "creating a poller", &error));
            }
            return pingers.into_iter().map(|p| p.tally).collect();
        }
    };
    for (index, pinger) in pingers.iter_mut().enumerate() {
        pinger.connect(addr, run, &poll, Token(index));
        pinger.send_next(run);
    }
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 * 1024];
    let mut last_tick = Instant::now();
    while pingers.iter().any(|p| p.stream.is_some()) {
        if let Err(error) = poll.poll(&mut events, Some(TICK)) {
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            for pinger in &mut pingers {
                pinger.fail("waiting for a reply", &error);
            }
            break;
        }
        for event in events.iter() {
            let pinger = &mut pingers[event.token().0];
            if event.is_writable() {
                pinger.write_line();
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                pinger.read_replies(&mut scratch, run);
            }
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            for pinger in &mut pingers {
                pinger.check_timeout(run);
            }
        }
    }
    pingers.into_iter().map(|pinger| pinger.tally).collect()
}

impl Pinger {
    fn new(id: usize, run: &RunState) -> Pinger {
        Pinger {
            id,
            stream: None,
            tls: None,
            lines: LineMaker::new(id, run.options.line_bytes, run.options.text),
            tally: Tally::new(),
            seq: 0,
            written: 0,
            sent_at: Instant::now(),
            reply: Vec::new(),
        }
    }

    /// Connects (blocking, bounded by the reply timeout; with `--tls` the
    /// handshake too) and registers the connection with `poll`.
    fn connect(&mut self, addr: SocketAddr, run: &RunState, poll: &Poll, token: Token) {
        let Some(stream) = connect::connect_socket(self.id, addr, &mut self.tally) else {
            return;
        };
        if let Some(tls) = &run.options.tls {
            // The handshake is driven by readiness like the lines (a
            // blocking one here would stall the group's other clients
            // behind a server that serves one connection at a time); the
            // first line waits in the session until it is done.
            match ClientConnection::new(Arc::clone(&tls.config), tls.server_name.clone()) {
                Ok(mut session) => {
                    // One line at a time: the session may buffer all of it.
                    session.set_buffer_limit(None);
                    self.tls = Some(session);
                }
                Err(error) => {
                    let error = io::Error::other(error);
                    return self.tally.error(describe(self.id, "TLS", &error));
                }
            }
        }
        let registered = stream.set_nonblocking(true).and_then(|()| {
            let interest = Interest::READABLE | Interest::WRITABLE;
            let fd = stream.as_raw_fd();
            poll.registry()
                .register(&mut SourceFd(&fd), token, interest)
        });
        match registered {
            Ok(()) => self.stream = Some(stream),
            Err(error) => self.tally.error(describe(self.id, "connect", &error)),
        }
    }

    /// Starts the next line, or ends the client when the run says so.
    fn send_next(&mut self, run: &RunState) {
        if self.stream.is_none() {
            return;
        }
        if !run.should_send(self.seq) {
            self.stream = None; // closes the connection
            return;
        }
        let (line, _) = self.lines.make(self.seq);
        self.tally.sent += 1;
        self.tally.bytes += line.len() as u64;
        self.written = 0;
        self.reply.clear();
        self.sent_at = Instant::now();
        self.write_line();
    }

    /// Writes what the socket takes of the current line.
    fn write_line(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let (line, _) = self.lines.last();
        if let Some(tls) = self.tls.as_mut() {
            if self.written < line.len() {
                // Unbounded buffer: taken whole.
                let _ = tls.writer().write_all(&line[self.written..]);
                self.written = line.len();
            }
            while tls.wants_write() {
                match tls.write_tls(stream) {
                    Ok(_) => {}
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return self.fail("send", &error),
                }
            }
            return;
        }
        while self.written < line.len() {
            match stream.write(&line[self.written..]) {
                Ok(written) => self.written += written,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return self.fail("send", &error);
                }
            }
        }
    }

    /// Reads what has arrived; a complete reply is checked and the next
    /// line sent.
    fn read_replies(&mut self, scratch: &mut [u8], run: &RunState) {
        loop {
            if self.stream.is_none() {
                return;
            }
            match self.read_some(scratch) {
                Ok(0) => {
                    let closed = format!("client {}: the server closed the connection", self.id);
                    self.tally.error(closed);
                    self.stream = None;
                    return;
                }
                Ok(read) => {
                    self.reply.extend_from_slice(&scratch[..read]);
                    self.check_reply(run);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return self.fail("waiting for a reply", &error);
                }
            }
        }
    }

    /// Reads what has arrived, as plaintext: `Ok(0)` at the server's end,
    /// `WouldBlock` when nothing more is there.
    fn read_some(&mut self, scratch: &mut [u8]) -> io::Result<usize> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(0);
        };
        let Some(tls) = self.tls.as_mut() else {
            return stream.read(scratch);
        };
        loop {
            match tls.reader().read(scratch) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                done => return done,
            }
            // Nothing decrypted yet: records from the socket (0: its end,
            // which the session's reader reports next).
            tls.read_tls(stream)?;
            tls.process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if tls.wants_write() {
                // A record the session must answer (a key update).
                self.write_line();
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
    }

    /// Checks the reply once it is complete (a newline, or longer than
    /// the expected reply can be) and moves on to the next line.
    fn check_reply(&mut self, run: &RunState) {
        let micros = self.sent_at.elapsed().as_micros() as u64;
        let (_, want) = self.lines.last();
        let end = match memchr::memchr(b'\n', &self.reply) {
            Some(newline) => newline + 1,
            None if self.reply.len() > want.len() => want.len() + 1,
            None => return,
        };
        if end < self.reply.len() {
            // More than one line in flight was never sent: a server that
            // answers what was not asked.
            self.tally
                .error(format!("client {}: an unasked-for reply", self.id));
        }
        run.record(&mut self.tally, &self.reply[..end], want, micros);
        self.seq += 1;
        self.send_next(run);
    }

    /// Gives up on a reply that is overdue.
    fn check_timeout(&mut self, run: &RunState) {
        if self.stream.is_some() && (self.sent_at.elapsed() >= REPLY_TIMEOUT || run.past_deadline())
        {
            let timed_out = io::Error::from(io::ErrorKind::TimedOut);
            self.fail("waiting for a reply", &timed_out);
        }
    }

    /// Ends the client after `error`.
    fn fail(&mut self, doing: &str, error: &io::Error) {
        if self.stream.take().is_some() {
            self.tally.error(describe(self.id, doing, error));
        }
    }
}
