//! `--max-connections` and running out of file descriptors: clear replies
//! and logs, no crash, and service resumes when resources free up.
//!
//! The connection limit and the eviction run in-process and check the
//! server's `Summary`; running out of descriptors starts the binary, since
//! the limit it lowers (RLIMIT_NOFILE) is the whole process's.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::unix::process::CommandExt;
use std::thread;
use std::time::{Duration, Instant};
use upcase::admin::Access;

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
    at_the_descriptor_limit_the_longest_quiet_connection_makes_room,
);

/// Connects until a client is served (the server frees a slot only once it
/// has noticed a departure). Bounded by PATIENCE.
fn connect_until_served(server: SocketAddr, line: &[u8]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut client = connect_to(server);
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
    let server = InProcess::start(model, |config| {
        config.max_connections = 2;
        config.workers = 4;
    });
    let mut first = server.connect();
    round_trip(&mut first, b"one\n", b"ONE\n");
    let mut second = server.connect();
    round_trip(&mut second, b"two\n", b"TWO\n");
    let mut third = server.connect();
    assert_eq!(read_to_close(&mut third), b"error: too many connections\n");
    // The refused client did not disturb the others.
    round_trip(&mut first, b"one again\n", b"ONE AGAIN\n");
    drop(first);
    connect_until_served(server.tcp, b"after one left\n");
    drop(second);
    let summary = server.stop();
    // The third, and any retry that came before a place was free.
    assert!(summary.refused >= 1, "{summary}");
    assert_eq!(summary.refused_per_ip, 0, "{summary}");
    // First, second and the one served after.
    assert_eq!(summary.connections, 3, "{summary}");
    assert_eq!(summary.lines, 4, "{summary}");
}

fn running_out_of_descriptors_is_logged_and_service_resumes(model: &str) {
    // Enough fixed-pool workers that the acceptor keeps accepting until the
    // descriptors run out (with one, it would wait on a full queue instead).
    let workers = if model == "fixed-pool" { "64" } else { "1" };
    let server = Server::start_model(model, &["--workers", workers]);
    // After start-up has raised the limit (root may raise it back).
    assert!(
        server.wait_for_log("serving with model"),
        "{}",
        server.stderr()
    );
    // Lowered once it runs (as `prlimit --pid PID --nofile=32`): at start
    // the server would lower --max-connections to fit and never reach
    // EMFILE; this is the limit changing under it, or descriptors used by
    // what start-up could not foresee.
    let limit = libc::rlimit {
        rlim_cur: 32,
        rlim_max: 32,
    };
    // SAFETY: prlimit(2) on our own child, with a valid rlimit.
    let result = unsafe {
        libc::prlimit(
            server.pid() as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(result, 0, "prlimit: {}", std::io::Error::last_os_error());
    let mut clients: Vec<_> = (0..60).map(|_| server.connect()).collect();
    assert!(
        server.wait_for_log("cannot accept"),
        "no EMFILE warning: {}",
        server.stderr()
    );
    round_trip(&mut clients[0], b"served before\n", b"SERVED BEFORE\n");
    drop(clients);
    connect_until_served(server.tcp, b"served after\n");
    let mut server = server;
    assert!(server.is_running());
}

/// Connects a client and waits until the server has admitted it (its
/// count of accepted connections reaches `nth`).
fn connect_admitted(server: &InProcess, nth: u64) -> std::net::TcpStream {
    let client = server.connect();
    let stats = server.stats_until(|s| s["connections_accepted"] == nth);
    assert_eq!(stats["connections_accepted"], nth, "{stats}");
    client
}

fn a_full_server_closes_the_longest_quiet_connection_to_serve_a_new_one(model: &str) {
    let server = InProcess::start_with_admin(model, Access::open(), |config| {
        config.max_connections = 3;
        config.workers = 4;
        config.evictable_after = Duration::from_millis(300);
    });
    // Every place taken by clients that make no progress; the oldest
    // trickles bytes that never complete a line.
    let mut silent: Vec<_> = (1..=3).map(|n| connect_admitted(&server, n)).collect();
    silent[0].write_all(b"never a whole line").unwrap();
    // A newcomer is refused until the oldest has been quiet long enough
    // (300 ms here), then served.
    connect_until_served(server.tcp, b"newcomer\n");
    assert_eq!(read_to_close(&mut silent[0]), b"error: idle timeout\n");
    // Only the longest quiet one was closed.
    round_trip(&mut silent[1], b"still here\n", b"STILL HERE\n");
    round_trip(&mut silent[2], b"me too\n", b"ME TOO\n");
    let stats = server.stats();
    assert_eq!(stats["idle_evictions"], 1, "{stats}");
    drop(silent);
    let summary = server.stop();
    assert_eq!(summary.idle_evictions, 1, "{summary}");
    assert_eq!(summary.idle_timeouts, 0, "{summary}");
}

/// Makes `command` start with the soft and hard `RLIMIT_NOFILE` at `limit`
/// (as `prlimit --nofile=LIMIT`): the server cannot raise it.
fn limit_descriptors(command: &mut std::process::Command, limit: u64) {
    // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn at_the_descriptor_limit_the_longest_quiet_connection_makes_room(model: &str) {
    // The hard limit far below the default --max-connections (10000): the
    // old server hit EMFILE, and a newcomer waited in the listen backlog
    // until a silent client left (never).
    let workers = if model == "fixed-pool" { "64" } else { "2" };
    let server = Server::start_with(&["--model", model, "--workers", workers], |command| {
        limit_descriptors(command, 256)
    });
    assert!(
        server.wait_for_log("lowered to"),
        "no warning that --max-connections was lowered: {}",
        server.stderr()
    );
    // More silent clients than the server has descriptors.
    let silent: Vec<_> = (0..300).map(|_| server.connect()).collect();
    connect_until_served(server.tcp, b"newcomer\n");
    assert!(
        !server.stderr().contains("cannot accept"),
        "{}",
        server.stderr()
    );
    drop(silent);
}

#[test]
fn an_idle_timeout_past_the_clocks_range_means_never_in_every_model() {
    for model in models() {
        // What `--idle-timeout 18446744073709551615` and `...807` give.
        for huge in [u64::MAX, i64::MAX as u64] {
            let server = InProcess::start(model, |config| {
                config.idle_timeout = Some(Duration::from_secs(huge));
            });
            let mut client = server.connect();
            round_trip(&mut client, b"first\n", b"FIRST\n");
            round_trip(&mut client, b"second\n", b"SECOND\n");
            drop(client);
            // A panicking server thread fails `stop`; a handler's panic
            // shows as a connection failed or a loop restarted.
            let summary = server.stop();
            assert_eq!(summary.lines, 2, "{model} {huge}: {summary}");
            assert_eq!(summary.failed, 0, "{model} {huge}: {summary}");
            assert_eq!(summary.event_loop_restarts, 0, "{model} {huge}: {summary}");
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
