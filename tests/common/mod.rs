//! Test support: start the real `upcase-server` binary on port 0, talk to it
//! over real sockets, stop it with real signals.
//!
//! Readiness is the server's own `tcp listening on ...` line, never a sleep.
//! Every wait is bounded, and `Drop` kills a server a test left running.

#![allow(dead_code)] // each test file uses a different part of this

pub mod admin;
pub mod fake;
pub mod in_process;
pub mod netns;
pub mod tls;
#[allow(unused_imports)] // not every test file runs a server in-process
pub use in_process::InProcess;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Generous bound on any single wait: tests fail instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A new client connection to `server` with bounded reads.
pub fn connect_to(server: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(server).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// A UDP socket connected to `server`, whose reads give up after `patience`.
pub fn udp_client_of(server: SocketAddr, patience: Duration) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(server).unwrap();
    socket.set_read_timeout(Some(patience)).unwrap();
    socket
}

/// A plain HTTP/1.0 GET of `path` on the admin endpoint at `admin`;
/// returns the body of its 200 answer.
pub fn http_get(admin: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(admin).expect("connect to the admin endpoint");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    body.to_string()
}

/// `/stats.json` from the admin endpoint at `admin`.
pub fn stats_json(admin: SocketAddr) -> serde_json::Value {
    serde_json::from_str(&http_get(admin, "/stats.json")).expect("/stats.json is JSON")
}

/// Every threading model, by its `--model` name: the server's own list.
pub fn models() -> Vec<&'static str> {
    upcase::config::Model::ALL
        .iter()
        .map(|m| m.name())
        .collect()
}

/// A running `upcase-server` started by a test.
pub struct Server {
    child: Child,
    /// The TCP address from the `tcp listening on` line.
    pub tcp: SocketAddr,
    /// The UDP address from the `udp listening on` line, unless `--no-udp`.
    pub udp: Option<SocketAddr>,
    /// The admin address from the `admin listening on` line, with `--admin`.
    pub admin: Option<SocketAddr>,
    /// The TLS address from the `tls listening on` line, with `--tls`.
    pub tls: Option<SocketAddr>,
    stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the server on free loopback ports with extra `args`.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with(args, |_| {})
    }

    /// Starts the server with `--model model` and extra `args`.
    pub fn start_model(model: &str, args: &[&str]) -> Server {
        let mut all = vec!["--model", model];
        all.extend_from_slice(args);
        Server::start(&all)
    }

    /// Like [`Server::start`], letting the caller adjust the command first.
    pub fn start_with(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_upcase-server"));
        command.args(["--tcp", "127.0.0.1:0"]);
        if !args.contains(&"--no-udp") && !args.contains(&"--udp") {
            command.args(["--udp", "127.0.0.1:0"]);
        }
        command
            .args(args)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        adjust(&mut command);
        let mut child = command.spawn().expect("start upcase-server");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut pipe = child.stderr.take().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdout = child.stdout.take().unwrap();
        let (tcp, udp, admin, tls) = read_addresses(
            stdout,
            !args.contains(&"--no-udp"),
            args.contains(&"--admin"),
            args.contains(&"--tls"),
        );
        Server {
            child,
            tcp: tcp.unwrap_or_else(|| panic!("no tcp line")),
            udp,
            admin,
            tls,
            stderr,
        }
    }

    /// A new client connection with bounded reads.
    pub fn connect(&self) -> TcpStream {
        connect_to(self.tcp)
    }

    /// A UDP socket connected to the server, with bounded reads.
    pub fn udp_client(&self) -> UdpSocket {
        udp_client_of(self.udp.expect("udp enabled"), Duration::from_secs(5))
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) until the server's log contains `text`.
    pub fn wait_for_log(&self, text: &str) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.stderr().contains(text) {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` and waits (bounded) for the server to exit.
    pub fn stop_with(mut self, signal: i32) -> (ExitStatus, String) {
        send_signal(self.child.id(), signal);
        let status = self
            .wait_exit(PATIENCE)
            .expect("server exits after a signal");
        // The stderr thread ends with the pipe; give it a moment to flush.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && !self.stderr().contains("shutdown complete") {
            thread::sleep(Duration::from_millis(10));
        }
        (status, self.stderr())
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads the `tcp listening on` / `udp listening on` lines.
fn read_addresses(
    stdout: std::process::ChildStdout,
    want_udp: bool,
    want_admin: bool,
    want_tls: bool,
) -> (
    Option<SocketAddr>,
    Option<SocketAddr>,
    Option<SocketAddr>,
    Option<SocketAddr>,
) {
    let mut lines = BufReader::new(stdout).lines();
    let (mut tcp, mut udp, mut admin, mut tls) = (None, None, None, None);
    while tcp.is_none()
        || (want_udp && udp.is_none())
        || (want_admin && admin.is_none())
        || (want_tls && tls.is_none())
    {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(addr) = line.strip_prefix("tcp listening on ") {
            tcp = Some(addr.parse().expect("tcp address"));
        } else if let Some(addr) = line.strip_prefix("udp listening on ") {
            udp = Some(addr.parse().expect("udp address"));
        } else if let Some(addr) = line.strip_prefix("admin listening on ") {
            admin = Some(addr.parse().expect("admin address"));
        } else if let Some(addr) = line.strip_prefix("tls listening on ") {
            tls = Some(addr.parse().expect("tls address"));
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    thread::spawn(move || for _ in lines {});
    (tcp, udp, admin, tls)
}

/// Sends a Unix signal to a process the test started.
pub fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    let result = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(result, 0, "kill({pid}, {signal})");
}

/// Writes `request`, then reads exactly `expected.len()` bytes and checks them.
pub fn round_trip(stream: &mut TcpStream, request: &[u8], expected: &[u8]) {
    stream.write_all(request).unwrap();
    assert_eq!(read_exact_len(stream, expected.len()), expected);
}

/// Reads exactly `len` bytes (bounded by the stream's read timeout).
pub fn read_exact_len(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    stream.read_exact(&mut buf).unwrap();
    buf
}

/// Reads until the server closes the connection.
pub fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all).unwrap();
    all
}

/// Whether any byte arrives within `wait` (used to show a client is *not*
/// being served; a negative can only be shown by waiting).
pub fn replies_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    let got = match stream.peek(&mut byte) {
        Ok(n) => n > 0,
        Err(_) => false,
    };
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    got
}

/// Raises the open-file limit to the hard limit (the server inherits it).
pub fn raise_fd_limit() -> u64 {
    upcase::process_stats::raise_fd_limit()
}

/// Writes to `stream` without ever reading, until the kernel's buffers on
/// both sides are full, i.e. until the server has stopped reading it.
pub fn fill_until_server_stops_reading(stream: &TcpStream) {
    stream.set_nonblocking(true).unwrap();
    let chunk = b"never read the reply to this line\n".repeat(2000);
    let mut writer = stream;
    for _ in 0..10_000 {
        match writer.write(&chunk) {
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) => panic!("writing: {e}"),
        }
    }
    panic!("the server kept reading a client that never reads its replies");
}

/// The resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    upcase::process_stats::ProcessStats::of(pid)
        .expect("the server's /proc entry")
        .rss_kib
}

/// The protocol's answer to `input`, computed independently of the crate's
/// codec: each valid UTF-8 run through `str::to_uppercase`, each invalid
/// byte copied.
pub fn reference_uppercase(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in input.utf8_chunks() {
        out.extend_from_slice(chunk.valid().to_uppercase().as_bytes());
        out.extend_from_slice(chunk.invalid());
    }
    out
}

/// The models `for_every_model!` generates tests for. A macro cannot loop
/// over `Model::ALL`, so its modules are written out; `tests/models.rs`
/// checks that this list is exactly `Model::ALL`.
pub const FOR_EVERY_MODEL: [&str; 5] = [
    "pool",
    "event-loops",
    "fixed-pool",
    "thread-per-connection",
    "iterative",
];

/// Generates one `#[test]` per threading model for each named case, so
/// every model runs the very same test code: `case(model: &str)`.
#[macro_export]
macro_rules! for_every_model {
    ($($case:ident),* $(,)?) => {
        mod pool {
            $( #[test] fn $case() { super::$case($crate::common::FOR_EVERY_MODEL[0]) } )*
        }
        mod event_loops {
            $( #[test] fn $case() { super::$case($crate::common::FOR_EVERY_MODEL[1]) } )*
        }
        mod fixed_pool {
            $( #[test] fn $case() { super::$case($crate::common::FOR_EVERY_MODEL[2]) } )*
        }
        mod thread_per_connection {
            $( #[test] fn $case() { super::$case($crate::common::FOR_EVERY_MODEL[3]) } )*
        }
        mod iterative {
            $( #[test] fn $case() { super::$case($crate::common::FOR_EVERY_MODEL[4]) } )*
        }
    };
}

/// Runs `upcase-client` with `args`, feeding it `stdin` from another
/// thread (so a large input cannot deadlock), and returns its output.
pub fn run_client(args: &[&str], stdin: Vec<u8>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_upcase-client"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start upcase-client");
    let mut pipe = child.stdin.take().expect("piped stdin");
    let feeder = thread::spawn(move || {
        let _ = pipe.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("the client's output");
    let _ = feeder.join();
    output
}
