//! `upcase-client --reconnect` against servers that restart under it: the
//! unanswered lines are resent, a cut reply is never printed, an outage is
//! waited out with back-off, and a server's error line is never taken for
//! an answer. Every case here printed a wrong answer or gave up before its
//! fix.

mod common;

use common::fake::{self, accept, answer_every_line, read_line, read_to_fin};
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::Output;
use std::time::Duration;

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn reconnect_resends_exactly_the_unanswered_lines() {
    let server = fake::tcp(|listener| {
        // First connection: answer two lines, then leave (a restart).
        let stream = accept(&listener);
        let mut reader = BufReader::new(&stream);
        for _ in 0..2 {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            (&stream).write_all(line.to_uppercase().as_bytes()).unwrap();
        }
        drop(reader);
        fake::close(stream);
        // Second connection: answer everything.
        answer_every_line(&accept(&listener))
    });
    let input: String = (0..50).map(|i| format!("line {i}\n")).collect();
    let output = run_client(&["--reconnect", &server.addr], input.clone().into_bytes());
    let resent = server.join();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        input.to_uppercase()
    );
    // Lines 0 and 1 were answered by the first server and never resent.
    assert_eq!(resent.len(), 48, "{resent:?}");
    assert_eq!(resent[0], "line 2\n");
}

#[test]
fn a_reply_cut_by_a_reset_is_never_printed_and_the_resent_one_is_printed_once() {
    let server = fake::tcp(|listener| {
        let first = accept(&listener);
        assert_eq!(read_line(&first), b"hello world\n");
        (&first).write_all(b"HELLO WO").unwrap();
        // The client holds the cut reply before the reset (else the
        // reset could drop it unread and the test prove nothing).
        fake::wait_until_read(&first);
        fake::reset(first);
        answer_every_line(&accept(&listener))
    });
    let output = run_client(&["--reconnect", &server.addr], b"hello world\n".to_vec());
    let resent = server.join();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "HELLO WORLD\n",
        "{}",
        stderr_of(&output)
    );
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(resent, ["hello world\n"]);
}

#[test]
fn a_server_back_after_a_second_is_reached() {
    let server = fake::tcp(|listener| {
        let addr = listener.local_addr().unwrap();
        let first = accept(&listener);
        assert_eq!(read_line(&first), b"hello\n");
        // Down: nothing listens for a while (connections are refused) ...
        drop(listener);
        fake::reset(first);
        std::thread::sleep(Duration::from_millis(1200));
        // ... then back on the same port.
        answer_every_line(&accept(&fake::listen_on(addr)))
    });
    let output = run_client(&["--reconnect", &server.addr], b"hello\n".to_vec());
    let resent = server.join();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(output.stdout, b"HELLO\n");
    assert_eq!(resent, ["hello\n"]);
    // One line says the outage began, not one per refused try.
    assert_eq!(
        stderr_of(&output).lines().count(),
        1,
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn a_long_pipe_survives_many_restarts() {
    const RESTARTS: usize = 20;
    let server = fake::tcp(|listener| {
        // Each "run" of the server answers two lines, then restarts.
        for _ in 0..RESTARTS {
            let stream = accept(&listener);
            for _ in 0..2 {
                let line = read_line(&stream);
                (&stream).write_all(&reference_uppercase(&line)).unwrap();
            }
            // FIN, then wait for the client to go (it reconnects).
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let _ = read_to_fin(&stream);
        }
        answer_every_line(&accept(&listener))
    });
    let input: String = (0..2 * RESTARTS + 5)
        .map(|i| format!("line {i}\n"))
        .collect();
    let output = run_client(&["--reconnect", &server.addr], input.clone().into_bytes());
    let rest = server.join();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        input.to_uppercase()
    );
    assert_eq!(rest.len(), 5, "{rest:?}");
}

#[test]
fn a_refusal_line_is_not_an_answer_and_is_retried() {
    let server = fake::tcp(|listener| {
        let full = accept(&listener);
        (&full).write_all(b"error: too many connections\n").unwrap();
        full.shutdown(std::net::Shutdown::Write).unwrap();
        let _ = read_to_fin(&full);
        answer_every_line(&accept(&listener))
    });
    let output = run_client(&["--reconnect", &server.addr], b"one\ntwo\n".to_vec());
    let resent = server.join();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "ONE\nTWO\n");
    assert_eq!(resent, ["one\n", "two\n"]);
}

#[test]
fn an_over_long_line_is_a_failure_even_with_reconnect() {
    // Resending it would only be refused again: the error is the answer.
    let server = Server::start(&["--max-line", "10"]);
    let output = run_client(
        &["--reconnect", &server.tcp.to_string()],
        b"ok\nthis line is too long\nx\n".to_vec(),
    );
    assert!(!output.status.success(), "{}", stderr_of(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "OK\nerror: line exceeds 10 bytes\n"
    );
    assert!(
        stderr_of(&output).contains("line exceeds"),
        "{}",
        stderr_of(&output)
    );
}
