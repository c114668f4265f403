//! The memory budget under a real memory limit (`RLIMIT_AS`, as `prlimit
//! --as` sets it): many clients must make the server shed load — refuse,
//! read less, close the quiet ones holding most — never abort, and a fresh
//! client is still served.

mod common;

use common::netns::Namespace;
use common::*;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Starts the server with `args` under an address-space limit of `bytes`.
fn start_under_address_space_limit(bytes: u64, args: &[&str]) -> Server {
    raise_fd_limit();
    Server::start_with(args, |command| limit_address_space(command, bytes))
}

/// Makes `command` start with `RLIMIT_AS` at `bytes` (as `prlimit --as`).
fn limit_address_space(command: &mut Command, bytes: u64) {
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
    // In a namespace of its own whose TCP buffers are small, so that the
    // replies the clients do not read stay in the server: on the host's
    // loopback the kernel's buffers (hundreds of KiB a connection) take
    // them all, and the server is never pressed.
    let netns = Namespace::create("memory");
    netns.sysctl("net.ipv4.tcp_wmem", "4096 4096 4096");
    netns.sysctl("net.ipv4.tcp_rmem", "4096 65536 65536");
    netns.enter();
    raise_fd_limit();
    let mut server = Server::start_with(&["--model", "pool", "--no-udp"], |command| {
        netns.put(command);
        limit_address_space(command, 128 << 20);
    });
    // 1,000 clients that never read, sending text that grows 3x when
    // uppercased: the old server aborted ("memory allocation of 188045
    // bytes failed") holding their replies, ~190 KiB each.
    let line = format!("{}\n", "\u{390}".repeat(500));
    let chunk = line.repeat(64);
    let mut clients = Vec::new();
    for _ in 0..1000 {
        let Ok(client) = connect_with_small_receive_buffer(server.tcp) else {
            continue;
        };
        client.set_nonblocking(true).unwrap();
        clients.push((client, 0usize));
    }
    // Each sends at most 256 KiB, in rounds until the server takes no
    // more from any of them (it stopped reading them all), bounded by
    // PATIENCE.
    let deadline = Instant::now() + PATIENCE;
    let mut quiet_rounds = 0;
    while quiet_rounds < 3 && Instant::now() < deadline {
        let mut taken = 0;
        for (client, written) in &mut clients {
            let mut writer = &*client;
            while *written < 256 * 1024 {
                match writer.write(chunk.as_bytes()) {
                    Ok(n) => {
                        *written += n;
                        taken += n;
                    }
                    Err(_) => break,
                }
            }
        }
        assert!(server.is_running(), "the server died: {}", tail(&server));
        quiet_rounds = if taken == 0 { quiet_rounds + 1 } else { 0 };
        thread::sleep(Duration::from_millis(200));
    }
    let sent: usize = clients.iter().map(|(_, written)| written).sum();
    assert!(
        sent > 64 << 20,
        "the clients sent only {sent} bytes: the server was never pressed"
    );
    assert!(server.is_running(), "{}", tail(&server));
    a_fresh_client_is_served(&mut server);
    assert!(server.is_running(), "{}", tail(&server));
    drop(clients);
    let (status, log) = server.stop_with(libc::SIGTERM);
    assert!(status.success(), "{log}");
}

/// A client whose receive buffer is 4 KiB, set before connecting (the
/// window is agreed at the handshake).
fn connect_with_small_receive_buffer(server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_recv_buffer_size(4096)?;
    socket.connect(&server.into())?;
    Ok(socket.into())
}
