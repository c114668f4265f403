//! The lab's runs: the server in its namespace, and at each loss rate a
//! TCP and a UDP flood from the client's, with the kernels' resend counts
//! read around the TCP run.

use super::hosts::{Namespaces, TcpCounters, SERVER_ADDR};
use super::{LabOptions, SERVER_PID};
use crate::error::ReportError;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;

/// One measurement at one loss rate.
pub(super) struct Row {
    pub(super) loss_pct: u32,
    pub(super) tcp: serde_json::Value,
    pub(super) udp: serde_json::Value,
    /// What the server's host's kernel counted during the TCP run.
    pub(super) server_tcp: TcpCounters,
    /// What the client's host's kernel counted during the TCP run.
    pub(super) client_tcp: TcpCounters,
}

/// The server in its namespace; stopped (SIGTERM) when dropped.
pub(super) struct LabServer(Child);

impl LabServer {
    /// `binary` on port 7878 of the server's host, with `extra` flags.
    pub(super) fn start(
        names: &Namespaces,
        binary: &Path,
        extra: &[&str],
    ) -> Result<LabServer, ReportError> {
        let address = format!("{SERVER_ADDR}:7878");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &names.server])
            .arg(binary)
            .args(["--tcp", &address, "--udp", &address, "--workers", "2"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ReportError::Command {
                command: format!("cannot start {}", binary.display()),
                detail: e.to_string(),
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| ReportError::Check("no stdout".into()))?;
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|line| line.starts_with("udp listening"));
        if ready {
            SERVER_PID.store(child.id(), Ordering::SeqCst);
            Ok(LabServer(child))
        } else {
            let _ = child.kill();
            Err(ReportError::Check(
                "the server did not start in its namespace".into(),
            ))
        }
    }
}

impl Drop for LabServer {
    fn drop(&mut self) {
        SERVER_PID.store(0, Ordering::SeqCst);
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(super) fn measure(names: &Namespaces, options: &LabOptions) -> Result<Vec<Row>, ReportError> {
    // The lab measures what the network loses; the per-source limit (the
    // client is one non-loopback source) would add its own.
    let _server = LabServer::start(names, &options.server, &["--udp-rate-limit", "0"])?;
    let me = std::env::current_exe().map_err(ReportError::io("cannot find upcase-flood"))?;
    let (rates, seconds): (&[u32], &str) = if options.quick {
        (&[0, 5], "2")
    } else {
        (&[0, 1, 2, 5, 10], "5")
    };
    let address = format!("{SERVER_ADDR}:7878");
    let mut rows = Vec::new();
    for &loss_pct in rates {
        names.set_loss(loss_pct)?;
        let flood = |transport: &str, extra: &[&str]| -> Result<serde_json::Value, ReportError> {
            let output = Command::new("ip")
                .args(["netns", "exec", &names.client])
                .arg(&me)
                .args([
                    transport,
                    &address,
                    "--clients",
                    "4",
                    "--duration",
                    seconds,
                    "--json",
                ])
                .args(extra)
                .output()
                .map_err(ReportError::io("cannot run the flood"))?;
            serde_json::from_slice(&output.stdout).map_err(|e| ReportError::Command {
                command: format!("the {transport} flood at {loss_pct} % loss gave no report ({e})"),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            })
        };
        let (server_before, client_before) = (
            TcpCounters::read(&names.server)?,
            TcpCounters::read(&names.client)?,
        );
        let tcp = flood("--tcp", &["--timeout", "120"])?;
        let server_tcp = TcpCounters::read(&names.server)?.since(server_before);
        let client_tcp = TcpCounters::read(&names.client)?.since(client_before);
        let udp = flood("--udp", &["--max-loss", "100"])?;
        rows.push(Row {
            loss_pct,
            tcp,
            udp,
            server_tcp,
            client_tcp,
        });
    }
    Ok(rows)
}

pub(super) fn num(value: &serde_json::Value, key: &str) -> f64 {
    value[key].as_f64().unwrap_or(0.0)
}

/// Milliseconds from the flood's microseconds.
pub(super) fn ms(value: &serde_json::Value, key: &str) -> f64 {
    num(value, key) / 1000.0
}

/// What a round trip of two datagrams, each lost with `loss_pct` %, loses (%).
pub(super) fn expected_udp_loss(loss_pct: f64) -> f64 {
    100.0 * (1.0 - (1.0 - loss_pct / 100.0).powi(2))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// A row as a run at `loss_pct` could give it.
    pub(in crate::reports::lab) fn row(
        loss_pct: u32,
        tcp_lps: f64,
        p99_us: f64,
        udp_loss: f64,
        resent: (u64, u64),
    ) -> Row {
        Row {
            loss_pct,
            tcp: json!({"lines_per_sec": tcp_lps, "lost": 0, "p50_us": 40.0,
                        "p99_us": p99_us, "max_us": p99_us * 2.0}),
            udp: json!({"lost": 1365, "lines_sent": 14512, "loss_pct": udp_loss,
                        "p50_us": 30.0, "p99_us": 70.0}),
            server_tcp: TcpCounters {
                out_segs: 9_000,
                retrans_segs: resent.0,
            },
            client_tcp: TcpCounters {
                out_segs: 11_000,
                retrans_segs: resent.1,
            },
        }
    }
}
