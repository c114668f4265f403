//! Every open TCP connection, in one place, so that limits and shutdown can
//! reach connections that are owned by other threads.
//!
//! A connection is owned by exactly one place at a time (a worker, an event
//! loop, the channel between them); the registry only keeps a shared handle
//! to its socket. That is enough to:
//! - enforce `--max-connections` at accept time;
//! - wake a worker blocked reading an idle client at shutdown, by shutting
//!   down the read half of every socket (a blocked `read` then returns the
//!   bytes already received, then end-of-file);
//! - force-close what is still open when the shutdown grace period ends.

use crate::shutdown::lock;
use slab::Slab;
use std::net::{Shutdown as Half, SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// The set of open connections, bounded by `--max-connections`.
pub struct Registry {
    state: Mutex<State>,
    emptied: Condvar,
    max_connections: usize,
}

struct State {
    open: Slab<Arc<TcpStream>>,
    /// Which halves every socket, present and future, gets shut down:
    /// set at shutdown so that no connection registered late escapes it.
    closing: Option<Half>,
}

/// A connection's socket, counted in the [`Registry`] for as long as it lives.
///
/// Dropping it closes the socket (once no other handle remains) and frees its
/// place under `--max-connections`.
pub struct TrackedStream {
    key: usize,
    stream: Arc<TcpStream>,
    peer: Option<SocketAddr>,
    registry: Arc<Registry>,
}

impl Registry {
    /// An empty registry that admits at most `max_connections` at once.
    pub fn new(max_connections: usize) -> Arc<Registry> {
        Arc::new(Registry {
            state: Mutex::new(State {
                open: Slab::new(),
                closing: None,
            }),
            emptied: Condvar::new(),
            max_connections,
        })
    }

    /// Admits a new connection, or hands it back when `--max-connections`
    /// are already open.
    pub fn register(self: &Arc<Self>, stream: TcpStream) -> Result<TrackedStream, TcpStream> {
        let mut state = lock(&self.state);
        if state.open.len() >= self.max_connections {
            return Err(stream);
        }
        if let Some(half) = state.closing {
            // Best effort: the socket may already be closed by the peer.
            let _ = stream.shutdown(half);
        }
        let peer = stream.peer_addr().ok();
        let stream = Arc::new(stream);
        let key = state.open.insert(Arc::clone(&stream));
        Ok(TrackedStream {
            key,
            stream,
            peer,
            registry: Arc::clone(self),
        })
    }

    /// How many connections are open now.
    pub fn open_count(&self) -> usize {
        lock(&self.state).open.len()
    }

    /// First step of a graceful shutdown: every connection, now and later,
    /// stops receiving. Readers get what was already received, then EOF.
    pub fn stop_reading_all(&self) {
        self.shut_down_all(Half::Read);
    }

    /// Last step of a shutdown: every connection still open is cut, which
    /// fails any write blocked on a client that does not read.
    pub fn close_all(&self) {
        self.shut_down_all(Half::Both);
    }

    fn shut_down_all(&self, half: Half) {
        let mut state = lock(&self.state);
        state.closing = Some(half);
        for (_, stream) in state.open.iter() {
            let _ = stream.shutdown(half);
        }
    }

    /// Waits until no connection is open or `deadline` passes. Returns
    /// whether the registry emptied.
    pub fn wait_until_empty(&self, deadline: Instant) -> bool {
        let mut state = lock(&self.state);
        while !state.open.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .emptied
                .wait_timeout(state, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
        true
    }

    fn remove(&self, key: usize) {
        let mut state = lock(&self.state);
        state.open.remove(key);
        if state.open.is_empty() {
            self.emptied.notify_all();
        }
    }
}

impl TrackedStream {
    /// The socket. `&TcpStream` implements `Read` and `Write`.
    pub fn socket(&self) -> &TcpStream {
        &self.stream
    }

    /// The client's address, for log lines (`None` if it had already gone).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }
}

impl Drop for TrackedStream {
    fn drop(&mut self) {
        self.registry.remove(self.key);
    }
}

impl std::fmt::Debug for TrackedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.peer {
            Some(peer) => write!(f, "{peer}"),
            None => write!(f, "connection #{}", self.key),
        }
    }
}
