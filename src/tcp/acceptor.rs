//! The accept loop shared by every threading model.
//!
//! It owns the listening socket and decides who gets in: connections past
//! `--max-connections` get `error: too many connections` and are closed at
//! once; the rest are registered and handed to the model's `hand_over`
//! (a channel send, a thread spawn, or for `iterative`, serving inline).
//!
//! The listener is non-blocking and waited on with a poller, so pulling the
//! shutdown trigger (which notifies the poller) stops accepting at once.
//! Running out of file descriptors (EMFILE) is logged and retried after a
//! short back-off: the listener stays readable while the queue holds
//! clients, so retrying at once would spin.

use crate::context::Context;
use crate::registry::TrackedStream;
use crate::throttle::LogThrottle;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use std::io::{self, Read, Write};
use std::net::{Shutdown as Half, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

/// How long to wait before accepting again after running out of resources.
pub const BACKOFF: Duration = Duration::from_millis(100);

const LISTENER: Token = Token(0);
const WAKE: Token = Token(1);

/// Accepts connections until the shutdown trigger is pulled, passing each
/// admitted one to `hand_over`.
pub fn accept_loop(
    listener: &TcpListener,
    ctx: &Context,
    mut hand_over: impl FnMut(TrackedStream),
) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let mut poll = Poll::new()?;
    let fd = listener.as_raw_fd();
    poll.registry()
        .register(&mut SourceFd(&fd), LISTENER, Interest::READABLE)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    ctx.shutdown.on_trigger(move || {
        let _ = waker.wake();
    });
    let mut acceptor = Acceptor {
        ctx,
        refused_log: LogThrottle::new(Duration::from_secs(1)),
        starved_log: LogThrottle::new(Duration::from_secs(1)),
        starved: false,
    };
    let mut events = Events::with_capacity(8);
    let result = loop {
        // Accept first: the listener is edge-triggered, so connections
        // queued before the last wake-up must be taken without waiting.
        acceptor.accept_ready(listener, &mut hand_over);
        if ctx.shutdown.is_triggered() {
            break Ok(());
        }
        if let Err(error) = poll.poll(&mut events, None) {
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break Err(error);
        }
    };
    let _ = poll.registry().deregister(&mut SourceFd(&fd));
    result
}

struct Acceptor<'a> {
    ctx: &'a Context,
    refused_log: LogThrottle,
    starved_log: LogThrottle,
    /// Whether the last accept failed for lack of resources.
    starved: bool,
}

impl Acceptor<'_> {
    /// Accepts every connection waiting in the queue.
    fn accept_ready(&mut self, listener: &TcpListener, hand_over: &mut impl FnMut(TrackedStream)) {
        while !self.ctx.shutdown.is_triggered() {
            match listener.accept() {
                Ok((stream, _)) => {
                    if std::mem::take(&mut self.starved) {
                        log::info!("accepting connections again");
                    }
                    self.admit(stream, hand_over);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if is_out_of_resources(&error) => self.back_off(&error),
                // The client gave up while queued (ECONNABORTED) and the like.
                Err(error) => log::debug!("accept failed: {error}"),
            }
        }
    }

    fn admit(&mut self, stream: TcpStream, hand_over: &mut impl FnMut(TrackedStream)) {
        match self.ctx.registry.register(stream) {
            Ok(connection) => {
                self.ctx.stats.connection_opened();
                log::debug!("{connection:?} connected");
                hand_over(connection);
            }
            Err(stream) => {
                self.ctx.stats.connection_refused();
                if let Some(held_back) = self.refused_log.allow() {
                    log::warn!(
                        "refused a connection: {} open is the --max-connections limit \
                         ({held_back} more refused since the last warning)",
                        self.ctx.config.max_connections
                    );
                }
                refuse(stream);
            }
        }
    }

    fn back_off(&mut self, error: &io::Error) {
        self.starved = true;
        if let Some(held_back) = self.starved_log.allow() {
            log::warn!(
                "cannot accept: {error}; retrying every {} ms ({held_back} retries since the last warning)",
                BACKOFF.as_millis()
            );
        }
        self.ctx.shutdown.sleep(BACKOFF);
    }
}

/// Tells a client over the limit why it is turned away, and closes.
fn refuse(mut stream: TcpStream) {
    // A fresh socket's send buffer is empty, so this short write cannot block.
    let _ = stream.write_all(crate::codec::TOO_MANY_CONNECTIONS_REPLY);
    let _ = stream.shutdown(Half::Write);
    // Discard anything the client already sent: closing with unread input
    // would reset the connection and could destroy the reply.
    if stream.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
    }
}

/// Whether accept failed because the process or system ran out of
/// descriptors or memory (worth retrying later) rather than for one client.
fn is_out_of_resources(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
