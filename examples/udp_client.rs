//! The lecture's UDP client: each line of stdin is one datagram; prints each
//! reply datagram.
//!
//! The lecture's program as the lecture writes it, `unwrap()` and all (a lost
//! datagram leaves it waiting for ever; `upcase-client --udp` resends). See
//! `docs/from-lecture-to-upcase.md`.
//!
//! ```text
//! echo hello | cargo run --example udp_client [ADDR]   # default 127.0.0.1:7878
//! ```

use std::io::{self, BufRead};
use std::net::UdpSocket;

fn main() {
    let server = std::env::args().nth(1).unwrap_or("127.0.0.1:7878".into());
    // Port 0: the kernel picks this client's port; the server answers to it.
    let socket = UdpSocket::bind("0.0.0.0:0").unwrap();

    let mut buf = [0; 1500];
    for line in io::stdin().lock().lines() {
        socket.send_to(line.unwrap().as_bytes(), &server).unwrap();
        let (len, _from) = socket.recv_from(&mut buf).unwrap();
        println!("{}", String::from_utf8_lossy(&buf[..len]));
    }
}
