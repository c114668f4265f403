//! What the server's log looks like to whoever reads it: journald (a
//! syslog priority per line, no timestamp of its own), a log shipper
//! (`--log-format json`), a person (the start-up line says what is
//! running), and a flood of misbehaving clients (one line a second).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the server until its start-up line, stops it, and returns what it
/// wrote to stderr, which goes to a file (so that its device and inode
/// can be named in JOURNAL_STREAM, as systemd does for the journal's
/// stream). `journal`: whether JOURNAL_STREAM names that file.
fn log_of_a_short_run(journal: bool, args: &[&str]) -> String {
    let path = std::env::temp_dir().join(format!(
        "upcase-logs-{}-{journal}-{}.err",
        std::process::id(),
        args.len()
    ));
    let file = std::fs::File::create(&path).unwrap();
    let meta = file.metadata().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_upcase-server"));
    command
        .args(["--tcp", "127.0.0.1:0", "--no-udp"])
        .args(args)
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(file);
    if journal {
        command.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()));
    } else {
        // Set, but for another stream (a child of the journal's service
        // whose stderr was redirected): not the journal.
        command.env("JOURNAL_STREAM", "1:1");
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("tcp listening on"), "{line}");
    send_signal(child.id(), libc::SIGTERM);
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    text
}

#[test]
fn under_journald_every_line_has_a_priority_and_no_timestamp() {
    let text = log_of_a_short_run(true, &[]);
    assert!(text.contains("shutdown complete"), "{text}");
    for line in text.lines() {
        // `<6>target: message`: nothing before the message but those two.
        let (head, _) = line.split_once(": ").unwrap_or_else(|| panic!("{line}"));
        assert!(
            head.starts_with("<6>upcase") && !head.contains(' '),
            "{line}"
        );
    }
    // Elsewhere the text format, with the time.
    let text = log_of_a_short_run(false, &[]);
    assert!(text.lines().all(|line| line.starts_with("[20")), "{text}");
}

#[test]
fn json_logs_are_one_object_a_line() {
    let text = log_of_a_short_run(false, &["--log-format", "json"]);
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(objects.len() >= 3, "{text}");
    for object in &objects {
        for key in ["time", "level", "target", "message", "fields"] {
            assert!(object.get(key).is_some(), "no {key}: {object}");
        }
    }
    assert!(objects.iter().any(|o| o["message"]
        .as_str()
        .is_some_and(|m| m.starts_with("shutdown complete"))));
}

#[test]
fn the_start_up_line_names_version_model_limits_and_descriptors() {
    let server = Server::start(&["--max-connections", "321", "--max-line", "999"]);
    let expected = format!(
        "upcase-server {} serving with model pool",
        env!("CARGO_PKG_VERSION")
    );
    assert!(server.wait_for_log(&expected), "{}", server.stderr());
    let log = server.stderr();
    let line = log.lines().find(|l| l.contains(&expected)).unwrap();
    for part in [
        "max-connections 321",
        "max-connections-per-ip 1000 (loopback exempt)",
        "max-line 999 bytes",
        "idle-timeout 300 s",
        "descriptor limit ",
    ] {
        assert!(line.contains(part), "no {part:?} in {line}");
    }
}

#[test]
fn closes_for_long_lines_and_idle_timeouts_are_logged_at_most_once_a_second() {
    let server = Server::start(&["--max-line", "8", "--idle-timeout", "1"]);
    let started = Instant::now();
    let closes = 40;
    for _ in 0..closes {
        let mut client = server.connect();
        client.write_all(b"far too long for eight\n").unwrap();
        assert_eq!(read_to_close(&mut client), b"error: line exceeds 8 bytes\n");
    }
    let elapsed = started.elapsed();
    assert!(
        server.wait_for_log("for a line over --max-line"),
        "{}",
        server.stderr()
    );
    let logged = server
        .stderr()
        .matches("for a line over --max-line")
        .count();
    assert!(
        logged as u64 <= elapsed.as_secs() + 2,
        "{logged} lines for {closes} closes in {elapsed:?}"
    );

    // Several idle clients at once: one line, counted. Two workers count
    // their closes at the same moment, so the line that gets through may
    // already count the other worker's close too.
    let idles = 5;
    let idle: Vec<_> = (0..idles).map(|_| server.connect()).collect();
    let started = Instant::now();
    for mut client in idle {
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        assert_eq!(read_to_close(&mut client), b"error: idle timeout\n");
    }
    let elapsed = started.elapsed();
    let marker = "closed a connection at --idle-timeout (";
    assert!(server.wait_for_log(marker), "{}", server.stderr());
    let log = server.stderr();
    let counts: Vec<u64> = log
        .lines()
        .filter_map(|line| line.split_once(marker))
        .map(|(_, rest)| rest.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        counts.len() as u64 <= elapsed.as_secs() + 1,
        "{} lines for {idles} idle closes in {elapsed:?}:\n{log}",
        counts.len()
    );
    assert!((1..=idles).contains(&counts[0]), "{log}");
}

/// What a refusal of service says in the log, for each kind the operator
/// acts on. The refusals themselves (replies, counts) are tested
/// in-process in `tests/udp.rs` and `tests/limits.rs`; only the binary's
/// log shows these lines.
#[test]
fn refusals_name_the_limit_that_refused() {
    let server = Server::start(&[
        "--udp-max-amplification",
        "2",
        "--udp-rate-limit",
        "20",
        "--udp-rate-limit-loopback",
        "--max-connections",
        "1",
    ]);
    let udp = server.udp.expect("udp enabled");
    let ask = |socket: &std::net::UdpSocket, payload: &[u8]| {
        socket.send(payload).unwrap();
        let mut buf = vec![0u8; 70_000];
        let n = socket.recv(&mut buf).expect("a reply datagram");
        buf.truncate(n);
        buf
    };
    // A reply over one datagram, and over 2x its request ('ŉ' grows 2 -> 3).
    let client = server.udp_client();
    let payload = "ŉ".repeat(30_000);
    assert_eq!(ask(&client, payload.as_bytes()), b"error: reply too large");
    assert!(
        server.wait_for_log("would exceed 65507 bytes or 2x the request's 60000"),
        "{}",
        server.stderr()
    );
    // A datagram from upcase's own port (on another loopback address).
    let twin = std::net::UdpSocket::bind(format!("127.0.0.2:{}", udp.port())).unwrap();
    twin.send_to(b"are you upcase?", udp).unwrap();
    assert!(
        server.wait_for_log("not answered: a reply to that port"),
        "{}",
        server.stderr()
    );
    // One source past its rate (20 a second, a burst of 20).
    for _ in 0..100 {
        client.send(b"flood").unwrap();
    }
    assert!(
        server.wait_for_log("udp replies to 127.0.0.0/24 rate-limited"),
        "{}",
        server.stderr()
    );
    // A TCP connection past --max-connections.
    let mut admitted = server.connect();
    round_trip(&mut admitted, b"in\n", b"IN\n");
    assert_eq!(
        read_to_close(&mut server.connect()),
        b"error: too many connections\n"
    );
    assert!(
        server.wait_for_log("open is the --max-connections limit"),
        "{}",
        server.stderr()
    );
}
