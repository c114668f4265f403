//! Opening the server's sockets, with errors a person can act on.
//!
//! std's `TcpListener::bind` fixes the listen backlog at 128. A burst of a
//! few thousand connects then overflows the accept queue and clients stall
//! in one-second SYN retries, so the listener is built with socket2 and an
//! explicit backlog: by default the system's maximum, as Go's net package
//! does.

use socket2::{Domain, Protocol, Socket, Type};
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs, UdpSocket};
use std::os::fd::FromRawFd;

/// A socket could not be set up: which address, what for, and why.
#[derive(Debug)]
pub struct SetupError {
    /// What was being done, e.g. `cannot listen on tcp 127.0.0.1:7878`.
    pub action: String,
    /// The cause reported by the system or the resolver.
    pub cause: io::Error,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.action, self.cause)
    }
}

impl std::error::Error for SetupError {}

/// Resolves `HOST:PORT` (an IP address or a name) to its first address.
pub fn resolve(address: &str) -> io::Result<SocketAddr> {
    address
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the name resolves to no address"))
}

/// The largest listen backlog the system allows (`net.core.somaxconn` on
/// Linux), or 4096 where it cannot be read.
pub fn system_max_backlog() -> u32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(4096)
}

/// Opens a TCP listener on `address` with the given listen backlog;
/// `reuse_port` sets SO_REUSEPORT so several processes can share it.
pub fn listen_tcp(
    address: &str,
    backlog: u32,
    reuse_port: bool,
) -> Result<TcpListener, SetupError> {
    let setup = |cause| SetupError {
        action: format!("cannot listen on tcp {address}"),
        cause,
    };
    let addr = resolve(address).map_err(setup)?;
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(setup)?;
    // Lets a restarted server bind at once while old connections sit in
    // TIME_WAIT; it does not let two servers share the port.
    socket.set_reuse_address(true).map_err(setup)?;
    if reuse_port {
        socket.set_reuse_port(true).map_err(setup)?;
    }
    socket.bind(&addr.into()).map_err(setup)?;
    // Before listening: every connection is a copy of the listener made
    // when its handshake completes, so each inherits Nagle's algorithm
    // off, even one queued before the accept loop starts (no system call
    // per connection: see `Listener::accept`).
    socket.set_tcp_nodelay(true).map_err(setup)?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket.listen(backlog).map_err(setup)?;
    Ok(socket.into())
}

/// Opens the UDP socket on `address` (SO_REUSEPORT with `reuse_port`).
pub fn bind_udp(address: &str, reuse_port: bool) -> Result<UdpSocket, SetupError> {
    let setup = |cause| SetupError {
        action: format!("cannot bind udp {address}"),
        cause,
    };
    let addr = resolve(address).map_err(setup)?;
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(setup)?;
    if reuse_port {
        socket.set_reuse_port(true).map_err(setup)?;
    }
    socket.bind(&addr.into()).map_err(setup)?;
    Ok(socket.into())
}

/// Sockets handed over by systemd's socket activation (`LISTEN_FDS`).
#[derive(Debug, Default)]
pub struct InheritedSockets {
    /// Every inherited TCP listener (IPv4 and IPv6 from one `.socket`
    /// unit, say), in the order passed.
    pub tcp: Vec<TcpListener>,
    /// The first inherited UDP socket.
    pub udp: Option<UdpSocket>,
    /// Usable sockets passed beyond the first of each kind, described for
    /// a warning: they are not served.
    pub unused: Vec<String>,
}

/// What the service manager should pass, for error lines.
const EXPECTED: &str = "expected a listening TCP socket (ListenStream= with Accept=no) \
                        and optionally a UDP socket (ListenDatagram=)";

/// Takes the sockets passed with `LISTEN_FDS` (and `LISTEN_PID`), if any:
/// every TCP listener and the first UDP socket, whatever their order.
///
/// Every descriptor is checked for what it is before it is used, so a unit
/// that passes the wrong thing (`Accept=yes` hands over a *connected*
/// socket; a bound socket that was never `listen`ed makes every `accept`
/// fail with EINVAL) is refused at start with one line naming what was
/// passed, instead of announcing a listener and spinning on `accept`.
/// Sockets passed without any TCP listener are refused too: serving on a
/// freshly bound address instead would silently ignore them.
pub fn inherited_sockets() -> Result<InheritedSockets, SetupError> {
    let mut passed = listenfd::ListenFd::from_env();
    let mut sockets = InheritedSockets::default();
    let mut seen = Vec::new();
    for index in 0..passed.len() {
        let Ok(Some(fd)) = passed.take_raw_fd(index) else {
            continue;
        };
        let kind = Passed::of(fd);
        let refuse = |what: String| SetupError {
            action: "cannot use the sockets passed in LISTEN_FDS".into(),
            cause: io::Error::new(io::ErrorKind::InvalidInput, what),
        };
        let description = kind.to_string();
        match kind {
            Passed::TcpListener(_) | Passed::Udp(_) => {}
            other => {
                return Err(refuse(format!("fd {fd} is {other}; {EXPECTED}")));
            }
        }
        // SAFETY: fcntl on a descriptor the service manager passed us.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        // SAFETY: LISTEN_FDS hands this process ownership of `fd`, and
        // `take_raw_fd` gives each index out once.
        match kind {
            Passed::TcpListener(_) => {
                sockets.tcp.push(unsafe { TcpListener::from_raw_fd(fd) });
            }
            Passed::Udp(_) if sockets.udp.is_none() => {
                sockets.udp = Some(unsafe { UdpSocket::from_raw_fd(fd) });
            }
            _ => sockets.unused.push(format!("fd {fd} ({description})")),
        }
        seen.push(format!("fd {fd} ({description})"));
    }
    if sockets.tcp.is_empty() && !seen.is_empty() {
        return Err(SetupError {
            action: "cannot use the sockets passed in LISTEN_FDS".into(),
            cause: io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no TCP listener among {}; {EXPECTED}", seen.join(", ")),
            ),
        });
    }
    Ok(sockets)
}

/// What an inherited descriptor turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Passed {
    /// A listening TCP socket: what the server wants.
    TcpListener(Option<SocketAddr>),
    /// A UDP socket: what the server wants for UDP.
    Udp(Option<SocketAddr>),
    /// A TCP socket with a peer (what `Accept=yes` passes).
    TcpConnected(Option<SocketAddr>, SocketAddr),
    /// A TCP socket that is bound but was never put in the listening state.
    TcpNotListening(Option<SocketAddr>),
    /// A unix-domain socket.
    Unix { kind: &'static str, listening: bool },
    /// Any other socket, or not a socket at all.
    Other(String),
}

impl Passed {
    /// Asks the kernel what `fd` is (family, type, listening state).
    fn of(fd: std::os::fd::RawFd) -> Passed {
        // SAFETY: the descriptor is only inspected here; ManuallyDrop
        // keeps it open.
        let socket = std::mem::ManuallyDrop::new(unsafe { Socket::from_raw_fd(fd) });
        let kind = match socket.r#type() {
            Ok(kind) => kind,
            Err(error) if error.raw_os_error() == Some(libc::ENOTSOCK) => {
                return Passed::Other("not a socket".into())
            }
            Err(error) => return Passed::Other(format!("unreadable ({error})")),
        };
        let listening = socket.is_listener().unwrap_or(false);
        let local = socket.local_addr().ok().and_then(|a| a.as_socket());
        let type_name = match kind {
            Type::STREAM => "stream",
            Type::DGRAM => "datagram",
            Type::SEQPACKET => "seqpacket",
            _ => "raw or other",
        };
        match socket.domain() {
            Ok(Domain::IPV4 | Domain::IPV6) => match kind {
                Type::STREAM if listening => Passed::TcpListener(local),
                Type::STREAM => match socket.peer_addr().ok().and_then(|a| a.as_socket()) {
                    Some(peer) => Passed::TcpConnected(local, peer),
                    None => Passed::TcpNotListening(local),
                },
                Type::DGRAM => Passed::Udp(local),
                _ => Passed::Other(format!("an IP {type_name} socket")),
            },
            Ok(Domain::UNIX) => Passed::Unix {
                kind: type_name,
                listening,
            },
            Ok(other) => Passed::Other(format!("a {type_name} socket of family {other:?}")),
            Err(error) => Passed::Other(format!("a socket of unknown family ({error})")),
        }
    }
}

impl fmt::Display for Passed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |address: &Option<SocketAddr>| {
            address.map_or_else(|| "an unknown address".into(), |a| a.to_string())
        };
        match self {
            Passed::TcpListener(local) => write!(f, "a TCP listener on {}", at(local)),
            Passed::Udp(local) => write!(f, "a UDP socket on {}", at(local)),
            Passed::TcpConnected(local, peer) => write!(
                f,
                "a connected TCP socket ({} <-> {peer}; is Accept=yes set?)",
                at(local)
            ),
            Passed::TcpNotListening(local) => {
                write!(f, "a TCP socket bound to {} but not listening", at(local))
            }
            Passed::Unix { kind, listening } => write!(
                f,
                "a unix-domain {kind} socket{}",
                if *listening { " (listening)" } else { "" }
            ),
            Passed::Other(what) => f.write_str(what),
        }
    }
}

/// What the kernel does with connections queued on a listener that closes
/// while siblings share its port (`net.ipv4.tcp_migrate_req`).
pub fn reuse_port_migration() -> &'static str {
    match std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req")
        .map(|v| v.trim().to_string())
    {
        Ok(value) if value == "1" => {
            "tcp_migrate_req=1: connections queued on a closing listener move to a sibling"
        }
        Ok(_) => {
            "tcp_migrate_req=0: connections queued on a closing listener are reset; \
             drain it behind a balancer first"
        }
        Err(_) => "tcp_migrate_req unknown on this kernel",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_names_the_address_and_cause() {
        let first = listen_tcp("127.0.0.1:0", 16, false).unwrap();
        let taken = first.local_addr().unwrap().to_string();
        let error = listen_tcp(&taken, 16, false).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&taken), "{text}");
        assert!(text.contains("in use"), "{text}");
    }

    #[test]
    fn an_unparsable_address_is_an_error_not_a_panic() {
        assert!(listen_tcp("no-port-here", 16, false).is_err());
        assert!(bind_udp("no-port-here", false).is_err());
    }

    #[test]
    fn with_reuse_port_two_listeners_share_one_address() {
        let first = listen_tcp("127.0.0.1:0", 16, true).unwrap();
        let shared = first.local_addr().unwrap().to_string();
        assert!(listen_tcp(&shared, 16, true).is_ok());
        let udp = bind_udp("127.0.0.1:0", true).unwrap();
        assert!(bind_udp(&udp.local_addr().unwrap().to_string(), true).is_ok());
    }
}
