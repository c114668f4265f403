//! What the threading models do differently, shown as behaviour (never as
//! timings): who gets served while whom is connected.

mod common;

use common::*;
use std::io::Write;
use std::time::Duration;

/// How long a client is watched to show that it is *not* being answered.
const NOT_ANSWERED: Duration = Duration::from_millis(300);

#[test]
fn every_model_is_tested_by_for_every_model() {
    assert_eq!(models(), FOR_EVERY_MODEL);
}

#[test]
fn pool_serves_fifty_clients_at_once_with_two_workers() {
    let server = Server::start_model("pool", &["--workers", "2"]);
    let mut clients: Vec<_> = (0..50).map(|_| server.connect()).collect();
    for round in 0..3 {
        for (i, client) in clients.iter_mut().enumerate() {
            let line = format!("client {i} round {round}\n");
            round_trip(client, line.as_bytes(), line.to_uppercase().as_bytes());
        }
    }
}

#[test]
fn pool_slow_and_stuck_clients_do_not_delay_a_new_one() {
    let server = Server::start_model("pool", &["--workers", "2"]);
    let partial: Vec<_> = (0..8)
        .map(|i| {
            let mut client = server.connect();
            client
                .write_all(format!("partial line {i}").as_bytes())
                .unwrap();
            client
        })
        .collect();
    let never_read: Vec<_> = (0..2).map(|_| server.connect()).collect();
    for client in &never_read {
        fill_until_server_stops_reading(client);
    }
    let mut fresh = server.connect();
    round_trip(&mut fresh, b"am I served?\n", b"AM I SERVED?\n");
    // Backpressure: the unread replies stayed bounded in the server.
    assert!(rss_kib(server.pid()) < 64 * 1024);
    drop((partial, never_read));
}

#[test]
fn pool_answers_a_new_client_with_thousands_of_idle_ones_connected() {
    const IDLE: usize = 3000;
    raise_fd_limit();
    let server = Server::start_model("pool", &["--workers", "2"]);
    let mut idle: Vec<_> = (0..IDLE).map(|_| server.connect()).collect();
    let mut fresh = server.connect();
    round_trip(&mut fresh, b"new client\n", b"NEW CLIENT\n");
    round_trip(&mut idle[0], b"first idle\n", b"FIRST IDLE\n");
    round_trip(&mut idle[IDLE - 1], b"last idle\n", b"LAST IDLE\n");
}

/// A second client is answered only once the first one leaves.
fn second_client_waits_for_the_first(model: &str) {
    let server = Server::start_model(model, &["--workers", "1"]);
    let mut first = server.connect();
    round_trip(&mut first, b"first\n", b"FIRST\n");
    let mut second = server.connect();
    second.write_all(b"second\n").unwrap();
    assert!(
        !replies_within(&mut second, NOT_ANSWERED),
        "{model}: the second client was served while the first held the worker"
    );
    drop(first);
    assert_eq!(read_exact_len(&mut second, 7), b"SECOND\n");
}

/// Two clients are answered while both stay connected.
fn both_clients_are_served_at_once(model: &str) {
    let server = Server::start_model(model, &["--workers", "1"]);
    let mut first = server.connect();
    round_trip(&mut first, b"first\n", b"FIRST\n");
    let mut second = server.connect();
    round_trip(&mut second, b"second\n", b"SECOND\n");
    round_trip(&mut first, b"first again\n", b"FIRST AGAIN\n");
}

#[test]
fn fixed_pool_with_one_worker_serves_one_client_at_a_time() {
    second_client_waits_for_the_first("fixed-pool");
}

#[test]
fn iterative_serves_one_client_at_a_time() {
    second_client_waits_for_the_first("iterative");
}

#[test]
fn pool_with_one_worker_serves_two_clients_at_once() {
    both_clients_are_served_at_once("pool");
}

#[test]
fn thread_per_connection_serves_two_clients_at_once() {
    both_clients_are_served_at_once("thread-per-connection");
}
