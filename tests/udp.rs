//! The UDP datagram protocol of SPEC.md, and the rules that keep it from
//! being aimed at someone: the amplification bound, the per-source rate
//! limit, the ports never answered. Run in-process, checking the server's
//! own count of what became of each datagram (its `Summary`); the warnings
//! these cases log are checked in `tests/logs.rs`.

mod common;

use common::*;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;
use upcase::admin::Access;
use upcase::config::UdpRateLimit;
use upcase::stats::DatagramOutcome::{Answered, BlockedPort, RateLimited, ReplyTooLarge};

/// `/stats.json`'s count of UDP datagrams with `result`.
fn datagrams(admin: SocketAddr, result: &str) -> u64 {
    let stats = stats_json(admin);
    stats["udp_datagrams_by_result"][result]
        .as_u64()
        .unwrap_or_else(|| panic!("no udp_datagrams_by_result.{result} in {stats}"))
}

/// Waits (bounded) until `count()` reaches `at_least`; returns the count.
fn wait_for_count(at_least: u64, count: impl Fn() -> u64) -> u64 {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = count();
        if now >= at_least || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// A UDP socket bound to `local`, sending to `server`, with bounded reads.
fn udp_from(local: &str, server: SocketAddr) -> UdpSocket {
    let socket = UdpSocket::bind(local).unwrap();
    socket.connect(server).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    socket
}

/// Whether a datagram is waiting on `socket` right now.
fn has_datagram(socket: &UdpSocket) -> bool {
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let waiting = match socket.recv(&mut buf) {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(e) => panic!("recv: {e}"),
    };
    socket.set_nonblocking(false).unwrap();
    waiting
}

fn ask(socket: &std::net::UdpSocket, payload: &[u8]) -> Vec<u8> {
    socket.send(payload).unwrap();
    let mut buf = vec![0u8; 70_000];
    let n = socket.recv(&mut buf).expect("a reply datagram");
    buf.truncate(n);
    buf
}

#[test]
fn each_datagram_is_answered_uppercased() {
    let server = InProcess::start_model("pool");
    let socket = server.udp_client();
    assert_eq!(ask(&socket, b"hello udp"), b"HELLO UDP");
    assert_eq!(ask(&socket, "straße\n".as_bytes()), b"STRASSE\n");
    assert_eq!(ask(&socket, b"a\nb\r\n"), b"A\nB\r\n");
    let summary = server.stop();
    assert_eq!(summary.datagrams, 3, "{summary}");
    assert_eq!(summary.datagrams_with(Answered), 3, "{summary}");
    // Datagrams are not lines.
    assert_eq!(summary.lines, 0, "{summary}");
}

#[test]
fn an_empty_datagram_gets_an_empty_reply() {
    let server = InProcess::start_model("pool");
    assert_eq!(ask(&server.udp_client(), b""), b"");
    assert_eq!(server.stop().datagrams_with(Answered), 1);
}

#[test]
fn invalid_utf8_passes_through() {
    let server = InProcess::start_model("pool");
    assert_eq!(
        ask(&server.udp_client(), b"x\xff\xfey\x00"),
        b"X\xff\xfeY\x00"
    );
}

#[test]
fn a_sixty_thousand_byte_datagram_is_answered_whole() {
    let server = InProcess::start_model("pool");
    let payload: Vec<u8> = (0..60_000).map(|i| b'a' + (i % 26) as u8).collect();
    let expected = payload.to_ascii_uppercase();
    assert_eq!(ask(&server.udp_client(), &payload), expected);
}

#[test]
fn a_reply_that_outgrows_one_datagram_is_an_error_and_the_server_goes_on() {
    let server = InProcess::start_model("pool");
    let socket = server.udp_client();
    // 'ŉ' is 2 bytes and uppercases to 3 ("ʼN"): 60,000 bytes become 90,000.
    let payload = "ŉ".repeat(30_000);
    assert_eq!(ask(&socket, payload.as_bytes()), b"error: reply too large");
    assert_eq!(ask(&socket, b"still up"), b"STILL UP");
    let summary = server.stop();
    assert_eq!(summary.datagrams_with(ReplyTooLarge), 1, "{summary}");
    assert_eq!(summary.datagrams_with(Answered), 1, "{summary}");
}

#[test]
fn udp_keeps_answering_while_tcp_is_busy() {
    // One worker, held by a TCP client that stays connected.
    let server = InProcess::start("fixed-pool", |config| config.workers = 1);
    let mut busy = server.connect();
    round_trip(&mut busy, b"hold the worker\n", b"HOLD THE WORKER\n");
    assert_eq!(ask(&server.udp_client(), b"udp too"), b"UDP TOO");
}

#[test]
fn the_worst_growth_is_answered_at_the_default_bound_and_refused_below_it() {
    // 'ΐ' and 'ΰ' are 2 bytes and uppercase to three code points, 6 bytes:
    // the largest growth there is, exactly the default bound of 3.
    let payload = "ΐΰ".repeat(1000);
    let expected = reference_uppercase(payload.as_bytes());
    assert_eq!(expected.len(), 3 * payload.len());
    let server = InProcess::start_model("pool");
    assert_eq!(ask(&server.udp_client(), payload.as_bytes()), expected);
    assert_eq!(server.stop().datagrams_with(ReplyTooLarge), 0);
    let strict = InProcess::start("pool", |config| config.udp_max_amplification = 2);
    let socket = strict.udp_client();
    assert_eq!(ask(&socket, payload.as_bytes()), b"error: reply too large");
    assert_eq!(ask(&socket, "ßtill up".as_bytes()), "SSTILL UP".as_bytes());
    let summary = strict.stop();
    assert_eq!(summary.datagrams_with(ReplyTooLarge), 1, "{summary}");
    assert_eq!(summary.datagrams_with(Answered), 1, "{summary}");
}

#[test]
fn a_request_too_small_for_even_the_error_gets_no_reply() {
    let server = InProcess::start("pool", |config| config.udp_max_amplification = 1);
    let socket = server.udp_client();
    // 2 bytes in, 6 out, and the 22-byte error would amplify too. The
    // server answers in order, so the next reply is the probe's.
    socket.send("ΐ".as_bytes()).unwrap();
    assert_eq!(ask(&socket, b"probe"), b"PROBE");
    assert!(!has_datagram(&socket));
    let summary = server.stop();
    assert_eq!(summary.datagrams_with(ReplyTooLarge), 1, "{summary}");
    // Only the probe's reply went out.
    assert_eq!(summary.datagrams, 1, "{summary}");
}

#[test]
fn one_source_flooding_gets_no_more_than_its_rate() {
    let server = InProcess::start_with_admin("pool", Access::open(), |config| {
        config.udp_rate_limit = UdpRateLimit {
            per_second: 20,
            exempt_loopback: false,
        }
    });
    let admin = server.admin();
    let udp = server.udp;
    let flooder = udp_from("127.0.0.1:0", udp);
    // 100 small datagrams fit the server's receive queue, so none is lost
    // before the limiter sees it.
    let started = Instant::now();
    for _ in 0..100 {
        flooder.send(b"flood").unwrap();
    }
    let seen = wait_for_count(100, || {
        datagrams(admin, "answered") + datagrams(admin, "rate_limited")
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(seen, 100);
    let answered = datagrams(admin, "answered");
    // A burst of one second's worth, then 20 a second.
    let allowed = 20.0 + 20.0 * elapsed + 1.0;
    assert!(answered >= 20, "the burst is answered: {answered}");
    assert!(answered as f64 <= allowed, "{answered} > {allowed}");
    assert!(datagrams(admin, "rate_limited") >= 100 - allowed as u64);
    let mut replies = 0;
    while has_datagram(&flooder) {
        replies += 1;
    }
    assert_eq!(replies, answered);
    // Another network is not held back by this one's flood.
    let neighbour = udp_from("127.0.1.1:0", udp);
    assert_eq!(ask(&neighbour, b"next door"), b"NEXT DOOR");
    let metrics = { http_get(admin, "/metrics") };
    assert!(
        metrics.contains("upcase_udp_datagrams_total{result=\"rate_limited\"}"),
        "{metrics}"
    );
    let summary = server.stop();
    assert_eq!(summary.datagrams_with(Answered), answered + 1, "{summary}");
    assert_eq!(
        summary.datagrams_with(RateLimited),
        100 - answered,
        "{summary}"
    );
}

#[test]
fn loopback_is_exempt_from_the_rate_limit_by_default() {
    let server = InProcess::start("pool", |config| {
        config.udp_rate_limit = UdpRateLimit {
            per_second: 1,
            exempt_loopback: true,
        }
    });
    let socket = server.udp_client();
    for i in 0..20 {
        let line = format!("line {i}");
        assert_eq!(
            ask(&socket, line.as_bytes()),
            line.to_uppercase().as_bytes()
        );
    }
    assert_eq!(server.stop().datagrams_with(RateLimited), 0);
}

#[test]
fn a_datagram_from_upcases_own_port_is_not_answered() {
    let server = InProcess::start_with_admin("pool", Access::open(), |_| {});
    let udp = server.udp;
    // Same port, another loopback address: what another upcase would send from.
    let twin = udp_from(&format!("127.0.0.2:{}", udp.port()), udp);
    twin.send(b"are you upcase?").unwrap();
    let admin = server.admin();
    assert_eq!(wait_for_count(1, || datagrams(admin, "blocked_port")), 1);
    // Counted only after any reply went out: none did.
    assert!(!has_datagram(&twin));
    assert_eq!(datagrams(admin, "answered"), 0);
    let summary = server.stop();
    assert_eq!(summary.datagrams_with(BlockedPort), 1, "{summary}");
    assert_eq!(summary.datagrams, 0, "{summary}");
}

#[test]
fn two_servers_started_on_each_other_by_one_forged_datagram_stop() {
    // A and B on the same port of two addresses, as two hosts running
    // upcase on its usual port. B shares its address (SO_REUSEPORT) with
    // the test's socket, so the test can send A a datagram whose source
    // is B's address, as a forger would.
    let a = InProcess::start_with_admin("pool", Access::open(), |_| {});
    let a_udp = a.udp;
    let b_address: SocketAddr = format!("127.0.0.2:{}", a_udp.port()).parse().unwrap();
    let reuse_port = || {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        socket.set_reuse_port(true).unwrap();
        socket.bind(&b_address.into()).unwrap();
        UdpSocket::from(socket)
    };
    // `--udp 127.0.0.2:PORT --reuse-port`.
    let b = InProcess::start_on("pool", reuse_port(), Some(Access::open()), |_| {});
    let forger = reuse_port();
    forger.send_to(b"ping-pong forever?", a_udp).unwrap();
    let (a_admin, b_admin) = (a.admin(), b.admin());
    assert_eq!(wait_for_count(1, || datagrams(a_admin, "blocked_port")), 1);
    // A answered nothing, so B received nothing: the loop never started.
    assert_eq!(datagrams(a_admin, "answered"), 0);
    for result in [
        "answered",
        "blocked_port",
        "rate_limited",
        "reply_too_large",
    ] {
        assert_eq!(datagrams(b_admin, result), 0, "{result}");
    }
    // Both still serve real clients (B alone at its address again).
    drop(forger);
    assert_eq!(ask(&a.udp_client(), b"a"), b"A");
    let client = udp_from("127.0.0.1:0", b.udp);
    assert_eq!(ask(&client, b"b"), b"B");
    let (a, b) = (a.stop(), b.stop());
    assert_eq!(a.datagrams_with(BlockedPort), 1, "{a}");
    assert_eq!((a.datagrams, b.datagrams), (1, 1), "{a} / {b}");
}

#[test]
fn two_servers_on_other_ports_started_on_each_other_stop_after_a_bounded_exchange() {
    // Neither on 7878 nor on a port of a known service: only what the
    // datagrams say can tell the peer from a client. Loopback, so no rate
    // limit applies either. B shares its address (SO_REUSEPORT) with the
    // forger, which is connected elsewhere so that the kernel gives every
    // datagram for B's address to B.
    let a = Server::start(&["--udp", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
    let b = Server::start(&[
        "--udp",
        "127.0.0.2:0",
        "--reuse-port",
        "--admin",
        "127.0.0.1:0",
    ]);
    let (a_udp, b_udp) = (a.udp.unwrap(), b.udp.unwrap());
    assert_ne!(a_udp.port(), 7878);
    let forger = {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        socket.set_reuse_port(true).unwrap();
        socket.bind(&b_udp.into()).unwrap();
        let nobody: SocketAddr = "127.0.0.3:9".parse().unwrap();
        socket.connect(&nobody.into()).unwrap();
        UdpSocket::from(socket)
    };
    forger
        .send_to(b"ping-pong forever?", a_udp)
        .expect("a datagram to A from B's address");
    let (a_admin, b_admin) = (a.admin.unwrap(), b.admin.unwrap());
    let loops = || datagrams(a_admin, "loop") + datagrams(b_admin, "loop");
    // One side refusing one datagram ends the loop: it had one in flight.
    assert_eq!(wait_for_count(1, loops), 1, "the loop never stopped");
    let max = u64::from(upcase::udp::loop_guard::MAX_ECHOES) + 1;
    let (a_answered, b_answered) = (
        datagrams(a_admin, "answered"),
        datagrams(b_admin, "answered"),
    );
    assert!(
        a_answered >= 1 && a_answered <= max,
        "A answered {a_answered}"
    );
    assert!(
        b_answered >= 1 && b_answered <= max,
        "B answered {b_answered}"
    );
    // Nothing more arrives: the counts are final once the refusal is counted.
    assert_eq!(datagrams(a_admin, "answered"), a_answered);
    let refuser = if datagrams(a_admin, "loop") == 1 {
        &a
    } else {
        &b
    };
    assert!(refuser.wait_for_log("(a loop)"));
    // Both still serve real clients, and a client repeating one uppercase
    // line at once from one socket is answered the allowed number of times.
    drop(forger);
    let client = a.udp_client();
    assert_eq!(ask(&client, b"a"), b"A");
    for _ in 0..max {
        assert_eq!(ask(&client, b"SAME"), b"SAME");
    }
    assert_eq!(ask(&udp_from("127.0.0.1:0", b_udp), b"b"), b"B");
}
