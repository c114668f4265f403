//! `upcase-flood` against the real server (counts add up), against a
//! deliberately wrong server (mismatches found, non-zero exit), and against
//! nothing at all (a clear error).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;

#[test]
fn tcp_counts_add_up_in_every_mode() {
    let server = start_server(&[]);
    let tcp = server.tcp.to_string();
    for mode in [&[][..], &["--pipeline", "32"], &["--connect-per-line"]] {
        let mut args = vec!["--tcp", &tcp, "--clients", "4", "--lines", "300", "--json"];
        args.extend_from_slice(mode);
        let output = flood(&args);
        assert!(
            output.status.success(),
            "{mode:?}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let report = json_of(&output);
        assert_eq!(report["transport"], "tcp");
        assert_eq!(report["clients"], 4);
        assert_eq!(report["lines_sent"], 1200, "{mode:?}");
        assert_eq!(report["replies_ok"], 1200, "{mode:?}");
        assert_eq!(report["mismatches"], 0);
        assert_eq!(report["lost"], 0);
        assert!(report["lines_per_sec"].as_f64().unwrap() > 0.0);
        assert!(report["p99_us"].as_u64().unwrap() >= report["p50_us"].as_u64().unwrap());
    }
}

#[test]
fn udp_counts_add_up_and_loss_is_not_an_error() {
    let server = start_server(&[]);
    let udp = server.udp.to_string();
    let output = flood(&["--udp", &udp, "--clients", "2", "--lines", "500", "--json"]);
    assert!(output.status.success());
    let report = json_of(&output);
    assert_eq!(report["transport"], "udp");
    assert_eq!(report["lines_sent"], 1000);
    let ok = report["replies_ok"].as_u64().unwrap();
    let lost = report["lost"].as_u64().unwrap();
    assert_eq!(ok + lost, 1000);
    assert_eq!(report["mismatches"], 0);
}

#[test]
fn idle_connections_are_held_during_the_run() {
    let server = start_server(&["--workers", "1"]);
    let tcp = server.tcp.to_string();
    let output = flood(&["--tcp", &tcp, "--idle", "50", "--lines", "100", "--json"]);
    assert!(output.status.success());
    assert_eq!(json_of(&output)["idle_connections"], 50);
    // The server's own count: 50 idle connections plus the working client
    // (and the flood's reachability probe) were accepted.
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut accepted = 0;
    while accepted < 51 && std::time::Instant::now() < deadline {
        accepted = server.log().matches(" connected").count();
        thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(accepted >= 51, "the server saw {accepted} connections");
}

#[test]
fn the_human_summary_has_the_numbers() {
    let server = start_server(&[]);
    let output = flood(&["--tcp", &server.tcp.to_string(), "--lines", "50"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in ["replies ok    200", "lines/s", "p99.9", "verdict: OK"] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

/// A line server whose reply to line `i` of a connection is `reply(i,
/// line)` plus a newline, or nothing at all for `None`.
fn start_line_server(reply: fn(usize, &[u8]) -> Option<Vec<u8>>) -> String {
    fake::tcp(move |stream| {
        let mut writer = &stream;
        let reader = BufReader::new(&stream);
        for (i, line) in reader.split(b'\n').enumerate() {
            let Ok(line) = line else { break };
            let Some(mut answer) = reply(i, &line) else {
                continue;
            };
            answer.push(b'\n');
            if writer.write_all(&answer).is_err() {
                break;
            }
        }
    })
}

/// A server that gets every tenth line wrong (echoes it).
fn start_wrong_server() -> String {
    start_line_server(|i, line| {
        Some(if i % 10 == 9 {
            line.to_vec()
        } else {
            upcase::codec::uppercase(line)
        })
    })
}

#[test]
fn a_wrong_server_is_caught_and_the_exit_status_says_so() {
    // Ping-pong, and pipelined, where whole batches are compared at once
    // and only a batch that differs is checked line by line.
    for mode in [&[][..], &["--pipeline", "32"], &["--pipeline", "4096"]] {
        let address = start_wrong_server();
        let mut args = vec![
            "--tcp",
            &address,
            "--clients",
            "2",
            "--lines",
            "100",
            "--json",
        ];
        args.extend_from_slice(mode);
        let output = flood(&args);
        assert!(!output.status.success(), "{mode:?}");
        let report = json_of(&output);
        assert_eq!(report["mismatches"], 20, "{mode:?}");
        assert_eq!(report["replies_ok"], 180, "{mode:?}");
        assert_eq!(report["lost"], 0, "{mode:?}");
        let per_client: Vec<u64> = report["per_client"]
            .as_array()
            .expect("per_client is a list")
            .iter()
            .map(|n| n.as_u64().expect("a count"))
            .collect();
        assert_eq!(per_client.len(), 2, "{mode:?}");
        assert_eq!(per_client.iter().sum::<u64>(), 180, "{mode:?}");
    }
}

/// A server that answers every line right but never answers line 50 of
/// a connection.
fn start_server_that_skips_a_line() -> String {
    start_line_server(|i, line| (i != 50).then(|| upcase::codec::uppercase(line)))
}

#[test]
fn a_reply_missing_from_a_pipelined_stream_is_found() {
    let address = start_server_that_skips_a_line();
    let output = flood(&[
        "--tcp",
        &address,
        "--clients",
        "1",
        "--lines",
        "100",
        "--pipeline",
        "64",
        "--json",
    ]);
    assert!(!output.status.success());
    let report = json_of(&output);
    // Lines 0-49 are answered right; after the gap every reply is one line
    // late, so each is a mismatch, and the last line is never answered.
    assert_eq!(report["replies_ok"], 50);
    assert_eq!(report["mismatches"], 49);
    assert_eq!(report["lost"], 1);
}

#[test]
fn nothing_listening_is_one_clear_line_and_a_failure() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = free.local_addr().unwrap().to_string();
    drop(free);
    let output = flood(&["--tcp", &address, "--lines", "10"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&address), "{stderr}");
}

#[test]
fn a_server_that_never_answers_ends_the_run_with_every_line_lost() {
    // Accepts (the kernel does, from the backlog) but never reads or replies.
    let (listener, address) = fake::listener();
    let output = flood(&[
        "--tcp",
        &address,
        "--clients",
        "3",
        "--lines",
        "5",
        "--timeout",
        "1",
        "--json",
    ]);
    assert!(!output.status.success());
    let report = json_of(&output);
    assert_eq!(report["lines_sent"], 3, "one line each, then the wait");
    assert_eq!(report["replies_ok"], 0);
    assert_eq!(report["lost"], 3);
    drop(listener);
}

#[test]
fn a_duration_run_ends_by_itself() {
    let server = start_server(&[]);
    let output = flood(&[
        "--tcp",
        &server.tcp.to_string(),
        "--duration",
        "0.5",
        "--json",
    ]);
    assert!(output.status.success());
    let report = json_of(&output);
    let seconds = report["seconds"].as_f64().unwrap();
    assert!((0.4..30.0).contains(&seconds), "{seconds}");
    assert!(report["lines_sent"].as_u64().unwrap() > 0);
}

#[test]
fn line_lengths_the_server_would_refuse_are_usage_errors() {
    for args in [
        &["--tcp", "127.0.0.1:9", "--line-bytes", "100000"][..],
        &["--udp", "127.0.0.1:9", "--line-bytes", "65520"],
    ] {
        let output = flood(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("line-bytes") && stderr.len() < 500,
            "{stderr}"
        );
        assert!(output.stdout.is_empty());
    }
}

/// A UDP peer that answers the reachability probe, then applies `reply`
/// to every later datagram (`None`: stays silent).
fn udp_peer(reply: fn(&[u8]) -> Option<Vec<u8>>) -> String {
    fake::udp(move |datagram| {
        if datagram == b"probe" {
            Some(b"PROBE".to_vec())
        } else {
            reply(datagram)
        }
    })
}

#[test]
fn a_udp_server_that_answers_only_the_probe_fails_the_run() {
    let address = udp_peer(|_| None);
    let output = flood(&[
        "--udp",
        &address,
        "--clients",
        "2",
        "--lines",
        "200",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report = json_of(&output);
    assert_eq!(report["lost"], 400);
    assert_eq!(report["passed"], false);
}

#[test]
fn udp_echo_replies_are_mismatches_counted_once_not_also_lost() {
    let address = udp_peer(|datagram| Some(datagram.to_vec()));
    let output = flood(&[
        "--udp",
        &address,
        "--clients",
        "1",
        "--lines",
        "50",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report = json_of(&output);
    assert_eq!(report["mismatches"], 50, "{report}");
    assert_eq!(report["lost"], 0, "{report}");
    let message = report["error_messages"][0].as_str().unwrap_or_default();
    assert!(message.len() < 300, "a short excerpt: {message}");
}

#[test]
fn reconnect_resends_the_unanswered_line_and_still_checks_every_reply() {
    let (listener, address) = fake::listener();
    let server = thread::spawn(move || {
        // The probe, then a connection that answers 10 lines and reads an
        // 11th without answering it (a restart), then one that answers all.
        let _probe = listener.accept().unwrap();
        for answered in [Some(10), None] {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            let mut count = 0;
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if answered == Some(count) {
                    break;
                }
                (&stream).write_all(line.to_uppercase().as_bytes()).unwrap();
                line.clear();
                count += 1;
            }
        }
    });
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--tcp",
            &address,
            "--clients",
            "1",
            "--lines",
            "50",
            "--json",
        ];
        args.extend_from_slice(extra);
        flood(&args)
    };
    let output = run(&["--reconnect"]);
    server.join().unwrap();
    let report = json_of(&output);
    assert!(output.status.success(), "{report}");
    assert_eq!(report["replies_ok"], 50);
    assert_eq!(report["resent"], 1);
    assert_eq!(report["lost"], 0);
}

/// `--version` names the commit as the server's does (`upcase::cli`).
#[test]
fn version_names_the_commit_built_from() {
    let output = flood(&["--version"]);
    assert!(output.status.success());
    let expected = match upcase::cli::COMMIT {
        Some(commit) => format!("{} ({commit})", env!("CARGO_PKG_VERSION")),
        None => env!("CARGO_PKG_VERSION").to_string(),
    };
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("upcase-flood {expected}\n")
    );
}
