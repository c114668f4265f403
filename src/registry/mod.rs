//! Every open TCP connection, in one place, so that limits and shutdown can
//! reach connections that are owned by other threads.
//!
//! A connection is owned by exactly one place at a time (a worker, an event
//! loop, the channel between them); the registry only keeps a shared handle
//! to its socket. That is enough to:
//! - enforce `--max-connections` and `--max-connections-per-ip` at accept
//!   time;
//! - force-close what is still open when the shutdown grace period ends;
//! - keep a full server serving: when every place is taken, the connection
//!   that has made no progress for longest (at least [`EVICTABLE_AFTER`])
//!   is told to leave ([`Liveness`]) and the newcomer is admitted, so
//!   silent clients cannot hold the whole server until their idle timeout
//!   (nginx closes idle keep-alive connections the same way when it runs
//!   out of them);
//! - take each connection's fixed cost from the [memory budget](crate::memory)
//!   at admission, and when the budget runs out, close the quiet
//!   connection that holds the most of it.

mod connection;

pub use connection::{Connection, Liveness};

use crate::config::PerIpLimit;
use crate::memory::{Held, MemoryBudget};
use crate::recover::lock;
use slab::Slab;
use std::collections::HashMap;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The least time without progress after which a connection may be closed
/// to make room for a new client when the server is full: long enough that
/// an interactive client between two lines is not it.
pub const EVICTABLE_AFTER: Duration = Duration::from_secs(5);

/// The set of open connections, bounded by `--max-connections` and
/// `--max-connections-per-ip`.
pub struct Registry {
    state: Mutex<State>,
    emptied: Condvar,
    max_connections: usize,
    max_per_ip: PerIpLimit,
    epoch: Instant,
    /// [`EVICTABLE_AFTER`] unless configured otherwise.
    evictable_after: Duration,
    memory: Arc<MemoryBudget>,
    /// What admitting one connection takes from `memory`.
    connection_cost: usize,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-connections` are open.
    TooMany,
    /// `--max-connections-per-ip` are open from the client's address.
    TooManyFromAddress,
    /// The memory budget cannot take one more connection.
    MemoryBudget,
}

struct Entry {
    stream: Arc<TcpStream>,
    liveness: Arc<Liveness>,
}

struct State {
    open: Slab<Entry>,
    /// Connections asked to leave that have not closed yet: admitted
    /// newcomers may exceed the limit by this many, for as long as the
    /// evicted ones take to close (a tick, then the drain).
    evicting: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// The id the next admitted connection gets (ids start at 1).
    next_id: u64,
    /// Which halves every socket, present and future, gets shut down:
    /// set at shutdown so that no connection registered late escapes it.
    closing: Option<Shutdown>,
}

impl Registry {
    /// An empty registry that admits at most `max_connections` at once,
    /// and at most `max_per_ip` from one address, with no memory budget.
    pub fn new(max_connections: usize, max_per_ip: PerIpLimit) -> Arc<Registry> {
        Registry::with_memory(
            max_connections,
            max_per_ip,
            MemoryBudget::new(None),
            0,
            EVICTABLE_AFTER,
        )
    }

    /// [`Registry::new`], also taking `connection_cost` bytes from
    /// `memory` for each connection while it is open, and evicting only
    /// connections quiet for `evictable_after`.
    pub fn with_memory(
        max_connections: usize,
        max_per_ip: PerIpLimit,
        memory: Arc<MemoryBudget>,
        connection_cost: usize,
        evictable_after: Duration,
    ) -> Arc<Registry> {
        Arc::new(Registry {
            state: Mutex::new(State {
                open: Slab::new(),
                evicting: 0,
                per_ip: HashMap::new(),
                next_id: 1,
                closing: None,
            }),
            emptied: Condvar::new(),
            max_connections,
            max_per_ip,
            epoch: Instant::now(),
            evictable_after,
            memory,
            connection_cost,
        })
    }

    /// Admits a new connection, or hands it back with the reason when a
    /// limit is reached. At `--max-connections`, the connection that has
    /// made no progress for longest is asked to leave to make room, if it
    /// has been quiet for at least [`EVICTABLE_AFTER`].
    pub fn admit(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Result<Connection, (TcpStream, Refusal)> {
        let mut state = lock(&self.state);
        if state.open.len() - state.evicting >= self.max_connections
            && !self.evict_longest_quiet(&mut state)
        {
            return Err((stream, Refusal::TooMany));
        }
        let from_ip = state.per_ip.get(&peer.ip()).copied().unwrap_or(0);
        if self
            .max_per_ip
            .for_address(peer.ip())
            .is_some_and(|max| from_ip >= max)
        {
            return Err((stream, Refusal::TooManyFromAddress));
        }
        let Some(cost) = Held::take(&self.memory, self.connection_cost) else {
            // Refused now; closing a quiet one makes room for the next.
            self.evict_holding_most(&mut state);
            return Err((stream, Refusal::MemoryBudget));
        };
        *state.per_ip.entry(peer.ip()).or_insert(0) += 1;
        if let Some(half) = state.closing {
            // Best effort: the socket may already be closed by the peer.
            let _ = stream.shutdown(half);
        }
        let stream = Arc::new(stream);
        let liveness = Arc::new(Liveness::new(self.epoch));
        let key = state.open.insert(Entry {
            stream: Arc::clone(&stream),
            liveness: Arc::clone(&liveness),
        });
        let id = state.next_id;
        state.next_id += 1;
        Ok(Connection {
            key,
            id,
            stream,
            liveness,
            _cost: cost,
            peer,
            registry: Arc::clone(self),
            tls: None,
        })
    }

    /// Asks the connection that has made no progress for longest to leave,
    /// if it has been quiet for [`EVICTABLE_AFTER`]; returns whether one
    /// was. Its owner notices within its next timer tick and closes it
    /// with the idle-timeout line. Scanning every connection is fine: it
    /// happens only when the server is full.
    fn evict_longest_quiet(&self, state: &mut State) -> bool {
        self.evict(state, |liveness| {
            (0, u64::MAX - liveness.progress_ms.load(Relaxed))
        })
    }

    /// Evicts the quiet connection holding the most memory (the longest
    /// quiet among equals).
    fn evict_holding_most(&self, state: &mut State) -> bool {
        self.evict(state, |liveness| {
            (
                liveness.held.load(Relaxed) as u64,
                u64::MAX - liveness.progress_ms.load(Relaxed),
            )
        })
    }

    /// The memory budget ran out: asks the connection holding the most of
    /// it, among those quiet for [`EVICTABLE_AFTER`] (a client that does not
    /// read its replies makes no progress), to leave. Returns whether one
    /// was.
    pub fn evict_for_memory(&self) -> bool {
        self.evict_holding_most(&mut lock(&self.state))
    }

    /// Evicts the connection quiet for [`EVICTABLE_AFTER`] that ranks
    /// highest by `rank`.
    fn evict(&self, state: &mut State, rank: impl Fn(&Liveness) -> (u64, u64)) -> bool {
        // Evicted connections still hold a descriptor until they close:
        // at most a tenth over the limit at any time.
        if state.evicting >= self.max_connections.div_ceil(10) {
            return false;
        }
        let now_ms = self.epoch.elapsed().as_millis();
        let quiet_enough = |liveness: &Liveness| {
            let since = u128::from(liveness.progress_ms.load(Relaxed));
            now_ms.saturating_sub(since) >= self.evictable_after.as_millis()
        };
        let Some((_, chosen)) = state
            .open
            .iter()
            .filter(|(_, entry)| !entry.liveness.is_evicted() && quiet_enough(&entry.liveness))
            .max_by_key(|(_, entry)| rank(&entry.liveness))
        else {
            return false;
        };
        chosen.liveness.evicted.store(true, Relaxed);
        state.evicting += 1;
        true
    }

    /// How many connections are open now.
    pub fn open_count(&self) -> usize {
        lock(&self.state).open.len()
    }

    /// Last step of a shutdown: every connection still open is cut, which
    /// fails any write blocked on a client that does not read.
    pub fn close_all(&self) {
        self.shut_down_all(Shutdown::Both);
    }

    fn shut_down_all(&self, half: Shutdown) {
        let mut state = lock(&self.state);
        state.closing = Some(half);
        for (_, entry) in state.open.iter() {
            let _ = entry.stream.shutdown(half);
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

    fn remove(&self, key: usize, peer: SocketAddr) {
        let mut state = lock(&self.state);
        if state.open.remove(key).liveness.is_evicted() {
            state.evicting -= 1;
        }
        if let Some(from_ip) = state.per_ip.get_mut(&peer.ip()) {
            *from_ip -= 1;
            if *from_ip == 0 {
                state.per_ip.remove(&peer.ip());
            }
        }
        if state.open.is_empty() {
            self.emptied.notify_all();
        }
    }
}

#[cfg(test)]
mod tests;
