//! `--admin`: `/metrics` accepted by a Prometheus parser and moving under
//! load, `/stats.json` showing the pool at work, the page self-contained.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// A plain HTTP/1.0 GET; returns the body.
fn get(admin: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(admin).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: test\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    body.to_string()
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
    let server = Server::start(&["--admin", "127.0.0.1:0"]);
    let admin = server.admin.expect("admin line");
    let before = parse_metrics(&get(admin, "/metrics"));
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
        let scrape = parse_metrics(&get(admin, "/metrics"));
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
    assert!(value(&after, "upcase_resident_memory_bytes") > 0.0);
    let answered = after
        .samples
        .iter()
        .find(|s| {
            s.metric == "upcase_udp_datagrams_total" && s.labels.get("result") == Some("answered")
        })
        .expect("datagrams by result");
    assert!(matches!(answered.value, prometheus_parse::Value::Counter(v) if v == 1.0));
}

/// Polls `/stats.json` until `check` holds (bounded).
fn stats_until(admin: SocketAddr, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats: serde_json::Value = serde_json::from_str(&get(admin, "/stats.json")).unwrap();
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
    let server = Server::start_model("fixed-pool", &["--workers", "2", "--admin", "127.0.0.1:0"]);
    let admin = server.admin.unwrap();
    let clients: Vec<_> = (0..4).map(|_| server.connect()).collect();
    let stats = stats_until(admin, |s| busy_workers(s) == 2 && s["queued"] == 2);
    assert_eq!(busy_workers(&stats), 2, "{stats}");
    assert_eq!(stats["queued"], 2, "{stats}");
    assert_eq!(stats["model"], "fixed-pool");
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
    assert_eq!(busy_workers(&stats), 0, "{stats}");
}

#[test]
fn the_page_is_self_contained() {
    let server = Server::start(&["--admin", "127.0.0.1:0"]);
    let page = get(server.admin.unwrap(), "/");
    assert!(page.contains("/stats.json"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no external fetches"
    );
}
