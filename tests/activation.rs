//! systemd's socket activation: every stream socket passed in
//! `LISTEN_FDS` served, one that cannot be served refused naming what it
//! is, and restarts on the sockets the service manager holds that refuse
//! no client and lose no line. Binary tests: the sockets are inherited
//! across exec.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A server started the way systemd starts one, killed on drop if the
/// test failed first.
struct Activated {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Activated {
    /// Starts the server on the inherited `fds` with `args` (its stderr
    /// to `stderr`) and reads one announcement per socket: returns it and
    /// the announcements.
    fn start(fds: &[RawFd], args: &[&str], stderr: Stdio) -> (Activated, Vec<String>) {
        let mut child = activated_command(fds, args).stderr(stderr).spawn().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut server = Activated { child, stdout };
        let announced = fds.iter().map(|_| server.next_line()).collect();
        (server, announced)
    }

    /// One socket, the server's log discarded: it and its announcement.
    fn on(fd: RawFd, args: &[&str]) -> (Activated, String) {
        let (server, mut announced) = Activated::start(&[fd], args, Stdio::null());
        (server, announced.remove(0))
    }

    /// `listener` served in `model` by two workers, announced.
    fn serving(listener: &TcpListener, model: &str) -> Activated {
        let args = ["--model", model, "--workers", "2"];
        let (server, first) = Activated::on(listener.as_raw_fd(), &args);
        assert!(first.starts_with("tcp listening on"), "{model}: {first:?}");
        server
    }

    /// The next line on its stdout, trimmed.
    fn next_line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to end (bounded by the test's own deadline).
    fn wait(&mut self) -> ExitStatus {
        self.child.wait().unwrap()
    }

    /// SIGTERM, then the exit status.
    fn stop(&mut self) -> ExitStatus {
        send_signal(self.pid(), libc::SIGTERM);
        self.wait()
    }
}

impl Drop for Activated {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The server command with `fds` passed as fds 3, 4, ... the way systemd
/// passes them (`LISTEN_FDS`, and `LISTEN_PID` set to the server's own pid).
fn activated_command(fds: &[RawFd], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_upcase-server"));
    command
        .args(["--tcp", "127.0.0.1:1"])
        .args(args)
        .env("LISTEN_FDS", fds.len().to_string())
        .stdout(Stdio::piped());
    let fds = fds.to_vec();
    // SAFETY: dup, dup2, fcntl, getpid and setenv before exec, in the
    // child only, which is single-threaded after fork.
    unsafe {
        command.pre_exec(move || {
            // First out of the way (a passed fd may already be 3 or 4),
            // then into place; dup2 clears close-on-exec.
            let mut moved = Vec::with_capacity(fds.len());
            for &fd in &fds {
                let high = libc::fcntl(fd, libc::F_DUPFD, 64);
                if high < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                moved.push(high);
            }
            for (index, &high) in moved.iter().enumerate() {
                if libc::dup2(high, 3 + index as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(high);
            }
            let pid = std::ffi::CString::new(libc::getpid().to_string()).unwrap_or_default();
            libc::setenv(c"LISTEN_PID".as_ptr(), pid.as_ptr(), 1);
            Ok(())
        });
    }
    command
}

/// Starts the server with `fd` as its only inherited socket and expects a
/// refusal: exit status 1 within PATIENCE (else it is killed and the test
/// fails), nothing announced. Returns its stderr.
fn activation_refused(fd: RawFd, passed: &str) -> String {
    let mut child = activated_command(&[fd], &[])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(1),
        "{passed}: the server must refuse at start; stdout {stdout:?}, stderr {stderr}"
    );
    assert!(!stdout.contains("listening on"), "{passed}: {stdout}");
    assert!(!stderr.contains("panicked"), "{passed}: {stderr}");
    stderr
}

#[test]
fn an_inherited_socket_that_cannot_be_served_is_refused_naming_what_it_is() {
    use socket2::{Domain, Socket, Type};
    // A unit with Accept=yes passes a connected socket.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let connected = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let stderr = activation_refused(connected.as_raw_fd(), "a connected socket");
    assert!(
        stderr.contains("fd 3 is a connected TCP socket"),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected a listening TCP socket"),
        "{stderr}"
    );

    // Bound but never listened on: every accept would fail with EINVAL.
    let bound = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    bound
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    let stderr = activation_refused(bound.as_raw_fd(), "a bound socket");
    assert!(
        stderr.contains("a TCP socket bound to 127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("but not listening"), "{stderr}");

    // UDP only: not silently ignored in favour of a freshly bound address.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let stderr = activation_refused(udp.as_raw_fd(), "a UDP socket only");
    let expected = format!(
        "no TCP listener among fd 3 (a UDP socket on {})",
        udp.local_addr().unwrap()
    );
    assert!(stderr.contains(&expected), "{stderr}");

    // A unix listener is reported as what it is.
    let path = std::env::temp_dir().join(format!("upcase-activation-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let stderr = activation_refused(unix.as_raw_fd(), "a unix listener");
    let _ = std::fs::remove_file(&path);
    assert!(
        stderr.contains("fd 3 is a unix-domain stream socket (listening)"),
        "{stderr}"
    );
}

#[test]
fn every_inherited_stream_socket_is_served() {
    // What a `.socket` unit with ListenStream=127.0.0.1:P and
    // ListenStream=[::1]:P passes: two listeners, both to be served, in
    // every model (the blocking ones then poll both).
    for model in FOR_EVERY_MODEL {
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let v6 = TcpListener::bind("[::1]:0").unwrap();
        let addresses = [v4.local_addr().unwrap(), v6.local_addr().unwrap()];
        let fds = [v4.as_raw_fd(), v6.as_raw_fd()];
        let args = ["--no-udp", "--model", model];
        let (mut server, announced) = Activated::start(&fds, &args, Stdio::null());
        for (line, address) in announced.iter().zip(addresses) {
            assert_eq!(*line, format!("tcp listening on {address}"), "{model}");
        }
        drop((v4, v6));
        for address in addresses {
            let mut client = connect_to(address);
            round_trip(&mut client, b"both families\n", b"BOTH FAMILIES\n");
        }
        assert!(server.stop().success(), "{model}");
    }
}

#[test]
fn stream_sockets_only_say_that_udp_is_off() {
    // A `.socket` unit with ListenStream= alone: the server serves TCP and
    // says, on stderr, that UDP is off and why, instead of dropping it silently.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut server, announced) = Activated::start(&[listener.as_raw_fd()], &[], Stdio::piped());
    assert!(
        announced[0].starts_with("tcp listening on"),
        "{announced:?}"
    );
    send_signal(server.pid(), libc::SIGTERM);
    let mut rest = String::new();
    server.stdout.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("udp listening"), "{rest}");
    let mut stderr = String::new();
    let mut pipe = server.child.stderr.take().unwrap();
    pipe.read_to_string(&mut stderr).unwrap();
    assert!(server.wait().success());
    assert!(
        stderr.contains("LISTEN_FDS holds no datagram socket: UDP is off"),
        "{stderr}"
    );
}

#[test]
fn socket_activation_restarts_without_refusing_a_connection() {
    // What systemd does: it owns the bound socket across restarts.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();
    let (mut first, announced) = Activated::on(fd, &["--no-udp"]);
    assert_eq!(announced, format!("tcp listening on {address}"));
    let mut client = connect_to(address);
    round_trip(&mut client, b"activated\n", b"ACTIVATED\n");
    drop(client);
    assert!(first.stop().success());
    // Between the two servers: the connection is accepted by the kernel
    // into the backlog of the socket systemd still holds.
    let mut waiting = std::net::TcpStream::connect(address).expect("not refused");
    waiting.set_read_timeout(Some(PATIENCE)).unwrap();
    waiting.write_all(b"queued while restarting\n").unwrap();
    let (mut second, _) = Activated::on(fd, &["--no-udp"]);
    assert_eq!(
        read_exact_len(&mut waiting, 24),
        b"QUEUED WHILE RESTARTING\n"
    );
    drop(waiting);
    assert!(second.stop().success());
}

/// What one resending client saw: every line answered right (a line cut
/// off by a closing server is sent again on a new connection), how many
/// connects were refused, how many times it reconnected.
#[derive(Debug, Default)]
struct Resent {
    answered: usize,
    refused: usize,
    reconnects: usize,
    wrong: Vec<String>,
    last_error: String,
}

/// A client that sends `lines` lines one at a time to `addr`, resending a
/// line whose connection ended before its reply; before line `pause_at` it
/// waits for `go`. Bounded by `deadline`.
fn resending_client(
    addr: std::net::SocketAddr,
    name: String,
    lines: usize,
    pause_at: usize,
    ready: std::sync::mpsc::Sender<()>,
    go: std::sync::mpsc::Receiver<()>,
    deadline: Instant,
) -> Resent {
    let mut seen = Resent::default();
    let mut stream: Option<BufReader<std::net::TcpStream>> = None;
    let mut line = 0;
    let mut paused = false;
    while line < lines && Instant::now() < deadline {
        if line == pause_at && !std::mem::replace(&mut paused, true) {
            let _ = ready.send(());
            let _ = go.recv_timeout(PATIENCE);
        }
        let connection = match &mut stream {
            Some(connection) => connection,
            None => match std::net::TcpStream::connect(addr) {
                Ok(connected) => {
                    connected.set_read_timeout(Some(PATIENCE)).unwrap();
                    stream.insert(BufReader::new(connected))
                }
                Err(error) => {
                    seen.last_error = format!("connect: {error}");
                    if error.kind() == std::io::ErrorKind::ConnectionRefused {
                        seen.refused += 1;
                    }
                    std::thread::sleep(Duration::from_millis(10)); // back-off, not a wait for readiness
                    continue;
                }
            },
        };
        let request = format!("{name} line {line}\n");
        let mut reply = String::new();
        let answered = match connection.get_mut().write_all(request.as_bytes()) {
            Err(error) => Err(format!("write: {error}")),
            Ok(()) => match connection.read_line(&mut reply) {
                Ok(_) if reply.ends_with('\n') => Ok(()),
                Ok(_) => Err(format!("read: end of stream after {reply:?}")),
                Err(error) => Err(format!("read: {error}")),
            },
        };
        if let Err(error) = answered {
            seen.last_error = error;
            stream = None;
            seen.reconnects += 1;
            continue;
        }
        if reply != request.to_uppercase() {
            seen.wrong.push(format!("{request:?} -> {reply:?}"));
        }
        seen.answered += 1;
        line += 1;
    }
    seen
}

/// A restart under socket activation refuses nobody: the service manager
/// holds the listener (here the test), the old process is stopped with
/// SIGTERM while clients are connected, newcomers connect while no process
/// runs, and the next process serves them all on the same socket. No
/// connect is refused and every line is answered (resent when its
/// connection was cut). A model that woke its accept by shutting the
/// listener down left a dead socket for the next process.
#[test]
fn a_restart_on_inherited_sockets_refuses_nobody_and_loses_no_line() {
    for model in models() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let deadline = Instant::now() + PATIENCE;
        let mut old = Activated::serving(&listener, model);
        // As many connected clients as are served at once: `iterative`
        // serves one, `fixed-pool` one per worker.
        let connected = if model == "iterative" { 1 } else { 2 };
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let mut go = Vec::new();
        let mut clients = Vec::new();
        let spawn_client = |name: String, pause_at: usize| {
            let (go_tx, go_rx) = std::sync::mpsc::channel();
            let ready = ready_tx.clone();
            let client = std::thread::spawn(move || {
                resending_client(addr, name, 20, pause_at, ready, go_rx, deadline)
            });
            (go_tx, client)
        };
        for n in 0..connected {
            let (go_tx, client) = spawn_client(format!("{model} client {n}"), 10);
            go.push(go_tx);
            clients.push(client);
        }
        for _ in 0..connected {
            ready
                .recv_timeout(PATIENCE)
                .expect("served by the first process");
        }
        // Newcomers arrive while the old process stops, the connected
        // clients send again once it has gone: their connections are cut,
        // and they reconnect while nobody serves (the listener's queue
        // holds them for the next process).
        for n in 0..2 {
            let (go_tx, client) = spawn_client(format!("{model} newcomer {n}"), 0);
            go.push(go_tx);
            clients.push(client);
        }
        for _ in 0..2 {
            ready.recv_timeout(PATIENCE).unwrap();
        }
        send_signal(old.pid(), libc::SIGTERM);
        for go in &go[connected..] {
            let _ = go.send(());
        }
        assert!(old.wait().success(), "{model}: the old process failed");
        for go in &go[..connected] {
            let _ = go.send(());
        }
        let mut new = Activated::serving(&listener, model);
        for client in clients {
            let seen = client.join().unwrap();
            assert_eq!(seen.refused, 0, "{model}: connects refused: {seen:?}");
            assert!(seen.wrong.is_empty(), "{model}: {seen:?}");
            assert_eq!(seen.answered, 20, "{model}: lines unanswered: {seen:?}");
        }
        assert!(new.stop().success(), "{model}: the new process failed");
    }
}
