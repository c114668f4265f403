//! `pool` (the default): a fixed set of workers that park idle connections
//! on a readiness poller instead of blocking on them.
//!
//! ```text
//!              listening socket (watched by every loop's poller)
//!             /                                  \
//! event loop 1: accept -> poller { A, C, E ... }   event loop 2: accept -> poller { B, D ... }
//!               serve whichever is ready                        serve whichever is ready
//! ```
//!
//! Each worker runs an event loop over its own poller (the memcached /
//! Netty / nginx shape). A connection is served only while it has input it
//! can process; when a read would block it is parked on the poller and the
//! worker moves on. So thousands of idle clients hold no thread, and a line
//! costs no hand-off between threads: the worker the poller wakes is the
//! one that answers.
//!
//! Every loop also watches the listening socket and accepts for itself:
//! the connection is served by the thread that accepted it, from its first
//! line. (An acceptor thread handing connections over a channel, as
//! `fixed-pool` does, cost two context switches per connection: `perf`
//! put a fifth of the server's time under connection churn in
//! `finish_task_switch`.) All loops are woken by a new connection and race
//! to accept it; an idle loop wakes first, so connections go to whoever is
//! free.
//!
//! Each loop runs on a named thread (`event-loop-N`) under a supervisor: a
//! panic anywhere in the loop (a panic in one connection's handler is
//! already caught per connection) closes that loop's connections with a
//! log line and restarts the loop on the same poller, so a worker never
//! silently stops serving.

use crate::busy_poll::BusyPoll;
use crate::context::Context;
use crate::poller::{Poller, WAKE};
use crate::registry::Connection;
use crate::tcp::acceptor::{self, Accepted, Acceptor};
use crate::tcp::evented::{EventedConnection, Scratch, Wait};
use crate::tcp::session::Ending;
use crate::tcp::ConnectionEnd;
use crate::thread_pool::{panic_message, run_catching_panics};
use mio::{Events, Interest, Token};
use slab::Slab;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How soon a draining connection is looked at again while it waits for
/// its last replies to be acknowledged.
const ACK_RECHECK: Duration = Duration::from_millis(5);

/// The listening socket's token on every loop's poller.
const LISTENER: Token = Token(usize::MAX - 1);

/// Serves with `--workers` event loops, each accepting for itself, until
/// shutdown; returns once every loop has closed its last connection.
pub fn run(listener: TcpListener, ctx: Arc<Context>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = Arc::new(listener);
    let workers = ctx.config.workers.max(1);
    let mut loops = Vec::with_capacity(workers);
    let mut started = Ok(());
    for id in 0..workers {
        match EventLoop::start(id, Arc::clone(&listener), &ctx) {
            Ok(thread) => loops.push(thread),
            Err(error) => {
                started = Err(io::Error::new(
                    error.kind(),
                    format!("cannot start event loop {id} of {workers}: {error}"),
                ));
                // The loops already started must end too.
                ctx.shutdown.trigger();
                break;
            }
        }
    }
    ctx.shutdown.wait();
    for thread in loops {
        if thread.join().is_err() {
            log::error!("an event loop's supervisor panicked");
        }
    }
    started
}

/// One worker's loop: wait for readiness, serve what is ready, repeat.
struct EventLoop {
    /// Its index, for the activity slots.
    id: usize,
    /// `event loop N`, for log lines.
    name: String,
    poller: Poller,
    /// The listening socket, shared by every loop.
    listener: Arc<TcpListener>,
    /// Whether this loop still accepts (until shutdown).
    accepting: bool,
    acceptor: Acceptor,
    /// Out of descriptors or memory: accept again at this time.
    accept_again_at: Option<Instant>,
    connections: Slab<EventedConnection>,
    /// Connections to serve again without waiting for an event.
    again: Vec<usize>,
    /// Draining connections waiting for their last replies to be
    /// acknowledged (no event reports that).
    awaiting_acks: Vec<usize>,
    scratch: Scratch,
    ctx: Arc<Context>,
    /// How often idle timers are checked.
    tick: Duration,
    /// How long to look for events before sleeping.
    busy: BusyPoll,
}

impl EventLoop {
    /// Creates the loop's poller and starts it on a thread of its own.
    fn start(
        id: usize,
        listener: Arc<TcpListener>,
        ctx: &Arc<Context>,
    ) -> io::Result<JoinHandle<()>> {
        let poller = Poller::woken_by(&ctx.shutdown)?;
        poller.watch(listener.as_raw_fd(), LISTENER, Interest::READABLE)?;
        // A tenth of the idle timeout keeps expiry within 10% of the
        // setting; at most a second, which also bounds how late a worker
        // notices shutdown if a wake-up were ever lost.
        let tick = ctx
            .config
            .idle_timeout
            .map_or(Duration::from_secs(1), |t| t / 10)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let event_loop = EventLoop {
            id,
            name: format!("event loop {id}"),
            poller,
            listener,
            accepting: true,
            acceptor: Acceptor::new(),
            accept_again_at: None,
            connections: Slab::new(),
            again: Vec::new(),
            awaiting_acks: Vec::new(),
            scratch: Scratch::new(),
            ctx: Arc::clone(ctx),
            tick,
            busy: BusyPoll::new(ctx.config.busy_poll),
        };
        thread::Builder::new()
            .name(format!("event-loop-{id}"))
            .spawn(move || event_loop.supervise())
    }

    /// Runs the loop; after a panic, closes its connections and runs it again.
    fn supervise(mut self) {
        loop {
            match panic::catch_unwind(AssertUnwindSafe(|| self.run())) {
                Ok(()) => break,
                Err(payload) => {
                    log::error!(
                        "{} panicked ({}); closing its {} connections and restarting it",
                        self.name,
                        panic_message(payload.as_ref()),
                        self.connections.len()
                    );
                    self.ctx.stats.event_loop_restarted();
                    self.reset();
                }
            }
        }
        log::debug!("{}: finished", self.name);
    }

    /// Forgets every connection (dropping one closes it) and its buffers.
    fn reset(&mut self) {
        for (_, connection) in self.connections.iter() {
            self.poller.forget(connection.socket().as_raw_fd());
        }
        self.connections.clear();
        self.again.clear();
        self.awaiting_acks.clear();
        self.scratch = Scratch::new();
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        let mut next_timer_check = Instant::now() + self.tick;
        let mut shutdown_seen = false;
        // Connections may have queued before the listener was watched (or
        // while a panicked loop restarted); no new edge would report them.
        self.accept();
        loop {
            if self.accepting && self.ctx.shutdown.is_triggered() {
                self.accepting = false;
                self.poller.forget(self.listener.as_raw_fd());
            }
            if !self.accepting && self.connections.is_empty() {
                break;
            }
            if let Err(error) = self.wait(&mut events) {
                if error.kind() != io::ErrorKind::Interrupted {
                    log::error!("{}: poller failed: {error}", self.name);
                    self.ctx.shutdown.trigger();
                    break;
                }
            }
            #[cfg(test)]
            tests::maybe_panic();
            self.ctx.activity.woke(self.id, events.iter().count());
            for event in events.iter() {
                if event.token() == WAKE {
                    continue; // shutdown: seen at the top
                }
                if event.token() == LISTENER {
                    self.accept();
                    continue;
                }
                let key = event.token().0;
                if event.is_read_closed() {
                    if let Some(connection) = self.connections.get_mut(key) {
                        connection.peer_closed();
                    }
                }
                self.serve(key);
            }
            if self.ctx.shutdown.is_triggered() && !std::mem::replace(&mut shutdown_seen, true) {
                // Every connection answers what it has read and closes.
                self.again
                    .extend(self.connections.iter().map(|(key, _)| key));
            }
            for key in std::mem::take(&mut self.again) {
                self.serve(key);
            }
            for key in std::mem::take(&mut self.awaiting_acks) {
                self.serve(key);
            }
            let now = Instant::now();
            if self.accept_again_at.is_some_and(|at| now >= at) {
                self.accept();
            }
            if now >= next_timer_check {
                self.check_timers(now);
                next_timer_check = now + self.tick;
            }
            self.ctx.activity.owned(self.id, self.connections.len());
        }
    }

    /// Waits for readiness: not at all while connections are due another
    /// turn; otherwise looks for a few microseconds while that pays (see
    /// [`busy_poll`](crate::busy_poll)), then sleeps until an event or the
    /// next timer tick.
    fn wait(&mut self, events: &mut Events) -> io::Result<()> {
        if !self.again.is_empty() {
            return self.poller.poll(events, Some(Duration::ZERO));
        }
        if !self.awaiting_acks.is_empty() {
            return self.poller.poll(events, Some(ACK_RECHECK));
        }
        let poller = &mut self.poller;
        let mut failure = None;
        let found = self
            .busy
            .look(|| match poller.poll(events, Some(Duration::ZERO)) {
                Ok(()) => !events.is_empty(),
                Err(error) => {
                    failure = Some(error);
                    true
                }
            });
        if found {
            return failure.map_or(Ok(()), Err);
        }
        let (poller, tick) = (&mut self.poller, self.tick);
        self.busy.sleep(|| poller.poll(events, Some(tick)))
    }

    /// Accepts every connection waiting on the listener (other loops may
    /// take some first) and parks each on this loop's poller.
    fn accept(&mut self) {
        self.accept_again_at = None;
        if !self.accepting {
            return;
        }
        let (listener, ctx) = (Arc::clone(&self.listener), Arc::clone(&self.ctx));
        let mut acceptor = std::mem::take(&mut self.acceptor);
        let accepted =
            acceptor.accept_ready(&listener, &ctx, &mut |connection| self.adopt(connection));
        self.acceptor = acceptor;
        if accepted == Accepted::OutOfResources {
            self.accept_again_at = Some(Instant::now() + acceptor::BACKOFF);
        }
    }

    fn adopt(&mut self, connection: Connection) {
        let connection = match EventedConnection::new(connection, &self.ctx) {
            Ok(connection) => connection,
            Err(error) => {
                log::warn!("{}: cannot set up a connection: {error}", self.name);
                return;
            }
        };
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        // Edge-triggered interest in both directions, registered once: a
        // connection is never re-armed, which saves a system call per line.
        let fd = connection.socket().as_raw_fd();
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self.poller.watch(fd, Token(key), interest) {
            Ok(()) => {
                entry.insert(connection);
            }
            Err(error) => log::warn!(
                "{}: cannot watch {}: {error}",
                self.name,
                connection.connection()
            ),
        }
    }

    /// Serves the connection the poller reported ready, then parks it again.
    fn serve(&mut self, key: usize) {
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        let scratch = &mut self.scratch;
        let ctx = &self.ctx;
        ctx.activity
            .serving(self.id, Some(connection.connection().id()));
        let outcome = run_catching_panics(&self.name, || connection.serve(scratch, ctx));
        ctx.activity.serving(self.id, None);
        match outcome {
            Some(Ok(wait)) => self.park(key, wait),
            Some(Err(error)) => self.close(key, Err(error)),
            None => self.close(key, Err(io::Error::other("its handler panicked"))),
        }
    }

    /// Parks the connection until the poller reports it ready again.
    fn park(&mut self, key: usize, wait: Wait) {
        match wait {
            Wait::Readable | Wait::Writable => {}
            Wait::Again => self.again.push(key),
            Wait::Recheck => self.awaiting_acks.push(key),
            Wait::Done(ending) => self.close(key, Ok(ending)),
        }
    }

    fn check_timers(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (key, connection) in self.connections.iter_mut() {
            if let Some(wait) = connection.check_timers(now, &self.ctx) {
                expired.push((key, wait));
            }
        }
        for (key, wait) in expired {
            self.park(key, wait);
        }
    }

    fn close(&mut self, key: usize, result: io::Result<Ending>) {
        let Some(connection) = self.connections.try_remove(key) else {
            return;
        };
        self.poller.forget(connection.socket().as_raw_fd());
        ConnectionEnd::log(connection.connection(), result, &self.ctx);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Model, ServerConfig};
    use crate::shutdown::ShutdownSignal;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    /// Set by the test: the next event-loop turn panics outside any handler.
    static PANIC_NEXT_TURN: AtomicBool = AtomicBool::new(false);

    pub(super) fn maybe_panic() {
        if PANIC_NEXT_TURN.swap(false, Ordering::SeqCst) {
            panic!("injected event-loop panic");
        }
    }

    fn ask(stream: &TcpStream, line: &str) -> String {
        (&*stream).write_all(line.as_bytes()).unwrap();
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).unwrap();
        reply
    }

    #[test]
    fn a_panicking_event_loop_closes_its_connections_and_serves_again() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let shutdown = ShutdownSignal::new();
        let config = ServerConfig {
            model: Model::Pool,
            workers: 1,
            ..ServerConfig::default()
        };
        let server = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || crate::server::run(listener, None, config, shutdown))
        };
        let first = TcpStream::connect(address).unwrap();
        first
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(ask(&first, "before\n"), "BEFORE\n");
        PANIC_NEXT_TURN.store(true, Ordering::SeqCst);
        // The next turn (this line's) panics: the connection is closed.
        (&first).write_all(b"boom\n").unwrap();
        let mut rest = String::new();
        let closed = BufReader::new(&first).read_line(&mut rest);
        assert!(matches!(closed, Ok(0) | Err(_)), "got {rest:?}");
        // The only event loop was restarted and serves new clients.
        let second = TcpStream::connect(address).unwrap();
        second
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(ask(&second, "after\n"), "AFTER\n");
        drop(second);
        shutdown.trigger();
        let summary = server.join().unwrap().unwrap();
        assert_eq!(summary.event_loop_restarts, 1);
        assert_eq!(summary.connections, 2);
    }
}
