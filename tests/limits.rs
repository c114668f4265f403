//! `--max-connections` and running out of file descriptors: clear replies
//! and logs, no crash, and service resumes when resources free up.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::process::CommandExt;
use std::thread;
use std::time::{Duration, Instant};

macro_rules! for_every_model_but_iterative {
    ($($case:ident),* $(,)?) => {
        mod pool { $( #[test] fn $case() { super::$case("pool") } )* }
        mod event_loops { $( #[test] fn $case() { super::$case("event-loops") } )* }
        mod fixed_pool { $( #[test] fn $case() { super::$case("fixed-pool") } )* }
        mod thread_per_connection {
            $( #[test] fn $case() { super::$case("thread-per-connection") } )*
        }
    };
}

// `iterative` is left out: it accepts (and so can refuse) only between
// clients, so it never has more than one connection open.
for_every_model_but_iterative!(
    connections_past_the_limit_are_refused_and_service_resumes,
    running_out_of_descriptors_is_logged_and_service_resumes,
    a_full_server_closes_the_longest_quiet_connection_to_serve_a_new_one,
);

/// Connects until a client is served (the server frees a slot only once it
/// has noticed a departure). Bounded by PATIENCE.
fn connect_until_served(server: &Server, line: &[u8]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut client = server.connect();
        let _ = client.write_all(line);
        let _ = client.shutdown(Shutdown::Write);
        let mut reply = Vec::new();
        let _ = client.read_to_end(&mut reply);
        if reply == line.to_ascii_uppercase() {
            return;
        }
        assert!(Instant::now() < deadline, "never served again: {reply:?}");
        thread::sleep(Duration::from_millis(20));
    }
}

fn connections_past_the_limit_are_refused_and_service_resumes(model: &str) {
    let server = Server::start_model(model, &["--max-connections", "2", "--workers", "4"]);
    let mut first = server.connect();
    round_trip(&mut first, b"one\n", b"ONE\n");
    let mut second = server.connect();
    round_trip(&mut second, b"two\n", b"TWO\n");
    let mut third = server.connect();
    assert_eq!(read_to_close(&mut third), b"error: too many connections\n");
    // The refused client did not disturb the others.
    round_trip(&mut first, b"one again\n", b"ONE AGAIN\n");
    drop(first);
    connect_until_served(&server, b"after one left\n");
    assert!(
        server.wait_for_log("max-connections"),
        "{}",
        server.stderr()
    );
}

fn running_out_of_descriptors_is_logged_and_service_resumes(model: &str) {
    // Enough fixed-pool workers that the acceptor keeps accepting until the
    // descriptors run out (with one, it would wait on a full queue instead).
    let workers = if model == "fixed-pool" { "64" } else { "1" };
    let server = Server::start_with(&["--model", model, "--workers", workers], |command| {
        // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 32,
                    rlim_max: 32,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let mut clients: Vec<_> = (0..60).map(|_| server.connect()).collect();
    assert!(
        server.wait_for_log("cannot accept"),
        "no EMFILE warning: {}",
        server.stderr()
    );
    round_trip(&mut clients[0], b"served before\n", b"SERVED BEFORE\n");
    drop(clients);
    connect_until_served(&server, b"served after\n");
    let mut server = server;
    assert!(server.is_running());
}

/// A plain HTTP/1.0 GET of `/stats.json` on the admin endpoint.
fn stats_json(server: &Server) -> serde_json::Value {
    let mut stream = std::net::TcpStream::connect(server.admin.expect("--admin")).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(stream, "GET /stats.json HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (_, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    serde_json::from_str(body).expect("JSON")
}

/// Connects a client and waits until the server has admitted it.
fn connect_admitted(server: &Server) -> std::net::TcpStream {
    let client = server.connect();
    let admitted = format!("{} connected", client.local_addr().unwrap());
    assert!(server.wait_for_log(&admitted), "{}", server.stderr());
    client
}

fn a_full_server_closes_the_longest_quiet_connection_to_serve_a_new_one(model: &str) {
    let server = Server::start_model(
        model,
        &[
            "--max-connections",
            "3",
            "--workers",
            "4",
            "--admin",
            "127.0.0.1:0",
        ],
    );
    // Every place taken by clients that make no progress; the oldest
    // trickles bytes that never complete a line.
    let mut silent: Vec<_> = (0..3).map(|_| connect_admitted(&server)).collect();
    silent[0].write_all(b"never a whole line").unwrap();
    // A newcomer is refused until the oldest has been quiet a few
    // seconds, then served.
    connect_until_served(&server, b"newcomer\n");
    assert_eq!(read_to_close(&mut silent[0]), b"error: idle timeout\n");
    // Only the longest quiet one was closed.
    round_trip(&mut silent[1], b"still here\n", b"STILL HERE\n");
    round_trip(&mut silent[2], b"me too\n", b"ME TOO\n");
    let stats = stats_json(&server);
    assert_eq!(stats["idle_evictions"], 1, "{stats}");
}

#[test]
fn an_idle_timeout_past_the_clocks_range_means_never_in_every_model() {
    for model in models() {
        for huge in ["18446744073709551615", "9223372036854775807"] {
            let server = Server::start_model(model, &["--idle-timeout", huge]);
            let mut client = server.connect();
            round_trip(&mut client, b"first\n", b"FIRST\n");
            round_trip(&mut client, b"second\n", b"SECOND\n");
            drop(client);
            let (status, stderr) = server.stop_with(libc::SIGTERM);
            assert!(status.success(), "{model} {huge}: {stderr}");
            assert!(!stderr.contains("panicked"), "{model} {huge}: {stderr}");
        }
    }
}

#[test]
fn start_up_raises_the_descriptor_limit_and_warns_when_max_connections_exceeds_it() {
    let server = Server::start_with(&["--max-connections", "1000"], |command| {
        // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 128,
                    rlim_max: 512,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    assert!(
        server.wait_for_log("--max-connections 1000 needs about"),
        "{}",
        server.stderr()
    );
    assert!(
        server
            .stderr()
            .contains("the limit is 512 (hard limit 512)"),
        "the soft limit was raised to the hard one: {}",
        server.stderr()
    );
    // Raised: 300 clients fit although the inherited soft limit was 128.
    let mut clients: Vec<_> = (0..300).map(|_| server.connect()).collect();
    round_trip(&mut clients[299], b"fits\n", b"FITS\n");
    assert!(
        !server.stderr().contains("cannot accept"),
        "{}",
        server.stderr()
    );
}
