//! The sentences, fed fixed numbers: every ranking says by how much and
//! only beyond the spread, "level within noise" otherwise, and a leader
//! that trades fairness or its tail is never called fastest.

use super::ping::finding;
use super::sections::{carriers_section, flood};
use super::sketches;
use super::tls::cost as tls_cost;
use crate::reports::compare::measure::{Carrier, Flooded, Paired, Ping};
use crate::reports::compare::spread::Spread;
use crate::run::Transport;

fn ping(clients: usize, per_sec: Spread, slowest: Spread, p99: Spread) -> Ping {
    Ping {
        clients,
        per_sec,
        slowest_per_sec: slowest,
        p50_us: Spread::exact(20.0),
        p99_us: p99,
        starved: 0,
        starved_runs: 0,
        runs: 3,
    }
}

fn s(median: f64, min: f64, max: f64) -> Spread {
    Spread::new(median, min, max)
}

#[test]
fn a_clear_lead_with_nothing_traded_is_fastest_by_how_much() {
    let a = ping(
        16,
        s(100_000.0, 95_000.0, 104_000.0),
        s(6000.0, 5800.0, 6200.0),
        s(300.0, 280.0, 320.0),
    );
    let b = ping(
        16,
        s(50_000.0, 48_000.0, 52_000.0),
        s(3000.0, 2900.0, 3100.0),
        s(600.0, 550.0, 650.0),
    );
    let sentence = finding(16, &[("pool", &a), ("thread-per-connection", &b)]);
    assert_eq!(
        sentence,
        "At 16 clients `pool` served every client fastest (100k/s, 2.0× \
         `thread-per-connection`'s 50k/s, beyond the spread of the runs), its slowest client \
         and p99 no worse beyond noise."
    );
}

#[test]
fn overlapping_ranges_are_level_within_noise() {
    let a = ping(
        4,
        s(80_000.0, 60_000.0, 90_000.0),
        s(19_000.0, 15_000.0, 22_000.0),
        s(90.0, 80.0, 100.0),
    );
    let b = ping(
        4,
        s(75_000.0, 70_000.0, 82_000.0),
        s(18_000.0, 17_000.0, 20_000.0),
        s(95.0, 85.0, 99.0),
    );
    let sentence = finding(4, &[("pool", &a), ("thread-per-connection", &b)]);
    assert!(sentence.contains("level within noise"), "{sentence}");
    assert!(!sentence.contains("fastest"), "{sentence}");
    assert!(
        sentence.contains("`pool` (80k/s) and `thread-per-connection` (75k/s)"),
        "{sentence}"
    );
}

#[test]
fn a_leader_with_a_starved_slowest_client_and_a_worse_tail_says_what_it_trades() {
    // The issue's own numbers: 136k/s in total, but its slowest client got
    // 440/s against 2,773/s, and its p99 was 4,051 µs against 779 µs.
    let a = ping(
        16,
        s(136_330.0, 130_000.0, 140_000.0),
        s(440.0, 400.0, 500.0),
        s(4051.0, 3900.0, 4200.0),
    );
    let b = ping(
        16,
        s(64_000.0, 60_000.0, 66_000.0),
        s(2773.0, 2600.0, 2900.0),
        s(779.0, 700.0, 820.0),
    );
    let sentence = finding(16, &[("pool", &a), ("thread-per-connection", &b)]);
    assert!(!sentence.contains("fastest"), "{sentence}");
    assert!(
        sentence.contains("answered the most in total (136k/s, 2.1×"),
        "{sentence}"
    );
    assert!(sentence.contains("its slowest client got 440/s (5 % of an equal share) against 2.8k/s (69 %) for `thread-per-connection`"), "{sentence}");
    assert!(
        sentence.contains("its p99 was 4.1k µs against 779 µs for `thread-per-connection`"),
        "{sentence}"
    );
}

#[test]
fn a_model_that_left_clients_unanswered_is_not_ranked() {
    let a = ping(
        4,
        s(70_000.0, 69_000.0, 71_000.0),
        s(17_000.0, 16_000.0, 18_000.0),
        s(90.0, 85.0, 95.0),
    );
    let mut starving = ping(
        4,
        s(90_000.0, 89_000.0, 91_000.0),
        s(0.0, 0.0, 0.0),
        s(30.0, 29.0, 31.0),
    );
    starving.starved = 2;
    starving.starved_runs = 3;
    let sentence = finding(4, &[("pool", &a), ("fixed-pool", &starving)]);
    assert_eq!(
        sentence,
        "At 4 clients only `pool` served every client (70k/s). `fixed-pool` left up to 2 of 4 \
         unanswered (in 3 of 3 runs), so its total is not a ranking."
    );
}

#[test]
fn the_flood_says_what_was_sent_not_what_was_hoped() {
    let flooded = |transport, sent: f64, lost: Spread| Flooded {
        transport,
        sent_per_sec: s(sent, sent * 0.95, sent * 1.05),
        answered_per_sec: s(sent * 0.9, sent * 0.85, sent * 0.95),
        lost_pct: lost,
        reordered: Spread::exact(0.0),
        p99_us: Spread::exact(500.0),
    };
    let section = flood(&[
        flooded(Transport::Udp, 74_000.0, s(3.0, 2.0, 4.0)),
        flooded(Transport::Tcp, 1_216_000.0, Spread::exact(0.0)),
    ]);
    let text = section.findings.join("\n");
    assert!(
        text.contains("UDP: 3.0 % (2.0 %–4.0 %) of the datagrams got no reply in every run"),
        "{text}"
    );
    assert!(text.contains("TCP: no line lost in any run"), "{text}");
    assert!(
        text.contains("`tcp` sent the most: 1.2M/s, 16.4× `udp`'s 74k/s"),
        "{text}"
    );
    assert!(!format!("{}{text}", section.intro).contains("same pace"));
}

#[test]
fn carriers_rank_only_beyond_the_spread() {
    let carrier = |name, micros| Carrier { name, micros };
    let section = carriers_section(&[
        carrier("crossbeam channel (threads)", s(2.0, 1.8, 2.2)),
        carrier("tcp loopback", s(20.0, 18.0, 22.0)),
        carrier("udp loopback", s(19.0, 17.0, 23.0)),
    ]);
    let text = section.findings.join("\n");
    assert!(
        text.contains(
            "`crossbeam channel (threads)` was quicker: 2.00 µs; `tcp loopback` took 10.0× as long"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "`udp loopback` (19.00 µs) and `tcp loopback` (20.00 µs) are level within noise"
        ),
        "{text}"
    );
}

#[test]
fn every_model_is_introduced_by_its_own_shape() {
    let sketches = sketches();
    assert_eq!(sketches.len(), upcase::config::Model::ALL.len());
    for sketch in &sketches {
        assert!(!sketch.summary.is_empty(), "{} has no summary", sketch.name);
        assert!(!sketch.diagram.is_empty(), "{} has no diagram", sketch.name);
    }
    let diagram_of = |name: &str| {
        sketches
            .iter()
            .find(|sketch| sketch.name == name)
            .map(|sketch| sketch.diagram)
            .unwrap()
    };
    // The design card's pool is fed by an acceptor over a channel; nginx's
    // event loops accept for themselves.
    assert!(diagram_of("pool").starts_with("acceptor ──channel──▶"));
    assert!(diagram_of("event-loops").starts_with("listening socket"));
}

fn paired(plain: Spread, tls: Spread, tls_pct: Spread) -> Paired {
    Paired {
        plain,
        tls,
        tls_pct,
        starved: 0,
        starved_runs: 0,
        runs: 3,
    }
}

#[test]
fn tls_costs_only_beyond_the_spread_and_never_for_a_starving_model() {
    // The handshake: a tenth of plain, ranges far apart.
    let handshake = paired(
        s(8000.0, 7500.0, 8600.0),
        s(900.0, 850.0, 1000.0),
        s(11.0, 10.0, 13.0),
    );
    // Per line: 5 % apart, ranges overlapping.
    let line = paired(
        s(40_000.0, 36_000.0, 44_000.0),
        s(38_000.0, 35_000.0, 41_000.0),
        s(95.0, 88.0, 101.0),
    );
    let mut starving = paired(
        s(20_000.0, 19_000.0, 21_000.0),
        s(2000.0, 1900.0, 2100.0),
        s(10.0, 9.0, 11.0),
    );
    starving.starved = 1;
    starving.starved_runs = 1;
    let sentence = tls_cost(
        "A new connection per line",
        &[
            ("pool", &handshake),
            ("event-loops", &line),
            ("iterative", &starving),
        ],
        &|v| format!("{v:.0}/s"),
    );
    assert_eq!(
        sentence,
        "A new connection per line: over TLS `pool` kept 11 % of plain (900/s against \
         8000/s), beyond the spread of the runs; `event-loops` (95 %) level with plain within \
         noise; `iterative` left clients unanswered, so not compared."
    );
}
