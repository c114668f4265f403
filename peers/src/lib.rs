//! The benchmark's peers of `upcase-server`: what a Rust user would write
//! instead, each small and idiomatic, speaking the same protocol (TCP lines,
//! UDP datagrams, full-Unicode uppercase with invalid bytes passed through)
//! and printing the same `tcp listening on …` / `udp listening on …` lines
//! (and `tls listening on …` for tokio-upcase's `--tls`).
//! They have no limits, timeouts or graceful shutdown: they exist to be
//! measured against (`scripts/bench.sh`), and `floor-epoll` is not a server
//! at all but an estimate of what the kernel alone costs. `bulk-client` is
//! the one client here: the load generator's yardstick, kept apart from
//! `flood/` so that it shares none of its code.

#![deny(rustdoc::broken_intra_doc_links)]

use std::process::ExitCode;

/// A program's end: success, or its error and the causes on one line of
/// stderr (`PROGRAM: what: why`) and exit status 1.
pub fn finish(program: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{program}: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Appends the uppercase of `input` to `out`: `str::to_uppercase` on each
/// valid UTF-8 run, other bytes copied.
pub fn upcase_into(input: &[u8], out: &mut Vec<u8>) {
    if input.is_ascii() {
        out.extend(input.iter().map(u8::to_ascii_uppercase));
        return;
    }
    for chunk in input.utf8_chunks() {
        out.extend_from_slice(chunk.valid().to_uppercase().as_bytes());
        out.extend_from_slice(chunk.invalid());
    }
}

/// The value after `--NAME` on the command line, if any.
pub fn flag(name: &str) -> Option<String> {
    let wanted = format!("--{name}");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == wanted {
            return args.next();
        }
    }
    None
}

/// `--tcp ADDR --udp ADDR` from the command line (defaults 127.0.0.1:7878).
pub fn addresses() -> (String, String) {
    let mut tcp = "127.0.0.1:7878".to_string();
    let mut udp = tcp.clone();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--tcp", Some(value)) => tcp = value,
            ("--udp", Some(value)) => udp = value,
            _ => {}
        }
    }
    (tcp, udp)
}
