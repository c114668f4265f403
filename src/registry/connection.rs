//! What the owner of a connection holds: the [`Connection`] (its socket,
//! its place under the limits, freed on drop) and the [`Liveness`] the
//! registry reads to pick whom to evict, without taking the connection
//! from the thread that owns it.

use super::Registry;
use crate::memory::Held;
use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

/// What the registry can see of a connection that another thread owns:
/// when it last made progress, and whether it has been asked to leave.
#[derive(Debug)]
pub struct Liveness {
    /// The registry's clock origin.
    pub(super) epoch: Instant,
    /// Milliseconds from `epoch` to the last progress.
    pub(super) progress_ms: AtomicU64,
    pub(super) evicted: AtomicBool,
    /// Bytes of the memory budget its buffers hold beyond its fixed cost.
    pub(super) held: AtomicUsize,
}

impl Liveness {
    pub(super) fn new(epoch: Instant) -> Liveness {
        let liveness = Liveness {
            epoch,
            progress_ms: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            held: AtomicUsize::new(0),
        };
        liveness.progressed(Instant::now());
        liveness
    }

    /// The connection made progress at `now` (a complete line, or reply
    /// bytes taken by the client).
    pub fn progressed(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.epoch).as_millis();
        self.progress_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Relaxed);
    }

    /// Its buffers now hold `bytes` of the memory budget (told only when
    /// there is a budget).
    pub fn holds(&self, bytes: usize) {
        self.held.store(bytes, Relaxed);
    }

    /// Whether the registry asked this connection to leave (the server is
    /// full and it is the one that has made no progress for longest).
    pub fn is_evicted(&self) -> bool {
        self.evicted.load(Relaxed)
    }
}

/// An accepted TCP connection, counted in the [`Registry`] for as long as
/// it lives.
///
/// Dropping it closes the socket (once no other handle remains) and frees its
/// place under `--max-connections`.
pub struct Connection {
    pub(super) key: usize,
    pub(super) id: u64,
    pub(super) stream: Arc<TcpStream>,
    pub(super) liveness: Arc<Liveness>,
    /// Its fixed cost, taken from the memory budget.
    pub(super) _cost: Held,
    pub(super) peer: SocketAddr,
    pub(super) registry: Arc<Registry>,
    /// The TLS settings it is served with (taken at accept), if its
    /// listener serves TLS.
    pub(super) tls: Option<Arc<rustls::ServerConfig>>,
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

    /// Its progress as the registry sees it (see [`Liveness`]).
    pub fn liveness(&self) -> &Arc<Liveness> {
        &self.liveness
    }

    /// The client's address, as `accept` reported it.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Serves this connection over TLS with `config`.
    pub fn serve_tls(&mut self, config: Arc<rustls::ServerConfig>) {
        self.tls = Some(config);
    }

    /// The TLS settings, if it is served over TLS.
    pub fn tls(&self) -> Option<&Arc<rustls::ServerConfig>> {
        self.tls.as_ref()
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
