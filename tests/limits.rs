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
