//! `upcase-flood compare --quick` end to end: it starts the real server in
//! every model and writes a report and charts holding numbers for each.

mod common;

use std::process::Command;

#[test]
fn compare_quick_writes_a_report_and_charts_for_every_model() {
    let out = std::env::temp_dir().join(format!("upcase-compare-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_upcase-flood"))
        .args(["compare", "--quick", "--out"])
        .arg(&out)
        .arg("--server")
        .arg(common::server_binary())
        .output()
        .expect("run upcase-flood compare");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for model in upcase::config::Model::ALL.map(|model| model.name()) {
        let row = report
            .lines()
            .find(|line| line.starts_with(&format!("| {model} | ")))
            .unwrap_or_else(|| panic!("no row for {model}:\n{report}"));
        assert!(row.chars().any(|c| c.is_ascii_digit()), "{row}");
    }
    for carrier in [
        "crossbeam channel",
        "unix domain socket",
        "tcp loopback",
        "udp loopback",
    ] {
        assert!(report.contains(carrier), "{carrier}");
    }
    // The Rust Book pool's limit shows: with idle clients holding both
    // workers, a new client is never answered.
    let idle_row = report
        .lines()
        .filter(|line| line.starts_with("| fixed-pool | "))
        .find(|line| line.contains("never answered"));
    assert!(idle_row.is_some(), "{report}");
    // A model that starved clients is never ranked by its throughput: the
    // sentences name it as leaving clients unanswered, and never "fastest".
    for line in report.lines().filter(|l| l.starts_with("- At ")) {
        for starving in ["fixed-pool", "iterative"] {
            let fastest = format!("`{starving}` served every client fastest");
            if line.contains(&format!("`{starving}` left")) {
                assert!(!line.contains(&fastest), "{line}");
            }
        }
    }
    assert!(
        report.contains("never answered"),
        "the starved clients are counted: {report}"
    );
    // TLS beside plain for every model, and the handshake's sentence.
    let tls = report
        .split("## TLS against plain")
        .nth(1)
        .unwrap_or_else(|| panic!("no TLS section:\n{report}"));
    for model in upcase::config::Model::ALL.map(|model| model.name()) {
        let row = tls
            .lines()
            .find(|line| line.starts_with(&format!("| {model} | ")))
            .unwrap_or_else(|| panic!("no TLS row for {model}:\n{tls}"));
        assert!(
            row.contains("plain:") || row.contains("never answered"),
            "{row}"
        );
    }
    assert!(tls.contains("- A new connection per line: "), "{tls}");
    // The page a teacher projects: self-contained, every section there.
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        page.contains("<svg") && !page.contains("src=\"http"),
        "charts inline"
    );
    for section in [
        "Ping-pong",
        "idle",
        "TLS against plain",
        "carrier",
        "flood",
        "What it shows",
    ] {
        assert!(page.contains(section), "{section}");
    }
    for chart in [
        "throughput.svg",
        "slowest_client.svg",
        "latency_p99.svg",
        "idle.svg",
        "transports.svg",
        "tls_ping.svg",
        "tls_bulk.svg",
        "tls_connections.svg",
    ] {
        let svg = std::fs::read_to_string(out.join(chart)).unwrap();
        assert!(svg.starts_with("<svg"), "{chart}");
        assert!(svg.contains("<text"), "{chart} has no labels");
    }
    let _ = std::fs::remove_dir_all(&out);
}
