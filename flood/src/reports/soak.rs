//! `upcase-flood soak`: every threading model under a long mix of good and
//! hostile traffic, then checks that nothing was lost or leaked.
//!
//! For each model a fresh server gets, at the same time:
//! - well-behaved TCP clients (a verifying flood);
//! - hostile TCP clients, one after another: a trickle of bytes, a reset
//!   mid-line, a reset mid-reply, one that never reads, a line over
//!   `--max-line`, raw invalid UTF-8 and NUL bytes;
//! - UDP: good datagrams (checked), garbage, and ones whose reply would be
//!   too large.
//!
//! Verdict per model: no wrong reply anywhere; no lost reply where the
//! model serves clients concurrently (`pool`, `event-loops`,
//! `thread-per-connection`; the other two make a client wait its turn);
//! memory flat after warm-up; descriptors and threads back to their
//! starting counts once the clients have gone.

use crate::error::ReportError;
use crate::flood::run as flood;
use crate::run::{Options, Target};
use crate::server_process::ServerProcess;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use upcase::config::Model;
use upcase::process_stats::ProcessStats;

/// What `soak` does.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// The `upcase-server` binary to start.
    pub server: PathBuf,
    /// How long each model is soaked.
    pub seconds: f64,
}

/// Memory, descriptors and threads of the server at one moment.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss_kib: u64,
    fds: usize,
    threads: usize,
}

fn sample(server: &ServerProcess) -> Sample {
    let stats = ProcessStats::of(server.pid()).unwrap_or_default();
    Sample {
        rss_kib: stats.rss_kib,
        fds: stats.fds as usize,
        threads: stats.threads as usize,
    }
}

/// Soaks every model; prints one verdict line per model and a final one.
/// Returns whether every model passed.
pub fn run(options: &SoakOptions) -> Result<bool, ReportError> {
    let mut all_passed = true;
    for model in Model::ALL {
        let (passed, verdict) = soak_model(model, options)?;
        println!(
            "{} {model}: {verdict}",
            if passed { "PASS" } else { "FAIL" }
        );
        all_passed &= passed;
    }
    println!(
        "verdict: {}",
        if all_passed {
            "PASS: no wrong reply, no leak, every model recovered"
        } else {
            "FAIL: see the lines above"
        }
    );
    Ok(all_passed)
}

fn soak_model(model: Model, options: &SoakOptions) -> Result<(bool, String), ReportError> {
    let args = [
        "--model",
        model.name(),
        "--workers",
        "4",
        "--idle-timeout",
        "2",
        "--max-line",
        "4096",
    ];
    let server =
        ServerProcess::start(&options.server, &args).map_err(|source| ReportError::Start {
            server: model.name().to_string(),
            source,
        })?;
    let run = run_traffic(&server, options)?;
    Ok(verdict(model, &run))
}

/// What one model's soak saw.
struct SoakRun {
    report: crate::report::Report,
    hostile_runs: u64,
    udp_wrong: u64,
    /// Resources at start, a quarter into the run, at its end, and once
    /// the clients have left.
    baseline: Sample,
    warm: Sample,
    end: Sample,
    settled: Sample,
}

/// Good, hostile and UDP traffic at once for the soak's duration.
fn run_traffic(server: &ServerProcess, options: &SoakOptions) -> Result<SoakRun, ReportError> {
    let baseline = warmed_up_baseline(server)?;
    let duration = Duration::from_secs_f64(options.seconds.max(1.0));
    let stop = Arc::new(AtomicBool::new(false));
    let hostile = {
        let (addr, stop) = (server.tcp, Arc::clone(&stop));
        thread::spawn(move || hostile_clients(addr, &stop))
    };
    let udp_wrong = Arc::new(AtomicU64::new(0));
    let udp = {
        let (addr, stop, wrong) = (server.udp, Arc::clone(&stop), Arc::clone(&udp_wrong));
        thread::spawn(move || udp_mix(addr, &stop, &wrong))
    };
    let good = {
        let addr = server.tcp;
        thread::spawn(move || {
            flood(Options {
                target: Target::Tcp(addr),
                clients: 8,
                duration: Some(duration),
                timeout: duration + Duration::from_secs(10),
                ..Options::default()
            })
        })
    };
    thread::sleep(duration / 4);
    let warm = sample(server);
    let report = good
        .join()
        .map_err(|_| ReportError::Panicked("flood"))?
        .map_err(|source| ReportError::Flood {
            during: "the good clients".to_string(),
            source,
        })?;
    let end = sample(server);
    stop.store(true, Ordering::Relaxed);
    let hostile_runs = hostile.join().unwrap_or(0);
    let _ = udp.join();
    let settled = wait_for_baseline(server, baseline);
    Ok(SoakRun {
        report,
        hostile_runs,
        udp_wrong: udp_wrong.load(Ordering::Relaxed),
        baseline,
        warm,
        end,
        settled,
    })
}

/// Whether the model passed, and the line that says so.
fn verdict(model: Model, run: &SoakRun) -> (bool, String) {
    let t = &run.report.tally;
    let (baseline, warm, end, settled) = (run.baseline, run.warm, run.end, run.settled);
    let concurrent = matches!(
        model,
        Model::Pool | Model::EventLoops | Model::ThreadPerConnection
    );
    let mut problems = Vec::new();
    if t.mismatches > 0 || run.udp_wrong > 0 {
        problems.push(format!(
            "{} wrong tcp replies, {} wrong udp replies",
            t.mismatches, run.udp_wrong
        ));
    }
    if concurrent && (t.lost > 0 || t.error_count > 0) {
        problems.push(format!(
            "{} tcp replies lost, {} errors",
            t.lost, t.error_count
        ));
    }
    // Allocators keep some memory; a leak grows with the run instead.
    if end.rss_kib > warm.rss_kib + warm.rss_kib / 2 + 16 * 1024 {
        problems.push(format!(
            "memory grew from {} KiB after warm-up to {} KiB",
            warm.rss_kib, end.rss_kib
        ));
    }
    if settled.fds != baseline.fds || settled.threads != baseline.threads {
        problems.push(format!(
            "after the clients left: {} descriptors and {} threads (at start: {} and {})",
            settled.fds, settled.threads, baseline.fds, baseline.threads
        ));
    }
    let summary = format!(
        "{} good replies ({} lost), {} hostile clients, memory {} -> {} KiB \
         (warm -> end), descriptors {} -> {} -> {} and threads {} -> {} -> {} \
         (start -> under load -> after)",
        t.ok,
        t.lost,
        run.hostile_runs,
        warm.rss_kib,
        end.rss_kib,
        baseline.fds,
        warm.fds,
        settled.fds,
        baseline.threads,
        warm.threads,
        settled.threads
    );
    if problems.is_empty() {
        (true, summary)
    } else {
        (false, format!("{summary}; {}", problems.join("; ")))
    }
}

/// The server's counts once it is fully up: after one TCP and one UDP
/// exchange, when two samples in a row agree.
fn warmed_up_baseline(server: &ServerProcess) -> Result<Sample, ReportError> {
    let fail = |source| ReportError::Io {
        doing: "the server did not answer".to_string(),
        source,
    };
    let mut tcp = TcpStream::connect(server.tcp).map_err(fail)?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(fail)?;
    tcp.write_all(b"hello\n").map_err(fail)?;
    let mut reply = [0u8; 6];
    tcp.read_exact(&mut reply).map_err(fail)?;
    drop(tcp);
    let udp = UdpSocket::bind("127.0.0.1:0").map_err(fail)?;
    udp.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(fail)?;
    udp.send_to(b"hello", server.udp).map_err(fail)?;
    udp.recv(&mut reply).map_err(fail)?;
    let mut last = sample(server);
    for _ in 0..50 {
        thread::sleep(Duration::from_millis(100));
        let now = sample(server);
        if now.fds == last.fds && now.threads == last.threads {
            return Ok(now);
        }
        last = now;
    }
    Ok(last)
}

/// Waits (at most 10 s) for descriptors and threads to return to `baseline`.
fn wait_for_baseline(server: &ServerProcess, baseline: Sample) -> Sample {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = sample(server);
        let settled = now.fds == baseline.fds && now.threads == baseline.threads;
        if settled || Instant::now() >= deadline {
            return now;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Runs hostile clients one after another until `stop`. Returns how many.
fn hostile_clients(addr: SocketAddr, stop: &AtomicBool) -> u64 {
    let behaviours: [fn(TcpStream); 6] = [
        trickle,
        reset_mid_line,
        reset_mid_reply,
        never_read,
        line_too_long,
        garbage,
    ];
    let mut runs = 0;
    while !stop.load(Ordering::Relaxed) {
        let behave = behaviours[runs as usize % behaviours.len()];
        if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
            behave(stream);
        }
        runs += 1;
    }
    runs
}

fn trickle(mut stream: TcpStream) {
    for _ in 0..10 {
        if stream.write_all(b"x").is_err() {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Closes with SO_LINGER 0, so the close is a reset.
fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
}

fn reset_mid_line(mut stream: TcpStream) {
    let _ = stream.write_all(b"complete line\nhalf a li");
    reset(stream);
}

fn reset_mid_reply(mut stream: TcpStream) {
    let _ = stream.write_all(&b"a line whose reply is never read\n".repeat(3000));
    reset(stream);
}

fn never_read(mut stream: TcpStream) {
    let chunk = b"never read\n".repeat(1000);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(500) {
        if stream.write_all(&chunk).is_err() {
            break;
        }
    }
}

fn line_too_long(mut stream: TcpStream) {
    let _ = stream.write_all(&[b'L'; 8192]);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
}

fn garbage(mut stream: TcpStream) {
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 131 % 251) as u8).collect();
    let _ = stream.write_all(&bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
}

/// Good, garbage and oversized datagrams until `stop`; counts wrong replies
/// to the good ones.
fn udp_mix(addr: SocketAddr, stop: &AtomicBool, wrong: &AtomicU64) {
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        return;
    };
    if socket.connect(addr).is_err() {
        return;
    }
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let oversized = "ŉ".repeat(30_000);
    let mut buf = vec![0u8; 65536];
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let _ = match n % 4 {
            0 => socket.send(b"\xff\x00\xfe garbage \x80"),
            1 => socket.send(oversized.as_bytes()),
            _ => {
                let payload = format!("good datagram {n} ß");
                if socket.send(payload.as_bytes()).is_ok() {
                    // Skip replies to the garbage and oversized ones.
                    while let Ok(len) = socket.recv(&mut buf) {
                        let reply = &buf[..len];
                        if reply.starts_with(b"GOOD DATAGRAM") {
                            if reply != payload.to_uppercase().as_bytes() {
                                wrong.fetch_add(1, Ordering::Relaxed);
                            }
                            break;
                        }
                    }
                }
                Ok(0)
            }
        };
    }
}
