//! The admin endpoint's bounds (issue 23): what a client can no longer
//! do to it. Slow and huge requests are closed and hold no thread or
//! memory, a client that never reads freezes nothing, and running out of
//! descriptors does not kill the listener.
//!
//! In-process where the endpoint's answers are all a test reads; the
//! binary where a test reads the process (its threads, memory,
//! descriptors), which other tests in this one would blur.

mod common;

use common::admin::*;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};
use upcase::admin::Access;

/// Whether the server closed `stream` (end of file or reset) within `wait`.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

#[test]
fn slowloris_connections_are_closed_and_hold_no_thread() {
    let server = Server::start(&["--admin", "127.0.0.1:0", "--workers", "1"]);
    let admin = server.admin.unwrap();
    // The listening lines come before the threads that serve them start:
    // count only once a line and a datagram have been answered, so that the
    // acceptor, the worker and the UDP thread are running.
    round_trip(&mut server.connect(), b"ready\n", b"READY\n");
    let udp = udp_client_of(server.udp.unwrap(), PATIENCE);
    udp.send(b"ready").unwrap();
    let mut reply = [0; 16];
    let got = udp.recv(&mut reply).unwrap();
    assert_eq!(&reply[..got], b"READY");
    let before = scrape(admin);
    let threads = value(&before, "upcase_threads");
    // 100 connections that start a request and send a header byte every
    // 300 ms: progress of a sort, but never a whole head.
    let mut slow: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(admin).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    let trickler = {
        let mut streams: Vec<TcpStream> = slow.iter().map(|s| s.try_clone().unwrap()).collect();
        thread::spawn(move || {
            for _ in 0..40 {
                streams.retain_mut(|s| s.write_all(b"a").is_ok());
                if streams.is_empty() {
                    break;
                }
                thread::sleep(Duration::from_millis(300));
            }
        })
    };
    // Meanwhile a scraper is served, and the endpoint started no thread.
    let during = scrape(admin);
    assert!(value(&during, "upcase_threads") <= threads, "threads grew");
    // Every slow connection is closed (at its read deadline, or evicted).
    for (i, stream) in slow.iter_mut().enumerate() {
        assert!(
            closed_within(stream, PATIENCE),
            "slow connection {i} still open"
        );
    }
    trickler.join().unwrap();
}

#[test]
fn a_huge_header_gets_431_and_memory_stays_bounded() {
    let server = Server::start(&["--admin", "127.0.0.1:0", "--workers", "1"]);
    let admin = server.admin.unwrap();
    let rss_before = rss_kib(server.pid());
    let mut stream = TcpStream::connect(admin).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    // 64 MiB of one header line without CRLF (the writer stops once the
    // server closes).
    let sender = thread::spawn(move || {
        let _ = writer.write_all(b"GET / HTTP/1.1\r\nX-Huge: ");
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..64 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let mut status = [0u8; 12];
    stream.read_exact(&mut status).expect("a response");
    let status = String::from_utf8_lossy(&status).into_owned();
    assert!(
        status == "HTTP/1.1 431" || status == "HTTP/1.1 400",
        "{status}"
    );
    sender.join().unwrap();
    let grown = rss_kib(server.pid()).saturating_sub(rss_before);
    assert!(grown < 16 * 1024, "the server grew {grown} KiB");
    assert!(metrics_within(admin, PATIENCE).is_some());
}

#[test]
fn a_pipelining_client_that_never_reads_freezes_nothing_and_shutdown_goes_on() {
    let server = InProcess::start_with_admin("pool", Access::open(), |config| config.workers = 1);
    let admin = server.admin();
    let stuck = TcpStream::connect(admin).unwrap();
    stuck.set_nonblocking(true).unwrap();
    let requests = b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n".repeat(1000);
    // Pipeline until the server stops reading (its replies fill both
    // buffers), bounded.
    let mut writer = &stuck;
    let mut blocked = false;
    for _ in 0..10_000 {
        match writer.write(&requests) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                blocked = true;
                break;
            }
            Err(_) => break,
        }
    }
    assert!(blocked, "the server kept reading a client that never reads");
    // Another client is answered at once, not after the stuck one.
    assert!(
        metrics_within(admin, Duration::from_secs(3)).is_some(),
        "/metrics froze behind a client that does not read"
    );
    // And the shutdown (what SIGTERM starts) ends the server while the
    // stuck client is still there: `stop` fails the test if it hangs.
    let summary = server.stop();
    assert_eq!(
        summary.connections, 0,
        "admin callers are not lines: {summary}"
    );
    drop(stuck);
}

#[test]
fn running_out_of_descriptors_does_not_kill_the_listener() {
    use std::os::unix::process::CommandExt;
    // 30 descriptors: about 16 at start-up, so a dozen connections use up
    // the rest.
    let server = Server::start_with(
        &["--admin", "127.0.0.1:0", "--workers", "1", "--no-udp"],
        |command| unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 30,
                    rlim_max: 30,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        },
    );
    let admin = server.admin.unwrap();
    let mut held = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(admin).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
        held.push(s);
    }
    // Out of descriptors: the process holds all 30 (or said it ran out).
    let deadline = Instant::now() + PATIENCE;
    while upcase::process_stats::ProcessStats::of(server.pid()).is_some_and(|p| p.fds < 29)
        && !server.stderr().contains("cannot accept")
    {
        assert!(Instant::now() < deadline, "never ran out of descriptors");
        thread::sleep(Duration::from_millis(20));
    }
    drop(held);
    let after = scrape(admin);
    assert!(value(&after, "upcase_open_fds") <= 30.0);
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}
