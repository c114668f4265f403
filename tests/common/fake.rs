//! Fake servers: a few lines of script in place of `upcase-server`, for the
//! misbehaviour the real server never shows (a cut reply, a reset in the
//! middle of a line, a reply with no end, an empty datagram) but a client
//! must survive.
//!
//! Each fake runs its script on a thread of its own, on a loopback port of
//! its own; every accept and read is bounded by [`PATIENCE`], so a client
//! that never arrives fails the test instead of hanging it.

use super::PATIENCE;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A fake server running its script; [`Fake::join`] returns what the script
/// returned (say, the lines it received).
pub struct Fake<T> {
    /// Where it listens, as the client's ADDR argument.
    pub addr: String,
    script: JoinHandle<T>,
}

impl<T> Fake<T> {
    /// Waits for the script to end and returns its result (a panic in the
    /// script fails the test here).
    pub fn join(self) -> T {
        self.script
            .join()
            .expect("the fake server's script panicked")
    }
}

/// Starts a TCP fake: `script` gets the listener and accepts what it wants
/// with [`accept`].
pub fn tcp<T: Send + 'static>(script: impl FnOnce(TcpListener) -> T + Send + 'static) -> Fake<T> {
    let listener = listen_on("127.0.0.1:0".parse().unwrap());
    let addr = listener.local_addr().unwrap().to_string();
    Fake {
        addr,
        script: thread::spawn(move || script(listener)),
    }
}

/// Starts a UDP fake: `script` gets the bound socket (reads bounded by
/// [`PATIENCE`]).
pub fn udp<T: Send + 'static>(script: impl FnOnce(UdpSocket) -> T + Send + 'static) -> Fake<T> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = socket.local_addr().unwrap().to_string();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    Fake {
        addr,
        script: thread::spawn(move || script(socket)),
    }
}

/// Listens on `addr` (a fake that comes back on the port it had), with
/// accept bounded by [`PATIENCE`].
pub fn listen_on(addr: std::net::SocketAddr) -> TcpListener {
    let listener = TcpListener::bind(addr).expect("bind a loopback port");
    // Linux bounds accept(2) by the receive timeout.
    socket2::SockRef::from(&listener)
        .set_read_timeout(Some(PATIENCE))
        .unwrap();
    listener
}

/// The next connection, with its reads bounded by [`PATIENCE`].
pub fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().expect("a client connects in time");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Reads one line (with its `\n`), or what is left before the peer's FIN.
pub fn read_line(stream: &TcpStream) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte: nothing past the line is taken from the socket.
    while (&*stream).read(&mut byte).expect("read from the client") == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    line
}

/// Reads until the client's FIN (its input ended) and returns it all.
pub fn read_to_fin(stream: &TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    (&*stream)
        .read_to_end(&mut all)
        .expect("read from the client");
    all
}

/// Answers every line as the real server would (the reference uppercase),
/// until the client's FIN; returns the lines received.
pub fn answer_every_line(stream: &TcpStream) -> Vec<String> {
    let mut received = Vec::new();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line).expect("read") == 0 {
            return received;
        }
        (&*stream)
            .write_all(&super::reference_uppercase(&line))
            .expect("answer the client");
        received.push(String::from_utf8_lossy(&line).into_owned());
    }
}

/// Ends the connection with a reset (RST), as a crashed server's kernel does.
pub fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// Ends the connection with a FIN in both directions.
pub fn close(stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Both);
}

/// A loopback TCP port on which nothing listens (bound, then released).
pub fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// Waits until the client has read everything sent to it on `stream` (its
/// socket's receive queue, in `/proc/net/tcp`, is empty): what a fake sends
/// before a reset is then surely in the client's hands, not dropped with
/// the reset.
pub fn wait_until_read(stream: &TcpStream) {
    let ours = proc_net_tcp_address(stream.local_addr().unwrap());
    let theirs = proc_net_tcp_address(stream.peer_addr().unwrap());
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
        let queued = table.lines().find_map(|row| {
            let fields: Vec<&str> = row.split_whitespace().collect();
            // sl local rem st tx_queue:rx_queue ...
            (fields.len() > 4 && fields[1] == theirs && fields[2] == ours)
                .then(|| fields[4].split(':').nth(1).map(|rx| rx != "00000000"))
                .flatten()
        });
        if queued == Some(false) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the client never read what was sent (receive queue: {queued:?})"
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// An IPv4 socket address as `/proc/net/tcp` prints it (`0100007F:1F90`).
fn proc_net_tcp_address(addr: std::net::SocketAddr) -> String {
    let std::net::SocketAddr::V4(v4) = addr else {
        panic!("fakes listen on 127.0.0.1");
    };
    format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(v4.ip().octets()),
        v4.port()
    )
}
