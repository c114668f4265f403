//! The lecture's UDP server: one socket for every client; each datagram is
//! answered, uppercased, to the address it came from.
//!
//! The lecture's program as the lecture writes it, `unwrap()` and all. See
//! `docs/from-lecture-to-upcase.md` for what it gets wrong.
//!
//! ```text
//! cargo run --example udp_server [ADDR]      # default 127.0.0.1:7878
//! ```

use std::net::UdpSocket;

fn main() {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7878".into());
    let socket = UdpSocket::bind(addr).unwrap();
    println!("udp listening on {}", socket.local_addr().unwrap());

    let mut buf = [0; 1500];
    loop {
        // No connection: each datagram carries its sender's address...
        let (len, sender) = socket.recv_from(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..len]).unwrap();
        // ...and the reply goes to that address.
        socket
            .send_to(text.to_uppercase().as_bytes(), sender)
            .unwrap();
    }
}
