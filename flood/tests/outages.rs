//! `upcase-flood` when the server is not really there: a TCP server that
//! resets every connection (`--reconnect` must back off and say what
//! happened), and a UDP proxy whose server is down (nginx answers an empty
//! datagram, which is no answer).

mod common;

use common::*;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn reconnect_against_a_server_that_always_resets_backs_off_and_counts_it() {
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let address = fake::tcp(move |stream| {
        counter.fetch_add(1, Ordering::SeqCst);
        // Takes the line (or the probe's close), then a reset.
        let _ = (&stream).read(&mut [0u8; 1]);
        let _ = socket2::SockRef::from(&stream).set_linger(Some(std::time::Duration::ZERO));
    });
    let output = flood(&[
        "--tcp",
        &address,
        "--clients",
        "1",
        "--lines",
        "5",
        "--reconnect",
        "--timeout",
        "4",
        "--json",
    ]);
    let report = json_of(&output);
    let accepted = accepted.load(Ordering::SeqCst);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert_eq!(report["replies_ok"], 0, "{report}");
    // The line never answered is lost, and the run says why.
    assert_eq!(report["lost"], 1, "{report}");
    assert!(report["errors"].as_u64() >= Some(1), "{report}");
    // Backed off (50 ms doubling to 1 s: about 8 tries in 4 s), not
    // thousands of resends a second.
    assert!(
        (3..=20).contains(&accepted),
        "{accepted} connections: {report}"
    );
    // Every connection but the probe was cut, and each is counted; the
    // last may still have been waiting for its reset when time ran out.
    let cut = report["connections_cut"].as_u64().unwrap_or(0) as usize;
    assert!(
        (accepted.saturating_sub(2)..=accepted - 1).contains(&cut),
        "{cut} cut of {accepted} accepted: {report}"
    );
}

/// A UDP peer that answers every datagram with an empty one (nginx's
/// answer when the server behind it is down), the probe included or not.
fn empty_answering_proxy(probe_answered: bool) -> String {
    fake::udp(move |datagram| {
        Some(if probe_answered && datagram == b"probe" {
            b"PROBE".to_vec()
        } else {
            Vec::new()
        })
    })
}

#[test]
fn empty_udp_replies_are_errors_not_answers() {
    let address = empty_answering_proxy(true);
    let output = flood(&[
        "--udp",
        &address,
        "--clients",
        "1",
        "--lines",
        "20",
        "--json",
    ]);
    let report = json_of(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert_eq!(report["replies_ok"], 0, "{report}");
    // Not a wrong answer: no answer at all, and an error that says so.
    assert_eq!(report["mismatches"], 0, "{report}");
    assert_eq!(report["lost"], 20, "{report}");
    assert!(report["errors"].as_u64() >= Some(1), "{report}");
    let message = report["error_messages"][0].as_str().unwrap_or_default();
    assert!(message.contains("empty"), "{report}");
}

#[test]
fn an_empty_reply_to_the_probe_is_no_server() {
    let address = empty_answering_proxy(false);
    let output = flood(&["--udp", &address, "--lines", "1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("empty"), "{stderr}");
}
