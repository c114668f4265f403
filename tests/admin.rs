//! `--admin`: `/metrics` accepted by a Prometheus parser and moving under
//! load, `/stats.json` showing the pool at work (and the listen backlog of
//! this server's listeners), the page self-contained, health checks and
//! the drain as an operator's stack sees them. All in-process
//! (`server::run_with_admin`). Bounds are in `admin_bounds.rs`, who may
//! call in `admin_access.rs`.

mod common;

use common::admin::*;
use common::*;
use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};
use upcase::admin::Access;

/// A server in `model` with the admin endpoint open to loopback callers.
fn with_admin(model: &str, adjust: impl FnOnce(&mut upcase::config::ServerConfig)) -> InProcess {
    InProcess::start_with_admin(model, Access::open(), adjust)
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

fn busy_workers(stats: &serde_json::Value) -> usize {
    stats["workers"]
        .as_array()
        .map_or(0, |w| w.iter().filter(|w| w["busy"] == true).count())
}

#[test]
fn fixed_pool_with_two_workers_shows_two_busy_and_two_waiting() {
    let server = with_admin("fixed-pool", |config| config.workers = 2);
    let clients: Vec<_> = (0..4).map(|_| server.connect()).collect();
    let stats = server.stats_until(|s| busy_workers(s) == 2 && s["queued"] == 2);
    assert_eq!(busy_workers(&stats), 2, "{stats}");
    assert_eq!(stats["queued"], 2, "{stats}");
    assert_eq!(stats["model"], "fixed-pool");
    drop(clients);
}

#[test]
fn six_clients_on_two_fixed_pool_workers_are_all_counted_with_the_backlog() {
    let server = with_admin("fixed-pool", |config| config.workers = 2);
    // 2 on the workers, 2 in the channel, 1 in the acceptor's hand, and the
    // sixth connected by the kernel but not accepted (the listen backlog).
    let clients: Vec<_> = (0..6).map(|_| server.connect()).collect();
    let stats =
        server.stats_until(|s| busy_workers(s) == 2 && s["queued"] == 3 && s["backlog"] == 1);
    assert_eq!(busy_workers(&stats), 2, "{stats}");
    assert_eq!(stats["queued"], 3, "{stats}");
    assert_eq!(stats["backlog"], 1, "{stats}");
    drop(clients);
}

#[test]
fn pool_parks_idle_clients_and_queues_none() {
    let server = with_admin("pool", |config| config.workers = 2);
    // Another listener in this process with a client in its accept queue:
    // not this server's backlog.
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let _waiting = TcpStream::connect(other.local_addr().unwrap()).unwrap();
    let mut clients: Vec<_> = (0..4).map(|_| server.connect()).collect();
    for client in &mut clients {
        round_trip(client, b"hi\n", b"HI\n");
    }
    let stats = server.stats_until(|s| s["parked"] == 4);
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

// ---- What an operator's stack expects (issue 24) ----

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
