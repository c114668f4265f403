//! What the bench runs against every server: each workload's load and the
//! metrics its rows show. The TCP loads are written once; the TLS rows are
//! the same loads through each server's `--tls` listener.

use crate::payload::Text;
use crate::run::{Options, Target};
use std::time::Duration;

/// How a workload loads the server.
#[derive(Debug, Clone)]
pub(super) enum Load {
    /// A flood run; its target is filled in per server.
    Flood(Options),
    /// A flood run over TLS, against the servers that speak it.
    TlsFlood(Options),
    /// `peers/`'s bulk client.
    BulkClient { line_bytes: usize },
    /// Idle connections held open: the server's memory per connection.
    Idle,
}

/// One row group of the tables: a name, a load, the metrics shown.
#[derive(Debug, Clone)]
pub(super) struct Workload {
    pub(super) name: String,
    pub(super) load: Load,
    pub(super) metrics: Vec<&'static str>,
}

/// Metrics where more is better (the rest are latency, loss, memory).
pub(super) const HIGHER_IS_BETTER: [&str; 2] = ["lines_per_sec", "mb_per_sec"];

const LATENCY: [&str; 4] = ["lines_per_sec", "p50_us", "p99_us", "p999_us"];
const RATE_TAIL: [&str; 3] = ["lines_per_sec", "p99_us", "p999_us"];
const MB: [&str; 1] = ["mb_per_sec"];
const RATE: [&str; 1] = ["lines_per_sec"];

impl Workload {
    fn new(name: &str, load: Load, metrics: &[&'static str]) -> Workload {
        Workload {
            name: name.to_string(),
            load,
            metrics: metrics.to_vec(),
        }
    }

    /// The same flood through the server's TLS listener (issue 25); churn
    /// is then the handshake's cost. Its rows show the same metrics but p999.
    fn over_tls(&self) -> Workload {
        let load = match &self.load {
            Load::Flood(options) => Load::TlsFlood(options.clone()),
            other => other.clone(),
        };
        Workload {
            name: format!("tls {}", self.name),
            load,
            metrics: self
                .metrics
                .iter()
                .copied()
                .filter(|m| *m != "p999_us")
                .collect(),
        }
    }
}

/// Every workload, in the tables' order, for runs of `secs` seconds and
/// an idle row of `idle` connections.
pub(super) fn workloads(secs: f64, idle: usize) -> Vec<Workload> {
    let window = Duration::from_secs_f64(secs);
    let tcp = |clients: usize| Options {
        clients,
        duration: Some(window),
        timeout: window + Duration::from_secs(30),
        ..Options::default()
    };
    let udp = |pipeline: usize| Options {
        target: Target::Udp(([127, 0, 0, 1], 0).into()),
        pipeline,
        max_loss_pct: 100.0,
        ..tcp(4)
    };
    let bulk = |text: Text| Options {
        pipeline: 4096,
        line_bytes: 128,
        text,
        ..tcp(1)
    };
    let churn = Options {
        connect_per_line: true,
        ..tcp(4)
    };
    let pingpong = [
        Workload::new("pingpong C=1", Load::Flood(tcp(1)), &LATENCY),
        Workload::new("pingpong C=16", Load::Flood(tcp(16)), &RATE_TAIL),
        Workload::new("pingpong C=128", Load::Flood(tcp(128)), &RATE_TAIL),
    ];
    // ASCII, so that the yardstick after it does the same work per byte;
    // the Unicode row shows each server's full case mapping.
    let bulk_ascii = Workload::new("bulk ascii", Load::Flood(bulk(Text::Ascii)), &MB);
    let churn = Workload::new("churn C=4", Load::Flood(churn), &RATE);
    let mut all: Vec<Workload> = pingpong.to_vec();
    all.extend([
        bulk_ascii.clone(),
        Workload::new("bulk-client", Load::BulkClient { line_bytes: 128 }, &MB),
        Workload::new("bulk unicode", Load::Flood(bulk(Text::Mixed)), &MB),
        churn.clone(),
    ]);
    all.extend(
        pingpong
            .iter()
            .chain([&bulk_ascii, &churn])
            .map(Workload::over_tls),
    );
    all.extend([
        Workload::new("udp C=4", Load::Flood(udp(1)), &["lines_per_sec", "p99_us"]),
        Workload::new(
            "udp flood C=4",
            Load::Flood(udp(64)),
            &["lines_per_sec", "loss_pct"],
        ),
        Workload::new(
            &format!("idle N={idle}"),
            Load::Idle,
            &["bytes_per_idle", "p50_us"],
        ),
    ]);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_rows_are_the_tcp_loads_without_p999() {
        let all = workloads(1.0, 10);
        let names: Vec<&str> = all.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "pingpong C=1",
                "pingpong C=16",
                "pingpong C=128",
                "bulk ascii",
                "bulk-client",
                "bulk unicode",
                "churn C=4",
                "tls pingpong C=1",
                "tls pingpong C=16",
                "tls pingpong C=128",
                "tls bulk ascii",
                "tls churn C=4",
                "udp C=4",
                "udp flood C=4",
                "idle N=10",
            ]
        );
        let tls_one = &all[7];
        assert_eq!(tls_one.metrics, ["lines_per_sec", "p50_us", "p99_us"]);
        assert!(matches!(&tls_one.load, Load::TlsFlood(o) if o.clients == 1));
        assert_eq!(all[11].metrics, ["lines_per_sec"]);
    }
}
