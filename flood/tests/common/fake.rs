//! Fake servers for the flood's tests: a few lines each in place of
//! `upcase-server`, for what the real one never does (a wrong reply, a
//! missing one, a reset on every connection, an empty datagram) but the
//! flood must notice and count.
//!
//! Each fake serves on a loopback port of its own, from threads of its own,
//! and ends itself: accepts and reads are bounded by [`PATIENCE`], so a
//! fake never outlives its test binary by more than that.

use super::PATIENCE;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::thread;

/// A listener on a free loopback port whose accepts give up after
/// [`PATIENCE`], with its address as the flood's `--tcp` argument.
pub fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let address = listener.local_addr().unwrap().to_string();
    // Linux bounds accept(2) by the receive timeout.
    socket2::SockRef::from(&listener)
        .set_read_timeout(Some(PATIENCE))
        .unwrap();
    (listener, address)
}

/// A TCP fake that runs `serve` on every connection, each on its own
/// thread (reads bounded by [`PATIENCE`]); returns its address.
pub fn tcp(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> String {
    let (listener, address) = listener();
    let serve = std::sync::Arc::new(serve);
    thread::spawn(move || {
        while let Ok((stream, _)) = listener.accept() {
            let _ = stream.set_read_timeout(Some(PATIENCE));
            let serve = std::sync::Arc::clone(&serve);
            thread::spawn(move || serve(stream));
        }
    });
    address
}

/// A UDP fake that answers each datagram with `answer(datagram)`, or not
/// at all for `None`, until none comes for [`PATIENCE`]; returns its
/// address.
pub fn udp(answer: impl Fn(&[u8]) -> Option<Vec<u8>> + Send + 'static) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback port");
    let address = socket.local_addr().unwrap().to_string();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if let Some(reply) = answer(&buf[..n]) {
                let _ = socket.send_to(&reply, from);
            }
        }
    });
    address
}
