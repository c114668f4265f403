//! Measuring one workload against one server: start it (pinned, with the
//! TLS rows' certificate when they need it), load it (a flood, the bulk
//! client, idle connections), and return the sample. Every reply is
//! checked: a wrong one fails the bench.

use super::workloads::{Load, Workload};
use super::{BenchOptions, Placement, Sample, Server};
use crate::error::ReportError;
use crate::flood;
use crate::reports::certificate::Certificate;
use crate::run::{Options, Target};
use crate::server_process::ServerProcess;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

pub(super) fn measure(
    server: &Server,
    workload: &Workload,
    options: &BenchOptions,
    placement: &Placement,
    certificate: &Certificate,
) -> Result<Sample, ReportError> {
    let mut args: Vec<String> = server.args.clone();
    if let Load::TlsFlood(_) = workload.load {
        if !server.tls {
            // No TLS listener: an empty sample, shown as "—".
            return Ok(Sample::new());
        }
        args.extend(certificate.server_flags());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let process =
        ServerProcess::start_on_cpu(&server.binary, &args, placement.server).map_err(|source| {
            ReportError::Start {
                server: server.name.clone(),
                source,
            }
        })?;
    let sample = match &workload.load {
        Load::Flood(flood_options) => {
            let mut flood_options = flood_options.clone();
            flood_options.target = match flood_options.target {
                Target::Tcp(_) => Target::Tcp(process.tcp),
                Target::Udp(_) => Target::Udp(process.udp),
            };
            flood_sample(flood_options, &server.name, &workload.name)?
        }
        Load::TlsFlood(flood_options) => {
            let tls = process.tls.ok_or_else(|| {
                ReportError::Check(format!("{}: no tls listening line", server.name))
            })?;
            let flood_options = Options {
                target: Target::Tcp(tls),
                tls: Some(certificate.client.clone()),
                ..flood_options.clone()
            };
            flood_sample(flood_options, &server.name, &workload.name)?
        }
        Load::BulkClient { line_bytes } => bulk_client(options, &process, *line_bytes)?,
        Load::Idle => idle(&process, options.idle, &server.name)?,
    };
    drop(process);
    Ok(sample)
}

/// One flood run; a wrong or missing reply fails the bench.
fn flood_sample(options: Options, server: &str, workload: &str) -> Result<Sample, ReportError> {
    let report = flood::run(options).map_err(|source| ReportError::Flood {
        during: format!("{server}, {workload}"),
        source,
    })?;
    if !report.passed() {
        return Err(ReportError::Check(format!(
            "{server}, {workload}: a wrong or missing reply: {}",
            report.tally.errors.join("; ")
        )));
    }
    Ok(Sample::from([
        ("lines_per_sec", report.lines_per_sec()),
        ("mb_per_sec", report.mb_per_sec()),
        ("p50_us", report.percentile_us(50.0) as f64),
        ("p99_us", report.percentile_us(99.0) as f64),
        ("p999_us", report.percentile_us(99.9) as f64),
        ("loss_pct", report.loss_pct()),
    ]))
}

/// The yardstick for the flood's bulk rows: `peers/`'s bulk client, the
/// simplest verifying bulk client, against the same server.
fn bulk_client(
    options: &BenchOptions,
    server: &ServerProcess,
    line_bytes: usize,
) -> Result<Sample, ReportError> {
    let program = options.bulk_client.display().to_string();
    let failed = |detail: String| ReportError::Command {
        command: program.clone(),
        detail,
    };
    let done = Command::new(&options.bulk_client)
        .args(["--tcp", &server.tcp.to_string()])
        .args(["--secs", &options.secs.to_string()])
        .args(["--line-bytes", &line_bytes.to_string()])
        .output()
        .map_err(|e| failed(format!("cannot run it: {e}")))?;
    if !done.status.success() {
        let said = String::from_utf8_lossy(&done.stderr);
        return Err(failed(format!("{}: {}", done.status, said.trim())));
    }
    let report: serde_json::Value = serde_json::from_slice(&done.stdout)
        .map_err(|e| failed(format!("printed no report: {e}")))?;
    let mb_per_sec = report["mb_per_sec"]
        .as_f64()
        .ok_or_else(|| failed("its report has no mb_per_sec".to_string()))?;
    Ok(Sample::from([("mb_per_sec", mb_per_sec)]))
}

/// `count` connections, each answered once (so the server has taken and
/// served every one) and then quiet; the server's resident memory grown
/// per connection, and a probe's latency while they are held. The first
/// connection is served before the memory is read, so that buffers a
/// server touches on its first read are not counted per connection.
fn idle(server: &ServerProcess, count: usize, name: &str) -> Result<Sample, ReportError> {
    let io = |doing: &str| ReportError::io(format!("{name}: idle {doing}"));
    let memory = || ReportError::Check(format!("{name}: cannot read the server's memory"));
    let mut held = Vec::with_capacity(count + 1);
    let mut before = None;
    for _ in 0..=count {
        let mut stream = TcpStream::connect(server.tcp).map_err(io("connect"))?;
        stream.write_all(b"idle\n").map_err(io("write"))?;
        held.push(stream);
        if before.is_none() {
            answered(&mut held[..1], name)?;
            before = Some(server.rss_kib().ok_or_else(memory)?);
        }
    }
    answered(&mut held[1..], name)?;
    let before = before.unwrap_or_default();
    let after = server.rss_kib().ok_or_else(memory)?;
    let probe = flood_sample(
        Options {
            target: Target::Tcp(server.tcp),
            clients: 1,
            lines: 200,
            ..Options::default()
        },
        "idle probe",
        "idle",
    )?;
    drop(held);
    Ok(Sample::from([
        (
            "bytes_per_idle",
            after.saturating_sub(before) as f64 * 1024.0 / count.max(1) as f64,
        ),
        ("p50_us", probe["p50_us"]),
    ]))
}

/// Reads the reply to `idle` on every stream.
fn answered(streams: &mut [TcpStream], name: &str) -> Result<(), ReportError> {
    for stream in streams {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reply = [0u8; 5];
        stream
            .read_exact(&mut reply)
            .map_err(ReportError::io(format!("{name}: idle read")))?;
        if &reply != b"IDLE\n" {
            return Err(ReportError::Check(format!(
                "{name}: idle: wrong reply {:?}",
                String::from_utf8_lossy(&reply)
            )));
        }
    }
    Ok(())
}

/// Thousands of idle connections: this process's descriptor limit raised
/// to its hard limit (the servers it starts inherit it). A failure leaves
/// the limit as it was; the idle row then says what went wrong.
pub(super) fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: limit is a valid rlimit for both calls.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
