//! Faults on purpose: hostile and broken clients, in every threading model
//! where the fault applies. The answer wanted everywhere: nothing lost,
//! nothing wrong, the server goes on.
//!
//! Run in-process, checking the server's `Summary` too; the one test that
//! reads the process's resident memory starts the binary.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::time::Duration;
use upcase::stats::DatagramOutcome;

for_every_model!(
    invalid_utf8_and_nul_bytes_pass_through_untouched,
    a_half_closed_client_still_gets_every_reply,
    a_client_that_resets_mid_reply_costs_nothing,
);

fn invalid_utf8_and_nul_bytes_pass_through_untouched(model: &str) {
    let server = InProcess::start_model(model);
    let mut client = server.connect();
    // Every byte value, many times over, in a pseudo-random order, with
    // newlines wherever 0x0A falls.
    let input: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut writer = client.try_clone().unwrap();
    let sent = input.clone();
    let sender = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let replies = read_to_close(&mut client);
    sender.join().unwrap();
    assert_eq!(replies.len(), reference_uppercase(&input).len());
    assert!(replies == reference_uppercase(&input));
    let summary = server.stop();
    let newlines = input.iter().filter(|&&b| b == b'\n').count() as u64;
    assert!(summary.lines >= newlines, "{newlines} lines: {summary}");
    assert_eq!(summary.bytes_in, input.len() as u64, "{summary}");
    assert_eq!(summary.bytes_out, replies.len() as u64, "{summary}");
    assert_eq!(summary.failed, 0, "{summary}");
}

fn a_half_closed_client_still_gets_every_reply(model: &str) {
    let server = InProcess::start_model(model);
    let mut client = server.connect();
    let request: Vec<u8> = (0..5000)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    client.write_all(&request).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&mut client), request.to_ascii_uppercase());
    assert_eq!(server.stop().lines, 5000);
}

fn a_client_that_resets_mid_reply_costs_nothing(model: &str) {
    let server = InProcess::start(model, |config| config.workers = 1);
    for _ in 0..3 {
        let client = server.connect();
        let mut writer = &client;
        writer
            .write_all(&b"a reply nobody reads\n".repeat(20_000))
            .unwrap();
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
    }
    let mut next = server.connect();
    round_trip(&mut next, b"still serving\n", b"STILL SERVING\n");
    drop(next);
    let summary = server.stop();
    assert_eq!(summary.connections, 4, "{summary}");
    // A reset is the client's doing, not a server error.
    assert_eq!(summary.failed, 0, "{summary}");
}

#[test]
fn clients_that_never_read_are_held_in_bounded_memory_in_every_concurrent_model() {
    for model in ["pool", "event-loops", "fixed-pool", "thread-per-connection"] {
        let server = Server::start_model(model, &["--workers", "4"]);
        let stuck: Vec<_> = (0..3).map(|_| server.connect()).collect();
        for client in &stuck {
            fill_until_server_stops_reading(client);
        }
        let mut other = server.connect();
        round_trip(&mut other, b"not delayed\n", b"NOT DELAYED\n");
        let rss = rss_kib(server.pid());
        assert!(rss < 64 * 1024, "{model}: {rss} KiB");
    }
}

#[test]
fn a_burst_past_max_connections_is_refused_exactly_at_the_limit() {
    for model in ["pool", "event-loops", "fixed-pool", "thread-per-connection"] {
        let server = InProcess::start(model, |config| {
            config.max_connections = 10;
            config.workers = 16;
        });
        let mut clients: Vec<TcpStream> = (0..40).map(|_| server.connect()).collect();
        let (mut served, mut refused) = (0, 0);
        for client in &mut clients {
            client.write_all(b"hi\n").unwrap();
            let mut reply = Vec::new();
            let mut buf = [0u8; 64];
            while !reply.ends_with(b"\n") {
                match client.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => reply.extend_from_slice(&buf[..n]),
                }
            }
            match reply.as_slice() {
                b"HI\n" => served += 1,
                b"error: too many connections\n" => refused += 1,
                other => panic!("{model}: unexpected {other:?}"),
            }
        }
        assert_eq!((served, refused), (10, 30), "{model}");
        drop(clients);
        let summary = server.stop();
        assert_eq!(
            (summary.connections, summary.refused),
            (10, 30),
            "{model}: {summary}"
        );
    }
}

#[test]
fn a_udp_flood_with_garbage_and_oversized_datagrams_leaves_the_server_answering() {
    let server = InProcess::start_model("pool");
    let target = server.udp;
    let oversized = "ŉ".repeat(30_000);
    let sources: Vec<UdpSocket> = (0..16)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for round in 0..200 {
        for (i, socket) in sources.iter().enumerate() {
            let payload: &[u8] = match (round + i) % 3 {
                0 => b"\xff\xfe\x00garbage\x80",
                1 => oversized.as_bytes(),
                _ => b"good",
            };
            let _ = socket.send_to(payload, target);
        }
    }
    // The probe may still meet a full receive queue (UDP drops, by design):
    // resend it until the server has worked through the flood.
    let probe = server.udp_client();
    probe
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let answer = (0..20).find_map(|_| {
        probe.send("still answering ß".as_bytes()).unwrap();
        probe.recv(&mut buf).ok().map(|n| buf[..n].to_vec())
    });
    assert_eq!(answer.as_deref(), Some("STILL ANSWERING SS".as_bytes()));
    // The oversized ones were refused, not answered (the log line this
    // writes is checked in `tests/logs.rs`), and the server stops cleanly.
    let summary = server.stop();
    assert!(
        summary.datagrams_with(DatagramOutcome::ReplyTooLarge) > 0,
        "{summary}"
    );
    assert!(
        summary.datagrams_with(DatagramOutcome::Answered) > 0,
        "{summary}"
    );
}
