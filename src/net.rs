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

/// Opens a TCP listener on `address` with the given listen backlog.
pub fn listen_tcp(address: &str, backlog: u32) -> Result<TcpListener, SetupError> {
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
    socket.bind(&addr.into()).map_err(setup)?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket.listen(backlog).map_err(setup)?;
    Ok(socket.into())
}

/// Opens the UDP socket on `address`.
pub fn bind_udp(address: &str) -> Result<UdpSocket, SetupError> {
    let setup = |cause| SetupError {
        action: format!("cannot bind udp {address}"),
        cause,
    };
    let addr = resolve(address).map_err(setup)?;
    UdpSocket::bind(addr).map_err(setup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_names_the_address_and_cause() {
        let first = listen_tcp("127.0.0.1:0", 16).unwrap();
        let taken = first.local_addr().unwrap().to_string();
        let error = listen_tcp(&taken, 16).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&taken), "{text}");
        assert!(text.contains("in use"), "{text}");
    }

    #[test]
    fn an_unparsable_address_is_an_error_not_a_panic() {
        assert!(listen_tcp("no-port-here", 16).is_err());
        assert!(bind_udp("no-port-here").is_err());
    }
}
