//! `--admin ADDR`: watching a running server.
//!
//! One thread, one poller, and at most [`MAX_CONNECTIONS`] connections
//! (each a non-blocking [`http::HttpConnection`] with a bounded head, read
//! and write deadlines) serve:
//! - `/metrics`: the Prometheus text format ([`metrics`]);
//! - `/stats.json`: the same numbers as JSON, for the page and scripts;
//! - `/`: a self-contained live page (no network fetches) that polls
//!   `/stats.json` a few times a second and draws the workers, the queue,
//!   the parked connections and lines per second;
//! - `/healthz`: `ok` (200) while serving, `draining` (503) once shutdown
//!   has begun, for a balancer's probe; it reads no counter and moves none.
//!
//! Why not a thread per connection, or an HTTP library's server: the
//! endpoint must not be something a client can wedge. A slow, silent or
//! never-reading client holds one slot until its deadline and nothing else;
//! running out of descriptors delays accepting (retried after the
//! acceptor's back-off), never ends the listener; shutdown is one wake-up.
//!
//! With a token ([`Access`]), every path but `/healthz` needs
//! `Authorization: Bearer TOKEN`, as Prometheus's `authorization` scrape
//! setting sends it. A non-loopback address without a token is refused at
//! start-up ([`check_exposure`]).
//!
//! Everything is read at request time from counters the server keeps
//! anyway, so serving metrics adds nothing to the hot path.

mod access;
pub mod http;
pub mod metrics;

pub use access::{check_exposure, is_loopback, Access, Exposed, TokenFileError};

use crate::context::Context;
use crate::poller::{Poller, WAKE};
use crate::shutdown::ShutdownSignal;
use crate::tcp::acceptor;
use crate::throttle::LogThrottle;
use http::{HttpConnection, Request, Response, Turn};
use mio::{Events, Interest, Token};
use slab::Slab;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const PAGE: &str = include_str!("page.html");

/// Most admin connections open at once. A scraper or two and a few open
/// pages need far fewer. When all are taken, the one that has waited
/// longest for a request head (at least [`EVICTABLE_AFTER`]) is closed to
/// make room; if none has, the newcomer is answered 503.
pub const MAX_CONNECTIONS: usize = 32;

/// How long a connection must have sent no complete request before a
/// newcomer may take its place: long enough for any real client's request
/// to arrive, short enough that silent connections cannot keep a scraper out.
pub const EVICTABLE_AFTER: Duration = Duration::from_secs(1);

/// File descriptors the endpoint holds at most: its connections, the
/// listener, and the poller with its waker.
pub const MAX_DESCRIPTORS: usize = MAX_CONNECTIONS + 3;

const LISTENER: Token = Token(usize::MAX - 1);

/// The running endpoint. Serves until [`Admin::stop`] (or drop).
pub struct Admin {
    stop: ShutdownSignal,
    thread: Option<JoinHandle<()>>,
}

impl Admin {
    /// Closes the endpoint and its connections and waits for its thread.
    pub fn stop(mut self) {
        self.stop.trigger();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        self.stop.trigger();
    }
}

/// Starts serving on `listener`, to callers `access` allows. It keeps
/// serving through the drain (so `/healthz` can say "draining") until
/// stopped.
pub fn start(listener: TcpListener, ctx: &Arc<Context>, access: Access) -> io::Result<Admin> {
    listener.set_nonblocking(true)?;
    let stop = ShutdownSignal::new();
    let poller = Poller::woken_by(&stop)?;
    poller.watch(listener.as_raw_fd(), LISTENER, Interest::READABLE)?;
    let endpoint = Endpoint {
        listener,
        poller,
        connections: Slab::with_capacity(MAX_CONNECTIONS),
        accept_again_at: None,
        ctx: Arc::clone(ctx),
        access,
        refused_log: LogThrottle::new(Duration::from_secs(1)),
        starved_log: LogThrottle::new(Duration::from_secs(1)),
    };
    let stopped = stop.clone();
    let thread = thread::Builder::new()
        .name("admin".into())
        .spawn(move || endpoint.run(&stopped))?;
    Ok(Admin {
        stop,
        thread: Some(thread),
    })
}

struct Slot {
    http: HttpConnection,
    /// Serve again at this time without an event (see [`Turn::Again`]).
    again_at: Option<Instant>,
}

struct Endpoint {
    listener: TcpListener,
    poller: Poller,
    connections: Slab<Slot>,
    /// After running out of descriptors: when to try accepting again.
    accept_again_at: Option<Instant>,
    ctx: Arc<Context>,
    access: Access,
    refused_log: LogThrottle,
    starved_log: LogThrottle,
}

impl Endpoint {
    fn run(mut self, stop: &ShutdownSignal) {
        let mut events = Events::with_capacity(64);
        while !stop.is_triggered() {
            let timeout = self
                .next_timer()
                .map(|at| at.saturating_duration_since(Instant::now()));
            if let Err(error) = self.poller.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("admin endpoint stopped: cannot wait for events: {error}");
                return;
            }
            for event in events.iter() {
                match event.token() {
                    WAKE => {}
                    LISTENER => self.accept(),
                    Token(key) => self.serve(key),
                }
            }
            self.run_timers(Instant::now());
        }
    }

    /// The earliest of: a deadline, a connection to serve again, the
    /// accept retry.
    fn next_timer(&self) -> Option<Instant> {
        self.connections
            .iter()
            .map(|(_, slot)| slot.again_at.unwrap_or(slot.http.deadline()))
            .chain(self.accept_again_at)
            .min()
    }

    fn run_timers(&mut self, now: Instant) {
        if self.accept_again_at.is_some_and(|at| at <= now) {
            self.accept();
        }
        let due: Vec<(usize, bool)> = self
            .connections
            .iter()
            .filter_map(|(key, slot)| {
                if slot.again_at.is_some_and(|at| at <= now) {
                    Some((key, true))
                } else if slot.http.deadline() <= now {
                    Some((key, false))
                } else {
                    None
                }
            })
            .collect();
        for (key, again) in due {
            if again {
                self.serve(key);
            } else {
                log::debug!("admin: a connection missed its deadline; closed");
                self.close(key);
            }
        }
    }

    fn accept(&mut self) {
        self.accept_again_at = None;
        loop {
            match self.listener.accept() {
                Ok((socket, peer)) => {
                    if self.connections.len() >= MAX_CONNECTIONS && !self.evict_one() {
                        if let Some(held_back) = self.refused_log.allow() {
                            log::warn!(
                                "admin: refused {peer}: {MAX_CONNECTIONS} admin connections open{}",
                                LogThrottle::held_back_note(held_back)
                            );
                        }
                        http::refuse(socket, &Response::text(503, "too many admin connections\n"));
                        continue;
                    }
                    self.adopt(socket);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) if acceptor::is_out_of_resources(&error) => {
                    // The listener is edge-triggered: no event will say
                    // when descriptors are free again, so a timer does.
                    self.accept_again_at = Some(Instant::now() + acceptor::BACKOFF);
                    if let Some(held_back) = self.starved_log.allow() {
                        log::warn!(
                            "admin: cannot accept: {error}; retrying every {} ms{}",
                            acceptor::BACKOFF.as_millis(),
                            LogThrottle::held_back_note(held_back)
                        );
                    }
                    return;
                }
                // The client gave up while queued (ECONNABORTED) and the like.
                Err(error) => log::debug!("admin: accept failed: {error}"),
            }
        }
    }

    /// Closes the connection that has waited longest for a request head,
    /// if it has waited at least [`EVICTABLE_AFTER`].
    fn evict_one(&mut self) -> bool {
        let oldest = self
            .connections
            .iter()
            .filter_map(|(key, slot)| Some((slot.http.waiting_since()?, key)))
            .min();
        match oldest {
            Some((since, key)) if since.elapsed() >= EVICTABLE_AFTER => {
                log::debug!(
                    "admin: all {MAX_CONNECTIONS} slots taken; closed the one silent longest"
                );
                self.close(key);
                true
            }
            _ => false,
        }
    }

    fn adopt(&mut self, socket: std::net::TcpStream) {
        let http = match HttpConnection::new(socket) {
            Ok(http) => http,
            Err(error) => return log::debug!("admin: cannot set up a connection: {error}"),
        };
        let fd = http.socket().as_raw_fd();
        let entry = self.connections.vacant_entry();
        // Registered once, edge-triggered both ways; input that arrived
        // before registration is reported at once.
        match self.poller.watch(
            fd,
            Token(entry.key()),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            Ok(()) => {
                entry.insert(Slot {
                    http,
                    again_at: None,
                });
            }
            Err(error) => log::debug!("admin: cannot watch a connection: {error}"),
        }
    }

    fn serve(&mut self, key: usize) {
        let (ctx, access) = (&self.ctx, &self.access);
        let Some(slot) = self.connections.get_mut(key) else {
            return;
        };
        slot.again_at = None;
        match slot.http.serve(&mut |request| route(request, ctx, access)) {
            Turn::Wait => {}
            Turn::Again => slot.again_at = Some(slot.http.recheck_at(Instant::now())),
            Turn::Closed => self.close(key),
        }
    }

    fn close(&mut self, key: usize) {
        if let Some(slot) = self.connections.try_remove(key) {
            self.poller.forget(slot.http.socket().as_raw_fd());
        }
    }
}

/// The answer to one request.
fn route(request: &Request, ctx: &Context, access: &Access) -> Response {
    if !matches!(request.method, "GET" | "HEAD") {
        return Response::text(405, "method not allowed: use GET or HEAD\n")
            .with_header("Allow", "GET, HEAD");
    }
    if request.path == "/healthz" {
        return if ctx.activity.is_draining() {
            Response::text(503, "draining\n")
        } else {
            Response::text(200, "ok\n")
        };
    }
    if !access.allows(request.authorization) {
        return Response::text(401, "unauthorized: send Authorization: Bearer TOKEN\n")
            .with_header("WWW-Authenticate", "Bearer realm=\"upcase admin\"");
    }
    match request.path {
        "/metrics" => Response::new(200, metrics::CONTENT_TYPE, metrics::prometheus(ctx)),
        "/stats.json" => Response::new(200, "application/json", metrics::json(ctx)),
        "/" | "/index.html" => Response::new(200, "text/html; charset=utf-8", PAGE),
        _ => Response::text(404, "not found\n"),
    }
}
