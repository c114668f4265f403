//! `--admin`: `/metrics` accepted by a Prometheus parser and moving under
//! load, `/stats.json` showing the pool at work, the page self-contained.
//!
//! Run in-process (`server::run_with_admin`) where the endpoint's answers
//! are all a test reads; the binary where a test reads the process (its
//! threads, memory, descriptors, listen backlog) or its flags.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};
use upcase::admin::Access;

/// A server in `model` with the admin endpoint open to loopback callers.
fn with_admin(model: &str, adjust: impl FnOnce(&mut upcase::config::ServerConfig)) -> InProcess {
    InProcess::start_with_admin(model, Access::open(), adjust)
}

fn parse_metrics(text: &str) -> prometheus_parse::Scrape {
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("a Prometheus parser accepts the exposition")
}

fn value(scrape: &prometheus_parse::Scrape, name: &str) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name)
        .unwrap_or_else(|| panic!("no {name}"));
    match sample.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
        ref other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn metrics_parse_and_counters_move_under_load() {
    let server = with_admin("pool", |_| {});
    let admin = server.admin();
    let before = parse_metrics(&http_get(admin, "/metrics"));
    assert_eq!(value(&before, "upcase_lines_total"), 0.0);
    let mut client = server.connect();
    for _ in 0..100 {
        round_trip(&mut client, b"metric me\n", b"METRIC ME\n");
    }
    let udp = server.udp_client();
    udp.send(b"datagram").unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(udp.recv(&mut buf).unwrap(), 8);
    // Bytes are counted just after the write that delivers them: wait
    // (bounded) for the last reply's count to land.
    let deadline = Instant::now() + PATIENCE;
    let after = loop {
        let scrape = parse_metrics(&http_get(admin, "/metrics"));
        if value(&scrape, "upcase_sent_bytes_total") >= 1008.0 || Instant::now() > deadline {
            break scrape;
        }
        thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(value(&after, "upcase_lines_total"), 100.0);
    assert_eq!(value(&after, "upcase_connections_active"), 1.0);
    assert_eq!(value(&after, "upcase_sent_bytes_total"), 1008.0);
    assert!(value(&after, "upcase_event_loop_wakeups_total") > 0.0);
    assert!(value(&after, "upcase_open_fds") > 3.0);
    assert!(value(&after, "process_open_fds") > 3.0);
    assert!(value(&after, "process_max_fds") >= value(&after, "process_open_fds"));
    assert!(value(&after, "process_resident_memory_bytes") > 0.0);
    assert!(value(&after, "process_start_time_seconds") > 1.6e9);
    assert!(value(&after, "process_cpu_seconds_total") >= 0.0);
    let build = after
        .samples
        .iter()
        .find(|s| s.metric == "upcase_build_info")
        .expect("build info");
    assert_eq!(build.labels.get("version"), Some(env!("CARGO_PKG_VERSION")));
    assert!(build.labels.get("commit").is_some_and(|c| !c.is_empty()));
    assert!(value(&after, "upcase_resident_memory_bytes") > 0.0);
    let answered = after
        .samples
        .iter()
        .find(|s| {
            s.metric == "upcase_udp_datagrams_total" && s.labels.get("result") == Some("answered")
        })
        .expect("datagrams by result");
    assert!(matches!(answered.value, prometheus_parse::Value::Counter(v) if v == 1.0));
    drop(client);
    let summary = server.stop();
    assert_eq!((summary.lines, summary.datagrams), (100, 1), "{summary}");
}

/// Polls `/stats.json` until `check` holds (bounded).
fn stats_until(admin: SocketAddr, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats: serde_json::Value =
            serde_json::from_str(&http_get(admin, "/stats.json")).unwrap();
        if check(&stats) || Instant::now() > deadline {
            return stats;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn busy_workers(stats: &serde_json::Value) -> usize {
    stats["workers"]
        .as_array()
        .map_or(0, |w| w.iter().filter(|w| w["busy"] == true).count())
}

#[test]
fn fixed_pool_with_two_workers_shows_two_busy_and_two_waiting() {
    let server = with_admin("fixed-pool", |config| config.workers = 2);
    let admin = server.admin();
    let clients: Vec<_> = (0..4).map(|_| server.connect()).collect();
    let stats = stats_until(admin, |s| busy_workers(s) == 2 && s["queued"] == 2);
    assert_eq!(busy_workers(&stats), 2, "{stats}");
    assert_eq!(stats["queued"], 2, "{stats}");
    assert_eq!(stats["model"], "fixed-pool");
    drop(clients);
}

#[test]
fn six_clients_on_two_fixed_pool_workers_are_all_counted_with_the_backlog() {
    let server = Server::start_model("fixed-pool", &["--workers", "2", "--admin", "127.0.0.1:0"]);
    let admin = server.admin.unwrap();
    // 2 on the workers, 2 in the channel, 1 in the acceptor's hand, and the
    // sixth connected by the kernel but not accepted (the listen backlog).
    let clients: Vec<_> = (0..6).map(|_| server.connect()).collect();
    let stats = stats_until(admin, |s| {
        busy_workers(s) == 2 && s["queued"] == 3 && s["backlog"] == 1
    });
    assert_eq!(busy_workers(&stats), 2, "{stats}");
    assert_eq!(stats["queued"], 3, "{stats}");
    assert_eq!(stats["backlog"], 1, "{stats}");
    drop(clients);
}

#[test]
fn pool_parks_idle_clients_and_queues_none() {
    let server = Server::start_model("pool", &["--workers", "2", "--admin", "127.0.0.1:0"]);
    let admin = server.admin.unwrap();
    let mut clients: Vec<_> = (0..4).map(|_| server.connect()).collect();
    for client in &mut clients {
        round_trip(client, b"hi\n", b"HI\n");
    }
    let stats = stats_until(admin, |s| s["parked"] == 4);
    assert_eq!(stats["parked"], 4, "{stats}");
    assert_eq!(stats["queued"], 0, "{stats}");
    assert_eq!(stats["backlog"], 0, "{stats}");
    assert_eq!(busy_workers(&stats), 0, "{stats}");
}

#[test]
fn the_page_is_self_contained() {
    let server = with_admin("pool", |_| {});
    let page = http_get(server.admin(), "/");
    assert!(page.contains("/stats.json"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external fetches"
    );
}

// ---- Bounds (issue 23): what a client can no longer do to the endpoint ----

/// A request on a fresh connection; returns the whole response (status
/// line, headers, body). `None` if the server closed or did not answer
/// within `wait`.
fn request(admin: SocketAddr, head: &str, wait: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(admin).ok()?;
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(head.as_bytes()).ok()?;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    response.starts_with("HTTP/1.").then_some(response)
}

fn metrics_within(admin: SocketAddr, wait: Duration) -> Option<prometheus_parse::Scrape> {
    let response = request(
        admin,
        "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        wait,
    )?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.contains(" 200 ").then(|| parse_metrics(body))
}

/// Retries (bounded) until a scrape answers 200: while silent clients
/// hold every slot, a newcomer may get 503 for up to a second.
fn scrape(admin: SocketAddr) -> prometheus_parse::Scrape {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(scrape) = metrics_within(admin, Duration::from_secs(5)) {
            return scrape;
        }
        assert!(Instant::now() < deadline, "/metrics never answered");
        thread::sleep(Duration::from_millis(100));
    }
}

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
    let server = with_admin("pool", |config| config.workers = 1);
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

#[test]
fn other_methods_get_405_with_allow_and_healthz_answers() {
    let server = with_admin("pool", |_| {});
    let admin = server.admin();
    let response = request(
        admin,
        "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        PATIENCE,
    )
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 405 "), "{response}");
    assert!(response.contains("\r\nAllow: GET, HEAD\r\n"), "{response}");
    let health = request(admin, "GET /healthz HTTP/1.0\r\n\r\n", PATIENCE).unwrap();
    assert!(
        health.starts_with("HTTP/1.1 200 ") && health.ends_with("\r\n\r\nok\n"),
        "{health}"
    );
    assert!(health.contains("Content-Length: 3\r\n"), "{health}");
    // Keep-alive: two requests on one connection, each with its length.
    let mut stream = TcpStream::connect(admin).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let both = String::from_utf8(read_to_close(&mut stream)).unwrap();
    assert_eq!(both.matches("HTTP/1.1 200 OK").count(), 2, "{both}");
}

// ---- Who may call (issue 25) ----

#[test]
fn a_non_loopback_admin_address_without_a_token_refuses_to_start() {
    for address in ["0.0.0.0:0", "[::]:0"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_upcase-server"))
            .args(["--tcp", "127.0.0.1:0", "--no-udp", "--admin", address])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        if child.try_wait().unwrap().is_none() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("--admin {address} without a token started serving");
        }
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--admin-token-file"), "{stderr}");
        assert!(output.stdout.is_empty(), "nothing was bound");
    }
}

#[test]
fn with_a_token_requests_need_the_bearer_and_healthz_stays_open() {
    let dir = std::env::temp_dir().join(format!("upcase-admin-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "k9-secret-token\n").unwrap();
    // 127.0.0.2 is loopback too: a token is optional there, and enforced
    // when given.
    let server = Server::start(&[
        "--admin",
        "127.0.0.2:0",
        "--admin-token-file",
        file.to_str().unwrap(),
    ]);
    let admin = server.admin.unwrap();
    for head in [
        "GET /metrics HTTP/1.0\r\n\r\n",
        "GET /stats.json HTTP/1.0\r\nAuthorization: Bearer wrong\r\n\r\n",
        "GET / HTTP/1.0\r\nAuthorization: Basic k9-secret-token\r\n\r\n",
    ] {
        let response = request(admin, head, PATIENCE).unwrap();
        assert!(response.starts_with("HTTP/1.1 401 "), "{head}: {response}");
        assert!(
            response.contains("\r\nWWW-Authenticate: Bearer"),
            "{response}"
        );
    }
    let ok = request(
        admin,
        "GET /metrics HTTP/1.0\r\nAuthorization: Bearer k9-secret-token\r\n\r\n",
        PATIENCE,
    )
    .unwrap();
    assert!(
        ok.starts_with("HTTP/1.1 200 ") && ok.contains("upcase_lines_total"),
        "{ok}"
    );
    let health = request(admin, "GET /healthz HTTP/1.0\r\n\r\n", PATIENCE).unwrap();
    assert!(health.starts_with("HTTP/1.1 200 "), "{health}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- What an operator's stack expects (issue 24) ----

fn labelled(scrape: &prometheus_parse::Scrape, name: &str, label: &str, want: &str) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && s.labels.get(label) == Some(want))
        .unwrap_or_else(|| panic!("no {name}{{{label}=\"{want}\"}}"));
    match sample.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
        ref other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn health_checks_and_client_resets_are_not_server_errors_nor_lines() {
    for model in FOR_EVERY_MODEL {
        let server = with_admin(model, |config| config.workers = 2);
        let admin = server.admin();
        let reset = |stream: &TcpStream| {
            socket2::SockRef::from(stream)
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        };
        // HAProxy's plain `check`: connect, close (it resets); and a
        // probe that closes politely.
        for _ in 0..3 {
            reset(&server.connect());
            drop(server.connect());
        }
        // A client that sends a line, reads the reply, then resets.
        let mut client = server.connect();
        round_trip(&mut client, b"x\n", b"X\n");
        reset(&client);
        drop(client);
        let deadline = Instant::now() + PATIENCE;
        let scrape = loop {
            let scrape = scrape(admin);
            let ended = labelled(
                &scrape,
                "upcase_connections_closed_by_client_total",
                "reason",
                "health_check",
            ) + labelled(
                &scrape,
                "upcase_connections_closed_by_client_total",
                "reason",
                "reset",
            );
            if ended >= 7.0 || Instant::now() > deadline {
                break scrape;
            }
            thread::sleep(Duration::from_millis(20));
        };
        let by_client = |reason| {
            labelled(
                &scrape,
                "upcase_connections_closed_by_client_total",
                "reason",
                reason,
            )
        };
        assert_eq!(by_client("health_check"), 6.0, "{model}");
        assert_eq!(by_client("reset"), 1.0, "{model}");
        assert_eq!(
            labelled(
                &scrape,
                "upcase_connections_closed_by_server_total",
                "reason",
                "error"
            ),
            0.0,
            "{model}"
        );
        assert_eq!(value(&scrape, "upcase_lines_total"), 1.0, "{model}");
        let summary = server.stop();
        assert_eq!(summary.health_checks, 6, "{model}: {summary}");
        assert_eq!(summary.client_resets, 1, "{model}: {summary}");
        assert_eq!(summary.failed, 0, "{model}: {summary}");
        assert_eq!(summary.lines, 1, "{model}: {summary}");
    }
}

#[test]
fn series_come_in_the_same_order_every_scrape() {
    let server = with_admin("pool", |_| {});
    let admin = server.admin();
    let names = |body: String| -> Vec<String> {
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_string()))
            .collect()
    };
    let first = names(http_get(admin, "/metrics"));
    assert!(first
        .iter()
        .any(|s| s.contains("{reason=\"idle_timeout\"}")));
    for _ in 0..10 {
        assert_eq!(names(http_get(admin, "/metrics")), first);
    }
}

#[test]
fn healthz_says_draining_during_shutdown_and_moves_no_counter() {
    let server = with_admin("pool", |config| config.workers = 1);
    let admin = server.admin();
    for _ in 0..5 {
        let ok = request(admin, "GET /healthz HTTP/1.0\r\n\r\n", PATIENCE).unwrap();
        assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
    }
    let scrape = scrape(admin);
    assert_eq!(value(&scrape, "upcase_connections_accepted_total"), 0.0);
    assert_eq!(value(&scrape, "upcase_lines_total"), 0.0);
    // A client holding a line connection open keeps the drain going.
    let mut client = server.connect();
    round_trip(&mut client, b"hold\n", b"HOLD\n");
    server.trigger();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let health = request(admin, "GET /healthz HTTP/1.0\r\n\r\n", PATIENCE).unwrap_or_default();
        if health.starts_with("HTTP/1.1 503 ") {
            assert!(health.ends_with("draining\n"), "{health}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz never said draining: {health}"
        );
        thread::sleep(Duration::from_millis(20));
    }
    drop(client);
    let summary = server.stop();
    // The probes moved no counter: one connection, one line.
    assert_eq!((summary.connections, summary.lines), (1, 1), "{summary}");
    assert_eq!(summary.health_checks, 0, "{summary}");
}

/// A namespace with a non-loopback interface holding a private address,
/// as a host's LAN address would be: its address.
fn namespace_with_an_address() -> (common::netns::Namespace, std::net::Ipv4Addr) {
    let netns = common::netns::Namespace::create("admin");
    // A veth pair, both ends inside: an ordinary interface, not `lo`.
    netns.ip(&["link", "add", "up0", "type", "veth", "peer", "name", "up1"]);
    let pid = std::process::id();
    let address = std::net::Ipv4Addr::new(10, 213, (pid >> 8) as u8, (pid % 250) as u8 + 1);
    netns.ip(&["addr", "add", &format!("{address}/24"), "dev", "up0"]);
    netns.ip(&["link", "set", "up0", "up"]);
    netns.ip(&["link", "set", "up1", "up"]);
    (netns, address)
}

#[test]
fn an_admin_address_on_a_real_interface_needs_the_token() {
    let (netns, address) = namespace_with_an_address();
    let admin = format!("{address}:0");
    // Without a token: refused before binding, one line, exit 2.
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_upcase-server"));
    command.args(["--tcp", "127.0.0.1:0", "--no-udp", "--admin", &admin]);
    netns.put(&mut command);
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("--admin {admin} without a token started serving");
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--admin-token-file"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing was bound");

    // With one: served on that address, 401 without the bearer, 200 with.
    let dir = std::env::temp_dir().join(format!("upcase-admin-netns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "netns-secret\n").unwrap();
    let server = Server::start_with(
        &[
            "--no-udp",
            "--admin",
            &admin,
            "--admin-token-file",
            file.to_str().unwrap(),
        ],
        |command| netns.put(command),
    );
    let bound = server.admin.unwrap();
    assert_eq!(bound.ip(), std::net::IpAddr::V4(address));
    netns.enter();
    let refused = request(bound, "GET /metrics HTTP/1.0\r\n\r\n", PATIENCE).unwrap();
    assert!(refused.starts_with("HTTP/1.1 401 "), "{refused}");
    let ok = request(
        bound,
        "GET /metrics HTTP/1.0\r\nAuthorization: Bearer netns-secret\r\n\r\n",
        PATIENCE,
    )
    .unwrap();
    assert!(
        ok.starts_with("HTTP/1.1 200 ") && ok.contains("upcase_lines_total"),
        "{ok}"
    );
    drop(server);
    std::fs::remove_dir_all(&dir).unwrap();
}
