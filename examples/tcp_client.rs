//! The lecture's TCP client: sends each line of stdin, prints each reply.
//!
//! The lecture's program as the lecture writes it, `unwrap()` and all
//! (`upcase-client` is the hardened one: `src/client/`). See
//! `docs/from-lecture-to-upcase.md`.
//!
//! ```text
//! echo hello | cargo run --example tcp_client [ADDR]   # default 127.0.0.1:7878
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;

fn main() {
    let addr = std::env::args().nth(1).unwrap_or("127.0.0.1:7878".into());
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut replies = BufReader::new(stream.try_clone().unwrap());

    for line in io::stdin().lock().lines() {
        let line = line.unwrap();
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        replies.read_line(&mut reply).unwrap();
        print!("{reply}");
    }
}
