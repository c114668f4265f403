//! The lecture's programs (`examples/`) do what the lecture says they do:
//! each one is started as a real process on a free loopback port and driven
//! over real sockets. They are built by `cargo build --release --examples`
//! (CI runs it before the tests; `cargo test` alone builds them too).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(20);

/// `target/<profile>/examples/NAME`, next to this test's own `deps/` directory.
fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --release --examples` first",
        path.display()
    );
    path
}

/// A running example, killed when dropped.
struct Example {
    child: Child,
    addr: SocketAddr,
    /// The `... listening on ADDR ...` line.
    banner: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Example {
    /// Starts `name` on `127.0.0.1:0` and reads the address from its
    /// `... listening on ADDR` line.
    fn start(name: &str) -> Example {
        let mut child = Command::new(example_path(name))
            .arg("127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .split_whitespace()
            .nth(3)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Example {
            child,
            addr,
            banner: line,
            stdout,
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream
    }

    /// Waits (bounded) for the process to exit.
    fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a client example against `addr` with `input` on stdin; its stdout.
fn run_client(name: &str, addr: SocketAddr, input: &str) -> String {
    let mut child = Command::new(example_path(name))
        .arg(addr.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the client example");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name} did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn ask(stream: &mut TcpStream, line: &str) -> String {
    stream.write_all(line.as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut reply)
        .unwrap();
    reply
}

#[test]
fn tcp_server_answers_lines_uppercased_one_client_at_a_time() {
    let server = Example::start("tcp_server");
    let mut first = server.connect();
    assert_eq!(ask(&mut first, "hello, straße\n"), "HELLO, STRASSE\n");

    // The second client is queued in the backlog while the first is open:
    // the lecture's first lesson (one slow client stops the world).
    let mut second = server.connect();
    second.write_all(b"second\n").unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    let early = second.read(&mut byte);
    assert!(
        early.is_err(),
        "the iterative server answered a second client while the first was open: {early:?}"
    );
    drop(first);
    second.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reply = String::new();
    BufReader::new(second).read_line(&mut reply).unwrap();
    assert_eq!(reply, "SECOND\n");
}

#[test]
fn tcp_client_prints_every_reply() {
    let server = Example::start("tcp_server");
    let out = run_client("tcp_client", server.addr, "hello\nstraße\n\n");
    assert_eq!(out, "HELLO\nSTRASSE\n\n");
}

#[test]
fn udp_server_answers_each_datagram_to_its_sender() {
    let server = Example::start("udp_server");
    // Two clients on one server socket: each reply goes to its own sender.
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for socket in [&a, &b] {
        socket.set_read_timeout(Some(PATIENCE)).unwrap();
    }
    a.send_to(b"from a", server.addr).unwrap();
    b.send_to(b"from b", server.addr).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = a.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"FROM A"[..], server.addr));
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"FROM B"[..], server.addr));
}

#[test]
fn udp_client_prints_every_reply() {
    let server = Example::start("udp_server");
    let out = run_client("udp_client", server.addr, "hello\nstraße\n");
    assert_eq!(out, "HELLO\nSTRASSE\n");
}

#[test]
fn pool_server_serves_clients_at_once_and_stops_on_ctrl_c() {
    let mut server = Example::start("pool_server");
    // "tcp listening on ADDR with N workers"
    let workers: usize = server
        .banner
        .split_whitespace()
        .nth(5)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no worker count in {:?}", server.banner));
    assert_eq!(workers, num_cpus::get());
    // As many clients as workers are served at the same time.
    let mut clients: Vec<TcpStream> = (0..workers).map(|_| server.connect()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        assert_eq!(
            ask(client, &format!("client {i}\n")),
            format!("CLIENT {i}\n")
        );
    }
    drop(clients);

    // SIGINT (Ctrl-C): stops accepting, joins the workers, exits 0.
    assert_eq!(
        unsafe { libc::kill(server.child.id() as i32, libc::SIGINT) },
        0
    );
    let status = server.wait_exit().expect("pool_server exits after Ctrl-C");
    assert!(status.success(), "pool_server exited with {status}");
    let mut rest = String::new();
    server.stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("shutting down\n"), "stdout: {rest:?}");
    for id in 0..workers {
        assert!(
            rest.contains(&format!("shutting down worker {id}\n")),
            "stdout: {rest:?}"
        );
    }
}
