//! Graceful shutdown on SIGINT and SIGTERM, in every threading model: stop
//! accepting, answer what was received, close every connection, exit 0 with
//! a summary, promptly even with idle clients connected.

mod common;

use common::*;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use upcase::tcp::drain::DRAIN_GRACE;

for_every_model!(
    a_streaming_client_gets_whole_replies_and_a_clean_close_at_shutdown,
    sigint_closes_idle_clients_and_exits_zero,
    sigterm_closes_idle_clients_and_exits_zero,
    a_signal_mid_flood_never_cuts_or_corrupts_a_reply,
    sigterm_under_udp_load_exits_zero,
);

fn stop_with_idle_clients(model: &str, signal: i32) {
    let server = Server::start_model(model, &["--workers", "2"]);
    let mut idle = server.connect();
    round_trip(&mut idle, b"then idle\n", b"THEN IDLE\n");
    let mut clients = vec![idle];
    // A client that has sent half a line: it must not get half a reply.
    if model != "iterative" {
        let mut client = server.connect();
        round_trip(&mut client, b"ok\n", b"OK\n");
        client.write_all(b"half a line").unwrap();
        clients.push(client);
    }
    // Each client reads until the server closes, then closes too, as a
    // client does (the server waits for that before it lets go).
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut client| thread::spawn(move || read_to_close(&mut client)))
        .collect();
    let (status, log) = server.stop_with(signal);
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("shutdown complete"), "{log}");
    assert!(log.contains("lines"), "{log}");
    for reader in readers {
        assert_eq!(reader.join().unwrap(), b"");
    }
}

fn sigint_closes_idle_clients_and_exits_zero(model: &str) {
    stop_with_idle_clients(model, libc::SIGINT);
}

fn sigterm_closes_idle_clients_and_exits_zero(model: &str) {
    stop_with_idle_clients(model, libc::SIGTERM);
}

fn a_signal_mid_flood_never_cuts_or_corrupts_a_reply(model: &str) {
    const CLIENTS: usize = 4;
    let server = Server::start_model(model, &["--workers", "2"]);
    let started = Arc::new(Barrier::new(CLIENTS + 1));
    let total_answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let mut stream = server.connect();
            let started = Arc::clone(&started);
            let total_answered = Arc::clone(&total_answered);
            thread::spawn(move || {
                started.wait();
                let mut answered = 0usize;
                let mut buf = Vec::new();
                // Bounded: at most 200,000 lines per client.
                for i in 0..200_000usize {
                    let line = format!("client {c} line {i} ß\n");
                    if stream.write_all(line.as_bytes()).is_err() {
                        break;
                    }
                    let want = line.to_uppercase();
                    buf.resize(want.len(), 0);
                    match read_fully(&mut stream, &mut buf) {
                        Ok(true) => assert_eq!(buf, want.as_bytes(), "wrong reply"),
                        // Closed before this line was read: allowed, but
                        // not in the middle of a reply.
                        Ok(false) => break,
                        Err(partial) => panic!("reply cut after {partial} bytes"),
                    }
                    answered += 1;
                    total_answered.fetch_add(1, Ordering::Relaxed);
                }
                answered
            })
        })
        .collect();
    started.wait();
    // Signal only once the flood is under way (bounded wait).
    let deadline = Instant::now() + PATIENCE;
    while total_answered.load(Ordering::Relaxed) < 1000 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let (status, log) = server.stop_with(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "{log}");
    let answered: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert!(answered >= 1000, "{answered}");
}

/// Fills `buf` completely: `Ok(true)`; the connection ended before the first
/// byte: `Ok(false)`; it ended part-way: `Err(bytes read)`.
fn read_fully(stream: &mut std::net::TcpStream, buf: &mut [u8]) -> Result<bool, usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    match filled {
        0 => Ok(false),
        n if n == buf.len() => Ok(true),
        n => Err(n),
    }
}

/// One client streams 5000-byte lines as fast as it can; SIGTERM arrives
/// mid-stream. Every reply received is whole and right, the stream ends
/// with a clean FIN (never a reset), and the server exits 0.
fn a_streaming_client_gets_whole_replies_and_a_clean_close_at_shutdown(model: &str) {
    const LINE: usize = 5000;
    let server = Server::start_model(model, &[]);
    let stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut line = vec![b'q'; LINE - 1];
        line.push(b'\n');
        let batch = line.repeat(20);
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline && writer.write_all(&batch).is_ok() {}
    });
    let mut received = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut reader = &stream;
    let mut signalled = false;
    let ending = loop {
        match reader.read(&mut buf) {
            // The server's FIN: the client ends its side too, which ends
            // the sender and the server's drain.
            Ok(0) => break stream.shutdown(std::net::Shutdown::Write),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(error) => break Err(error),
        }
        if !signalled && received.len() > 2_000_000 {
            send_signal(server.pid(), libc::SIGTERM);
            signalled = true;
        }
    };
    assert!(signalled, "the stream never got going");
    assert!(ending.is_ok(), "the connection was reset: {ending:?}");
    assert_eq!(
        received.len() % LINE,
        0,
        "a reply was cut: {} bytes, ends {:?}",
        received.len(),
        String::from_utf8_lossy(&received[received.len().saturating_sub(60)..])
    );
    let mut expected = vec![b'Q'; LINE - 1];
    expected.push(b'\n');
    assert!(received
        .chunks(LINE)
        .all(|reply| reply == expected.as_slice()));
    let mut server = server;
    let status = server.wait_exit(PATIENCE).expect("the server exits");
    assert!(status.success());
    drop(stream);
    sender.join().unwrap();
}

/// With datagrams arriving, the UDP thread must still see the trigger: it
/// once read "shutdown" as "more work found" and spun forever.
fn sigterm_under_udp_load_exits_zero(model: &str) {
    // The race was lost in about half the trials: five make a miss unlikely.
    for _ in 0..5 {
        stop_under_udp_load(model);
    }
}

fn stop_under_udp_load(model: &str) {
    const SENDERS: usize = 2;
    let server = Server::start_model(model, &["--workers", "2"]);
    let probe = server.udp_client();
    probe.send(b"ready?").unwrap();
    let mut buf = [0u8; 64];
    let n = probe.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY?");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let senders: Vec<_> = (0..SENDERS)
        .map(|_| {
            let socket = server.udp_client();
            let stop = Arc::clone(&stop);
            let sent = Arc::clone(&sent);
            thread::spawn(move || {
                // Ping-pong, as upcase-flood --udp does: the server's waits
                // are short, so it busy-polls between datagrams, which is
                // where the trigger was lost. Bounded: 2,000,000 round trips.
                socket
                    .set_read_timeout(Some(Duration::from_millis(100)))
                    .unwrap();
                let mut reply = [0u8; 64];
                for _ in 0..2_000_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if socket.send(b"flood me").is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = socket.recv(&mut reply);
                }
            })
        })
        .collect();
    // Signal only once the load is really flowing.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sent.load(Ordering::Relaxed) < 2_000 && Instant::now() < deadline {
        thread::yield_now();
    }
    let (status, log) = server.stop_with(libc::SIGTERM);
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.join().unwrap();
    }
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("shutdown complete"), "{log}");
}

/// Once shutdown stops accepting, a client that connects during the drain
/// is refused at once (it can try a peer or again later) instead of sitting
/// in a listen queue nobody reads until the exit resets it. An idle client
/// that never closes holds the drain open for [`DRAIN_GRACE`], so a listener
/// that only closed when the server returned would accept connections for
/// that long. `iterative` is left out: its one thread is inside the idle
/// client's drain and stops listening after it.
#[test]
fn a_client_arriving_during_the_drain_is_refused_not_queued() {
    for model in ["pool", "event-loops", "fixed-pool", "thread-per-connection"] {
        let server = InProcess::start_model(model);
        let mut idle = server.connect();
        round_trip(&mut idle, b"idle\n", b"IDLE\n");
        server.trigger();
        let triggered = Instant::now();
        let refused_after = loop {
            match std::net::TcpStream::connect(server.tcp) {
                // Refused; or reset at once when the handshake completed
                // just before the listener stopped (a queued connection
                // is reset then, not kept until the exit).
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                    ) =>
                {
                    break triggered.elapsed()
                }
                Err(error) => panic!("{model}: connect failed otherwise: {error}"),
                Ok(_) => {
                    assert!(
                        triggered.elapsed() < DRAIN_GRACE,
                        "{model}: still queueing connections after the drain's grace"
                    );
                    thread::sleep(Duration::from_millis(10));
                }
            }
        };
        assert!(
            refused_after < DRAIN_GRACE - Duration::from_millis(500),
            "{model}: connections were queued for {refused_after:?} into the drain"
        );
        drop(idle);
        server.stop();
    }
}
