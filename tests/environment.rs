//! The server in a hostile environment: an ignored SIGHUP (`nohup`), a
//! stdout that cannot be written, too few file descriptors for the workers
//! asked for, and systemd's socket activation.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sighup_stops_gracefully_unless_it_was_ignored_at_start() {
    let server = Server::start(&[]);
    let (status, _) = server.stop_with(libc::SIGHUP);
    assert!(status.success(), "SIGHUP is a graceful stop: {status:?}");

    // Under nohup, SIGHUP is ignored when the server starts: it stays so.
    let mut server = Server::start_with(&[], |command| {
        // SAFETY: signal(2) is async-signal-safe; it runs in the child only.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGHUP, libc::SIG_IGN);
                Ok(())
            });
        }
    });
    send_signal(server.pid(), libc::SIGHUP);
    let mut client = server.connect();
    round_trip(&mut client, b"still here\n", b"STILL HERE\n");
    assert!(server.is_running());
    drop(client);
    let (status, _) = server.stop_with(libc::SIGTERM);
    assert!(status.success());
}

#[test]
fn a_stdout_that_cannot_be_written_is_one_line_and_exit_1() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let output = Command::new(env!("CARGO_BIN_EXE_upcase-server"))
        .args(["--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0"])
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot write to stdout"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn more_workers_than_descriptors_is_a_clear_failure_not_a_hang() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_upcase-server"));
    child
        .args(["--tcp", "127.0.0.1:0", "--no-udp", "--workers", "600"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit(2) is async-signal-safe; it runs in the child only.
    unsafe {
        child.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    let mut child = child.spawn().unwrap();
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server hung");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("cannot start event loop"), "{stderr}");
}

/// Starts the server the way systemd does: the bound socket `fd` passed
/// as fd 3 with `LISTEN_FDS=1` and `LISTEN_PID` set to the server's own
/// pid. Returns it once it has announced the socket.
fn start_activated(fd: std::os::fd::RawFd) -> (std::process::Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_upcase-server"));
    command
        .args(["--tcp", "127.0.0.1:1", "--no-udp"])
        .env("LISTEN_FDS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: dup2, fcntl, getpid and setenv before exec, in the child
    // only, which is single-threaded after fork.
    unsafe {
        command.pre_exec(move || {
            if fd == 3 {
                // dup2 onto itself would keep close-on-exec set.
                libc::fcntl(3, libc::F_SETFD, 0);
            } else if libc::dup2(fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let pid = std::ffi::CString::new(libc::getpid().to_string()).unwrap_or_default();
            libc::setenv(c"LISTEN_PID".as_ptr(), pid.as_ptr(), 1);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    (child, first.trim().to_string())
}

#[test]
fn socket_activation_restarts_without_refusing_a_connection() {
    // What systemd does: it owns the bound socket across restarts.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let fd = listener.as_raw_fd();
    let (mut first, announced) = start_activated(fd);
    assert_eq!(announced, format!("tcp listening on {address}"));
    let mut client = std::net::TcpStream::connect(address).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    round_trip(&mut client, b"activated\n", b"ACTIVATED\n");
    drop(client);
    send_signal(first.id(), libc::SIGTERM);
    assert!(first.wait().unwrap().success());
    // Between the two servers: the connection is accepted by the kernel
    // into the backlog of the socket systemd still holds.
    let mut waiting = std::net::TcpStream::connect(address).expect("not refused");
    waiting.set_read_timeout(Some(PATIENCE)).unwrap();
    waiting.write_all(b"queued while restarting\n").unwrap();
    let (mut second, _) = start_activated(fd);
    assert_eq!(
        read_exact_len(&mut waiting, 24),
        b"QUEUED WHILE RESTARTING\n"
    );
    drop(waiting);
    send_signal(second.id(), libc::SIGTERM);
    assert!(second.wait().unwrap().success());
}
