//! The memory budget under a real memory limit (`RLIMIT_AS`, as `prlimit
//! --as` sets it): many clients must make the server shed load — refuse,
//! read less, close the quiet ones holding most — never abort, and a fresh
//! client is still served.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::process::CommandExt;
use std::thread;
use std::time::{Duration, Instant};

/// Starts the server with `args` under an address-space limit of `bytes`.
fn start_under_address_space_limit(bytes: u64, args: &[&str]) -> Server {
    raise_fd_limit();
    Server::start_with(args, |command| {
        // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    })
}

/// A fresh client is served: it connects (again, while refused) until its
/// line is answered. Bounded by PATIENCE.
fn a_fresh_client_is_served(server: &mut Server) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(server.is_running(), "the server died: {}", tail(server));
        if let Ok(mut client) = TcpStream::connect(server.tcp) {
            client
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let _ = client.write_all(b"fresh client\n");
            let _ = client.shutdown(Shutdown::Write);
            let mut reply = Vec::new();
            let _ = client.read_to_end(&mut reply);
            if reply == b"FRESH CLIENT\n" {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no fresh client served: {}",
            tail(server)
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// The end of the server's log, for failure messages.
fn tail(server: &Server) -> String {
    let log = server.stderr();
    let lines: Vec<_> = log.lines().rev().take(15).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join("\n")
}

#[test]
fn thread_per_connection_under_an_address_space_limit_refuses_instead_of_aborting() {
    let mut server = start_under_address_space_limit(
        256 << 20,
        &["--model", "thread-per-connection", "--no-udp"],
    );
    assert!(server.wait_for_log("memory budget"), "{}", server.stderr());
    // 400 clients that send a line and stay (glibc aborted the old server
    // starting their threads: "failed to register TLS destructor").
    let mut clients = Vec::new();
    for _ in 0..400 {
        let Ok(mut client) = TcpStream::connect(server.tcp) else {
            continue;
        };
        let _ = client.write_all(b"x\n");
        clients.push(client);
    }
    let mut answered = 0;
    for client in &mut clients {
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut reply = [0u8; 2];
        if client.read_exact(&mut reply).is_ok() && &reply == b"X\n" {
            answered += 1;
        }
    }
    assert!(server.is_running(), "{}", tail(&server));
    assert!(answered > 0, "{}", tail(&server));
    a_fresh_client_is_served(&mut server);
    drop(clients);
    let (status, log) = server.stop_with(libc::SIGTERM);
    assert!(status.success(), "{log}");
}

#[test]
fn pool_under_an_address_space_limit_bounds_unread_replies_instead_of_aborting() {
    let mut server = start_under_address_space_limit(128 << 20, &["--model", "pool", "--no-udp"]);
    assert!(server.wait_for_log("memory budget"), "{}", server.stderr());
    // 1,000 clients that never read, sending text that grows 3x when
    // uppercased: the old server aborted ("memory allocation of 138513
    // bytes failed") holding their replies.
    let line = format!("{}\n", "\u{390}".repeat(500));
    let chunk = line.repeat(64);
    let mut clients = Vec::new();
    for _ in 0..1000 {
        let Ok(client) = TcpStream::connect(server.tcp) else {
            continue;
        };
        client.set_nonblocking(true).unwrap();
        // At most 256 KiB each, until the kernel's buffers are full.
        let mut writer = &client;
        let mut written = 0;
        while written < 256 * 1024 {
            match writer.write(chunk.as_bytes()) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        clients.push(client);
    }
    assert!(server.is_running(), "{}", tail(&server));
    a_fresh_client_is_served(&mut server);
    assert!(server.is_running(), "{}", tail(&server));
    drop(clients);
    let (status, log) = server.stop_with(libc::SIGTERM);
    assert!(status.success(), "{log}");
}
