//! The UDP datagram protocol of SPEC.md against the real binary.

mod common;

use common::*;

fn ask(socket: &std::net::UdpSocket, payload: &[u8]) -> Vec<u8> {
    socket.send(payload).unwrap();
    let mut buf = vec![0u8; 70_000];
    let n = socket.recv(&mut buf).expect("a reply datagram");
    buf.truncate(n);
    buf
}

#[test]
fn each_datagram_is_answered_uppercased() {
    let server = Server::start(&[]);
    let socket = server.udp_client();
    assert_eq!(ask(&socket, b"hello udp"), b"HELLO UDP");
    assert_eq!(ask(&socket, "straße\n".as_bytes()), b"STRASSE\n");
    assert_eq!(ask(&socket, b"a\nb\r\n"), b"A\nB\r\n");
}

#[test]
fn an_empty_datagram_gets_an_empty_reply() {
    let server = Server::start(&[]);
    assert_eq!(ask(&server.udp_client(), b""), b"");
}

#[test]
fn invalid_utf8_passes_through() {
    let server = Server::start(&[]);
    assert_eq!(
        ask(&server.udp_client(), b"x\xff\xfey\x00"),
        b"X\xff\xfeY\x00"
    );
}

#[test]
fn a_sixty_thousand_byte_datagram_is_answered_whole() {
    let server = Server::start(&[]);
    let payload: Vec<u8> = (0..60_000).map(|i| b'a' + (i % 26) as u8).collect();
    let expected = payload.to_ascii_uppercase();
    assert_eq!(ask(&server.udp_client(), &payload), expected);
}

#[test]
fn a_reply_that_outgrows_one_datagram_is_an_error_and_the_server_goes_on() {
    let server = Server::start(&[]);
    let socket = server.udp_client();
    // 'ŉ' is 2 bytes and uppercases to 3 ("ʼN"): 60,000 bytes become 90,000.
    let payload = "ŉ".repeat(30_000);
    assert_eq!(ask(&socket, payload.as_bytes()), b"error: reply too large");
    assert!(
        server.wait_for_log("would exceed 65507 bytes"),
        "{}",
        server.stderr()
    );
    assert_eq!(ask(&socket, b"still up"), b"STILL UP");
}

#[test]
fn udp_keeps_answering_while_tcp_is_busy() {
    // One worker, held by a TCP client that stays connected.
    let server = Server::start(&["--model", "fixed-pool", "--workers", "1"]);
    let mut busy = server.connect();
    round_trip(&mut busy, b"hold the worker\n", b"HOLD THE WORKER\n");
    assert_eq!(ask(&server.udp_client(), b"udp too"), b"UDP TOO");
}
