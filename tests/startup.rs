//! Start-up and command-line behaviour: the announced addresses, defaults,
//! the listen backlog, and clear errors with the right exit codes.

mod common;

use common::*;
use std::net::{TcpListener, UdpSocket};
use std::process::{Command, Output};

fn run_server(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_upcase-server"))
        .args(args)
        .output()
        .expect("run upcase-server")
}

#[test]
fn announces_the_real_ports_on_stdout() {
    let server = Server::start(&[]);
    assert_ne!(server.tcp.port(), 0);
    assert_ne!(server.udp.unwrap().port(), 0);
    assert!(server.tcp.ip().is_loopback());
}

#[test]
fn no_udp_serves_tcp_only() {
    let server = Server::start(&["--no-udp"]);
    assert!(server.udp.is_none());
    let mut client = server.connect();
    round_trip(&mut client, b"tcp only\n", b"TCP ONLY\n");
}

#[test]
fn defaults_are_loopback_7878_and_one_worker_per_cpu() {
    let help = run_server(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert_eq!(text.matches("127.0.0.1:7878").count(), 2, "{text}");

    let server = Server::start(&[]);
    let expected = format!("model pool ({} workers)", num_cpus::get());
    assert!(server.wait_for_log(&expected), "{}", server.stderr());
}

#[test]
fn busy_polling_can_be_turned_off_and_both_transports_still_answer() {
    for micros in ["0", "10000"] {
        let server = Server::start(&["--busy-poll", micros]);
        let mut client = server.connect();
        for _ in 0..3 {
            round_trip(&mut client, b"look again\n", b"LOOK AGAIN\n");
        }
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        socket.send_to(b"datagram", server.udp.unwrap()).unwrap();
        let mut reply = [0u8; 16];
        let (length, _) = socket.recv_from(&mut reply).unwrap();
        assert_eq!(&reply[..length], b"DATAGRAM", "--busy-poll {micros}");
    }
}

#[test]
fn a_bad_flag_is_a_usage_error_with_exit_status_2() {
    for args in [
        &["--bogus"][..],
        &["--workers", "0"],
        &["--workers", "many"],
        &["--model", "threads"],
        &["--max-line", "-1"],
        &["--udp", "127.0.0.1:0", "--no-udp"],
        &["--busy-poll", "-1"],
        &["--busy-poll", "10001"],
    ] {
        let output = run_server(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_taken_tcp_port_is_one_clear_line_and_exit_status_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = run_server(&["--tcp", &address, "--udp", "127.0.0.1:0"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
}

#[test]
fn a_taken_udp_port_is_one_clear_line_and_exit_status_1() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let output = run_server(&["--tcp", "127.0.0.1:0", "--udp", &address]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("udp {address}")), "{stderr}");
}

#[test]
fn an_unusable_address_is_one_clear_line_and_exit_status_1() {
    // Not an address of this machine (TEST-NET-3), and not an address at all.
    for address in ["203.0.113.7:7878", "not-an-address"] {
        let output = run_server(&["--tcp", address, "--udp", "127.0.0.1:0"]);
        assert_eq!(output.status.code(), Some(1), "{address}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(address), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The backlog a listening socket was given, as `ss` reports it (Send-Q).
/// `ss` (iproute2) is required: `.ci/run` installs it.
fn listen_backlog(port: u16) -> Option<u32> {
    let output = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("`ss` from iproute2 is needed for this test (.ci/run installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    text.split_whitespace().nth(2)?.parse().ok()
}

#[test]
fn the_listen_backlog_is_the_system_maximum_unless_set() {
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let server = Server::start(&[]);
    assert_eq!(listen_backlog(server.tcp.port()), Some(somaxconn));
    let server = Server::start(&["--backlog", "77"]);
    assert_eq!(listen_backlog(server.tcp.port()), Some(77));
}

#[test]
fn a_burst_of_two_thousand_connects_is_all_served() {
    const CLIENTS: usize = 2000;
    raise_fd_limit();
    let server = Server::start(&["--workers", "2"]);
    let mut clients: Vec<_> = (0..CLIENTS).map(|_| server.connect()).collect();
    for (i, client) in clients.iter_mut().enumerate() {
        let line = format!("client {i}\n");
        round_trip(client, line.as_bytes(), line.to_uppercase().as_bytes());
    }
}
