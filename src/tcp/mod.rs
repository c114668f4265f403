//! TCP: accepting connections, the protocol session, and the two shapes of
//! handler that move its bytes.
//!
//! - [`acceptor`]: the accept loop every model shares (limits, back-off,
//!   shutdown), which hands each admitted connection to the model.
//! - [`session`]: the line protocol's rules, with no I/O ([`LineSession`](session::LineSession)).
//! - [`blocking`]: the textbook handler — `BufReader`, uppercase,
//!   `write_all` — for models where a thread may block on one client.
//! - [`evented`]: the same session driven by readiness, for `pool` and
//!   `event-loops`, where a connection is parked on a poller between reads.
//! - [`tls`]: TLS as a layer under both handlers (the session never
//!   knows).
//! - [`parked`]: a thread's parked connections and the turn that serves
//!   the ready ones.
//! - [`balance`]: how many connections each evented thread holds, so that
//!   a new one goes to the least busy.
//! - [`drain`]: the one way a connection is closed while its client may
//!   still be sending: FIN after the last reply, never a reset.
//!
//! A server has one or more listening sockets ([`Listener`]): the
//! `--tcp` one, every stream socket a service manager passes (IPv4 and
//! IPv6 from one `.socket` unit), and `--tls`. Each is tagged with what it
//! serves ([`Serves`]), so one accept loop serves them all.

pub mod acceptor;
pub mod balance;
pub mod blocking;
pub mod drain;
pub mod evented;
pub mod parked;
pub mod session;
pub mod tls;

use crate::certificates::Certificates;
use crate::context::Context;
use crate::registry::Connection;
use crate::throttle::LogThrottle;
use session::Ending;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A listening socket and what its connections are served.
pub struct Listener {
    /// The bound, listening socket.
    pub socket: TcpListener,
    /// Plain lines, or lines over TLS.
    pub serves: Serves,
    /// Whose socket it is once this process stops accepting.
    pub after_shutdown: AfterShutdown,
}

/// What becomes of a listening socket when shutdown stops accepting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterShutdown {
    /// This process bound it and nobody accepts from it after us: it stops
    /// listening at once, so a client that connects during the drain is
    /// refused (and tries a peer, or again later) instead of waiting in a
    /// queue nobody reads until the exit resets it.
    StopListening,
    /// A service manager passed it (`LISTEN_FDS`) and keeps it for the
    /// next process: it is left as it is, and connections queued on it
    /// wait for that process.
    KeepForTheNext,
}

impl Listener {
    /// A listener serving the line protocol in clear text.
    pub fn plain(socket: TcpListener) -> Listener {
        Listener {
            socket,
            serves: Serves::Plain,
            after_shutdown: AfterShutdown::StopListening,
        }
    }

    /// A listener serving TLS with the current certificate of `certificates`.
    pub fn tls(socket: TcpListener, certificates: Arc<Certificates>) -> Listener {
        Listener {
            serves: Serves::Tls(certificates),
            ..Listener::plain(socket)
        }
    }

    /// A listener a service manager passed (`LISTEN_FDS`), in clear text.
    pub fn inherited(socket: TcpListener) -> Listener {
        Listener {
            after_shutdown: AfterShutdown::KeepForTheNext,
            ..Listener::plain(socket)
        }
    }

    /// Makes the socket ready for an accept loop: non-blocking (it is
    /// waited on with a poller), and with Nagle's algorithm off, so a short
    /// reply leaves at once. A socket this process bound had it off before
    /// it listened (`net::listen_tcp`); an inherited one gets it here.
    pub fn start_accepting(&self) -> io::Result<()> {
        self.socket.set_nonblocking(true)?;
        if let Err(error) = self.socket_ref().set_tcp_nodelay(true) {
            // Not fatal: replies are only slower to leave.
            log::warn!(
                "cannot turn Nagle's algorithm off for the connections of a listener: {error}"
            );
        }
        Ok(())
    }

    /// Takes the next connection of the listen queue, already
    /// non-blocking (both evented models want it so, and the blocking
    /// handler switches back: one system call fewer per connection on the
    /// default model) and close-on-exec. Linux makes each connection a copy
    /// of the listener, Nagle's algorithm off included, so it is turned off
    /// per connection only on an inherited listener, whose queue may hold
    /// connections from before it was turned off on the listener.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let listener = self.socket.as_raw_fd();
        // SAFETY: `try_init` hands accept4 a zeroed address buffer and its
        // length, as accept4 expects; a descriptor accept4 returns is new
        // and owned by nobody else, so the stream may own (and close) it.
        let (stream, peer) = unsafe {
            socket2::SockAddr::try_init(|address, length| {
                let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
                match libc::accept4(listener, address.cast(), length, flags) {
                    -1 => Err(io::Error::last_os_error()),
                    fd => Ok(TcpStream::from_raw_fd(fd)),
                }
            })?
        };
        if self.after_shutdown == AfterShutdown::KeepForTheNext {
            // Not fatal, as for the listener.
            let _ = stream.set_nodelay(true);
        }
        let peer = peer
            .as_socket()
            .ok_or_else(|| io::Error::other("accepted a connection that is not TCP/IP"))?;
        Ok((stream, peer))
    }

    fn socket_ref(&self) -> socket2::SockRef<'_> {
        socket2::SockRef::from(&self.socket)
    }

    /// Called once accepting has stopped for shutdown, after the last
    /// connections queued were taken: a socket this process bound stops
    /// listening (`shutdown(2)` on a listener: the kernel refuses new
    /// connections and, with `--reuse-port`, sends them to the other
    /// processes sharing the port); an inherited one is left to its owner.
    pub fn stop_listening(&self) {
        if self.after_shutdown == AfterShutdown::StopListening {
            if let Err(error) = self.socket_ref().shutdown(std::net::Shutdown::Both) {
                log::debug!("cannot stop listening: {error}");
            }
        }
    }
}

/// What a listener's connections speak.
#[derive(Clone)]
pub enum Serves {
    /// The line protocol, in clear text.
    Plain,
    /// The line protocol over TLS, with the certificate current when a
    /// connection is accepted.
    Tls(Arc<Certificates>),
}

/// The most bytes read in one `read` call (and so decoded in one go).
pub const READ_CHUNK: usize = 64 * 1024;

/// Whether a blocking socket's read or write gave up at its timeout
/// (Linux reports `EAGAIN`, i.e. `WouldBlock`; other systems `TimedOut`).
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// How a connection's end is counted and logged: normal endings at
/// `debug`; failures a client can cause (reset, broken pipe) at `debug`
/// too and counted as the client's, never as the server's errors; a
/// connection that ended without sending a byte (a balancer's TCP health
/// check) counted as such; any other failure as a warning, at most one a
/// second server-wide so that a flood of bad clients never becomes a flood
/// of log lines.
pub struct ConnectionEnd;

impl ConnectionEnd {
    /// Counts and logs how `connection` ended.
    pub fn log(connection: &Connection, result: io::Result<Ending>, ctx: &Context) {
        static WARNINGS: Mutex<Option<LogThrottle>> = Mutex::new(None);
        let silent = |fin| drain::peer_sent_nothing(connection.socket(), fin);
        match result {
            Ok(ending) => {
                if ending == Ending::ClientClosed && silent(true) {
                    ctx.stats.health_check();
                }
                log::debug!("{connection} closed: {ending}");
            }
            Err(error) if is_client_failure(&error) => {
                if silent(false) {
                    ctx.stats.health_check();
                } else {
                    ctx.stats.client_reset();
                }
                log::debug!("{connection} failed: {error}");
            }
            Err(error) => {
                ctx.stats.connection_failed();
                let mut throttle = crate::recover::lock(&WARNINGS);
                let throttle =
                    throttle.get_or_insert_with(|| LogThrottle::new(Duration::from_secs(1)));
                if let Some(held_back) = throttle.allow() {
                    log::warn!(
                        "{connection} failed: {error}{}",
                        LogThrottle::held_back_note(held_back)
                    );
                }
            }
        }
    }
}

/// Whether an error is the client's doing (it went away), not the server's.
fn is_client_failure(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
            // A TLS record the client got wrong (or a plain client on the
            // TLS port): counted by reason in the handshake metrics.
            | io::ErrorKind::InvalidData
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Instant;

    #[test]
    fn accepted_connections_are_non_blocking_close_on_exec_and_without_nagle() {
        let listener = Listener::plain(crate::net::listen_tcp("127.0.0.1:0", 16, false).unwrap());
        // Connected before the accept loop starts: queued, and still
        // without Nagle's algorithm.
        let client = TcpStream::connect(listener.socket.local_addr().unwrap()).unwrap();
        listener.start_accepting().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let (stream, peer) = loop {
            match listener.accept() {
                Ok(accepted) => break accepted,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "never accepted");
                    std::thread::yield_now();
                }
                Err(error) => panic!("accept failed: {error}"),
            }
        };
        assert_eq!(peer, client.local_addr().unwrap());
        assert!(stream.nodelay().unwrap(), "Nagle's algorithm is on");
        let nothing_yet = (&stream).read(&mut [0u8; 1]).unwrap_err();
        assert_eq!(nothing_yet.kind(), io::ErrorKind::WouldBlock);
        // SAFETY: F_GETFD only reads the descriptor's flags.
        let flags = unsafe { libc::fcntl(stream.as_raw_fd(), libc::F_GETFD) };
        assert_ne!(flags & libc::FD_CLOEXEC, 0, "inherited by child processes");
    }
}
