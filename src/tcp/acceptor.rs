//! The accept loop shared by every threading model.
//!
//! It owns the listening sockets and decides who gets in: connections past
//! `--max-connections` get `error: too many connections` and are closed at
//! once; the rest are registered and handed over to the model
//! ([`HandOver`]: a channel send, a thread spawn, or for `iterative`,
//! serving inline).
//!
//! The acceptor takes what the listen queue holds in batches, and the
//! model hears when a batch is taken: `pool` queues each connection as it
//! comes and wakes its sleeping workers once per batch, not once per
//! connection (each wake-up is a context switch on the worker's CPU). A
//! pool's acceptor also waits for a CPU instead of preempting a worker
//! when a client connects ([`yield_to_workers`]), so that on a busy server
//! the batches are more than one connection long.
//!
//! Every model's acceptor waits the same way: the listeners are
//! non-blocking and waited on with a poller, which the shutdown signal
//! wakes. Once accepting has stopped, a listener this process bound stops
//! listening, so clients arriving during the drain are refused at once
//! instead of queued and reset at exit; an inherited one is never touched:
//! under socket activation it is the service manager's socket, shared with
//! the next process, and `shutdown(2)` on it would hand that process a dead
//! listener. Connections queued on it wait for whoever serves next
//! ([`Listener::stop_listening`]).
//!
//! `event-loops` has no acceptor thread: every loop watches the listener
//! on its own poller and calls [`Acceptor::take`] itself, a few
//! connections per wake-up, so a new connection is served by the thread
//! that accepted it, with no hand-off, and no loop takes them all.
//!
//! Running out of file descriptors (EMFILE) is logged and retried after a
//! short back-off: the listener stays readable while the queue holds
//! clients, so retrying at once would spin.

use super::{drain, Listener, Serves};
use crate::codec::{TOO_MANY_CONNECTIONS_REPLY, TOO_MANY_FROM_ADDRESS_REPLY};
use crate::context::Context;
use crate::poller::Poller;
use crate::registry::{Connection, Refusal};
use crate::throttle::LogThrottle;
use mio::{Events, Interest, Token};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// How long to wait before accepting again after running out of resources.
pub const BACKOFF: Duration = Duration::from_millis(100);

/// The most connections the acceptor takes before handing them over: a
/// long burst is handed over in parts, so the first of it is not kept
/// waiting for the last.
const BATCH: usize = 32;

/// Where the acceptor puts the connections it admits: a model's channel,
/// a thread per connection, or (for `iterative`) serving inline.
pub trait HandOver {
    /// Takes one admitted connection.
    fn connection(&mut self, connection: Connection);

    /// The acceptor has taken a batch (everything that was queued, or its
    /// limit) and goes back to the listen queue or to sleep: the time to
    /// wake whoever serves the batch, once for all of it.
    fn batch_taken(&mut self) {}
}

/// A closure takes each connection; it has nothing to do per batch.
impl<F: FnMut(Connection)> HandOver for F {
    fn connection(&mut self, connection: Connection) {
        self(connection)
    }
}

/// The acceptor thread: accepts connections on every listener until the
/// shutdown trigger is pulled, and hands the admitted ones over in batches.
///
/// The listeners are non-blocking and waited on with a poller the shutdown
/// wakes.
pub fn run(listeners: &[Listener], ctx: &Context, mut hand_over: impl HandOver) -> io::Result<()> {
    let mut acceptor = Acceptor::new();
    let mut poller = Poller::woken_by(&ctx.shutdown)?;
    let mut watched = Vec::with_capacity(listeners.len());
    let mut result = Ok(());
    for (index, listener) in listeners.iter().enumerate() {
        let fd = listener.socket.as_raw_fd();
        let watch = listener
            .start_accepting()
            .and_then(|()| poller.watch(fd, Token(index), Interest::READABLE));
        if let Err(error) = watch {
            result = Err(error);
            break;
        }
        watched.push(fd);
    }
    let mut events = Events::with_capacity(8);
    ctx.accepting.trigger();
    while result.is_ok() {
        // Accept first: the listeners are edge-triggered, so connections
        // queued before the last wake-up must be taken without waiting.
        // Every listener, even after one ran out of resources: the others
        // are edge-triggered too.
        let mut starved = false;
        for listener in listeners {
            starved |= acceptor.take_all(listener, ctx, &mut hand_over).is_err();
        }
        if starved {
            ctx.shutdown.sleep(BACKOFF);
            continue;
        }
        if ctx.shutdown.is_triggered() {
            break;
        }
        if let Err(error) = poller.poll(&mut events, None) {
            if error.kind() != io::ErrorKind::Interrupted {
                result = Err(error);
            }
        }
    }
    for fd in watched {
        poller.forget(fd);
    }
    for listener in listeners {
        listener.stop_listening();
    }
    result
}

/// Lets the calling thread (a pool's acceptor, once its workers are
/// running) wait for a CPU instead of taking it from a worker whenever a
/// client connects: Linux's `SCHED_BATCH` policy, which gives up the
/// preemption a woken thread otherwise gets.
///
/// Why: the acceptor sleeps until a client connects, and a thread that
/// wakes preempts the one running on its CPU. On a busy server that is a
/// worker, so every connection cost two context switches (worker →
/// acceptor for one `accept`, then back). Waiting for its turn instead,
/// the acceptor runs when a worker sleeps or its time slice ends, and
/// takes every connection that came meanwhile in one batch. A CPU that is
/// idle runs it at once, as before. No privilege is needed; if the policy
/// cannot be set the acceptor works as before.
///
/// Only for models whose acceptor hands connections to threads already
/// started: a thread inherits the policy of the thread that starts it,
/// and `iterative`'s acceptor serves its clients itself.
///
/// A thread someone gave another policy on purpose (`chrt`, systemd's
/// `CPUSchedulingPolicy=`) keeps it: a real-time worker would starve a
/// batch acceptor.
pub fn yield_to_workers() {
    // SAFETY: reads the calling thread's (pid 0) policy.
    if unsafe { libc::sched_getscheduler(0) } != libc::SCHED_OTHER {
        return;
    }
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sets the calling thread's policy, given a valid `sched_param`.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        log::debug!(
            "the acceptor keeps its scheduling policy: {}",
            io::Error::last_os_error()
        );
    }
}

/// The process or system is out of descriptors or memory: try again after
/// [`BACKOFF`] (the failure is logged, throttled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfResources;

/// Accepts and admits connections, and logs refusals and exhaustion
/// without flooding the log.
pub struct Acceptor {
    refused_log: LogThrottle,
    starved_log: LogThrottle,
    /// Whether the last accept failed for lack of resources.
    starved: bool,
}

impl Default for Acceptor {
    fn default() -> Self {
        Acceptor::new()
    }
}

impl Acceptor {
    /// An acceptor with fresh log throttles.
    pub fn new() -> Acceptor {
        Acceptor {
            refused_log: LogThrottle::new(Duration::from_secs(1)),
            starved_log: LogThrottle::new(Duration::from_secs(1)),
            starved: false,
        }
    }

    /// Takes every connection waiting in the listener's queue (or until
    /// shutdown), in batches of at most [`BATCH`], each handed over whole.
    fn take_all(
        &mut self,
        listener: &Listener,
        ctx: &Context,
        hand_over: &mut impl HandOver,
    ) -> Result<(), OutOfResources> {
        loop {
            let taken = self.take(listener, ctx, BATCH, hand_over);
            hand_over.batch_taken();
            if taken? < BATCH {
                return Ok(());
            }
        }
    }

    /// Takes at most `budget` connections from the listener's queue,
    /// handing each admitted one to `hand_over`: the rest wait in the
    /// queue for another thread (or this one's next turn). Returns how
    /// many were taken: fewer than `budget` when the queue ran empty (or
    /// shutdown began).
    pub fn take(
        &mut self,
        listener: &Listener,
        ctx: &Context,
        budget: usize,
        hand_over: &mut impl HandOver,
    ) -> Result<usize, OutOfResources> {
        let mut taken = 0;
        while taken < budget && !ctx.shutdown.is_triggered() {
            match listener.accept() {
                Ok((stream, peer)) => {
                    taken += 1;
                    if std::mem::take(&mut self.starved) {
                        log::info!("accepting connections again");
                    }
                    self.admit(stream, peer, listener, ctx, hand_over);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if is_out_of_resources(&error) => {
                    self.starved(&error);
                    return Err(OutOfResources);
                }
                // The client gave up while queued (ECONNABORTED) and the like.
                Err(error) => log::debug!("accept failed: {error}"),
            }
        }
        Ok(taken)
    }

    fn admit(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        listener: &Listener,
        ctx: &Context,
        hand_over: &mut impl HandOver,
    ) {
        match ctx.registry.admit(stream, peer) {
            Ok(mut connection) => {
                if let Serves::Tls(certificates) = &listener.serves {
                    connection.serve_tls(certificates.config());
                }
                ctx.stats.connection_opened();
                log::debug!("{connection} connected");
                hand_over.connection(connection);
            }
            Err((stream, refusal)) => {
                ctx.stats
                    .connection_refused(refusal == Refusal::TooManyFromAddress);
                if refusal == Refusal::MemoryBudget {
                    ctx.stats.refused_for_memory();
                }
                if let Some(held_back) = self.refused_log.allow() {
                    let limit = match refusal {
                        Refusal::TooMany => format!(
                            "{} open is the --max-connections limit",
                            ctx.config.max_connections
                        ),
                        Refusal::MemoryBudget => format!(
                            "the memory budget ({} bytes) is used up",
                            ctx.memory.limit().unwrap_or(0)
                        ),
                        Refusal::TooManyFromAddress => format!(
                            "{} open from {} is the --max-connections-per-ip limit",
                            ctx.config.max_connections_per_ip.max,
                            peer.ip()
                        ),
                    };
                    log::warn!(
                        "refused a connection: {limit}{}",
                        LogThrottle::held_back_note(held_back)
                    );
                }
                refuse(stream, refusal, matches!(listener.serves, Serves::Plain));
            }
        }
    }

    fn starved(&mut self, error: &io::Error) {
        self.starved = true;
        if let Some(held_back) = self.starved_log.allow() {
            log::warn!(
                "cannot accept: {error}; retrying every {} ms{}",
                BACKOFF.as_millis(),
                LogThrottle::held_back_note(held_back)
            );
        }
    }
}

/// Tells a client over a limit why it is turned away, and closes without
/// a reset (see [`drain`]), never waiting on the client: the acceptor
/// must stay free for the next one. A TLS client is not told (the line
/// would be clear text where it expects a handshake): it sees the close.
fn refuse(mut stream: TcpStream, refusal: Refusal, plain: bool) {
    let reply = match refusal {
        Refusal::TooMany | Refusal::MemoryBudget => TOO_MANY_CONNECTIONS_REPLY,
        Refusal::TooManyFromAddress => TOO_MANY_FROM_ADDRESS_REPLY,
    };
    if plain {
        // A fresh socket's send buffer is empty, so this short write is taken whole.
        let _ = stream.write_all(reply);
    }
    drain::finish_replies(&stream);
    // Non-blocking, as accepted: this reads only what has already come.
    let _ = drain::discard_input(&stream, &mut [0u8; 4096]);
}

/// Whether accept failed because the process or system ran out of
/// descriptors or memory (worth retrying later) rather than for one client.
pub fn is_out_of_resources(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
