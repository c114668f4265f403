//! `pool` (the default): a fixed pool of workers that park idle connections
//! on a readiness poller instead of blocking on them.
//!
//! ```text
//!                      (crossbeam channel)
//! acceptor ----------> worker 1: poller { A, C, E ... } -> serve whichever is ready
//!     \--------------> worker 2: poller { B, D, F ... } -> serve whichever is ready
//! ```
//!
//! Each worker runs an event loop over its own poller (the memcached /
//! Netty shape). A connection is served only while it has input it can
//! process; when a read would block it is parked on the poller and the
//! worker moves on. So thousands of idle clients hold no thread, and a
//! ping-pong line costs no hand-off between threads: the worker that is
//! woken by the poller is the one that answers.
//!
//! New connections still arrive over one bounded crossbeam channel. The
//! acceptor sends, then notifies the next worker's poller in turn; any
//! worker may take the connection (a busy one picks new connections up
//! between turns), and from then on that worker alone owns it.
//!
//! The workers are the ones of the crate's [`ThreadPool`]: each runs one
//! long job, its event loop.

use crate::busy_poll::BusyPoll;
use crate::context::Context;
use crate::thread_pool::{run_catching_panics, ThreadPool};
use crate::registry::TrackedStream;
use crate::tcp::evented::{Connection, Scratch, Wait};
use crate::tcp::{acceptor, Ending};
use crossbeam_channel::{Receiver, TryRecvError};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections that may wait in the channel for a worker to take them.
const QUEUE: usize = 1024;

/// The poller token that means "woken up" rather than "a socket is ready".
const WAKE: Token = Token(usize::MAX);

/// Serves with `--workers` event loops.
pub fn run(listener: TcpListener, ctx: Arc<Context>) -> io::Result<()> {
    let workers = ctx.config.workers.max(1);
    let (sender, receiver) = crossbeam_channel::bounded(QUEUE);
    let pool = ThreadPool::new(workers, workers, "worker")?;
    let mut wakers = Vec::with_capacity(workers);
    for id in 0..workers {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let on_shutdown = Arc::clone(&waker);
        ctx.shutdown.on_trigger(move || {
            let _ = on_shutdown.wake();
        });
        wakers.push(waker);
        let event_loop = EventLoop::new(id, poll, receiver.clone(), &ctx);
        if pool.execute(move || event_loop.run()).is_err() {
            return Err(io::Error::other("the worker pool closed while starting"));
        }
    }
    let mut next = 0;
    let result = acceptor::accept_loop(&listener, &ctx, |connection| {
        if ctx
            .shutdown
            .send_unless_triggered(&sender, connection)
            .is_err()
        {
            log::debug!("shutting down: a queued connection was closed unserved");
            return;
        }
        let _ = wakers[next].wake();
        next = (next + 1) % wakers.len();
    });
    // Closing the channel tells the event loops no more connections come.
    drop(sender);
    for waker in &wakers {
        let _ = waker.wake();
    }
    result
    // Dropping `pool` joins the event loops once their connections end.
}

/// One worker's loop: wait for readiness, serve what is ready, repeat.
struct EventLoop {
    /// `worker N`, for log lines.
    name: String,
    poll: Poll,
    incoming: Receiver<TrackedStream>,
    connections: Slab<Connection>,
    /// Connections to serve again without waiting for an event.
    again: Vec<usize>,
    scratch: Scratch,
    ctx: Arc<Context>,
    /// How often idle timers are checked.
    tick: Duration,
    /// How long to look for events before sleeping.
    busy: BusyPoll,
}

impl EventLoop {
    fn new(
        id: usize,
        poll: Poll,
        incoming: Receiver<TrackedStream>,
        ctx: &Arc<Context>,
    ) -> EventLoop {
        // A tenth of the idle timeout keeps expiry within 10% of the
        // setting; at most a second, which also bounds how late a worker
        // notices shutdown if a wake-up were ever lost.
        let tick = ctx
            .config
            .idle_timeout
            .map_or(Duration::from_secs(1), |t| t / 10)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        EventLoop {
            name: format!("worker {id}"),
            poll,
            incoming,
            connections: Slab::new(),
            again: Vec::new(),
            scratch: Scratch::new(),
            ctx: Arc::clone(ctx),
            tick,
            busy: BusyPoll::new(ctx.config.busy_poll),
        }
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let mut next_timer_check = Instant::now() + self.tick;
        loop {
            let acceptor_gone = self.take_new_connections();
            if acceptor_gone && self.connections.is_empty() {
                break;
            }
            if let Err(error) = self.wait(&mut events) {
                if error.kind() != io::ErrorKind::Interrupted {
                    log::error!("{}: poller failed: {error}", self.name);
                    self.ctx.shutdown.trigger();
                    break;
                }
            }
            for event in events.iter() {
                if event.token() == WAKE {
                    continue; // new connections or shutdown: seen at the top
                }
                let key = event.token().0;
                if event.is_read_closed() {
                    if let Some(connection) = self.connections.get_mut(key) {
                        connection.peer_closed();
                    }
                }
                self.serve(key);
            }
            for key in std::mem::take(&mut self.again) {
                self.serve(key);
            }
            let now = Instant::now();
            if now >= next_timer_check {
                self.check_timers(now);
                next_timer_check = now + self.tick;
            }
        }
        log::debug!("{}: event loop finished", self.name);
    }

    /// Waits for readiness: not at all while connections are due another
    /// turn; otherwise looks for a few microseconds while that pays (see
    /// [`busy_poll`](crate::busy_poll)), then sleeps until an event or the
    /// next timer tick.
    fn wait(&mut self, events: &mut Events) -> io::Result<()> {
        if !self.again.is_empty() {
            return self.poll.poll(events, Some(Duration::ZERO));
        }
        let poll = &mut self.poll;
        let mut failure = None;
        let found = self
            .busy
            .look(|| match poll.poll(events, Some(Duration::ZERO)) {
                Ok(()) => !events.is_empty(),
                Err(error) => {
                    failure = Some(error);
                    true
                }
            });
        if found {
            return failure.map_or(Ok(()), Err);
        }
        let (poll, tick) = (&mut self.poll, self.tick);
        self.busy.sleep(|| poll.poll(events, Some(tick)))
    }

    /// Moves connections waiting in the channel onto this worker's poller.
    /// Returns whether the acceptor has gone (the channel is closed and empty).
    fn take_new_connections(&mut self) -> bool {
        loop {
            match self.incoming.try_recv() {
                Ok(stream) => self.adopt(stream),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
        }
    }

    fn adopt(&mut self, stream: TrackedStream) {
        let connection = match Connection::new(stream, &self.ctx) {
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
        match self
            .poll
            .registry()
            .register(&mut SourceFd(&fd), Token(key), interest)
        {
            Ok(()) => {
                entry.insert(connection);
            }
            Err(error) => log::warn!(
                "{}: cannot watch {:?}: {error}",
                self.name,
                connection.stream()
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
        let outcome = run_catching_panics(&self.name, || connection.serve(scratch, ctx));
        match outcome {
            Some(Ok(wait)) => self.park(key, wait),
            Some(Err(error)) => {
                log::warn!("{:?} failed: {error}", connection.stream());
                self.close(key, None);
            }
            None => self.close(key, None),
        }
    }

    /// Parks the connection until the poller reports it ready again.
    fn park(&mut self, key: usize, wait: Wait) {
        match wait {
            Wait::Readable | Wait::Writable => {}
            Wait::Again => self.again.push(key),
            Wait::Done(ending) => self.close(key, Some(ending)),
        }
    }

    fn check_timers(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (key, connection) in self.connections.iter_mut() {
            if let Some(wait) = connection.check_timers(now) {
                expired.push((key, wait));
            }
        }
        for (key, wait) in expired {
            self.park(key, wait);
        }
    }

    fn close(&mut self, key: usize, ending: Option<Ending>) {
        let connection = self.connections.remove(key);
        let fd = connection.socket().as_raw_fd();
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
        if let Some(ending) = ending {
            log::debug!("{:?} closed: {ending:?}", connection.stream());
        }
    }
}
