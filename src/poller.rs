//! A readiness poller that the shutdown signal wakes.
//!
//! The polled acceptor (`thread-per-connection`, `pool`), the UDP thread,
//! every `pool` worker and every `event-loops` loop sleep in a poller;
//! each must wake the moment shutdown begins. [`Poller`] is that one
//! pattern: mio's `Poll`, a `Waker` registered under [`WAKE`], and a
//! shutdown hook that fires it. The same waker lets a `pool` acceptor wake
//! a sleeping worker when it queues a connection for it.
//!
//! Sockets are watched edge-triggered (mio's way), except a listening
//! socket shared by several event loops: that one is watched
//! level-triggered with `EPOLLEXCLUSIVE` ([`Poller::watch_listener`]), which
//! mio does not offer, so it is registered with `epoll_ctl` directly.

use crate::shutdown::ShutdownSignal;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// The token that means "woken up", not "a socket is ready".
pub const WAKE: Token = Token(usize::MAX);

/// A readiness poller that wakes when shutdown begins.
pub struct Poller {
    poll: Poll,
    /// Kept for as long as the poller lives (the shutdown hook holds it too).
    waker: Arc<Waker>,
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
        Ok(Poller { poll, waker })
    }

    /// A handle that wakes this poller from another thread.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Starts reporting a listening socket shared with other pollers,
    /// under `token`: level-triggered, so connections left in the queue
    /// are reported again, and where the kernel has `EPOLLEXCLUSIVE`
    /// (Linux 4.5), a new connection wakes one sleeping poller, not all.
    /// Returns whether the wake-ups are exclusive.
    pub fn watch_listener(&self, fd: RawFd, token: Token) -> io::Result<bool> {
        let add = |flags: u32| {
            let mut event = libc::epoll_event {
                events: flags,
                u64: token.0 as u64,
            };
            // SAFETY: epoll_ctl on our own epoll descriptor with an event
            // struct we own; the kernel copies it.
            let done = unsafe {
                libc::epoll_ctl(self.poll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event)
            };
            if done == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        let readable = libc::EPOLLIN as u32;
        match add(readable | libc::EPOLLEXCLUSIVE as u32) {
            Ok(()) => Ok(true),
            // A kernel without EPOLLEXCLUSIVE: every poller is woken.
            Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
                add(readable).map(|()| false)
            }
            Err(error) => Err(error),
        }
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
