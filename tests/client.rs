//! `upcase-client` against the real server: piped input of any size,
//! the interactive prompt, UDP, and a clear line for every failure.

mod common;

use common::*;
use std::io::Cursor;
use std::net::UdpSocket;
use upcase::client;

#[test]
fn piped_input_of_many_megabytes_comes_back_exactly() {
    let server = Server::start(&[]);
    let mut input = Vec::new();
    for i in 0..200_000 {
        input.extend_from_slice(format!("line {i} of the big file, ß and ﬁ\n").as_bytes());
    }
    input.extend_from_slice(b"no newline at the end");
    let expected = String::from_utf8(input.clone()).unwrap().to_uppercase();
    let output = run_client(&[&server.tcp.to_string()], input);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout.len(), expected.len());
    assert!(output.stdout == expected.as_bytes());
}

#[test]
fn interactive_mode_prompts_and_prints_each_reply() {
    let server = Server::start(&[]);
    let mut screen = Vec::new();
    let input = Cursor::new("hello\nstraße\n".as_bytes().to_vec());
    let options = client::TcpOptions {
        interactive: true,
        ..client::TcpOptions::default()
    };
    client::run_tcp(&[server.tcp], input, &mut screen, &options).unwrap();
    assert_eq!(
        String::from_utf8(screen).unwrap(),
        "> HELLO\n> STRASSE\n> \n"
    );
}

/// Stdin on a terminal: each read returns what was typed up to Enter or
/// Ctrl-D, and Ctrl-D on an empty line reads as the end (0 bytes) without
/// being sticky, so a read after it waits for (here: gets) more typing.
struct Terminal(std::collections::VecDeque<&'static [u8]>);

impl std::io::Read for Terminal {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let typed = self.0.pop_front().unwrap_or_default();
        buf[..typed.len()].copy_from_slice(typed);
        Ok(typed.len())
    }
}

/// `abc`, Ctrl-D, Ctrl-D, then a line the client must never read.
fn typed_without_newline_then_ctrl_d() -> std::io::BufReader<Terminal> {
    std::io::BufReader::new(Terminal([&b"abc"[..], b"", b"late\n"].into()))
}

#[test]
fn on_a_terminal_ctrl_d_after_text_ends_the_input() {
    let server = Server::start(&[]);
    let options = client::TcpOptions {
        interactive: true,
        ..client::TcpOptions::default()
    };
    let mut screen = Vec::new();
    client::run_tcp(
        &[server.tcp],
        typed_without_newline_then_ctrl_d(),
        &mut screen,
        &options,
    )
    .unwrap();
    let screen = String::from_utf8(screen).unwrap();
    assert!(screen.starts_with("> ABC"), "{screen:?}");
    assert!(!screen.contains("LATE"), "{screen:?}");

    let mut screen = Vec::new();
    client::run_udp(
        server.udp.unwrap(),
        typed_without_newline_then_ctrl_d(),
        &mut screen,
        true,
    )
    .unwrap();
    assert_eq!(String::from_utf8(screen).unwrap(), "> ABC\n");
}

#[test]
fn udp_sends_each_line_as_a_datagram() {
    let server = Server::start(&[]);
    let udp = server.udp.unwrap().to_string();
    let output = run_client(&["--udp", &udp], "one\r\ntwo ß\n\nlast".as_bytes().to_vec());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, "ONE\nTWO SS\n\nLAST\n".as_bytes());
}

#[test]
fn a_refused_connection_is_one_clear_line() {
    let address = fake::closed_port();
    let output = run_client(&[&address], b"hello\n".to_vec());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    assert!(stderr.contains("nothing is listening"), "{stderr}");
}

#[test]
fn a_reset_connection_is_one_clear_line() {
    let resetter = fake::tcp(|listener| {
        let stream = fake::accept(&listener);
        fake::read_line(&stream);
        fake::reset(stream);
    });
    let address = resetter.addr.clone();
    let output = run_client(&[&address], b"hello\n".repeat(100_000));
    resetter.join();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
}

#[test]
fn udp_with_nothing_listening_is_one_clear_line() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = socket.local_addr().unwrap().to_string();
    drop(socket);
    let output = run_client(&["--udp", &address], b"hello\n".to_vec());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
}

#[test]
fn udp_with_a_silent_peer_gives_up_after_retries() {
    // Bound but never answering: no ICMP error, just silence.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap().to_string();
    let output = run_client(&["--udp", &address], b"anyone?\n".to_vec());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no reply"), "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
    // Every try reached the peer.
    silent.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let mut tries = 0;
    while silent.recv(&mut buf).is_ok() {
        tries += 1;
    }
    assert_eq!(tries, client::UDP_ATTEMPTS);
}
