//! The server in a hostile environment: an ignored SIGHUP (`nohup`), a
//! stdout that cannot be written, too few file descriptors for the workers
//! asked for. Socket activation is in `activation.rs`.

mod common;

use common::*;
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
    assert!(
        stderr.contains("cannot start the poller of worker"),
        "{stderr}"
    );
}
