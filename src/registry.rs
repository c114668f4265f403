//! Every open TCP connection, in one place, so that limits and shutdown can
//! reach connections that are owned by other threads.
//!
//! A connection is owned by exactly one place at a time (a worker, an event
//! loop, the channel between them); the registry only keeps a shared handle
//! to its socket. That is enough to:
//! - enforce `--max-connections` and `--max-connections-per-ip` at accept
//!   time;
//! - force-close what is still open when the shutdown grace period ends.

use crate::config::PerIpLimit;
use crate::shutdown::lock;
use slab::Slab;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// The set of open connections, bounded by `--max-connections` and
/// `--max-connections-per-ip`.
pub struct Registry {
    state: Mutex<State>,
    emptied: Condvar,
    max_connections: usize,
    max_per_ip: PerIpLimit,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `--max-connections` are open.
    TooMany,
    /// `--max-connections-per-ip` are open from the client's address.
    TooManyFromAddress,
}

struct State {
    open: Slab<Arc<TcpStream>>,
    per_ip: HashMap<IpAddr, usize>,
    /// The id the next admitted connection gets (ids start at 1).
    next_id: u64,
    /// Which halves every socket, present and future, gets shut down:
    /// set at shutdown so that no connection registered late escapes it.
    closing: Option<Shutdown>,
}

/// An accepted TCP connection, counted in the [`Registry`] for as long as
/// it lives.
///
/// Dropping it closes the socket (once no other handle remains) and frees its
/// place under `--max-connections`.
pub struct Connection {
    key: usize,
    id: u64,
    stream: Arc<TcpStream>,
    peer: SocketAddr,
    registry: Arc<Registry>,
}

impl Registry {
    /// An empty registry that admits at most `max_connections` at once,
    /// and at most `max_per_ip` from one address.
    pub fn new(max_connections: usize, max_per_ip: PerIpLimit) -> Arc<Registry> {
        Arc::new(Registry {
            state: Mutex::new(State {
                open: Slab::new(),
                per_ip: HashMap::new(),
                next_id: 1,
                closing: None,
            }),
            emptied: Condvar::new(),
            max_connections,
            max_per_ip,
        })
    }

    /// Admits a new connection, or hands it back with the reason when a
    /// limit is reached.
    pub fn admit(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
    ) -> Result<Connection, (TcpStream, Refusal)> {
        let mut state = lock(&self.state);
        if state.open.len() >= self.max_connections {
            return Err((stream, Refusal::TooMany));
        }
        let from_ip = state.per_ip.entry(peer.ip()).or_insert(0);
        if self
            .max_per_ip
            .for_address(peer.ip())
            .is_some_and(|max| *from_ip >= max)
        {
            return Err((stream, Refusal::TooManyFromAddress));
        }
        *from_ip += 1;
        if let Some(half) = state.closing {
            // Best effort: the socket may already be closed by the peer.
            let _ = stream.shutdown(half);
        }
        let stream = Arc::new(stream);
        let key = state.open.insert(Arc::clone(&stream));
        let id = state.next_id;
        state.next_id += 1;
        Ok(Connection {
            key,
            id,
            stream,
            peer,
            registry: Arc::clone(self),
        })
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

    fn remove(&self, key: usize, peer: SocketAddr) {
        let mut state = lock(&self.state);
        state.open.remove(key);
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

impl Connection {
    /// The socket. `&TcpStream` implements `Read` and `Write`.
    pub fn socket(&self) -> &TcpStream {
        &self.stream
    }

    /// A number no other connection of this server had (from 1), for the
    /// admin page and log lines.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client's address, as `accept` reported it.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.registry.remove(self.key, self.peer);
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Connects to `listener` and asks `registry` to admit the connection.
    fn admit(
        registry: &Arc<Registry>,
        listener: &TcpListener,
    ) -> Result<Connection, (TcpStream, Refusal)> {
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, peer) = listener.accept().unwrap();
        registry.admit(stream, peer)
    }

    #[test]
    fn limits_apply_in_total_and_per_address_and_free_up_on_drop() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let registry = Registry::new(3, PerIpLimit::set(2));
        let first = admit(&registry, &listener).ok().unwrap();
        let _second = admit(&registry, &listener).ok().unwrap();
        let refused = admit(&registry, &listener).err().unwrap().1;
        assert_eq!(refused, Refusal::TooManyFromAddress);
        drop(first);
        assert_eq!(registry.open_count(), 1);
        assert!(admit(&registry, &listener).is_ok());

        let total = Registry::new(1, PerIpLimit::set(0));
        let exempt = Registry::new(5, PerIpLimit::default());
        assert!(
            admit(&exempt, &listener).is_ok(),
            "loopback is exempt from the default per-address limit"
        );
        let _only = admit(&total, &listener).ok().unwrap();
        assert_eq!(admit(&total, &listener).err().unwrap().1, Refusal::TooMany);
    }
}
