//! The lecture's TCP server: one client at a time, every line sent back
//! uppercased.
//!
//! This is the lecture's program as the lecture writes it, `unwrap()` and
//! all (upcase's own code never unwraps I/O). What it gets wrong, the
//! command that shows it and the upcase file that handles it:
//! `docs/from-lecture-to-upcase.md`.
//!
//! ```text
//! cargo run --example tcp_server [ADDR]      # default 127.0.0.1:7878
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};

fn main() {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7878".into());
    let listener = TcpListener::bind(addr).unwrap();
    println!("tcp listening on {}", listener.local_addr().unwrap());

    for stream in listener.incoming() {
        let stream = stream.unwrap();
        handle_connection(stream);
    }
}

/// Reads lines until the client closes; answers each one uppercased.
fn handle_connection(mut stream: TcpStream) {
    let reader = BufReader::new(stream.try_clone().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        let reply = line.to_uppercase() + "\n";
        stream.write_all(reply.as_bytes()).unwrap();
    }
}
