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
    /// The first inherited TCP listener.
    pub tcp: Option<TcpListener>,
    /// The first inherited UDP socket.
    pub udp: Option<UdpSocket>,
}

/// Takes the sockets passed with `LISTEN_FDS` (and `LISTEN_PID`), if any:
/// one TCP listener and the first UDP socket, whatever their order.
///
/// The server serves one TCP listener. A unit with several `ListenStream=`
/// lines (IPv4 and IPv6, say) is refused with one line naming what was
/// passed, rather than serving one of them and leaving the other's
/// clients queued forever.
pub fn inherited_sockets() -> Result<InheritedSockets, SetupError> {
    let setup = |cause| SetupError {
        action: "cannot use the sockets passed in LISTEN_FDS".into(),
        cause,
    };
    let mut passed = listenfd::ListenFd::from_env();
    let mut sockets = InheritedSockets::default();
    let mut extra_tcp = Vec::new();
    for index in 0..passed.len() {
        if let Ok(Some(listener)) = passed.take_tcp_listener(index) {
            if sockets.tcp.is_none() {
                sockets.tcp = Some(listener);
            } else {
                extra_tcp.push(listener);
            }
            continue;
        }
        if sockets.udp.is_none() {
            if let Some(socket) = passed.take_udp_socket(index).map_err(setup)? {
                sockets.udp = Some(socket);
            }
        }
    }
    if !extra_tcp.is_empty() {
        let addresses: Vec<String> = sockets
            .tcp
            .iter()
            .chain(&extra_tcp)
            .map(|listener| {
                listener
                    .local_addr()
                    .map_or_else(|_| "?".into(), |a| a.to_string())
            })
            .collect();
        return Err(setup(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} TCP listeners passed ({}); this server serves one: give the unit a single ListenStream=",
                addresses.len(),
                addresses.join(", ")
            ),
        )));
    }
    Ok(sockets)
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
