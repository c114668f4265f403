//! The TCP protocol of SPEC.md, byte for byte, against a server run
//! in-process (`common::InProcess`, through `server::run`). Every case runs
//! once per threading model (`for_every_model!`).

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::thread;
use std::time::Duration;

for_every_model!(
    lines_are_answered_in_order_with_their_terminators,
    an_empty_line_is_answered_and_the_connection_stays_open,
    an_unterminated_last_line_is_answered_at_end_of_input,
    uppercasing_is_full_unicode,
    invalid_utf8_passes_through_and_valid_runs_are_uppercased,
    a_character_split_across_writes_is_answered_once_complete,
    a_hundred_thousand_pipelined_lines_come_back_in_order,
    a_line_over_max_line_gets_the_error_and_the_server_goes_on,
    an_idle_connection_is_timed_out,
    a_trickle_that_never_completes_a_line_is_timed_out,
    a_client_that_resets_mid_line_costs_nothing,
);

fn lines_are_answered_in_order_with_their_terminators(model: &str) {
    let server = InProcess::start_model(model);
    let mut client = server.connect();
    round_trip(&mut client, b"hello\n", b"HELLO\n");
    round_trip(&mut client, b"crlf stays\r\n", b"CRLF STAYS\r\n");
    round_trip(&mut client, b"one\ntwo\nthree\n", b"ONE\nTWO\nTHREE\n");
}

fn an_empty_line_is_answered_and_the_connection_stays_open(model: &str) {
    let server = InProcess::start_model(model);
    let mut client = server.connect();
    round_trip(&mut client, b"\n", b"\n");
    round_trip(&mut client, b"\r\n", b"\r\n");
    round_trip(&mut client, b"still here\n", b"STILL HERE\n");
}

fn an_unterminated_last_line_is_answered_at_end_of_input(model: &str) {
    let server = InProcess::start_model(model);
    let mut client = server.connect();
    client.write_all(b"first\nno newline").unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&mut client), b"FIRST\nNO NEWLINE");
}

fn uppercasing_is_full_unicode(model: &str) {
    let server = InProcess::start_model(model);
    let mut client = server.connect();
    for (line, expected) in [
        ("straße\n", "STRASSE\n"),
        ("ﬁsh\n", "FISH\n"),
        ("καλημέρα κόσμε\n", "ΚΑΛΗΜΈΡΑ ΚΌΣΜΕ\n"),
        ("բարեւ\n", "ԲԱՐԵՒ\n"),
        ("ǆemal ŉ\n", "ǄEMAL ʼN\n"),
    ] {
        assert_eq!(line.to_uppercase(), expected);
        round_trip(&mut client, line.as_bytes(), expected.as_bytes());
    }
}

fn invalid_utf8_passes_through_and_valid_runs_are_uppercased(model: &str) {
    let server = InProcess::start_model(model);
    let mut client = server.connect();
    round_trip(&mut client, b"ab\xffcd\xc3\n", b"AB\xffCD\xc3\n");
    round_trip(&mut client, b"\x00\x80nul\x00\n", b"\x00\x80NUL\x00\n");
    let mut mixed = b"\xe2\x28".to_vec();
    mixed.extend_from_slice("ß\n".as_bytes());
    round_trip(&mut client, &mixed, b"\xe2\x28SS\n");
}

fn a_character_split_across_writes_is_answered_once_complete(model: &str) {
    let server = InProcess::start_model(model);
    let mut client = server.connect();
    let line = "aß\n".as_bytes(); // 'ß' is 0xC3 0x9F
    client.write_all(&line[..2]).unwrap();
    assert!(
        !replies_within(&mut client, Duration::from_millis(200)),
        "answered before the line was complete"
    );
    client.write_all(&line[2..]).unwrap();
    assert_eq!(read_exact_len(&mut client, 4), b"ASS\n");
}

fn a_hundred_thousand_pipelined_lines_come_back_in_order(model: &str) {
    const LINES: usize = 100_000;
    let server = InProcess::start_model(model);
    let mut client = server.connect();
    let mut writer = client.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut batch = Vec::new();
        for i in 0..LINES {
            batch.extend_from_slice(format!("line {i} ß\n").as_bytes());
            if batch.len() > 32 * 1024 {
                writer.write_all(&batch).unwrap();
                batch.clear();
            }
        }
        writer.write_all(&batch).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let replies = read_to_close(&mut client);
    sender.join().unwrap();
    let text = String::from_utf8(replies).unwrap();
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        assert_eq!(line, format!("LINE {i} SS"));
        count += 1;
    }
    assert_eq!(count, LINES);
    let summary = server.stop();
    assert_eq!(summary.lines, LINES as u64, "{summary:?}");
}

fn a_line_over_max_line_gets_the_error_and_the_server_goes_on(model: &str) {
    let server = InProcess::start(model, |config| config.max_line = 16);
    let mut client = server.connect();
    let mut request = b"exactly sixteen!\n".to_vec();
    request.extend_from_slice(&[b'x'; 100]);
    request.extend_from_slice(b"\nnever answered\n");
    client.write_all(&request).unwrap();
    assert_eq!(
        read_to_close(&mut client),
        b"EXACTLY SIXTEEN!\nerror: line exceeds 16 bytes\n"
    );
    // Closed by us too: the server's drain of it ends at once.
    drop(client);

    // A long line that is still arriving is cut off without waiting for its end.
    let mut client = server.connect();
    client.write_all(&[b'y'; 17]).unwrap();
    assert_eq!(
        read_to_close(&mut client),
        b"error: line exceeds 16 bytes\n"
    );
    drop(client);

    let mut next = server.connect();
    round_trip(&mut next, b"next client\n", b"NEXT CLIENT\n");
    drop(next);
    let summary = server.stop();
    assert_eq!(summary.lines_too_long, 2, "{summary:?}");
}

fn an_idle_connection_is_timed_out(model: &str) {
    let server = InProcess::start(model, |config| {
        config.idle_timeout = Some(Duration::from_secs(1))
    });
    let mut client = server.connect();
    round_trip(&mut client, b"hi\n", b"HI\n");
    // The server speaks first; the read timeout (PATIENCE) bounds the wait.
    assert_eq!(read_to_close(&mut client), b"error: idle timeout\n");
    drop(client);
    let mut next = server.connect();
    round_trip(&mut next, b"still serving\n", b"STILL SERVING\n");
    drop(next);
    let summary = server.stop();
    assert_eq!(summary.idle_timeouts, 1, "{summary:?}");
}

fn a_trickle_that_never_completes_a_line_is_timed_out(model: &str) {
    let server = InProcess::start(model, |config| {
        config.idle_timeout = Some(Duration::from_secs(1))
    });
    let mut client = server.connect();
    let mut reply = Vec::new();
    let mut buf = [0u8; 64];
    // One byte every 100 ms, never a newline: bytes arriving do not count as
    // activity, so the timeout still fires (bounded at 100 bytes).
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    for _ in 0..100 {
        if client.write_all(b"z").is_err() {
            break;
        }
        match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if reply.ends_with(b"\n") {
            break;
        }
    }
    assert_eq!(reply, b"error: idle timeout\n");
}

fn a_client_that_resets_mid_line_costs_nothing(model: &str) {
    let server = InProcess::start(model, |config| config.workers = 1);
    for _ in 0..5 {
        let client = server.connect();
        let mut writer = &client;
        writer.write_all(b"half a li").unwrap();
        // SO_LINGER 0 makes close send a reset instead of a FIN.
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
    }
    let mut next = server.connect();
    round_trip(&mut next, b"after resets\n", b"AFTER RESETS\n");
}
