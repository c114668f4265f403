//! The TCP connection every TCP flood client opens: Nagle off (one line
//! is one segment), and with `--tls` the handshake done before the first
//! line, so a client speaks through a [`Link`] (the interactive client's
//! own connection type) whatever the carrier. A failure is counted in the
//! client's tally, never a panic.

use crate::error::FloodError;
use crate::run::{describe, RunState, REPLY_TIMEOUT};
use crate::tally::Tally;
use std::net::{SocketAddr, TcpStream};
use upcase::client::link::Link;

/// Checks that something answers on `addr` before the clients start.
pub fn probe(addr: SocketAddr) -> Result<(), FloodError> {
    TcpStream::connect_timeout(&addr, REPLY_TIMEOUT)
        .map(drop)
        .map_err(|source| FloodError::Connect { addr, source })
}

/// Connects client `id` with Nagle off (one line is one segment); a
/// failure is recorded in `tally`. The socket alone: the TLS session, if
/// any, is the caller's ([`connect`], or the evented clients' own).
pub fn connect_socket(id: usize, addr: SocketAddr, tally: &mut Tally) -> Option<TcpStream> {
    match TcpStream::connect_timeout(&addr, REPLY_TIMEOUT) {
        Ok(stream) => {
            let _ = stream.set_nodelay(true);
            Some(stream)
        }
        Err(error) => {
            tally.error(describe(id, "connect", &error));
            None
        }
    }
}

/// Connects client `id` as [`connect_socket`] does, then with `--tls`
/// finishes the handshake; a failure is recorded in `tally`.
pub fn connect(id: usize, addr: SocketAddr, run: &RunState, tally: &mut Tally) -> Option<Link> {
    let socket = connect_socket(id, addr, tally)?;
    match Link::open(socket, run.options.tls.as_ref(), REPLY_TIMEOUT) {
        Ok(link) => Some(link),
        Err(error) => {
            tally.error(describe(id, "TLS handshake", &error));
            None
        }
    }
}
