//! `event-loops`: nginx's shape. No acceptor: every worker runs an event
//! loop that watches the listening socket itself and accepts for itself.
//!
//! ```text
//!              listening socket (watched by every loop's poller)
//!             /                                  \
//! event loop 0: accept -> poller { A, C, E ... }   event loop 1: accept -> poller { B, D ... }
//!               serve whichever is ready                        serve whichever is ready
//! ```
//!
//! A connection is served from its first line by the thread that accepted
//! it, so a connection costs no hand-off between threads (in `pool`, the
//! acceptor's hand-off to a worker costs a context switch, fewer when
//! connections come in bursts); from then on
//! it is parked on that loop's poller between reads ([`Parked`]), like a
//! `pool` worker's.
//!
//! Balance: if every loop were woken by each new connection and the first
//! drained the whole queue, connections would pile onto one loop. So the
//! listener is watched level-triggered with `EPOLLEXCLUSIVE` (a new
//! connection wakes one sleeping loop, as in nginx), a loop accepts
//! [`ACCEPTS_PER_WAKE`] connection per wake-up (nginx's `multi_accept
//! off`), and a loop holding more than its share ([`Balance`]) stops
//! watching the listener until the others catch up. (`EPOLLEXCLUSIVE`
//! alone wakes the first loop that sleeps, and a loop that is fast back
//! asleep is woken again: with connections arriving one by one, it takes
//! them all.)
//!
//! Each loop runs on a named thread (`event-loop-N`) under a supervisor: a
//! panic anywhere in the loop (a panic in one connection's handler is
//! already caught per connection) closes that loop's connections with a
//! log line and restarts the loop on the same poller, so a loop never
//! silently stops serving.

use crate::context::Context;
use crate::recover::panic_message;
use crate::registry::Connection;
use crate::tcp::acceptor::{self, Acceptor};
use crate::tcp::balance::Balance;
use crate::tcp::parked::{listener_index, listener_token, Nothing, Parked};
use crate::tcp::Listener;
use mio::Events;
use std::io;
use std::os::fd::AsRawFd;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// Connections a loop accepts per wake-up: one, so that a burst of
/// connections is shared among the loops instead of taken by the first.
pub const ACCEPTS_PER_WAKE: usize = 1;

/// Serves with `--workers` event loops, each accepting for itself, until
/// shutdown; returns once every loop has closed its last connection.
pub fn run(listeners: Vec<Listener>, ctx: Arc<Context>) -> io::Result<()> {
    for listener in &listeners {
        listener.start_accepting()?;
    }
    let listeners = Arc::new(listeners);
    let workers = ctx.config.workers.max(1);
    let balance = Arc::new(Balance::new(workers));
    let mut loops = Vec::with_capacity(workers);
    let mut started = Ok(());
    for id in 0..workers {
        match EventLoop::start(id, Arc::clone(&listeners), &ctx, &balance) {
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
    ctx.accepting.trigger();
    ctx.shutdown.wait();
    for listener in listeners.iter() {
        listener.stop_listening();
    }
    for thread in loops {
        if thread.join().is_err() {
            log::error!("an event loop's supervisor panicked");
        }
    }
    started
}

/// One loop: its parked connections, and the listeners it accepts from.
struct EventLoop {
    parked: Parked,
    /// The listening sockets, shared by every loop.
    listeners: Arc<Vec<Listener>>,
    /// Whether the listeners are on this loop's poller (not during
    /// shutdown, nor while accepting is backing off).
    watching: bool,
    acceptor: Acceptor,
    /// Out of descriptors or memory: accept again at this time.
    accept_again_at: Option<Instant>,
    ctx: Arc<Context>,
}

impl EventLoop {
    /// Creates the loop's poller and starts it on a thread of its own.
    fn start(
        id: usize,
        listeners: Arc<Vec<Listener>>,
        ctx: &Arc<Context>,
        balance: &Arc<Balance>,
    ) -> io::Result<JoinHandle<()>> {
        let mut event_loop = EventLoop {
            parked: Parked::new(id, format!("event loop {id}"), ctx, balance)?,
            listeners,
            watching: false,
            acceptor: Acceptor::new(),
            accept_again_at: None,
            ctx: Arc::clone(ctx),
        };
        event_loop.watch_listener()?;
        thread::Builder::new()
            .name(format!("event-loop-{id}"))
            .spawn(move || event_loop.supervise())
    }

    fn watch_listener(&mut self) -> io::Result<()> {
        for (index, listener) in self.listeners.iter().enumerate() {
            let fd = listener.socket.as_raw_fd();
            if let Err(error) = self
                .parked
                .poller()
                .watch_listener(fd, listener_token(index))
            {
                // Those already watched are forgotten: all or none.
                self.watching = true;
                self.forget_listener();
                return Err(error);
            }
        }
        self.watching = true;
        Ok(())
    }

    fn forget_listener(&mut self) {
        if std::mem::take(&mut self.watching) {
            for listener in self.listeners.iter() {
                self.parked.poller().forget(listener.socket.as_raw_fd());
            }
        }
    }

    /// Runs the loop; after a panic, closes its connections and runs it again.
    fn supervise(mut self) {
        loop {
            match panic::catch_unwind(AssertUnwindSafe(|| self.run())) {
                Ok(()) => break,
                Err(payload) => {
                    log::error!(
                        "{} panicked ({}); closing its {} connections and restarting it",
                        self.parked.name(),
                        panic_message(payload.as_ref()),
                        self.parked.len()
                    );
                    self.ctx.stats.event_loop_restarted();
                    self.parked.reset();
                }
            }
        }
        log::debug!("{}: finished", self.parked.name());
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            if self.ctx.shutdown.is_triggered() {
                self.forget_listener();
                self.accept_again_at = None;
                if self.parked.is_empty() {
                    break;
                }
            }
            if let Err(error) = self.parked.wait(&mut events, &Nothing) {
                if error.kind() != io::ErrorKind::Interrupted {
                    log::error!("{}: poller failed: {error}", self.parked.name());
                    self.ctx.shutdown.trigger();
                    break;
                }
            }
            #[cfg(test)]
            tests::maybe_panic();
            for event in events.iter() {
                if self.parked.ready(event) {
                    continue;
                }
                if let Some(index) = listener_index(event.token(), self.listeners.len()) {
                    self.accept(index);
                }
            }
            self.parked.finish_turn();
            if self.accept_again_at.is_some_and(|at| Instant::now() >= at) {
                self.accept_again_at = None;
            }
            if let Err(error) = self.watch_while_taking() {
                log::error!("{}: cannot watch the listener: {error}", self.parked.name());
                self.ctx.shutdown.trigger();
            }
        }
    }

    /// Keeps the listener on this loop's poller only while the loop takes
    /// new connections: not while it holds more than its share
    /// ([`Balance`]), nor during an out-of-descriptors back-off, nor at
    /// shutdown. (A level-triggered listener it did not accept from would
    /// wake it again at once.)
    fn watch_while_taking(&mut self) -> io::Result<()> {
        let taking = !self.ctx.shutdown.is_triggered()
            && self.accept_again_at.is_none()
            && self.parked.may_take();
        if taking && !self.watching {
            self.watch_listener()?;
        } else if !taking && self.watching {
            self.forget_listener();
            // The least busy loop may take connections: make sure it
            // watches (it may have stopped when it held more).
            let others = |id| id != self.parked.id();
            if let Some(least_busy) = self.parked.balance().least_busy(others) {
                self.parked.balance().wake(least_busy);
            }
        }
        Ok(())
    }

    /// Accepts up to [`ACCEPTS_PER_WAKE`] connections and parks each on
    /// this loop's poller; out of descriptors, stops watching the listener
    /// (it stays readable, and would wake the loop at once) for a back-off.
    fn accept(&mut self, index: usize) {
        if !self.watching {
            return;
        }
        let (listeners, ctx) = (Arc::clone(&self.listeners), Arc::clone(&self.ctx));
        let parked = &mut self.parked;
        let taken = self.acceptor.take(
            &listeners[index],
            &ctx,
            ACCEPTS_PER_WAKE,
            &mut |connection: Connection| parked.adopt(connection),
        );
        if taken.is_err() {
            self.accept_again_at = Some(Instant::now() + acceptor::BACKOFF);
        }
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
            model: Model::EventLoops,
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
