//! The connections one thread has parked on its own readiness poller, and
//! the turn that serves those that are ready.
//!
//! Both evented models are built on it: a `pool` worker parks a connection
//! here when its client goes quiet and serves it again when the poller
//! says it is ready; an `event-loops` loop parks every connection it
//! accepts. A connection is served only while it has input it can
//! process ([`EventedConnection::serve`]); when a read would block it is
//! left on the poller and the thread moves on, so thousands of idle
//! clients hold no thread and no buffer.
//!
//! A turn ([`Parked::wait`], then [`Parked::ready`] for each event, then
//! [`Parked::finish_turn`]):
//! 1. wait for readiness (`wait.rs`): not at all while a connection is due another
//!    turn, a few microseconds of looking while that pays
//!    ([`busy_poll`](crate::busy_poll)), else sleep until an event, a
//!    wake-up or the next timer tick;
//! 2. serve each connection the poller reported, once: a connection with
//!    more input than one turn's reads goes to the back of the line
//!    (`again`), so one busy client cannot starve the others;
//! 3. serve the `again` line, look at closing connections waiting for
//!    acknowledgements, apply idle timeouts, and at shutdown make every
//!    connection answer what it has read and close.

use crate::busy_poll::BusyPoll;
use crate::context::Context;
use crate::poller::{Poller, WAKE};
use crate::recover::run_catching_panics;
use crate::registry::Connection;
use crate::tcp::balance::Balance;
use crate::tcp::evented::{EventedConnection, Scratch, Wait};
use crate::tcp::session::Ending;
use crate::tcp::ConnectionEnd;
use mio::event::Event;
use mio::{Interest, Token};
use slab::Slab;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod wait;

pub use wait::{Elsewhere, Nothing};

/// One thread's parked connections and the poller they wait on.
pub struct Parked {
    /// The thread's index, for the activity slots.
    id: usize,
    /// `worker N` or `event loop N`, for log lines.
    name: String,
    poller: Poller,
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
    next_timer_check: Instant,
    /// Whether this thread has made its connections close for shutdown.
    shutdown_seen: bool,
    /// How long to look for events before sleeping.
    busy: BusyPoll,
    balance: Arc<Balance>,
}

impl Parked {
    /// An empty set with a poller of its own (woken by shutdown), for
    /// thread `id`, which counts what it holds in `balance`.
    pub fn new(
        id: usize,
        name: String,
        ctx: &Arc<Context>,
        balance: &Arc<Balance>,
    ) -> io::Result<Parked> {
        // A tenth of the idle timeout keeps expiry within 10% of the
        // setting; at most a second, which also bounds how late a thread
        // notices shutdown if a wake-up were ever lost.
        let tick = ctx
            .config
            .idle_timeout
            .map_or(Duration::from_secs(1), |t| t / 10)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let poller = Poller::woken_by(&ctx.shutdown)?;
        balance.set_waker(id, poller.waker());
        Ok(Parked {
            id,
            name,
            poller,
            connections: Slab::new(),
            again: Vec::new(),
            awaiting_acks: Vec::new(),
            scratch: Scratch::new(),
            ctx: Arc::clone(ctx),
            tick,
            next_timer_check: Instant::now() + tick,
            shutdown_seen: false,
            busy: BusyPoll::new(ctx.config.busy_poll),
            balance: Arc::clone(balance),
        })
    }

    /// The poller, to watch other sockets on (tokens below `usize::MAX - 1`
    /// other than connection keys are the caller's to pick; see [`listener_token`]).
    pub fn poller(&self) -> &Poller {
        &self.poller
    }

    /// The thread's index among its model's threads.
    pub fn id(&self) -> usize {
        self.id
    }

    /// The counts this thread shares with the others of its model.
    pub fn balance(&self) -> &Balance {
        &self.balance
    }

    /// The name used in log lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many connections are parked here.
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    /// Whether no connection is parked here.
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    /// Serves a connection handed over by an acceptor at once, for as long
    /// as it has input, and parks it when its client goes quiet.
    pub fn serve_new(&mut self, connection: Connection) {
        let Some(mut connection) = self.prepare(connection) else {
            return;
        };
        let outcome = self.serve_one(&mut connection);
        let wait = match outcome {
            Some(Ok(Wait::Done(ending))) => {
                return ConnectionEnd::log(connection.registered(), Ok(ending), &self.ctx)
            }
            Some(Ok(wait)) => wait,
            Some(Err(error)) => {
                return ConnectionEnd::log(connection.registered(), Err(error), &self.ctx)
            }
            None => {
                let error = io::Error::other("its handler panicked");
                return ConnectionEnd::log(connection.registered(), Err(error), &self.ctx);
            }
        };
        if let Some(key) = self.park_new(connection) {
            self.park(key, wait);
        }
    }

    /// Parks a connection this thread accepted itself, without serving it:
    /// the poller reports its first input (registering reports input that
    /// is already queued).
    pub fn adopt(&mut self, connection: Connection) {
        if let Some(connection) = self.prepare(connection) {
            self.park_new(connection);
        }
    }

    fn prepare(&self, connection: Connection) -> Option<EventedConnection> {
        match EventedConnection::new(connection, &self.ctx) {
            Ok(connection) => Some(connection),
            Err(error) => {
                log::warn!("{}: cannot set up a connection: {error}", self.name);
                None
            }
        }
    }

    /// Watches the connection on the poller; returns its key.
    fn park_new(&mut self, connection: EventedConnection) -> Option<usize> {
        let entry = self.connections.vacant_entry();
        let key = entry.key();
        // Edge-triggered interest in both directions, registered once: a
        // connection is never re-armed, which saves a system call per line.
        let fd = connection.socket().as_raw_fd();
        let interest = Interest::READABLE | Interest::WRITABLE;
        match self.poller.watch(fd, Token(key), interest) {
            Ok(()) => {
                entry.insert(connection);
                self.count();
                Some(key)
            }
            Err(error) => {
                log::warn!(
                    "{}: cannot watch {}: {error}",
                    self.name,
                    connection.registered()
                );
                None
            }
        }
    }

    /// Serves the connection an event reports ready. Returns `false` for
    /// an event that is not a connection's (a wake-up, another socket).
    pub fn ready(&mut self, event: &Event) -> bool {
        let key = event.token().0;
        if event.token() == WAKE || !self.connections.contains(key) {
            return false;
        }
        if event.is_read_closed() {
            if let Some(connection) = self.connections.get_mut(key) {
                connection.peer_closed();
            }
        }
        self.serve(key);
        true
    }

    /// The rest of a turn, after the events: connections due another turn,
    /// closing ones, timers, and shutdown.
    pub fn finish_turn(&mut self) {
        if self.ctx.shutdown.is_triggered() && !std::mem::replace(&mut self.shutdown_seen, true) {
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
        if now >= self.next_timer_check {
            self.check_timers(now);
            self.next_timer_check = now + self.tick;
        }
        self.count();
    }

    /// Forgets every connection (dropping one closes it) and its buffers:
    /// after a panic outside any connection's handler, the state of the
    /// loop can no longer be trusted.
    pub fn reset(&mut self) {
        for (_, connection) in self.connections.iter() {
            self.poller.forget(connection.socket().as_raw_fd());
        }
        self.connections.clear();
        self.again.clear();
        self.awaiting_acks.clear();
        self.scratch = Scratch::new();
        self.count();
    }

    /// Serves the parked connection `key`, then parks it again.
    fn serve(&mut self, key: usize) {
        let Some(connection) = self.connections.get_mut(key) else {
            return;
        };
        let outcome = serve_turn(
            self.id,
            &self.name,
            &mut self.scratch,
            &self.ctx,
            connection,
        );
        match outcome {
            Some(Ok(wait)) => self.park(key, wait),
            Some(Err(error)) => self.close(key, Err(error)),
            None => self.close(key, Err(io::Error::other("its handler panicked"))),
        }
    }

    /// One connection's turn, a panic in its handler caught.
    fn serve_one(&mut self, connection: &mut EventedConnection) -> Option<io::Result<Wait>> {
        serve_turn(
            self.id,
            &self.name,
            &mut self.scratch,
            &self.ctx,
            connection,
        )
    }

    /// Leaves the connection until the poller reports it ready again.
    fn park(&mut self, key: usize, wait: Wait) {
        match wait {
            Wait::Event => {}
            Wait::Again => self.again.push(key),
            Wait::Recheck => self.awaiting_acks.push(key),
            Wait::Done(ending) => self.close(key, Ok(ending)),
        }
    }

    /// Publishes how many connections this thread holds.
    fn count(&self) {
        let held = self.connections.len();
        self.ctx.activity.owned(self.id, held);
        self.balance.set(self.id, held);
    }

    /// Whether this thread may take a new connection (see [`Balance`]).
    pub fn may_take(&self) -> bool {
        self.balance.may_take(self.id)
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
        ConnectionEnd::log(connection.registered(), result, &self.ctx);
        self.count();
    }
}

/// One connection's turn on thread `id`, a panic in its handler caught.
fn serve_turn(
    id: usize,
    name: &str,
    scratch: &mut Scratch,
    ctx: &Context,
    connection: &mut EventedConnection,
) -> Option<io::Result<Wait>> {
    ctx.activity.serving(id, Some(connection.registered().id()));
    let outcome = run_catching_panics(name, || connection.serve(scratch, ctx));
    ctx.activity.serving(id, None);
    outcome
}

/// The token for listening socket `index` watched on the same poller as
/// parked connections: counted down from below [`WAKE`], where no slab key
/// reaches.
pub fn listener_token(index: usize) -> Token {
    Token(usize::MAX - 1 - index)
}

/// Which of `count` listeners `token` is, if it is one ([`listener_token`]).
pub fn listener_index(token: Token, count: usize) -> Option<usize> {
    let index = (usize::MAX - 1).checked_sub(token.0)?;
    (token != WAKE && index < count).then_some(index)
}
