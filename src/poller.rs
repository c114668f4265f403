//! A readiness poller that the shutdown signal wakes.
//!
//! The polled acceptor (`thread-per-connection`), the UDP thread and
//! every `pool` event loop sleep in a poller; each must wake the moment shutdown begins. [`Poller`] is that
//! one pattern: mio's `Poll`, a `Waker` registered under [`WAKE`], and a
//! shutdown hook that fires it.

use crate::shutdown::ShutdownSignal;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

/// The token that means "woken up", not "a socket is ready".
pub const WAKE: Token = Token(usize::MAX);

/// A readiness poller that wakes when shutdown begins.
pub struct Poller {
    poll: Poll,
    /// Kept for as long as the poller lives (the shutdown hook holds it too).
    _waker: Arc<Waker>,
}

impl Poller {
    /// A poller that `shutdown` wakes.
    pub fn woken_by(shutdown: &ShutdownSignal) -> io::Result<Poller> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let on_shutdown = Arc::clone(&waker);
        shutdown.on_trigger(move || {
            let _ = on_shutdown.wake();
        });
        Ok(Poller {
            poll,
            _waker: waker,
        })
    }

    /// Starts reporting readiness of `fd` under `token`.
    pub fn watch(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.poll
            .registry()
            .register(&mut SourceFd(&fd), token, interest)
    }

    /// Stops reporting `fd`.
    pub fn forget(&self, fd: RawFd) {
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
    }

    /// Waits for readiness, a wake-up, or `timeout` (`None`: forever).
    pub fn poll(&mut self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        self.poll.poll(events, timeout)
    }
}
